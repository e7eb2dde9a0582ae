"""Reductions: sum, max/min, and the composites mean, var, logsumexp.

The backward of a reduction broadcasts the upstream gradient back over the
reduced axes (:func:`tinygen.ops.broadcast.broadcast_to`). ``sum_to``, the
reduction that undoes broadcasting, lives beside ``broadcast_to`` in
:mod:`tinygen.ops.broadcast`.
"""
from __future__ import annotations

import builtins

from tinygen import backend
from tinygen.autograd import Function, Tensor
from tinygen.ops.broadcast import broadcast_to
from tinygen.ops.shape import reshape, squeeze

xp_of = backend.get_array_module


def _normalize_axes(axis, ndim):
    """``None`` -> all axes; an int or a sequence -> a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < builtins.max(ndim, 1):
            raise IndexError(f"dimension {a} out of range for a tensor with {ndim} dimensions")
        out.append(a % builtins.max(ndim, 1))
    return tuple(sorted(set(out)))


def _keepdims_shape(shape, axes):
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


class Sum(Function):
    """y = sum of x over ``axes``;  gx = gy broadcast back over the summed axes."""

    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        self.input_shape = x.shape
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        shape = self.input_shape
        return broadcast_to(reshape(gy, _keepdims_shape(shape, self.axes)), shape)


class _Extremum(Function):
    """y = max (or min) over ``axes``; the gradient goes to the extreme entries,
    shared evenly among ties (PyTorch's amax/amin). The selection mask is a
    constant of the input, so double backward stays exact."""

    reduce = None

    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        if x.size == 0:
            raise ValueError(f"{self.reduce} of an empty tensor of shape {x.shape}")
        y = getattr(x, self.reduce)(axis=self.axes, keepdims=self.keepdims)
        self.save_for_backward(x, y)
        return y

    def backward(self, gy):
        x, y = self.saved_tensors
        kshape = _keepdims_shape(x.shape, self.axes)
        mask = (x._data == y._data.reshape(kshape)).astype(gy.dtype)     # constant: where the max is
        mask /= mask.sum(axis=self.axes, keepdims=True)
        return broadcast_to(reshape(gy, kshape), x.shape) * Tensor(mask)


class Max(_Extremum):
    reduce = "max"


class Min(_Extremum):
    reduce = "min"


# ============================================================================
# lowercase functional forms
# ============================================================================

def sum(x, dim=None, keepdim=False):
    return Sum(_normalize_axes(dim, x.ndim), keepdim)(x)


def max(x, dim=None, keepdim=False):
    return Max(_normalize_axes(dim, x.ndim), keepdim)(x)


def min(x, dim=None, keepdim=False):
    return Min(_normalize_axes(dim, x.ndim), keepdim)(x)


def mean(x, dim=None, keepdim=False):
    """Arithmetic mean over ``dim``: sum / count."""
    axes = _normalize_axes(dim, x.ndim)
    count = 1
    for a in axes:
        count *= x.shape[a]
    return sum(x, axes, keepdim) / float(count)


def var(x, dim=None, keepdim=False, correction=1):
    """Variance  sum (x - mean)^2 / (n - correction)  (correction=1: unbiased, 0: biased)."""
    axes = _normalize_axes(dim, x.ndim)
    count = 1
    for a in axes:
        count *= x.shape[a]
    centred = x - mean(x, axes, keepdim=True)
    return sum(centred * centred, axes, keepdim) / float(builtins.max(count - correction, 0))


def logsumexp(x, dim=None, keepdim=False):
    """log sum_i exp(x_i), stable:  m + log sum exp(x - m)  with m = max(x) held constant.

    The result does not depend on m mathematically, so treating m as a
    constant (detached) leaves every derivative exact.
    """
    axes = _normalize_axes(dim, x.ndim)
    m = max(x, axes, keepdim=True).detach()
    xp = xp_of(m._data)
    with backend.device_scope(m._data):                  # CuPy: on m's GPU
        m._data = xp.where(xp.isfinite(m._data), m._data, 0)   # all -inf rows stay -inf, not nan
    out = ((x - m).exp().sum(axes, keepdim=True)).log() + m
    return out if keepdim else squeeze(out, axes)
