"""Matrix multiplication (batched, broadcasting over leading dimensions).

Shapes:
    a: (..., n, k),  b: (..., k, m)  ->  y = a @ b: (..., n, m)
Gradients:
    ga = gy @ b^T   (the engine sums it back to a's batch shape if a was broadcast)
    gb = a^T @ gy   (likewise for b)
Vectors are promoted to matrices (and the extra dimension removed) as in
NumPy/PyTorch, by composing reshape with the 2-D-or-more primitive.
"""
from __future__ import annotations

from tinygen.autograd import Function, as_tensor
from tinygen.ops.shape import squeeze, transpose, unsqueeze


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
