"""Bicubic (and Lanczos) resampling written by hand: the kernels, the weight matrices, the resize.

One separable rule covers MATLAB's ``imresize``, PyTorch's ``F.interpolate(mode='bicubic')``
and Pillow's ``Image.resize(BICUBIC / LANCZOS)``; they differ only in the kernel's ``a``, in
whether the kernel is stretched when shrinking (antialiasing) and in how the border is handled.

Keys' cubic convolution kernel (R. Keys, "Cubic Convolution Interpolation for Digital Image
Processing", IEEE TASSP 29(6), 1981, eq. 15), for a in {-0.5, -0.75}:

    W(x) = (a + 2)|x|^3 - (a + 3)|x|^2 + 1           for |x| <= 1
           a|x|^3 - 5a|x|^2 + 8a|x| - 4a              for 1 < |x| < 2
           0                                          otherwise

a = -0.5 is the choice that makes the interpolant third-order accurate (Keys' result; MATLAB
imresize, Pillow); a = -0.75 is PyTorch's and OpenCV's (sharper, overshoots more).
Lanczos-3 (Pillow's LANCZOS): L(x) = sinc(x) sinc(x / 3) for |x| < 3.

The resampling rule (half-pixel centres, as all three libraries), for output index i (0-based)
and scale s = out / in (or the given scale factor):

    u_i = (i + 0.5) / s - 0.5                        the source coordinate of output pixel i
    k   = s if antialias and s < 1 else 1            the kernel is stretched by 1/k when shrinking
    w_ij = k W(k (u_i - j))  for the taps j with |u_i - j| < support / k,  then normalised:
    y_i  = sum_j w_ij x_j / sum_j w_ij               (W sums to 1 on a unit grid; the stretched
                                                      one only approximately, hence normalising)

Out-of-range taps j < 0 or j >= in are handled by ``border``:

    'symmetric'    mirror with the edge repeated (x_-1 = x_0, x_-2 = x_1): MATLAB imresize
    'replicate'    clamp to the edge (x_-1 = x_0, x_-2 = x_0): PyTorch and OpenCV
    'renormalize'  drop them and renormalise the remaining weights: Pillow

Applied to an image it is two matrix products: y = M_H x M_W^T with M (out, in) holding w_ij.
As a Tensor op (:func:`resize`) the gradient is then the product by the transposed matrices,
and every higher derivative follows from matmul's, with no hand-written backward.

Where the libraries differ from this rule (tested in tinygen_tests/test_53_resample.py):
    Pillow   matches 'renormalize' with a = -0.5 (float 'F' images to float32 rounding); on
             8-bit images it rounds the weights to 22-bit fixed point and the horizontal pass
             to uint8 before the vertical one, so it differs by up to ~1 grey level.
    PyTorch  bicubic without antialias = a = -0.75, 'replicate', no stretching; its
             ``antialias=True`` path uses a = -0.5 and 'renormalize', i.e. Pillow's rule.
    MATLAB   imresize = a = -0.5, 'symmetric', antialias on; output size ceil(in * s).
             It works in double and rounds uint8 output; this module returns floats.

Notation / Shapes:
    x (..., H, W) for the matrices;  host images (H, W), (H, W, C) or (N, H, W, C) for
    :func:`imresize`;  Tensors (N, C, H, W) for :func:`resize`.
"""
from __future__ import annotations

import math

from tinygen import backend
from tinygen.autograd import Tensor
from tinygen.ops.linalg import matmul

np = backend.numpy     # host-side weight tables (small), moved to x's device

__all__ = ["cubic", "lanczos", "resize_matrix", "imresize", "resize", "output_size",
           "KERNELS", "BORDERS"]

BORDERS = ("symmetric", "replicate", "renormalize")


# ============================================================================
# kernels
# ============================================================================

def cubic(x, a: float = -0.5):
    """Keys' cubic convolution kernel W(x) (header), support 2, elementwise on a host array."""
    x = np.abs(np.asarray(x, dtype=np.float64))
    x2, x3 = x * x, x * x * x
    near = (a + 2.0) * x3 - (a + 3.0) * x2 + 1.0                    # |x| <= 1
    far = a * x3 - 5.0 * a * x2 + 8.0 * a * x - 4.0 * a              # 1 < |x| < 2
    return np.where(x <= 1.0, near, np.where(x < 2.0, far, 0.0))


def lanczos(x, lobes: int = 3):
    """The Lanczos window sinc(x) sinc(x / lobes) for |x| < lobes (np.sinc is sin(pi x)/(pi x))."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(np.abs(x) < lobes, np.sinc(x) * np.sinc(x / lobes), 0.0)


# name -> (kernel(x), support): the support is where the kernel is non-zero at scale 1
KERNELS = {
    "cubic": (cubic, 2.0),
    "lanczos3": (lanczos, 3.0),
}


# ============================================================================
# the weight matrix
# ============================================================================

def output_size(in_size: int, scale: float) -> int:
    """MATLAB's rule: ceil(in * scale), computed so that 4 * (1/4) is exactly 1."""
    return max(1, int(math.ceil(round(in_size * scale, 9))))


def resize_matrix(in_size: int, out_size: int, a: float = -0.5, antialias: bool = True,
                  border: str = "symmetric", scale: float = None, kernel: str = "cubic",
                  align_corners: bool = False):
    """The (out_size, in_size) float64 matrix M with y = M x along one axis (rule in the header).

    ``scale`` (out / in) defaults to out_size / in_size; give it when the size was rounded
    (imresize keeps the requested scale for the coordinates). ``align_corners=True`` maps the
    corner pixel centres onto each other, u_i = i (in - 1) / (out - 1) (PyTorch's option).
    """
    if border not in BORDERS:
        raise ValueError(f"border must be one of {BORDERS}, got {border!r}")
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {tuple(KERNELS)}, got {kernel!r}")
    if in_size < 1 or out_size < 1:
        raise ValueError(f"resize_matrix: sizes must be >= 1, got in={in_size}, out={out_size}")
    fn, support = KERNELS[kernel]
    s = float(scale) if scale else out_size / in_size
    i = np.arange(out_size, dtype=np.float64)
    if align_corners:
        u = i * ((in_size - 1) / (out_size - 1)) if out_size > 1 else np.zeros(1)
    else:
        u = (i + 0.5) / s - 0.5                                     # (out,) source coordinates
    k = s if (antialias and s < 1.0) else 1.0                       # stretch the kernel by 1/k
    reach = support / k
    left = np.floor(u - reach).astype(np.int64) + 1                 # first tap with |u - j| < reach
    taps = int(math.ceil(2 * reach)) + 1
    j = left[:, None] + np.arange(taps)[None, :]                    # (out, taps) source indices
    x = u[:, None] - j
    w = k * (fn(k * x) if kernel == "lanczos3" else fn(k * x, a))   # (out, taps)
    w = np.where(np.abs(x) < reach, w, 0.0)
    if border == "renormalize":                                     # Pillow: drop outside taps
        w = np.where((j >= 0) & (j < in_size), w, 0.0)
        j = np.clip(j, 0, in_size - 1)
    elif border == "replicate":                                     # PyTorch, OpenCV: clamp
        j = np.clip(j, 0, in_size - 1)
    else:                                                           # MATLAB: mirror, edge repeated
        period = 2 * in_size
        j = j % period
        j = np.where(j >= in_size, period - 1 - j, j)
    w = w / w.sum(axis=1, keepdims=True)                            # normalise each row
    M = np.zeros((out_size, in_size))
    np.add.at(M, (np.repeat(np.arange(out_size), taps), j.ravel()), w.ravel())
    return M


_PRESETS = {
    # name -> (a, antialias, border): the three libraries' rules
    "matlab": (-0.5, True, "symmetric"),
    "torch": (-0.75, False, "replicate"),
    "pillow": (-0.5, True, "renormalize"),
}


def _matrices(H, W, out, scale, a, antialias, border, kernel, align_corners=False):
    sh, sw = (scale, scale) if scale is not None and not isinstance(scale, (tuple, list)) \
        else (scale or (None, None))
    M_H = resize_matrix(H, out[0], a, antialias, border, sh, kernel, align_corners)
    M_W = resize_matrix(W, out[1], a, antialias, border, sw, kernel, align_corners)
    return M_H, M_W


def _sizes(H, W, scale, size):
    if (scale is None) == (size is None):
        raise ValueError("give exactly one of scale and size")
    if size is not None:
        return (int(size), int(size)) if isinstance(size, int) else tuple(int(s) for s in size)
    sh, sw = scale if isinstance(scale, (tuple, list)) else (scale, scale)
    if sh <= 0 or sw <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    return output_size(H, sh), output_size(W, sw)


# ============================================================================
# host images
# ============================================================================

def imresize(image, scale=None, size=None, method: str = "matlab", a: float = None,
             antialias: bool = None, border: str = None, kernel: str = "cubic"):
    """Resize a host image like MATLAB's ``imresize(image, scale, 'bicubic')`` (the default).

    ``method`` picks the libraries' rules ('matlab', 'torch', 'pillow'); ``a``, ``antialias``
    and ``border`` override single parts. ``size`` = (H', W') instead of ``scale``; with a
    scale the output is ceil(in * scale) (MATLAB). Works in float64 and returns float64 (no
    clipping: cubic kernels overshoot at edges, so clip to the valid range yourself).

    Shapes: (H, W), (H, W, C) or (N, H, W, C); uint8 input is read as 0..255 floats.
    """
    if method not in _PRESETS:
        raise ValueError(f"method must be one of {tuple(_PRESETS)}, got {method!r}")
    pa, paa, pb = _PRESETS[method]
    a = pa if a is None else a
    antialias = paa if antialias is None else antialias
    border = pb if border is None else border
    x = np.asarray(image, dtype=np.float64)
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"imresize: expected (H, W), (H, W, C) or (N, H, W, C), got {x.shape}")
    hw_axis = 1 if x.ndim == 4 else 0                                # the H axis
    H, W = x.shape[hw_axis], x.shape[hw_axis + 1]
    out = _sizes(H, W, scale, size)
    M_H, M_W = _matrices(H, W, out, scale if size is None else None, a, antialias, border, kernel)
    y = np.moveaxis(np.tensordot(M_H, x, axes=([1], [hw_axis])), 0, hw_axis)      # rows
    y = np.moveaxis(np.tensordot(M_W, y, axes=([1], [hw_axis + 1])), 0, hw_axis + 1)  # cols
    return y


# ============================================================================
# the differentiable op
# ============================================================================

def resize(x: Tensor, scale=None, size=None, method: str = "matlab", a: float = None,
           antialias: bool = None, border: str = None, kernel: str = "cubic",
           align_corners: bool = False) -> Tensor:
    """Bicubic resize of a Tensor (N, C, H, W) -> (N, C, H', W'): M_H x M_W^T, differentiable
    to every order (two matmuls by constant matrices). Options as :func:`imresize`."""
    if x.ndim != 4:
        raise ValueError(f"resize: expected a 4-D input (N, C, H, W), got shape {x.shape}")
    pa, paa, pb = _PRESETS[method]
    a = pa if a is None else a
    antialias = paa if antialias is None else antialias
    border = pb if border is None else border
    H, W = x.shape[2:]
    out = _sizes(H, W, scale, size)
    M_H, M_W = _matrices(H, W, out, scale if size is None else None, a, antialias, border, kernel,
                         align_corners)
    M_H = Tensor(backend.to_device(np.ascontiguousarray(M_H.astype(x.dtype)), x.device))  # (H', H)
    M_W = Tensor(backend.to_device(np.ascontiguousarray(M_W.T.astype(x.dtype)), x.device))  # (W, W')
    return matmul(M_H, matmul(x, M_W))                                   # (N, C, H', W')
