"""Reductions: sum/mean/var/max/min with dim/keepdim, sum_to, logsumexp.

Forward values against NumPy, gradients by first- and second-order gradcheck
on hypothesis-drawn shapes and axes (non-contiguous leaves included). max/min
are checked on tie-free inputs; the tie rule (gradient shared evenly) is a
separate, explicit test.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
from tinygen import ops
from tinygen_tests.conftest import (
    SETTINGS, assert_allclose, assert_array_equal, check_grads, distinct_leaf, host, leaf, shapes,
    t64)


@st.composite
def shape_and_dim(draw, min_dims=1):
    """A shape and a ``dim`` argument: None, an int (maybe negative) or a tuple of ints."""
    shape = draw(shapes(min_dims=min_dims))
    n = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none" or n == 0:
        return shape, None
    if kind == "int":
        return shape, draw(st.integers(-n, n - 1))
    dims = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    return shape, tuple(dims)


def _np_axis(dim):
    return dim if dim is None or isinstance(dim, int) else tuple(dim)


@pytest.mark.parametrize("name", ["sum", "mean"])
@SETTINGS
@given(data=st.data(), sd=shape_and_dim(min_dims=0), keepdim=st.booleans())
def test_sum_mean(name, data, sd, keepdim):
    shape, dim = sd
    x = leaf(data.draw, shape)
    fn = lambda t: getattr(ops, name)(t, dim, keepdim)   # noqa: E731
    ref = getattr(np, name)(x.data, axis=_np_axis(dim), keepdims=keepdim)
    y = fn(x)
    assert y.shape == ref.shape
    assert_allclose(y.data, ref, rtol=1e-12)
    check_grads(fn, x)


@SETTINGS
@given(data=st.data(), sd=shape_and_dim(), keepdim=st.booleans(), correction=st.sampled_from([0, 1]))
def test_var_and_std(data, sd, keepdim, correction):
    shape, dim = sd
    axes = range(len(shape)) if dim is None else (dim,) if isinstance(dim, int) else dim
    n = int(np.prod([shape[a] for a in axes]))
    if n - correction <= 0:
        return
    x = leaf(data.draw, shape)
    ref = np.var(x.data, axis=_np_axis(dim), keepdims=keepdim, ddof=correction)
    assert_allclose(ops.var(x, dim, keepdim, correction).data, ref, rtol=1e-10, atol=1e-14)
    check_grads(lambda t: ops.var(t, dim, keepdim, correction), x)
    # std = sqrt(var) is smooth when var > 0, which holds for two or more distinct values
    if n < 2:
        return
    y = distinct_leaf(data.draw, shape)
    check_grads(lambda t: t.std(dim, keepdim, correction=correction), y)


@pytest.mark.parametrize("name", ["max", "min"])
@SETTINGS
@given(data=st.data(), sd=shape_and_dim(), keepdim=st.booleans())
def test_max_min_without_ties(name, data, sd, keepdim):
    shape, dim = sd
    x = distinct_leaf(data.draw, shape)
    fn = lambda t: getattr(ops, name)(t, dim, keepdim)   # noqa: E731
    ref = getattr(np, name)(x.data, axis=_np_axis(dim), keepdims=keepdim)
    assert_array_equal(fn(x).data, ref)
    check_grads(fn, x)


def test_max_tie_rule_shares_the_gradient_evenly():
    x = t64([[3.0, 1.0, 3.0], [2.0, 2.0, 2.0]])
    ops.max(x, dim=1).backward(tg.tensor(np.array([6.0, 3.0])))
    assert_allclose(x.grad.data, [[3.0, 0.0, 3.0], [1.0, 1.0, 1.0]])
    x = t64([1.0, -1.0, -1.0])
    ops.min(x).backward()
    assert_allclose(x.grad.data, [0.0, 0.5, 0.5])


def test_max_of_empty_tensor_names_the_shape():
    with pytest.raises(ValueError, match=r"\(0, 3\)"):
        ops.max(tg.zeros(0, 3))


def test_bad_dim_is_an_index_error():
    with pytest.raises(IndexError, match="out of range"):
        ops.sum(tg.zeros(2, 3), dim=2)


@SETTINGS
@given(data=st.data(), sd=shape_and_dim(min_dims=0), keepdim=st.booleans(), scale=st.sampled_from([1.0, 300.0]))
def test_logsumexp(data, sd, keepdim, scale):
    shape, dim = sd
    x = leaf(data.draw, shape)
    ref = np.log(np.sum(np.exp(x.data), axis=_np_axis(dim), keepdims=keepdim))
    assert_allclose(ops.logsumexp(x, dim, keepdim).data, ref, rtol=1e-12)
    # large logits: the naive formula overflows, logsumexp must not (and stays differentiable)
    big = tg.Tensor(x.data * scale, requires_grad=True)
    out = ops.logsumexp(big, dim, keepdim)
    assert np.isfinite(out.data).all()
    check_grads(lambda t: ops.logsumexp(t, dim, keepdim), x)


def test_logsumexp_special_values():
    x = t64([[1000.0, 1000.0], [-np.inf, -np.inf], [-np.inf, 0.0]])
    y = ops.logsumexp(x, dim=1)
    assert_allclose(y.data, [1000.0 + np.log(2.0), -np.inf, 0.0])
    # masked (-inf) entries get exactly zero gradient
    x = t64([[1000.0, 1000.0], [-np.inf, 0.0]])
    ops.logsumexp(x, dim=1).sum().backward()
    assert_allclose(x.grad.data, [[0.5, 0.5], [0.0, 1.0]])


@st.composite
def broadcast_source(draw):
    """(big shape, small shape) such that small broadcasts to big."""
    big = draw(shapes(min_dims=1))
    lead = draw(st.integers(0, len(big)))
    small = tuple(1 if draw(st.booleans()) else s for s in big[lead:])
    return big, small


@SETTINGS
@given(data=st.data(), bs=broadcast_source())
def test_sum_to_is_the_adjoint_of_broadcast_to(data, bs):
    big, small = bs
    x = leaf(data.draw, big)
    y = ops.sum_to(x, small)
    assert y.shape == small
    # <sum_to(x), v> == <x, broadcast_to(v)>  (adjointness, in numbers)
    v = np.random.default_rng(1).standard_normal(small)
    assert_allclose((host(y) * v).sum(), (host(x) * np.broadcast_to(v, big)).sum())
    check_grads(lambda t: ops.sum_to(t, small), x)
    s = leaf(data.draw, small)
    check_grads(lambda t: ops.broadcast_to(t, big), s)


def test_sum_to_rejects_a_shape_it_was_not_broadcast_from():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2,\)"):
        ops.sum_to(tg.zeros(2, 3), (2,))


def test_integer_reductions_keep_int_sum_and_give_float_mean():
    i = tg.tensor([[1, 2], [3, 4]])
    assert ops.sum(i).dtype == np.int64 and ops.sum(i).item() == 10
    assert ops.mean(i).dtype == np.float32 and ops.mean(i).item() == 2.5
