"""Low-dimensional toy distributions for GANs: every one knows its modes.

All samplers draw from a seeded ``numpy.random.Generator`` and return a :class:`Dataset`
with ``x`` float32 (N, 2) (or (N, 1)), ``y`` the index of the mode each point came from
(int64, where modes exist) and ``meta["centres"]`` (K, D), ``meta["std"]`` so that mode
coverage ("how many of the K modes does G hit, within 3 std?") can be measured.

* ``ring8``: 8 Gaussians on a circle of radius 2, std 0.02 (Metz et al. 2017, Unrolled GANs).
* ``grid25``: 25 Gaussians at {-4, -2, 0, 2, 4}^2, std 0.05 (Srivastava et al. 2017, VEEGAN).
* ``swissroll``: the 2-D swiss roll r = t, (r cos t, r sin t) / 5 with t in [1.5 pi, 4.5 pi],
  plus Gaussian noise 0.05 (no discrete modes; ``centres`` are points along the spiral).
* ``moons``: two interleaving half circles (as scikit-learn's make_moons) with noise 0.05.
* ``gmm1d``: a 1-D mixture of Gaussians (default at -2, 0, 2 with std 0.1).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from tinygen.data.dataset import Dataset


def _mixture(centres: np.ndarray, std: float, n: int, rng: np.random.Generator,
             weights: Optional[Sequence[float]] = None):
    k = len(centres)
    y = rng.choice(k, size=n, p=None if weights is None else np.asarray(weights) / np.sum(weights))
    x = centres[y] + std * rng.standard_normal((n, centres.shape[1]))
    return x.astype(np.float32), y.astype(np.int64)


def ring8(n: int = 10000, seed: int = 0, radius: float = 2.0, std: float = 0.02, modes: int = 8) -> Dataset:
    """``modes`` Gaussians evenly spaced on a circle (centre k at angle 2 pi k / modes)."""
    angles = 2 * math.pi * np.arange(modes) / modes
    centres = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    x, y = _mixture(centres, std, n, np.random.default_rng(seed))
    return Dataset(x, y, "ring8", {"centres": centres, "std": std, "classes": list(range(modes))})


def grid25(n: int = 10000, seed: int = 0, spacing: float = 2.0, std: float = 0.05, side: int = 5) -> Dataset:
    """side x side Gaussians on a square lattice centred at 0 (centres -4, -2, 0, 2, 4)."""
    ticks = spacing * (np.arange(side) - (side - 1) / 2)
    gx, gy = np.meshgrid(ticks, ticks, indexing="ij")
    centres = np.stack([gx.ravel(), gy.ravel()], axis=1)
    x, y = _mixture(centres, std, n, np.random.default_rng(seed))
    return Dataset(x, y, "grid25", {"centres": centres, "std": std, "classes": list(range(side * side))})


def swissroll(n: int = 10000, seed: int = 0, noise: float = 0.05) -> Dataset:
    """2-D swiss roll, scaled to roughly [-3, 3]^2; y is None."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(1.5 * math.pi, 4.5 * math.pi, size=n)
    x = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / 5.0
    x = x + noise * rng.standard_normal((n, 2))
    ts = np.linspace(1.5 * math.pi, 4.5 * math.pi, 50)
    centres = np.stack([ts * np.cos(ts), ts * np.sin(ts)], axis=1) / 5.0
    return Dataset(x.astype(np.float32), None, "swissroll", {"centres": centres, "std": noise})


def moons(n: int = 10000, seed: int = 0, noise: float = 0.05) -> Dataset:
    """Two half circles of radius 1: upper centred at (0, 0), lower at (1, 0.5), shifted by (-0.5, -0.25)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    t = rng.uniform(0, math.pi, size=n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    x = np.where(y[:, None] == 0, upper, lower) - np.array([0.5, 0.25])
    x = x + noise * rng.standard_normal((n, 2))
    ts = np.linspace(0, math.pi, 20)
    centres = np.concatenate([np.stack([np.cos(ts), np.sin(ts)], 1),
                              np.stack([1 - np.cos(ts), 0.5 - np.sin(ts)], 1)]) - np.array([0.5, 0.25])
    return Dataset(x.astype(np.float32), y.astype(np.int64), "moons",
                   {"centres": centres, "std": noise, "classes": ["upper", "lower"]})


def gmm1d(n: int = 10000, seed: int = 0, centres: Sequence[float] = (-2.0, 0.0, 2.0),
          std: float = 0.1, weights: Optional[Sequence[float]] = None) -> Dataset:
    """A 1-D Gaussian mixture; x is float32 (N, 1)."""
    c = np.asarray(centres, dtype=np.float64).reshape(-1, 1)
    x, y = _mixture(c, std, n, np.random.default_rng(seed), weights)
    return Dataset(x, y, "gmm1d", {"centres": c, "std": std, "classes": list(range(len(c)))})
