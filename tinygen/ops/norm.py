"""Normalisation layers: batch, instance, layer and group norm — one idea, four axis choices.

All four standardise ``x`` over some axes and then apply a learned per-channel
affine map (Ioffe & Szegedy 2015, "Batch Normalization: Accelerating Deep
Network Training by Reducing Internal Covariate Shift", arXiv 1502.03167,
Algorithm 1):

    mu_B      = mean of x over the axes                      (mini-batch mean)
    sigma_B^2 = mean of (x - mu_B)^2 over the axes           (BIASED variance)
    x_hat     = (x - mu_B) / sqrt(sigma_B^2 + eps)           (normalise)
    y         = gamma * x_hat + beta                         (scale and shift)

Which axes are averaged is the only difference between the layers:

    batch norm     (N, C, H, W): over N, H, W   -> one (mu, sigma) per channel
    instance norm  (N, C, H, W): over H, W      -> one per (sample, channel)
    layer norm     (N, *, D...): over the trailing ``normalized_shape`` axes
    group norm     (N, C, H, W): over (C/G, H, W) of each of G channel groups

Notation:
    x       input;   x_hat  standardised input;   y  output
    mu, sigma^2      mean and biased variance over the reduced axes
    inv_std          1 / sqrt(sigma^2 + eps)
    gamma, beta      ``weight`` and ``bias`` (PyTorch's names), one per channel
    n                number of values averaged per statistic
    g_xhat           dL/dx_hat, the upstream gradient of x_hat

The standardisation is :class:`Standardize`, one fused :class:`Function`.
Its backward is the compact formula (docs/batchnorm.md)

    gx = inv_std * (g_xhat - mean(g_xhat) - x_hat * mean(g_xhat * x_hat))

written with *Tensor ops* on the function's own *output tensors* x_hat and
inv_std (saved with ``save_for_backward``). Those carry the graph back to x,
so differentiating the backward
again (WGAN-GP's gradient penalty through a batch-normalised critic, for
instance) is exact. DeZero's batch norm caches a raw ``inv_std`` array in
forward and uses it as a constant in backward; its double backward then
misses every term that comes from d(inv_std)/dx. The sabotage test in
``tinygen_tests/test_12_norm.py`` shows gradgradcheck catching exactly that.

:func:`standardize_composite` is the same computation composed from
primitives (mean, var, sub, sqrt, div) with no hand-written backward: the
readable reference, tested against the fused version. The fused one is
used because it is about 1.5x faster (forward+backward of a (64, 128, 16, 16)
float32 batch norm on the CPU: 35 ms vs 52 ms, measured with
``python -m tinygen.ops.norm``; see docs/batchnorm.md).
"""
from __future__ import annotations

from tinygen import backend
from tinygen.autograd import Function, Tensor
from tinygen.ops.reduction import mean as _mean, var as _var

xp_of = backend.get_array_module

__all__ = ["batch_norm", "instance_norm", "layer_norm", "group_norm", "standardize",
           "standardize_composite", "Standardize"]


# ============================================================================
# the shared core: standardise over some axes
# ============================================================================

class Standardize(Function):
    """(x_hat, inv_std) = ((x - mu) * inv_std,  1 / sqrt(sigma^2 + eps)) over ``axes``.

    Forward (Ioffe & Szegedy 2015, Algorithm 1, first three lines), on arrays:

        mu      = mean(x)                      # kept dims: 1 on each reduced axis
        sigma^2 = mean((x - mu)^2)             # biased: divides by n, not n - 1
        inv_std = (sigma^2 + eps)^(-1/2)
        x_hat   = (x - mu) * inv_std

    Backward, with every mean taken over ``axes`` and broadcast back:

        gx = inv_std * (g_xhat - mean(g_xhat) - x_hat * mean(g_xhat * x_hat))
             - x_hat * inv_std^2 * sum(g_inv_std) / n

    The second line is the path through inv_std itself
    (d inv_std / d x_i = -inv_std^3 (x_i - mu) / n = -inv_std^2 x_hat_i / n);
    it is zero unless someone uses the inv_std output (double backward does).

    Both terms are computed from the saved outputs x_hat and inv_std, which
    ``saved_tensors`` returns as Tensors whose graph leads back to x through
    this very function, so gradients of this backward are exact. No raw
    array from forward is reused in backward. (``self.mean`` and ``self.var``
    are kept only for the running-statistics update, which is not
    differentiated.) The caller may drop the inv_std output: it is saved here.

    Shapes:
        x        (...)            any shape
        x_hat    same as x
        inv_std  x.shape with 1 on each reduced axis
    """

    def __init__(self, axes, eps):
        self.axes, self.eps = tuple(axes), float(eps)

    def forward(self, x):
        xp = xp_of(x)
        mu = x.mean(axis=self.axes, keepdims=True)                    # (1, C, 1, 1) for BN
        centred = x - mu                                               # (N, C, H, W)
        var = (centred * centred).mean(axis=self.axes, keepdims=True)  # biased
        inv_std = (1.0 / xp.sqrt(var + self.eps)).astype(x.dtype)
        self.mean, self.var = mu, var                                  # running stats only
        x_hat = centred
        x_hat *= inv_std                                               # in place: saves a pass
        self.save_for_backward(x_hat, inv_std)                         # both outputs
        return x_hat, inv_std

    def backward(self, g_xhat, g_inv_std):
        x_hat, inv_std = self.saved_tensors
        n = 1
        for a in self.axes:
            n *= x_hat.shape[a]
        dims = self.axes
        gx = inv_std * (g_xhat - g_xhat.mean(dims, keepdim=True)
                        - x_hat * (g_xhat * x_hat).mean(dims, keepdim=True))
        if _may_be_nonzero(g_inv_std):
            gx = gx - x_hat * (inv_std * inv_std * g_inv_std / float(n))
        return gx


def _may_be_nonzero(g: Tensor) -> bool:
    """False only for a graph-free all-zero gradient (the engine's fill for an unused output).

    Skipping the inv_std term then changes no value and, because g has no
    graph, no derivative either.
    """
    if g.requires_grad or g.grad_fn is not None:
        return True
    return bool(xp_of(g._data).any(g._data))


def standardize(x, axes, eps=1e-5):
    """x_hat = (x - mean) / sqrt(biased var + eps) over ``axes``; also returns the statistics.

    Returns ``(x_hat, mean, var)``: ``mean`` and ``var`` are plain arrays (kept
    dims) for running-statistics updates, not differentiable.
    """
    f = Standardize(axes, eps)
    x_hat, _ = f(x)
    return x_hat, f.mean, f.var


def standardize_composite(x, axes, eps=1e-5):
    """The same as :func:`standardize`, composed from primitives (no hand-written backward).

    The readable reference: every derivative, of any order, comes from the
    primitives' own backwards.
    """
    mu = _mean(x, axes, keepdim=True)                  # (1, C, 1, 1) for batch norm
    var = _var(x, axes, keepdim=True, correction=0)    # biased variance
    x_hat = (x - mu) / (var + eps).sqrt()              # same shape as x
    return x_hat, mu._data, var._data


# ============================================================================
# helpers
# ============================================================================

def _channel_shape(x, name):
    """Shape that broadcasts a per-channel vector over (N, C, *): (1, C, 1, ...)."""
    if x.ndim < 2:
        raise ValueError(f"{name}: expected input of shape (N, C, *) with at least 2 dimensions, "
                         f"got shape {x.shape}")
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _data(t):
    return t._data if isinstance(t, Tensor) else t


def _check_vector(name, v, size, what, input=None):
    """``v`` is None or of shape (size,); given the ``input``, also on its device (a running
    statistic is a raw array: CuPy would refuse a host one deep inside with no names)."""
    if v is not None and tuple(v.shape) != (size,):
        raise ValueError(f"{name}: {what} has shape {tuple(v.shape)} but the input has {size} "
                         f"channels: expected shape ({size},)")
    where = None if v is None else v.device if isinstance(v, Tensor) else backend.device_of(v)
    if input is not None and where is not None and where != input.device:
        raise backend.DeviceError(f"{name}: {what} is on {where} but the input is on "
                                  f"{input.device}; move it with .to('{input.device}') (or "
                                  "the module with .to(device))")


def _affine(x_hat, weight, bias, shape):
    """y = gamma * x_hat + beta, with gamma and beta reshaped to ``shape`` (composite)."""
    y = x_hat
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def _update_running(running, batch_value, momentum):
    """In place, no graph:  running = (1 - momentum) running + momentum batch_value.

    ``momentum`` is a number, or a 0-d float64 array on the data's device (BatchNorm's
    momentum=None on a GPU: 1 / num_batches_tracked without reading the count back to the
    host); both factors are then rounded to the data's dtype as a Python number would be.
    """
    data = _data(running)
    value = batch_value.reshape(data.shape).astype(data.dtype)
    keep = 1.0 - momentum
    if not isinstance(momentum, (int, float)):
        keep, momentum = keep.astype(data.dtype), momentum.astype(data.dtype)
    data *= keep
    data += momentum * value


def _check_momentum(momentum, name):
    if momentum is None:
        raise ValueError(f"{name}: momentum=None (cumulative moving average) is resolved by the "
                         "module; the functional needs a number: pass 1 / num_batches_tracked")


# ============================================================================
# batch norm
# ============================================================================

def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation (Ioffe & Szegedy 2015, arXiv 1502.03167, Algorithms 1 and 2).

    Training (``training=True``): standardise with the statistics of this
    batch, per channel, over N and all spatial axes, using the biased variance
    (Algorithm 1). If running statistics are given they are updated in place
    (plain arrays, no graph) with the *unbiased* variance, as PyTorch does
    (Algorithm 2, step 10, uses the unbiased estimate m/(m-1) Var_B for inference):

        running_mean <- (1 - momentum) running_mean + momentum mu_B
        running_var  <- (1 - momentum) running_var  + momentum sigma_B^2 n/(n-1)

    Evaluation (``training=False``): use the running statistics,

        y = gamma (x - running_mean) / sqrt(running_var + eps) + beta

    computed as ``x * scale + shift`` with per-channel scale = gamma / sqrt(var + eps)
    and shift = beta - running_mean * scale (composite, so exact to any order).

    Shapes:
        input                    (N, C), (N, C, L) or (N, C, H, W)
        running_mean/var         (C,) or None (then ``training`` must be True)
        weight (gamma), bias (beta)   (C,) or None
        output                   same as input
    """
    shape = _channel_shape(input, "batch_norm")
    C = input.shape[1]
    _check_vector("batch_norm", running_mean, C, "running_mean", input)
    _check_vector("batch_norm", running_var, C, "running_var", input)
    _check_vector("batch_norm", weight, C, "weight")
    _check_vector("batch_norm", bias, C, "bias")
    axes = (0,) + tuple(range(2, input.ndim))
    if training:
        n = input.numel() // C
        if n <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                             f"got input of shape {input.shape}; use a batch of at least 2 "
                             "(or call .eval() to use the running statistics)")
        x_hat, mu, var = standardize(input, axes, eps)       # (N, C, *), (1, C, 1..) x2
        if running_mean is not None or running_var is not None:
            _check_momentum(momentum, "batch_norm")
        with backend.device_scope(input._data):      # raw arrays: on the input's GPU (CuPy)
            if running_mean is not None:
                _update_running(running_mean, mu, momentum)
            if running_var is not None:
                _update_running(running_var, var * (n / (n - 1)), momentum)   # unbiased
        return _affine(x_hat, weight, bias, shape)
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm: training=False needs running_mean and running_var; "
                         "pass them, or use training=True to normalise with batch statistics")
    return _normalize_with_stats(input, running_mean, running_var, weight, bias, eps, shape)


def _normalize_with_stats(x, mean, var, weight, bias, eps, shape):
    """y = x * scale + shift with fixed statistics (the inference form of Algorithm 2)."""
    xp = xp_of(x._data)
    mean = Tensor(xp.asarray(_data(mean), dtype=x.dtype))    # constants: no gradient
    var = Tensor(xp.asarray(_data(var), dtype=x.dtype))
    scale = (var + eps) ** -0.5                               # (C,)
    if weight is not None:
        scale = scale * weight
    shift = -mean * scale                                     # (C,)
    if bias is not None:
        shift = shift + bias
    return x * scale.reshape(shape) + shift.reshape(shape)    # (N, C, *)


# ============================================================================
# instance norm, layer norm, group norm: batch norm over other axes
# ============================================================================

def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Instance normalisation (Ulyanov, Vedaldi & Lempitsky 2016, "Instance Normalization:
    The Missing Ingredient for Fast Stylization", arXiv 1607.08022, Eq. 2).

    Batch norm with the statistics taken per (sample, channel) over the spatial
    axes only. With ``use_input_stats=True`` the instance's own statistics are
    used, and running statistics, if given, are updated in place with the
    per-instance means and unbiased variances averaged over the batch (as
    PyTorch does). With ``use_input_stats=False`` the running statistics are used.

    Shapes:
        input        (N, C, L) or (N, C, H, W)
        running_*    (C,) or None;   weight, bias (C,) or None
    """
    shape = _channel_shape(input, "instance_norm")
    if input.ndim < 3:
        raise ValueError(f"instance_norm: expected input (N, C, *spatial) with at least 3 "
                         f"dimensions, got shape {input.shape}")
    C = input.shape[1]
    for v, what in ((running_mean, "running_mean"), (running_var, "running_var"),
                    (weight, "weight"), (bias, "bias")):
        _check_vector("instance_norm", v, C, what, input)
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: use_input_stats=False needs running_mean and "
                             "running_var")
        return _normalize_with_stats(input, running_mean, running_var, weight, bias, eps, shape)
    axes = tuple(range(2, input.ndim))
    n = 1
    for a in axes:
        n *= input.shape[a]
    if n <= 1:
        raise ValueError(f"instance_norm: expected more than 1 spatial element when training, "
                         f"got input of shape {input.shape}")
    x_hat, mu, var = standardize(input, axes, eps)               # (N, C, *), (N, C, 1..) x2
    if running_mean is not None or running_var is not None:
        _check_momentum(momentum, "instance_norm")
    with backend.device_scope(input.data):          # raw arrays: on the input's GPU (CuPy)
        if running_mean is not None:
            _update_running(running_mean, mu.mean(axis=0), momentum)
        if running_var is not None:
            _update_running(running_var, (var * (n / (n - 1))).mean(axis=0), momentum)
    return _affine(x_hat, weight, bias, shape)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalisation (Ba, Kiros & Hinton 2016, "Layer Normalization",
    arXiv 1607.06450, Eq. 4): statistics over the trailing ``normalized_shape``
    axes of each sample; gamma and beta have shape ``normalized_shape``
    (element-wise, not per channel).

    Shapes:
        input              (*, *normalized_shape)
        weight, bias       normalized_shape or None
    """
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if k == 0 or input.ndim < k or input.shape[input.ndim - k:] != normalized_shape:
        raise ValueError(f"layer_norm: normalized_shape {normalized_shape} must match the "
                         f"trailing dimensions of the input, got input of shape {input.shape}")
    for v, what in ((weight, "weight"), (bias, "bias")):
        if v is not None and tuple(v.shape) != normalized_shape:
            raise ValueError(f"layer_norm: {what} has shape {tuple(v.shape)}, expected "
                             f"normalized_shape {normalized_shape}")
    axes = tuple(range(input.ndim - k, input.ndim))
    x_hat, _, _ = standardize(input, axes, eps)                 # (*, *normalized_shape)
    return _affine(x_hat, weight, bias, normalized_shape)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalisation (Wu & He 2018, "Group Normalization", arXiv 1803.08494, Eq. 1
    and Figure 2): the C channels are split into G groups of C/G; statistics
    are taken per (sample, group) over the group's channels and all spatial
    axes. G = 1 is layer norm over (C, H, W); G = C is instance norm.

    Shapes:
        input          (N, C, *)   with C divisible by G = num_groups
        weight, bias   (C,) or None
    """
    shape = _channel_shape(input, "group_norm")
    N, C = input.shape[0], input.shape[1]
    if num_groups <= 0 or C % num_groups != 0:
        raise ValueError(f"group_norm: num_groups={num_groups} must divide the number of "
                         f"channels C={C} (input shape {input.shape})")
    _check_vector("group_norm", weight, C, "weight")
    _check_vector("group_norm", bias, C, "bias")
    group_size = input.numel() // max(N * num_groups, 1)
    grouped = input.reshape(N, num_groups, group_size)              # (N, G, C/G * H * W)
    x_hat, _, _ = standardize(grouped, (2,), eps)                    # (N, G, C/G * H * W)
    return _affine(x_hat.reshape(input.shape), weight, bias, shape)  # (N, C, *)


# ============================================================================
# benchmark: python -m tinygen.ops.norm
# ============================================================================

def _benchmark(shape=(64, 128, 16, 16), repeats=10):   # pragma: no cover (a tool)
    """Time batch-norm forward+backward, fused vs composite standardisation."""
    import time

    np = backend.numpy
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)
    w = Tensor(np.ones(shape[1], np.float32), requires_grad=True)
    b = Tensor(np.zeros(shape[1], np.float32), requires_grad=True)
    gy = Tensor(rng.standard_normal(shape).astype(np.float32))
    axes = (0,) + tuple(range(2, len(shape)))
    cshape = _channel_shape(x, "bench")
    for name, fn in (("fused", standardize), ("composite", standardize_composite)):
        times = []
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            x_hat, _, _ = fn(x, axes, 1e-5)
            y = _affine(x_hat, w, b, cshape)
            y.backward(gy)
            times.append(time.perf_counter() - t0)
            x.grad = w.grad = b.grad = None
        times = sorted(times[1:])
        print(f"{name:9s} batch norm fwd+bwd {shape} float32: median "
              f"{1e3 * times[len(times) // 2]:.1f} ms, best {1e3 * times[0]:.1f} ms")


if __name__ == "__main__":   # pragma: no cover
    _benchmark()
