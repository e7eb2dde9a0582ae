"""Matrix multiplication (batched, broadcasting over leading dimensions).

Shapes:
    a: (..., n, k),  b: (..., k, m)  ->  y = a @ b: (..., n, m)
Gradients:
    ga = gy @ b^T   (the engine sums it back to a's batch shape if a was broadcast)
    gb = a^T @ gy   (likewise for b)
Vectors are promoted to matrices (and the extra dimension removed) as in
NumPy/PyTorch, by composing reshape with the 2-D-or-more primitive.

``linear`` (y = x W^T + b, nn.Linear's map) is one primitive of its own rather than the
composite transpose -> matmul -> add: the same arithmetic in one recorded op instead of three
(a small MLP step is mostly per-op cost; benchmarks/engine_overhead.py):

    x (*, in), W (out, in), b (out,)  ->  y = x W^T + b: (*, out)
    gx = gy W,    gW = gy_2^T x_2,    gb = sum of gy over every leading axis
where x_2 (M, in) and gy_2 (M, out) are x and gy with the leading axes merged (M of them).
"""
from __future__ import annotations

from tinygen.autograd import Function, as_tensor
from tinygen.ops.reduction import sum as _sum
from tinygen.ops.shape import reshape, squeeze, transpose, unsqueeze


class MatMul(Function):
    def forward(self, a, b):
        if a.shape[-1] != b.shape[-2]:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned "
                             f"({a.shape[-1]} != {b.shape[-2]})")
        self.save_for_backward(a, b)
        return a @ b

    def backward(self, gy):
        a, b = self.saved_tensors
        return matmul(gy, transpose(b)), matmul(transpose(a), gy)


def matmul(a, b):
    like = a if hasattr(a, "grad_fn") else b
    a, b = as_tensor(a, like), as_tensor(b, like)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: both operands need at least one dimension (use * for scalars)")
    if a.ndim == 1 and b.ndim == 1:
        return squeeze(squeeze(MatMul()(unsqueeze(a, 0), unsqueeze(b, 1)), -1), -1)
    if a.ndim == 1:
        return squeeze(MatMul()(unsqueeze(a, 0), b), -2)
    if b.ndim == 1:
        return squeeze(MatMul()(a, unsqueeze(b, 1)), -1)
    return MatMul()(a, b)


class Linear(Function):
    """y = x W^T (+ b): x (*, in), W (out, in), b (out,) -> (*, out)."""

    def forward(self, x, w, b=None):
        self.save_for_backward(x, w)
        y = x @ w.T
        if b is not None:
            y += b                         # y is a fresh array: add the bias in place
        return y

    def backward(self, gy):
        x, w = self.saved_tensors
        gx = matmul(gy, w) if x.requires_grad else None                     # (*, in)
        gy_2 = reshape(gy, (-1, gy.shape[-1]))                              # (M, out)
        gw = matmul(transpose(gy_2), reshape(x, (-1, x.shape[-1]))) if w.requires_grad else None
        if len(self.inputs) == 2:
            return gx, gw
        gb = _sum(gy_2, 0) if self.inputs[2].requires_grad else None       # (out,)
        return gx, gw, gb


def linear(x, w, b=None):
    """y = x W^T + b as one primitive (shapes and dtypes checked by functional.linear)."""
    return Linear()(x, w) if b is None else Linear()(x, w, b)
