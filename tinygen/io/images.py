"""Image grids, image files and image loading on host NumPy arrays (Pillow for the formats).

GIFs and every drawn picture (2-D plots, curves) are :mod:`tinygen.io.plot`, which also
re-exports the grids, so that one module serves every picture.

``make_grid`` / ``save_image_grid`` follow torchvision's ``make_grid`` / ``save_image``:
images are tiled ``nrow`` per row with ``padding`` pixels of ``pad_value`` around each,
floats are taken to be in [0, 1] unless ``normalize=True`` (then ``value_range`` or the
batch's min/max is mapped to [0, 1]), and the result is rounded ``x * 255 + 0.5``.

Shapes:
    x: (N, C, H, W) with C in {1, 3}, or (N, H, W) (grayscale), or channels-last
       (N, H, W, C) when ``x.shape[1]`` is not 1 or 3 but ``x.shape[-1]`` is.
       float (any dtype) or uint8; uint8 images are read as ``x / 255`` and
       ``normalize``/``value_range`` do not apply to them.
       Objects with a ``.numpy()`` method (tinygen/torch tensors) are accepted.
    grid: (H', W', 3) uint8 with H' = rows * (H + padding) + padding.
"""
from __future__ import annotations

import io as _io
import math
import os
from typing import Optional, Tuple, Union

import numpy as np
from PIL import Image, UnidentifiedImageError

from tinygen import backend
from tinygen.io.files import atomic_write_bytes


def to_numpy(x) -> np.ndarray:
    """A host NumPy array from an array, a tensor (tinygen's or torch's, on any device) or a
    CuPy array: the explicit copy to the host (``x.cpu().numpy()``, ``cupy.asnumpy``)."""
    if hasattr(x, "numpy") and hasattr(x, "cpu") and not isinstance(x, np.ndarray):
        x = x.cpu().numpy()                 # a GPU tensor refuses .numpy() alone (PyTorch's rule)
    elif hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        x = x.numpy()                       # anything else with an explicit host copy
    return backend.to_host(x)               # a GPU array: cupy.asnumpy, the explicit copy


def _as_nchw(x: np.ndarray) -> np.ndarray:
    if x.ndim == 2:                     # a single (H, W) image
        x = x[None, None]
    elif x.ndim == 3:                   # (N, H, W) grayscale batch
        x = x[:, None]
    elif x.ndim == 4:
        if x.shape[1] not in (1, 3) and x.shape[-1] in (1, 3):
            x = x.transpose(0, 3, 1, 2)  # channels-last (N, H, W, C)
    else:
        raise ValueError(f"images must be (N, C, H, W), (N, H, W) or (N, H, W, C); got shape {x.shape}")
    if x.shape[1] not in (1, 3):
        raise ValueError(f"images need 1 or 3 channels; got shape {x.shape} (N, C, H, W)")
    return x


def make_grid(x, nrow: int = 8, normalize: bool = False,
              value_range: Optional[Tuple[float, float]] = None,
              padding: int = 2, pad_value: float = 0.0) -> np.ndarray:
    """Tile a batch of images into one (H', W', 3) uint8 picture (torchvision semantics).

    Args:
        x: images, see the module docstring for accepted shapes and dtypes.
        nrow: images per row (the last row may be shorter).
        normalize: map ``value_range`` (default: the batch's min and max) to [0, 1],
            clipping values outside it.
        padding: pixels between and around the images.
        pad_value: colour of the padding in [0, 1] units (0 black, 1 white).
    """
    x = to_numpy(x)
    if x.size == 0:
        raise ValueError(f"make_grid needs at least one image; got shape {x.shape}")
    x = _as_nchw(x)
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    else:
        x = x.astype(np.float32)
        if normalize:
            lo, hi = value_range if value_range is not None else (float(x.min()), float(x.max()))
            x = np.clip(x, lo, hi)
            x = (x - lo) / max(hi - lo, 1e-5)
    if x.shape[1] == 1:
        x = np.repeat(x, 3, axis=1)
    n, c, h, w = x.shape
    cols = min(nrow, n)
    rows = int(math.ceil(n / cols))
    cell_h, cell_w = h + padding, w + padding
    grid = np.full((c, rows * cell_h + padding, cols * cell_w + padding), pad_value, np.float32)
    for k in range(n):
        r, q = divmod(k, cols)
        top, left = r * cell_h + padding, q * cell_w + padding
        grid[:, top:top + h, left:left + w] = x[k]
    grid = np.clip(grid * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return grid.transpose(1, 2, 0)       # (H', W', 3)


def _encode(image: Image.Image, path: str, **params) -> bytes:
    fmt = Image.registered_extensions().get(os.path.splitext(path)[1].lower())
    if fmt is None:
        raise ValueError(f"cannot tell the image format from the file name {path!r}: "
                         "use an extension such as .png, .jpg or .gif")
    buffer = _io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def save_image(image, path: str) -> None:
    """Save one (H, W, 3) / (H, W) uint8 array or PIL image to ``path`` atomically."""
    if not isinstance(image, Image.Image):
        image = Image.fromarray(np.asarray(image))
    atomic_write_bytes(path, _encode(image, path))


def save_image_grid(x, path: str, nrow: int = 8, normalize: bool = False,
                    value_range: Optional[Tuple[float, float]] = None,
                    padding: int = 2, pad_value: float = 0.0) -> np.ndarray:
    """``make_grid`` and write it to ``path`` (format from the extension, atomic, folders created).

    Returns the (H', W', 3) uint8 grid, handy as a GIF frame.
    """
    grid = make_grid(x, nrow=nrow, normalize=normalize, value_range=value_range,
                     padding=padding, pad_value=pad_value)
    save_image(grid, path)
    return grid


def load_image(path: str, size: Optional[Union[int, Tuple[int, int]]] = None,
               mode: str = "RGB") -> np.ndarray:
    """Read an image file as float32 (H, W, C) in [0, 1].

    Args:
        size: None keeps the file's size; an int gives (size, size); a tuple is (H, W).
            Resizing uses bicubic filtering (with antialiasing when shrinking).
        mode: Pillow mode, "RGB" (C=3), "L" (C=1) or "RGBA" (C=4).
    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not an image Pillow can decode (corrupt or truncated).
    """
    return read_image(path, size=size, mode=mode).astype(np.float32) / 255.0


def _to_8_bit(im: Image.Image) -> Image.Image:
    """16-bit grey images (Pillow modes I;16*, or I holding 0..65535) -> 8-bit "L", scaled by
    255 / 65535. (Pillow's own ``convert`` clips them at 255: almost every pixel turns white.)
    Palette and 8-bit images are returned as they are; ``convert`` maps those correctly."""
    if not (im.mode.startswith("I;16") or im.mode == "I"):
        return im
    a = np.asarray(im).astype(np.float64)
    if im.mode == "I" and a.size and (a.min() < 0 or a.max() > 65535):
        raise ValueError(f"32-bit integer image with values {a.min():.0f}..{a.max():.0f}: "
                         "save it as 8- or 16-bit")
    return Image.fromarray(np.round(a * (255.0 / 65535.0)).astype(np.uint8), "L")


def read_image(path: str, size: Optional[Union[int, Tuple[int, int]]] = None,
               mode: str = "RGB") -> np.ndarray:
    """Like :func:`load_image` but returns the uint8 (H, W, C) pixels."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no image file at {path!r}")
    try:
        with Image.open(path) as im:
            im.load()
            im = _to_8_bit(im).convert(mode)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"cannot decode image {path!r} ({e}); the file is corrupt, truncated or "
                         "not an image format Pillow reads") from e
    if size is not None:
        h, w = (size, size) if isinstance(size, int) else size
        im = im.resize((w, h), Image.BICUBIC)
    a = np.asarray(im, dtype=np.uint8)
    return a[:, :, None] if a.ndim == 2 else a
