"""Synthetic shapes with labelled attributes, rendered with Pillow (offline, seeded).

Every image shows one shape on a black background. Attributes (each an int64 (N,) array in
``meta["labels"]``; value names in ``meta["attributes"]``):

    shape    0 circle, 1 square, 2 triangle, 3 cross            (also the primary ``y``)
    colour   0 red, 1 green, 2 blue, 3 yellow, 4 magenta, 5 cyan, 6 white
    size     0 small (radius 0.15 S), 1 large (radius 0.26 S)
    filled   0 outlined (stroke ~S/32, at least 1 px), 1 filled
    pos_x    0 left, 1 centre, 2 right     (cell centre +- 0.03 S jitter)
    pos_y    0 top, 1 middle, 2 bottom

Images: uint8 (N, S, S, 3) for ``channels=3`` or (N, S, S) for ``channels=1`` (the colour's
luminance, so ``colour`` is only weakly visible in grayscale), S in {28, 32, 64} (any S >= 16
works). Drawn at 4x and downsampled with a box filter for anti-aliased edges.

Uses: conditional GANs (y = shape), attribute arithmetic (filled - outlined, large - small),
StarGAN domains (any attribute), CycleGAN domain pairs via :func:`domain_pair`
(circles vs squares, red vs blue).
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

from tinygen.data.dataset import Dataset

SHAPES = ("circle", "square", "triangle", "cross")
COLOURS = {"red": (230, 40, 40), "green": (40, 200, 60), "blue": (50, 90, 240), "yellow": (235, 215, 40),
           "magenta": (220, 50, 220), "cyan": (40, 210, 220), "white": (240, 240, 240)}
ATTRIBUTES: Dict[str, Tuple[str, ...]] = {
    "shape": SHAPES,
    "colour": tuple(COLOURS),
    "size": ("small", "large"),
    "filled": ("outlined", "filled"),
    "pos_x": ("left", "centre", "right"),
    "pos_y": ("top", "middle", "bottom"),
}
_SS = 4          # supersampling factor


def _outline(shape: str, cx: float, cy: float, r: float):
    """Polygon vertices (or the circle's bounding box) in pixel coordinates."""
    if shape == "circle":
        return [cx - r, cy - r, cx + r, cy + r]
    if shape == "square":
        h = r * 0.85
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    if shape == "triangle":             # equilateral, pointing up, inscribed in the circle
        return [(cx + r * np.cos(a), cy - r * np.sin(a)) for a in np.radians([90, 210, 330])]
    if shape == "cross":                # plus sign, arm half-width r/3
        a, b = r, r / 3
        pts = [(b, a), (b, b), (a, b), (a, -b), (b, -b), (b, -a),
               (-b, -a), (-b, -b), (-a, -b), (-a, b), (-b, b), (-b, a)]
        return [(cx + u, cy + v) for u, v in pts]
    raise ValueError(shape)


def render_shape(shape: str, colour, size_class: int, filled: bool, centre: Tuple[float, float],
                 image_size: int = 32) -> np.ndarray:
    """One (S, S, 3) uint8 image; ``centre`` in pixels, radius from ``size_class``."""
    big = image_size * _SS
    canvas = Image.new("RGB", (big, big), (0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    r = (0.26 if size_class else 0.15) * big
    cx, cy = centre[0] * _SS, centre[1] * _SS
    geometry = _outline(shape, cx, cy, r)
    width = max(_SS, round(big / 32))   # 1 px at S=32, 2 px at S=64
    colour = tuple(colour)
    if shape == "circle":
        draw.ellipse(geometry, fill=colour if filled else None, outline=colour, width=width)
    elif filled:
        draw.polygon(geometry, fill=colour)
    else:
        draw.line(geometry + [geometry[0], geometry[1]], fill=colour, width=width, joint="curve")
    return np.asarray(canvas.resize((image_size, image_size), Image.BOX), dtype=np.uint8)


def synthetic_shapes(n: int = 10000, seed: int = 0, size: int = 32, channels: int = 3,
                     shapes: Optional[Sequence[str]] = None, colours: Optional[Sequence[str]] = None,
                     sizes: Optional[Sequence[str]] = None, filled: Optional[Sequence[str]] = None) -> Dataset:
    """Draw ``n`` shapes with uniformly random attributes.

    Args:
        size: image side S in pixels (28, 32, 64...).
        channels: 3 (RGB, (N, S, S, 3)) or 1 (luminance, (N, S, S)).
        shapes, colours, sizes, filled: restrict an attribute to these value names
            (e.g. ``colours=("red", "blue")``); the label still uses the global index.
    Returns:
        Dataset with ``y`` = shape label and ``meta["labels"]`` = every attribute.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3; got {channels}")
    if size < 16:
        raise ValueError(f"shape images need size >= 16 pixels; got {size}")
    rng = np.random.default_rng(seed)
    allowed = {"shape": shapes, "colour": colours, "size": sizes, "filled": filled}
    labels = {}
    for attr, names in ATTRIBUTES.items():
        choice = allowed.get(attr)
        if choice is None:
            idx = np.arange(len(names))
        else:
            unknown = [c for c in choice if c not in names]
            if unknown:
                raise ValueError(f"unknown {attr} {unknown}; valid: {list(names)}")
            idx = np.array([names.index(c) for c in choice])
        labels[attr] = idx[rng.integers(0, len(idx), size=n)].astype(np.int64)
    jitter = rng.uniform(-0.03, 0.03, size=(n, 2)) * size
    x = np.zeros((n, size, size, 3), np.uint8)
    for i in range(n):
        cx = size * (0.5 + 0.18 * (labels["pos_x"][i] - 1)) + jitter[i, 0]
        cy = size * (0.5 + 0.18 * (labels["pos_y"][i] - 1)) + jitter[i, 1]
        x[i] = render_shape(SHAPES[labels["shape"][i]], COLOURS[ATTRIBUTES["colour"][labels["colour"][i]]],
                            int(labels["size"][i]), bool(labels["filled"][i]), (cx, cy), size)
    if channels == 1:   # ITU-R 601 luma, as Pillow's convert("L")
        x = np.round(x @ np.array([0.299, 0.587, 0.114])).clip(0, 255).astype(np.uint8)
    meta = {"labels": labels, "attributes": ATTRIBUTES, "classes": list(SHAPES)}
    return Dataset(x, labels["shape"].copy(), "shapes", meta)


def select(dataset: Dataset, **conditions: str) -> Dataset:
    """The items whose attributes have the named values, e.g. ``select(ds, shape="circle", colour="red")``."""
    labels = dataset.meta.get("labels")
    if labels is None:
        raise ValueError(f"dataset {dataset.name!r} has no attribute labels (only 'shapes' does)")
    keep = np.ones(len(dataset), bool)
    for attr, value in conditions.items():
        if attr not in ATTRIBUTES:
            raise ValueError(f"unknown attribute {attr!r}; valid: {list(ATTRIBUTES)}")
        if value not in ATTRIBUTES[attr]:
            raise ValueError(f"unknown {attr} {value!r}; valid: {list(ATTRIBUTES[attr])}")
        keep &= labels[attr] == ATTRIBUTES[attr].index(value)
    return dataset.subset(np.nonzero(keep)[0])


def domain_pair(attribute: str = "shape", a: str = "circle", b: str = "square", n: int = 2000,
                seed: int = 0, **kwargs) -> Tuple[Dataset, Dataset]:
    """Two unpaired domains for CycleGAN: ``n`` images with ``attribute == a`` and ``n`` with ``b``.

    Every other attribute stays random, so the translation must change only ``attribute``.
    ``kwargs`` go to :func:`synthetic_shapes` (size, channels...).
    """
    plural = {"shape": "shapes", "colour": "colours", "size": "sizes", "filled": "filled"}
    if attribute not in plural:
        raise ValueError(f"domain attribute must be one of {list(plural)}; got {attribute!r}")
    da = synthetic_shapes(n, seed=seed, **{plural[attribute]: (a,)}, **kwargs)
    db = synthetic_shapes(n, seed=seed + 10007, **{plural[attribute]: (b,)}, **kwargs)
    return da, db
