"""Bring your own data: ``folder:PATH`` (image files) and ``npz:PATH`` (arrays).

folder:PATH
    Either class-per-subfolder (``PATH/cat/*.png``, ``PATH/dog/*.jpg``: labels are the sorted
    subfolder names, y int64) or flat (``PATH/*.png``: y is None). Every Pillow-readable
    image (png, jpg, jpeg, bmp, gif, webp, tif, tiff) is read as RGB (``mode="RGB"``) or
    grayscale (``mode="L"``) and, if ``size`` is given, resized to size x size (bicubic).
    Without ``size`` all images must already share one size.
npz:PATH
    ``numpy.savez`` file with array ``x``: uint8 (N, H, W[, C]) images, float images, or
    float (N, D) points; optional integer ``y`` (N,). Loaded with ``allow_pickle=False``.
"""
from __future__ import annotations

import os
from typing import Optional

import numpy as np
from PIL import Image

from tinygen.data.dataset import Dataset
from tinygen.io.images import read_image

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def _images_in(folder: str):
    return sorted(os.path.join(folder, f) for f in os.listdir(folder)
                  if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."))


def load_folder(path: str, size: Optional[int] = None, mode: str = "RGB", n: Optional[int] = None) -> Dataset:
    """Images from a folder: x uint8 (N, S, S, 3) (mode RGB) or (N, S, S) (mode L)."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f"folder:{path}: no such folder (give the folder that holds the "
                                "images, or one subfolder per class)")
    subdirs = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))
                     and not d.startswith(".") and _images_in(os.path.join(path, d)))
    if subdirs:
        files = [(f, label) for label, d in enumerate(subdirs) for f in _images_in(os.path.join(path, d))]
    else:
        files = [(f, -1) for f in _images_in(path)]
    if not files:
        raise ValueError(f"folder:{path}: no image files ({', '.join(IMAGE_EXTENSIONS)}) in it or "
                         "in its subfolders")
    if n is not None:
        order = np.random.default_rng(0).permutation(len(files))[:n] if subdirs else np.arange(min(n, len(files)))
        files = [files[i] for i in sorted(order)]
    images = [read_image(f, size=size, mode=mode) for f, _ in files]
    shapes = sorted({im.shape for im in images})
    if len(shapes) > 1:
        raise ValueError(f"folder:{path}: images have different sizes {shapes[:4]}; pass size=S "
                         "(--size S) to resize them all to S x S")
    x = np.stack(images)
    if x.shape[-1] == 1:
        x = x[..., 0]
    y = np.array([label for _, label in files], dtype=np.int64) if subdirs else None
    meta = {"classes": subdirs} if subdirs else {}
    meta["files"] = [f for f, _ in files]
    return Dataset(x, y, f"folder:{path}", meta)


def load_npz(path: str, n: Optional[int] = None, size: Optional[int] = None) -> Dataset:
    """Arrays from an .npz file: ``x`` (required) and ``y`` (optional integer labels)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"npz:{path}: no such file (write one with "
                                "numpy.savez(path, x=images, y=labels))")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as e:
        raise ValueError(f"npz:{path}: cannot read it as an .npz file ({type(e).__name__}: {e})") from None
    if "x" not in arrays:
        raise ValueError(f"npz:{path}: no array named 'x' (it has {sorted(arrays)}); save the data "
                       "as numpy.savez(path, x=..., y=...)")
    x, y = arrays["x"], arrays.get("y")
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"npz:{path}: x must be (N, D) points or (N, H, W[, C]) images; got shape {x.shape}")
    if x.ndim == 4 and x.shape[-1] not in (1, 3):
        raise ValueError(f"npz:{path}: 4-D x must be channels-last (N, H, W, C) with C 1 or 3; "
                         f"got shape {x.shape}")
    if x.dtype != np.uint8 and not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"npz:{path}: x must be uint8 or float; got {x.dtype}")
    if len(x) == 0:
        raise ValueError(f"npz:{path}: x holds no examples (shape {x.shape})")
    if x.dtype != np.uint8 and not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))[:, 0]
        raise ValueError(f"npz:{path}: x has NaN or infinite values in {len(bad)} example(s) "
                         f"(first: index {bad[0]}); remove or repair them")
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if y is not None:
        if not np.issubdtype(y.dtype, np.integer) or y.shape != (len(x),):
            raise ValueError(f"npz:{path}: y must be integer labels of shape ({len(x)},); got "
                             f"{y.dtype} {y.shape}")
        y = y.astype(np.int64)
    if n is not None:
        x, y = x[:n], (None if y is None else y[:n])
    if size is not None and x.ndim >= 3 and x.shape[1:3] != (size, size):
        if x.dtype != np.uint8:
            raise ValueError(f"npz:{path}: resizing (size={size}) needs uint8 images; got {x.dtype}")
        x = np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BICUBIC)) for im in x])
    return Dataset(x if x.dtype == np.uint8 else x.astype(np.float32), y, f"npz:{path}", {})


def load_photos(spec: str, exclude: str = "", where: str = "--dataset"):
    """Photos of any sizes, as float32 (H, W, 3) in [0, 1] -> (images, names).

    folder:PATH (every image file in it, sorted by name, less the comma-separated file names
    ``exclude``), files:A.png,B.png,... or npz:PATH (array x, uint8 (N, H, W[, 3]) or float in
    [0, 1]). Grey images are read as RGB (R = G = B). ``where`` names the option in errors.
    """
    left_out = {e.strip() for e in exclude.split(",") if e.strip()}
    if spec.startswith("npz:"):
        x = load_npz(spec[len("npz:"):]).x
        if x.ndim == 2:
            raise ValueError(f"{where} {spec}: x holds points of shape {x.shape}, not images "
                             "(N, H, W[, C])")
        x = np.repeat(x[..., None], 3, -1) if x.ndim == 3 else x
        x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
        names = [str(i) for i in range(len(x))]
        keep = [i for i, name in enumerate(names) if name not in left_out]
        return [x[i] for i in keep], [names[i] for i in keep]
    if spec.startswith("folder:"):
        path = spec[len("folder:"):]
        if not os.path.isdir(path):
            raise FileNotFoundError(f"{where} {spec}: no such folder (give the folder that holds "
                                    "the photos)")
        files = [f for f in _images_in(path) if os.path.basename(f) not in left_out]
    elif spec.startswith("files:"):
        files = [f for f in spec[len("files:"):].split(",") if f]
        missing = [f for f in files if not os.path.isfile(f)]
        if missing:
            raise FileNotFoundError(f"{where} {spec}: no such file {missing[0]!r}")
    else:
        raise ValueError(f"{where} {spec!r}: give folder:PATH, files:A.png,B.png or npz:PATH")
    if not files:
        raise ValueError(f"{where} {spec}: no image files ({', '.join(IMAGE_EXTENSIONS)})"
                         + (f" besides the held-out {sorted(left_out)}" if left_out else ""))
    images = [read_image(f, mode="RGB").astype(np.float32) / 255.0 for f in files]
    return images, [os.path.basename(f) for f in files]
