"""Element-wise primitives: arithmetic, exp/log, activations, comparisons-with-gradients.

Every class is one differentiable primitive: ``forward`` works on backend
arrays and saves what backward needs (``save_for_backward``), ``backward`` is
written with Tensor operations on the saved tensors (so gradients of
gradients work). Binary operations broadcast like NumPy; their backwards
return gradients of the output's shape, and the engine sums each one down
to its input's shape (:func:`tinygen.ops.broadcast.sum_to`, in one place).

Notation: ``x``, ``a``, ``b`` inputs, ``y`` output, ``gy = dL/dy`` the upstream
gradient, ``gx = dL/dx`` what ``backward`` returns.
"""
from __future__ import annotations

import math

from tinygen import backend
from tinygen.autograd import Function, Tensor, as_tensor, is_floating_dtype

xp_of = backend.get_array_module


def _const(array) -> Tensor:
    """A tensor that is a constant of the inputs (a mask, a sign): no gradient flows into it."""
    return Tensor(array)


# ============================================================================
# arithmetic
# ============================================================================

class Add(Function):
    """y = a + b;  ga = gy, gb = gy (summed over broadcast axes by the engine)."""

    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        return gy, gy


class Sub(Function):
    """y = a - b;  ga = gy, gb = -gy."""

    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        return gy, -gy


class Mul(Function):
    """y = a * b;  ga = gy * b, gb = gy * a."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, gy):
        a, b = self.saved_tensors
        return gy * b, gy * a


class Div(Function):
    """y = a / b;  ga = gy / b, gb = -gy a / b^2."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a / b

    def backward(self, gy):
        a, b = self.saved_tensors
        ga = gy / b
        gb = -(ga * a) / b
        return ga, gb


class Neg(Function):
    """y = -x;  gx = -gy."""

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class PowScalar(Function):
    """y = x^c for a constant exponent c;  gx = gy c x^(c-1)."""

    def __init__(self, c: float):
        self.c = c

    def forward(self, x):
        self.save_for_backward(x)
        return x ** x.dtype.type(self.c) if is_floating_dtype(x.dtype) else x ** self.c

    def backward(self, gy):
        (x,) = self.saved_tensors
        if self.c == 0:       # d/dx x^0 = 0 everywhere; c x^(c-1) would be 0 * inf = nan at x = 0
            return gy * 0.0
        if self.c == 1:
            return gy
        return gy * self.c * x ** (self.c - 1)


class Exp(Function):
    """y = e^x;  gx = gy y."""

    def forward(self, x):
        y = xp_of(x).exp(x)
        self.save_for_backward(y)            # the output: e^x is its own derivative
        return y

    def backward(self, gy):
        (y,) = self.saved_tensors
        return gy * y


class Log(Function):
    """y = ln x;  gx = gy / x."""

    def forward(self, x):
        self.save_for_backward(x)
        return xp_of(x).log(x)

    def backward(self, gy):
        (x,) = self.saved_tensors
        return gy / x


class Sqrt(Function):
    """y = sqrt(x);  gx = gy / (2 y)."""

    def forward(self, x):
        y = xp_of(x).sqrt(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved_tensors
        return gy / (2.0 * y)


class Abs(Function):
    """y = |x|;  gx = gy sign(x) (0 at x = 0, as in PyTorch)."""

    def forward(self, x):
        self.save_for_backward(x)
        return xp_of(x).abs(x)

    def backward(self, gy):
        x = self.saved_tensors[0]._data
        return gy * _const(xp_of(x).sign(x))


class Maximum(Function):
    """y = max(a, b) element-wise; at ties the gradient is split evenly (PyTorch)."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return xp_of(a).maximum(a, b)

    def backward(self, gy):
        a, b = (t._data for t in self.saved_tensors)
        share_a = _const(((a > b) + 0.5 * (a == b)).astype(gy.dtype))   # constant 1, 1/2 or 0
        return gy * share_a, gy * (1.0 - share_a)


class Minimum(Function):
    """y = min(a, b) element-wise; at ties the gradient is split evenly (PyTorch)."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return xp_of(a).minimum(a, b)

    def backward(self, gy):
        a, b = (t._data for t in self.saved_tensors)
        share_a = _const(((a < b) + 0.5 * (a == b)).astype(gy.dtype))
        return gy * share_a, gy * (1.0 - share_a)


class Clip(Function):
    """y = min(max(x, lo), hi);  gx = gy where lo <= x <= hi, else 0 (PyTorch's clamp)."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        self.save_for_backward(x)
        return xp_of(x).clip(x, self.lo, self.hi)

    def backward(self, gy):
        x = self.saved_tensors[0]._data
        inside = xp_of(x).ones(x.shape, dtype=bool)
        if self.lo is not None:
            inside &= x >= self.lo
        if self.hi is not None:
            inside &= x <= self.hi
        return gy * _const(inside.astype(gy.dtype))


class Where(Function):
    """y = a where cond else b (cond is a constant boolean array)."""

    def __init__(self, cond):
        self.cond = cond

    def forward(self, a, b):
        return xp_of(a).where(self.cond, a, b)

    def backward(self, gy):
        mask = _const(self.cond.astype(gy.dtype))
        return gy * mask, gy * (1.0 - mask)


class Cast(Function):
    """y = x converted to ``dtype``;  gx = gy converted back to x's dtype."""

    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.input_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        # Rounding to an integer dtype is piecewise constant: no gradient (PyTorch).
        if is_floating_dtype(self.input_dtype) and is_floating_dtype(self.dtype):
            return cast(gy, self.input_dtype)
        return None


class ToDevice(Function):
    """y = x copied to ``device``;  gx = gy copied back."""

    def __init__(self, device):
        self.device = device

    def forward(self, x):
        self.source = backend.device_of(x)
        return backend.to_device(x, self.device)

    def backward(self, gy):
        return to_device(gy, self.source)


# ============================================================================
# activations
# ============================================================================

class Tanh(Function):
    """y = tanh x;  gx = gy (1 - y^2)."""

    def forward(self, x):
        y = xp_of(x).tanh(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved_tensors
        return gy * (1.0 - y * y)


class Sigmoid(Function):
    """y = 1 / (1 + e^-x);  gx = gy y (1 - y).

    Computed from e = e^-|x| <= 1 (never overflows): 1 / (1 + e) for x >= 0 and
    e / (1 + e) for x < 0, which keeps full relative precision in the lower
    tail (sigmoid(-50) = 1.9e-22, not 0 as (1 + tanh(x/2)) / 2 would give).
    """

    def forward(self, x):
        xp = xp_of(x)
        e = xp.exp(-xp.abs(x))
        y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved_tensors
        return gy * y * (1.0 - y)


class ReLU(Function):
    """y = max(x, 0);  gx = gy [x > 0]."""

    def forward(self, x):
        y = xp_of(x).maximum(x, 0)
        self.save_for_backward(y)            # y > 0 exactly where x > 0
        return y

    def backward(self, gy):
        (y,) = self.saved_tensors
        return gy * _const((y._data > 0).astype(gy.dtype))


class LeakyReLU(Function):
    """y = x for x > 0, slope * x otherwise;  gx = gy * (1 or slope).

    The reference form is ``where(x > 0, x, slope x)``. NumPy's ``where`` is
    slow on a random mask (about 6x a multiply: it branches per element), so
    for the usual 0 <= slope <= 1 the forward uses the same values written as
    ``max(x, slope x)``, and the backward builds the factor without ``where``:
    ``slope [x <= 0] + [x > 0]`` (each term exact, so the factor is exactly 1
    or slope, in the input's dtype, with no float64 temporary). Measured on a
    (64, 128, 16, 16) float32 batch: forward 12 -> 2 ms, backward 13 -> 4 ms
    (docs/performance.md).
    """

    def __init__(self, slope: float):
        self.slope = slope

    def forward(self, x):
        self.save_for_backward(x)
        xp = xp_of(x)
        slope = x.dtype.type(self.slope)
        if not 0 <= self.slope <= 1:                       # general case: the reference form
            return xp.where(x > 0, x, x * slope)
        if backend.fused_kernels_for(x):                   # a real GPU: one kernel, not two
            return backend.fused(_leaky_relu)(x, slope)
        y = xp.empty_like(x)
        xp.multiply(x, slope, out=y)                       # slope x
        return xp.maximum(x, y, out=y)                     # max(x, slope x), same values

    def backward(self, gy):
        x = self.saved_tensors[0]._data
        if backend.fused_kernels_for(x):            # a real GPU: the factor in one kernel
            return gy * _const(backend.fused(_leaky_relu_factor)(x, gy.dtype.type(self.slope)))
        positive = x > 0                                                   # constant mask
        factor = (~positive).astype(gy.dtype)                              # 1 where x <= 0
        factor *= gy.dtype.type(self.slope)                                # slope where x <= 0
        factor += positive                                                 # 1 where x > 0
        return gy * _const(factor)


def _leaky_relu(x, slope):
    """x times the factor below: for 0 <= slope <= 1 the same values as max(x, slope x)
    (NaN and -0 included), with operators only, so ``cupy.fuse`` compiles it."""
    return x * _leaky_relu_factor(x, slope)


def _leaky_relu_factor(x, slope):
    """LeakyReLU's derivative: 1 where x > 0, slope elsewhere (NaN included), in slope's dtype;
    the same values as the three-step host form, written for ``cupy.fuse``."""
    positive = x > 0
    return (~positive) * slope + positive


class Softplus(Function):
    """y = (1/beta) log(1 + e^(beta x)), linear above ``threshold`` (PyTorch);  gx = gy sigmoid(beta x).

    Forward uses the overflow-free form max(bx, 0) + log1p(e^-|bx|).
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        self.save_for_backward(x)
        xp = xp_of(x)
        bx = x * x.dtype.type(self.beta)
        smooth = (xp.maximum(bx, 0) + xp.log1p(xp.exp(-xp.abs(bx)))) / x.dtype.type(self.beta)
        return xp.where(bx > self.threshold, x, smooth).astype(x.dtype)

    def backward(self, gy):
        (x,) = self.saved_tensors
        linear = _const((x._data * self.beta > self.threshold).astype(gy.dtype))
        return gy * (linear + (1.0 - linear) * sigmoid(x * self.beta))


class Erf(Function):
    """y = erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt;  gx = gy * 2/sqrt(pi) * exp(-x^2).

    The values come from :func:`tinygen.backend.erf`: Python's correctly rounded ``math.erf``
    element by element on the host (NumPy has no erf: slow on big arrays, exact everywhere),
    CuPy's CUDA erf on a GPU. The backward is written with Tensor ops, so erf differentiates
    to any order.
    """

    def forward(self, x):
        self.save_for_backward(x)
        return backend.erf(x)

    def backward(self, gy):
        x, = self.saved_tensors
        return gy * (2.0 / math.sqrt(math.pi)) * (-(x * x)).exp()


# ============================================================================
# lowercase functional forms
# ============================================================================

def add(a, b):
    return Add()(*_promote(a, b))


def sub(a, b):
    return Sub()(*_promote(a, b))


def mul(a, b):
    return Mul()(*_promote(a, b))


def div(a, b):
    a, b = _promote_int_division(a, b)
    return Div()(a, b)


def _promote(a, b):
    """Bring a and b to one dtype, PyTorch's way.

    Python scalars are weak (``as_tensor`` gives them the tensor's dtype); an
    integer (or bool) tensor meeting a floating one takes the floating dtype.
    NumPy alone would widen int64 with float32 to float64 (``int_tensor * 2.5``).
    """
    like = a if isinstance(a, Tensor) else b
    a, b = as_tensor(a, like), as_tensor(b, like)
    if a._data.dtype == b._data.dtype:          # the common case: nothing to promote
        return a, b
    if is_floating_dtype(a.dtype) and not is_floating_dtype(b.dtype):
        b = cast(b, a.dtype)
    elif is_floating_dtype(b.dtype) and not is_floating_dtype(a.dtype):
        a = cast(a, b.dtype)
    return a, b


def _promote_int_division(a, b):
    """True division of integer tensors gives float32 (PyTorch), never an integer array."""
    a, b = _promote(a, b)
    if not is_floating_dtype(a.dtype) and not is_floating_dtype(b.dtype):
        f = backend.default_float_dtype()
        a, b = cast(a, f), cast(b, f)
    return a, b


def neg(x):
    return Neg()(x)


def pow(x, exponent):
    """x ** exponent. A constant exponent is a primitive; a tensor exponent is exp(exponent * log x)."""
    if isinstance(exponent, Tensor):
        # exp/log need floats: integer operands become float32 here (PyTorch would keep
        # int64 for int ** int; NumPy's log of an int64 array would give float64).
        base, exponent = _promote_int_division(x, exponent)
        return exp(exponent * log(base))
    return PowScalar(exponent)(x)


def exp(x):
    return Exp()(x)


def log(x):
    return Log()(x)


def sqrt(x):
    return Sqrt()(x)


def abs(x):
    return Abs()(x)


def maximum(a, b):
    return Maximum()(*_promote(a, b))


def minimum(a, b):
    return Minimum()(*_promote(a, b))


def clip(x, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clip: give at least one of min and max")
    return Clip(min, max)(x)


clamp = clip


def where(cond, a, b):
    """Select ``a`` where ``cond`` (a boolean tensor or array) is true, else ``b``."""
    cond_data = cond._data if isinstance(cond, Tensor) else cond
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None
    if like is None:
        raise TypeError("where: at least one of a and b must be a Tensor")
    a, b = as_tensor(a, like), as_tensor(b, like)
    xp = xp_of(like._data)
    with backend.device_scope(like._data):       # a host cond is copied to like's GPU
        cond_data = xp.asarray(cond_data, dtype=bool)
    return Where(cond_data)(a, b)


def cast(x, dtype):
    return Cast(backend.numpy.dtype(dtype))(x)


def to_device(x, device):
    return ToDevice(backend.normalize_device(device))(x)


def clone(x):
    """A copy of x (its gradient flows back unchanged)."""
    return Mul()(x, 1)


def tanh(x):
    return Tanh()(x)


def sigmoid(x):
    return Sigmoid()(x)


def relu(x):
    return ReLU()(x)


def leaky_relu(x, negative_slope: float = 0.01):
    return LeakyReLU(negative_slope)(x)


def softplus(x, beta: float = 1.0, threshold: float = 20.0):
    return Softplus(beta, threshold)(x)


def erf(x):
    """The error function, elementwise (see :class:`Erf`)."""
    return Erf()(x)
