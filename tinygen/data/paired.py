"""Paired image-to-image tasks made from any image set: (input, target) arrays.

Input images: uint8 (N, H, W) or (N, H, W, 3) (values 0..255), as every image Dataset
returns. Each function documents its outputs' dtype and range; all randomness comes from
a seeded ``numpy.random.Generator``.

* :func:`super_resolution_pairs`  (low-res bicubic x1/scale, high-res)       pix2pix/SRGAN
* :func:`colorization_pairs`      (gray, colour)
* :func:`edges_pairs`             (edge map, image)                         pix2pix edges2x
* :func:`inpainting_pairs`        (masked, image, mask)                     context encoders
* :func:`denoising_pairs`         (noisy, clean)                            denoising AE
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
from PIL import Image
from scipy import ndimage

from tinygen.data.dataset import check_images


def _uint8_images(images, where: str) -> np.ndarray:
    x = check_images(images, where)
    if x.dtype != np.uint8:
        raise ValueError(f"{where}: expects uint8 images (0..255); got {x.dtype}. Convert with "
                         "np.clip(x * 255, 0, 255).astype(np.uint8) for [0, 1] floats")
    return x


def super_resolution_pairs(images, scale: int = 4) -> Tuple[np.ndarray, np.ndarray]:
    """(low, high): ``high`` is ``images`` cropped to a multiple of ``scale``; ``low`` its bicubic
    (antialiased, Pillow) downscale by ``scale``. Both uint8, shapes (N, H/s, W/s[, 3]) and (N, H, W[, 3])."""
    x = _uint8_images(images, "super_resolution_pairs")
    if scale < 1 or x.shape[1] < scale or x.shape[2] < scale:
        raise ValueError(f"scale {scale} does not fit images of shape {x.shape[1:3]}")
    h, w = (x.shape[1] // scale) * scale, (x.shape[2] // scale) * scale
    high = np.ascontiguousarray(x[:, :h, :w])
    low = np.stack([np.asarray(Image.fromarray(im).resize((w // scale, h // scale), Image.BICUBIC))
                    for im in high])
    return low, high


def colorization_pairs(images) -> Tuple[np.ndarray, np.ndarray]:
    """(gray, colour): gray uint8 (N, H, W) = ITU-R 601 luma of the RGB uint8 (N, H, W, 3) images."""
    x = _uint8_images(images, "colorization_pairs")
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"colorization_pairs needs colour images (N, H, W, 3); got shape {x.shape}")
    gray = np.round(x.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
    return gray.clip(0, 255).astype(np.uint8), x


def edges_pairs(images, threshold: float = 0.15, sigma: float = 0.7) -> Tuple[np.ndarray, np.ndarray]:
    """(edges, image): edges uint8 (N, H, W) in {0, 255}, white where the Sobel gradient
    magnitude of the Gaussian-smoothed (``sigma`` px) gray image exceeds ``threshold`` x its maximum."""
    x = _uint8_images(images, "edges_pairs")
    gray = x.astype(np.float32) if x.ndim == 3 else x.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    edges = np.zeros(gray.shape, np.uint8)
    for i, g in enumerate(gray):
        g = ndimage.gaussian_filter(g, sigma) if sigma > 0 else g
        mag = np.hypot(ndimage.sobel(g, axis=0), ndimage.sobel(g, axis=1))
        if mag.max() > 0:
            edges[i] = np.where(mag > threshold * mag.max(), 255, 0)
    return edges, x


def inpainting_pairs(images, seed: int = 0, min_frac: float = 0.25, max_frac: float = 0.5,
                     fill: int = 0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(masked, image, mask): one random axis-aligned rectangle per image, sides between
    ``min_frac`` and ``max_frac`` of the image side, set to ``fill`` in ``masked`` (uint8,
    same shape as the images). ``mask`` is bool (N, H, W), True inside the hole."""
    x = _uint8_images(images, "inpainting_pairs")
    if not 0 < min_frac <= max_frac <= 1:
        raise ValueError(f"need 0 < min_frac <= max_frac <= 1; got {min_frac}, {max_frac}")
    rng = np.random.default_rng(seed)
    n, h, w = x.shape[:3]
    mask = np.zeros((n, h, w), bool)
    for i in range(n):
        mh = max(1, int(round(h * rng.uniform(min_frac, max_frac))))
        mw = max(1, int(round(w * rng.uniform(min_frac, max_frac))))
        top, left = rng.integers(0, h - mh + 1), rng.integers(0, w - mw + 1)
        mask[i, top:top + mh, left:left + mw] = True
    masked = x.copy()
    masked[mask] = fill
    return masked, x, mask


def denoising_pairs(images, sigma: float = 0.2, seed: int = 0, clip: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """(noisy, clean), both float32 in [0, 1] (noisy clipped to it unless ``clip=False``):
    clean = images / 255, noisy = clean + sigma * N(0, 1)."""
    x = _uint8_images(images, "denoising_pairs")
    clean = x.astype(np.float32) / 255.0
    noisy = clean + sigma * np.random.default_rng(seed).standard_normal(clean.shape).astype(np.float32)
    return (np.clip(noisy, 0.0, 1.0) if clip else noisy), clean


PAIRED_TASKS = {
    "sr": super_resolution_pairs, "colorize": colorization_pairs, "edges": edges_pairs,
    "inpaint": inpainting_pairs, "denoise": denoising_pairs,
}


def make_pairs(task: str, images, **kwargs):
    """Dispatch by name: ``sr``, ``colorize``, ``edges``, ``inpaint``, ``denoise``."""
    if task not in PAIRED_TASKS:
        raise ValueError(f"unknown paired task {task!r}; valid: {sorted(PAIRED_TASKS)}")
    return PAIRED_TASKS[task](images, **kwargs)
