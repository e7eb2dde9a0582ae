"""Resampling and padding: interpolate (nearest, bilinear), pixel (un)shuffle, pad.

Everything here is a *composition* of differentiable primitives — integer
gathers (getitem), matrix products, reshape/permute — so first and second
derivatives follow without a hand-written backward.

Notation:
    x (N, C, H, W) input;  y (N, C, OH, OW) output;  r upscale factor
    scale  the source step per output pixel: in/out, or 1/scale_factor when
           scale_factor is given (PyTorch's ``compute_scales_value``)

nearest (PyTorch's ``mode='nearest'``, not 'nearest-exact'):

    src(dst) = min(floor(dst * scale), in - 1)        (computed in float32, as PyTorch)

bilinear, separable (PyTorch's ``area_pixel_compute_source_index``):

    align_corners=False:  src = max((dst + 0.5) * scale - 0.5, 0)
    align_corners=True:   src = dst * (in - 1) / (out - 1)      (0 when out = 1)
    i0 = floor(src), i1 = min(i0 + 1, in - 1), lambda = src - i0
    y = M_H x M_W^T  with  M[dst, i0] += 1 - lambda,  M[dst, i1] += lambda

Writing bilinear as two matrix products by interpolation matrices M_H (OH, H)
and M_W (OW, W) is exact, uses BLAS, and its gradient is again two matrix
products (by the transposed matrices).

pixel_shuffle (Shi et al. 2016, "Real-Time Single Image and Video
Super-Resolution Using an Efficient Sub-Pixel Convolutional Neural Network",
arXiv 1609.05158, Sec. 2.2, the periodic shuffling operator PS):

    (N, C r^2, H, W) -> (N, C, r, r, H, W) -> permute -> (N, C, H, r, W, r) -> (N, C, H r, W r)
"""
from __future__ import annotations

import math

from tinygen import backend
from tinygen.autograd import Tensor
from tinygen.ops.linalg import matmul
from tinygen.ops.shape import getitem, pad as _pad_constant, permute, reshape

np = backend.numpy     # host-side index/weight tables (small), moved to x's device

__all__ = ["interpolate", "upsample", "pixel_shuffle", "pixel_unshuffle", "pad",
           "nearest_indices", "bilinear_matrix"]


# ============================================================================
# interpolate
# ============================================================================

def nearest_indices(in_size, out_size, scale_factor=None):
    """Source index of every output pixel for mode='nearest' (int64 host array).

    Special cases as in PyTorch's ``nearest_idx``: out = in copies, out = 2 in
    takes dst // 2, whatever the scale_factor.
    """
    if out_size == in_size:                    # PyTorch's two exact special cases
        return np.arange(out_size)
    if out_size == 2 * in_size:
        return np.arange(out_size) // 2
    if scale_factor is not None and scale_factor > 0:
        scale = np.float32(1.0 / scale_factor)                          # float(1.0 / double)
    else:
        scale = np.float32(in_size) / np.float32(out_size)              # float / float
    src = np.floor(np.arange(out_size, dtype=np.float32) * scale).astype(np.int64)
    return np.minimum(src, in_size - 1)


def bilinear_matrix(in_size, out_size, align_corners, scale_factor=None):
    """The (out, in) linear-interpolation matrix M along one axis (host float64).

    An axis whose size does not change is copied (identity), whatever the
    scale_factor, as PyTorch's kernel does.
    """
    if out_size == in_size:
        return np.eye(in_size)
    dst = np.arange(out_size, dtype=np.float64)
    if align_corners:
        scale = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
        src = dst * scale
    else:
        scale = 1.0 / scale_factor if scale_factor is not None and scale_factor > 0 \
            else in_size / out_size
        src = np.maximum((dst + 0.5) * scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    lam = np.clip(src - i0, 0.0, 1.0)                                    # weight of i1
    M = np.zeros((out_size, in_size))
    np.add.at(M, (np.arange(out_size), i0), 1.0 - lam)
    np.add.at(M, (np.arange(out_size), i1), lam)
    return M


def _pair_or_none(value, name):
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return (value, value)
    value = tuple(value)
    if len(value) != 2:
        raise ValueError(f"interpolate: {name} must be a number or a pair for a 4-D input, "
                         f"got {value!r}")
    return value


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """PyTorch's ``F.interpolate`` for 4-D inputs, modes 'nearest', 'bilinear' and 'bicubic'.

    'bicubic' is Keys' kernel with a = -0.75 and clamped borders, as PyTorch; with
    ``antialias=True`` (bicubic only) PyTorch's antialiased rule, a = -0.5 with the kernel
    stretched when shrinking and renormalised at the borders (Pillow's): :mod:`tinygen.ops.bicubic`.

    Give exactly one of ``size`` (OH, OW) and ``scale_factor`` (OH =
    floor(H * scale_factor)). ``align_corners`` applies to bilinear only
    (None means False, PyTorch's default). With ``recompute_scale_factor=True``
    the index rule uses in/out instead of 1/scale_factor.
    """
    if x.ndim != 4:
        raise ValueError(f"interpolate: expected a 4-D input (N, C, H, W), got shape {x.shape}")
    if mode not in ("nearest", "bilinear", "bicubic"):
        raise ValueError(f"interpolate: mode must be 'nearest', 'bilinear' or 'bicubic', "
                         f"got {mode!r}")
    if antialias and mode != "bicubic":
        raise ValueError("interpolate: antialias is supported for mode='bicubic' only here")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("interpolate: align_corners only applies to mode='bilinear'")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    H, W = x.shape[2:]
    size, scales = _pair_or_none(size, "size"), _pair_or_none(scale_factor, "scale_factor")
    if size is not None:
        out = tuple(int(s) for s in size)
        scales = (None, None)
    else:
        if min(scales) <= 0:
            raise ValueError(f"interpolate: scale_factor must be positive, got {scale_factor}")
        out = tuple(int(math.floor(float(i) * s)) for i, s in zip((H, W), scales))
        if recompute_scale_factor:
            scales = (None, None)
    if min(out) < 1:
        raise ValueError(f"interpolate: output size {out} must be positive (input {(H, W)})")
    if mode == "nearest":
        rows = nearest_indices(H, out[0], scales[0])                    # (OH,)
        cols = nearest_indices(W, out[1], scales[1])                    # (OW,)
        index = (slice(None), slice(None),
                 backend.to_device(rows.reshape(-1, 1), x.device),
                 backend.to_device(cols.reshape(1, -1), x.device))
        return getitem(x, index)                                        # (N, C, OH, OW) gather
    ac = bool(align_corners)
    if mode == "bicubic":
        from tinygen.ops.bicubic import resize_matrix
        a, border = (-0.5, "renormalize") if antialias else (-0.75, "replicate")
        # PyTorch steps the source by 1/scale_factor when one is given (scales), else in/out
        M_H = resize_matrix(H, out[0], a, antialias, border, scales[0],
                            align_corners=ac).astype(x.dtype)        # (OH, H)
        M_W = resize_matrix(W, out[1], a, antialias, border, scales[1],
                            align_corners=ac).T.astype(x.dtype)      # (W, OW)
        M_H = Tensor(backend.to_device(np.ascontiguousarray(M_H), x.device))
        M_W = Tensor(backend.to_device(np.ascontiguousarray(M_W), x.device))
        return matmul(M_H, matmul(x, M_W))                               # (N, C, OH, OW)
    M_H = bilinear_matrix(H, out[0], ac, scales[0]).astype(x.dtype)      # (OH, H)
    M_W = bilinear_matrix(W, out[1], ac, scales[1]).T.astype(x.dtype)    # (W, OW)
    M_H = Tensor(backend.to_device(np.ascontiguousarray(M_H), x.device))
    M_W = Tensor(backend.to_device(np.ascontiguousarray(M_W), x.device))
    return matmul(M_H, matmul(x, M_W))                                   # (N, C, OH, OW)


upsample = interpolate


# ============================================================================
# pixel shuffle
# ============================================================================

def pixel_shuffle(x, upscale_factor):
    """(N, C r^2, H, W) -> (N, C, H r, W r):

        y[n, c, h r + i, w r + j] = x[n, c r^2 + i r + j, h, w]
    """
    r = int(upscale_factor)
    if x.ndim != 4:
        raise ValueError(f"pixel_shuffle: expected a 4-D input, got shape {x.shape}")
    N, Cr2, H, W = x.shape
    if r < 1 or Cr2 % (r * r):
        raise ValueError(f"pixel_shuffle: channels ({Cr2}) must be divisible by "
                         f"upscale_factor^2 = {r * r}")
    C = Cr2 // (r * r)
    y = reshape(x, (N, C, r, r, H, W))
    y = permute(y, (0, 1, 4, 2, 5, 3))                                   # (N, C, H, r, W, r)
    return reshape(y, (N, C, H * r, W * r))


def pixel_unshuffle(x, downscale_factor):
    """(N, C, H r, W r) -> (N, C r^2, H, W), the inverse of :func:`pixel_shuffle`."""
    r = int(downscale_factor)
    if x.ndim != 4:
        raise ValueError(f"pixel_unshuffle: expected a 4-D input, got shape {x.shape}")
    N, C, Hr, Wr = x.shape
    if r < 1 or Hr % r or Wr % r:
        raise ValueError(f"pixel_unshuffle: height {Hr} and width {Wr} must be divisible by "
                         f"downscale_factor {r}")
    y = reshape(x, (N, C, Hr // r, r, Wr // r, r))
    y = permute(y, (0, 1, 3, 5, 2, 4))                                   # (N, C, r, r, H, W)
    return reshape(y, (N, C * r * r, Hr // r, Wr // r))


# ============================================================================
# pad
# ============================================================================

def _pad_index(size, before, after, mode):
    """Source index for each padded position -before .. size + after - 1 along one axis."""
    i = np.arange(-before, size + after)
    if mode == "reflect":                                               # mirror, edge not repeated
        period = 2 * (size - 1)
        i = np.abs(i) % period if period else np.zeros_like(i)
        return np.where(i >= size, period - i, i)
    if mode == "replicate":
        return np.clip(i, 0, size - 1)
    return i % size                                                     # circular


def pad(x, pad, mode="constant", value=0.0):
    """PyTorch's ``F.pad``: ``pad`` = (left, right, top, bottom, ...), LAST dimension first.

    constant: fill with ``value`` (negative amounts crop);
    reflect: mirror without repeating the edge (needs pad < size);
    replicate: repeat the edge; circular: wrap around (needs pad <= size).
    Non-constant modes are integer gathers x[..., index] (getitem), whose
    backward scatter-adds into the source pixels.
    """
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: the pad tuple must have an even length of at most 2 * {x.ndim} "
                         f"(input shape {x.shape}), got {pad}")
    pairs = [(pad[2 * k], pad[2 * k + 1]) for k in range(len(pad) // 2)]   # last axis first
    axes = [x.ndim - 1 - k for k in range(len(pairs))]
    if mode == "constant":
        width = [(0, 0)] * x.ndim
        crop = [slice(None)] * x.ndim
        for axis, (lo, hi) in zip(axes, pairs):
            width[axis] = (max(lo, 0), max(hi, 0))
            size = x.shape[axis] + max(lo, 0) + max(hi, 0)
            crop[axis] = slice(max(-lo, 0), size - max(-hi, 0))
            if crop[axis].stop < crop[axis].start:
                raise ValueError(f"pad: padding {pad} removes more than the size of dimension "
                                 f"{axis} "
                                 f"(size {x.shape[axis]})")
        y = _pad_constant(x, width, value) if any(w != (0, 0) for w in width) else x
        return getitem(y, tuple(crop)) if any(c != slice(None) for c in crop) else y
    if mode not in ("reflect", "replicate", "circular"):
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', "
                         f"got {mode!r}")
    y = x
    for axis, (lo, hi) in zip(axes, pairs):
        size = x.shape[axis]
        if lo < 0 or hi < 0:
            raise ValueError(f"pad: negative padding {pad} is only supported for mode='constant'")
        if mode == "reflect" and (lo >= size or hi >= size):
            raise ValueError(f"pad: reflect padding ({lo}, {hi}) must be smaller than the size "
                             f"{size} of dimension {axis} (input shape {x.shape})")
        if mode == "circular" and (lo > size or hi > size):
            raise ValueError(f"pad: circular padding ({lo}, {hi}) must be at most the size {size} "
                             f"of dimension {axis} (input shape {x.shape})")
        if mode == "replicate" and size == 0:
            raise ValueError(f"pad: cannot replicate-pad the empty dimension {axis}")
        if lo == hi == 0:
            continue
        index = backend.to_device(_pad_index(size, lo, hi, mode), x.device)
        y = getitem(y, (slice(None),) * axis + (index,))                # gather along ``axis``
    return y
