"""Super-resolution data: the bicubic degradation HR -> LR, aligned random patches, augmentation.

The standard protocol of SRCNN / SRResNet / EDSR / WDSR (and of the DIV2K challenge's "bicubic"
track): crop each high-resolution (HR) image to a multiple of the scale s, make its
low-resolution (LR) partner with MATLAB's ``imresize(HR, 1/s, 'bicubic')`` (Keys a = -0.5,
antialiased, :mod:`tinygen.ops.bicubic`) and round it to 8 bits as a saved PNG would be.
Training draws aligned patch pairs (LR p x p at (y, x), HR sp x sp at (sy, sx)) from random
images and places, each under one of the 8 symmetries of the square (flips and 90-degree
rotations; EDSR Sec. 4.1).

Shapes: HR images float32 (H, W, 3) in [0, 1]; batches float32 (N, 3, h, w) (channels first).
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

from tinygen.ops.bicubic import imresize

__all__ = ["crop_to_multiple", "degrade", "dihedral", "undihedral", "random_patches", "rescaled",
           "SRPairs"]


def crop_to_multiple(hr: np.ndarray, scale: int) -> np.ndarray:
    """(H, W, C) -> (H - H mod s, W - W mod s, C): the top-left part, so LR pixels tile it."""
    H, W = hr.shape[:2]
    return hr[:H - H % scale, :W - W % scale]


def degrade(hr: np.ndarray, scale: int, quantize: bool = True) -> np.ndarray:
    """The bicubic degradation: LR = imresize(HR, 1/scale) (MATLAB's rule), clipped to [0, 1]
    and rounded to 8 bits (``quantize``). HR must already be a multiple of ``scale``."""
    H, W = hr.shape[:2]
    if H % scale or W % scale:
        raise ValueError(f"degrade: HR size {H}x{W} is not a multiple of the scale {scale}; "
                         "crop it first (crop_to_multiple)")
    lr = np.clip(imresize(hr, size=(H // scale, W // scale), method="matlab"), 0.0, 1.0)
    if quantize:
        lr = np.round(lr * 255.0) / 255.0
    return lr.astype(np.float32)


def rescaled(images: Sequence[np.ndarray], factors="1", min_side: int = 96) -> List[np.ndarray]:
    """Every image at each of ``factors`` (a list or "1,0.75,0.5"): shrunk by MATLAB's
    antialiased bicubic, clipped to [0, 1]; copies with a side under ``min_side`` are left out.

    Scale augmentation (as SRCNN/VDSR train on several scales of their images): a shrunk HR
    image is a new, finer-grained HR image, so a few photos give more distinct patches.
    """
    if isinstance(factors, str):
        try:
            factors = [float(f) for f in factors.split(",") if f.strip()]
        except ValueError:
            raise ValueError(f"rescales {factors!r}: give comma-separated factors in (0, 1], "
                             "e.g. 1,0.75,0.5") from None
    if not factors or any(not 0 < f <= 1 for f in factors):
        raise ValueError(f"rescales {factors!r}: every factor must be in (0, 1], e.g. 1,0.75,0.5")
    out = []
    for im in images:
        for f in factors:
            if f == 1:
                out.append(im)
                continue
            size = (int(round(im.shape[0] * f)), int(round(im.shape[1] * f)))
            if min(size) >= min_side:
                out.append(np.clip(imresize(im, size=size, method="matlab"), 0.0, 1.0)
                           .astype(np.float32))
    return out


def dihedral(x: np.ndarray, k: int) -> np.ndarray:
    """The k-th of the 8 symmetries of the square (k in 0..7) on (..., H, W) arrays:
    k % 4 quarter turns, then a left-right flip when k >= 4."""
    x = np.rot90(x, k % 4, axes=(-2, -1))
    return np.flip(x, axis=-1) if k >= 4 else x


def undihedral(x: np.ndarray, k: int) -> np.ndarray:
    """The inverse of :func:`dihedral`: undihedral(dihedral(x, k), k) == x."""
    x = np.flip(x, axis=-1) if k >= 4 else x
    return np.rot90(x, -(k % 4), axes=(-2, -1))


class SRPairs:
    """HR images and their LR partners at one scale, for drawing training patches.

    Args:
        images: float HR images (H, W, 3) in [0, 1], any sizes (each at least ``patch * scale``).
        scale: the upscaling factor s.
    """

    def __init__(self, images: Sequence[np.ndarray], scale: int):
        self.scale = int(scale)
        self.hr: List[np.ndarray] = [np.ascontiguousarray(crop_to_multiple(im, scale)
                                                          .transpose(2, 0, 1)) for im in images]
        self.lr: List[np.ndarray] = [degrade(h.transpose(1, 2, 0), scale).transpose(2, 0, 1)
                                     for h in self.hr]                    # (3, H/s, W/s) each
        if not self.hr:
            raise ValueError("SRPairs: no images")
        area = np.array([lr.shape[1] * lr.shape[2] for lr in self.lr], np.float64)
        self.weights = area / area.sum()          # an image is drawn in proportion to its area

    def __len__(self) -> int:
        return len(self.hr)

    def patches(self, n: int, patch: int, rng: np.random.Generator,
                augment: bool = True) -> Tuple[np.ndarray, np.ndarray]:
        """n aligned pairs: LR (n, 3, p, p) and HR (n, 3, sp, sp), float32."""
        s = self.scale
        lr_out = np.empty((n, 3, patch, patch), np.float32)
        hr_out = np.empty((n, 3, patch * s, patch * s), np.float32)
        for i in range(n):
            j = int(rng.choice(len(self.lr), p=self.weights))   # uniform over positions
            lr, hr = self.lr[j], self.hr[j]
            h, w = lr.shape[1:]
            if h < patch or w < patch:
                raise ValueError(f"SRPairs: image {j} has an LR size {h}x{w} below the patch "
                                 f"size {patch}; lower --patch-size")
            y, x = int(rng.integers(h - patch + 1)), int(rng.integers(w - patch + 1))
            k = int(rng.integers(8)) if augment else 0
            lr_out[i] = dihedral(lr[:, y:y + patch, x:x + patch], k)
            hr_out[i] = dihedral(hr[:, s * y:s * (y + patch), s * x:s * (x + patch)], k)
        return lr_out, hr_out


def random_patches(pairs: SRPairs, n: int, patch: int, rng: np.random.Generator,
                   augment: bool = True):
    """:meth:`SRPairs.patches` as a function."""
    return pairs.patches(n, patch, rng, augment)
