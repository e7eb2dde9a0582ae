"""Synthetic handwriting-like digits 0-9, MNIST-shaped, rendered offline with Pillow.

Each digit is drawn with Pillow's bundled FreeType font (``ImageFont.load_default(size)``)
at 2x resolution with a random stroke width, then bent like handwriting:

1. a random affine map: rotation +-12 deg, shear +-0.2, independent x/y scale 0.9-1.1;
2. a smooth elastic displacement field (Simard et al. 2003, "Best practices for CNNs applied
   to visual document analysis", Sec. 2: Gaussian-smoothed uniform noise, scaled by alpha);
3. MNIST's own normalisation (LeCun et al. 1998): the glyph's bounding box is resized to fit
   20x20 (aspect kept) and placed so its centre of mass sits at the centre of the 28x28 image
   (no extra random shift: like MNIST, and it keeps the classes separable by a nearest-mean
   classifier, ~93% on a held-out seed).

Output: ``x`` uint8 (N, 28, 28), white digit on black (0..255) like MNIST, ``y`` int64 (N,).
Deterministic for a given seed; different seeds give different writers' "hands".
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from tinygen.data.dataset import Dataset

_BIG = 56          # render canvas (pixels), 2x the output
_FONT_SIZE = 40


def _font():
    try:
        return ImageFont.load_default(size=_FONT_SIZE)
    except TypeError:   # Pillow < 10.1 has only the small bitmap font; upscaling still works
        return ImageFont.load_default()


_PIXELS = np.meshgrid(np.arange(_BIG), np.arange(_BIG), indexing="ij")
_UP = []


def _upsampler() -> np.ndarray:
    """(BIG, 4) matrix: column j is the cubic-spline zoom of the j-th unit vector."""
    if not _UP:
        _UP.append(np.stack([ndimage.zoom(np.eye(4)[j], _BIG / 4, order=3) for j in range(4)], axis=1))
    return _UP[0]


def _render_one(digit: int, rng: np.random.Generator, font, size: int = 28) -> np.ndarray:
    stroke = int(rng.integers(0, 3))
    canvas = Image.new("L", (_BIG, _BIG), 0)
    draw = ImageDraw.Draw(canvas)
    draw.text((_BIG / 2, _BIG / 2), str(digit), fill=255, font=font, anchor="mm",
              stroke_width=stroke, stroke_fill=255)
    # 1. random affine about the centre (PIL wants the inverse map: output -> input)
    angle = math.radians(rng.uniform(-12, 12))
    shear = rng.uniform(-0.2, 0.2)
    sx, sy = rng.uniform(0.9, 1.1, size=2)
    c, s = math.cos(angle), math.sin(angle)
    forward = np.array([[c, -s], [s, c]]) @ np.array([[1, shear], [0, 1]]) @ np.diag([sx, sy])
    inv = np.linalg.inv(forward)
    centre = np.array([_BIG / 2, _BIG / 2])
    offset = centre - inv @ centre
    canvas = canvas.transform((_BIG, _BIG), Image.AFFINE,
                              (inv[0, 0], inv[0, 1], offset[0], inv[1, 0], inv[1, 1], offset[1]),
                              resample=Image.BILINEAR)
    a = np.asarray(canvas, dtype=np.float32)
    # 2. elastic wobble: smooth random displacements in big-canvas pixels. A 4x4 grid of
    #    uniform noise upsampled with a cubic spline is a cheap stand-in for Simard's
    #    Gaussian-smoothed per-pixel noise (same effect: displacements correlated over ~1/4 glyph).
    #    The upsampling is separable, so it is one matrix product each side: B N B^T.
    alpha = rng.uniform(1.0, 2.5)
    up, (yy, xx) = _upsampler(), _PIXELS
    dx = up @ rng.uniform(-1, 1, (4, 4)) @ up.T * alpha
    dy = up @ rng.uniform(-1, 1, (4, 4)) @ up.T * alpha
    a = ndimage.map_coordinates(a, [yy + dy, xx + dx], order=1, mode="constant")
    # 3. MNIST normalisation: fit into 20x20, centre of mass at the image centre
    ys, xs = np.nonzero(a > 32)
    if len(ys) == 0:                     # cannot happen for real glyphs; keep it safe
        return np.zeros((size, size), np.uint8)
    a = a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    box = 20 * size / 28
    k = box / max(a.shape)
    h, w = max(1, round(a.shape[0] * k)), max(1, round(a.shape[1] * k))
    small = np.asarray(Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).resize((w, h), Image.LANCZOS),
                       dtype=np.float32)
    cy, cx = ndimage.center_of_mass(small)
    top = int(round(size / 2 - cy))
    left = int(round(size / 2 - cx))
    top, left = min(max(top, 0), size - h), min(max(left, 0), size - w)
    out = np.zeros((size, size), np.float32)
    out[top:top + h, left:left + w] = small
    return np.clip(out, 0, 255).astype(np.uint8)


def synthetic_digits(n: int = 10000, seed: int = 0, size: int = 28) -> Dataset:
    """N digits with balanced labels (0..9 cycling, then shuffled): uint8 (N, size, size), int64 (N,)."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 10).astype(np.int64)
    font = _font()
    x = np.stack([_render_one(int(d), rng, font, size) for d in y]) if n else np.zeros((0, size, size), np.uint8)
    return Dataset(x, y, "digits", {"classes": [str(d) for d in range(10)]})
