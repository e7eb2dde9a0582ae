"""Normalisation functionals: values, first- and second-order gradchecks, running statistics.

Read in order: the shared standardisation core (fused vs composite), then
batch norm in train and eval mode, the running-statistics update checked by
hand, instance/layer/group norm, and the sabotage tests that show why the
backward must be written in Tensor ops on tensors that depend on x (DeZero's
cached ``inv_std`` passes gradcheck and fails gradgradcheck).
"""
import gc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
from tinygen import functional as F
from tinygen import nn
from tinygen.autograd import Function, Tensor
from tinygen.gradcheck import GradcheckError, gradcheck, gradgradcheck
from tinygen.ops import norm
from tinygen_tests.conftest import (
    SETTINGS, assert_allclose, assert_array_equal, check_grads, host, leaf, on_default_device, t64)


def np_standardize(x, axes, eps=1e-5):
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)      # biased
    return (x - mu) / np.sqrt(var + eps)


def channel_vectors(draw, C, affine):
    if not affine:
        return None, None
    w = leaf(draw, (C,), low=0.5, high=1.5)
    b = leaf(draw, (C,))
    return w, b


# ----------------------------------------------------------------------------
# the shared core: Standardize (fused) against the composite reference
# ----------------------------------------------------------------------------

@SETTINGS
@given(data=st.data(), shape=st.sampled_from([(2, 3), (3, 2, 3), (2, 2, 2, 3), (1, 3, 4)]))
def test_standardize_fused_matches_composite_to_second_order(data, shape):
    x = leaf(data.draw, shape)
    axes = tuple(a for a in range(len(shape)) if a != 1)
    fused, mu1, var1 = norm.standardize(x, axes)
    comp, mu2, var2 = norm.standardize_composite(x, axes)
    assert_allclose(fused.data, np_standardize(x.data, axes), atol=1e-12)
    assert_allclose(comp.data, fused.data, atol=1e-12)
    assert_allclose(mu1, mu2, atol=1e-14)
    assert_allclose(var1, var2, atol=1e-14)
    # first and second derivatives agree with each other (and with finite differences below)
    v = t64(np.random.default_rng(0).standard_normal(shape))
    g1, = tg.grad(norm.standardize(x, axes)[0], x, v, create_graph=True)
    g2, = tg.grad(norm.standardize_composite(x, axes)[0], x, v, create_graph=True)
    assert_allclose(g1.data, g2.data, atol=1e-10)
    w = np.random.default_rng(1).standard_normal(shape)
    h1, = tg.grad(g1, x, t64(w))
    h2, = tg.grad(g2, x, t64(w))
    assert_allclose(h1.data, h2.data, atol=1e-9)


def test_standardize_backward_works_when_the_caller_drops_inv_std():
    """batch_norm keeps only x_hat: the function saves inv_std itself (nothing pinned on x_hat)."""
    rng = np.random.default_rng(4)
    x, v = t64(rng.standard_normal((4, 3))), rng.standard_normal((4, 3))
    x_hat = norm.Standardize((0,), 1e-5)(x)[0]
    gc.collect()
    assert vars(x_hat).keys() == vars(tg.Tensor(x.data)).keys()      # no extra attributes
    (g,) = tg.grad(x_hat, x, t64(v), create_graph=True)
    (g_ref,) = tg.grad(norm.standardize_composite(x, (0,))[0], x, t64(v), create_graph=True)
    assert_allclose(g.data, g_ref.data, atol=1e-10)
    w = rng.standard_normal((4, 3))
    assert_allclose(tg.grad(g, x, t64(w))[0].data, tg.grad(g_ref, x, t64(w))[0].data,
                               atol=1e-9)
    check_grads(lambda t: norm.Standardize((0,), 1e-5)(t)[0], x)


def test_standardize_inv_std_output_is_differentiable():
    """The second output, 1/sqrt(var + eps), has its own (exact) gradient path."""
    x = t64(np.random.default_rng(3).standard_normal((3, 4)))
    check_grads(lambda t: norm.Standardize((0,), 1e-5)(t), x)


# ----------------------------------------------------------------------------
# batch norm
# ----------------------------------------------------------------------------

bn_shapes = st.sampled_from([(2, 3), (3, 2), (1, 2, 3), (2, 3, 1), (2, 2, 3), (1, 2, 2, 3),
                             (2, 3, 1, 1), (3, 1, 2, 1), (2, 2, 3, 2)])


@SETTINGS
@given(data=st.data(), shape=bn_shapes, affine=st.booleans())
def test_batch_norm_train_values_and_gradients(data, shape, affine):
    x = leaf(data.draw, shape)
    w, b = channel_vectors(data.draw, shape[1], affine)
    y = F.batch_norm(x, None, None, w, b, training=True)
    axes = (0,) + tuple(range(2, len(shape)))
    expect = np_standardize(x.data, axes)
    if affine:
        cs = (1, shape[1]) + (1,) * (len(shape) - 2)
        expect = expect * w.data.reshape(cs) + b.data.reshape(cs)
    assert_allclose(y.data, expect, atol=1e-12)
    inputs = (x, w, b) if affine else (x,)
    fn = (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True)) if affine else \
        (lambda x: F.batch_norm(x, None, None, training=True))
    check_grads(fn, inputs)


@SETTINGS
@given(data=st.data(), shape=st.sampled_from([(1, 2), (2, 3), (1, 3, 2), (1, 2, 1, 1),
                                              (2, 2, 2, 1)]), affine=st.booleans())
def test_batch_norm_eval_values_and_gradients(data, shape, affine):
    """Eval mode: batch size 1 (even one value per channel) is legal; stats are constants."""
    C = shape[1]
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    rm, rv = rng.standard_normal(C), rng.uniform(0.5, 2.0, C)
    x = leaf(data.draw, shape)
    rm_d, rv_d = on_default_device(rm), on_default_device(rv)      # the running statistics
    w, b = channel_vectors(data.draw, C, affine)
    cs = (1, C) + (1,) * (len(shape) - 2)
    y = F.batch_norm(x, rm_d, rv_d, w, b, training=False)
    expect = (host(x) - rm.reshape(cs)) / np.sqrt(rv.reshape(cs) + 1e-5)
    if affine:
        expect = expect * host(w).reshape(cs) + host(b).reshape(cs)
    assert_allclose(y.data, expect, atol=1e-12)
    inputs = (x, w, b) if affine else (x,)
    fn = (lambda x, w, b: F.batch_norm(x, rm_d, rv_d, w, b)) if affine else \
        (lambda x: F.batch_norm(x, rm_d, rv_d))
    check_grads(fn, inputs)
    assert_array_equal(rm_d, rm)          # eval never touches the running stats
    assert_array_equal(rv_d, rv)


def test_batch_norm_running_stats_by_hand():
    """running = (1 - m) running + m stat, with the BIASED variance for normalising and the
    UNBIASED one (n / (n - 1)) for the running estimate."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 2, 5))                 # n = 4*2*5 = 40 per channel
    n = 40
    mean = x.mean(axis=(0, 2, 3))
    biased = ((x - mean[None, :, None, None]) ** 2).mean(axis=(0, 2, 3))
    unbiased = biased * n / (n - 1)
    rm, rv = on_default_device(np.full(3, 0.5)), on_default_device(np.full(3, 2.0))
    y = F.batch_norm(t64(x), rm, rv, training=True, momentum=0.25)
    assert_allclose(rm, 0.75 * 0.5 + 0.25 * mean, rtol=1e-13)
    assert_allclose(rv, 0.75 * 2.0 + 0.25 * unbiased, rtol=1e-13)
    # normalisation used the biased variance
    assert_allclose(y.data, (x - mean[None, :, None, None]) /
                               np.sqrt(biased[None, :, None, None] + 1e-5), atol=1e-12)
    # and the running buffers are plain arrays updated in place, with no graph
    rm_t = Tensor(on_default_device(np.zeros(3)))
    before = rm_t._data
    F.batch_norm(t64(x), rm_t, Tensor(on_default_device(np.ones(3))), training=True)
    assert rm_t._data is before and rm_t.grad_fn is None
    assert_allclose(rm_t.data, 0.1 * mean, rtol=1e-13)


def test_running_statistics_on_another_device_are_named():
    x = t64(np.ones((4, 3)), requires_grad=False).to("cpu")
    if not tg.cuda_is_available():
        pytest.skip("needs a CUDA device (or TINYGEN_SIMULATE_CUDA=1)")
    rm = tg.zeros(3, dtype=tg.float64, device="cuda")
    with pytest.raises(tg.DeviceError, match="running_mean is on cuda:0 but the input is on cpu"):
        F.batch_norm(x, rm, tg.ones(3, dtype=tg.float64), training=True)


def test_batch_norm_2d_input_running_var_is_unbiased_over_batch():
    x = np.array([[1.0, 10.0], [3.0, 20.0], [8.0, 60.0]])             # (N=3, C=2)
    rm, rv = on_default_device(np.zeros(2)), on_default_device(np.ones(2))
    F.batch_norm(t64(x), rm, rv, training=True, momentum=1.0)
    assert_allclose(rm, x.mean(0))
    assert_allclose(rv, x.var(0, ddof=1))


def test_batch_norm_cumulative_average_through_the_module():
    """momentum=None: running stats are the plain average of the per-batch statistics."""
    bn = nn.BatchNorm2d(2, momentum=None).double()
    rng = np.random.default_rng(1)
    means, variances = [], []
    for k in range(4):
        x = rng.normal(k, 1 + k, (3, 2, 2, 2))
        bn(t64(x, requires_grad=False))
        means.append(x.mean(axis=(0, 2, 3)))
        variances.append(x.var(axis=(0, 2, 3), ddof=1))
    assert_allclose(bn.running_mean.data, np.mean(means, 0), rtol=1e-12)
    assert_allclose(bn.running_var.data, np.mean(variances, 0), rtol=1e-12)
    assert bn.num_batches_tracked.item() == 4 and bn.num_batches_tracked.dtype == np.int64


def test_batch_norm_errors_name_the_problem():
    def zeros(n):
        return on_default_device(np.zeros(n))       # running statistics on the input's device

    def ones(n):
        return on_default_device(np.ones(n))

    with pytest.raises(ValueError, match=r"more than 1 value per channel.*\(1, 3\)"):
        F.batch_norm(t64(np.ones((1, 3))), None, None, training=True)
    with pytest.raises(ValueError, match=r"more than 1 value per channel"):
        F.batch_norm(t64(np.ones((1, 3, 1, 1))), zeros(3), ones(3), training=True)
    with pytest.raises(ValueError, match=r"running_mean has shape \(4,\).*3 channels"):
        F.batch_norm(t64(np.ones((2, 3))), zeros(4), ones(4), training=True)
    with pytest.raises(ValueError, match="training=False needs running_mean"):
        F.batch_norm(t64(np.ones((2, 3))), None, None, training=False)
    with pytest.raises(ValueError, match="momentum=None"):
        F.batch_norm(t64(np.ones((2, 3))), zeros(3), ones(3), training=True, momentum=None)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        F.batch_norm(t64(np.ones(3)), None, None, training=True)


def test_batch_norm_keeps_float32():
    x = tg.randn(4, 3, 2, 2)
    rm, rv = tg.zeros(3), tg.ones(3)
    assert F.batch_norm(x, rm, rv, training=True).dtype == np.float32
    assert F.batch_norm(x, rm, rv, training=False).dtype == np.float32
    assert rm.dtype == np.float32 and rv.dtype == np.float32


# ----------------------------------------------------------------------------
# instance, layer and group norm: batch norm over other axes
# ----------------------------------------------------------------------------

@SETTINGS
@given(data=st.data(), shape=st.sampled_from([(1, 2, 3), (2, 1, 2, 2), (1, 3, 3, 1), (2, 2, 2)]),
       affine=st.booleans())
def test_instance_norm(data, shape, affine):
    x = leaf(data.draw, shape)
    w, b = channel_vectors(data.draw, shape[1], affine)
    y = F.instance_norm(x, weight=w, bias=b)
    expect = np_standardize(x.data, tuple(range(2, len(shape))))
    if affine:
        cs = (1, shape[1]) + (1,) * (len(shape) - 2)
        expect = expect * w.data.reshape(cs) + b.data.reshape(cs)
    assert_allclose(y.data, expect, atol=1e-12)
    inputs = (x, w, b) if affine else (x,)
    fn = (lambda x, w, b: F.instance_norm(x, weight=w, bias=b)) if affine else F.instance_norm
    check_grads(fn, inputs)


def test_instance_norm_running_stats_and_eval():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 2, 2, 2))
    rm, rv = on_default_device(np.zeros(2)), on_default_device(np.ones(2))
    F.instance_norm(t64(x), rm, rv, momentum=0.5)
    inst_mean = x.mean(axis=(2, 3))                       # (N, C)
    inst_var = x.var(axis=(2, 3), ddof=1)
    assert_allclose(rm, 0.5 * inst_mean.mean(0), rtol=1e-13)
    assert_allclose(rv, 0.5 + 0.5 * inst_var.mean(0), rtol=1e-13)
    y = F.instance_norm(t64(x), rm, rv, use_input_stats=False)
    rm, rv = host(rm), host(rv)
    assert_allclose(y.data, (x - rm[:, None, None]) / np.sqrt(rv[:, None, None] + 1e-5))
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        F.instance_norm(t64(np.ones((2, 3, 1, 1))))


@SETTINGS
@given(data=st.data(), case=st.sampled_from([((2, 3), (3,)), ((2, 2, 3), (3,)),
                                             ((2, 2, 3), (2, 3)), ((1, 4), 4)]),
       affine=st.booleans())
def test_layer_norm(data, case, affine):
    shape, nshape = case
    x = leaf(data.draw, shape)
    ns = (nshape,) if isinstance(nshape, int) else nshape
    w = leaf(data.draw, ns, low=0.5, high=1.5) if affine else None
    b = leaf(data.draw, ns) if affine else None
    y = F.layer_norm(x, nshape, w, b)
    expect = np_standardize(x.data, tuple(range(len(shape) - len(ns), len(shape))))
    if affine:
        expect = expect * w.data + b.data
    assert_allclose(y.data, expect, atol=1e-12)
    inputs = (x, w, b) if affine else (x,)
    fn = (lambda x, w, b: F.layer_norm(x, nshape, w, b)) if affine else \
        (lambda x: F.layer_norm(x, nshape))
    check_grads(fn, inputs)
    with pytest.raises(ValueError, match="trailing dimensions"):
        F.layer_norm(x, (5,))


@SETTINGS
@given(data=st.data(), case=st.sampled_from([((2, 4, 2), 2), ((1, 4, 2, 1), 4), ((2, 3, 2, 2), 1),
                                             ((1, 6, 1), 3)]), affine=st.booleans())
def test_group_norm(data, case, affine):
    shape, G = case
    x = leaf(data.draw, shape)
    w, b = channel_vectors(data.draw, shape[1], affine)
    y = F.group_norm(x, G, w, b)
    grouped = x.data.reshape(shape[0], G, -1)
    expect = np_standardize(grouped, (2,)).reshape(shape)
    if affine:
        cs = (1, shape[1]) + (1,) * (len(shape) - 2)
        expect = expect * w.data.reshape(cs) + b.data.reshape(cs)
    assert_allclose(y.data, expect, atol=1e-12)
    inputs = (x, w, b) if affine else (x,)
    fn = (lambda x, w, b: F.group_norm(x, G, w, b)) if affine else (lambda x: F.group_norm(x, G))
    check_grads(fn, inputs)


def test_group_norm_extremes_are_layer_and_instance_norm():
    x = t64(np.random.default_rng(4).standard_normal((2, 4, 3, 2)))
    assert_allclose(F.group_norm(x, 1).data, F.layer_norm(x, (4, 3, 2)).data,
                               atol=1e-12)
    assert_allclose(F.group_norm(x, 4).data, F.instance_norm(x).data, atol=1e-12)
    with pytest.raises(ValueError, match="num_groups=3 must divide.*C=4"):
        F.group_norm(x, 3)


# ----------------------------------------------------------------------------
# sabotage: wrong backwards are caught
# ----------------------------------------------------------------------------

class DeZeroStyleBatchNorm(Function):
    """The classic bug: mean and inv_std cached as raw arrays and used as constants in backward.

    The first derivative is still right (the formula is right at this point),
    but the backward is not a function of x the way the true gradient is, so
    its derivative — the double backward — misses every d(inv_std)/dx term.
    """

    def forward(self, x):
        self.save_for_backward(x)
        self.mu = x.mean(axis=0, keepdims=True)          # attributes: save_for_backward would
        self.inv_std = 1.0 / np.sqrt(x.var(axis=0, keepdims=True) + 1e-5)   # refuse these
        return (x - self.mu) * self.inv_std

    def backward(self, gy):
        (x,) = self.saved_tensors
        inv_std = Tensor(self.inv_std)                  # WRONG: a constant of x
        x_hat = (x - Tensor(self.mu)) * inv_std         # WRONG: mu treated as constant
        return inv_std * (gy - gy.mean(0, keepdim=True)
                          - x_hat * (gy * x_hat).mean(0, keepdim=True))


def test_sabotage_cached_inv_std_passes_gradcheck_but_fails_gradgradcheck():
    x = t64(np.random.default_rng(5).standard_normal((4, 3)))
    wrong = lambda t: DeZeroStyleBatchNorm()(t)                          # noqa: E731
    assert gradcheck(wrong, x).passed                                    # first order fine
    with pytest.raises(GradcheckError, match="mismatch"):
        gradgradcheck(wrong, x)                                          # second order caught
    ours = lambda t: F.batch_norm(t, None, None, training=True)          # noqa: E731
    assert gradcheck(ours, x).passed and gradgradcheck(ours, x).passed


@pytest.mark.parametrize("sabotage", ["zeros", "ignore_upstream", "double", "drop_mean_term"])
def test_sabotaged_standardize_backward_is_caught(monkeypatch, sabotage):
    original = norm.Standardize.backward

    def broken(self, g_xhat, g_inv_std):
        if sabotage == "zeros":
            return original(self, g_xhat * 0.0, g_inv_std * 0.0)
        if sabotage == "ignore_upstream":
            return original(self, g_xhat * 0.0 + 1.0, g_inv_std)
        if sabotage == "double":
            return original(self, g_xhat, g_inv_std) * 2.0
        x_hat, inv_std = self.saved_tensors                              # drop_mean_term
        return inv_std * (g_xhat - x_hat * (g_xhat * x_hat).mean(self.axes, keepdim=True))

    monkeypatch.setattr(norm.Standardize, "backward", broken)
    x = t64(np.random.default_rng(6).standard_normal((3, 2, 2)))
    with pytest.raises(GradcheckError):
        gradcheck(lambda t: F.batch_norm(t, None, None, training=True), x)


def test_sabotaged_inv_std_term_is_caught_by_gradgradcheck(monkeypatch):
    """Dropping the path through inv_std leaves first order exact but breaks second order."""
    def no_inv_std_path(self, g_xhat, g_inv_std):
        x_hat, inv_std = self.saved_tensors
        d = self.axes
        return inv_std * (g_xhat - g_xhat.mean(d, keepdim=True)
                          - x_hat * (g_xhat * x_hat).mean(d, keepdim=True))

    x = t64(np.random.default_rng(7).standard_normal((4, 2)))
    fn = lambda t: F.batch_norm(t, None, None, training=True)            # noqa: E731
    monkeypatch.setattr(norm.Standardize, "backward", no_inv_std_path)
    assert gradcheck(fn, x).passed
    with pytest.raises(GradcheckError):
        gradgradcheck(fn, x)
