"""Datasets as the float arrays methods train on: images (N, C, H, W) in a value range, points.

Every method loads its data through these few functions, so each method file holds only
its own paper:

    to_float_images(x, value_range)   uint8 / float images -> float32 (N, C, H, W)
    to_uint8_images(x, value_range)   its inverse: float (N, C, H, W) -> uint8 (N, H, W[, C])
    load_images(name, split, ...)     (x, y) of a named dataset, MNIST on the t10k protocol
    load_training_set(name, ...)      GAN-style training data: images in [-1, 1] (the range of
                                      a tanh generator) or 2-D points, with the toys' modes
    load_labelled_set(name, ...)      the same images with their labels (y = -1: unlabelled),
                                      for the label-using GANs (cgan, sgan, acgan, bigan's probe)
    load_test_set(name, test_name)    the held-out labelled images a method scores at the end
    labelled_subset(y, per_class, rng)   keep a balanced few labels, mark the rest -1
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import numpy as np

from tinygen.data import load_dataset


def to_float_images(x, value_range: Tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """uint8 (N, H, W) / (N, H, W, C) or float images -> float32 (N, C, H, W) in ``value_range``.

    uint8 images map 0..255 onto ``value_range``; float images are taken to be in [0, 1]
    when they lie there (and are mapped like uint8 ones), else kept as they are.
    Only (0, 1) and (-1, 1) ranges are needed: [0, 1] for likelihood models (VAE,
    autoencoders), [-1, 1] for tanh generators (GANs).
    """
    if tuple(value_range) not in ((0.0, 1.0), (-1.0, 1.0)):
        raise ValueError(f"value_range must be (0, 1) or (-1, 1), got {value_range}")
    x = np.asarray(x)
    signed = value_range[0] < 0
    if x.ndim == 3:
        x = x[:, None]                                    # (N, 1, H, W)
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)                       # NHWC -> NCHW
    if x.ndim != 4:
        raise ValueError(f"expected images (N, H, W) or (N, H, W, C), got shape {x.shape}")
    if x.dtype == np.uint8:
        return (x.astype(np.float32) / 127.5 - 1.0) if signed else x.astype(np.float32) / 255.0
    x = x.astype(np.float32)
    if signed and x.size and float(x.min()) >= 0.0 and float(x.max()) <= 1.0:
        x = x * 2.0 - 1.0                                 # [0, 1] -> [-1, 1]
    return x


def to_uint8_images(x, value_range: Tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Float images (N, C, H, W) in ``value_range`` -> uint8 (N, H, W) or (N, H, W, C), the
    layout of samples.npz and of the datasets (uint8 input is returned as it is)."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x
    lo, hi = value_range
    u = np.round((np.clip(x, lo, hi) - lo) * (255.0 / (hi - lo))).astype(np.uint8)
    return u[:, 0] if u.shape[1] == 1 else u.transpose(0, 2, 3, 1)


def load_images(name: str, split: str, data_dir: Optional[str] = None, n: Optional[int] = None,
                seed: int = 0, value_range=(0.0, 1.0), **options):
    """(x float32 (N, C, H, W) in ``value_range``, y int64 (N,) or None) for 'train'/'test'.

    Every name goes through the project's one loader, ``tinygen.data.load_dataset``
    (synthetic sets draw their test split from a different seed there).

    MNIST is special-cased to the protocol of this course's shared data folder, which
    holds only the official 10,000-image *test* split (t10k): the first 8,000 t10k
    images train, the last 2,000 evaluate, so the two never overlap. (With the full
    training files a user can pass ``--dataset npz:...``.)
    ``options`` go to the generator (e.g. ``channels=1`` for shapes).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if name.lower() == "mnist":
        ds = load_dataset("mnist", split="test", data_dir=data_dir)        # t10k: (10000, 28, 28)
        cut = len(ds.x) - 2000
        x, y = (ds.x[:cut], ds.y[:cut]) if split == "train" else (ds.x[cut:], ds.y[cut:])
    else:
        ds = load_dataset(name, split=split, data_dir=data_dir, seed=seed, n=n, **options)
        x, y = ds.x, ds.y
    x = to_float_images(x, value_range)
    y = None if y is None else np.asarray(y)
    if n is not None:
        x, y = x[:n], (None if y is None else y[:n])
    return x, y


@dataclasses.dataclass
class TrainingSet:
    """Training data on the host: x (N, *shape) float32, plus mode centres/std for 2-D toys."""
    x: np.ndarray
    centres: Optional[np.ndarray] = None
    std: Optional[float] = None

    @property
    def is_points(self) -> bool:
        return self.x.ndim == 2

    @property
    def shape(self) -> tuple:
        return tuple(self.x.shape[1:])


def load_training_set(name: str, data_dir: Optional[str] = None, seed: int = 0,
                      n: Optional[int] = None) -> TrainingSet:
    """The train split of ``name`` for a generator: points as they are, images in [-1, 1].

    Mode centres are kept only where the data has discrete modes (ring8, grid25: one
    class per centre); moons / swissroll list points along a curve, which are not modes.
    """
    ds = load_dataset(name, split="train", data_dir=data_dir, seed=seed, n=n or None)
    x = np.asarray(ds.x)
    x = x.astype(np.float32) if x.ndim == 2 else to_float_images(x, (-1.0, 1.0))
    meta = getattr(ds, "meta", {}) or {}
    centres, std = meta.get("centres"), meta.get("std")
    if centres is None or len(meta.get("classes", ())) != len(centres):
        centres = std = None
    return TrainingSet(x=x, centres=None if centres is None else np.asarray(centres), std=std)


UNLABELLED = -1        # the label of an image without one (npz ``y``; INTERFACES.md)


@dataclasses.dataclass
class LabelledSet:
    """Labelled images on the host: x float32 (N, C, H, W) in [-1, 1], y int64 (N,) with
    -1 for an unlabelled image, and the number of classes K (labels are 0..K-1)."""
    x: np.ndarray
    y: np.ndarray
    num_classes: int

    @property
    def shape(self) -> tuple:
        return tuple(self.x.shape[1:])

    @property
    def is_points(self) -> bool:
        return False

    @property
    def labelled(self) -> np.ndarray:
        """Indices of the images that carry a label (y >= 0)."""
        return np.flatnonzero(self.y >= 0)


class MissingLabels(ValueError):
    """A label-using method was given a dataset without labels."""


def _labels_of(name: str, y, n_images: int) -> np.ndarray:
    if y is None:
        raise MissingLabels(f"dataset {name!r} has no labels; the label-using methods need an "
                         "integer y per image (digits, mnist, shapes, folder:PATH with one "
                         "subfolder per class, or npz:PATH with an array 'y', -1 = unlabelled)")
    y = np.asarray(y, dtype=np.int64).reshape(-1)
    if len(y) != n_images or (y < UNLABELLED).any():
        raise ValueError(f"dataset {name!r}: y must hold one label >= -1 per image "
                         f"({n_images} images, {len(y)} labels, smallest {y.min()})")
    return y


def load_labelled_set(name: str, data_dir: Optional[str] = None, seed: int = 0,
                      n: Optional[int] = None, num_classes: int = 0) -> LabelledSet:
    """The train split of ``name`` with its labels, images in [-1, 1] (a tanh generator's
    range), through :func:`load_images` (MNIST: the first 8,000 t10k images).

    ``num_classes``: K; 0 = one more than the largest label (at least 2).
    """
    x, y = load_images(name, "train", data_dir, n or None, seed, value_range=(-1.0, 1.0))
    y = _labels_of(name, y, len(x))
    k = num_classes or max(2, int(y.max()) + 1)
    if y.max() >= k:
        raise ValueError(f"dataset {name!r} has label {int(y.max())} but num_classes is {k}")
    return LabelledSet(x=x, y=y, num_classes=k)


def load_test_set(name: str, test_name: Optional[str] = None, data_dir: Optional[str] = None,
                  seed: int = 0, n: Optional[int] = None, value_range=(-1.0, 1.0)):
    """(x, y) of the held-out images a method scores: ``test_name`` (``--test-dataset``; its
    ``y`` optional) or the test split of ``name``; None when there is none (an ``npz:`` or
    ``folder:`` training set is one split: pass ``--test-dataset``)."""
    if test_name is None and name.startswith(("npz:", "folder:")):
        return None
    source = test_name or name
    split = "train" if source.startswith(("npz:", "folder:")) else "test"
    x, y = load_images(source, split, data_dir, n or None, seed, value_range=value_range)
    return x, (None if y is None else np.asarray(y, dtype=np.int64))


def labelled_subset(y, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """y with only ``per_class`` labels kept in each class, drawn with ``rng`` from the
    labelled images (y >= 0); every other image marked -1. ``per_class`` 0: y as it is.

    A class with fewer labelled images keeps all of them (and a ValueError names it if it
    has none: a class without a single label cannot be learnt)."""
    y = np.asarray(y, dtype=np.int64)
    if per_class <= 0:
        return y.copy()
    out = np.full_like(y, UNLABELLED)
    for k in np.unique(y[y >= 0]):
        members = np.flatnonzero(y == k)
        keep = rng.choice(members, size=min(per_class, len(members)), replace=False)
        out[np.sort(keep)] = k
    return out
