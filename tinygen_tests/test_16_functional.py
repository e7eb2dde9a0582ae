"""Functional: softmax family and losses.

Property tests (hypothesis) state what each function must satisfy whatever
the input; gradchecks (first and second order, float64, random upstream)
check the derivatives; the optional PyTorch oracle compares values and
gradients with ``torch.nn.functional`` in float64.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
from tinygen import functional as F
from tinygen_tests.conftest import (
    SETTINGS, assert_allclose, assert_array_equal, check_grads, host, leaf, shapes, t64)

batch = st.tuples(st.integers(1, 4), st.integers(2, 5))       # (N, C)


def _labels(draw, n, c):
    rng = np.random.default_rng(draw(st.integers(0, 10 ** 6)))
    return rng.integers(0, c, n)


# ----------------------------------------------------------------------------
# softmax / log_softmax
# ----------------------------------------------------------------------------

@SETTINGS
@given(data=st.data(), shape=shapes(min_dims=1), scale=st.sampled_from([1.0, 100.0, 1e4]))
def test_softmax_properties(data, shape, scale):
    x = leaf(data.draw, shape)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    logits = tg.Tensor(x.data * scale)
    p = F.softmax(logits, dim)
    assert np.all(p.data >= 0) and np.all(np.isfinite(p.data))
    assert_allclose(p.data.sum(axis=dim), 1.0, rtol=1e-12)
    assert_allclose(F.softmax(logits + 123.0, dim).data, p.data, atol=1e-12)   # shift-invariant
    lp = F.log_softmax(logits, dim)
    assert np.all(np.isfinite(lp.data)) and np.all(lp.data <= 1e-12)
    with np.errstate(divide="ignore"):
        assert_allclose(lp.data[p.data > 1e-300], np.log(p.data)[p.data > 1e-300], rtol=1e-9, atol=1e-12)
    check_grads(lambda t: F.softmax(t, dim), x)
    check_grads(lambda t: F.log_softmax(t, dim), x)


def test_log_softmax_gradient_finite_for_huge_logits():
    x = t64([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]])
    F.log_softmax(x, 1).backward(tg.tensor(np.array([[1.0, 2.0, 3.0], [1.0, 0.0, -1.0]])))
    assert np.all(np.isfinite(x.grad.data))


# ----------------------------------------------------------------------------
# cross-entropy and nll
# ----------------------------------------------------------------------------

@SETTINGS
@given(data=st.data(), nc=batch)
def test_cross_entropy_properties(data, nc):
    n, c = nc
    x = leaf(data.draw, (n, c), low=-3, high=3)
    t = _labels(data.draw, n, c)
    loss = F.cross_entropy(x, t, reduction="none")
    p = np.exp(x.data) / np.exp(x.data).sum(1, keepdims=True)
    assert np.all(loss.data >= 0)
    assert_allclose(loss.data, -np.log(p[np.arange(n), t]), rtol=1e-10)
    assert_allclose(F.cross_entropy(x, t).item(), loss.data.mean())
    # one-hot probabilities as the target give the same loss
    onehot = tg.tensor(np.eye(c)[t])
    assert_allclose(F.cross_entropy(x, onehot, reduction="none").data, loss.data)
    # label smoothing: (1 - eps) nll + eps mean_c(-log p_c)
    eps = 0.2
    smoothed = F.cross_entropy(x, t, label_smoothing=eps, reduction="none")
    expect = (1 - eps) * loss.data + eps * (-np.log(p)).mean(1)
    assert_allclose(smoothed.data, expect, rtol=1e-10)
    check_grads(lambda s: F.cross_entropy(s, t), x)
    check_grads(lambda s: F.cross_entropy(s, t, label_smoothing=eps, reduction="sum"), x)


def test_cross_entropy_ignore_index_and_weights():
    x = t64(np.random.default_rng(0).standard_normal((4, 3)))
    t = np.array([0, -100, 2, 1])
    full = host(F.cross_entropy(x, t, reduction="none"))
    assert full[1] == 0.0
    assert_allclose(F.cross_entropy(x, t).item(), full[[0, 2, 3]].mean())
    w = np.array([1.0, 2.0, 0.5])
    wd, t2 = tg.tensor(w), tg.tensor([0, 1, 2, 1])             # on the logits' device
    got = F.cross_entropy(x, t2, weight=wd).item()
    per = host(F.cross_entropy(x, t2, reduction="none"))
    assert_allclose(got, (per * w[[0, 1, 2, 1]]).sum() / w[[0, 1, 2, 1]].sum())
    check_grads(lambda s: F.cross_entropy(s, t, weight=wd), x)


def test_cross_entropy_spatial_targets():
    x = t64(np.random.default_rng(1).standard_normal((2, 3, 2, 2)))
    t = np.random.default_rng(2).integers(0, 3, (2, 2, 2))
    per = F.cross_entropy(x, t, reduction="none")
    assert per.shape == (2, 2, 2)
    flat = F.cross_entropy(x.permute(0, 2, 3, 1).reshape(-1, 3), t.reshape(-1), reduction="none")
    assert_allclose(per.data.reshape(-1), flat.data)
    check_grads(lambda s: F.cross_entropy(s, t), x)


def test_nll_loss_errors_name_the_problem():
    lp = F.log_softmax(tg.randn(2, 3), 1)
    with pytest.raises(ValueError, match=r"target shape \(3,\)"):
        F.nll_loss(lp, np.array([0, 1, 2]))
    with pytest.raises(IndexError, match=r"\[0, 3\)"):
        F.nll_loss(lp, np.array([0, 3]))
    with pytest.raises(TypeError, match="integer"):
        F.nll_loss(lp, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(tg.zeros(2), tg.zeros(2), reduction="avg")


# ----------------------------------------------------------------------------
# binary cross-entropy
# ----------------------------------------------------------------------------

@SETTINGS
@given(data=st.data(), shape=shapes(min_dims=1), scale=st.sampled_from([1.0, 50.0, 1e4]))
def test_bce_with_logits_is_finite_and_matches_naive_formula(data, shape, scale):
    x = leaf(data.draw, shape)
    y = np.random.default_rng(data.draw(st.integers(0, 99))).random(shape)
    yd = tg.tensor(y)                             # the target, on the logits' device
    logits = tg.Tensor(x.data * scale, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(logits, yd, reduction="none")
    loss.sum().backward()
    assert np.all(np.isfinite(host(loss))) and np.all(np.isfinite(host(logits.grad)))
    assert np.all(host(loss) >= -1e-12)
    s = 1 / (1 + np.exp(-host(logits)))
    if scale == 1.0:                              # the naive formula is stable here
        naive = -(y * np.log(s) + (1 - y) * np.log(1 - s))
        assert_allclose(loss.data, naive, rtol=1e-10)
    assert_allclose(logits.grad.data, s - y, atol=1e-12)
    check_grads(lambda t: F.binary_cross_entropy_with_logits(t, yd), x)
    pw = tg.tensor(np.array(2.5))
    check_grads(lambda t: F.binary_cross_entropy_with_logits(t, yd, pos_weight=pw, reduction="sum"), x)


def test_bce_with_logits_pos_weight_formula():
    x, y = t64([0.3, -1.2]), np.array([1.0, 0.0])
    got = F.binary_cross_entropy_with_logits(x, tg.tensor(y), pos_weight=3.0, reduction="none")
    s = 1 / (1 + np.exp(-host(x)))
    assert_allclose(got, -(3.0 * y * np.log(s) + (1 - y) * np.log(1 - s)))


def test_bce_on_probabilities_finite_at_0_and_1():
    p = t64([0.0, 1.0, 0.0, 1.0, 0.3])
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    loss = F.binary_cross_entropy(p, tg.tensor(y), reduction="none")
    assert_allclose(loss.data, [100.0, 100.0, 0.0, 0.0, -np.log(0.3)])
    loss.sum().backward()
    assert np.all(np.isfinite(host(p.grad)))
    with pytest.raises(ValueError, match="probabilities"):
        F.binary_cross_entropy(t64([1.5]), tg.tensor([1.0]))


@SETTINGS
@given(data=st.data(), shape=shapes(min_dims=1))
def test_bce_gradcheck(data, shape):
    p = leaf(data.draw, shape, low=0.1, high=0.9)
    y = tg.tensor(np.random.default_rng(data.draw(st.integers(0, 99))).random(shape))
    check_grads(lambda t: F.binary_cross_entropy(t, y), p)


# ----------------------------------------------------------------------------
# regression losses and KL
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss"])
@SETTINGS
@given(data=st.data(), shape=shapes(min_dims=1))
def test_regression_losses(name, data, shape):
    fn = getattr(F, name)
    x = leaf(data.draw, shape)
    assert fn(x, x.data.copy()).item() == 0.0                       # zero at equality
    y = host(leaf(data.draw, shape))
    y = tg.tensor(y + np.where(np.abs(host(x) - y) < 0.1, 0.5, 0.0))  # away from the |d| kink
    assert fn(x, y).item() > 0.0                                      # positive otherwise
    check_grads(lambda t: fn(t, y), x)
    check_grads(lambda t: fn(t, y, reduction="sum"), x)


def test_regression_loss_values_and_minima():
    x, y = t64([0.0, 0.5, 3.0]), t64([1.0, 0.0, 0.0], requires_grad=False)
    assert_allclose(F.mse_loss(x, y).item(), (1 + 0.25 + 9) / 3)
    assert_allclose(F.l1_loss(x, y, reduction="sum").item(), 4.5)
    assert_allclose(F.smooth_l1_loss(x, y, reduction="none").data, [0.5, 0.125, 2.5])
    assert_allclose(F.smooth_l1_loss(x, y, beta=2.0, reduction="none").data,
                               [0.25, 0.0625, 2.0])
    # the constant c minimising mean (c - y_i)^2 is the mean; for |c - y_i| the median
    ys = t64([0.0, 1.0, 5.0], requires_grad=False)
    c = t64([2.0])                                        # the mean
    F.mse_loss(c.broadcast_to((3,)), ys).backward()
    assert abs(c.grad.item()) < 1e-12
    c = t64([1.0 + 1e-3])                                 # just right of the median
    F.l1_loss(c.broadcast_to((3,)), ys).backward()
    assert c.grad.item() == pytest.approx(1 / 3)       # one point left of c... net slope 1/3


@SETTINGS
@given(data=st.data(), nc=batch)
def test_kl_div(data, nc):
    n, c = nc
    q_logits, p_logits = leaf(data.draw, (n, c)), leaf(data.draw, (n, c))
    log_q = F.log_softmax(q_logits, 1)
    p = F.softmax(p_logits, 1).detach()
    kl = F.kl_div(log_q, p, reduction="batchmean")
    assert kl.item() >= -1e-12
    assert abs(F.kl_div(F.log_softmax(p_logits, 1), p, reduction="batchmean").item()) < 1e-12
    log_p = F.log_softmax(p_logits, 1).detach()
    assert_allclose(F.kl_div(log_q, log_p, reduction="sum", log_target=True).item(),
                               kl.item() * n, rtol=1e-10, atol=1e-12)
    check_grads(lambda t: F.kl_div(F.log_softmax(t, 1), p, reduction="batchmean"), q_logits)
    zero_target = np.zeros((n, c))
    zero_target[:, 0] = 1.0                                   # 0 log 0 = 0
    assert np.isfinite(F.kl_div(log_q, tg.tensor(zero_target), reduction="sum").item())


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "kl_div",
                                  "binary_cross_entropy", "binary_cross_entropy_with_logits"])
def test_shape_mismatch_is_an_error_naming_both_shapes(name):
    with pytest.raises(ValueError, match=r"\(3, 1\).*\(3,\)"):
        getattr(F, name)(tg.full((3, 1), 0.5), tg.full((3,), 0.5))


def test_linear_and_elu():
    x, w, b = t64(np.ones((2, 3))), t64(np.arange(12.0).reshape(4, 3) / 10), t64(np.arange(4.0))
    assert_allclose(F.linear(x, w, b).data, x.data @ w.data.T + b.data)
    check_grads(F.linear, (x, w, b))
    with pytest.raises(ValueError, match=r"3 features.*expects 4"):
        F.linear(x, t64(np.ones((2, 4))))
    z = t64([-1.0, -0.3, 0.5, 2.0])
    assert_allclose(F.elu(z).data, np.where(z.data > 0, z.data, np.expm1(z.data)))
    check_grads(lambda t: F.elu(t, 0.7), z)
    assert_array_equal(F.one_hot(np.array([2, 0]), 3).data, [[0, 0, 1], [1, 0, 0]])


# ----------------------------------------------------------------------------
# PyTorch oracle (optional)
# ----------------------------------------------------------------------------

def _torch_pair(a):
    torch = pytest.importorskip("torch")
    return t64(a), torch.tensor(a, dtype=torch.float64, requires_grad=True)


LOSS_CASES = {
    "ce": (lambda x, t, F_: F_.cross_entropy(x, t), "idx"),
    "ce_ls": (lambda x, t, F_: F_.cross_entropy(x, t, label_smoothing=0.1), "idx"),
    "ce_ls_ignore": (lambda x, t, F_: F_.cross_entropy(x, t, label_smoothing=0.1, ignore_index=1), "idx"),
    "ce_ls_weight": (lambda x, t, F_, w=np.array([0.2, 1.0, 3.0]):
                     F_.cross_entropy(x, t, weight=_w(F_, w), label_smoothing=0.3), "idx"),
    "ce_weight_sum": (lambda x, t, F_, w=np.array([0.2, 1.0, 3.0]):
                      F_.cross_entropy(x, t, weight=_w(F_, w), reduction="sum"), "idx"),
    "ce_soft": (lambda x, t, F_: F_.cross_entropy(x, t, label_smoothing=0.2), "prob"),
    "ce_soft_weight": (lambda x, t, F_, w=np.array([0.2, 1.0, 3.0]):
                       F_.cross_entropy(x, t, weight=_w(F_, w)), "prob"),
    "ce_ls_ignore_weight_none": (lambda x, t, F_, w=np.array([0.2, 1.0, 3.0]): (F_.cross_entropy(
        x, t, weight=_w(F_, w), label_smoothing=0.3, ignore_index=0, reduction="none") * 1.5).sum(), "idx"),
    "ce_ls_ignore_weight_mean": (lambda x, t, F_, w=np.array([0.2, 1.0, 3.0]): F_.cross_entropy(
        x, t, weight=_w(F_, w), label_smoothing=0.3, ignore_index=2), "idx"),
    "nll": (lambda x, t, F_: F_.nll_loss(F_.log_softmax(x, 1), t), "idx"),
    "bce_logits": (lambda x, t, F_: F_.binary_cross_entropy_with_logits(x, t), "prob"),
    "bce_logits_pw": (lambda x, t, F_: F_.binary_cross_entropy_with_logits(
        x, t, pos_weight=_w(F_, np.array([2.0, 0.5, 1.0]))), "prob"),
    "bce": (lambda x, t, F_: F_.binary_cross_entropy(F_.sigmoid(x), t), "prob"),
    "mse": (lambda x, t, F_: F_.mse_loss(x, t), "prob"),
    "l1": (lambda x, t, F_: F_.l1_loss(x, t, reduction="sum"), "prob"),
    "smooth_l1": (lambda x, t, F_: F_.smooth_l1_loss(x * 3, t, beta=0.5), "prob"),
    "kl": (lambda x, t, F_: F_.kl_div(F_.log_softmax(x, 1), t, reduction="batchmean"), "prob"),
    "kl_log": (lambda x, t, F_: F_.kl_div(F_.log_softmax(x, 1), F_.log_softmax(t * 3, 1),
                                         reduction="sum", log_target=True), "prob"),
    "softmax": (lambda x, t, F_: (F_.softmax(x, 0) * t).sum(), "prob"),
    "log_softmax": (lambda x, t, F_: (F_.log_softmax(x, 1) * t).sum(), "prob"),
    "elu": (lambda x, t, F_: (F_.elu(x, 0.5) * t).sum(), "prob"),
    "softplus": (lambda x, t, F_: (F_.softplus(x * 10, beta=2.0, threshold=7.0) * t).sum(), "prob"),
}


def _w(F_, w):
    if F_ is F:
        return tg.tensor(w)
    import torch
    return torch.tensor(w)


@pytest.mark.parametrize("name", sorted(LOSS_CASES))
def test_functional_against_torch(name):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as TF
    fn, kind = LOSS_CASES[name]
    rng = np.random.default_rng(7)
    a = rng.standard_normal((5, 3))
    if kind == "idx":
        t_np = rng.integers(0, 3, 5)
        t_ours, t_torch = t_np, torch.tensor(t_np)
    else:
        t_np = rng.random((5, 3))
        if name == "kl":
            t_np = t_np / t_np.sum(1, keepdims=True)
        t_ours, t_torch = tg.tensor(t_np), torch.tensor(t_np)
    x, xt = _torch_pair(a)
    y, yt = fn(x, t_ours, F), fn(xt, t_torch, TF)
    assert_allclose(y.data, yt.detach().cpu().numpy(), rtol=1e-10, atol=1e-12)
    y.backward()
    yt.backward()
    assert_allclose(x.grad.data, xt.grad.cpu().numpy(), rtol=1e-9, atol=1e-12)
