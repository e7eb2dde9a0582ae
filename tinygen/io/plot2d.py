"""Pictures for 2-D toy GANs drawn with Pillow only: scatter, heat map, noise-grid manifold,
gradient arrows, title/legend, and line plots of training curves.

A :class:`Canvas` maps data coordinates (``xlim`` x ``ylim``) to pixels (y up)::

    c = Canvas(xlim=(-3, 3), ylim=(-3, 3), size=400)
    c.heatmap(d_on_grid)                      # (gy, gx) values, e.g. D(x) on a grid
    c.grid_lines(g_of_noise_grid)             # (gy, gx, 2) points: G applied to a noise grid
    c.scatter(real, color=REAL); c.scatter(fake, color=FAKE)
    c.arrows(fake, grad, scale=0.5)           # gradient vectors at the fake points
    c.title("step 1000"); c.legend([("real", REAL), ("fake", FAKE)])
    frame = c.to_array()                      # (400, 400, 3) uint8, a GIF frame

:func:`scatter_frame` does the usual combination in one call; :func:`line_plot` draws
several series (losses, mode coverage) against the step.
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image, ImageDraw, ImageFont

Color = Tuple[int, int, int]
REAL: Color = (31, 119, 180)      # blue
FAKE: Color = (214, 39, 40)       # red
PALETTE = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127)]


def _font(size: int = 12):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:                   # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


def _colormap(t: np.ndarray) -> np.ndarray:
    """t in [0, 1] -> (..., 3) uint8, a blue-white-red diverging map (0.5 is white)."""
    t = np.clip(t, 0.0, 1.0)[..., None]
    blue, white, red = (np.array(c, np.float32) for c in ((59, 76, 192), (245, 245, 245), (180, 4, 38)))
    low = blue + (white - blue) * (t / 0.5)
    high = white + (red - white) * ((t - 0.5) / 0.5)
    return np.where(t < 0.5, low, high).astype(np.uint8)


class Canvas:
    """A white picture with data coordinates; every method returns ``self`` for chaining.

    Args:
        xlim, ylim: data range shown (left, right) and (bottom, top).
        size: pixels, an int (square) or (width, height).
    """

    def __init__(self, xlim=(-3.0, 3.0), ylim=(-3.0, 3.0), size: Union[int, Tuple[int, int]] = 400,
                 background: Color = (255, 255, 255)):
        self.width, self.height = (size, size) if isinstance(size, int) else size
        self.xlim, self.ylim = tuple(map(float, xlim)), tuple(map(float, ylim))
        self.image = Image.new("RGB", (self.width, self.height), background)
        self.draw = ImageDraw.Draw(self.image)

    def to_pixels(self, points) -> np.ndarray:
        """(N, 2) data coordinates -> (N, 2) float pixel coordinates (x right, y down)."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        (x0, x1), (y0, y1) = self.xlim, self.ylim
        px = (p[:, 0] - x0) / (x1 - x0) * (self.width - 1)
        py = (y1 - p[:, 1]) / (y1 - y0) * (self.height - 1)
        return np.stack([px, py], axis=1)

    def heatmap(self, values, vmin: Optional[float] = None, vmax: Optional[float] = None,
                alpha: float = 1.0) -> "Canvas":
        """Fill the background with a grid of values covering xlim x ylim.

        ``values``: (gy, gx) array, row 0 at the *bottom* (ylim[0]) — the layout of
        ``np.meshgrid(xs, ys)`` with increasing ys. Colours: blue (vmin) - white - red (vmax).
        """
        v = np.asarray(values, dtype=np.float64)
        if v.ndim != 2:
            raise ValueError(f"heatmap values must be a 2-D (gy, gx) grid; got shape {v.shape}")
        lo = float(np.nanmin(v)) if vmin is None else vmin
        hi = float(np.nanmax(v)) if vmax is None else vmax
        rgb = _colormap((v - lo) / (hi - lo) if hi > lo else np.full_like(v, 0.5))[::-1]
        layer = Image.fromarray(rgb).resize((self.width, self.height), Image.BILINEAR)
        self.image.paste(Image.blend(self.image, layer, alpha) if alpha < 1 else layer)
        self.draw = ImageDraw.Draw(self.image)
        return self

    def scatter(self, points, color: Color = REAL, radius: float = 2.0) -> "Canvas":
        """Dots at (N, 2) data points."""
        for x, y in self.to_pixels(points):
            if math.isfinite(x) and math.isfinite(y):
                self.draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=color)
        return self

    def polyline(self, points, color: Color = (0, 0, 0), width: int = 1) -> "Canvas":
        """A connected line through (N, 2) data points."""
        pix = self.to_pixels(points)
        if len(pix) > 1 and np.isfinite(pix).all():
            self.draw.line([tuple(p) for p in pix], fill=color, width=width)
        return self

    def grid_lines(self, grid, color: Color = (120, 120, 120), width: int = 1) -> "Canvas":
        """Draw a deformed grid: ``grid`` is (gy, gx, 2), e.g. G applied to a regular noise grid.

        Lines join neighbours along both axes, so folds and stretches of the generator's
        manifold are visible.
        """
        g = np.asarray(grid, dtype=np.float64)
        if g.ndim != 3 or g.shape[-1] != 2:
            raise ValueError(f"grid must be (gy, gx, 2) points; got shape {g.shape}")
        for row in g:
            self.polyline(row, color, width)
        for col in g.transpose(1, 0, 2):
            self.polyline(col, color, width)
        return self

    def arrows(self, points, vectors, scale: float = 1.0, color: Color = (0, 0, 0),
               width: int = 1, head: float = 4.0) -> "Canvas":
        """Arrows from each of the (N, 2) points along ``scale * vectors`` (N, 2), in data units."""
        start = self.to_pixels(points)
        end = self.to_pixels(np.asarray(points, np.float64) + scale * np.asarray(vectors, np.float64))
        for (x0, y0), (x1, y1) in zip(start, end):
            if not np.isfinite([x0, y0, x1, y1]).all():
                continue
            self.draw.line([(x0, y0), (x1, y1)], fill=color, width=width)
            angle = math.atan2(y1 - y0, x1 - x0)
            if math.hypot(x1 - x0, y1 - y0) > head:
                for side in (-0.5, 0.5):
                    a = angle + math.pi + side
                    self.draw.line([(x1, y1), (x1 + head * math.cos(a), y1 + head * math.sin(a))],
                                   fill=color, width=width)
        return self

    def title(self, text: str, color: Color = (0, 0, 0), size: int = 14) -> "Canvas":
        """Text centred at the top."""
        font = _font(size)
        left, top, right, bottom = self.draw.textbbox((0, 0), text, font=font)
        x = (self.width - (right - left)) / 2
        self.draw.rectangle([x - 3, 2, x + right - left + 3, 6 + bottom - top], fill=(255, 255, 255))
        self.draw.text((x, 4 - top), text, fill=color, font=font)
        return self

    def legend(self, entries: Sequence[Tuple[str, Color]], size: int = 12) -> "Canvas":
        """A box in the top-right corner with a coloured square per (label, colour)."""
        font = _font(size)
        widths = [self.draw.textbbox((0, 0), label, font=font)[2] for label, _ in entries]
        box_w, line_h = max(widths, default=0) + 22, size + 4
        x0, y0 = self.width - box_w - 6, 24
        self.draw.rectangle([x0, y0, x0 + box_w, y0 + line_h * len(entries) + 4],
                            fill=(255, 255, 255), outline=(0, 0, 0))
        for i, (label, color) in enumerate(entries):
            y = y0 + 4 + i * line_h
            self.draw.rectangle([x0 + 4, y + 2, x0 + 4 + size - 4, y + size - 2], fill=color)
            self.draw.text((x0 + size + 4, y), label, fill=(0, 0, 0), font=font)
        return self

    def to_image(self) -> Image.Image:
        return self.image

    def to_array(self) -> np.ndarray:
        """(H, W, 3) uint8."""
        return np.asarray(self.image, dtype=np.uint8).copy()


def scatter_frame(real, fake, xlim=(-3.0, 3.0), ylim=(-3.0, 3.0), size=400,
                  background=None, manifold=None, grad=None, grad_scale: float = 1.0,
                  title: Optional[str] = None) -> np.ndarray:
    """One frame of a toy-GAN animation as (size, size, 3) uint8.

    Args:
        real, fake: (N, 2) points (blue, red).
        background: optional (gy, gx) grid of values over xlim x ylim, e.g. D's output.
        manifold: optional (gy, gx, 2) image of a noise grid under G (grey lines).
        grad: optional (N, 2) vectors drawn at the fake points (e.g. -dL_G/dx).
    """
    c = Canvas(xlim, ylim, size)
    if background is not None:
        c.heatmap(background)
    if manifold is not None:
        c.grid_lines(manifold)
    c.scatter(real, REAL).scatter(fake, FAKE)
    if grad is not None:
        c.arrows(fake, grad, scale=grad_scale)
    if title:
        c.title(title)
    c.legend([("real", REAL), ("fake", FAKE)])
    return c.to_array()


def line_plot(series: Dict[str, Sequence[float]], steps: Optional[Sequence[float]] = None,
              size: Tuple[int, int] = (480, 320), title: Optional[str] = None,
              logy: bool = False, ylim: Optional[Tuple[float, float]] = None) -> Image.Image:
    """Several curves against the step, with axes, tick labels and a legend.

    Args:
        series: name -> values (all the same length as ``steps``; NaNs are gaps).
        steps: x values (default 0, 1, 2...).
        logy: log10 y axis (non-positive values are dropped).
    Returns:
        a PIL RGB image of ``size`` (width, height).
    """
    width, height = size
    margin_l, margin_r, margin_t, margin_b = 56, 12, 28 if title else 12, 28
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = _font(11)
    ys = {k: np.asarray(v, dtype=np.float64) for k, v in series.items()}
    n = max((len(v) for v in ys.values()), default=0)
    xs = np.arange(n, dtype=np.float64) if steps is None else np.asarray(steps, dtype=np.float64)
    if logy:
        ys = {k: np.where(v > 0, np.log10(np.where(v > 0, v, 1.0)), np.nan) for k, v in ys.items()}
    finite = np.concatenate([v[np.isfinite(v)] for v in ys.values()] or [np.zeros(0)])
    lo, hi = ylim if ylim is not None else ((finite.min(), finite.max()) if finite.size else (0.0, 1.0))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    x0, x1 = (float(xs.min()), float(xs.max())) if xs.size else (0.0, 1.0)
    if x1 <= x0:
        x1 = x0 + 1.0
    left, right, top, bottom = margin_l, width - margin_r, margin_t, height - margin_b

    def px(x, y):
        return (left + (x - x0) / (x1 - x0) * (right - left), bottom - (y - lo) / (hi - lo) * (bottom - top))

    draw.rectangle([left, top, right, bottom], outline=(0, 0, 0))
    for i in range(5):                                   # y ticks
        v = lo + (hi - lo) * i / 4
        _, y = px(x0, v)
        draw.line([(left - 3, y), (left, y)], fill=(0, 0, 0))
        draw.line([(left + 1, y), (right - 1, y)], fill=(230, 230, 230))
        label = f"1e{v:.1f}" if logy else f"{v:.3g}"
        draw.text((4, y - 6), label, fill=(0, 0, 0), font=font)
    for i in range(5):                                   # x ticks
        v = x0 + (x1 - x0) * i / 4
        x, _ = px(v, lo)
        draw.line([(x, bottom), (x, bottom + 3)], fill=(0, 0, 0))
        draw.text((x - 10, bottom + 5), f"{v:.4g}", fill=(0, 0, 0), font=font)
    curves = []
    for i, (name, v) in enumerate(ys.items()):
        color = PALETTE[i % len(PALETTE)]
        curves.append((name, color))
        pts = [px(x, y) for x, y in zip(xs, v)]
        segment = []
        for p, ok in zip(pts, np.isfinite(v)):
            if ok:
                segment.append(p)
            else:
                if len(segment) > 1:
                    draw.line(segment, fill=color, width=2)
                segment = []
        if len(segment) > 1:
            draw.line(segment, fill=color, width=2)
        elif len(segment) == 1:
            draw.ellipse([segment[0][0] - 2, segment[0][1] - 2, segment[0][0] + 2, segment[0][1] + 2],
                         fill=color)
    if curves:                                           # legend box, drawn over the curves
        box_w = max(draw.textbbox((0, 0), name, font=font)[2] for name, _ in curves) + 22
        bx = right - box_w - 4
        draw.rectangle([bx, top + 4, right - 4, top + 8 + 14 * len(curves)], fill=(255, 255, 255),
                       outline=(160, 160, 160))
        for i, (name, color) in enumerate(curves):
            draw.rectangle([bx + 4, top + 8 + 14 * i, bx + 14, top + 18 + 14 * i], fill=color)
            draw.text((bx + 18, top + 6 + 14 * i), name, fill=(0, 0, 0), font=font)
    if title:
        tw = draw.textbbox((0, 0), title, font=_font(13))[2]
        draw.text(((width - tw) / 2, 6), title, fill=(0, 0, 0), font=_font(13))
    return image
