"""Compose, Resize, CenterCrop, ToTensor, Normalize on one uint8 (H, W[, C]) image.

``torch`` is whichever one is imported: tinygen under the alias, the real one for the oracle.
"""
import numpy as np
from PIL import Image


def _torch():
    """The `torch` of the moment (looked up per call: the stub module outlives each alias)."""
    import torch
    return torch


class Compose:
    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


class Resize:
    def __init__(self, size):
        self.size = (size, size) if isinstance(size, int) else tuple(size)

    def __call__(self, img):
        if img.shape[:2] == self.size:
            return img
        return np.asarray(Image.fromarray(img).resize(self.size[::-1], Image.BILINEAR))


class CenterCrop:
    def __init__(self, size):
        self.size = (size, size) if isinstance(size, int) else tuple(size)

    def __call__(self, img):
        h, w = img.shape[:2]
        top, left = (h - self.size[0]) // 2, (w - self.size[1]) // 2
        return img[top:top + self.size[0], left:left + self.size[1]]


class ToTensor:
    """uint8 (H, W[, C]) in 0..255 -> float32 (C, H, W) in [0, 1]."""

    def __call__(self, img):
        x = np.asarray(img, dtype=np.float32) / 255.0
        x = x[None] if x.ndim == 2 else x.transpose(2, 0, 1)
        return _torch().from_numpy(np.ascontiguousarray(x))


class Normalize:
    def __init__(self, mean, std):
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)

    def __call__(self, x):
        return (x - _torch().from_numpy(self.mean[:, None, None])) / \
            _torch().from_numpy(self.std[:, None, None])
