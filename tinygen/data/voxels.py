"""Voxel occupancy grids: the embedded solids and ``npz:`` archives of volumes (3D-GAN's data).

Layout (INTERFACES.md): ``x`` (N, D, H, W) occupancy in {0, 1} (uint8, bool, int or float
holding only 0 and 1), optional ``y`` int64 (N,) labels. D, H, W need not be equal, but the
generator of :mod:`tinygen.methods.gan3d` makes cubes of side 16 * 2^k, so a method says what
it needs (:func:`check_side`).

The embedded default, ``solids``: five simple solids at 16^3, each with a random size and a
random position inside the grid (seeded), one class each:

    0 cube      axis-aligned box with three random side lengths (a cuboid: "cube or brick")
    1 sphere    radius 3..6.5
    2 cylinder  upright (along D), radius 2.5..5, height 6..14
    3 cone      upright, apex up, base radius 3.5..7, height 7..14
    4 torus     lying in the H-W plane, ring radius 3.5..5, tube radius 1.2..2

A voxel is occupied when its centre (i + 1/2, j + 1/2, k + 1/2) lies inside the solid.
Departure from 3D-GAN's data (ShapeNet CAD models voxelised at 64^3): these solids are
upright and axis-aligned, drawn at 16^3 so a 2-core CPU can learn them.
"""
from __future__ import annotations

import os
from typing import Optional, Tuple

import numpy as np

from tinygen.data.dataset import Dataset

SOLIDS = ("cube", "sphere", "cylinder", "cone", "torus")
SIDE = 16                       # the side of the embedded solids' grid
DEFAULT_N = (4000, 1000)        # solids drawn for the (train, test) splits
TEST_SEED_OFFSET = 1_000_003    # the test split draws from another seed (as data.load_dataset)

__all__ = ["SOLIDS", "SIDE", "synthetic_solids", "load_voxels", "check_side", "solid"]


def _centres(side: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Voxel-centre coordinates (d, h, w), each (side, side, side): i + 1/2."""
    c = np.arange(side, dtype=np.float64) + 0.5
    return np.meshgrid(c, c, c, indexing="ij")


def solid(kind: int, rng: np.random.Generator, side: int = SIDE) -> np.ndarray:
    """One solid of class ``kind`` (see the module table) at a random size and position:
    uint8 (side, side, side) in {0, 1}. Sizes scale with side / 16."""
    d, h, w = _centres(side)
    u = side / 16.0                                              # sizes are given at 16^3

    def centre(extent):                                          # keep the solid inside
        return [rng.uniform(e + 0.5, side - e - 0.5) for e in extent]

    name = SOLIDS[kind]
    if name == "cube":
        half = rng.uniform(2.0, 5.5, 3) * u                      # half side lengths
        c = centre(half)
        inside = ((abs(d - c[0]) <= half[0]) & (abs(h - c[1]) <= half[1])
                  & (abs(w - c[2]) <= half[2]))
    elif name == "sphere":
        r = rng.uniform(3.0, 6.5) * u
        c = centre([r] * 3)
        inside = (d - c[0]) ** 2 + (h - c[1]) ** 2 + (w - c[2]) ** 2 <= r * r
    elif name == "cylinder":
        r, half = rng.uniform(2.5, 5.0) * u, rng.uniform(3.0, 7.0) * u
        c = centre([half, r, r])
        inside = (abs(d - c[0]) <= half) & ((h - c[1]) ** 2 + (w - c[2]) ** 2 <= r * r)
    elif name == "cone":
        r, height = rng.uniform(3.5, 7.0) * u, rng.uniform(7.0, 14.0) * u
        c = centre([height / 2, r, r])
        t = (d - (c[0] - height / 2)) / height                   # 0 at the base, 1 at the apex
        inside = (t >= 0) & (t <= 1) & ((h - c[1]) ** 2 + (w - c[2]) ** 2 <= (r * (1 - t)) ** 2)
    else:                                                        # torus
        R, r = rng.uniform(3.5, 5.0) * u, rng.uniform(1.2, 2.0) * u
        c = centre([r, R + r, R + r])
        ring = np.sqrt((h - c[1]) ** 2 + (w - c[2]) ** 2) - R    # distance to the ring's circle
        inside = ring ** 2 + (d - c[0]) ** 2 <= r * r
    return inside.astype(np.uint8)


def synthetic_solids(n: int = DEFAULT_N[0], seed: int = 0, side: int = SIDE) -> Dataset:
    """n solids, classes in turn (balanced), shuffled: x uint8 (n, side, side, side) in {0, 1},
    y int64 (n,) indices into ``SOLIDS``."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % len(SOLIDS)).astype(np.int64)
    x = np.stack([solid(int(k), rng, side) for k in y]) if n else np.zeros((0,) + (side,) * 3,
                                                                          np.uint8)
    return Dataset(x, y, "solids", {"classes": list(SOLIDS)})


def _read_npz(path: str):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"npz:{path}: no such file (write one with "
                                "numpy.savez(path, x=occupancy (N, D, H, W) of 0/1, y=labels))")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as e:
        raise ValueError(f"npz:{path}: cannot read it as an .npz file "
                         f"({type(e).__name__}: {e})") from None
    if "x" not in arrays:
        raise ValueError(f"npz:{path}: no array named 'x' (it has {sorted(arrays)}); save the "
                         "volumes as numpy.savez(path, x=occupancy (N, D, H, W))")
    x, y = arrays["x"], arrays.get("y")
    if x.ndim == 5 and x.shape[1] == 1:
        x = x[:, 0]                                              # (N, 1, D, H, W) is fine too
    if x.ndim != 4:
        raise ValueError(f"npz:{path}: x must be voxel occupancy of shape (N, D, H, W), got "
                         f"rank {x.ndim} with shape {x.shape}")
    if len(x) == 0:
        raise ValueError(f"npz:{path}: x holds no volumes (shape {x.shape})")
    if not (x.dtype == bool or np.issubdtype(x.dtype, np.number)):
        raise ValueError(f"npz:{path}: x must be numbers 0/1 (uint8, bool or float), got {x.dtype}")
    values = np.unique(x)
    if not np.isin(values, (0, 1)).all():
        bad = values[~np.isin(values, (0, 1))]
        raise ValueError(f"npz:{path}: x must hold occupancy 0 or 1 only, found {bad.size} other "
                         f"value(s) such as {bad[0]!r}; threshold it first, e.g. x = (x > 0.5)")
    if y is not None:
        if not np.issubdtype(y.dtype, np.integer) or y.shape != (len(x),):
            raise ValueError(f"npz:{path}: y must be integer labels of shape ({len(x)},); got "
                             f"{y.dtype} {y.shape}")
        y = y.astype(np.int64)
    return x.astype(np.uint8), y


def load_voxels(name: str, split: str = "train", seed: int = 0,
                n: Optional[int] = None) -> Dataset:
    """``solids`` (the embedded default; ``split`` picks the seed) or ``npz:PATH`` (one split)
    -> Dataset with x uint8 (N, D, H, W) in {0, 1} and y (or None). ``n``: the first n."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if name.startswith("npz:"):
        x, y = _read_npz(name[len("npz:"):])
        if n:
            x, y = x[:n], (None if y is None else y[:n])
        return Dataset(x, y, name, {})
    if name.lower() != "solids":
        raise ValueError(f"unknown voxel dataset {name!r}; use 'solids' (the embedded 16^3 "
                         "solids) or npz:PATH with x of shape (N, D, H, W) holding 0/1")
    count = n or DEFAULT_N[split == "test"]
    return synthetic_solids(count, seed + (TEST_SEED_OFFSET if split == "test" else 0))


def check_side(x: np.ndarray, name: str, smallest: int = 16) -> int:
    """The side of cubic volumes x (N, S, S, S) that a 2^k up-sampling generator can make
    (S = smallest * 2^k); a ValueError naming the shape and the fix otherwise."""
    shape = tuple(x.shape[1:])
    side = shape[0]
    if len(set(shape)) != 1:
        raise ValueError(f"{name}: volumes of shape {shape} are not cubes; the generator makes "
                         f"cubic grids (S, S, S): pad or crop them to a cube, e.g. {max(shape)}^3")
    if side < smallest or side & (side - 1):
        raise ValueError(f"{name}: side {side} is not {smallest} * 2^k (16, 32, 64 ...); "
                         "resample the volumes to one of those sides")
    return side
