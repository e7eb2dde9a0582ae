"""im2col / col2im: the array-level plumbing that turns convolution into one matrix product.

These helpers work on raw backend arrays (NumPy or CuPy); they are not
differentiable themselves. :mod:`tinygen.ops.conv` builds the differentiable
convolution Functions on top of them.

Notation:
    N         batch size
    C         channels of the image being unfolded
    H, W      its height and width (before padding)
    KH, KW    kernel height and width
    OH, OW    output height and width (number of window positions)
    sH, sW    stride;   pH, pW  zero padding on each side;   dH, dW  dilation
    Hp, Wp    padded height and width, H + 2 pH and W + 2 pW

Window (oh, ow) with kernel offset (kh, kw) reads the padded image at

    row  = oh * sH + kh * dH,     col = ow * sW + kw * dW                 (1)

and the natural number of window positions is

    OH = floor((H + 2 pH - dH (KH - 1) - 1) / sH) + 1                     (2)

im2col
------
``im2col(x)[c, kh, kw, n, oh, ow] = x_padded[n, c, oh sH + kh dH, ow sW + kw dW]``

The result has shape (C, KH, KW, N, OH, OW): read as a matrix it is
(C KH KW, N OH OW), one *column* per window position, with the batch folded
into the long dimension. Then a convolution with weight (O, C, KH, KW) is the
single matrix product  W.reshape(O, C KH KW) @ cols  -> (O, N OH OW): one big
BLAS call instead of N small ones.

It is built without any Python loop: ``as_strided`` gives a 6-D *view* of
the padded image whose strides implement (1), and one copy makes it
contiguous. Worked example (N = C = 1, H = W = 3, KH = KW = 2, s = 1, p = 0)::

    x = [[1, 2, 3],        cols (4 x 4): one column per window (oh, ow)
         [4, 5, 6],          (kh,kw)=(0,0): [1, 2, 4, 5]
         [7, 8, 9]]          (kh,kw)=(0,1): [2, 3, 5, 6]
                             (kh,kw)=(1,0): [4, 5, 7, 8]
                             (kh,kw)=(1,1): [5, 6, 8, 9]

col2im
------
The adjoint of im2col: every column entry is *added* back to the pixel it
was read from (pixels shared by overlapping windows collect several
contributions). It loops over the KH KW kernel offsets (16 iterations for a
4x4 kernel), each one a vectorised strided add of a whole (C, N, OH, OW)
slab — never a loop over pixels.

col2im, channels last
---------------------
The same sum with the channel axis innermost: cols (N, OH, OW, KH, KW, C) -> image
(N, C, H, W) through a (N, Hp, Wp, C) canvas. Each of the KH KW strided adds then moves runs
of C contiguous numbers instead of runs of OW numbers at stride sW (4..32 numbers in a DCGAN),
so NumPy's per-run cost is paid C/OW times less often: the transposed convolution's fast path
(:mod:`tinygen.ops.conv`), whose GEMM can write its columns in this layout directly.

Volumes (and any number of spatial axes)
----------------------------------------
Nothing above depends on there being two spatial axes: for a volume
x (N, C, D, H, W) the windows get a third offset kd and position od, the
columns are (C, KD, KH, KW, N, OD, OH, OW), and every geometry argument
(kernel_size, stride, padding, dilation) has three entries. The same two
functions serve conv2d and conv3d; the length of ``kernel_size`` says which.

Memory bound
------------
The column matrix holds C KH KW N OH OW numbers, up to KH KW / (sH sW) times
the image. :func:`batch_chunks` splits the batch so that one chunk's columns
stay under ``MAX_COLUMN_BYTES`` (256 MB); the convolution code loops over
those chunks (a (64, 256, 32, 32) float32 input with a 4x4 stride-1 kernel
would otherwise need a 1 GB column matrix).
"""
from __future__ import annotations

import itertools

from tinygen import backend

xp_of = backend.get_array_module

MAX_COLUMN_BYTES = 256 * 2 ** 20   # keep one chunk's im2col matrix below 256 MB

__all__ = ["im2col", "col2im", "col2im_channels_last", "pad_zeros", "batch_chunks", "conv_output_size",
           "conv_transpose_output_size", "MAX_COLUMN_BYTES"]


def conv_output_size(size, kernel, stride, padding, dilation):
    """Equation (2): floor((H + 2p - d (K - 1) - 1) / s) + 1 (PyTorch's Conv2d formula)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv_transpose_output_size(size, kernel, stride, padding, dilation, output_padding):
    """(H - 1) s - 2p + d (K - 1) + output_padding + 1 (PyTorch's ConvTranspose2d formula)."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def pad_zeros(x, padding, extra=None):
    """x (N, C, *S) -> zeros (N, C, S_i + 2 p_i + extra_i ...) with x at offset (p_1, p_2, ...).

    ``padding`` and ``extra`` have one entry per spatial axis (two for images, three for volumes).
    """
    extra = (0,) * len(padding) if extra is None else tuple(extra)
    if not any(padding) and not any(extra):
        return x
    N, C = x.shape[:2]
    size = tuple(i + 2 * p + e for i, p, e in zip(x.shape[2:], padding, extra))
    out = xp_of(x).zeros((N, C) + size, dtype=x.dtype)
    inside = tuple(slice(p, p + i) for p, i in zip(padding, x.shape[2:]))
    out[(slice(None), slice(None)) + inside] = x
    return out


def batch_chunks(N, bytes_per_sample, max_bytes=None):
    """Slices of range(N), each holding at most ``max_bytes`` (default MAX_COLUMN_BYTES) of
    columns, and at least one sample."""
    max_bytes = MAX_COLUMN_BYTES if max_bytes is None else max_bytes
    step = max(1, int(max_bytes // max(bytes_per_sample, 1)))
    return [slice(n, min(n + step, N)) for n in range(0, N, step)]


def im2col(x, kernel_size, stride, padding, dilation, out_size=None):
    """Unfold x (N, C, H, W) into columns (C, KH, KW, N, OH, OW), contiguous.

    The same for any number of spatial axes: a volume x (N, C, D, H, W) gives
    (C, KD, KH, KW, N, OD, OH, OW), and every geometry argument then has three
    entries. ``out_size`` = (OH, OW) may be smaller than the natural size (2):
    then only the first OH x OW windows are taken (used by the gradients of
    transposed convolutions whose output_padding left extra rows).
    """
    xp = xp_of(x)
    N, C = x.shape[:2]
    if out_size is None:
        out_size = tuple(conv_output_size(i, k, s, p, d) for i, k, s, p, d in zip(
            x.shape[2:], kernel_size, stride, padding, dilation))
    xpad = xp.ascontiguousarray(pad_zeros(x, padding))          # (N, C, Hp, Wp)
    bN, bC = xpad.strides[:2]                                    # byte strides
    bS = xpad.strides[2:]                                        # (bH, bW): one per spatial axis
    windows = xp.lib.stride_tricks.as_strided(                   # a view, no copy yet
        xpad, shape=(C,) + tuple(kernel_size) + (N,) + tuple(out_size),
        strides=(bC,) + tuple(d * b for d, b in zip(dilation, bS))            # (1): k d
        + (bN,) + tuple(s * b for s, b in zip(stride, bS)))                   # (1): o s
    return xp.ascontiguousarray(windows)                         # (C, KH, KW, N, OH, OW)


def _scatter_plan(image_size, kernel, out, stride, padding, dilation):
    """What col2im needs in either layout: the canvas size (it holds both the padded image and
    every window position), each kernel offset (kh, kw) with the canvas slices (1) its windows
    read, and the slices of the image inside the padding."""
    canvas_size = tuple(max(i + 2 * p, (k - 1) * d + (o - 1) * s + 1) for i, k, o, s, p, d in zip(
        image_size, kernel, out, stride, padding, dilation))
    windows = [(offset, tuple(slice(k * d, k * d + s * (o - 1) + 1, s) for k, d, s, o in zip(
                   offset, dilation, stride, out)))                        # rows, cols of (1)
               for offset in itertools.product(*(range(k) for k in kernel))]   # KH KW slabs
    inside = tuple(slice(p, p + i) for p, i in zip(padding, image_size))     # drop the padding
    return canvas_size, windows, inside


def col2im(cols, image_size, stride, padding, dilation):
    """The adjoint of :func:`im2col`: cols (C, KH, KW, N, OH, OW) -> image (N, C, H, W).

    Each column entry is added to the pixel (1) it came from; entries that
    fall into the padding are dropped. Volumes: cols (C, KD, KH, KW, N, OD, OH, OW)
    -> (N, C, D, H, W).
    """
    xp = xp_of(cols)
    nd = len(image_size)
    C, kernel, N, out = cols.shape[0], cols.shape[1:1 + nd], cols.shape[1 + nd], cols.shape[2 + nd:]
    canvas_size, windows, inside = _scatter_plan(image_size, kernel, out, stride, padding,
                                                 dilation)
    canvas = xp.zeros((C, N) + canvas_size, dtype=cols.dtype)     # channel-first: matches cols
    for offset, window in windows:
        canvas[(slice(None), slice(None)) + window] += cols[(slice(None),) + offset]  # (C,N,OH,OW)
    image = canvas[(slice(None), slice(None)) + inside]                    # (C, N, H, W)
    return xp.ascontiguousarray(image.swapaxes(0, 1))                      # (N, C, H, W)


def col2im_channels_last(cols, image_size, stride, padding, dilation):
    """:func:`col2im` with channels last: cols (N, OH, OW, KH, KW, C) -> image (N, C, H, W).

    The same sum, in another order: entry [n, oh, ow, kh, kw, c] is added to pixel (1) of
    channel c of image n. Volumes: cols (N, OD, OH, OW, KD, KH, KW, C) -> (N, C, D, H, W).
    """
    xp = xp_of(cols)
    nd = len(image_size)
    N, out, kernel, C = cols.shape[0], cols.shape[1:1 + nd], cols.shape[1 + nd:1 + 2 * nd], cols.shape[-1]
    canvas_size, windows, inside = _scatter_plan(image_size, kernel, out, stride, padding,
                                                 dilation)
    canvas = xp.zeros((N,) + canvas_size + (C,), dtype=cols.dtype)        # (N, Hp, Wp, C)
    all_positions = (slice(None),) * (1 + nd)                            # n, oh, ow
    for offset, window in windows:
        canvas[(slice(None),) + window] += cols[all_positions + offset]   # (N, OH, OW, C)
    image = canvas[(slice(None),) + inside]                               # (N, H, W, C)
    return xp.ascontiguousarray(xp.moveaxis(image, -1, 1))               # (N, C, H, W)
