"""Paired image-to-image tasks made from any image set: (input, target) arrays.

Input images: uint8 (N, H, W) or (N, H, W, 3) (values 0..255), as every image Dataset
returns. Each function documents its outputs' dtype and range; all randomness comes from
a seeded ``numpy.random.Generator``.

* :func:`super_resolution_pairs`  (low-res bicubic x1/scale, high-res)       pix2pix/SRGAN
* :func:`colorization_pairs`      (gray, colour)
* :func:`edges_pairs`             (edge map, image)                         pix2pix edges2x
* :func:`inpainting_pairs`        (masked, image, mask)                     context encoders
* :func:`denoising_pairs`         (noisy, clean)                            denoising AE
* :func:`rotation_pairs`          (rotated digit, upright digit)            TP-GAN miniature
* :func:`clutter_pairs`           (small off-centre digit on clutter, clean) PixelDTGAN miniature

Aligned pairs for the translation methods (pix2pix), as uint8 host arrays:

* :func:`load_paired`   ``edges2digits`` (offline: edge map -> digit, 32 x 32), ``rotdigits``
  (rotation_pairs of synthetic digits), ``clutterdigits`` (clutter_pairs of them), ``npz:PATH``
  (arrays ``a`` and ``b``, aligned), ``folder:PATH`` (pix2pix's side-by-side A|B image files);
  ``direction="BtoA"`` swaps the two
* :func:`pad_images`    centre zero-padding (MNIST's 28 x 28 -> 32 x 32)
"""
from __future__ import annotations

import dataclasses
import os
from typing import Optional, Tuple

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


def rotation_pairs(images, seed: int = 0, min_deg: float = 30.0, max_deg: float = 75.0
                   ) -> Tuple[np.ndarray, np.ndarray]:
    """(rotated, upright): each grey image turned about its centre by +-U(min_deg, max_deg)
    degrees (the sign at random; bilinear, zeros outside), beside the image itself. The
    TP-GAN miniature's "profile -> frontal view": a digit seen at an angle -> the upright one.
    uint8 (N, H, W) both; pad digits first (pad_images) so the corners stay in the frame."""
    x = _uint8_images(images, "rotation_pairs")
    if x.ndim != 3:
        raise ValueError(f"rotation_pairs needs grey images (N, H, W); got shape {x.shape}")
    if not 0 <= min_deg <= max_deg:
        raise ValueError(f"need 0 <= min_deg <= max_deg; got {min_deg}, {max_deg}")
    rng = np.random.default_rng(seed)
    angles = rng.uniform(min_deg, max_deg, len(x)) * rng.choice([-1.0, 1.0], len(x))
    turned = [ndimage.rotate(im.astype(np.float32), ang, reshape=False, order=1, mode="constant")
              for im, ang in zip(x, angles)]
    return np.clip(np.round(turned), 0, 255).astype(np.uint8).reshape(x.shape), x


def _clutter(shape, rng: np.random.Generator, sources: np.ndarray, n_items: int,
             max_level: float) -> np.ndarray:
    """A float (H, W) background of ``n_items`` random strokes, blobs and digit fragments
    (a random quarter of one of ``sources`` at half size), each at most ``max_level`` bright."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.zeros(shape, np.float32)
    for _ in range(n_items):
        level = rng.uniform(0.4, 1.0) * max_level
        kind = rng.integers(3)
        if kind == 0:                                   # a straight stroke, 1-2 px wide
            (y0, x0), (y1, x1) = rng.uniform(0, [h, w], (2, 2))
            t = np.clip(((yy - y0) * (y1 - y0) + (xx - x0) * (x1 - x0))
                        / max((y1 - y0) ** 2 + (x1 - x0) ** 2, 1e-6), 0, 1)
            dist = np.hypot(yy - y0 - t * (y1 - y0), xx - x0 - t * (x1 - x0))
            item = (dist < rng.uniform(0.6, 1.2)).astype(np.float32)
        elif kind == 1:                                 # a Gaussian blob
            cy, cx = rng.uniform(0, [h, w])
            r = rng.uniform(1.0, 3.0)
            item = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        else:                                 # a fragment of another digit, at half size
            src = sources[rng.integers(len(sources))][::2, ::2].astype(np.float32) / 255.0
            sh, sw = src.shape
            top, left = rng.integers(0, sh // 2 + 1), rng.integers(0, sw // 2 + 1)
            frag = src[top:top + sh // 2, left:left + sw // 2]
            item = np.zeros(shape, np.float32)
            ty, tx = rng.integers(0, h - frag.shape[0] + 1), rng.integers(0, w - frag.shape[1] + 1)
            item[ty:ty + frag.shape[0], tx:tx + frag.shape[1]] = frag
        out = np.maximum(out, level * item)
    return out


def clutter_pairs(images, seed: int = 0, min_scale: float = 0.6, max_scale: float = 0.8,
                  n_items: int = 4, clutter_level: float = 0.4) -> Tuple[np.ndarray, np.ndarray]:
    """(cluttered, clean): each grey image shrunk by U(min_scale, max_scale), put at a random
    place of an (H, W) canvas of random clutter (``n_items`` strokes, blobs and fragments of
    other images of the set, at most ``clutter_level`` x 255 bright, under the digit: the
    maximum of the two), beside the image itself. The PixelDTGAN miniature's "dressed person
    -> the garment alone": a small digit somewhere in a scene -> the clean centred digit.
    The defaults keep the digit the largest and brightest thing in the scene, as the garment
    is in the paper's photos (with 0.4-0.6 x, 6 items up to 0.6 bright, the first version,
    a converter's encoder read the digit at 52 % after 3,000 supervised steps:
    docs/pixeldtgan.md). uint8 (N, H, W) both."""
    x = _uint8_images(images, "clutter_pairs")
    if x.ndim != 3:
        raise ValueError(f"clutter_pairs needs grey images (N, H, W); got shape {x.shape}")
    if not 0 < min_scale <= max_scale <= 1:
        raise ValueError(f"need 0 < min_scale <= max_scale <= 1; got {min_scale}, {max_scale}")
    rng = np.random.default_rng(seed)
    n, h, w = x.shape
    out = np.zeros(x.shape, np.uint8)
    for i in range(n):
        s = rng.uniform(min_scale, max_scale)
        sh, sw = max(1, round(h * s)), max(1, round(w * s))
        small = np.asarray(Image.fromarray(x[i]).resize((sw, sh), Image.BILINEAR), np.float32)
        canvas = _clutter((h, w), rng, x, n_items, clutter_level)
        top, left = rng.integers(0, h - sh + 1), rng.integers(0, w - sw + 1)
        region = canvas[top:top + sh, left:left + sw]
        canvas[top:top + sh, left:left + sw] = np.maximum(region, small / 255.0)
        out[i] = np.clip(np.round(canvas * 255), 0, 255).astype(np.uint8)
    return out, x


PAIRED_TASKS = {
    "sr": super_resolution_pairs, "colorize": colorization_pairs, "edges": edges_pairs,
    "inpaint": inpainting_pairs, "denoise": denoising_pairs, "rotate": rotation_pairs,
    "clutter": clutter_pairs,
}


def make_pairs(task: str, images, **kwargs):
    """Dispatch by name: ``sr``, ``colorize``, ``edges``, ``inpaint``, ``denoise``,
    ``rotate``, ``clutter``."""
    if task not in PAIRED_TASKS:
        raise ValueError(f"unknown paired task {task!r}; valid: {sorted(PAIRED_TASKS)}")
    return PAIRED_TASKS[task](images, **kwargs)


# ---------------------------------------------------------------------------------------
# aligned pairs (a, b) for image-to-image translation
# ---------------------------------------------------------------------------------------

PAIRED_NAMES = ("edges2digits", "rotdigits", "clutterdigits", "npz:PATH", "folder:PATH")
EDGES2DIGITS_N = (3000, 500)       # default (train, test) sizes of the offline tasks
EDGES2DIGITS_TEST_SEED = 1_000_003  # the test digits come from another seed (another "hand")


@dataclasses.dataclass
class PairedImages:
    """Aligned image pairs: a[i] (the input) goes with b[i] (its target).

    a: uint8 (N, H, W) or (N, H, W, C), C 1 or 3; b: the same N, H and W, its own C, or None
    (a test set may come without targets). ``name`` is the spec it was loaded from; ``y``
    int64 (N,) class labels when the data has them (the digit tasks; an npz's array ``y``).
    """
    a: np.ndarray
    b: Optional[np.ndarray]
    name: str = ""
    y: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.a)


def pad_images(x, size: int) -> np.ndarray:
    """uint8 (N, H, W[, C]) zero-padded around the centre to (N, size, size[, C])."""
    x = np.asarray(x)
    h, w = x.shape[1:3]
    if h > size or w > size:
        raise ValueError(f"pad_images: images of {h}x{w} do not fit in {size}x{size}")
    top, left = (size - h) // 2, (size - w) // 2
    pad = [(0, 0), (top, size - h - top), (left, size - w - left)] + [(0, 0)] * (x.ndim - 3)
    return np.pad(x, pad)


def pad_to_multiple(x, step: int) -> np.ndarray:
    """(N, C, H, W) padded at the bottom and right to multiples of ``step`` (a fully
    convolutional generator's downsampling factor): mirrored, or edge pixels repeated when the
    image is too small to mirror; crop the output back with ``[..., :H, :W]``."""
    x = np.asarray(x)
    h, w = x.shape[2:]
    ph, pw = -h % step, -w % step
    mode = "reflect" if ph < h and pw < w else "edge"
    return np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode=mode)


def edges2digits(n: int, seed: int = 0, size: int = 32) -> PairedImages:
    """The offline default task: a = edges_pairs' edge map of a synthetic digit, b = the digit
    (tinygen.data.digits, 28 x 28 zero-padded to ``size``), both uint8 (n, size, size)."""
    from tinygen.data.digits import synthetic_digits
    b = pad_images(synthetic_digits(n, seed=seed).x, size)
    a, _ = edges_pairs(b)
    return PairedImages(a, b, "edges2digits")


def _digit_pairs(make, name: str, n: int, seed: int, size: int) -> PairedImages:
    from tinygen.data.digits import synthetic_digits
    digits = synthetic_digits(n, seed=seed)
    a, b = make(pad_images(digits.x, size), seed=seed)
    return PairedImages(a, b, name, digits.y)


def rotdigits(n: int, seed: int = 0, size: int = 32) -> PairedImages:
    """Offline TP-GAN miniature: a = rotation_pairs' turned synthetic digit, b = the upright
    digit (28 x 28 zero-padded to ``size``), uint8 (n, size, size), y its class."""
    return _digit_pairs(rotation_pairs, "rotdigits", n, seed, size)


def clutterdigits(n: int, seed: int = 0, size: int = 32) -> PairedImages:
    """Offline PixelDTGAN miniature: a = clutter_pairs' small digit on clutter, b = the clean
    centred digit (28 x 28 zero-padded to ``size``), uint8 (n, size, size), y its class."""
    return _digit_pairs(clutter_pairs, "clutterdigits", n, seed, size)


EMBEDDED_PAIRS = {"edges2digits": edges2digits, "rotdigits": rotdigits,
                  "clutterdigits": clutterdigits}


def _check_pair_arrays(a, b, where: str) -> None:
    for key, x in (("a", a), ("b", b)):
        if x is None:
            continue
        if x.dtype != np.uint8:
            raise ValueError(f"{where}: {key} must be uint8 images (0..255), got {x.dtype}; "
                             "convert with np.clip(x * 255, 0, 255).astype(np.uint8)")
        if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 3)):
            raise ValueError(f"{where}: {key} must be (N, H, W) or (N, H, W, C) with C 1 or 3, "
                             f"got shape {x.shape}")
        if len(x) == 0:
            raise ValueError(f"{where}: {key} holds no images (shape {x.shape})")
    if b is not None:
        if len(a) != len(b):
            raise ValueError(f"{where}: a has {len(a)} images but b has {len(b)}; paired data "
                             "must be aligned one to one (a[i] with b[i]; unpaired data is "
                             "for cyclegan)")
        if a.shape[1:3] != b.shape[1:3]:
            raise ValueError(f"{where}: a is {a.shape[1]}x{a.shape[2]} but b is "
                             f"{b.shape[1]}x{b.shape[2]}; pairs must have one height and "
                             "width (resize them, or pass --size S)")


def _resize(x, size: int) -> np.ndarray:
    if x is None or x.shape[1:3] == (size, size):
        return x
    out = [np.asarray(Image.fromarray(im[..., 0] if im.ndim == 3 and im.shape[-1] == 1 else im)
                      .resize((size, size), Image.BICUBIC)) for im in x]
    return np.stack(out).reshape((len(x), size, size) + x.shape[3:])


def _npz_pairs(path: str, require_b: bool) -> PairedImages:
    where = f"npz:{path}"
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{where}: no such file (write one with numpy.savez(path, "
                                "a=inputs, b=targets))")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as e:
        raise ValueError(f"{where}: cannot read it as an .npz file ({type(e).__name__}: {e})") \
            from None
    if "a" not in arrays or (require_b and "b" not in arrays):
        need = "'a' (inputs) and 'b' (targets)" if require_b else "'a' (inputs)"
        raise ValueError(f"{where}: paired data needs arrays {need}; it has {sorted(arrays)}. "
                         "Save it as numpy.savez(path, a=inputs, b=targets)")
    y = arrays.get("y")
    if y is not None and (y.ndim != 1 or len(y) != len(arrays["a"])):
        raise ValueError(f"{where}: y must hold one class label per image of a ({len(arrays['a'])}),"
                         f" got shape {y.shape}")
    return PairedImages(arrays["a"], arrays.get("b"), where,
                        None if y is None else y.astype(np.int64))


def split_side_by_side(image: np.ndarray, where: str = "image"):
    """pix2pix's dataset files: (H, 2W, C) -> (A, B), A the left half and B the right one."""
    w = image.shape[1]
    if w % 2:
        raise ValueError(f"{where}: a side-by-side A|B image needs an even width, got "
                         f"{image.shape[1]}x{image.shape[0]}")
    return image[:, :w // 2], image[:, w // 2:]


def _folder_pairs(path: str, size: Optional[int] = None) -> PairedImages:
    """Every image file of the folder split into its A and B halves (each resized to S x S
    when ``size`` is given, so files of different sizes are fine then)."""
    from tinygen.data.byo import _images_in
    from tinygen.io.images import read_image
    where = f"folder:{path}"
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{where}: no such folder (give the folder of A|B side-by-side "
                                "images, e.g. facades/train)")
    files = _images_in(path)
    if not files:
        raise ValueError(f"{where}: no image files in it (pix2pix's layout: one A|B "
                         "side-by-side image per pair)")
    halves = [split_side_by_side(read_image(f, mode="RGB"), f) for f in files]
    if size is not None:
        halves = [[_resize(h[None], size)[0] for h in pair] for pair in halves]
    shapes = sorted({h[0].shape for h in halves})
    if len(shapes) > 1:
        raise ValueError(f"{where}: the pairs have different sizes {shapes[:3]}; pass "
                         "--size S to resize every half to S x S")
    return PairedImages(np.stack([h[0] for h in halves]), np.stack([h[1] for h in halves]),
                        where)


def load_paired(spec: str, split: str = "train", direction: str = "AtoB",
                n: Optional[int] = None, size: Optional[int] = None, seed: int = 0,
                require_b: bool = True) -> PairedImages:
    """Aligned pairs by name: ``edges2digits``, ``rotdigits``, ``clutterdigits``, ``npz:PATH``
    (arrays ``a`` and ``b``, optional labels ``y``) or
    ``folder:PATH`` (side-by-side A|B images). ``direction`` 'BtoA' swaps a and b; ``n`` keeps
    the first n pairs; ``size`` resizes both to S x S (bicubic); ``require_b=False`` lets a test
    set come without targets. ``split`` picks the offline tasks' seed (npz / folder: one split)."""
    if direction not in ("AtoB", "BtoA"):
        raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
    if spec in EMBEDDED_PAIRS:
        count = n if n is not None else EDGES2DIGITS_N[split == "test"]
        pairs = EMBEDDED_PAIRS[spec](count, seed + (EDGES2DIGITS_TEST_SEED if split == "test"
                                                    else 0), size or 32)
    elif spec.startswith("npz:"):
        pairs = _npz_pairs(spec[4:], require_b and direction == "AtoB")
    elif spec.startswith("folder:"):
        pairs = _folder_pairs(spec[7:], size)
    else:
        raise ValueError(f"unknown paired dataset {spec!r}; use one of {', '.join(PAIRED_NAMES)}")
    a, b = pairs.a, pairs.b
    if direction == "BtoA":
        if b is None:
            raise ValueError(f"{spec}: --direction BtoA translates b into a, but there is no "
                             "array 'b'")
        a, b = b, a
    if require_b and b is None:
        raise ValueError(f"{spec}: no targets; paired training data needs arrays 'a' and 'b'")
    _check_pair_arrays(a, b, spec)
    y = pairs.y
    if n is not None:
        a, b, y = a[:n], (None if b is None else b[:n]), (None if y is None else y[:n])
    if size is not None:
        a, b = _resize(a, size), _resize(b, size)
    return PairedImages(np.ascontiguousarray(a), None if b is None else np.ascontiguousarray(b),
                        spec, y)


def jitter_size(side: int) -> int:
    """pix2pix's random jitter enlarges 256 to 286 before cropping back: side * 286 / 256."""
    return int(round(side * 286 / 256))


def random_crop_flip(arrays, size, rng: np.random.Generator, flip: bool = True):
    """The same random (h, w) crop and horizontal flip (p = 1/2) of every image i in each of
    ``arrays`` (float (B, C, H, W) host arrays of one B, H, W): pix2pix's jitter and mirroring
    (Isola et al. 2017, App. 6.2), applied alike to an input and its target so they stay
    aligned. Returns new contiguous arrays (B, C, h, w)."""
    h, w = size
    n, _, H, W = arrays[0].shape
    tops, lefts = rng.integers(0, H - h + 1, n), rng.integers(0, W - w + 1, n)
    flips = rng.random(n) < 0.5 if flip else np.zeros(n, bool)
    out = []
    for x in arrays:
        crops = np.stack([x[i, :, t:t + h, l:l + w] for i, (t, l) in enumerate(zip(tops, lefts))])
        crops[flips] = crops[flips][..., ::-1]
        out.append(np.ascontiguousarray(crops))
    return out
