"""Convolution and transposed convolution: im2col, shapes, gradients of order 1 and 2, oracles.

Order (as a reader learns it): im2col on the worked example -> output-size
formulas -> fast vs naive -> first/second-order gradchecks of the three
Functions -> the WGAN-GP penalty through a conv critic -> sabotage -> errors
-> modules -> PyTorch oracle (optional).
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tinygen as tg
from tinygen import nn
from tinygen.gradcheck import GradcheckError, check_module, gradcheck, gradgradcheck
from tinygen.ops import conv as C
from tinygen.ops import im2col as I
from tinygen_tests.conftest import assert_allclose, check_grads, t64

FAST = settings(max_examples=6, deadline=None)
MANY = settings(max_examples=40, deadline=None)


# ----------------------------------------------------------------------------
# strategies: a valid conv2d / conv_transpose2d configuration, tiny sizes
# ----------------------------------------------------------------------------

@st.composite
def conv_config(draw, max_side=6):
    g = draw(st.sampled_from([1, 1, 2]))
    cin, cout = g * draw(st.integers(1, 2)), g * draw(st.integers(1, 2))
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = (draw(st.integers(0, 2)), draw(st.integers(0, 1)))
    eff = [dd * (kk - 1) + 1 for kk, dd in zip(k, d)]
    lo = [max(1, e - 2 * pp) for e, pp in zip(eff, p)]       # the kernel must fit
    H = draw(st.integers(lo[0], max(lo[0], max_side)))
    W = draw(st.integers(lo[1], max(lo[1], max_side)))
    N = draw(st.integers(1, 2))
    return dict(N=N, cin=cin, cout=cout, k=k, s=s, p=p, d=d, g=g, H=H, W=W)


@st.composite
def conv_transpose_config(draw, max_side=4):
    cfg = draw(conv_config(max_side=max_side))
    cfg["op"] = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(cfg["s"], cfg["d"]))
    return cfg


def _rand(rng, *shape):
    return t64(rng.standard_normal(shape))


def _conv_inputs(cfg, seed, transposed=False):
    rng = np.random.default_rng(seed)
    x = _rand(rng, cfg["N"], cfg["cin"], cfg["H"], cfg["W"])
    if transposed:
        w = _rand(rng, cfg["cin"], cfg["cout"] // cfg["g"], *cfg["k"])
    else:
        w = _rand(rng, cfg["cout"], cfg["cin"] // cfg["g"], *cfg["k"])
    b = _rand(rng, cfg["cout"])
    return x, w, b


# ----------------------------------------------------------------------------
# im2col / col2im
# ----------------------------------------------------------------------------

def test_im2col_worked_example_from_the_docstring():
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    cols = I.im2col(x, (2, 2), (1, 1), (0, 0), (1, 1))              # (1, 2, 2, 1, 2, 2)
    assert cols.shape == (1, 2, 2, 1, 2, 2)
    assert cols.reshape(4, 4).tolist() == [[1, 2, 4, 5], [2, 3, 5, 6], [4, 5, 7, 8], [5, 6, 8, 9]]


@given(cfg=conv_config(), seed=st.integers(0, 2 ** 16))
@MANY
def test_col2im_is_the_adjoint_of_im2col(cfg, seed):
    """<im2col(x), c> = <x, col2im(c)> for random x, c: col2im is exactly the transpose."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((cfg["N"], cfg["cin"], cfg["H"], cfg["W"]))
    cols = I.im2col(x, cfg["k"], cfg["s"], cfg["p"], cfg["d"])
    c = rng.standard_normal(cols.shape)
    back = I.col2im(c, (cfg["H"], cfg["W"]), cfg["s"], cfg["p"], cfg["d"])
    assert back.shape == x.shape
    assert_allclose((cols * c).sum(), (x * back).sum(), rtol=1e-10)


@given(cfg=conv_transpose_config(), seed=st.integers(0, 2 ** 16))
@MANY
def test_channels_last_transposed_conv_equals_the_plain_path(cfg, seed):
    """The groups = 1 fast path (GEMM into channels-last columns, col2im_channels_last) gives
    the plain path's values, whatever the geometry, and takes no part when groups > 1."""
    assume(all(I.conv_transpose_output_size(i, k, s, p, d, op) > 0 for i, k, s, p, d, op in zip(
        (cfg["H"], cfg["W"]), cfg["k"], cfg["s"], cfg["p"], cfg["d"], cfg["op"])))
    x, w, _ = _conv_inputs(cfg, seed, transposed=True)
    geo = C._Geometry(cfg["k"], cfg["s"], cfg["p"], cfg["d"], cfg["g"])
    fast_path = C.ConvTransposeFunction(geo, cfg["op"])
    fast_path.channels_last = True                   # whatever O and W (the default asks O >= W)
    fast = fast_path.forward(x._data, w._data)
    plain_path = C.ConvTransposeFunction(geo, cfg["op"])
    plain_path.channels_last = False
    plain = plain_path.forward(x._data, w._data)
    assert fast.shape == plain.shape and fast.flags.c_contiguous
    assert_allclose(fast, plain, rtol=1e-12, atol=1e-12)


def test_channels_last_col2im_is_the_adjoint_of_channels_last_im2col():
    """<cols, im2col(x) in (N, OH, OW, KH, KW, C) order> = <col2im_channels_last(cols), x>."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 7, 6))
    k, s, p, d = (3, 2), (2, 1), (1, 0), (1, 2)
    windows = I.im2col(x, k, s, p, d).transpose(3, 4, 5, 1, 2, 0)      # (N, OH, OW, KH, KW, C)
    c = rng.standard_normal(windows.shape)
    back = I.col2im_channels_last(c, (7, 6), s, p, d)
    assert back.shape == x.shape
    assert_allclose((windows * c).sum(), (x * back).sum(), rtol=1e-10)


def test_batch_chunking_gives_the_same_result(monkeypatch):
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((5, 3, 7, 7)).astype(np.float32), requires_grad=True)
    w = tg.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), requires_grad=True)
    gy = rng.standard_normal((5, 4, 3, 3)).astype(np.float32)
    y = C.conv2d(x, w, stride=2)
    y.backward(tg.tensor(gy))
    ref = (y.cpu().numpy(), x.grad.cpu().numpy(), w.grad.cpu().numpy())
    monkeypatch.setattr(I, "MAX_COLUMN_BYTES", 3 * 9 * 9 * 4 * 2)   # two samples per chunk
    assert len(I.batch_chunks(5, 3 * 9 * 9 * 4)) == 3
    x.grad = w.grad = None
    y = C.conv2d(x, w, stride=2)
    y.backward(tg.tensor(gy))
    for a, b in zip(ref, (y.cpu().numpy(), x.grad.cpu().numpy(), w.grad.cpu().numpy())):
        assert_allclose(a, b, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------
# shapes and dtypes
# ----------------------------------------------------------------------------

@given(cfg=conv_transpose_config(max_side=7))
@MANY
def test_output_shapes_follow_the_documented_formulas(cfg):
    x, w, _ = _conv_inputs(cfg, 0)
    y = C.conv2d(x, w, None, cfg["s"], cfg["p"], cfg["d"], cfg["g"])
    expect = tuple((i + 2 * p - d * (k - 1) - 1) // s + 1 for i, k, s, p, d in zip(
        (cfg["H"], cfg["W"]), cfg["k"], cfg["s"], cfg["p"], cfg["d"]))
    assert y.shape == (cfg["N"], cfg["cout"]) + expect
    x, w, _ = _conv_inputs(cfg, 0, transposed=True)
    expect = tuple((i - 1) * s - 2 * p + d * (k - 1) + op + 1 for i, k, s, p, d, op in zip(
        (cfg["H"], cfg["W"]), cfg["k"], cfg["s"], cfg["p"], cfg["d"], cfg["op"]))
    if min(expect) >= 1:
        y = C.conv_transpose2d(x, w, None, cfg["s"], cfg["p"], cfg["op"], cfg["g"], cfg["d"])
        assert y.shape == (cfg["N"], cfg["cout"]) + expect


def test_float32_stays_float32_through_forward_and_both_backwards():
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((2, 4, 6, 6)).astype(np.float32), requires_grad=True)
    w = tg.tensor(rng.standard_normal((4, 2, 3, 3)).astype(np.float32), requires_grad=True)
    y = C.conv2d(x, w, stride=2, padding=1, groups=2)
    (gx,) = tg.grad(y, [x], tg.tensor(np.ones(y.shape, np.float32)), create_graph=True)
    (gw,) = tg.grad((gx * gx).sum(), [w])
    z = C.conv_transpose2d(x, w, stride=2, output_padding=1, groups=2)
    assert {y.dtype, gx.dtype, gw.dtype, z.dtype} == {np.dtype(np.float32)}


# ----------------------------------------------------------------------------
# fast (im2col + GEMM, hand-written backward) vs naive (loops + autograd)
# ----------------------------------------------------------------------------

@given(cfg=conv_config(), seed=st.integers(0, 2 ** 16))
@MANY
def test_fast_conv2d_matches_the_naive_loop_values_and_gradients(cfg, seed):
    x, w, b = _conv_inputs(cfg, seed)
    args = (cfg["s"], cfg["p"], cfg["d"], cfg["g"])
    y_fast, y_slow = C.conv2d(x, w, b, *args), C.conv2d_naive(x, w, b, *args)
    assert_allclose(y_fast.cpu().numpy(), y_slow.cpu().numpy(), rtol=1e-10, atol=1e-12)
    gy = tg.tensor(np.random.default_rng(seed + 1).standard_normal(y_fast.shape))
    fast = tg.grad(y_fast, [x, w, b], gy)
    slow = tg.grad(y_slow, [x, w, b], gy)
    for a, c in zip(fast, slow):
        assert_allclose(a.cpu().numpy(), c.cpu().numpy(), rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------
# gradchecks, first and second order (float64, random upstream gradients)
# ----------------------------------------------------------------------------

@given(cfg=conv_config(max_side=5), seed=st.integers(0, 2 ** 16))
@FAST
def test_conv2d_gradcheck_first_and_second_order(cfg, seed):
    x, w, b = _conv_inputs(cfg, seed)
    check_grads(lambda x, w, b: C.conv2d(x, w, b, cfg["s"], cfg["p"], cfg["d"], cfg["g"]),
                (x, w, b), names=["x", "weight", "bias"])


@given(cfg=conv_transpose_config(max_side=3), seed=st.integers(0, 2 ** 16))
@FAST
def test_conv_transpose2d_gradcheck_first_and_second_order(cfg, seed):
    x, w, b = _conv_inputs(cfg, seed, transposed=True)
    args = (cfg["s"], cfg["p"], cfg["op"], cfg["g"], cfg["d"])
    out = [(i - 1) * s - 2 * p + d * (k - 1) + op + 1 for i, k, s, p, d, op in zip(
        (cfg["H"], cfg["W"]), cfg["k"], cfg["s"], cfg["p"], cfg["d"], cfg["op"])]
    if min(out) < 1:
        return
    check_grads(lambda x, w, b: C.conv_transpose2d(x, w, b, *args), (x, w, b),
                names=["x", "weight", "bias"])


def test_gradcheck_with_output_padding_not_smaller_than_stride():
    """output_padding >= stride is legal when dilation is larger; the gradient crops rows."""
    rng = np.random.default_rng(3)
    x, w, b = _rand(rng, 1, 2, 3, 2), _rand(rng, 2, 2, 2, 3), _rand(rng, 2)
    check_grads(lambda x, w, b: C.conv_transpose2d(x, w, b, (1, 2), (0, 1), (2, 1), 1, (3, 2)),
                (x, w, b))


@given(cfg=conv_config(max_side=4), seed=st.integers(0, 2 ** 16))
@settings(max_examples=4, deadline=None)
def test_weight_grad_function_gradcheck_first_and_second_order(cfg, seed):
    """conv2d_weight_grad(x, gy) is bilinear; its backward is made of conv2d/conv_transpose2d."""
    x, w, _ = _conv_inputs(cfg, seed)
    gy = _rand(np.random.default_rng(seed + 7), *C.conv2d(x, w, None, cfg["s"], cfg["p"],
                                                          cfg["d"], cfg["g"]).shape)
    def fn(x, gy):
        return C.conv2d_weight_grad(x, gy, cfg["k"], cfg["s"], cfg["p"], cfg["d"], cfg["g"])

    assert fn(x, gy).shape == w.shape
    check_grads(fn, (x, gy), names=["x", "grad_output"])


def test_wgan_gp_penalty_through_a_conv_critic_has_exact_weight_gradients():
    """(||d D(x)/dx|| - 1)^2 differentiated w.r.t. the critic's weights: conv double backward."""
    rng = np.random.default_rng(0)
    x = t64(rng.standard_normal((2, 1, 6, 6)), requires_grad=True)
    w1, w2, w3 = _rand(rng, 3, 1, 3, 3), _rand(rng, 2, 3, 2, 2), _rand(rng, 1, 2, 2, 2)

    def penalty(w1, w2, w3):
        h = tg.tanh(C.conv2d(x, w1, stride=2, padding=1))                    # (2, 3, 3, 3)
        h = tg.tanh(C.conv_transpose2d(h, w2.permute(1, 0, 2, 3), stride=1))  # (2, 2, 4, 4)
        d = C.conv2d(h, w3, stride=2).sum()                                  # critic value
        (gx,) = tg.grad(d, [x], create_graph=True)
        norm = (gx * gx).sum((1, 2, 3)).sqrt()
        return ((norm - 1.0) ** 2).mean()

    assert gradcheck(penalty, (w1, w2, w3)).passed


# ----------------------------------------------------------------------------
# sabotage: a wrong backward must be caught
# ----------------------------------------------------------------------------

def _zeros(orig):
    def backward(self, gy):
        return tuple(None if g is None else g * 0.0 for g in orig(self, gy))
    return backward


def _double(orig):
    def backward(self, gy):
        return tuple(None if g is None else g * 2.0 for g in orig(self, gy))
    return backward


def _ignore_upstream(orig):
    def backward(self, gy):
        return orig(self, tg.ones(gy.shape, dtype=gy.dtype, device=gy.device))
    return backward


def _detached(orig):
    """Right values, but computed from detached inputs: first order fine, second order wrong."""
    def backward(self, gy):
        saved = self._saved                     # what saved_tensors reads: swap in constants
        self._saved = tuple(tg.Tensor(t.data, requires_grad=t.requires_grad)
                            for t in self.saved_tensors)
        try:
            return tuple(None if g is None else g.detach() for g in orig(self, gy.detach()))
        finally:
            self._saved = saved
    return backward


SABOTAGES = {"zeros": _zeros, "double": _double, "ignore_upstream": _ignore_upstream}
FUNCTIONS = {
    "Conv2dFunction": (C.Conv2dFunction, lambda x, w: C.conv2d(x, w, stride=2, padding=1)),
    "ConvTranspose2dFunction": (C.ConvTranspose2dFunction,
                                lambda x, w: C.conv_transpose2d(x, w, stride=2, padding=1)),
}


@pytest.mark.parametrize("sabotage", sorted(SABOTAGES))
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_sabotaged_backward_is_caught_by_gradcheck(name, sabotage, monkeypatch):
    cls, fn = FUNCTIONS[name]
    rng = np.random.default_rng(1)
    x, w = _rand(rng, 1, 2, 4, 4), _rand(rng, 2, 2, 3, 3)
    assert gradcheck(fn, (x, w)).passed
    monkeypatch.setattr(cls, "backward", SABOTAGES[sabotage](cls.backward))
    with pytest.raises(GradcheckError):
        gradcheck(fn, (x, w))


@pytest.mark.parametrize("sabotage", sorted(SABOTAGES))
def test_sabotaged_weight_grad_backward_is_caught_by_gradgradcheck(sabotage, monkeypatch):
    """The weight-gradient Function's own backward is only used in double backward."""
    rng = np.random.default_rng(2)
    x, w = _rand(rng, 1, 2, 4, 4), _rand(rng, 2, 2, 3, 3)
    fn = lambda x, w: C.conv2d(x, w, stride=2, padding=1)  # noqa: E731
    assert gradgradcheck(fn, (x, w)).passed
    monkeypatch.setattr(C.Conv2dWeightGrad, "backward",
                        SABOTAGES[sabotage](C.Conv2dWeightGrad.backward))
    with pytest.raises(GradcheckError):
        gradgradcheck(fn, (x, w))


def test_detached_backward_passes_gradcheck_but_fails_gradgradcheck(monkeypatch):
    """Why backward is written in differentiable conv ops: a constant one breaks order 2."""
    rng = np.random.default_rng(4)
    x, w = _rand(rng, 1, 2, 4, 4), _rand(rng, 2, 2, 3, 3)
    fn = lambda x, w: C.conv2d(x, w, stride=1, padding=1)  # noqa: E731
    monkeypatch.setattr(C.Conv2dFunction, "backward", _detached(C.Conv2dFunction.backward))
    assert gradcheck(fn, (x, w)).passed
    with pytest.raises(GradcheckError):
        gradgradcheck(fn, (x, w))


# ----------------------------------------------------------------------------
# invalid configurations: errors name the argument
# ----------------------------------------------------------------------------

def _arrays(*shapes):
    return [tg.tensor(np.zeros(s, np.float32)) for s in shapes]


@pytest.mark.parametrize("call, match", [
    (lambda: C.conv2d(*_arrays((1, 2, 3, 3), (4, 2, 5, 5))), "kernel_size"),
    (lambda: C.conv2d(*_arrays((1, 2, 3, 3), (4, 2, 2, 2)), dilation=3), "dilation"),
    (lambda: C.conv2d(*_arrays((1, 3, 5, 5), (4, 1, 3, 3)), groups=2), "groups"),
    (lambda: C.conv2d(*_arrays((1, 3, 5, 5), (4, 2, 3, 3))), "channels"),
    (lambda: C.conv2d(*_arrays((3, 5), (4, 3, 3, 3))), "rank"),
    (lambda: C.conv2d(*_arrays((1, 1, 3, 5, 5), (4, 1, 3, 3))), "rank"),
    (lambda: C.conv2d(*_arrays((1, 3, 5, 5), (4, 3, 3))), "weight"),
    (lambda: C.conv2d(*_arrays((1, 3, 5, 5), (4, 3, 3, 3), (3,))), "bias"),
    (lambda: C.conv2d(*_arrays((1, 3, 5, 5), (4, 3, 3, 3)), stride=0), "stride"),
    (lambda: C.conv2d(*_arrays((1, 3, 5, 5), (4, 3, 3, 3)), padding=-1), "padding"),
    (lambda: C.conv2d(*_arrays((1, 3, 5, 5), (4, 3, 3, 3)), padding="same", stride=2), "same"),
    (lambda: C.conv2d(*_arrays((1, 3, 5, 5), (4, 3, 3, 3)), padding="full"), "padding"),
    (lambda: C.conv_transpose2d(*_arrays((1, 3, 5, 5), (3, 2, 3, 3)), stride=2,
                                output_padding=2), "output_padding"),
    (lambda: C.conv_transpose2d(*_arrays((1, 3, 5, 5), (4, 2, 3, 3))), "channels"),
    (lambda: C.conv_transpose2d(*_arrays((1, 3, 5, 5), (3, 2, 3, 3)), groups=2), "groups"),
    (lambda: C.conv_transpose2d(*_arrays((1, 3, 1, 1), (3, 2, 1, 1)), padding=1), "padding"),
    (lambda: nn.Conv2d(3, 4, 3, groups=2), "groups"),
    (lambda: nn.Conv2d(3, 4, 3, padding_mode="mirror"), "padding_mode"),
    (lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, output_padding=2), "output_padding"),
])
def test_invalid_configurations_raise_errors_naming_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_conv_transpose_output_size_out_of_reach_is_an_error():
    m = nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1)
    x = tg.tensor(np.zeros((1, 2, 4, 4), np.float32))
    assert m(x, output_size=(8, 8)).shape == (1, 2, 8, 8)
    assert m(x, output_size=(1, 2, 7, 7)).shape == (1, 2, 7, 7)
    with pytest.raises(ValueError, match="output_size"):
        m(x, output_size=(9, 9))


# ----------------------------------------------------------------------------
# modules
# ----------------------------------------------------------------------------

def test_modules_state_dict_keys_shapes_and_default_init_bounds():
    tg.manual_seed(0)
    conv = nn.Conv2d(6, 8, (3, 2), groups=2)
    convt = nn.ConvTranspose2d(6, 9, 4, stride=2, groups=3, bias=False)
    assert {k: v.shape for k, v in conv.state_dict().items()} == {"weight": (8, 3, 3, 2),
                                                                  "bias": (8,)}
    assert list(convt.state_dict()) == ["weight"] and convt.weight.shape == (6, 3, 4, 4)
    bound = 1 / np.sqrt(3 * 3 * 2)                                     # fan_in = C_in/g * KH * KW
    for t in (conv.weight, conv.bias):
        a = t.cpu().numpy()
        assert np.abs(a).max() <= bound and np.abs(a).max() > 0.8 * bound
    bound_t = 1 / np.sqrt(3 * 16)                                      # weight.shape[1] * KH * KW
    a = convt.weight.cpu().numpy()
    assert np.abs(a).max() <= bound_t and np.abs(a).max() > 0.8 * bound_t


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv2d_module_padding_modes_gradcheck(mode):
    tg.manual_seed(1)
    m = nn.Conv2d(2, 2, 3, stride=(1, 2), padding=(1, 2), padding_mode=mode)
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 5))
    reports = check_module(m, x)
    assert len(reports) == 2 and all(r.passed for r in reports)


def test_conv_transpose2d_module_gradcheck():
    tg.manual_seed(2)
    m = nn.ConvTranspose2d(2, 4, 3, stride=2, padding=1, output_padding=1, groups=2)
    reports = check_module(m, np.random.default_rng(0).standard_normal((1, 2, 3, 2)))
    assert all(r.passed for r in reports)


def test_unbatched_input_is_accepted():
    tg.manual_seed(3)
    m = nn.Conv2d(2, 3, 3, padding=1)
    x = np.random.default_rng(0).standard_normal((2, 5, 5)).astype(np.float32)
    assert_allclose(m(tg.tensor(x)).cpu().numpy(), m(tg.tensor(x[None])).cpu().numpy()[0])


# ----------------------------------------------------------------------------
# PyTorch oracle (optional)
# ----------------------------------------------------------------------------

def _torch_grads(torch, fn, arrays, gy):
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*ts)
    y.backward(torch.tensor(gy))
    return y.detach().cpu().numpy(), [t.grad.cpu().numpy() for t in ts]


@given(cfg=conv_transpose_config(max_side=7), seed=st.integers(0, 2 ** 16))
@settings(max_examples=15, deadline=None)
def test_against_pytorch_conv2d_and_conv_transpose2d(cfg, seed):
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    for transposed in (False, True):
        x, w, b = _conv_inputs(cfg, seed, transposed)
        if transposed:
            args = (cfg["s"], cfg["p"], cfg["op"], cfg["g"], cfg["d"])
            ours, theirs = C.conv_transpose2d, TF.conv_transpose2d
            try:
                y = ours(x, w, b, *args)
            except ValueError:
                continue                                                 # non-positive size
        else:
            args = (cfg["s"], cfg["p"], cfg["d"], cfg["g"])
            ours, theirs = C.conv2d, TF.conv2d
            y = ours(x, w, b, *args)
        gy = np.random.default_rng(seed).standard_normal(y.shape)
        grads = tg.grad(y, [x, w, b], tg.tensor(gy))
        y_t, grads_t = _torch_grads(torch, lambda *t: theirs(*t, *args),
                                    [x.cpu().numpy(), w.cpu().numpy(), b.cpu().numpy()], gy)
        assert_allclose(y.cpu().numpy(), y_t, rtol=1e-5, atol=1e-10)
        for a, c in zip(grads, grads_t):
            assert_allclose(a.cpu().numpy(), c, rtol=1e-5, atol=1e-10)


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_against_pytorch_string_padding_with_even_kernels(padding):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 4, 2))
    y = C.conv2d(t64(x), t64(w), padding=padding, dilation=(1, 2))
    ref = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), padding=padding,
                                     dilation=(1, 2))
    assert_allclose(y.cpu().numpy(), ref.cpu().numpy(), rtol=1e-10)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_against_pytorch_modules_load_state_dict_and_repr(mode):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    pairs = [
        (nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, padding_mode=mode),
         torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, padding_mode=mode)),
        (nn.Conv2d(4, 6, (3, 2), padding="same", dilation=2, bias=False, padding_mode=mode),
         torch.nn.Conv2d(4, 6, (3, 2), padding="same", dilation=2, bias=False, padding_mode=mode)),
        (nn.ConvTranspose2d(4, 6, 4, 2, 1, 1, groups=2),
         torch.nn.ConvTranspose2d(4, 6, 4, 2, 1, 1, groups=2)),
    ]
    x = rng.standard_normal((2, 4, 5, 6))
    for ours, theirs in pairs:
        theirs = theirs.double()
        ours.double()
        ours.load_state_dict({k: v.detach().cpu().numpy() for k, v in theirs.state_dict().items()})
        assert repr(ours) == repr(theirs)
        xt = torch.tensor(x, requires_grad=True)
        xo = t64(x)
        y_t, y = theirs(xt), ours(xo)
        gy = rng.standard_normal(y.shape)
        y_t.backward(torch.tensor(gy))
        y.backward(tg.tensor(gy))
        assert_allclose(y.cpu().numpy(), y_t.detach().cpu().numpy(), rtol=1e-5, atol=1e-10)
        assert_allclose(xo.grad.cpu().numpy(), xt.grad.cpu().numpy(), rtol=1e-5, atol=1e-10)
        assert_allclose(ours.weight.grad.cpu().numpy(), theirs.weight.grad.cpu().numpy(),
                                   rtol=1e-5, atol=1e-10)


def test_against_pytorch_conv_transpose_output_size():
    torch = pytest.importorskip("torch")
    ours, theirs = nn.ConvTranspose2d(2, 3, 3, stride=3, padding=1), \
        torch.nn.ConvTranspose2d(2, 3, 3, stride=3, padding=1).double()
    ours.double()
    ours.load_state_dict({k: v.detach().cpu().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(7).standard_normal((1, 2, 4, 3))
    for size in [(10, 7), (12, 9), (11, 8)]:
        y = ours(t64(x), output_size=size)
        ref = theirs(torch.tensor(x), output_size=size)
        assert_allclose(y.cpu().numpy(), ref.detach().cpu().numpy(), rtol=1e-10)
