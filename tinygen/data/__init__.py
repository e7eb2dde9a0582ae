"""Datasets as host NumPy arrays, and batching.

``load_dataset(name, split="train", ...)`` resolves every dataset name the command line
accepts and returns a :class:`Dataset` (``x``, ``y`` or None, ``meta``):

==================  ==========================================================================
name                x (dtype, shape, range)
==================  ==========================================================================
ring8, grid25       float32 (N, 2); 8 / 25 Gaussian modes (``meta``: centres, std)
swissroll, moons    float32 (N, 2)
gmm1d               float32 (N, 1); 3 Gaussians at -2, 0, 2
shapes              uint8 (N, S, S, 3) 0..255, S = ``size`` (default 32); labelled attributes
digits              uint8 (N, 28, 28) 0..255; synthetic handwriting-like digits, y 0..9
mnist               uint8 (N, 28, 28); needs the IDX files (``data_dir`` / ``download``)
fashion-mnist       uint8 (N, 28, 28); same
cifar10             uint8 (N, 32, 32, 3); needs cifar-10-python.tar.gz
folder:PATH         uint8 (N, H, W, 3) from image files (class-per-subfolder -> y)
npz:PATH            arrays ``x`` and optional ``y`` from an .npz file
==================  ==========================================================================
"""
from __future__ import annotations

from typing import Callable, Dict, Optional

import numpy as np
from PIL import Image

from tinygen.data import paired
from tinygen.data.byo import load_folder, load_npz
from tinygen.data.dataset import Dataset
from tinygen.data.digits import synthetic_digits
from tinygen.data.loader import (Compose, DataLoader, RandomCrop, RandomHorizontalFlip, ToFloat,
                                 to_float)
from tinygen.data.paired import (colorization_pairs, denoising_pairs, edges_pairs, inpainting_pairs,
                                 make_pairs, super_resolution_pairs)
from tinygen.data.real import (CIFAR10_CLASSES, FASHION_CLASSES, DataFileError, DataNotFoundError,
                               load_cifar10, load_fashion_mnist, load_mnist, parse_idx, read_idx)
from tinygen.data.shapes import domain_pair, select, synthetic_shapes
from tinygen.data.toy2d import gmm1d, grid25, moons, ring8, swissroll

# Default sizes of the generated sets (n=None): (train, test).
DEFAULT_N = {"ring8": (10000, 2000), "grid25": (10000, 2000), "swissroll": (10000, 2000),
             "moons": (10000, 2000), "gmm1d": (10000, 2000), "shapes": (10000, 2000),
             "digits": (5000, 1000)}
# The test split of a generated set is drawn from a different seed than the train split.
TEST_SEED_OFFSET = 1_000_003

_TOYS: Dict[str, Callable[..., Dataset]] = {"ring8": ring8, "grid25": grid25, "swissroll": swissroll,
                                             "moons": moons, "gmm1d": gmm1d}
TOYS = tuple(_TOYS)            # the low-dimensional point sets
NAMES = ["ring8", "grid25", "swissroll", "moons", "gmm1d", "shapes", "digits", "mnist",
         "fashion-mnist", "cifar10", "folder:PATH", "npz:PATH"]


def resize_images(x: np.ndarray, size: int) -> np.ndarray:
    """uint8 (N, H, W[, C]) -> (N, size, size[, C]) with Pillow's bicubic filter (antialiased)."""
    if x.shape[1:3] == (size, size):
        return x
    return np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BICUBIC)) for im in x])


def load_dataset(name: str, split: str = "train", data_dir: Optional[str] = None,
                 download: bool = False, seed: int = 0, n: Optional[int] = None,
                 size: Optional[int] = None, **options) -> Dataset:
    """Load a dataset by its command-line name (see the module docstring for the table).

    Args:
        name: one of ``NAMES`` (``folder:PATH`` and ``npz:PATH`` take a path).
        split: ``"train"`` or ``"test"``. Generated sets draw the test split from another
            seed; folder/npz sets have one split and ignore it.
        data_dir: folder holding the files of real datasets (``--data-dir``); default the
            cache (``$TINYGEN_DATA/<name>`` or ``~/.cache/tinygen/<name>``).
        download: fetch missing real-dataset files (MD5-checked) into ``data_dir``/the cache.
        seed: seed of the generated sets.
        n: number of items (generated sets: how many to draw; real ones: the first n).
        size: image side for image datasets (shapes are drawn at it; others are resized).
        options: passed to the generator (e.g. ``channels=1`` for shapes, ``std=`` for toys).
    Raises:
        ValueError for an unknown name (listing the valid ones) or split.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    if name.startswith("folder:"):
        return load_folder(name[len("folder:"):], size=size, n=n, **options)
    if name.startswith("npz:"):
        return load_npz(name[len("npz:"):], n=n, size=size)
    key = name.lower().replace("_", "-")
    key = {"fashion": "fashion-mnist", "fashionmnist": "fashion-mnist", "cifar-10": "cifar10",
           "swiss-roll": "swissroll"}.get(key, key)
    if key in DEFAULT_N:
        count = n if n is not None else DEFAULT_N[key][split == "test"]
        s = seed + (TEST_SEED_OFFSET if split == "test" else 0)
        if key in _TOYS:
            if size is not None:
                raise ValueError(f"size={size} applies to image datasets, not the 2-D toy {name!r}")
            ds = _TOYS[key](n=count, seed=s, **options)
        elif key == "shapes":
            ds = synthetic_shapes(n=count, seed=s, size=size or 32, **options)
        else:
            ds = synthetic_digits(n=count, seed=s, **options)
            if size is not None:
                ds.x = resize_images(ds.x, size)
        ds.name = name
        return ds
    real = {"mnist": (load_mnist, [str(d) for d in range(10)]),
            "fashion-mnist": (load_fashion_mnist, FASHION_CLASSES),
            "cifar10": (load_cifar10, CIFAR10_CLASSES)}
    if key not in real:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(NAMES)}")
    loader, classes = real[key]
    x, y = loader(data_dir, split=split, download=download)
    if n is not None:
        x, y = x[:n], y[:n]
    if size is not None:
        x = resize_images(x, size)
    return Dataset(x, y, name, {"classes": classes})


__all__ = [
    "CIFAR10_CLASSES", "Compose", "DataFileError", "DataLoader", "DataNotFoundError", "Dataset",
    "FASHION_CLASSES", "NAMES", "RandomCrop", "RandomHorizontalFlip", "ToFloat", "colorization_pairs",
    "denoising_pairs", "domain_pair", "edges_pairs", "gmm1d", "grid25", "inpainting_pairs",
    "load_cifar10", "load_dataset", "load_fashion_mnist", "load_folder", "load_mnist", "load_npz",
    "make_pairs", "moons", "paired", "parse_idx", "read_idx", "resize_images", "ring8", "select",
    "super_resolution_pairs", "swissroll", "synthetic_digits", "synthetic_shapes", "to_float",
]
