"""Unpaired image sets (CycleGAN) and domain-labelled image sets (StarGAN), as host arrays.

Two layouts of INTERFACES.md, read here once for every translation method:

    unpaired   two image sets A and B of any lengths, NOT aligned (a[i] and b[i] are
               unrelated images): ``npz:PATH`` with arrays ``a`` and ``b``; ``folder:PATH``
               with ``trainA/`` and ``trainB/`` (``testA/``, ``testB/`` for the test split),
               as CycleGAN's datasets are laid out; built-in: ``strokes``.
    domains    images with an integer domain label: ``npz:PATH`` with ``x`` and ``y``
               (0..K-1, K read from the data); ``folder:PATH`` with one subfolder per domain;
               built-in: ``digit-styles``, ``shape-colours``.

The built-in sets are made at run time from the embedded data (nothing is downloaded):

    strokes        thin -> thick strokes: A = synthetic digits, B = the grey dilation
                   (3 x 3) of OTHER synthetic digits (the two domains are drawn from
                   disjoint images, so no pair exists), padded to 32 x 32, one channel
    digit-styles   3 colours x 2 stroke widths = 6 domains of synthetic digits, RGB 32 x 32:
                   y = 2 * colour + width, colour in (red, green, blue), width in (thin, thick)
    shape-colours  the shapes dataset with its colour as the domain (7 domains), RGB 32 x 32

:func:`stroke_domains` and :func:`style_domains` make the same tasks from any grey images
(benchmarks/unpaired_quality.py makes them from real MNIST digits).

Images are uint8 (N, H, W) or (N, H, W, C) with C in (1, 3) as everywhere in tinygen; a
(N, H, W, 1) array is read as (N, H, W). Methods convert them with
:func:`tinygen.data.arrays.to_float_images`.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Optional, Tuple

import numpy as np
from scipy import ndimage

from tinygen.data.paired import pad_images
from tinygen.data.byo import _images_in
from tinygen.io.images import read_image

COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}
WIDTHS = ("thin", "thick")
UNPAIRED_NAMES = ("strokes", "npz:PATH", "folder:PATH")
DOMAIN_NAMES = ("digit-styles", "shape-colours", "npz:PATH", "folder:PATH")
TEST_SEED = 1_000_003          # the built-in test splits are drawn from another seed


@dataclasses.dataclass
class UnpairedSet:
    """Two unaligned image sets: ``a`` (N_a, H, W[, C]) and ``b`` (N_b, H, W[, C]), uint8.

    ``a_labels`` / ``b_labels``: the digit class of each image where the set knows it
    (built-in and benchmark sets; None for user data), for scoring only."""
    a: np.ndarray
    b: np.ndarray
    name: str = ""
    a_labels: Optional[np.ndarray] = None
    b_labels: Optional[np.ndarray] = None


@dataclasses.dataclass
class DomainSet:
    """Images ``x`` uint8 (N, H, W[, C]) with domain labels ``y`` int64 (N,) in 0..K-1.

    ``names``: a name per domain; ``content``: a per-image class that the translation
    should keep (the digit of digit-styles), or None."""
    x: np.ndarray
    y: np.ndarray
    num_domains: int
    names: Tuple[str, ...] = ()
    name: str = ""
    content: Optional[np.ndarray] = None


# ----------------------------------------------------------------------------- checks

def check_image_array(x, where: str) -> np.ndarray:
    """uint8 (N, H, W) or (N, H, W, C), C in (1, 3), N >= 1 -> the array ((N, H, W, 1) as
    (N, H, W)); a ValueError that names the shape or dtype and the fix otherwise."""
    x = np.asarray(x)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] != 3):
        raise ValueError(f"{where}: images must be (N, H, W) or (N, H, W, C) with C 1 or 3 "
                         f"(channels last); got shape {x.shape}")
    if x.dtype != np.uint8:
        raise ValueError(f"{where}: images must be uint8 (0..255); got {x.dtype}. Convert "
                         "with np.clip(x * 255, 0, 255).astype(np.uint8) for [0, 1] floats")
    if len(x) == 0:
        raise ValueError(f"{where}: holds no images (shape {x.shape})")
    return x


def _read_npz(path: str, keys, spec: str) -> dict:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{spec}: no such file (write one with numpy.savez(path, "
                                + ", ".join(f"{k}=..." for k in keys) + "))")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as e:
        raise ValueError(f"{spec}: cannot read it as an .npz file ({type(e).__name__}: {e})") \
            from None
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise ValueError(f"{spec}: no array named {missing[0]!r} (it has {sorted(arrays)}); save "
                         "it as numpy.savez(path, " + ", ".join(f"{k}=..." for k in keys) + ")")
    return arrays


def _read_folder(folder: str, spec: str, layout: str = "CycleGAN's layout: PATH/trainA, "
                 "PATH/trainB, optionally PATH/testA, PATH/testB") -> np.ndarray:
    """The images of ``folder`` (sorted by name) as one uint8 array; ``layout`` says in the
    missing-folder message what the folder should hold."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{spec}: no folder {folder!r} ({layout})")
    files = _images_in(folder)
    if not files:
        raise ValueError(f"{spec}: no image files in {folder!r}")
    images = [read_image(f, mode="RGB") for f in files]
    shapes = sorted({im.shape for im in images})
    if len(shapes) > 1:
        raise ValueError(f"{spec}: the images in {folder!r} have different sizes {shapes[:3]}; "
                         "resize them to one size first")
    x = np.stack(images)
    if np.array_equal(x[..., 0], x[..., 1]) and np.array_equal(x[..., 1], x[..., 2]):
        x = x[..., 0]                                # grey images stored as RGB
    return x


def _limit(x, n: int):
    return x if not n else x[:n]


# ----------------------------------------------------------------------------- the tasks

def thicken(x: np.ndarray, size: int = 3) -> np.ndarray:
    """Thicker strokes: the grey dilation of white-on-black images by a size x size square
    (each pixel becomes the maximum of its neighbourhood), uint8 (N, H, W) -> same."""
    return ndimage.grey_dilation(x, size=(1, size, size))


def stroke_domains(images: np.ndarray, labels=None, size: int = 32) -> UnpairedSet:
    """The thin -> thick task from grey digits (N, H, W) uint8: A = the first half as they
    are, B = the second half thickened (:func:`thicken`), both padded to ``size``. The two
    domains come from disjoint images, so no image of A has its partner in B."""
    x = pad_images(check_image_array(images, "stroke_domains"), size)
    half = len(x) // 2
    la = lb = None
    if labels is not None:
        labels = np.asarray(labels, np.int64)
        la, lb = labels[:half], labels[half:2 * half]
    return UnpairedSet(a=x[:half], b=thicken(x[half:2 * half]), name="strokes",
                       a_labels=la, b_labels=lb)


def colourise(grey: np.ndarray, colour) -> np.ndarray:
    """Grey (N, H, W) uint8 white-on-black -> RGB (N, H, W, 3): each pixel's intensity times
    the colour (r, g, b)/255."""
    c = np.asarray(colour, np.float32) / 255.0
    return np.round(grey[..., None].astype(np.float32) * c).astype(np.uint8)


def style_domains(images: np.ndarray, labels=None, seed: int = 0, size: int = 32) -> DomainSet:
    """3 colours x 2 stroke widths from grey digits (N, H, W): image i gets a random domain
    y_i = 2 colour + width (thin: as it is, thick: :func:`thicken`), drawn with ``seed``;
    RGB uint8 (N, size, size, 3). Every image appears once, in one domain."""
    x = pad_images(check_image_array(images, "style_domains"), size)
    rng = np.random.default_rng(seed)
    k = len(COLOURS) * len(WIDTHS)
    y = rng.integers(0, k, len(x)).astype(np.int64)
    out = np.zeros(x.shape + (3,), np.uint8)
    colours = list(COLOURS.values())
    for d in range(k):
        members = y == d
        grey = thicken(x[members]) if d % 2 else x[members]
        out[members] = colourise(grey, colours[d // 2])
    names = tuple(f"{c}-{w}" for c in COLOURS for w in WIDTHS)
    return DomainSet(x=out, y=y, num_domains=k, names=names, name="digit-styles",
                     content=None if labels is None else np.asarray(labels, np.int64))


def _digits(n: int, seed: int):
    from tinygen.data.digits import synthetic_digits
    ds = synthetic_digits(n=n, seed=seed)
    return ds.x, ds.y


# ----------------------------------------------------------------------------- loaders

def load_unpaired(spec: str, split: str = "train", seed: int = 0, n: int = 0) -> UnpairedSet:
    """The unpaired set ``spec`` names (module docstring); ``n`` > 0: at most n per domain.

    Built-in ``strokes``: 2,000 synthetic digits (1,000 per domain), the test split 400 from
    another seed. ``folder:PATH``'s test split reads testA/ and testB/."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if spec == "strokes":
        count = 2 * n if n else (2000 if split == "train" else 400)   # render no more
        x, y = _digits(count, seed + (TEST_SEED if split == "test" else 0))
        data = stroke_domains(x, y)
    elif spec.startswith("npz:"):
        arrays = _read_npz(spec[4:], ("a", "b"), spec)
        data = UnpairedSet(a=check_image_array(arrays["a"], f"{spec} array a"),
                           b=check_image_array(arrays["b"], f"{spec} array b"), name=spec)
    elif spec.startswith("folder:"):
        root = spec[len("folder:"):]
        prefix = "train" if split == "train" else "test"
        data = UnpairedSet(a=_read_folder(os.path.join(root, prefix + "A"), spec),
                           b=_read_folder(os.path.join(root, prefix + "B"), spec), name=spec)
    else:
        raise ValueError(f"unknown unpaired dataset {spec!r}; use one of "
                         f"{', '.join(UNPAIRED_NAMES)} (npz: arrays a and b; folder: "
                         "trainA/ and trainB/)")
    if data.a.shape[1:3] != data.b.shape[1:3]:
        raise ValueError(f"{spec}: domain A's images are {data.a.shape[1:3]} but B's are "
                         f"{data.b.shape[1:3]}; both domains need one image size")
    if n:
        data.a, data.b = _limit(data.a, n), _limit(data.b, n)
        data.a_labels = None if data.a_labels is None else data.a_labels[:n]
        data.b_labels = None if data.b_labels is None else data.b_labels[:n]
    return data


def has_test_split(spec: str) -> bool:
    """True where :func:`load_unpaired` / :func:`load_domains` can read a test split of
    ``spec`` itself: the built-ins, and a folder with testA/ (unpaired)."""
    if spec.startswith("npz:"):
        return False
    if spec.startswith("folder:"):
        return os.path.isdir(os.path.join(spec[len("folder:"):], "testA"))
    return True


def load_domains(spec: str, split: str = "train", seed: int = 0, n: int = 0) -> DomainSet:
    """The domain-labelled set ``spec`` names (module docstring); ``n`` > 0: the first n.

    Built-in ``digit-styles``: 3,000 synthetic digits, the test split 300 from another seed;
    ``shape-colours``: 3,000 shapes / 300. ``y`` must be 0..K-1 with every domain present
    in a training set (K = max y + 1); a test set's ``y`` is optional (0 without)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    s = seed + (TEST_SEED if split == "test" else 0)
    count = n or (3000 if split == "train" else 300)
    if spec == "digit-styles":
        x, digit = _digits(count, s)
        data = style_domains(x, digit, seed=s)
    elif spec == "shape-colours":
        from tinygen.data.shapes import ATTRIBUTES, synthetic_shapes
        ds = synthetic_shapes(n=count, seed=s, size=32)
        colours = ATTRIBUTES["colour"]
        data = DomainSet(x=ds.x, y=ds.meta["labels"]["colour"], num_domains=len(colours),
                         names=tuple(colours), name=spec, content=ds.y)
    elif spec.startswith("npz:"):
        arrays = _read_npz(spec[4:], ("x", "y") if split == "train" else ("x",), spec)
        x = check_image_array(arrays["x"], f"{spec} array x")
        y = np.asarray(arrays.get("y", np.zeros(len(x), np.int64)))  # a test set's y: optional
        if not np.issubdtype(y.dtype, np.integer) or y.shape != (len(x),):
            raise ValueError(f"{spec}: y must hold one integer domain label per image, shape "
                             f"({len(x)},); got {y.dtype} {y.shape}")
        data = _labelled(x, y.astype(np.int64), spec, (), split)
    elif spec.startswith("folder:"):
        from tinygen.data.byo import load_folder
        ds = load_folder(spec[len("folder:"):])
        if ds.y is None:
            raise ValueError(f"{spec}: needs one subfolder of images per domain "
                             "(PATH/domain0/*.png, PATH/domain1/*.png, ...)")
        data = _labelled(check_image_array(ds.x, spec), ds.y, spec, tuple(ds.meta["classes"]))
    else:
        raise ValueError(f"unknown domain dataset {spec!r}; use one of {', '.join(DOMAIN_NAMES)}"
                         " (npz: arrays x and integer y 0..K-1; folder: one subfolder per domain)")
    if n:
        data.x, data.y = data.x[:n], data.y[:n]
        data.content = None if data.content is None else data.content[:n]
    return data


def _labelled(x, y, spec: str, names, split: str = "train") -> DomainSet:
    if y.min() < 0:
        raise ValueError(f"{spec}: domain labels must be 0..K-1; found {int(y.min())}")
    k = int(y.max()) + 1
    if k < 2 and split == "train":
        raise ValueError(f"{spec}: all images are in domain 0; StarGAN needs at least 2 domains")
    return DomainSet(x=x, y=y, num_domains=k, names=names or tuple(str(d) for d in range(k)),
                     name=spec)


__all__ = ["UnpairedSet", "DomainSet", "COLOURS", "WIDTHS", "check_image_array",
           "thicken", "stroke_domains", "colourise", "style_domains", "load_unpaired",
           "load_domains", "has_test_split"]
