"""The one plotting module: every picture tinygen draws, with Pillow on host NumPy arrays.

Three kinds of picture, one home:

* **2-D data pictures** on a :class:`Canvas`, which maps data coordinates (``xlim`` x
  ``ylim``, y up) to pixels::

      c = Canvas.around(real, size=400)          # a square view around the data
      c.heatmap(d.reshape(n, n), vmin=0, vmax=1) # values on c.grid(n), e.g. D(x)
      c.polyline(line, color=(90, 90, 90))       # e.g. G applied to a line of noise
      c.scatter(real, REAL).scatter(fake, FAKE)
      c.arrows(fake, grad, scale=0.5)            # vectors at points, in data units
      c.title("step 1000", "modes 8/8").legend([("real", REAL), ("fake", FAKE)])
      frame = c.to_array()                       # (400, 400, 3) uint8, a GIF frame

  :func:`scatter_frame` is the plain real-vs-generated frame in one call.
* **Curves against the step** (losses, metrics): :func:`line_plot` draws axes, round tick
  values, grid lines, a legend and NaN gaps; :func:`side_by_side` puts panels in a row.
* **Volumes**: :func:`render_voxels` shades one voxel grid seen from above a corner;
  :func:`voxel_grid` renders a batch in rows (3D-GAN's samples).
* **Animations**: :func:`save_gif` (frames first, path second, like ``save_image``).

Image grids are :func:`tinygen.io.images.make_grid` / ``save_image_grid`` (torchvision
semantics), re-exported here so that one import serves every picture. Every file is written
atomically (:func:`tinygen.io.files.atomic_write_bytes`).

Shapes:
    points: (N, 2) data coordinates (any (..., 2) for :meth:`Canvas.to_pixels`).
    heat map values: (gy, gx), row 0 at the *bottom* (ylim[0]), the layout of
        :meth:`Canvas.grid` and of ``np.meshgrid(xs, ys)`` with increasing ys.
    frames: (H, W, 3) or (H, W) arrays, uint8 or float in [0, 1], or PIL images.
"""
from __future__ import annotations

import io as _io
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tinygen.io.files import atomic_write_bytes
from tinygen.io.images import make_grid, save_image, save_image_grid, to_numpy  # noqa: F401

Color = Tuple[int, int, int]
WHITE: Color = (255, 255, 255)
BLACK: Color = (0, 0, 0)
REAL: Color = (27, 158, 119)      # green, as GAN Lab: real data
FAKE: Color = (123, 50, 148)      # purple: generated samples
# Curve colours, in order (matplotlib's "tab10").
PALETTE: List[Color] = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14),
                        (148, 103, 189), (140, 86, 75), (227, 119, 194), (127, 127, 127)]
# Heat map stops (low, middle, high): a blue-white-red diverging map.
BLUE_WHITE_RED = ((59, 76, 192), (245, 245, 245), (180, 4, 38))


def font(size: int = 12):
    """Pillow's default font at ``size`` pixels (a fixed small bitmap font before Pillow 10.1)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


def diverging(t, stops=BLUE_WHITE_RED) -> np.ndarray:
    """t in [0, 1] (any shape) -> (..., 3) uint8, linear from stops[0] (t = 0) through
    stops[1] (t = 0.5) to stops[2] (t = 1); values outside [0, 1] are clipped."""
    t = np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0)[..., None]
    low, mid, high = (np.array(c, np.float64) for c in stops)
    below = low + (mid - low) * (t / 0.5)
    above = mid + (high - mid) * ((t - 0.5) / 0.5)
    return np.where(t < 0.5, below, above).astype(np.uint8)


# --------------------------------------------------------------------------
# 2-D pictures in data coordinates
# --------------------------------------------------------------------------

class Canvas:
    """A picture with data coordinates; every drawing method returns ``self`` for chaining.

    Args:
        xlim, ylim: data range shown, (left, right) and (bottom, top).
        size: pixels, an int (square) or (width, height).
    """

    def __init__(self, xlim=(-3.0, 3.0), ylim=(-3.0, 3.0), size: Union[int, Tuple[int, int]] = 400,
                 background: Color = WHITE):
        self.width, self.height = (size, size) if isinstance(size, int) else size
        self.xlim, self.ylim = tuple(map(float, xlim)), tuple(map(float, ylim))
        self.image = Image.new("RGB", (self.width, self.height), background)
        self.draw = ImageDraw.Draw(self.image)
        self.marks: List[np.ndarray] = []   # pixels of the dots and arrow tips drawn so far
        self.top = 0                        # height of the title band

    @classmethod
    def around(cls, points, size: int = 400, margin: float = 0.3) -> "Canvas":
        """A square view centred on the points' bounding box, its longer side plus ``margin``."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        lo, hi = p.min(0), p.max(0)
        centre, half = (lo + hi) / 2, (hi - lo).max() / 2 * (1 + margin) + 1e-6
        return cls((centre[0] - half, centre[0] + half), (centre[1] - half, centre[1] + half), size)

    def blank(self) -> "Canvas":
        """A new, empty canvas with this one's view and size (one per animation frame)."""
        return Canvas(self.xlim, self.ylim, (self.width, self.height))

    def to_pixels(self, points) -> np.ndarray:
        """(..., 2) data coordinates -> (..., 2) float pixel coordinates (x right, y down)."""
        p = np.asarray(points, dtype=np.float64)
        (x0, x1), (y0, y1) = self.xlim, self.ylim
        px = (p[..., 0] - x0) / (x1 - x0) * (self.width - 1)
        py = (y1 - p[..., 1]) / (y1 - y0) * (self.height - 1)
        return np.stack([px, py], axis=-1)

    def grid(self, n: int) -> np.ndarray:
        """(n * n, 2) data points at the centres of an n x n grid of cells covering the view,
        row by row from the bottom: ``f(points).reshape(n, n)`` is a :meth:`heatmap` grid."""
        (x0, x1), (y0, y1) = self.xlim, self.ylim
        xs = x0 + (np.arange(n) + 0.5) / n * (x1 - x0)
        ys = y0 + (np.arange(n) + 0.5) / n * (y1 - y0)
        X, Y = np.meshgrid(xs, ys)
        return np.stack([X.ravel(), Y.ravel()], axis=1)

    def heatmap(self, values, vmin: Optional[float] = None, vmax: Optional[float] = None,
                stops=BLUE_WHITE_RED, alpha: float = 1.0) -> "Canvas":
        """Fill the view with a (gy, gx) grid of values (row 0 at the bottom), smoothly resized.

        Colours run through the three ``stops`` from ``vmin`` (default: the minimum) to
        ``vmax`` (default: the maximum); see :func:`diverging`.
        """
        v = np.asarray(values, dtype=np.float64)
        if v.ndim != 2:
            raise ValueError(f"heatmap values must be a 2-D (gy, gx) grid; got shape {v.shape}")
        lo = float(np.nanmin(v)) if vmin is None else vmin
        hi = float(np.nanmax(v)) if vmax is None else vmax
        rgb = diverging((v - lo) / (hi - lo) if hi > lo else np.full_like(v, 0.5), stops)[::-1]
        layer = Image.fromarray(rgb).resize((self.width, self.height), Image.BILINEAR)
        self.image.paste(Image.blend(self.image, layer, alpha) if alpha < 1 else layer)
        self.draw = ImageDraw.Draw(self.image)
        return self

    def scatter(self, points, color: Color = REAL, radius: float = 2.0) -> "Canvas":
        """A dot at each of the (N, 2) data points (non-finite points are skipped)."""
        self.marks.append(self.to_pixels(points).reshape(-1, 2))
        for x, y in self.marks[-1]:
            if math.isfinite(x) and math.isfinite(y):
                self.draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=color)
        return self

    def polyline(self, points, color: Color = BLACK, width: int = 1) -> "Canvas":
        """A connected line through the (N, 2) data points (not drawn if any is non-finite)."""
        pix = self.to_pixels(points).reshape(-1, 2)
        if len(pix) > 1 and np.isfinite(pix).all():
            self.draw.line([tuple(p) for p in pix], fill=color, width=width)
        return self

    def arrows(self, points, vectors, scale: float = 1.0, color: Color = BLACK,
               width: int = 1, head: float = 4.0) -> "Canvas":
        """An arrow from each of the (N, 2) points along ``scale * vectors`` (N, 2, data units).

        The head is a filled triangle ``head`` pixels long; arrows shorter than 3 pixels are
        drawn without one.
        """
        points = np.asarray(points, np.float64)
        start = self.to_pixels(points).reshape(-1, 2)
        end = self.to_pixels(points + scale * np.asarray(vectors, np.float64)).reshape(-1, 2)
        self.marks.append(end)
        for tail, tip in zip(start, end):
            if not (np.isfinite(tail).all() and np.isfinite(tip).all()):
                continue
            self.draw.line([tuple(tail), tuple(tip)], fill=color, width=width)
            length = float(np.hypot(*(tip - tail)))
            if length < 3:
                continue
            d = (tip - tail) / length                      # unit direction, pixels
            side = np.array([-d[1], d[0]]) * head * 0.625
            back = tip - head * d
            self.draw.polygon([tuple(tip), tuple(back + side), tuple(back - side)], fill=color)
        return self

    def title(self, *lines: str, size: int = 13) -> "Canvas":
        """Lines of text, left-aligned on a white band across the top (empty lines are skipped)."""
        lines = [line for line in lines if line]
        if not lines:
            return self
        step = size + 3
        self.top = 4 + step * len(lines)
        self.draw.rectangle([0, 0, self.width, self.top], fill=WHITE)
        for i, line in enumerate(lines):
            self.draw.text((6, 3 + step * i), line, fill=BLACK, font=font(size))
        return self

    def legend(self, entries: Sequence[Tuple[str, Color]], corner: str = "best",
               size: int = 12) -> "Canvas":
        """A white box with a coloured square and a label per (label, colour) entry.

        ``corner``: "top-right", "top-left", "bottom-right", "bottom-left" (the top ones below
        the title band), or "best": the one hiding the fewest dots and arrow tips drawn so far.
        """
        f = font(size)
        widths = [self.draw.textbbox((0, 0), label, font=f)[2] for label, _ in entries]
        box_w, line_h = max(widths, default=0) + size + 10, size + 4
        box_h = line_h * len(entries) + 4
        corners = {"top-right": (self.width - box_w - 6, self.top + 6),
                   "top-left": (6, self.top + 6),
                   "bottom-right": (self.width - box_w - 6, self.height - box_h - 6),
                   "bottom-left": (6, self.height - box_h - 6)}
        if corner == "best":
            marks = np.concatenate(self.marks) if self.marks else np.zeros((0, 2))

            def hidden(xy):
                (x, y), pad = xy, 3                # a dot's radius beyond the box still shows
                return int(np.sum((marks[:, 0] > x - pad) & (marks[:, 0] < x + box_w + pad) &
                                  (marks[:, 1] > y - pad) & (marks[:, 1] < y + box_h + pad)))
            corner = min(corners, key=lambda k: hidden(corners[k]))   # ties: the first listed
        if corner not in corners:
            raise ValueError(f"legend corner must be 'best' or one of {', '.join(corners)}; "
                             f"got {corner!r}")
        x0, y0 = corners[corner]
        self.draw.rectangle([x0, y0, x0 + box_w, y0 + box_h], fill=WHITE, outline=(160, 160, 160))
        for i, (label, color) in enumerate(entries):
            y = y0 + 4 + i * line_h
            self.draw.rectangle([x0 + 4, y + 2, x0 + size, y + size - 2], fill=color)
            self.draw.text((x0 + size + 5, y), label, fill=BLACK, font=f)
        return self

    def to_image(self) -> Image.Image:
        return self.image

    def to_array(self) -> np.ndarray:
        """(H, W, 3) uint8."""
        return np.asarray(self.image, dtype=np.uint8).copy()


def scatter_frame(real, fake, title: str = "", size: int = 400,
                  canvas: Optional[Canvas] = None) -> np.ndarray:
    """Real (green) and generated (purple) (N, 2) points with a title and a legend.

    The view is ``canvas`` if given (keep one for every frame of an animation), else a square
    around the real points. Returns (size, size, 3) uint8.
    """
    c = canvas.blank() if canvas is not None else Canvas.around(real, size)
    c.scatter(real, REAL).scatter(fake, FAKE)
    return c.title(title).legend([("real", REAL), ("generated", FAKE)]).to_array()


# --------------------------------------------------------------------------
# curves against the step
# --------------------------------------------------------------------------

def nice_ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """About ``n`` round values (1, 2, 2.5 or 5 times a power of ten apart) from a multiple
    of the spacing at or below ``lo`` to one at or above ``hi``."""
    if not hi > lo:
        raise ValueError(f"nice_ticks needs lo < hi; got lo={lo}, hi={hi}")
    raw = (hi - lo) / max(n - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * (1 - 1e-9))
    first = math.floor(lo / step + 1e-9) * step
    count = int(round((math.ceil(hi / step - 1e-9) * step - first) / step))
    return first + step * np.arange(count + 1)


def _ticks_within(lo: float, hi: float) -> np.ndarray:
    """Round tick values inside [lo, hi]: at least 4 of them where the spacing allows."""
    slack = 1e-9 * (hi - lo)
    for n in (5, 7, 9):
        ticks = nice_ticks(lo, hi, n)
        ticks = ticks[(ticks >= lo - slack) & (ticks <= hi + slack)]
        if len(ticks) >= 4:
            break
    return ticks


def _tick_label(value: float, ticks: np.ndarray) -> str:
    step = float(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    if max(abs(ticks[0]), abs(ticks[-1])) >= 1e5 or step < 1e-4:
        return f"{value:.3g}"
    power = math.floor(math.log10(step) + 1e-9)
    decimals = max(0, -power) + (1 if abs(step / 10.0 ** power - 2.5) < 1e-6 else 0)   # 0.25
    return f"{value:.{decimals}f}"


def line_plot(series: Dict[str, Sequence[float]], steps: Optional[Sequence[float]] = None,
              size: Tuple[int, int] = (480, 320), title: Optional[str] = None,
              logy: bool = False, ylim: Optional[Tuple[float, float]] = None,
              xlabel: Optional[str] = None, colors: Optional[Sequence[Color]] = None,
              dots: bool = False) -> Image.Image:
    """Several curves against the step, with axes, round tick values, grid lines and a legend.

    Args:
        series: name -> values, each as long as ``steps``; NaNs are gaps in the line.
        steps: x values (default 0, 1, 2, ...).
        logy: log10 y axis (non-positive values are dropped).
        ylim: fixed (bottom, top) of the y axis; default: the data's range plus 5 %.
        colors: one per series (default :data:`PALETTE` in order).
        dots: a dot at each point instead of lines (a function with jumps stays honest).
    Returns:
        a PIL RGB image of ``size`` (width, height). The legend is a row above the plot
        area, so it never hides a curve.
    """
    width, height = size
    ys = {k: np.asarray(v, dtype=np.float64) for k, v in series.items()}
    n = max((len(v) for v in ys.values()), default=0)
    xs = np.arange(n, dtype=np.float64) if steps is None else np.asarray(steps, dtype=np.float64)
    if logy:
        ys = {k: np.where(v > 0, np.log10(np.where(v > 0, v, 1.0)), np.nan) for k, v in ys.items()}
    finite = np.concatenate([v[np.isfinite(v)] for v in ys.values()] or [np.zeros(0)])
    if ylim is not None:
        lo, hi = map(float, np.log10(ylim) if logy else ylim)
    else:
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        lo, hi = lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)     # curves clear of the frame
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    x0, x1 = (float(np.nanmin(xs)), float(np.nanmax(xs))) if xs.size else (0.0, 1.0)
    if x1 <= x0:
        x1 = x0 + 1.0
    y_ticks, x_ticks = _ticks_within(lo, hi), _ticks_within(x0, x1)

    image = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(image)
    small, big = font(11), font(13)
    y_labels = [f"1e{v:g}" if logy else _tick_label(v, y_ticks) for v in y_ticks]
    colors = list(colors) if colors is not None else PALETTE
    curves = [(name, colors[i % len(colors)]) for i, name in enumerate(ys)]
    left = 10 + max(draw.textbbox((0, 0), s, font=small)[2] for s in y_labels)
    top = 6 + (18 if title else 0) + (16 if curves else 0)
    right, bottom = width - 16, height - 20 - (14 if xlabel else 0)

    def px(x, y):
        return (left + (x - x0) / (x1 - x0) * (right - left),
                bottom - (y - lo) / (hi - lo) * (bottom - top))

    for v, label in zip(y_ticks, y_labels):
        _, y = px(x0, v)
        draw.line([(left + 1, y), (right - 1, y)], fill=(232, 232, 232))
        draw.line([(left - 3, y), (left, y)], fill=BLACK)
        w = draw.textbbox((0, 0), label, font=small)[2]
        draw.text((left - 5 - w, y - 6), label, fill=BLACK, font=small)
    for v in x_ticks:
        x, _ = px(v, lo)
        draw.line([(x, top + 1), (x, bottom - 1)], fill=(232, 232, 232))
        draw.line([(x, bottom), (x, bottom + 3)], fill=BLACK)
        label = _tick_label(v, x_ticks)
        w = draw.textbbox((0, 0), label, font=small)[2]
        draw.text((x - w / 2, bottom + 5), label, fill=BLACK, font=small)
    draw.rectangle([left, top, right, bottom], outline=BLACK)
    for (name, color), v in zip(curves, ys.values()):
        _draw_curve(draw, [px(x, y) for x, y in zip(xs, v)], np.isfinite(v), color, dots)
    if xlabel:
        w = draw.textbbox((0, 0), xlabel, font=small)[2]
        draw.text(((left + right - w) / 2, height - 16), xlabel, fill=BLACK, font=small)
    if title:
        draw.text((left, 5), title, fill=BLACK, font=big)
    x = left
    for name, color in curves:                  # the legend: a row above the plot area
        y = top - 15
        draw.rectangle([x, y + 2, x + 9, y + 11], fill=color)
        draw.text((x + 13, y), name, fill=BLACK, font=small)
        x += 13 + draw.textbbox((0, 0), name, font=small)[2] + 14
    return image


def _draw_curve(draw, pixels, ok, color, dots=False) -> None:
    """Line segments through the runs of finite points; a lone finite point is a dot
    (with ``dots``, every finite point is)."""
    segment = []
    for p, good in list(zip(pixels, ok)) + [(None, False)]:
        if good:
            segment.append(p)
            continue
        if len(segment) > 1 and not dots:
            draw.line(segment, fill=color, width=2)
        else:
            for u, v in segment:
                draw.ellipse([u - 2, v - 2, u + 2, v + 2], fill=color)
        segment = []


def side_by_side(images: Sequence[Union[np.ndarray, Image.Image]], gap: int = 0,
                 background: Color = WHITE) -> Image.Image:
    """Panels (arrays or PIL images) in a row, top-aligned, ``gap`` pixels apart."""
    panels = [_as_image(im) for im in images]
    if not panels:
        raise ValueError("side_by_side needs at least one image")
    width = sum(p.width for p in panels) + gap * (len(panels) - 1)
    row = Image.new("RGB", (width, max(p.height for p in panels)), background)
    x = 0
    for p in panels:
        row.paste(p, (x, 0))
        x += p.width + gap
    return row


def titled(image, title: str, caption: str = "", size: int = 12) -> Image.Image:
    """A picture with its title (and a second, smaller line saying how to read it) in a white
    band above: strips and grids the project writes say what they show. The band is as wide
    as the longer of the picture and the text; the picture is centred under it."""
    picture = _as_image(image)
    lines = [(title, font(size)), *([(caption, font(max(8, size - 2)))] if caption else [])]
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    boxes = [probe.textbbox((0, 0), text, font=f) for text, f in lines]
    text_w = max(b[2] - b[0] for b in boxes) + 8
    band = sum(b[3] - b[1] + 4 for b in boxes) + 6
    out = Image.new("RGB", (max(picture.width, text_w), picture.height + band), WHITE)
    draw, y = ImageDraw.Draw(out), 3
    for (text, f), b in zip(lines, boxes):
        draw.text((4, y - b[1]), text, fill=BLACK, font=f)
        y += b[3] - b[1] + 4
    out.paste(picture, ((out.width - picture.width) // 2, band))
    return out


# --------------------------------------------------------------------------
# volumes (voxel occupancy): an isometric-style render
# --------------------------------------------------------------------------

SOLID_COLOR = (0.35, 0.55, 0.85)     # the colour of a lit voxel surface


def render_voxels(volume, size: int = 64, threshold: float = 0.5, elevation: float = 30.0,
                  azimuth: float = 45.0) -> np.ndarray:
    """A shaded picture of a voxel grid: float32 (size, size, 3) in [0, 1], white background.

    ``volume`` (D, H, W): occupancy or occupancy probability; D is drawn upwards. Orthographic
    rays from a camera at ``elevation`` / ``azimuth`` degrees march through the grid in steps
    of 0.3 voxel; the first sample whose voxel exceeds ``threshold`` is the surface, lit by
    Lambert's law with the normal -grad(volume) (central differences), so cube faces show as
    three flat tones and spheres shade smoothly. A volume with no voxel above the threshold
    renders blank.
    """
    v = np.asarray(volume, dtype=np.float32)
    if v.ndim != 3:
        raise ValueError(f"render_voxels: expected a (D, H, W) volume, got shape {v.shape}")
    D, H, W = v.shape
    el, az = math.radians(elevation), math.radians(azimuth)
    # world axes (x, y, z) = (W, H, D); the camera looks along -eye
    eye = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    right = np.array([-math.sin(az), math.cos(az), 0.0])
    up = np.cross(eye, right)
    centre = np.array([W, H, D], dtype=np.float64) / 2.0
    half = 0.5 * math.sqrt(W * W + H * H + D * D)                 # the grid's bounding sphere
    s = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    sx, sy = np.meshgrid(s, -s)                                   # image row 0 at the top
    origins = centre + half * (sx[..., None] * right + sy[..., None] * up) + half * eye
    ts = np.arange(0.0, 2.0 * half, 0.3)
    points = origins[:, :, None, :] - ts[:, None] * eye           # (size, size, T, 3)
    idx = np.floor(points).astype(np.int64)                       # voxel (x, y, z)
    ok = ((idx >= 0) & (idx < np.array([W, H, D]))).all(-1)
    ix, iy, iz = (np.clip(idx[..., a], 0, n - 1) for a, n in enumerate((W, H, D)))
    solid = ok & (v[iz, iy, ix] > threshold)                     # (size, size, T)
    hit = solid.any(-1)
    first = solid.argmax(-1)                                      # first surface sample
    gz, gy, gx = np.gradient(v)
    take = lambda a: np.take_along_axis(a, first[..., None], -1)[..., 0]   # noqa: E731
    hx, hy, hz = take(ix), take(iy), take(iz)
    normal = -np.stack([gx[hz, hy, hx], gy[hz, hy, hx], gz[hz, hy, hx]], -1)
    norm = np.linalg.norm(normal, axis=-1, keepdims=True)
    normal = np.where(norm > 1e-6, normal / np.maximum(norm, 1e-6), eye)
    light = eye + 0.6 * up - 0.3 * right
    light /= np.linalg.norm(light)
    shade = 0.3 + 0.7 * np.clip((normal * light).sum(-1), 0.0, 1.0)
    image = np.ones((size, size, 3), np.float32)
    image[hit] = shade[hit, None] * np.array(SOLID_COLOR, np.float32)
    return image


def voxel_grid(volumes, nrow: int = 8, size: int = 64, threshold: float = 0.5,
               labels: Optional[Sequence[str]] = None, gap: int = 2) -> np.ndarray:
    """Renders of volumes (N, D, H, W) in rows of ``nrow``: uint8 (rows size, nrow size, 3),
    light-grey gaps; ``labels`` (one short string per volume) written in each tile's corner."""
    volumes = np.asarray(volumes)
    n = len(volumes)
    rows = max(1, math.ceil(n / nrow))
    cols = min(nrow, max(n, 1))
    out = Image.new("RGB", (cols * (size + gap) + gap, rows * (size + gap) + gap), (220, 220, 220))
    draw = ImageDraw.Draw(out)
    for i, vol in enumerate(volumes):
        tile = Image.fromarray(np.round(render_voxels(vol, size, threshold) * 255).astype(np.uint8))
        x, y = gap + (i % nrow) * (size + gap), gap + (i // nrow) * (size + gap)
        out.paste(tile, (x, y))
        if labels is not None:
            draw.text((x + 2, y + 1), str(labels[i]), fill=BLACK, font=font(9))
    return np.asarray(out)


# --------------------------------------------------------------------------
# animations
# --------------------------------------------------------------------------

def _as_image(frame) -> Image.Image:
    """A PIL RGB image from a PIL image or an (H, W) / (H, W, 3) uint8 or [0, 1] float array."""
    if isinstance(frame, Image.Image):
        return frame.convert("RGB")
    a = to_numpy(frame)
    if a.dtype != np.uint8:
        a = np.clip(a.astype(np.float64) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (1, 3)):
        raise ValueError(f"a frame must be (H, W) or (H, W, 3); got shape {a.shape}")
    return Image.fromarray(a[..., 0] if a.ndim == 3 and a.shape[-1] == 1 else a).convert("RGB")


def common_size(frames: Sequence[Union[np.ndarray, Image.Image]]) -> List[Image.Image]:
    """Frames padded with white on the right and bottom to the largest width and height (a
    longer title, "step 1000" after "step 50", may widen one), as a GIF needs."""
    images = [_as_image(f) for f in frames]
    w, h = max(im.width for im in images), max(im.height for im in images)
    out = []
    for im in images:
        if im.size != (w, h):
            canvas = Image.new("RGB", (w, h), WHITE)
            canvas.paste(im, (0, 0))
            im = canvas
        out.append(im)
    return out


def save_gif(frames: Sequence[Union[np.ndarray, Image.Image]], path: str,
             duration_ms: int = 100, hold_last_ms: Optional[int] = None, loop: int = 0) -> str:
    """Write frames as an animated GIF at ``path`` (atomically); return ``path``.

    Args:
        frames: all one size; (H, W, 3) or (H, W) uint8, floats in [0, 1], or PIL images.
        duration_ms: how long each frame is shown.
        hold_last_ms: how long the last frame is shown (default ``duration_ms``), so the
            result of a training run stays on screen before the loop restarts.
        loop: 0 repeats forever.
    """
    if len(frames) == 0:
        raise ValueError("save_gif needs at least one frame")
    images = [_as_image(f) for f in frames]
    sizes = sorted({im.size for im in images})
    if len(sizes) > 1:
        raise ValueError(f"GIF frames must all have one size; got (width, height) sizes {sizes}")
    durations = [duration_ms] * (len(images) - 1) + [duration_ms if hold_last_ms is None
                                                     else hold_last_ms]
    buffer = _io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=durations, loop=loop, optimize=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path


__all__ = ["Canvas", "Color", "REAL", "FAKE", "PALETTE", "BLUE_WHITE_RED", "diverging", "font",
           "scatter_frame", "nice_ticks", "line_plot", "side_by_side", "save_gif", "make_grid",
           "save_image", "save_image_grid"]
