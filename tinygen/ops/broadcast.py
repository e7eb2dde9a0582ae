"""broadcast_to and sum_to: each other's backward, so they live together.

``broadcast_to(x, shape)`` repeats x along new leading axes and along its
size-1 axes (NumPy's broadcasting rules); ``sum_to(g, shape)`` is its adjoint,
summing g over exactly those axes. Whenever an op broadcasts an input, the
gradient of that input is ``sum_to`` of the gradient of the result, so the
engine (``tinygen.autograd._to_input_shape``) calls :func:`sum_to` for every
op in one place: no backward reduces broadcast gradients itself.

Notation: ``x`` input, ``y`` output, ``gy = dL/dy``, ``gx = dL/dx``.
"""
from __future__ import annotations

from tinygen import backend
from tinygen.autograd import Function

xp_of = backend.get_array_module

__all__ = ["broadcast_to", "sum_to", "broadcasts_from", "BroadcastTo", "SumTo"]


class BroadcastTo(Function):
    """y = x repeated along broadcast axes to ``shape``;  gx = sum_to(gy, x.shape)."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.input_shape = x.shape
        try:
            return xp_of(x).broadcast_to(x, self.shape)
        except ValueError as exc:
            raise ValueError(f"broadcast_to: shape {x.shape} cannot broadcast to {self.shape}") from exc

    def backward(self, gy):
        return sum_to(gy, self.input_shape)


class SumTo(Function):
    """y = x summed over the axes along which ``shape`` was broadcast to x.shape.

    The adjoint of ``broadcast_to(·, x.shape)``:  gx = broadcast_to(gy, x.shape).
    """

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.input_shape = x.shape
        lead = x.ndim - len(self.shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, s in enumerate(self.shape) if s == 1 and x.shape[lead + i] != 1)
        y = x.sum(axis=axes, keepdims=True)
        return y.reshape(self.shape)

    def backward(self, gy):
        return broadcast_to(gy, self.input_shape)


def broadcasts_from(small, big) -> bool:
    """True when ``small`` broadcasts to ``big`` (align from the right; 1 stretches)."""
    if len(small) > len(big):
        return False
    return all(s in (1, b) for s, b in zip(reversed(small), reversed(big)))


def broadcast_to(x, shape):
    shape = tuple(shape)
    if x.shape == shape:
        return x
    return BroadcastTo(shape)(x)


def sum_to(x, shape):
    """Sum ``x`` down to ``shape`` (the shape it was broadcast from)."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    if not broadcasts_from(shape, x.shape):
        raise ValueError(f"sum_to: shape {x.shape} was not broadcast from {shape}")
    return SumTo(shape)(x)
