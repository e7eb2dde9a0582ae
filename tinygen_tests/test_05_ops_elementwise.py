"""Element-wise ops: forward values, first- and second-order gradchecks.

Shapes are drawn by hypothesis (broadcasting pairs, size-1 dims, 0-d), leaf
data is often a non-contiguous view, and inputs stay away from kinks
(|x| > 0.1 for abs/relu/leaky_relu) and singularities (x > 0.2 for log/sqrt).
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import tinygen as tg
from tinygen import ops
from tinygen_tests.conftest import (
    SETTINGS, assert_allclose, assert_array_equal, check_grads, host, leaf, shapes, t64)

pairs = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)


# ----------------------------------------------------------------------------
# arithmetic (binary ops broadcast: gradients are summed back with sum_to)
# ----------------------------------------------------------------------------

BINARY = {
    "add": (ops.add, np.add),
    "sub": (ops.sub, np.subtract),
    "mul": (ops.mul, np.multiply),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@SETTINGS
@given(data=st.data(), bshapes=pairs)
def test_binary_arithmetic(name, data, bshapes):
    op, ref = BINARY[name]
    a = leaf(data.draw, bshapes.input_shapes[0])
    b = leaf(data.draw, bshapes.input_shapes[1])
    y = op(a, b)
    assert y.shape == bshapes.result_shape
    assert_allclose(y.data, ref(a.data, b.data))
    check_grads(op, (a, b))


@SETTINGS
@given(data=st.data(), bshapes=pairs)
def test_div(data, bshapes):
    a = leaf(data.draw, bshapes.input_shapes[0])
    b = leaf(data.draw, bshapes.input_shapes[1], low=0.5, high=2.0)   # away from b = 0
    assert_allclose(ops.div(a, b).data, a.data / b.data)
    check_grads(ops.div, (a, b))


@SETTINGS
@given(data=st.data(), shape=shapes())
def test_neg_and_operators(data, shape):
    x = leaf(data.draw, shape)
    assert_array_equal((-x).data, -x.data)
    check_grads(ops.neg, x)
    # the operator forms (including reflected ones) differentiate like the ops
    check_grads(lambda t: 2.0 - t * 3.0 + 1.0 / (t * t + 1.0), x)


@pytest.mark.parametrize("c", [2, 3, 0.5, -1.5, 1, 0])
@SETTINGS
@given(data=st.data(), shape=shapes())
def test_pow_scalar_exponent(c, data, shape):
    x = leaf(data.draw, shape, low=0.3, high=2.0)
    assert_allclose((x ** c).data, x.data ** c)
    check_grads(lambda t: t ** c, x)


def test_pow_zero_exponent_gradient_is_zero_even_at_zero():
    # d/dx x^0 = 0 everywhere (PyTorch); c x^(c-1) would give 0 * inf = nan at x = 0.
    x = t64([0.0, 1.0, -2.0])
    (x ** 0).sum().backward()
    assert_array_equal(x.grad.data, [0.0, 0.0, 0.0])


def test_pow_integer_exponent_negative_base():
    x = t64([-1.5, -0.5, 2.0])
    check_grads(lambda t: t ** 3, x)
    check_grads(lambda t: t ** 2, x)


@SETTINGS
@given(data=st.data(), bshapes=pairs)
def test_pow_tensor_exponent(data, bshapes):
    base = leaf(data.draw, bshapes.input_shapes[0], low=0.3, high=2.0)
    expo = leaf(data.draw, bshapes.input_shapes[1], low=-1.5, high=1.5)
    assert_allclose((base ** expo).data, base.data ** expo.data)
    check_grads(lambda a, b: a ** b, (base, expo))


@SETTINGS
@given(data=st.data(), shape=shapes())
def test_scalar_base_pow(data, shape):
    x = leaf(data.draw, shape)
    assert_allclose((2.0 ** x).data, 2.0 ** x.data)
    check_grads(lambda t: 2.0 ** t, x)


# ----------------------------------------------------------------------------
# unary maths and activations
# ----------------------------------------------------------------------------

UNARY = {
    # name: (tinygen fn, numpy reference, leaf kwargs)
    "exp": (ops.exp, np.exp, {}),
    "log": (ops.log, np.log, dict(low=0.2, high=3.0)),
    "sqrt": (ops.sqrt, np.sqrt, dict(low=0.2, high=3.0)),
    "abs": (ops.abs, np.abs, dict(away_from=0.0)),
    "tanh": (ops.tanh, np.tanh, {}),
    "sigmoid": (ops.sigmoid, lambda a: 1 / (1 + np.exp(-a)), dict(low=-4, high=4)),
    "relu": (ops.relu, lambda a: np.maximum(a, 0), dict(away_from=0.0)),
    "leaky_relu": (lambda t: ops.leaky_relu(t, 0.2), lambda a: np.where(a > 0, a, 0.2 * a),
                   dict(away_from=0.0)),
    "softplus": (ops.softplus, lambda a: np.log1p(np.exp(a)), dict(low=-4, high=4)),
    "softplus_beta": (lambda t: ops.softplus(t, beta=2.0, threshold=5.0),
                      lambda a: np.where(2 * a > 5, a, np.log1p(np.exp(2 * a)) / 2),
                      dict(low=-4, high=4, away_from=2.5)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@SETTINGS
@given(data=st.data(), shape=shapes())
def test_unary(name, data, shape):
    fn, ref, kw = UNARY[name]
    x = leaf(data.draw, shape, **kw)
    assert_allclose(fn(x).data, ref(x.data), rtol=1e-12, atol=1e-300)
    check_grads(fn, x)


def test_activations_are_stable_for_huge_inputs():
    x = t64([-1e4, -50.0, 0.0, 50.0, 1e4])
    with np.errstate(over="raise", invalid="raise", divide="raise"):   # (underflow to 0 is fine)
        s = ops.sigmoid(x).data
        sp = ops.softplus(x).data
    assert_allclose(s, [0.0, 1.9287498479639178e-22, 0.5, 1.0, 1.0])
    assert_allclose(sp, [0.0, 1.9287498479639178e-22, np.log(2), 50.0, 1e4])
    ops.softplus(x).sum().backward()
    assert np.isfinite(x.grad.data).all()


def test_kink_conventions():
    # PyTorch's choices at the kinks: abs' (0) = 0, relu'(0) = 0, clamp passes gradient at the bounds.
    x = t64([0.0, 0.0, 1.0, -1.0])
    ops.abs(x).sum().backward()
    assert_array_equal(x.grad.data, [0, 0, 1, -1])
    x = t64([0.0, 2.0])
    ops.relu(x).sum().backward()
    assert_array_equal(x.grad.data, [0, 1])
    x = t64([-1.0, -0.5, 0.5, 1.0])
    ops.clip(x, -0.5, 0.5).sum().backward()
    assert_array_equal(x.grad.data, [0, 1, 1, 0])


# ----------------------------------------------------------------------------
# selection: maximum/minimum, clip, where
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["maximum", "minimum"])
@SETTINGS
@given(data=st.data(), bshapes=pairs)
def test_maximum_minimum(name, data, bshapes):
    op, ref = getattr(ops, name), getattr(np, name)
    a = leaf(data.draw, bshapes.input_shapes[0])
    b = leaf(data.draw, bshapes.input_shapes[1])
    # a on the grid 0.4 k + 0.01, b on 0.4 k + 0.21: they never meet, so no finite
    # difference crosses the kink (ties are tested separately)
    a.data[...] = np.round(a.data / 0.4) * 0.4 + 0.01
    b.data[...] = np.round(b.data / 0.4) * 0.4 + 0.21
    assert_array_equal(op(a, b).data, ref(a.data, b.data))
    check_grads(op, (a, b))


def test_maximum_tie_rule_splits_gradient():
    a, b = t64([1.0, 2.0, 3.0]), t64([1.0, 1.0, 4.0])
    ops.maximum(a, b).backward(tg.tensor(np.array([2.0, 2.0, 2.0])))
    assert_array_equal(a.grad.data, [1.0, 2.0, 0.0])
    assert_array_equal(b.grad.data, [1.0, 0.0, 2.0])


@SETTINGS
@given(data=st.data(), shape=shapes())
def test_clip(data, shape):
    x = leaf(data.draw, shape, away_from=[-0.5, 0.7])
    assert_array_equal(ops.clip(x, -0.5, 0.7).data, np.clip(x.data, -0.5, 0.7))
    check_grads(lambda t: ops.clip(t, -0.5, 0.7), x)
    check_grads(lambda t: ops.clip(t, min=-0.5), x)
    check_grads(lambda t: t.clamp(max=0.7), x)


def test_clip_needs_a_bound():
    with pytest.raises(ValueError, match="min and max"):
        ops.clip(t64([1.0]))


@SETTINGS
@given(data=st.data(), bshapes=mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3))
def test_where(data, bshapes):
    cshape, ashape, bshape = bshapes.input_shapes
    cond = np.random.default_rng(data.draw(st.integers(0, 99))).random(cshape) > 0.5
    a, b = leaf(data.draw, ashape), leaf(data.draw, bshape)
    assert_array_equal(ops.where(cond, a, b), np.where(cond, host(a), host(b)))
    check_grads(lambda s, t: ops.where(cond, s, t), (a, b))
    check_grads(lambda s: ops.where(tg.Tensor(cond), s, 0.5), a)


# ----------------------------------------------------------------------------
# cast
# ----------------------------------------------------------------------------

def test_cast_forward_and_gradient_dtype():
    x = tg.randn(3, 2, requires_grad=True)
    y = ops.cast(x, tg.float64)
    assert y.dtype == np.float64
    g = np.arange(6.0).reshape(3, 2)
    y.backward(tg.tensor(g))
    assert x.grad.dtype == np.float32
    assert_array_equal(x.grad.data, g.astype(np.float32))


def test_cast_to_int_stops_the_gradient():
    x = t64([1.5, 2.5])
    y = ops.cast(x, tg.int64) * 1.0 + x
    y.sum().backward()
    assert_array_equal(x.grad.data, [1.0, 1.0])


@SETTINGS
@given(data=st.data(), shape=shapes(min_dims=1))
def test_cast_roundtrip_gradcheck(data, shape):
    # float64 -> float32 -> float64 is linear up to rounding (~1e-7 relative): a wide
    # finite-difference step keeps the rounding error at ~1e-5, the gradient must be exact.
    x = leaf(data.draw, shape)
    w = t64(np.random.default_rng(0).standard_normal(shape), requires_grad=False)
    check_grads(lambda t: ops.cast(ops.cast(t, tg.float32), tg.float64) * w, x, eps=1e-2, atol=1e-4)


def test_clone_is_a_copy_with_identity_gradient():
    x = t64([1.0, 2.0])
    y = x.clone()
    assert y._data is not x._data
    assert_array_equal(y.data, x.data)
    check_grads(lambda t: t.clone() * t, x)


def test_fused_leaky_relu_gives_the_same_bits_as_the_readable_one(monkeypatch):
    """LeakyReLU's one-kernel forms (what a real GPU runs through cupy.fuse) are plain
    functions of operators: forced on NumPy they give the host path's values and gradients,
    bit for bit, NaN and -0 included."""
    from tinygen import backend
    x = np.array([-2.0, -0.0, 0.0, 1e-30, 3.0, np.nan, -np.inf], np.float32)
    gy = np.linspace(-1, 1, x.size).astype(np.float32)

    def forward_backward():
        t = tg.tensor(x, requires_grad=True)
        y = ops.leaky_relu(t, 0.2)
        y.backward(tg.tensor(gy))
        return y.cpu().numpy(), t.grad.cpu().numpy()

    plain = forward_backward()
    monkeypatch.setattr(backend, "fused_kernels_for", lambda a: True)
    calls = []
    fused = backend.fused
    monkeypatch.setattr(backend, "fused", lambda fn: calls.append(fn.__name__) or fused(fn))
    for a, b in zip(forward_backward(), plain):
        assert_array_equal(a.view(np.uint32), b.view(np.uint32))
    assert calls == ["_leaky_relu", "_leaky_relu_factor"]
