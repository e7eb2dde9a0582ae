"""2-D convolution and transposed convolution, each the other's gradient.

Convolution (cross-correlation, as in every deep-learning library; see
Dumoulin & Visin 2016, "A guide to convolution arithmetic for deep
learning", arXiv 1603.07285, for the size formulas used below):

    y[n, o, oh, ow] = b[o] + sum_{c, kh, kw}  W[o, c, kh, kw] *
                      x_pad[n, g(o) C/g + c, oh sH + kh dH, ow sW + kw dW]

Notation:
    x   (N, C, H, W)          input;    y  (N, O, OH, OW)  output
    W   (O, C/g, KH, KW)      conv2d weight
    Wt  (C, O/g, KH, KW)      conv_transpose2d weight (input channels first, as in PyTorch)
    b   (O,)                  bias
    s, p, d                   stride, zero padding, dilation (pairs: (sH, sW) ...)
    g                         groups: channels split into g independent blocks
    K = C/g KH KW             length of one receptive field (a column of im2col)
    L = OH OW                 window positions per image
    OH = floor((H + 2p - d (KH - 1) - 1) / s) + 1

How it is computed (docs/convolution.md): im2col unfolds x into a matrix
(g, K, N L) and the convolution is ONE batched-over-groups matrix product
(g, O/g, K) @ (g, K, N L) with the batch folded into the long dimension.

Gradients — every backward is written with the Functions of this file, so
the backward pass is itself differentiable (exact double backward, e.g. the
WGAN-GP gradient penalty on a convolutional critic):

    conv2d            y  = conv(x, W)
        gx = conv_transpose2d(gy, W)  with output_padding restoring x's size
        gW = conv2d_weight_grad(x, gy)         (a correlation of x with gy)
        gb = gy summed over (N, OH, OW)
    conv_transpose2d  y  = conv(., Wt)^T x     (the adjoint of conv2d w.r.t. its input)
        gx  = conv2d(gy, Wt)
        gWt = conv2d_weight_grad(gy, x)
    conv2d_weight_grad  G = WG(x, gy),  bilinear with  <G, V> = <gy, conv(x, V)>
        gx  = conv_transpose2d(gy, gG)
        ggy = conv2d(x, gG)

``conv2d_naive`` is the slow reference: a loop over kernel offsets written
with Tensor ops (slicing + matmul), so its gradients come from autograd and
test the hand-written ones above.
"""
from __future__ import annotations

from tinygen import backend
from tinygen.autograd import Function, Tensor
from tinygen.ops.im2col import (
    batch_chunks, col2im, conv_output_size, conv_transpose_output_size, im2col,
)
from tinygen.ops.shape import concat, pad as _pad

xp_of = backend.get_array_module

__all__ = ["conv2d", "conv_transpose2d", "conv2d_weight_grad", "conv2d_naive",
           "Conv2dFunction", "ConvTranspose2dFunction", "Conv2dWeightGrad"]


# ============================================================================
# the three Functions (internal geometry; the public functions validate)
# ============================================================================

class _Geometry:
    """Kernel size, stride, padding, dilation (all pairs) and groups of one convolution."""

    def __init__(self, kernel_size, stride, padding, dilation, groups):
        self.kernel_size, self.stride = tuple(kernel_size), tuple(stride)
        self.padding, self.dilation, self.groups = tuple(padding), tuple(dilation), groups

    def args(self):
        return self.kernel_size, self.stride, self.padding, self.dilation, self.groups

    def output_padding_for(self, image_size, out_size):
        """The output_padding with which conv_transpose2d maps out_size back to image_size.

        A strided convolution drops the last (H + 2p - d(KH-1) - 1) mod s rows of
        x; the transposed convolution has to add them back to restore H exactly.
        """
        return tuple(i + 2 * p - d * (k - 1) - 1 - (o - 1) * s for i, o, k, s, p, d in zip(
            image_size, out_size, self.kernel_size, self.stride, self.padding, self.dilation))


class Conv2dFunction(Function):
    """y = conv(x, W): x (N, C, H, W), W (O, C/g, KH, KW) -> y (N, O, OH, OW).

    ``out_size`` may be smaller than the natural output size: only the first
    OH x OW windows are computed (needed by the gradient of conv_transpose2d
    when output_padding >= stride).
    """

    def __init__(self, geometry: _Geometry, out_size):
        self.geo, self.out_size = geometry, tuple(out_size)

    def forward(self, x, w):
        xp = xp_of(x)
        ksize, stride, padding, dilation, g = self.geo.args()
        N, C, H, W_ = x.shape
        O = w.shape[0]
        OH, OW = self.out_size
        K = (C // g) * ksize[0] * ksize[1]
        self.save_for_backward(x, w)
        w_mat = w.reshape(g, O // g, K)                                    # (g, O/g, K)
        y = xp.empty((O, N, OH, OW), dtype=x.dtype)                        # channel-first
        for part in batch_chunks(N, C * ksize[0] * ksize[1] * OH * OW * x.itemsize):
            n = part.stop - part.start
            cols = im2col(x[part], ksize, stride, padding, dilation, self.out_size)
            cols = cols.reshape(g, K, n * OH * OW)                         # (g, K, n L)
            y[:, part] = xp.matmul(w_mat, cols).reshape(O, n, OH, OW)      # one GEMM per group
        return xp.ascontiguousarray(y.transpose(1, 0, 2, 3))               # (N, O, OH, OW)

    def backward(self, gy):
        x, w = self.saved_tensors
        gx = gw = None
        if x.requires_grad:
            op = self.geo.output_padding_for(x.shape[2:], gy.shape[2:])
            gx = ConvTranspose2dFunction(self.geo, op)(gy, w)              # (N, C, H, W)
        if w.requires_grad:
            gw = Conv2dWeightGrad(self.geo)(x, gy)                         # (O, C/g, KH, KW)
        return gx, gw


class ConvTranspose2dFunction(Function):
    """y = conv(., Wt)^T x: x (N, C, H, W), Wt (C, O/g, KH, KW) -> y (N, O, OH', OW').

    OH' = (H - 1) s - 2p + d (KH - 1) + output_padding + 1. Computed as one
    GEMM  (g, K', C/g) @ (g, C/g, N H W) -> columns, then col2im scatters the
    columns onto the output canvas (K' = O/g KH KW).
    """

    def __init__(self, geometry: _Geometry, output_padding):
        self.geo, self.output_padding = geometry, tuple(output_padding)

    def forward(self, x, w):
        xp = xp_of(x)
        ksize, stride, padding, dilation, g = self.geo.args()
        N, C, H, W_ = x.shape
        O = w.shape[1] * g
        KK = ksize[0] * ksize[1]
        out_hw = tuple(conv_transpose_output_size(i, k, s, p, d, op) for i, k, s, p, d, op in zip(
            (H, W_), ksize, stride, padding, dilation, self.output_padding))
        self.save_for_backward(x, w)
        w_mat = w.reshape(g, C // g, (O // g) * KK).transpose(0, 2, 1)      # (g, K', C/g)
        y = xp.empty((N, O) + out_hw, dtype=x.dtype)
        for part in batch_chunks(N, O * KK * H * W_ * x.itemsize):
            n = part.stop - part.start
            x_mat = x[part].transpose(1, 0, 2, 3).reshape(g, C // g, n * H * W_)  # (g, C/g, n H W)
            cols = xp.matmul(w_mat, x_mat)                                  # (g, K', n H W)
            cols = cols.reshape(O, ksize[0], ksize[1], n, H, W_)            # (O, KH, KW, n, H, W)
            y[part] = col2im(cols, out_hw, stride, padding, dilation)       # (n, O, OH', OW')
        return y

    def backward(self, gy):
        x, w = self.saved_tensors
        gx = gw = None
        if x.requires_grad:
            gx = Conv2dFunction(self.geo, x.shape[2:])(gy, w)               # (N, C, H, W)
        if w.requires_grad:
            gw = Conv2dWeightGrad(self.geo)(gy, x)                          # (C, O/g, KH, KW)
        return gx, gw


class Conv2dWeightGrad(Function):
    """G = dL/dW of y = conv(x, W) given gy:  G[o, c, kh, kw] = sum_{n, oh, ow}
    gy[n, o, oh, ow] x_pad[n, g(o) C/g + c, oh sH + kh dH, ow sW + kw dW]

    (a correlation of the input with the upstream gradient), computed as the
    GEMM (g, O/g, N L) @ (g, N L, K). x (N, C, H, W), gy (N, O, OH, OW) ->
    G (O, C/g, KH, KW). G is bilinear in (x, gy), and its backward is made of
    conv2d and conv_transpose2d again, so any order of derivative works.
    """

    def __init__(self, geometry: _Geometry):
        self.geo = geometry

    def forward(self, x, gy):
        xp = xp_of(x)
        ksize, stride, padding, dilation, g = self.geo.args()
        N, C, H, W_ = x.shape
        O, OH, OW = gy.shape[1:]
        K = (C // g) * ksize[0] * ksize[1]
        self.save_for_backward(x, gy)
        G = xp.zeros((g, O // g, K), dtype=x.dtype)
        for part in batch_chunks(N, C * ksize[0] * ksize[1] * OH * OW * x.itemsize):
            n = part.stop - part.start
            cols = im2col(x[part], ksize, stride, padding, dilation, (OH, OW))
            cols = cols.reshape(g, K, n * OH * OW)                          # (g, K, n L)
            gy_mat = gy[part].transpose(1, 0, 2, 3).reshape(g, O // g, n * OH * OW)
            G += xp.matmul(gy_mat, cols.transpose(0, 2, 1))                 # (g, O/g, K)
        return G.reshape(O, C // g, ksize[0], ksize[1])

    def backward(self, gG):
        x, gy = self.saved_tensors
        gx = ggy = None
        if x.requires_grad:
            op = self.geo.output_padding_for(x.shape[2:], gy.shape[2:])
            gx = ConvTranspose2dFunction(self.geo, op)(gy, gG)              # (N, C, H, W)
        if gy.requires_grad:
            ggy = Conv2dFunction(self.geo, gy.shape[2:])(x, gG)             # (N, O, OH, OW)
        return gx, ggy


# ============================================================================
# argument handling and checks (errors name the argument and the fix)
# ============================================================================

def _pair(value, name):
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if isinstance(value, int):
        return (value, value)
    try:
        pair = tuple(int(v) for v in value)
    except TypeError:
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}") from None
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return pair


def _check_positive(pair, name):
    if min(pair) < 1:
        raise ValueError(f"{name} must be positive, got {pair}")


def _check_input(x, weight, op_name):
    if x.ndim not in (3, 4):
        raise ValueError(f"{op_name}: expected input of rank 4 (N, C, H, W) or rank 3 (C, H, W), "
                         f"got rank {x.ndim} with shape {x.shape}")
    if weight.ndim != 4:
        raise ValueError(f"{op_name}: expected a 4-D weight, got weight of shape {weight.shape}")
    if x.dtype != weight.dtype:
        raise TypeError(f"{op_name}: input dtype {x.dtype} and weight dtype {weight.dtype} differ; "
                        "convert one (e.g. .float() or .double()) first")


def _same_padding(kernel_size, dilation):
    """'same' padding d (K - 1) split as (total // 2 before, the rest after), as in PyTorch."""
    totals = [d * (k - 1) for k, d in zip(kernel_size, dilation)]
    return tuple(t // 2 for t in totals), tuple(t - t // 2 for t in totals)


def _add_bias(y, bias, name):
    if bias is None:
        return y
    if bias.shape != (y.shape[1],):
        raise ValueError(f"{name}: bias must have shape ({y.shape[1]},) for {y.shape[1]} output "
                         f"channels, got bias of shape {bias.shape}")
    return y + bias.reshape(1, y.shape[1], 1, 1)                    # broadcast over N, H, W


# ============================================================================
# public functions
# ============================================================================

def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """PyTorch's ``F.conv2d``: x (N, C, H, W) or (C, H, W), weight (O, C/groups, KH, KW).

    ``padding``: an int, a pair, or 'valid' (none) / 'same' (output size =
    input size; stride 1 only; an odd total is split with the extra row at
    the bottom/right, as PyTorch does).
    """
    _check_input(x, weight, "conv2d")
    if x.ndim == 3:                                       # unbatched (C, H, W)
        return conv2d(x.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0)
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    _check_positive(stride, "stride")
    _check_positive(dilation, "dilation")
    kernel = tuple(weight.shape[2:])
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            if stride != (1, 1):
                raise ValueError(f"conv2d: padding='same' needs stride 1, got stride={stride}; "
                                 "pad explicitly for strided convolutions")
            before, after = _same_padding(kernel, dilation)
            if before != after:                           # odd total: one extra row/col after
                extra = (0, 0), (0, 0), (0, after[0] - before[0]), (0, after[1] - before[1])
                x = _pad(x, extra)
            padding = before
        else:
            raise ValueError(f"conv2d: padding must be an int, a pair, 'valid' or 'same', "
                             f"got {padding!r}")
    padding = _pair(padding, "padding")
    if min(padding) < 0:
        raise ValueError(f"conv2d: padding must be non-negative, got {padding}")
    N, C, H, W = x.shape
    O = weight.shape[0]
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    if C % groups or O % groups:
        raise ValueError(f"conv2d: in_channels ({C}) and out_channels ({O}) must both be "
                         f"divisible by groups ({groups})")
    if weight.shape[1] * groups != C:
        raise ValueError(f"conv2d: input has {C} channels (shape {x.shape}) but the weight of "
                         f"shape {weight.shape} with groups={groups} expects "
                         f"{weight.shape[1] * groups}")
    for axis, (size, k, p, d) in enumerate(zip((H, W), kernel, padding, dilation)):
        if size + 2 * p < d * (k - 1) + 1:
            raise ValueError(
                f"conv2d: kernel_size {kernel} (dilation {dilation}, effective "
                f"{d * (k - 1) + 1}) is larger than the padded input ({size} + 2*{p} = "
                f"{size + 2 * p}) along {'HW'[axis]}; use a smaller kernel or more padding")
    geo = _Geometry(kernel, stride, padding, dilation, groups)
    out_size = tuple(conv_output_size(i, k, s, p, d) for i, k, s, p, d in zip(
        (H, W), kernel, stride, padding, dilation))
    return _add_bias(Conv2dFunction(geo, out_size)(x, weight), bias, "conv2d")


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """PyTorch's ``F.conv_transpose2d``: x (N, C, H, W), weight (C, O/groups, KH, KW).

    Output side: (H - 1) stride - 2 padding + dilation (KH - 1) + output_padding + 1.
    ``output_padding`` (< stride or < dilation) adds rows at the bottom/right:
    several input sizes give the same conv2d output size, and it picks which.
    """
    _check_input(x, weight, "conv_transpose2d")
    if x.ndim == 3:
        return conv_transpose2d(x.unsqueeze(0), weight, bias, stride, padding, output_padding,
                                groups, dilation).squeeze(0)
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    padding, output_padding = _pair(padding, "padding"), _pair(output_padding, "output_padding")
    _check_positive(stride, "stride")
    _check_positive(dilation, "dilation")
    if min(padding) < 0 or min(output_padding) < 0:
        raise ValueError(f"conv_transpose2d: padding {padding} and output_padding "
                         f"{output_padding} must be non-negative")
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= s and op >= d:
            raise ValueError(f"conv_transpose2d: output_padding {output_padding} must be smaller "
                             f"than either stride {stride} or dilation {dilation}")
    N, C, H, W = x.shape
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"conv_transpose2d: groups must be a positive int, got {groups!r}")
    if C != weight.shape[0]:
        raise ValueError(f"conv_transpose2d: input has {C} channels (shape {x.shape}) but the "
                         f"weight of shape {weight.shape} expects {weight.shape[0]} "
                         "(weight layout: (in_channels, out_channels/groups, KH, KW))")
    if C % groups:
        raise ValueError(f"conv_transpose2d: in_channels ({C}) must be divisible by groups "
                         f"({groups})")
    kernel = tuple(weight.shape[2:])
    out_hw = tuple(conv_transpose_output_size(i, k, s, p, d, op) for i, k, s, p, d, op in zip(
        (H, W), kernel, stride, padding, dilation, output_padding))
    if min(out_hw) < 1:
        raise ValueError(f"conv_transpose2d: output size {out_hw} is not positive for input "
                         f"{(H, W)}, kernel_size {kernel}, stride {stride}, padding {padding}: "
                         "reduce the padding")
    geo = _Geometry(kernel, stride, padding, dilation, groups)
    y = ConvTranspose2dFunction(geo, output_padding)(x, weight)
    return _add_bias(y, bias, "conv_transpose2d")


def conv2d_weight_grad(x, grad_output, kernel_size, stride=1, padding=0, dilation=1, groups=1):
    """dL/dW of ``conv2d(x, W, stride, padding, dilation, groups)`` given dL/dy = grad_output.

    x (N, C, H, W), grad_output (N, O, OH, OW) -> (O, C/groups, KH, KW). Differentiable.
    """
    geo = _Geometry(_pair(kernel_size, "kernel_size"), _pair(stride, "stride"),
                    _pair(padding, "padding"), _pair(dilation, "dilation"), groups)
    return Conv2dWeightGrad(geo)(x, grad_output)


def conv2d_naive(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Slow reference conv2d: a Python loop over kernel offsets (kh, kw) and groups.

        y[n, :, oh, ow] = sum_{kh, kw}  W[:, :, kh, kw] @ x_pad[n, :, oh s + kh d, ow s + kw d]

    Written with Tensor ops only (pad, strided slicing, matmul), so its
    gradients come from autograd: an independent check of the fast
    im2col/GEMM path and of its hand-written backward. Numeric padding only.
    """
    (sH, sW), (pH, pW) = _pair(stride, "stride"), _pair(padding, "padding")
    dH, dW = _pair(dilation, "dilation")
    N, C, H, W = x.shape
    O, Cg, KH, KW = weight.shape
    OH, OW = conv_output_size(H, KH, sH, pH, dH), conv_output_size(W, KW, sW, pW, dW)
    xpad = _pad(x, ((0, 0), (0, 0), (pH, pH), (pW, pW)))                 # (N, C, Hp, Wp)
    Og = O // groups
    outs = []
    for gi in range(groups):
        y = None
        for kh in range(KH):
            for kw in range(KW):
                rows = slice(kh * dH, kh * dH + sH * (OH - 1) + 1, sH)
                colz = slice(kw * dW, kw * dW + sW * (OW - 1) + 1, sW)
                patch = xpad[:, gi * Cg:(gi + 1) * Cg, rows, colz]        # (N, C/g, OH, OW)
                w_k = weight[gi * Og:(gi + 1) * Og, :, kh, kw]            # (O/g, C/g)
                term = w_k @ patch.permute(1, 0, 2, 3).reshape(Cg, N * OH * OW)  # (O/g, N L)
                y = term if y is None else y + term
        outs.append(y)
    y = concat(outs, 0).reshape(O, N, OH, OW).permute(1, 0, 2, 3)          # (N, O, OH, OW)
    return y if bias is None else y + bias.reshape(1, O, 1, 1)
