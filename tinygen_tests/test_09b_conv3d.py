"""3-D convolution and transposed convolution (volumes), and the 3-D layers.

The same three Functions as the 2-D case (``ops/conv.py`` reads the number of
spatial axes from the input's rank), so this file checks what is new: the
volume im2col/col2im pair, the naive-loop reference, first AND second order
gradchecks with random upstream gradients on hypothesis-drawn small volumes,
a sabotage check, the modules (Conv3d, ConvTranspose3d, BatchNorm3d) and
PyTorch as an oracle in float64.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
from tinygen import nn
from tinygen.gradcheck import GradcheckError, check_module, gradcheck, gradgradcheck
from tinygen.ops import conv as C
from tinygen.ops import im2col as I
from tinygen_tests.conftest import check_grads, t64

FAST = settings(max_examples=5, deadline=None)


# ----------------------------------------------------------------------------
# strategies: a valid conv3d / conv_transpose3d configuration, tiny volumes
# ----------------------------------------------------------------------------

@st.composite
def conv3d_config(draw, max_side=4):
    g = draw(st.sampled_from([1, 1, 2]))
    cin, cout = g * draw(st.integers(1, 2)), g * draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 3)) for _ in range(3))
    s = tuple(draw(st.integers(1, 2)) for _ in range(3))
    d = tuple(draw(st.integers(1, 2)) for _ in range(3))
    p = tuple(draw(st.integers(0, 1)) for _ in range(3))
    eff = [dd * (kk - 1) + 1 for kk, dd in zip(k, d)]
    lo = [max(1, e - 2 * pp) for e, pp in zip(eff, p)]       # the kernel must fit
    size = tuple(draw(st.integers(l, max(l, max_side))) for l in lo)
    return dict(N=draw(st.integers(1, 2)), cin=cin, cout=cout, k=k, s=s, p=p, d=d, g=g,
                size=size)


@st.composite
def conv_transpose3d_config(draw, max_side=3):
    cfg = draw(conv3d_config(max_side=max_side))
    cfg["op"] = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(cfg["s"], cfg["d"]))
    return cfg


def _inputs(cfg, seed, transposed=False):
    rng = np.random.default_rng(seed)
    x = t64(rng.standard_normal((cfg["N"], cfg["cin"]) + cfg["size"]))
    if transposed:
        w = t64(rng.standard_normal((cfg["cin"], cfg["cout"] // cfg["g"]) + cfg["k"]))
    else:
        w = t64(rng.standard_normal((cfg["cout"], cfg["cin"] // cfg["g"]) + cfg["k"]))
    return x, w, t64(rng.standard_normal(cfg["cout"]))


def _transpose_size_ok(cfg):
    return min((i - 1) * s - 2 * p + d * (k - 1) + op + 1 for i, k, s, p, d, op in zip(
        cfg["size"], cfg["k"], cfg["s"], cfg["p"], cfg["d"], cfg["op"])) >= 1


# ----------------------------------------------------------------------------
# im2col / col2im on volumes
# ----------------------------------------------------------------------------

def test_volume_im2col_reads_the_windows_of_equation_1():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(1, 2, 3, 4, 5)
    cols = I.im2col(x, (2, 2, 3), (1, 2, 1), (0, 1, 0), (1, 1, 1))   # (C, KD, KH, KW, N, OD..OW)
    assert cols.shape == (2, 2, 2, 3, 1, 2, 3, 3)
    xpad = np.pad(x, ((0, 0), (0, 0), (0, 0), (1, 1), (0, 0)))
    c, kd, kh, kw, od, oh, ow = 1, 1, 0, 2, 1, 2, 0
    assert cols[c, kd, kh, kw, 0, od, oh, ow] == xpad[0, c, od + kd, oh * 2 + kh, ow + kw]


@given(cfg=conv3d_config(), seed=st.integers(0, 2 ** 16))
@settings(max_examples=20, deadline=None)
def test_volume_col2im_is_the_adjoint_of_im2col(cfg, seed):
    """<im2col(x), c> = <x, col2im(c)>: col2im is exactly the transpose, in 3-D too."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((cfg["N"], cfg["cin"]) + cfg["size"])
    cols = I.im2col(x, cfg["k"], cfg["s"], cfg["p"], cfg["d"])
    c = rng.standard_normal(cols.shape)
    back = I.col2im(c, cfg["size"], cfg["s"], cfg["p"], cfg["d"])
    assert back.shape == x.shape
    np.testing.assert_allclose((cols * c).sum(), (x * back).sum(), rtol=1e-10)


# ----------------------------------------------------------------------------
# fast (im2col + GEMM) vs naive (loops + autograd), and first/second-order gradchecks
# ----------------------------------------------------------------------------

@given(cfg=conv3d_config(), seed=st.integers(0, 2 ** 16))
@settings(max_examples=15, deadline=None)
def test_fast_conv3d_matches_the_naive_loop_values_and_gradients(cfg, seed):
    x, w, b = _inputs(cfg, seed)
    args = (cfg["s"], cfg["p"], cfg["d"], cfg["g"])
    y_fast, y_slow = C.conv3d(x, w, b, *args), C.conv3d_naive(x, w, b, *args)
    np.testing.assert_allclose(y_fast.cpu().numpy(), y_slow.cpu().numpy(), rtol=1e-10, atol=1e-12)
    gy = t64(np.random.default_rng(seed + 1).standard_normal(y_fast.shape), requires_grad=False)
    for a, c in zip(tg.grad(y_fast, [x, w, b], gy), tg.grad(y_slow, [x, w, b], gy)):
        np.testing.assert_allclose(a.cpu().numpy(), c.cpu().numpy(), rtol=1e-10, atol=1e-12)


@given(cfg=conv3d_config(max_side=3), seed=st.integers(0, 2 ** 16))
@FAST
def test_conv3d_gradcheck_first_and_second_order(cfg, seed):
    x, w, b = _inputs(cfg, seed)
    check_grads(lambda x, w, b: C.conv3d(x, w, b, cfg["s"], cfg["p"], cfg["d"], cfg["g"]),
                (x, w, b), names=["x", "weight", "bias"])


@given(cfg=conv_transpose3d_config(max_side=2), seed=st.integers(0, 2 ** 16))
@FAST
def test_conv_transpose3d_gradcheck_first_and_second_order(cfg, seed):
    if not _transpose_size_ok(cfg):
        return
    x, w, b = _inputs(cfg, seed, transposed=True)
    args = (cfg["s"], cfg["p"], cfg["op"], cfg["g"], cfg["d"])
    check_grads(lambda x, w, b: C.conv_transpose3d(x, w, b, *args), (x, w, b),
                names=["x", "weight", "bias"])


def test_weight_grad_function_on_volumes_gradcheck_first_and_second_order():
    rng = np.random.default_rng(3)
    x = t64(rng.standard_normal((1, 2, 3, 3, 2)))
    gy = t64(rng.standard_normal((1, 2, 2, 1, 2)))
    fn = lambda x, gy: C.conv_weight_grad(x, gy, (2, 3, 2), (1, 2, 1), (0, 1, 1))  # noqa: E731
    assert fn(x, gy).shape == (2, 2, 2, 3, 2)
    check_grads(fn, (x, gy), names=["x", "grad_output"])


def test_gradient_penalty_through_a_3d_critic_has_exact_weight_gradients():
    """||d D(x)/dx||^2 differentiated w.r.t. a 3-D critic's weights: conv3d double backward."""
    rng = np.random.default_rng(0)
    x = t64(rng.standard_normal((1, 1, 4, 4, 4)))
    w1, w2 = t64(rng.standard_normal((2, 1, 2, 2, 2))), t64(rng.standard_normal((1, 2, 2, 2, 2)))

    def penalty(w1, w2):
        h = tg.tanh(C.conv3d(x, w1, stride=2))                      # (1, 2, 2, 2, 2)
        d = C.conv3d(h, w2).sum()
        (gx,) = tg.grad(d, [x], create_graph=True)
        return (gx * gx).sum()

    assert gradcheck(penalty, (w1, w2)).passed


# ----------------------------------------------------------------------------
# sabotage: a wrong backward on volumes must be caught
# ----------------------------------------------------------------------------

def _double(orig):
    def backward(self, gy):
        return tuple(None if g is None else g * 2.0 for g in orig(self, gy))
    return backward


def _ignore_upstream(orig):
    def backward(self, gy):
        return orig(self, tg.ones(gy.shape, dtype=gy.dtype, device=gy.device))
    return backward


SABOTAGES = {"double": _double, "ignore_upstream": _ignore_upstream}


@pytest.mark.parametrize("sabotage", sorted(SABOTAGES))
@pytest.mark.parametrize("cls, fn", [
    (C.ConvFunction, lambda x, w: C.conv3d(x, w, stride=2, padding=1)),
    (C.ConvTransposeFunction, lambda x, w: C.conv_transpose3d(x, w, stride=2, padding=1)),
], ids=["conv3d", "conv_transpose3d"])
def test_sabotaged_backward_is_caught_on_volumes(cls, fn, sabotage, monkeypatch):
    rng = np.random.default_rng(1)
    x, w = t64(rng.standard_normal((1, 2, 3, 3, 3))), t64(rng.standard_normal((2, 2, 2, 2, 2)))
    assert gradcheck(fn, (x, w)).passed
    monkeypatch.setattr(cls, "backward", SABOTAGES[sabotage](cls.backward))
    with pytest.raises(GradcheckError):
        gradcheck(fn, (x, w))


def test_sabotaged_weight_grad_backward_is_caught_by_gradgradcheck_on_volumes(monkeypatch):
    rng = np.random.default_rng(2)
    x, w = t64(rng.standard_normal((1, 2, 3, 3, 3))), t64(rng.standard_normal((2, 2, 2, 2, 2)))
    fn = lambda x, w: C.conv3d(x, w, stride=1, padding=1)  # noqa: E731
    assert gradgradcheck(fn, (x, w)).passed
    monkeypatch.setattr(C.ConvWeightGrad, "backward", _double(C.ConvWeightGrad.backward))
    with pytest.raises(GradcheckError):
        gradgradcheck(fn, (x, w))


# ----------------------------------------------------------------------------
# errors name the argument
# ----------------------------------------------------------------------------

def _zeros(*shapes):
    return [tg.tensor(np.zeros(s, np.float32)) for s in shapes]


@pytest.mark.parametrize("call, match", [
    (lambda: C.conv3d(*_zeros((2, 3, 3), (4, 2, 3, 3, 3))), "rank 5"),
    (lambda: C.conv3d(*_zeros((1, 2, 3, 3, 3), (4, 2, 3, 3))), "5-D weight"),
    (lambda: C.conv3d(*_zeros((1, 2, 3, 3, 3), (4, 2, 4, 2, 2))), "along D"),
    (lambda: C.conv3d(*_zeros((1, 2, 3, 3, 3), (4, 2, 1, 1, 1)), stride=(1, 2)), "triple"),
    (lambda: C.conv_transpose3d(*_zeros((1, 3, 2, 2, 2), (4, 2, 3, 3, 3))), "KD, KH, KW"),
    (lambda: C.conv_transpose3d(*_zeros((1, 3, 2, 2, 2), (3, 2, 3, 3, 3)), stride=2,
                                output_padding=2), "output_padding"),
    (lambda: nn.Conv3d(2, 2, 3, padding_mode="reflect"), "padding_mode"),
    (lambda: nn.BatchNorm3d(2)(tg.tensor(np.zeros((2, 2, 3, 3), np.float32))), "5-D"),
])
def test_invalid_3d_configurations_raise_errors_naming_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


# ----------------------------------------------------------------------------
# modules
# ----------------------------------------------------------------------------

def test_3d_modules_state_dict_shapes_and_default_init_bounds():
    tg.manual_seed(0)
    conv, convt = nn.Conv3d(4, 6, (3, 2, 2), groups=2), nn.ConvTranspose3d(4, 6, 4, stride=2)
    assert {k: v.shape for k, v in conv.state_dict().items()} == {"weight": (6, 2, 3, 2, 2),
                                                                  "bias": (6,)}
    assert convt.weight.shape == (4, 6, 4, 4, 4)
    for t, fan_in in ((conv.weight, 2 * 12), (conv.bias, 2 * 12), (convt.weight, 6 * 64)):
        a = np.abs(t.cpu().numpy())
        assert 0.8 / np.sqrt(fan_in) < a.max() <= 1 / np.sqrt(fan_in)
    bn = nn.BatchNorm3d(3)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]


def test_conv_transpose3d_output_size_picks_the_output_padding():
    m = nn.ConvTranspose3d(1, 1, 3, stride=2, padding=1)
    x = tg.tensor(np.zeros((1, 1, 2, 3, 4), np.float32))
    assert m(x).shape == (1, 1, 3, 5, 7)
    assert m(x, output_size=(4, 6, 8)).shape == (1, 1, 4, 6, 8)
    with pytest.raises(ValueError, match="along D"):
        m(x, output_size=(5, 5, 7))


@pytest.mark.parametrize("make", [
    lambda: nn.Conv3d(2, 2, (3, 2, 3), stride=(1, 2, 1), padding=(1, 0, 1)),
    lambda: nn.ConvTranspose3d(2, 2, 2, stride=2, padding=(0, 1, 0), output_padding=(1, 0, 0)),
    lambda: nn.BatchNorm3d(2),
], ids=["Conv3d", "ConvTranspose3d", "BatchNorm3d"])
def test_3d_modules_gradcheck_first_and_second_order(make):
    tg.manual_seed(4)
    m = make()
    reports = check_module(m, np.random.default_rng(0).standard_normal((2, 2, 3, 2, 3)))
    assert reports and all(r.passed and r.checked > 0 for r in reports)


# ----------------------------------------------------------------------------
# PyTorch oracle (optional): functions and modules, float64, to ~1e-12
# ----------------------------------------------------------------------------

@given(cfg=conv_transpose3d_config(max_side=4), seed=st.integers(0, 2 ** 16))
@settings(max_examples=6, deadline=None)
def test_against_pytorch_conv3d_and_conv_transpose3d(cfg, seed):
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    for transposed in (False, True):
        if transposed and not _transpose_size_ok(cfg):
            continue
        x, w, b = _inputs(cfg, seed, transposed)
        if transposed:
            args = (cfg["s"], cfg["p"], cfg["op"], cfg["g"], cfg["d"])
            ours, theirs = C.conv_transpose3d, TF.conv_transpose3d
        else:
            args = (cfg["s"], cfg["p"], cfg["d"], cfg["g"])
            ours, theirs = C.conv3d, TF.conv3d
        y = ours(x, w, b, *args)
        gy = np.random.default_rng(seed).standard_normal(y.shape)
        grads = tg.grad(y, [x, w, b], t64(gy, requires_grad=False))
        ts = [torch.tensor(t.cpu().numpy(), requires_grad=True) for t in (x, w, b)]
        y_t = theirs(*ts, *args)
        y_t.backward(torch.tensor(gy))
        np.testing.assert_allclose(y.cpu().numpy(), y_t.detach().numpy(), rtol=1e-12, atol=1e-12)
        for a, t in zip(grads, ts):
            np.testing.assert_allclose(a.cpu().numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_against_pytorch_3d_modules_outputs_gradients_and_repr():
    """Conv3d -> BatchNorm3d -> ConvTranspose3d with PyTorch's weights, train then eval."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    pairs = [
        (nn.Conv3d(2, 4, 3, stride=2, padding=1), torch.nn.Conv3d(2, 4, 3, stride=2, padding=1)),
        (nn.Conv3d(2, 4, (3, 1, 2), padding="same", dilation=(1, 1, 2), bias=False),
         torch.nn.Conv3d(2, 4, (3, 1, 2), padding="same", dilation=(1, 1, 2), bias=False)),
        (nn.ConvTranspose3d(2, 4, 4, 2, 1, 0, groups=2),
         torch.nn.ConvTranspose3d(2, 4, 4, 2, 1, 0, groups=2)),
        (nn.BatchNorm3d(2, momentum=0.3), torch.nn.BatchNorm3d(2, momentum=0.3)),
    ]
    for ours, theirs in pairs:
        theirs = theirs.double()
        ours.double().to(tg.get_default_device())
        with torch.no_grad():
            for p in theirs.parameters():                    # non-trivial gamma, beta too
                p.copy_(torch.from_numpy(rng.uniform(-1, 1, tuple(p.shape))))
        ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
        if not isinstance(ours, nn.BatchNorm3d):   # torch >= 2.12 prints BatchNorm's bias=True too
            assert repr(ours) == repr(theirs)
        for mode in ("train", "eval"):
            getattr(ours, mode)()
            getattr(theirs, mode)()
            x = rng.normal(0.5, 2.0, (3, 2, 4, 5, 3))
            xt, xo = torch.tensor(x, requires_grad=True), t64(x)
            y_t, y = theirs(xt), ours(xo)
            gy = rng.standard_normal(y.shape)
            y_t.backward(torch.tensor(gy))
            y.backward(t64(gy, requires_grad=False))
            np.testing.assert_allclose(y.cpu().numpy(), y_t.detach().numpy(), rtol=1e-12,
                                       atol=1e-12)
            np.testing.assert_allclose(xo.grad.cpu().numpy(), xt.grad.numpy(), rtol=1e-11,
                                       atol=1e-12)
            for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
                np.testing.assert_allclose(p.grad.cpu().numpy(), q.grad.numpy(), rtol=1e-11,
                                           atol=1e-11, err_msg=name)
                p.grad, q.grad = None, None
        for key, value in ours.state_dict().items():            # running statistics agree
            np.testing.assert_allclose(value.cpu().numpy(), theirs.state_dict()[key].numpy(),
                                       rtol=1e-12, atol=1e-12, err_msg=key)
