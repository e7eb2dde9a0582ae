"""Motion blur made on the fly: linear kernels, the random-trajectory kernels of DeblurGAN, the blur.

Kupyn et al. 2018, "DeblurGAN: Blind Motion Deblurring Using Conditional Adversarial Networks",
arXiv:1711.07064, Sec. 3.1, after Boracchi & Foi 2012 ("Modeling the Performance of Image
Restoration from Motion Blur", IEEE TIP 21(8)): a camera-shake trajectory is the path x of a
particle in the plane with inertia, Gaussian jitter and rare impulsive jumps; the kernel is that
path rasterised with sub-pixel (bilinear) interpolation. Algorithm 1 of the paper:

    v_0 = cos(phi) + i sin(phi),   phi ~ U[0, 2 pi)          the initial direction
    v   = v_0 L_max / (M - 1),     x[0] = 0
    for t = 0 .. M - 2:
        nextDir = 2 v e^{i (pi + (u - 1/2))}   if u' < p_b p_s        (impulsive: turn back)
                = 0                             otherwise
        dv   = nextDir + p_s (p_g (n + i n') - I x[t]) L_max / (M - 1)  (jitter, pull to start)
        v    = (v + dv) / |v + dv| * L_max / (M - 1)          every step as long: length L_max
        x[t+1] = x[t] + v
    K = sub_pixel_interpolation(x),  blurred = K * sharp

    p_s ("expl" in the authors' code) drawn from {0.001, ..., 0.01} as their blur_image.py
    does; inertia I ~ U[0, 0.7]; big-shake p_b ~ U[0, 0.2]; Gaussian shake p_g ~ U[0, 10]
    (the code's range); u, u' ~ U[0, 1]; n, n' ~ N(0, 1).

Departures (flagged): L_max is 15 px here (the paper: 60 px on a 64-px canvas for 256-px
crops of GoPro frames), so the kernels fit the small patches this CPU miniature trains on;
the whole trajectory is one exposure (the code also cuts it at 1/100, 1/10 or 1/2 of its
length); no noise is added to the blurred image.

A linear kernel (uniform camera motion, Boracchi & Foi 2011) is a segment of length L at angle
theta (counter-clockwise from the x axis, y pointing up), rasterised the same way.

Shapes: kernels float64 (k, k), k odd, nonnegative, summing to 1; images float (H, W) or
(H, W, C). Coordinates: row r downwards, column c to the right; a point (px, py) of the plane
sits at column c0 + px, row r0 - py.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

__all__ = ["linear_kernel", "trajectory", "trajectory_kernel", "rasterise", "random_kernel",
           "blur", "blur_valid", "quantize", "BlurPairs", "EXPLOSIVENESS"]

# p_s of Algorithm 1: the values the authors' motion_blur/blur_image.py draws from
EXPLOSIVENESS = (0.01, 0.009, 0.008, 0.007, 0.005, 0.003, 0.002, 0.001)


def _odd_side(extent: float) -> int:
    """The smallest odd side that holds a path of this extent with a pixel to spare each side."""
    k = int(math.ceil(extent)) + 3
    return k if k % 2 else k + 1


def rasterise(points: np.ndarray, size: Optional[int] = None) -> np.ndarray:
    """Sub-pixel interpolation of a path: every point (complex px + i py) splats its unit mass
    on its four neighbouring pixels with bilinear weights; the path's bounding box is centred
    in a (size, size) kernel (default: the smallest odd side that holds it); normalised to 1.
    """
    points = np.asarray(points, np.complex128)
    c = points.real - (points.real.min() + points.real.max()) / 2       # centred on the box
    r = -(points.imag - (points.imag.min() + points.imag.max()) / 2)    # rows grow downwards
    extent = max(np.ptp(c), np.ptp(r))
    k = _odd_side(extent) if size is None else int(size)
    if k < _odd_side(extent) - 2:
        raise ValueError(f"rasterise: a path of extent {extent:.1f} px does not fit a {k}x{k} "
                         "kernel; give a larger size (or leave it out)")
    c, r = c + k // 2, r + k // 2                                       # pixel coordinates
    c0, r0 = np.floor(c).astype(int), np.floor(r).astype(int)
    fc, fr = c - c0, r - r0                                             # (n,) in [0, 1)
    kernel = np.zeros((k, k), np.float64)
    for dr, dc, w in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc),
                      (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
        rows, cols = np.clip(r0 + dr, 0, k - 1), np.clip(c0 + dc, 0, k - 1)
        np.add.at(kernel, (rows, cols), w)
    return kernel / kernel.sum()


def linear_kernel(length: float, angle: float, size: Optional[int] = None) -> np.ndarray:
    """A uniform motion of ``length`` pixels at ``angle`` degrees (counter-clockwise from the
    x axis): the segment sampled every 1/8 pixel and rasterised. length <= 1: the identity."""
    if not math.isfinite(length) or length < 0:
        raise ValueError(f"linear_kernel: length must be a finite number >= 0, got {length}")
    n = max(2, int(math.ceil(8 * length)) + 1)
    t = np.linspace(-length / 2, length / 2, n)                          # (n,) along the line
    theta = math.radians(angle)
    return rasterise(t * complex(math.cos(theta), math.sin(theta)), size)


def trajectory(rng: np.random.Generator, max_length: float = 15.0, iters: int = 2000,
               expl: Optional[float] = None) -> np.ndarray:
    """Algorithm 1 of DeblurGAN (module docstring): M = ``iters`` complex positions of a
    path of length ``max_length``. ``expl`` is p_s (default: drawn from EXPLOSIVENESS)."""
    p_s = float(rng.choice(EXPLOSIVENESS)) if expl is None else float(expl)
    inertia = 0.7 * rng.uniform()                     # I: pull back towards the start
    p_b = 0.2 * rng.uniform()                         # probability of a big shake
    p_g = 10.0 * rng.uniform()                        # strength of the Gaussian shake
    phi = 2 * math.pi * rng.uniform()
    step = max_length / (iters - 1)                   # every move has this length
    v = complex(math.cos(phi), math.sin(phi)) * step
    x = np.zeros(iters, np.complex128)
    u = rng.uniform(size=(iters, 2))                  # drawn at once: the same path per seed
    g = rng.standard_normal((iters, 2))
    for t in range(iters - 1):
        turn = 0j
        if u[t, 0] < p_b * p_s:                       # impulsive: reverse, give or take 1/2 rad
            turn = 2 * v * complex(math.cos(math.pi + u[t, 1] - 0.5),
                                   math.sin(math.pi + u[t, 1] - 0.5))
        dv = turn + p_s * (p_g * complex(g[t, 0], g[t, 1]) - inertia * x[t]) * step
        v = v + dv
        v = v / abs(v) * step
        x[t + 1] = x[t] + v
    return x


def trajectory_kernel(rng: np.random.Generator, max_length: float = 15.0, iters: int = 2000,
                      size: Optional[int] = None) -> np.ndarray:
    """A random camera-shake kernel: :func:`trajectory` rasterised (sub-pixel interpolation)."""
    return rasterise(trajectory(rng, max_length, iters), size)


def random_kernel(rng: np.random.Generator, kind: str = "mixed", max_length: float = 15.0,
                  min_length: float = 3.0, iters: int = 2000) -> np.ndarray:
    """One training kernel: 'trajectory' (Algorithm 1, length ``max_length``), 'linear'
    (length ~ U[min_length, max_length], angle ~ U[0, 180)) or 'mixed' (either, 1/2 each)."""
    if kind not in ("mixed", "trajectory", "linear"):
        raise ValueError(f"kernel kind must be mixed, trajectory or linear, got {kind!r}")
    if kind == "mixed":
        kind = "trajectory" if rng.uniform() < 0.5 else "linear"
    if kind == "trajectory":
        return trajectory_kernel(rng, max_length, iters)
    return linear_kernel(rng.uniform(min_length, max_length), rng.uniform(0.0, 180.0))


def _channels_last(image: np.ndarray) -> Tuple[np.ndarray, bool]:
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"blur: expected an image (H, W) or (H, W, C), got shape {image.shape}")
    return (image[..., None], True) if image.ndim == 2 else (image, False)


def blur_valid(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The convolution K * image where the kernel lies wholly inside: (H - k + 1, W - k + 1[, C]),
    by FFT (scipy.signal.fftconvolve), float32. A training patch of side p is the valid blur of
    a (p + k - 1)-sided crop, so no made-up border enters it."""
    from scipy.signal import fftconvolve
    x, grey = _channels_last(image)
    kernel = np.asarray(kernel, np.float64)
    out = fftconvolve(x.astype(np.float64), kernel[:, :, None], mode="valid", axes=(0, 1))
    out = out.astype(np.float32)
    return out[..., 0] if grey else out


def blur(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """K * image at the image's size, the border extended by mirroring (scipy.ndimage's
    'reflect': d c b a | a b c d | d c b a), float32; what scipy.ndimage.convolve computes."""
    x, grey = _channels_last(image)
    k = np.asarray(kernel).shape[0]
    h = k // 2
    padded = np.pad(x, ((h, h), (h, h), (0, 0)), mode="symmetric")
    out = blur_valid(padded, kernel)
    return out[..., 0] if grey else out


def quantize(image: np.ndarray) -> np.ndarray:
    """Clip to [0, 1] and round to 8 bits, as a blurred photo saved to a file would be."""
    return (np.round(np.clip(image, 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)


class BlurPairs:
    """Sharp photos, for drawing (blurred, sharp) training patches with fresh kernels.

    Each patch: a photo drawn in proportion to its area, a kernel K from
    :func:`random_kernel`, a sharp crop of side p + k - 1 at a random place (under one of the
    8 flips / quarter turns when ``augment``), blurred = quantize(K * crop) over the valid
    p x p part, and the sharp p x p centre it is aligned with.

    Args:
        images: float photos (H, W, 3) in [0, 1], any sizes (each at least p + k - 1).
        kind, max_length, iters: passed to :func:`random_kernel`.
    """

    def __init__(self, images, kind: str = "mixed", max_length: float = 15.0, iters: int = 2000):
        if not len(images):
            raise ValueError("BlurPairs: no images")
        random_kernel(np.random.default_rng(0), kind, max_length, iters=10)   # checks kind
        self.images = [np.asarray(im, np.float32) for im in images]
        self.kind, self.max_length, self.iters = kind, float(max_length), int(iters)
        area = np.array([im.shape[0] * im.shape[1] for im in self.images], np.float64)
        self.weights = area / area.sum()

    def patches(self, n: int, patch: int, rng: np.random.Generator, augment: bool = True):
        """n aligned pairs (blurred, sharp), each float32 (n, 3, p, p) in [0, 1]."""
        from tinygen.data.superres import dihedral
        blurred = np.empty((n, 3, patch, patch), np.float32)
        sharp = np.empty((n, 3, patch, patch), np.float32)
        for i in range(n):
            kernel = random_kernel(rng, self.kind, self.max_length, iters=self.iters)
            k = kernel.shape[0]
            j = int(rng.choice(len(self.images), p=self.weights))
            im = self.images[j]
            side = patch + k - 1
            h, w = im.shape[:2]
            if h < side or w < side:
                raise ValueError(f"BlurPairs: photo {j} is {h}x{w}, smaller than a patch with "
                                 f"its blur margin ({side}x{side}); lower --patch-size")
            y, x = int(rng.integers(h - side + 1)), int(rng.integers(w - side + 1))
            crop = im[y:y + side, x:x + side].transpose(2, 0, 1)        # (3, side, side)
            crop = dihedral(crop, int(rng.integers(8)) if augment else 0).transpose(1, 2, 0)
            blurred[i] = quantize(blur_valid(crop, kernel)).transpose(2, 0, 1)
            sharp[i] = crop[k // 2:k // 2 + patch, k // 2:k // 2 + patch].transpose(2, 0, 1)
        return blurred, sharp
