"""Composite functions written only with Tensor ops (PyTorch's ``torch.nn.functional``).

Nothing here has a hand-written backward: each function is a short
composition of primitives from :mod:`tinygen.ops`, so its first and second
derivatives follow automatically and exactly.

Losses take ``reduction`` = ``"mean"`` (default), ``"sum"`` or ``"none"``.
"""
from __future__ import annotations

import functools
import math

from tinygen import backend, ops
from tinygen.autograd import Tensor, as_tensor, is_floating_dtype
from tinygen.ops import (  # noqa: F401  (re-exported activations)
    leaky_relu, relu, sigmoid, softplus, tanh,
)

# Layer functionals live beside their primitives and are re-exported here so
# that ``F.conv2d``, ``F.batch_norm``... read as in PyTorch.
from tinygen.ops.conv import conv2d, conv3d, conv_transpose2d, conv_transpose3d  # noqa: F401
from tinygen.ops.misc import dropout, dropout2d, embedding  # noqa: F401
from tinygen.ops.norm import batch_norm, group_norm, instance_norm, layer_norm  # noqa: F401
from tinygen.ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d  # noqa: F401
from tinygen.ops.resample import interpolate, pad, pixel_shuffle, pixel_unshuffle  # noqa: F401


def _on_input_device(fn):
    """Run ``fn`` with its first argument's GPU as CuPy's current device.

    For the few functions here whose body computes on raw arrays (index tables, masks):
    CuPy runs those kernels on the *current* GPU, which need not be the input's.
    """
    @functools.wraps(fn)
    def on_device(x, *args, **kwargs):
        with backend.device_scope(x):
            return fn(x, *args, **kwargs)
    return on_device


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_same_shape(name, input, target):
    if input.shape != target.shape:
        raise ValueError(f"{name}: input shape {input.shape} and target shape {target.shape} "
                         "differ (broadcasting a loss silently is a classic bug)")


# ============================================================================
# layers and activations
# ============================================================================

def linear(x, weight, bias=None):
    """y = x W^T + b.  Shapes: x (*, in), W (out, in), b (out,) -> y (*, out).

    The input's dtype must be the weight's (PyTorch's rule, as conv2d's): a float64 batch
    into a float32 layer is an error, not a silent float64 computation.
    """
    if isinstance(x, Tensor) and x.dtype != weight.dtype:
        raise TypeError(f"linear: input is {x.dtype} (shape {x.shape}) but the weight is "
                        f"{weight.dtype}; convert one: x.to({weight.dtype}) or module.double()")
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input has {x.shape[-1]} features (shape {x.shape}) but the "
                         f"weight expects {weight.shape[1]} (weight shape {weight.shape})")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):   # a broadcast bias
        return ops.matmul(x, ops.transpose(weight)) + bias
    return ops.linear(x, weight, bias)                 # one primitive (ops/linalg.py)


def elu(x, alpha: float = 1.0):
    """ELU(x) = x for x > 0, alpha (e^x - 1) otherwise (Clevert et al. 2015)."""
    negative = alpha * (ops.minimum(x, 0.0).exp() - 1.0)
    return ops.where(x._data > 0, x, negative)


def gelu(x, approximate: str = "none"):
    """GELU(x) = x Phi(x), Phi the standard normal CDF = (1 + erf(x / sqrt 2)) / 2
    (Hendrycks & Gimpel 2016, "Gaussian Error Linear Units", arXiv:1606.08415, Sec. 2).

    ``approximate="tanh"``: the paper's 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    """
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1.0 + ops.tanh(inner))
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return 0.5 * x * (1.0 + ops.erf(x * (1.0 / math.sqrt(2.0))))


def silu(x):
    """SiLU(x) = x sigmoid(x) (Elfwing et al. 2017, arXiv:1702.03118; "Swish" with beta = 1)."""
    return x * ops.sigmoid(x)


def prelu(x, weight):
    """PReLU(x) = x for x > 0, a x otherwise, a learnt (He et al. 2015, arXiv:1502.01852, eq. 1).

    Shapes: x (N, C, *), weight (1,) shared or (C,) one slope per channel (dimension 1).
    """
    a = weight if weight.numel() == 1 or x.ndim < 2 else \
        weight.reshape((1, -1) + (1,) * (x.ndim - 2))
    return ops.where(x._data > 0, x, a * x)


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """PyTorch's ``F.conv1d``: a conv2d of height 1.

    Shapes: x (N, C, L) or (C, L), weight (O, C/groups, K) -> (N, O, L_out),
    L_out = floor((L + 2 padding - dilation (K - 1) - 1) / stride) + 1.
    """
    if x.ndim == 2:                                        # unbatched (C, L)
        return conv1d(x.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0)
    first = lambda v: v[0] if isinstance(v, (tuple, list)) else v     # noqa: E731
    pad = padding if isinstance(padding, str) else (0, first(padding))
    y = conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias, (1, first(stride)), pad,
               (1, first(dilation)), groups)               # (N, O, 1, L_out)
    return y.squeeze(2)


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """PyTorch's ``F.max_pool1d``: a max_pool2d of height 1.  Shapes: (N, C, L) -> (N, C, L_out)."""
    if x.ndim == 2:
        return max_pool1d(x.unsqueeze(0), kernel_size, stride, padding, dilation, ceil_mode,
                          return_indices).squeeze(0)
    first = lambda v: v[0] if isinstance(v, (tuple, list)) else v     # noqa: E731
    stride = kernel_size if stride is None else stride
    y = max_pool2d(x.unsqueeze(2), (1, first(kernel_size)), (1, first(stride)),
                   (0, first(padding)), (1, first(dilation)), ceil_mode, return_indices)
    if return_indices:
        return y[0].squeeze(2), y[1].squeeze(2)
    return y.squeeze(2)


def softmax(x, dim: int = -1):
    """softmax(x)_i = exp(x_i - logsumexp(x))."""
    return (x - ops.logsumexp(x, dim, keepdim=True)).exp()


def log_softmax(x, dim: int = -1):
    """log softmax(x)_i = x_i - logsumexp(x), stable for any logits."""
    return x - ops.logsumexp(x, dim, keepdim=True)


@_on_input_device
def one_hot(labels, num_classes: int, dtype=None) -> Tensor:
    """(N,) integer labels -> (N, num_classes) one-hot rows (a constant, no gradient)."""
    data = labels._data if isinstance(labels, Tensor) else labels
    xp = backend.get_array_module(data)
    eye = xp.eye(num_classes, dtype=dtype or backend.default_float_dtype())
    return Tensor(eye[xp.asarray(data)])


# ============================================================================
# losses
# ============================================================================

@_on_input_device
def nll_loss(log_probs, target, weight=None, reduction: str = "mean", ignore_index: int = -100):
    """Negative log-likelihood  -log p[n, t_n]  from log-probabilities (N, C, *d).

    target: int class indices (N, *d). With ``weight`` (C,), each term is
    weighted by weight[t_n] and "mean" divides by the sum of those weights
    (PyTorch's convention).
    """
    t = target._data if isinstance(target, Tensor) else target
    xp = backend.get_array_module(log_probs._data)
    on_host = backend.device_of(t) == "cpu" if hasattr(t, "dtype") else True
    t = backend.numpy.asarray(t) if on_host else t
    if log_probs.ndim < 2:
        raise ValueError(f"nll_loss: input must be (N, C, ...), got shape {log_probs.shape}")
    if t.shape != log_probs.shape[:1] + log_probs.shape[2:]:
        raise ValueError(f"nll_loss: target shape {t.shape} does not match input "
                         f"{log_probs.shape} (expected {log_probs.shape[:1] + log_probs.shape[2:]})")
    if t.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: target must hold integer class indices, got {t.dtype}")
    C = log_probs.shape[1]
    # Move classes last and flatten: (M, C) rows, one target each.
    lp = ops.permute(log_probs, (0,) + tuple(range(2, log_probs.ndim)) + (1,)).reshape(-1, C)
    t = t.reshape(-1)
    valid = t != ignore_index
    outside = ((t < 0) | (t >= C)) & valid
    if on_host and bool(outside.any()):
        raise IndexError(f"nll_loss: target values must lie in [0, {C}), got min {int(t.min())}, "
                         f"max {int(t.max())}")
    if on_host:
        t, valid, outside = (backend.to_device(a, backend.device_of(log_probs._data))
                             for a in (t, valid, outside))
    safe_t = xp.where(valid & ~outside, t, 0)
    picked = -lp[xp.arange(t.shape[0]), safe_t]            # (M,)
    if not on_host:
        # A target already on the GPU is not read back to check its range (that would wait
        # for the device; PyTorch asserts inside its kernel instead): a target outside [0, C)
        # makes its term NaN, which stops a run at its next log line.
        picked = picked + Tensor(xp.where(outside, xp.nan, 0.0).astype(log_probs.dtype))
    w = xp.ones(t.shape, dtype=log_probs.dtype) if weight is None else \
        (weight._data if isinstance(weight, Tensor) else xp.asarray(weight))[safe_t]
    w = Tensor((w * valid).astype(log_probs.dtype))
    losses = picked * w
    if reduction == "mean":
        return losses.sum() / w.sum()
    if reduction == "none":
        return losses.reshape(tuple(log_probs.shape[:1] + log_probs.shape[2:]))
    return _reduce(losses, reduction)


def cross_entropy(logits, target, weight=None, reduction: str = "mean",
                  label_smoothing: float = 0.0, ignore_index: int = -100):
    """Cross-entropy of softmax(logits) against class indices (or class probabilities).

    With label smoothing eps the target distribution is (1 - eps) one_hot + eps / C
    (Szegedy et al. 2016, "Rethinking the Inception Architecture", arXiv:1512.00567,
    sec. 7), i.e.  loss_n = (1 - eps) nll_n + (eps / C) sum_c w_c (-log p_nc).
    As in PyTorch, ignored targets contribute nothing to either term, and "mean"
    divides both terms by the same sum of weights w[t_n] (the count of
    non-ignored targets without ``weight``).
    Shapes: logits (N, C, *d); target (N, *d) ints, or (N, C, *d) probabilities.
    """
    log_p = log_softmax(logits, dim=1)
    C = logits.shape[1]
    w_c = None       # class weights shaped (1, C, 1, ...) to broadcast against log_p
    if weight is not None:
        w_c = as_tensor(weight._data if isinstance(weight, Tensor) else weight, log_p)
        w_c = ops.cast(w_c, log_p.dtype).reshape((1, C) + (1,) * (log_p.ndim - 2))
    if isinstance(target, Tensor) and target.shape == logits.shape and \
            is_floating_dtype(target.dtype):
        q = target * (1.0 - label_smoothing) + label_smoothing / C
        terms = q * log_p if w_c is None else q * log_p * w_c
        return _reduce(-terms.sum(1), reduction)
    nll = nll_loss(log_p, target, weight, reduction, ignore_index)
    if label_smoothing == 0.0:
        return nll
    t = backend.get_array_module(log_p._data).asarray(target._data if isinstance(target, Tensor) else target)
    valid = Tensor((t != ignore_index).astype(log_p.dtype))         # (N, *d)
    smooth = -(log_p if w_c is None else log_p * w_c).sum(1) * valid  # (N, *d)
    if reduction == "mean":
        if w_c is None:
            denominator = valid.sum()
        else:
            w = weight._data if isinstance(weight, Tensor) else weight
            denominator = Tensor((w[t * (t != ignore_index)] * valid._data).sum())
        smooth = smooth.sum() / denominator
    else:
        smooth = _reduce(smooth, reduction)
    return nll * (1.0 - label_smoothing) + smooth * (label_smoothing / C)


def binary_cross_entropy(p, target, weight=None, reduction: str = "mean"):
    """-[y log p + (1 - y) log(1 - p)] for probabilities p in [0, 1].

    As in PyTorch each log is clamped at -100, so p = 0 or 1 gives a finite
    loss (here via log(max(p, e^-100)), which keeps the gradient finite too).
    """
    target = as_tensor(target, p)
    _check_same_shape("binary_cross_entropy", p, target)
    if bool(((p._data < 0) | (p._data > 1)).any()):
        raise ValueError("binary_cross_entropy: input must be probabilities in [0, 1]; "
                         "for logits use binary_cross_entropy_with_logits")
    floor = math.exp(-100)
    loss = -(target * ops.clip(p, floor, None).log()
             + (1.0 - target) * ops.clip(1.0 - p, floor, None).log())
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(logits, target, weight=None, reduction: str = "mean",
                                     pos_weight=None):
    """BCE on logits x, stable for any |x|:  softplus(x) - y x.

    Derivation: -[y log s(x) + (1-y) log(1-s(x))] with log s(x) = -softplus(-x)
    and log(1 - s(x)) = -softplus(x) gives y softplus(-x) + (1-y) softplus(x)
    = softplus(x) - y x. With ``pos_weight`` p the positive term is scaled:
    (1 - y) x + (1 + (p - 1) y) softplus(-x).
    """
    target = as_tensor(target, logits)
    _check_same_shape("binary_cross_entropy_with_logits", logits, target)
    if pos_weight is None:
        loss = softplus(logits) - target * logits
    else:
        loss = (1.0 - target) * logits + (1.0 + (pos_weight - 1.0) * target) * softplus(-logits)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def mse_loss(input, target, reduction: str = "mean"):
    """(x - y)^2, averaged over every element by default."""
    target = as_tensor(target, input)
    _check_same_shape("mse_loss", input, target)
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input, target, reduction: str = "mean"):
    """|x - y|."""
    target = as_tensor(target, input)
    _check_same_shape("l1_loss", input, target)
    return _reduce((input - target).abs(), reduction)


def smooth_l1_loss(input, target, reduction: str = "mean", beta: float = 1.0):
    """0.5 d^2 / beta for |d| < beta, |d| - 0.5 beta otherwise (Girshick 2015, Fast R-CNN eq. 3)."""
    target = as_tensor(target, input)
    _check_same_shape("smooth_l1_loss", input, target)
    d = (input - target).abs()
    if beta == 0:
        return _reduce(d, reduction)
    quadratic = ops.minimum(d, beta)       # = d inside, beta outside
    linear = d - quadratic                 # = 0 inside, d - beta outside
    return _reduce(0.5 * quadratic * quadratic / beta + linear, reduction)


def kl_div(input, target, reduction: str = "mean", log_target: bool = False):
    """Pointwise KL  target (log target - input), with ``input`` = log q (PyTorch's convention).

    Terms with target = 0 contribute 0 (0 log 0 = 0). ``reduction="batchmean"``
    divides the sum by the batch size and is the true KL(target || q) per sample.
    """
    target = as_tensor(target, input)
    _check_same_shape("kl_div", input, target)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        log_t = ops.clip(target, 1e-300 if target.dtype == backend.numpy.float64 else 1e-38,
                         None).log()
        loss = target * (log_t - input)
    if reduction == "batchmean":
        return loss.sum() / float(input.shape[0])
    return _reduce(loss, reduction)


def __getattr__(name):
    """``F.something_missing``: an AttributeError that names tinygen's nearest equivalent."""
    from tinygen import torchnames
    raise torchnames.missing("tinygen.functional", name, globals())
