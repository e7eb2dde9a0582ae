"""Pooling: max (arg-max scatter), average (PyTorch's divisor rules), adaptive average.

Max pooling is checked on inputs whose entries are pairwise far apart, so no
window has a tie within the finite-difference step (the arg-max is then a
locally constant choice and max pooling is smooth there).
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tinygen as tg
from tinygen import nn
from tinygen.gradcheck import GradcheckError, check_module, gradcheck
from tinygen.ops import pool as P
from tinygen.ops import shape as S
from tinygen_tests.conftest import assert_allclose, check_grads, t64

FAST = settings(max_examples=6, deadline=None)


@st.composite
def pool_config(draw, max_side=6, dilation=True):
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    p = tuple(draw(st.integers(0, kk // 2)) for kk in k)
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    eff = [dd * (kk - 1) + 1 for kk, dd in zip(k, d)]
    H = draw(st.integers(max(1, eff[0] - 2 * p[0]), max(max_side, eff[0])))
    W = draw(st.integers(max(1, eff[1] - 2 * p[1]), max(max_side, eff[1])))
    cfg = dict(N=draw(st.integers(1, 2)), C=draw(st.integers(1, 2)), k=k, s=s, p=p, d=d,
               H=H, W=W, ceil=draw(st.booleans()))
    assume(not _some_window_sees_only_padding(cfg))   # that case is an error, tested on its own
    return cfg


def _distinct(shape, seed):
    """Values pairwise >= 0.1 apart: no ties inside any window."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    return t64(((rng.permutation(n) - n / 2) * 0.1).reshape(shape))


# ----------------------------------------------------------------------------
# max pooling
# ----------------------------------------------------------------------------

def test_max_pool_by_hand_and_indices():
    x = t64(np.array([[1, 5, 2, 0], [3, 4, 8, 7], [6, 0, 1, 2], [9, 1, 3, 3]],
                     dtype=float)[None, None])
    y, idx = P.max_pool2d(x, 2, return_indices=True)
    assert y.cpu().numpy()[0, 0].tolist() == [[5, 8], [9, 3]]
    assert idx.cpu().numpy()[0, 0].tolist() == [[1, 6], [12, 14]]              # first max wins the tie
    y.backward(tg.tensor(np.ones((1, 1, 2, 2))))
    g = np.zeros(16)
    g[[1, 6, 12, 14]] = 1
    assert x.grad.cpu().numpy().ravel().tolist() == g.tolist()


def test_max_pool_padding_is_minus_infinity():
    x = t64(-np.ones((1, 1, 2, 2)) * 5)
    y = P.max_pool2d(x, 2, stride=1, padding=1)
    assert (y.cpu().numpy() == -5).all()                                       # not 0 from the padding


@given(cfg=pool_config(), seed=st.integers(0, 2 ** 16))
@FAST
def test_max_pool_gradcheck_first_and_second_order(cfg, seed):
    x = _distinct((cfg["N"], cfg["C"], cfg["H"], cfg["W"]), seed)
    check_grads(lambda x: P.max_pool2d(x, cfg["k"], cfg["s"], cfg["p"], cfg["d"], cfg["ceil"]), x)


def test_a_window_of_only_padding_is_a_clear_error():
    x = t64(np.zeros((1, 1, 1, 1)))
    cfg = dict(H=1, W=1, k=(1, 2), s=(1, 1), p=(0, 1), d=(1, 2), ceil=False)
    assert _some_window_sees_only_padding(cfg)
    with pytest.raises(ValueError, match="only padding"):
        P.max_pool2d(x, cfg["k"], cfg["s"], cfg["p"], cfg["d"])


def _some_window_sees_only_padding(cfg):
    """Brute force over PyTorch's output positions (ceil_mode rule included)."""
    for size, k, s, p, d in zip((cfg["H"], cfg["W"]), cfg["k"], cfg["s"], cfg["p"], cfg["d"]):
        span = size + 2 * p - d * (k - 1) - 1
        out = (-(-span // s) if cfg["ceil"] else span // s) + 1
        if cfg["ceil"] and (out - 1) * s >= size + p:
            out -= 1
        for o in range(out):
            if all(not 0 <= o * s - p + j * d < size for j in range(k)):
                return True
    return False


def test_max_pool_double_backward_is_a_gather():
    """The gradient's gradient w.r.t. the upstream gradient gathers at the arg-max."""
    x = _distinct((1, 1, 4, 4), 0)
    v = t64(np.random.default_rng(1).standard_normal((1, 1, 2, 2)))
    y, idx = P.max_pool2d(x, 2, return_indices=True)
    (gx,) = tg.grad(y, [x], v, create_graph=True)
    u = np.random.default_rng(2).standard_normal(x.shape)
    (gv,) = tg.grad(gx, [v], tg.tensor(u))
    expect = u.reshape(1, 1, 16)[0, 0][idx.cpu().numpy()]
    assert_allclose(gv.cpu().numpy(), expect)


# ----------------------------------------------------------------------------
# average and adaptive average pooling
# ----------------------------------------------------------------------------

def test_avg_pool_divisors_by_hand():
    x = t64(np.ones((1, 1, 3, 3)))
    y_in = P.avg_pool2d(x, 2, stride=2, padding=1, count_include_pad=True)
    y_ex = P.avg_pool2d(x, 2, stride=2, padding=1, count_include_pad=False)
    assert_allclose(y_in.cpu().numpy()[0, 0], [[0.25, 0.5], [0.5, 1.0]])
    assert_allclose(y_ex.cpu().numpy()[0, 0], np.ones((2, 2)))
    y_div = P.avg_pool2d(x, 3, divisor_override=2)
    assert_allclose(y_div.cpu().numpy()[0, 0], [[4.5]])


@given(cfg=pool_config(dilation=False), seed=st.integers(0, 2 ** 16),
       cip=st.booleans(), div=st.sampled_from([None, None, 3]))
@FAST
def test_avg_pool_gradcheck_first_and_second_order(cfg, seed, cip, div):
    x = t64(np.random.default_rng(seed).standard_normal((cfg["N"], cfg["C"], cfg["H"], cfg["W"])))
    check_grads(lambda x: P.avg_pool2d(x, cfg["k"], cfg["s"], cfg["p"], cfg["ceil"], cip, div), x)


@given(h=st.integers(1, 7), w=st.integers(1, 7), oh=st.integers(1, 5), ow=st.integers(1, 5),
       seed=st.integers(0, 2 ** 16))
@FAST
def test_adaptive_avg_pool_bins_and_gradcheck(h, w, oh, ow, seed):
    a = np.random.default_rng(seed).standard_normal((1, 2, h, w))
    y = P.adaptive_avg_pool2d(t64(a), (oh, ow))
    expect = np.empty((1, 2, oh, ow))
    for i in range(oh):
        for j in range(ow):
            r0, r1 = (i * h) // oh, -(-(i + 1) * h // oh)
            c0, c1 = (j * w) // ow, -(-(j + 1) * w // ow)
            expect[:, :, i, j] = a[:, :, r0:r1, c0:c1].mean((2, 3))
    assert_allclose(y.cpu().numpy(), expect, rtol=1e-12)
    check_grads(lambda x: P.adaptive_avg_pool2d(x, (oh, ow)), t64(a))


@given(cfg=pool_config(max_side=7))
@settings(max_examples=40, deadline=None)
def test_output_sizes_follow_pytorch_pooling_formula(cfg):
    x = t64(np.zeros((1, 1, cfg["H"], cfg["W"])), requires_grad=False)
    y = P.max_pool2d(x, cfg["k"], cfg["s"], cfg["p"], cfg["d"], cfg["ceil"])
    for axis in range(2):
        size, k, s, p, d = (x.shape[2 + axis], cfg["k"][axis], cfg["s"][axis], cfg["p"][axis],
                            cfg["d"][axis])
        num = size + 2 * p - d * (k - 1) - 1
        out = (-(-num // s) if cfg["ceil"] else num // s) + 1
        if cfg["ceil"] and (out - 1) * s >= size + p:
            out -= 1
        assert y.shape[2 + axis] == out


# ----------------------------------------------------------------------------
# sabotage and errors
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("factor", [0.0, 2.0])
def test_sabotaged_max_pool_backward_is_caught(factor, monkeypatch):
    x = _distinct((1, 2, 4, 4), 3)
    fn = lambda x: P.max_pool2d(x, 2, 1)  # noqa: E731
    assert gradcheck(fn, x).passed
    orig = P.MaxPool2dFunction.backward
    monkeypatch.setattr(P.MaxPool2dFunction, "backward", lambda self, gy: orig(self, gy) * factor)
    with pytest.raises(GradcheckError):
        gradcheck(fn, x)


def test_sabotaged_scatter_double_backward_is_caught(monkeypatch):
    """The scatter's own backward (a gather) is what second-order checks exercise."""
    from tinygen.gradcheck import gradgradcheck
    x = _distinct((1, 1, 4, 4), 4)
    fn = lambda x: P.max_pool2d(x, 2) * P.max_pool2d(x, 2)  # noqa: E731
    assert gradgradcheck(fn, x).passed
    monkeypatch.setattr(S.GetItemGrad, "backward", lambda self, g: S.getitem(g, self.index) * 0.0)
    with pytest.raises(GradcheckError):
        gradgradcheck(fn, x)


@pytest.mark.parametrize("call, match", [
    (lambda x: P.max_pool2d(x, 2, padding=2), "padding"),
    (lambda x: P.max_pool2d(x, 0), "kernel_size"),
    (lambda x: P.max_pool2d(x, 9), "kernel_size"),
    (lambda x: P.avg_pool2d(x, 2, stride=0), "stride"),
    (lambda x: P.avg_pool2d(x, 2, divisor_override=0), "divisor_override"),
    (lambda x: P.max_pool2d(x.reshape(16), 2), "rank"),
    (lambda x: P.adaptive_avg_pool2d(x, 0), "output_size"),
])
def test_invalid_pool_arguments_raise_errors_naming_them(call, match):
    with pytest.raises(ValueError, match=match):
        call(t64(np.zeros((1, 1, 4, 4))))


# ----------------------------------------------------------------------------
# modules and the PyTorch oracle
# ----------------------------------------------------------------------------

def test_pool_modules_gradcheck_and_unbatched():
    x = _distinct((1, 2, 5, 5), 5).data
    for m in (nn.MaxPool2d(3, 2, 1), nn.AvgPool2d(2, ceil_mode=True, count_include_pad=False),
              nn.AdaptiveAvgPool2d((2, 3))):
        assert all(r.passed for r in check_module(m, x))
        assert_allclose(m(t64(x[0])).cpu().numpy(), m(t64(x)).cpu().numpy()[0])


@given(cfg=pool_config(max_side=8), seed=st.integers(0, 2 ** 16), cip=st.booleans(),
       div=st.sampled_from([None, None, 2]))
@settings(max_examples=30, deadline=None)
def test_against_pytorch_pooling_values_indices_and_gradients(cfg, seed, cip, div):
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    shape = (cfg["N"], cfg["C"], cfg["H"], cfg["W"])
    a = _distinct(shape, seed).cpu().numpy()
    gy_rng = np.random.default_rng(seed)
    cases = [
        (lambda x: P.max_pool2d(x, cfg["k"], cfg["s"], cfg["p"], cfg["d"], cfg["ceil"]),
         lambda x: TF.max_pool2d(x, cfg["k"], cfg["s"], cfg["p"], cfg["d"], cfg["ceil"])),
        (lambda x: P.avg_pool2d(x, cfg["k"], cfg["s"], cfg["p"], cfg["ceil"], cip, div),
         lambda x: TF.avg_pool2d(x, cfg["k"], cfg["s"], cfg["p"], cfg["ceil"], cip, div)),
        (lambda x: P.adaptive_avg_pool2d(x, (cfg["k"][0] + 1, cfg["s"][0] + 2)),
         lambda x: TF.adaptive_avg_pool2d(x, (cfg["k"][0] + 1, cfg["s"][0] + 2))),
    ]
    for ours, theirs in cases:
        x, xt = t64(a), torch.tensor(a, requires_grad=True)
        y, yt = ours(x), theirs(xt)
        assert y.shape == tuple(yt.shape)
        gy = gy_rng.standard_normal(y.shape)
        y.backward(tg.tensor(gy))
        yt.backward(torch.tensor(gy))
        assert_allclose(y.cpu().numpy(), yt.detach().cpu().numpy(), rtol=1e-5, atol=1e-12)
        assert_allclose(x.grad.cpu().numpy(), xt.grad.cpu().numpy(), rtol=1e-5, atol=1e-12)
    _, idx = P.max_pool2d(t64(a), cfg["k"], cfg["s"], cfg["p"], cfg["d"], cfg["ceil"],
                          return_indices=True)
    _, idx_t = TF.max_pool2d(torch.tensor(a), cfg["k"], cfg["s"], cfg["p"], cfg["d"], cfg["ceil"],
                             return_indices=True)
    assert (idx.cpu().numpy() == idx_t.cpu().numpy()).all()


def test_against_pytorch_pool_module_reprs():
    torch = pytest.importorskip("torch")
    for ours, theirs in [(nn.MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1)),
                         (nn.AvgPool2d(2), torch.nn.AvgPool2d(2)),
                         (nn.AdaptiveAvgPool2d((1, 1)), torch.nn.AdaptiveAvgPool2d((1, 1)))]:
        assert repr(ours) == repr(theirs)
