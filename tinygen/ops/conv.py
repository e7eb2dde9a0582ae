"""2-D and 3-D convolution and transposed convolution, each the other's gradient.

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

Volumes (conv3d, conv_transpose3d; Wu et al. 2016's 3D-GAN, arXiv 1610.07584)
use the SAME three Functions: nothing above depends on the number of
spatial axes. x (N, C, D, H, W), W (O, C/g, KD, KH, KW), every geometry
argument a triple, im2col columns (g, C/g KD KH KW, N OD OH OW); the Function
reads the number of spatial axes from the input's rank (ndim - 2).

``conv2d_naive`` is the slow reference: a loop over kernel offsets written
with Tensor ops (slicing + matmul), so its gradients come from autograd and
test the hand-written ones above.
"""
from __future__ import annotations

import itertools

from tinygen import backend
from tinygen.autograd import Function
from tinygen.ops.im2col import (
    batch_chunks, col2im, col2im_channels_last, conv_output_size, conv_transpose_output_size,
    im2col,
)
from tinygen.ops.shape import concat, pad as _pad

xp_of = backend.get_array_module

__all__ = ["conv2d", "conv_transpose2d", "conv2d_weight_grad", "conv2d_naive",
           "conv3d", "conv_transpose3d", "conv_weight_grad", "conv3d_naive",
           "ConvFunction", "ConvTransposeFunction", "ConvWeightGrad",
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


def _channels_first(a):
    """(N, C, *S) <-> (C, N, *S): swap the first two axes (a view)."""
    return a.swapaxes(0, 1)


def _prod(sizes):
    out = 1
    for v in sizes:
        out *= v
    return out


class ConvFunction(Function):
    """y = conv(x, W): x (N, C, H, W), W (O, C/g, KH, KW) -> y (N, O, OH, OW).

    Any number of spatial axes: x (N, C, D, H, W), W (O, C/g, KD, KH, KW)
    -> y (N, O, OD, OH, OW) is conv3d, with the same code. ``out_size`` may be
    smaller than the natural output size: only the first OH x OW windows are
    computed (needed by the gradient of conv_transpose when output_padding >= stride).
    """

    def __init__(self, geometry: _Geometry, out_size):
        self.geo, self.out_size = geometry, tuple(out_size)

    def forward(self, x, w):
        xp = xp_of(x)
        ksize, stride, padding, dilation, g = self.geo.args()
        N, C = x.shape[:2]
        O = w.shape[0]
        L = _prod(self.out_size)                                           # OH OW
        K = (C // g) * _prod(ksize)                                        # C/g KH KW
        self.save_for_backward(x, w)
        w_mat = w.reshape(g, O // g, K)                                    # (g, O/g, K)
        y = xp.empty((O, N) + self.out_size, dtype=x.dtype)                # channel-first
        for part in batch_chunks(N, C * _prod(ksize) * L * x.itemsize):
            n = part.stop - part.start
            cols = im2col(x[part], ksize, stride, padding, dilation, self.out_size)
            cols = cols.reshape(g, K, n * L)                               # (g, K, n L)
            y[:, part] = xp.matmul(w_mat, cols).reshape((O, n) + self.out_size)  # one GEMM/group
        return xp.ascontiguousarray(_channels_first(y))                    # (N, O, OH, OW)

    def backward(self, gy):
        x, w = self.saved_tensors
        gx = gw = None
        if x.requires_grad:
            op = self.geo.output_padding_for(x.shape[2:], gy.shape[2:])
            gx = ConvTransposeFunction(self.geo, op)(gy, w)                # (N, C, H, W)
        if w.requires_grad:
            gw = ConvWeightGrad(self.geo)(x, gy)                           # (O, C/g, KH, KW)
        return gx, gw


class ConvTransposeFunction(Function):
    """y = conv(., Wt)^T x: x (N, C, H, W), Wt (C, O/g, KH, KW) -> y (N, O, OH', OW').

    OH' = (H - 1) s - 2p + d (KH - 1) + output_padding + 1. Computed as one
    GEMM  (g, K', C/g) @ (g, C/g, N H W) -> columns, then col2im scatters the
    columns onto the output canvas (K' = O/g KH KW). Volumes likewise, with a
    depth axis in front of H everywhere.

    Fast path (groups = 1, the usual case): the same GEMM with its operands swapped,
    x (N H W, C) @ Wt (C, KH KW O) -> columns (N, H, W, KH, KW, O), scattered by
    :func:`~tinygen.ops.im2col.col2im_channels_last` (runs of O contiguous numbers per add,
    instead of runs of W at stride s: taken when O >= W); 10-25 % faster at DCGAN shapes
    (benchmarks/conv.py), equal to the plain path up to the order of the floating-point sums
    (tested).
    """

    def __init__(self, geometry: _Geometry, output_padding):
        self.geo, self.output_padding = geometry, tuple(output_padding)

    def forward(self, x, w):
        xp = xp_of(x)
        ksize, stride, padding, dilation, g = self.geo.args()
        N, C = x.shape[:2]
        size = x.shape[2:]                                                  # (H, W)
        O = w.shape[1] * g
        KK = _prod(ksize)                                                   # KH KW
        out_size = tuple(conv_transpose_output_size(i, k, s, p, d, op) for i, k, s, p, d, op in zip(
            size, ksize, stride, padding, dilation, self.output_padding))
        self.save_for_backward(x, w)
        channels_last = O >= size[-1] if self.channels_last is None else self.channels_last
        if g == 1 and channels_last:                          # runs of O beat runs of W
            return self._forward_channels_last(x, w, out_size)
        w_mat = w.reshape(g, C // g, (O // g) * KK).transpose(0, 2, 1)      # (g, K', C/g)
        y = xp.empty((N, O) + out_size, dtype=x.dtype)
        for part in batch_chunks(N, O * KK * _prod(size) * x.itemsize):
            n = part.stop - part.start
            x_mat = _channels_first(x[part]).reshape(g, C // g, n * _prod(size))  # (g, C/g, n H W)
            cols = xp.matmul(w_mat, x_mat)                                  # (g, K', n H W)
            cols = cols.reshape((O,) + ksize + (n,) + size)                 # (O, KH, KW, n, H, W)
            y[part] = col2im(cols, out_size, stride, padding, dilation)     # (n, O, OH', OW')
        return y

    channels_last = None       # groups = 1: the fast path when O >= W (None), always (True),
                               # never (False: the plain path)

    def _forward_channels_last(self, x, w, out_size):
        xp = xp_of(x)
        ksize, stride, padding, dilation, _ = self.geo.args()
        N, C, size, O = x.shape[0], x.shape[1], x.shape[2:], w.shape[1]
        w_mat = xp.moveaxis(w, 1, -1).reshape(C, _prod(ksize) * O)         # (C, KH KW O)
        y = xp.empty((N, O) + out_size, dtype=x.dtype)
        for part in batch_chunks(N, O * _prod(ksize) * _prod(size) * x.itemsize):
            n = part.stop - part.start
            x_mat = xp.moveaxis(x[part], 1, -1).reshape(n * _prod(size), C)   # (n H W, C)
            cols = xp.matmul(x_mat, w_mat).reshape((n,) + size + ksize + (O,))  # (n,H,W,KH,KW,O)
            y[part] = col2im_channels_last(cols, out_size, stride, padding, dilation)
        return y

    def backward(self, gy):
        x, w = self.saved_tensors
        gx = gw = None
        if x.requires_grad:
            gx = ConvFunction(self.geo, x.shape[2:])(gy, w)                 # (N, C, H, W)
        if w.requires_grad:
            gw = ConvWeightGrad(self.geo)(gy, x)                            # (C, O/g, KH, KW)
        return gx, gw


class ConvWeightGrad(Function):
    """G = dL/dW of y = conv(x, W) given gy:  G[o, c, kh, kw] = sum_{n, oh, ow}
    gy[n, o, oh, ow] x_pad[n, g(o) C/g + c, oh sH + kh dH, ow sW + kw dW]

    (a correlation of the input with the upstream gradient), computed as the
    GEMM (g, O/g, N L) @ (g, N L, K). x (N, C, H, W), gy (N, O, OH, OW) ->
    G (O, C/g, KH, KW) (volumes: one more spatial axis in each). G is bilinear
    in (x, gy), and its backward is made of conv and conv_transpose again, so
    any order of derivative works.
    """

    def __init__(self, geometry: _Geometry):
        self.geo = geometry

    def forward(self, x, gy):
        xp = xp_of(x)
        ksize, stride, padding, dilation, g = self.geo.args()
        N, C = x.shape[:2]
        O, out_size = gy.shape[1], gy.shape[2:]
        L = _prod(out_size)
        K = (C // g) * _prod(ksize)
        self.save_for_backward(x, gy)
        G = xp.zeros((g, O // g, K), dtype=x.dtype)
        for part in batch_chunks(N, C * _prod(ksize) * L * x.itemsize):
            n = part.stop - part.start
            cols = im2col(x[part], ksize, stride, padding, dilation, out_size)
            cols = cols.reshape(g, K, n * L)                                # (g, K, n L)
            gy_mat = _channels_first(gy[part]).reshape(g, O // g, n * L)    # (g, O/g, n L)
            G += xp.matmul(gy_mat, cols.transpose(0, 2, 1))                 # (g, O/g, K)
        return G.reshape((O, C // g) + ksize)

    def backward(self, gG):
        x, gy = self.saved_tensors
        gx = ggy = None
        if x.requires_grad:
            op = self.geo.output_padding_for(x.shape[2:], gy.shape[2:])
            gx = ConvTransposeFunction(self.geo, op)(gy, gG)                # (N, C, H, W)
        if gy.requires_grad:
            ggy = ConvFunction(self.geo, gy.shape[2:])(x, gG)               # (N, O, OH, OW)
        return gx, ggy


# The 2-D names the rest of tinygen (and its tests) grew up with: the same classes.
Conv2dFunction, ConvTranspose2dFunction, Conv2dWeightGrad = (
    ConvFunction, ConvTransposeFunction, ConvWeightGrad)


# ============================================================================
# argument handling and checks (errors name the argument and the fix)
# ============================================================================

_AXES = {2: "HW", 3: "DHW"}
_TUPLE_WORD = {1: "an int", 2: "a pair of ints", 3: "a triple of ints"}


def _tuple(value, n, name):
    """An int or a sequence of n ints -> a tuple of n ints (PyTorch's _pair / _triple)."""
    what = f"{name} must be an int or {_TUPLE_WORD.get(n, f'{n} ints')}, got {value!r}"
    if isinstance(value, bool):
        raise TypeError(what)
    if isinstance(value, int):
        return (value,) * n
    try:
        out = tuple(int(v) for v in value)
    except TypeError:
        raise TypeError(what) from None
    if len(out) != n:
        raise ValueError(what)
    return out


def _pair(value, name):
    return _tuple(value, 2, name)


def _triple(value, name):
    return _tuple(value, 3, name)


def _check_positive(values, name):
    if min(values) < 1:
        raise ValueError(f"{name} must be positive, got {values}")


def _check_input(x, weight, op_name, nd):
    layout = "(N, C, " + ", ".join(_AXES[nd]) + ")"
    if x.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{op_name}: expected input of rank {nd + 2} {layout} or rank {nd + 1} "
                         f"{layout.replace('N, ', '')}, got rank {x.ndim} with shape {x.shape}")
    if weight.ndim != nd + 2:
        raise ValueError(f"{op_name}: expected a {nd + 2}-D weight, got weight of shape "
                         f"{weight.shape}")
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
    return y + bias.reshape((1, y.shape[1]) + (1,) * (y.ndim - 2))  # broadcast over N, H, W


# ============================================================================
# the shared bodies of the 2-D and 3-D public functions
# ============================================================================

def _conv(x, weight, bias, stride, padding, dilation, groups, nd, name):
    """conv2d (nd = 2) / conv3d (nd = 3): check, resolve the padding, call ConvFunction."""
    _check_input(x, weight, name, nd)
    if x.ndim == nd + 1:                                  # unbatched (C, H, W)
        return _conv(x.unsqueeze(0), weight, bias, stride, padding, dilation, groups, nd,
                     name).squeeze(0)
    stride, dilation = _tuple(stride, nd, "stride"), _tuple(dilation, nd, "dilation")
    _check_positive(stride, "stride")
    _check_positive(dilation, "dilation")
    kernel = tuple(weight.shape[2:])
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0,) * nd
        elif padding == "same":
            if stride != (1,) * nd:
                raise ValueError(f"{name}: padding='same' needs stride 1, got stride={stride}; "
                                 "pad explicitly for strided convolutions")
            before, after = _same_padding(kernel, dilation)
            if before != after:                           # odd total: one extra row/col after
                x = _pad(x, ((0, 0), (0, 0)) + tuple((0, a - b) for a, b in zip(after, before)))
            padding = before
        else:
            raise ValueError(f"{name}: padding must be an int, a tuple, 'valid' or 'same', "
                             f"got {padding!r}")
    padding = _tuple(padding, nd, "padding")
    if min(padding) < 0:
        raise ValueError(f"{name}: padding must be non-negative, got {padding}")
    N, C = x.shape[:2]
    O = weight.shape[0]
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{name}: groups must be a positive int, got {groups!r}")
    if C % groups or O % groups:
        raise ValueError(f"{name}: in_channels ({C}) and out_channels ({O}) must both be "
                         f"divisible by groups ({groups})")
    if weight.shape[1] * groups != C:
        raise ValueError(f"{name}: input has {C} channels (shape {x.shape}) but the weight of "
                         f"shape {weight.shape} with groups={groups} expects "
                         f"{weight.shape[1] * groups}")
    size = x.shape[2:]
    for axis, (i, k, p, d) in enumerate(zip(size, kernel, padding, dilation)):
        if i + 2 * p < d * (k - 1) + 1:
            raise ValueError(
                f"{name}: kernel_size {kernel} (dilation {dilation}, effective "
                f"{d * (k - 1) + 1}) is larger than the padded input ({i} + 2*{p} = "
                f"{i + 2 * p}) along {_AXES[nd][axis]}; use a smaller kernel or more padding")
    geo = _Geometry(kernel, stride, padding, dilation, groups)
    out_size = tuple(conv_output_size(i, k, s, p, d) for i, k, s, p, d in zip(
        size, kernel, stride, padding, dilation))
    return _add_bias(ConvFunction(geo, out_size)(x, weight), bias, name)


def _conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation, nd, name):
    """conv_transpose2d / conv_transpose3d: check, then call ConvTransposeFunction."""
    _check_input(x, weight, name, nd)
    if x.ndim == nd + 1:
        return _conv_transpose(x.unsqueeze(0), weight, bias, stride, padding, output_padding,
                               groups, dilation, nd, name).squeeze(0)
    stride, dilation = _tuple(stride, nd, "stride"), _tuple(dilation, nd, "dilation")
    padding = _tuple(padding, nd, "padding")
    output_padding = _tuple(output_padding, nd, "output_padding")
    _check_positive(stride, "stride")
    _check_positive(dilation, "dilation")
    if min(padding) < 0 or min(output_padding) < 0:
        raise ValueError(f"{name}: padding {padding} and output_padding "
                         f"{output_padding} must be non-negative")
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= s and op >= d:
            raise ValueError(f"{name}: output_padding {output_padding} must be smaller "
                             f"than either stride {stride} or dilation {dilation}")
    N, C = x.shape[:2]
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{name}: groups must be a positive int, got {groups!r}")
    if C != weight.shape[0]:
        layout = ", ".join("K" + a for a in _AXES[nd])
        raise ValueError(f"{name}: input has {C} channels (shape {x.shape}) but the "
                         f"weight of shape {weight.shape} expects {weight.shape[0]} "
                         f"(weight layout: (in_channels, out_channels/groups, {layout}))")
    if C % groups:
        raise ValueError(f"{name}: in_channels ({C}) must be divisible by groups ({groups})")
    kernel = tuple(weight.shape[2:])
    size = tuple(x.shape[2:])
    out_size = tuple(conv_transpose_output_size(i, k, s, p, d, op) for i, k, s, p, d, op in zip(
        size, kernel, stride, padding, dilation, output_padding))
    if min(out_size) < 1:
        raise ValueError(f"{name}: output size {out_size} is not positive for input "
                         f"{size}, kernel_size {kernel}, stride {stride}, padding {padding}: "
                         "reduce the padding")
    geo = _Geometry(kernel, stride, padding, dilation, groups)
    y = ConvTransposeFunction(geo, output_padding)(x, weight)
    return _add_bias(y, bias, name)


# ============================================================================
# public functions
# ============================================================================

def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """PyTorch's ``F.conv2d``: x (N, C, H, W) or (C, H, W), weight (O, C/groups, KH, KW).

    ``padding``: an int, a pair, or 'valid' (none) / 'same' (output size =
    input size; stride 1 only; an odd total is split with the extra row at
    the bottom/right, as PyTorch does).
    """
    return _conv(x, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def conv3d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """PyTorch's ``F.conv3d``: x (N, C, D, H, W) or (C, D, H, W), weight (O, C/groups, KD, KH, KW).

    The same Function as conv2d with a depth axis; ``padding`` an int, a
    triple, 'valid' or 'same'. OD = floor((D + 2 pD - dD (KD - 1) - 1) / sD) + 1.
    """
    return _conv(x, weight, bias, stride, padding, dilation, groups, 3, "conv3d")


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """PyTorch's ``F.conv_transpose2d``: x (N, C, H, W), weight (C, O/groups, KH, KW).

    Output side: (H - 1) stride - 2 padding + dilation (KH - 1) + output_padding + 1.
    ``output_padding`` (< stride or < dilation) adds rows at the bottom/right:
    several input sizes give the same conv2d output size, and it picks which.
    """
    return _conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation,
                           2, "conv_transpose2d")


def conv_transpose3d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """PyTorch's ``F.conv_transpose3d``: x (N, C, D, H, W), weight (C, O/groups, KD, KH, KW).

    Each output side: (D - 1) stride - 2 padding + dilation (KD - 1) + output_padding + 1,
    as conv_transpose2d along every axis.
    """
    return _conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation,
                           3, "conv_transpose3d")


def conv2d_weight_grad(x, grad_output, kernel_size, stride=1, padding=0, dilation=1, groups=1):
    """dL/dW of ``conv2d(x, W, stride, padding, dilation, groups)`` given dL/dy = grad_output.

    x (N, C, H, W), grad_output (N, O, OH, OW) -> (O, C/groups, KH, KW). Differentiable.
    """
    return conv_weight_grad(x, grad_output, kernel_size, stride, padding, dilation, groups)


def conv_weight_grad(x, grad_output, kernel_size, stride=1, padding=0, dilation=1, groups=1):
    """dL/dW of ``conv2d`` or ``conv3d`` (the input's rank says which) given dL/dy."""
    nd = x.ndim - 2
    geo = _Geometry(_tuple(kernel_size, nd, "kernel_size"), _tuple(stride, nd, "stride"),
                    _tuple(padding, nd, "padding"), _tuple(dilation, nd, "dilation"), groups)
    return ConvWeightGrad(geo)(x, grad_output)


def conv2d_naive(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Slow reference conv2d: a Python loop over kernel offsets (kh, kw) and groups.

        y[n, :, oh, ow] = sum_{kh, kw}  W[:, :, kh, kw] @ x_pad[n, :, oh s + kh d, ow s + kw d]

    Written with Tensor ops only (pad, strided slicing, matmul), so its
    gradients come from autograd: an independent check of the fast
    im2col/GEMM path and of its hand-written backward. Numeric padding only.
    The same loop serves volumes: :func:`conv3d_naive`.
    """
    return _conv_naive(x, weight, bias, stride, padding, dilation, groups)


def conv3d_naive(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Slow reference conv3d: the loop of :func:`conv2d_naive` over (kd, kh, kw)."""
    return _conv_naive(x, weight, bias, stride, padding, dilation, groups)


def _conv_naive(x, weight, bias, stride, padding, dilation, groups):
    nd = x.ndim - 2
    stride, padding = _tuple(stride, nd, "stride"), _tuple(padding, nd, "padding")
    dilation = _tuple(dilation, nd, "dilation")
    N, C = x.shape[:2]
    O, Cg = weight.shape[:2]
    kernel = tuple(weight.shape[2:])
    out = tuple(conv_output_size(i, k, s, p, d) for i, k, s, p, d in zip(
        x.shape[2:], kernel, stride, padding, dilation))
    L = _prod(out)
    xpad = _pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in padding))    # (N, C, Hp, Wp)
    Og = O // groups
    outs = []
    for gi in range(groups):
        y = None
        for offset in itertools.product(*(range(k) for k in kernel)):    # (kh, kw)
            window = tuple(slice(k * d, k * d + s * (o - 1) + 1, s) for k, d, s, o in zip(
                offset, dilation, stride, out))
            patch = xpad[(slice(None), slice(gi * Cg, (gi + 1) * Cg)) + window]  # (N, C/g, OH, OW)
            w_k = weight[(slice(gi * Og, (gi + 1) * Og), slice(None)) + offset]  # (O/g, C/g)
            term = w_k @ patch.permute(1, 0, *range(2, 2 + nd)).reshape(Cg, N * L)  # (O/g, N L)
            y = term if y is None else y + term
        outs.append(y)
    y = concat(outs, 0).reshape((O, N) + out).permute(1, 0, *range(2, 2 + nd))  # (N, O, OH, OW)
    return y if bias is None else y + bias.reshape((1, O) + (1,) * nd)
