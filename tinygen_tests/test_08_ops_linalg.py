"""matmul: 2-D, batched, broadcasting batch dimensions, 1-D operands (NumPy/PyTorch rules).

The gradient  ga = gy b^T,  gb = a^T gy  (summed back over broadcast batch
dimensions) is checked to first and second order on hypothesis-drawn shapes
with non-contiguous leaves.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
from tinygen import ops
from tinygen_tests.conftest import (
    SETTINGS, assert_allclose, assert_array_equal, check_grads, leaf, on_default_device,
    t64)

side = st.integers(1, 3)


@st.composite
def _broadcast_pair(draw, batch):
    """Two batch shapes that broadcast together to ``batch``: some dims set to 1, some leading
    dims dropped (NumPy's rules)."""
    def one():
        dims = [1 if draw(st.booleans()) else d for d in batch]
        return tuple(dims[draw(st.integers(0, len(dims))):])
    return one(), one()


@st.composite
def matmul_shapes(draw):
    """Shapes (a, b) valid for a @ b, with vectors and broadcast batch dims."""
    n, k, m = draw(side), draw(side), draw(side)
    batch = draw(st.lists(side, max_size=2).map(tuple))
    a_batch, b_batch = draw(_broadcast_pair(batch))
    a = (k,) if draw(st.integers(0, 4)) == 0 else a_batch + (n, k)
    b = (k,) if draw(st.integers(0, 4)) == 0 else b_batch + (k, m)
    return a, b


@SETTINGS
@given(data=st.data(), ab=matmul_shapes())
def test_matmul(data, ab):
    a, b = leaf(data.draw, ab[0]), leaf(data.draw, ab[1])
    ref = np.matmul(a.data, b.data)
    y = ops.matmul(a, b)
    assert y.shape == ref.shape
    assert_allclose(y.data, ref, rtol=1e-12)
    check_grads(ops.matmul, (a, b))


def test_matmul_operator_and_constant_operand():
    a = t64(np.arange(6.0).reshape(2, 3))
    w = on_default_device(np.ones((3, 2)))       # a raw array, on a's device
    assert_array_equal((a @ w).data, a.data @ w)
    assert_array_equal((w.T @ a.T).data, w.T @ a.data.T)   # __rmatmul__
    check_grads(lambda t: t @ w, a)


def test_matmul_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(2, 3\)"):
        ops.matmul(tg.zeros(2, 3), tg.zeros(2, 3))
    with pytest.raises(ValueError, match="at least one dimension"):
        ops.matmul(tg.zeros(()), tg.zeros(2))


# ----------------------------------------------------------------------------
# linear: y = x W^T + b as one primitive (nn.Linear's map)
# ----------------------------------------------------------------------------

@SETTINGS
@given(data=st.data(), lead=st.lists(side, max_size=2).map(tuple), n_in=side, n_out=side,
       with_bias=st.booleans())
def test_linear_primitive_is_the_composite_and_differentiates_twice(data, lead, n_in, n_out,
                                                                    with_bias):
    """ops.linear(x, W, b) = x @ W^T + b for any leading axes (none: a vector), first and
    second order gradients by finite differences, for x, W and b."""
    x, w = leaf(data.draw, lead + (n_in,)), leaf(data.draw, (n_out, n_in))
    b = leaf(data.draw, (n_out,)) if with_bias else None
    ref = np.matmul(x.data, w.data.T) + (b.data if with_bias else 0)
    y = ops.linear(x, w, b)
    assert y.shape == lead + (n_out,)
    assert_allclose(y.data, ref, rtol=1e-12, atol=1e-12)
    if with_bias:
        check_grads(ops.linear, (x, w, b))
    else:
        check_grads(ops.linear, (x, w))


def test_linear_primitive_gives_only_the_gradients_asked_for():
    """A frozen weight (requires_grad False) gets none; the input's still flows."""
    x = t64(np.linspace(-1, 1, 6).reshape(2, 3))
    w = t64(np.arange(12.0).reshape(4, 3) / 10, requires_grad=False)
    b = t64(np.ones(4))
    ops.linear(x, w, b).sum().backward()
    assert w.grad is None
    assert_allclose(x.grad.data, np.tile(w.data.sum(0), (2, 1)), rtol=1e-12)
    assert_allclose(b.grad.data, np.full(4, 2.0), rtol=1e-12)
