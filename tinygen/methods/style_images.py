"""The bundled default images of ``tinygen style``, drawn procedurally at run time.

No file is shipped and nothing is downloaded: both pictures are computed from a seed
with array maths and Pillow's drawing primitives, so ``tinygen style`` with no
arguments works anywhere.

* :func:`default_content` — a photo-like scene: a sky gradient, a sun with a soft glow,
  two layers of hills, a lake reflecting the sky, a house, trees, and mild sensor noise.
* :func:`default_style` — a "painting" texture: thousands of short curved brush
  strokes whose direction follows a swirling flow field (in the spirit of a
  post-impressionist sky), in a fixed palette of blues, yellows and dark accents.

Both return float32 host arrays (H, W, 3) in [0, 1].
"""
from __future__ import annotations

import math

from PIL import Image, ImageDraw, ImageFilter

from tinygen import backend

np = backend.numpy   # host-only image generation


def _to_float(img: Image.Image):
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def default_content(size: int = 128, seed: int = 0):
    """A landscape 'photo' of ``size`` x ``size`` pixels, (H, W, 3) float32 in [0, 1]."""
    S = 4 * size                      # draw at 4x and downsample: smooth, anti-aliased edges
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32) / S               # (S, S) each, in [0, 1)

    # Sky: a vertical gradient from deep blue to a warm horizon, plus a sun glow.
    top, horizon = np.array([0.20, 0.38, 0.75]), np.array([0.98, 0.80, 0.60])
    t = np.clip(yy / 0.55, 0, 1)[..., None]                          # (S, S, 1)
    img = (1 - t) * top + t * horizon                                # (S, S, 3)
    sun_x, sun_y = 0.70, 0.30
    d = np.sqrt((xx - sun_x) ** 2 + (yy - sun_y) ** 2)[..., None]
    img = img + 0.45 * np.exp(-(d / 0.12) ** 2) * np.array([1.0, 0.85, 0.55])
    img = np.where(d < 0.06, np.array([1.0, 0.96, 0.80]), img)

    # Hills: two sinusoidal ridges, far (bluish) and near (green), shaded by height.
    far = 0.52 + 0.05 * np.sin(6.0 * xx + 1.0) + 0.02 * np.sin(17.0 * xx)
    near = 0.62 + 0.06 * np.sin(3.5 * xx + 2.5) + 0.015 * np.sin(23.0 * xx + 0.5)
    shade_far = (0.85 + 0.15 * (yy - far) / 0.3)[..., None]
    shade_near = (0.75 + 0.5 * (yy - near) / 0.4)[..., None]
    img = np.where((yy > far)[..., None], np.array([0.35, 0.45, 0.60]) * shade_far, img)
    img = np.where((yy > near)[..., None], np.array([0.25, 0.55, 0.22]) * shade_near, img)

    # A lake in the lower left reflecting (a darker copy of) the sky, with ripples.
    lake = ((xx - 0.28) / 0.26) ** 2 + ((yy - 0.86) / 0.09) ** 2 < 1.0
    ripple = 0.04 * np.sin(120.0 * yy + 8.0 * np.sin(9.0 * xx))
    mirror_y = np.clip(1.2 - yy + ripple, 0, 0.55)
    sky_at = (1 - mirror_y / 0.55)[..., None] * top + (mirror_y / 0.55)[..., None] * horizon
    img = np.where(lake[..., None], 0.8 * sky_at, img)

    pil = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    # A house: walls, roof, door, window.
    hx, hy, hw, hh = 0.58 * S, 0.66 * S, 0.20 * S, 0.14 * S
    draw.rectangle([hx, hy, hx + hw, hy + hh], fill=(222, 205, 170))
    draw.polygon([(hx - 0.02 * S, hy), (hx + hw / 2, hy - 0.09 * S), (hx + hw + 0.02 * S, hy)],
                 fill=(150, 50, 40))
    draw.rectangle([hx + 0.03 * S, hy + 0.05 * S, hx + 0.07 * S, hy + hh], fill=(90, 60, 40))
    draw.rectangle([hx + 0.11 * S, hy + 0.03 * S, hx + 0.17 * S, hy + 0.08 * S],
                   fill=(120, 170, 220), outline=(255, 255, 255), width=max(1, S // 200))
    # Trees: trunks and round crowns in a few greens.
    for tx, ty, r in ((0.10, 0.66, 0.07), (0.20, 0.70, 0.05), (0.88, 0.72, 0.08)):
        draw.rectangle([(tx - 0.01) * S, ty * S, (tx + 0.01) * S, (ty + 0.12) * S],
                       fill=(80, 55, 35))
        g = int(rng.integers(90, 140))
        draw.ellipse([(tx - r) * S, (ty - r) * S, (tx + r) * S, (ty + r) * S],
                     fill=(30, g, 40))
    pil = pil.resize((size, size), Image.LANCZOS)
    img = _to_float(pil)
    img = img + rng.normal(0, 0.01, img.shape).astype(np.float32)   # a little sensor noise
    return np.clip(img, 0, 1).astype(np.float32)


# The brush-stroke palette: night blues, a warm yellow, white highlights, dark accents.
_PALETTE = np.array([
    (26, 48, 110), (40, 78, 160), (70, 120, 200), (120, 170, 220),
    (235, 200, 70), (250, 230, 140), (245, 245, 235), (20, 30, 40), (60, 130, 120),
], dtype=np.float32)


def default_style(size: int = 128, seed: int = 1):
    """A procedural brush-stroke 'painting', (H, W, 3) float32 in [0, 1].

    Strokes are short polylines that follow the flow field
        theta(x, y) = atan2-like swirl around three centres + a slow wave,
    drawn with a width and colour that jitter per stroke; a light blur blends them.
    """
    S = 2 * size
    rng = np.random.default_rng(seed)
    base = _PALETTE[1] * 0.8
    pil = Image.new("RGB", (S, S), tuple(int(c) for c in base))
    draw = ImageDraw.Draw(pil)
    centres = rng.uniform(0.15, 0.85, (3, 2))                        # swirl centres

    def angle(x, y):
        a = 0.6 * math.sin(5.0 * y + 2.0 * x)                        # a slow wave
        for cx, cy in centres:
            dx, dy = x - cx, y - cy
            w = math.exp(-(dx * dx + dy * dy) / 0.04)
            a += w * (math.atan2(dy, dx) + math.pi / 2)              # circular flow
        return a

    n_strokes = int(3.0 * S * S / 64)
    weights = np.array([3, 4, 4, 3, 2, 1.5, 0.7, 1.0, 1.0])
    weights = weights / weights.sum()
    for _ in range(n_strokes):
        x, y = rng.uniform(0, 1, 2)
        colour = _PALETTE[rng.choice(len(_PALETTE), p=weights)]
        colour = np.clip(colour * rng.uniform(0.85, 1.15), 0, 255)
        width = int(rng.integers(max(2, S // 90), max(3, S // 40)))
        points, step = [(x * S, y * S)], rng.uniform(0.006, 0.012)
        for _ in range(int(rng.integers(3, 7))):
            a = angle(x, y)
            x, y = x + step * math.cos(a), y + step * math.sin(a)
            points.append((x * S, y * S))
        draw.line(points, fill=tuple(int(c) for c in colour), width=width, joint="curve")
    pil = pil.filter(ImageFilter.GaussianBlur(radius=0.6)).resize((size, size), Image.LANCZOS)
    return _to_float(pil)
