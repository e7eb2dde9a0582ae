"""Pooling: max, average and adaptive average over 2-D windows (PyTorch semantics).

Notation:
    x (N, C, H, W) input;  y (N, C, OH, OW) output
    KH, KW kernel;  sH, sW stride (default: the kernel);  pH, pW padding;  dH, dW dilation
    window (oh, ow) covers rows oh sH - pH + kh dH, kh = 0..KH-1 (and likewise columns)

Output size (PyTorch's ``pooling_output_shape``):

    OH = floor((H + 2 pH - dH (KH - 1) - 1 [+ sH - 1 if ceil_mode]) / sH) + 1
    and with ceil_mode, if (OH - 1) sH >= H + pH, OH -= 1
    (the last window must start inside the input or the left padding).

Gradients:

* max pooling routes gy to the arg-max of each window. The arg-max
  positions are a *constant* of x (piecewise), so the backward is a scatter
  (:class:`tinygen.ops.shape.GetItemGrad`), whose own backward is a gather:
  double backward is exact.
* average pooling is linear: a sum over windows (a convolution with a ones
  kernel, per channel) divided by a constant count, so it is composed from
  :func:`tinygen.ops.conv.conv2d` and needs no backward of its own.
* adaptive average pooling is linear and separable: y = A_H x A_W^T with
  averaging matrices, composed from :func:`tinygen.ops.linalg.matmul`.
"""
from __future__ import annotations

from tinygen import backend
from tinygen.autograd import Function, Tensor
from tinygen.ops.conv import _pair, conv2d
from tinygen.ops.linalg import matmul
from tinygen.ops.shape import GetItemGrad, pad as _pad, reshape

xp_of = backend.get_array_module
np = backend.numpy     # host-side index/weight tables (tiny), moved to x's device

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "pool_output_size",
           "MaxPool2dFunction"]


def pool_output_size(size, kernel, stride, padding, dilation=1, ceil_mode=False):
    """PyTorch's pooling output size (see the module docstring)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _pool_args(name, x, kernel_size, stride, padding, dilation):
    if x.ndim not in (3, 4):
        raise ValueError(f"{name}: expected input of rank 4 (N, C, H, W) or rank 3 (C, H, W), "
                         f"got rank {x.ndim} with shape {x.shape}")
    kernel = _pair(kernel_size, "kernel_size")
    stride = kernel if stride is None or stride == () else _pair(stride, "stride")
    padding, dilation = _pair(padding, "padding"), _pair(dilation, "dilation")
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"{name}: kernel_size {kernel}, stride {stride} and dilation {dilation} "
                         "must be positive")
    if min(padding) < 0 or any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"{name}: padding {padding} must be non-negative and at most half of "
                         f"kernel_size {kernel}")
    return kernel, stride, padding, dilation


def _out_sizes(name, x, kernel, stride, padding, dilation, ceil_mode):
    out = tuple(pool_output_size(i, k, s, p, d, ceil_mode) for i, k, s, p, d in zip(
        x.shape[-2:], kernel, stride, padding, dilation))
    if min(out) < 1:
        raise ValueError(f"{name}: kernel_size {kernel} (dilation {dilation}) is larger than the "
                         f"padded input {x.shape[-2:]} + 2*{padding}; output size would be {out}")
    return out


# ============================================================================
# max pooling
# ============================================================================

class MaxPool2dFunction(Function):
    """y[n, c, oh, ow] = max over the window of x padded with -inf.

    Forward also records, per output, the flat position h W + w of the
    arg-max in x (first maximum in row-major window order, as PyTorch).
    Backward: gx = zeros with gy scatter-added at those positions.
    """

    def __init__(self, kernel, stride, padding, dilation, out_size):
        self.kernel, self.stride, self.padding = kernel, stride, padding
        self.dilation, self.out_size = dilation, out_size
        self.flat_index = None

    def forward(self, x):
        xp = xp_of(x)
        self.input_shape = N, C, H, W = x.shape
        (KH, KW), (sH, sW) = self.kernel, self.stride
        (pH, pW), (dH, dW) = self.padding, self.dilation
        OH, OW = self.out_size
        Hc = max(H + 2 * pH, (OH - 1) * sH + dH * (KH - 1) + 1)     # canvas: padding + ceil_mode
        Wc = max(W + 2 * pW, (OW - 1) * sW + dW * (KW - 1) + 1)
        canvas = xp.full((N, C, Hc, Wc), -xp.inf, dtype=x.dtype)
        canvas[:, :, pH:pH + H, pW:pW + W] = x
        bN, bC, bH, bW = canvas.strides
        windows = xp.lib.stride_tricks.as_strided(                   # (N, C, OH, OW, KH, KW) view
            canvas, shape=(N, C, OH, OW, KH, KW),
            strides=(bN, bC, sH * bH, sW * bW, dH * bH, dW * bW))
        windows = windows.reshape(N, C, OH, OW, KH * KW)             # one copy
        arg = windows.argmax(axis=-1)                                # (N, C, OH, OW), first max
        y = xp.take_along_axis(windows, arg[..., None], axis=-1)[..., 0]
        # Position of the arg-max in the unpadded x, as a flat index h * W + w.
        rows = xp.arange(OH).reshape(OH, 1) * sH - pH + (arg // KW) * dH
        cols = xp.arange(OW).reshape(1, OW) * sW - pW + (arg % KW) * dW
        self.flat_index = rows * W + cols                            # (N, C, OH, OW) int64
        return y

    def backward(self, gy):
        N, C, H, W = self.input_shape
        xp = xp_of(gy._data)
        index = (xp.arange(N).reshape(N, 1, 1, 1), xp.arange(C).reshape(1, C, 1, 1),
                 self.flat_index)                                    # a constant of x
        gx = GetItemGrad(index, (N, C, H * W))(gy)                   # scatter; its backward gathers
        return reshape(gx, self.input_shape)


def windows_touch_input(size, kernel, stride, padding, dilation, out) -> bool:
    """True when every one of the ``out`` windows along an axis has a tap inside [0, size)."""
    for o in range(out):
        start = o * stride - padding
        if not any(0 <= start + j * dilation < size for j in range(kernel)):
            return False
    return True


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """PyTorch's ``F.max_pool2d``: x (N, C, H, W) or (C, H, W) -> (N, C, OH, OW).

    ``return_indices=True`` also returns the int64 flat index h W + w of each
    maximum within its (H, W) plane (what ``max_unpool2d`` expects).
    """
    kernel, stride, padding, dilation = _pool_args("max_pool2d", x, kernel_size, stride,
                                                   padding, dilation)
    if x.ndim == 3:
        out = max_pool2d(x.unsqueeze(0), kernel, stride, padding, dilation, ceil_mode,
                         return_indices)
        return (out[0].squeeze(0), out[1].squeeze(0)) if return_indices else out.squeeze(0)
    out_size = _out_sizes("max_pool2d", x, kernel, stride, padding, dilation, ceil_mode)
    for axis, name in ((0, "height"), (1, "width")):
        if not windows_touch_input(x.shape[2 + axis], kernel[axis], stride[axis], padding[axis],
                                   dilation[axis], out_size[axis]):
            raise ValueError(
                f"max_pool2d: along the {name} (size {x.shape[2 + axis]}) some windows see only "
                f"padding (kernel {kernel}, stride {stride}, padding {padding}, dilation "
                f"{dilation}), so their maximum would be -inf: reduce padding or dilation")
    fn = MaxPool2dFunction(kernel, stride, padding, dilation, out_size)
    y = fn(x)
    if return_indices:
        return y, Tensor(fn.flat_index)
    return y


# ============================================================================
# average pooling
# ============================================================================

def _avg_counts(size, kernel, stride, padding, out, count_include_pad):
    """PyTorch's divisor per output position along one axis (host float64 array).

    window [start, end) with start = o s - p, end = min(start + K, size + p):
    count_include_pad counts end - start (padding included, the ceil_mode
    overhang beyond the padding excluded); otherwise only the part inside x.
    """
    counts = np.empty(out)
    for o in range(out):
        start = o * stride - padding
        end = min(start + kernel, size + padding)
        if count_include_pad:
            counts[o] = end - start
        else:
            counts[o] = min(end, size) - max(start, 0)
    return counts


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """PyTorch's ``F.avg_pool2d``: mean over each window, x (N, C, H, W) -> (N, C, OH, OW).

        y[n, c, oh, ow] = (sum of the window of x zero-padded) / divisor[oh, ow]

    divisor = divisor_override, or the window size clipped to the padded
    input (count_include_pad=True), or the number of real pixels in the
    window (count_include_pad=False, e.g. the FID Inception network). The
    sum is a per-channel convolution with a ones kernel (conv2d on
    (N C, 1, H, W)), so gradients of every order come from conv2d.
    """
    kernel, stride, padding, _ = _pool_args("avg_pool2d", x, kernel_size, stride, padding, 1)
    if x.ndim == 3:
        return avg_pool2d(x.unsqueeze(0), kernel, stride, padding, ceil_mode, count_include_pad,
                          divisor_override).squeeze(0)
    if divisor_override is not None and divisor_override == 0:
        raise ValueError("avg_pool2d: divisor_override must be non-zero")
    N, C, H, W = x.shape
    OH, OW = _out_sizes("avg_pool2d", x, kernel, stride, padding, (1, 1), ceil_mode)
    # ceil_mode: the last window may hang over the bottom/right padding; zeros there add nothing.
    extra_h = max(0, (OH - 1) * stride[0] + kernel[0] - (H + 2 * padding[0]))
    extra_w = max(0, (OW - 1) * stride[1] + kernel[1] - (W + 2 * padding[1]))
    xs = reshape(x, (N * C, 1, H, W))                                  # channels as batch
    if extra_h or extra_w:
        xs = _pad(xs, ((0, 0), (0, 0), (0, extra_h), (0, extra_w)))
    ones = Tensor(xp_of(x._data).ones((1, 1) + kernel, dtype=x.dtype))  # a constant kernel
    sums = conv2d(xs, ones, None, stride, padding)                     # (N C, 1, OH, OW)
    if divisor_override is not None:
        divisor = np.full((OH, OW), float(divisor_override))
    else:
        divisor = np.outer(_avg_counts(H, kernel[0], stride[0], padding[0], OH, count_include_pad),
                           _avg_counts(W, kernel[1], stride[1], padding[1], OW, count_include_pad))
    inv = Tensor(backend.to_device((1.0 / divisor).astype(x.dtype), x.device))   # (OH, OW)
    return reshape(sums, (N, C, OH, OW)) * inv


# ============================================================================
# adaptive average pooling
# ============================================================================

def adaptive_pool_matrix(in_size, out_size, dtype=np.float64):
    """A (out, in) with A[i, j] = 1 / (end_i - start_i) for start_i <= j < end_i, where
    start_i = floor(i in / out) and end_i = ceil((i + 1) in / out) (PyTorch's bins)."""
    A = np.zeros((out_size, in_size), dtype=dtype)
    for i in range(out_size):
        start = (i * in_size) // out_size
        end = -((-(i + 1) * in_size) // out_size)                        # ceil division
        A[i, start:end] = 1.0 / (end - start)
    return A


def adaptive_avg_pool2d(x, output_size):
    """PyTorch's ``F.adaptive_avg_pool2d``: x (N, C, H, W) -> (N, C, OH, OW).

    Separable: y = A_H x A_W^T with the averaging matrices of
    :func:`adaptive_pool_matrix` (``None`` in output_size keeps that side).
    """
    if x.ndim not in (3, 4):
        raise ValueError(f"adaptive_avg_pool2d: expected input of rank 4 (N, C, H, W) or rank 3, "
                         f"got rank {x.ndim} with shape {x.shape}")
    H, W = x.shape[-2:]
    if isinstance(output_size, int) or output_size is None:
        output_size = (output_size, output_size)
    OH, OW = (s if s is not None else i for s, i in zip(output_size, (H, W)))
    if OH < 1 or OW < 1:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be positive, got {output_size}")
    if (OH, OW) == (H, W):
        return x
    if (OH, OW) == (1, 1):
        return x.mean((-2, -1), keepdim=True)                           # global average pooling
    A_H = Tensor(backend.to_device(adaptive_pool_matrix(H, OH, x.dtype), x.device))  # (OH, H)
    A_W = Tensor(backend.to_device(adaptive_pool_matrix(W, OW, x.dtype).T.copy(), x.device))
    return matmul(A_H, matmul(x, A_W))                                   # (N, C, OH, OW)

