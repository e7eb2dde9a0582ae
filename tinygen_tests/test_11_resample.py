"""Resampling and padding: interpolate (nearest, bilinear), pixel (un)shuffle, pad, their layers.

All are compositions (gathers, matrix products, reshape/permute), so the
gradchecks below test that the composition is right, to first and second order.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
from tinygen import nn
from tinygen.gradcheck import GradcheckError, check_module, gradcheck
from tinygen.ops import linalg as L
from tinygen.ops import resample as R
from tinygen_tests.conftest import assert_allclose, assert_array_equal, check_grads, t64

FAST = settings(max_examples=6, deadline=None)


def _too_small(args, h, w):
    """scale_factor can shrink a side to 0 pixels: an error in both libraries, skipped here."""
    sf = args.get("scale_factor")
    return sf is not None and min(int(np.floor(h * sf[0])), int(np.floor(w * sf[1]))) < 1


def _x(shape, seed=0):
    return t64(np.random.default_rng(seed).standard_normal(shape))


@st.composite
def resize_args(draw):
    if draw(st.booleans()):
        return dict(size=(draw(st.integers(1, 7)), draw(st.integers(1, 7))))
    return dict(scale_factor=(draw(st.sampled_from([0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0])),
                              draw(st.floats(0.4, 3.0))))


# ----------------------------------------------------------------------------
# interpolate
# ----------------------------------------------------------------------------

def test_nearest_and_bilinear_by_hand():
    x = t64(np.array([[0.0, 1.0], [2.0, 3.0]])[None, None])
    near = R.interpolate(x, scale_factor=2)
    assert near.cpu().numpy()[0, 0].tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]
    row = R.interpolate(t64(np.array([[[[0.0, 1.0]]]])), size=(1, 4), mode="bilinear")
    assert_allclose(row.cpu().numpy().ravel(), [0, 0.25, 0.75, 1])   # half-pixel centres
    row = R.interpolate(t64(np.array([[[[0.0, 1.0]]]])), size=(1, 4), mode="bilinear",
                        align_corners=True)
    assert_allclose(row.cpu().numpy().ravel(), [0, 1 / 3, 2 / 3, 1])  # corners pinned


def test_interpolation_matrices_rows_sum_to_one():
    for n_in, n_out in [(1, 5), (5, 1), (4, 7), (7, 4), (3, 3)]:
        for ac in (False, True):
            assert_allclose(R.bilinear_matrix(n_in, n_out, ac).sum(1), 1.0)


@given(args=resize_args(), h=st.integers(1, 4), w=st.integers(1, 4),
       mode=st.sampled_from(["nearest", "bilinear", "bilinear-ac"]), seed=st.integers(0, 99))
@FAST
def test_interpolate_gradcheck_first_and_second_order(args, h, w, mode, seed):
    if _too_small(args, h, w):
        return
    ac = True if mode == "bilinear-ac" else None
    mode = mode.split("-")[0]
    check_grads(lambda x: R.interpolate(x, mode=mode, align_corners=ac, **args),
                _x((1, 2, h, w), seed))


@given(args=resize_args(), h=st.integers(1, 9), w=st.integers(1, 9),
       mode=st.sampled_from(["nearest", "bilinear", "bilinear-ac"]), seed=st.integers(0, 99),
       dtype=st.sampled_from([np.float32, np.float64]))
@settings(max_examples=40, deadline=None)
def test_against_pytorch_interpolate(args, h, w, mode, seed, dtype):
    torch = pytest.importorskip("torch")
    if _too_small(args, h, w):
        return
    ac = True if mode == "bilinear-ac" else (False if mode == "bilinear" else None)
    mode = mode.split("-")[0]
    a = np.random.default_rng(seed).standard_normal((2, 2, h, w)).astype(dtype)
    x, xt = tg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y = R.interpolate(x, mode=mode, align_corners=ac, **args)
    yt = torch.nn.functional.interpolate(xt, mode=mode, align_corners=ac, **args)
    assert y.shape == tuple(yt.shape) and y.dtype == a.dtype
    tol = 1e-5 if dtype == np.float64 else 1e-4
    assert_allclose(y.cpu().numpy(), yt.detach().cpu().numpy(), rtol=tol, atol=tol)
    gy = np.random.default_rng(seed + 1).standard_normal(y.shape).astype(dtype)
    y.backward(tg.tensor(gy))
    yt.backward(torch.tensor(gy))
    assert_allclose(x.grad.cpu().numpy(), xt.grad.cpu().numpy(), rtol=tol, atol=tol)


def test_sabotaged_matmul_inside_bilinear_is_caught(monkeypatch):
    fn = lambda x: R.interpolate(x, size=(3, 5), mode="bilinear")  # noqa: E731
    x = _x((1, 1, 2, 3))
    assert gradcheck(fn, x).passed
    orig = L.MatMul.backward
    monkeypatch.setattr(L.MatMul, "backward",
                        lambda self, gy: tuple(g * 2.0 for g in orig(self, gy)))
    with pytest.raises(GradcheckError):
        gradcheck(fn, x)


@pytest.mark.parametrize("kwargs, match", [
    (dict(), "exactly one"),
    (dict(size=4, scale_factor=2), "exactly one"),
    (dict(size=4, mode="area"), "mode"),
    (dict(size=4, align_corners=True), "align_corners"),
    (dict(scale_factor=-1), "scale_factor"),
    (dict(size=(1, 2, 3)), "size"),
])
def test_invalid_interpolate_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        R.interpolate(_x((1, 1, 3, 3)), **kwargs)


# ----------------------------------------------------------------------------
# pixel shuffle
# ----------------------------------------------------------------------------

def test_pixel_shuffle_formula_and_inverse():
    r, C, H, W = 2, 3, 2, 3
    x = _x((2, C * r * r, H, W))
    y = R.pixel_shuffle(x, r)
    a, b = x.cpu().numpy(), y.cpu().numpy()
    for c in range(C):
        for i in range(r):
            for j in range(r):
                assert_array_equal(b[:, c, i::r, j::r], a[:, c * r * r + i * r + j])
    assert_array_equal(R.pixel_unshuffle(y, r).cpu().numpy(), a)
    check_grads(lambda x: R.pixel_shuffle(x, r), x)
    check_grads(lambda x: R.pixel_unshuffle(x, r), _x((1, 2, 4, 2)))
    with pytest.raises(ValueError, match="upscale_factor"):
        R.pixel_shuffle(_x((1, 3, 2, 2)), 2)
    with pytest.raises(ValueError, match="downscale_factor"):
        R.pixel_unshuffle(_x((1, 1, 3, 2)), 2)


# ----------------------------------------------------------------------------
# pad
# ----------------------------------------------------------------------------

def test_pad_modes_by_hand():
    x = t64(np.array([[[[1.0, 2.0, 3.0]]]]))
    row = lambda mode: R.pad(x, (2, 2), mode=mode).cpu().numpy().ravel().tolist()  # noqa: E731
    assert row("reflect") == [3, 2, 1, 2, 3, 2, 1]
    assert row("replicate") == [1, 1, 1, 2, 3, 3, 3]
    assert row("circular") == [2, 3, 1, 2, 3, 1, 2]
    assert R.pad(x, (1, -1), value=9.0).cpu().numpy().ravel().tolist() == [9, 1, 2]


@given(mode=st.sampled_from(["constant", "reflect", "replicate", "circular"]),
       pads=st.lists(st.integers(0, 2), min_size=4, max_size=4), seed=st.integers(0, 99))
@FAST
def test_pad_gradcheck_first_and_second_order(mode, pads, seed):
    check_grads(lambda x: R.pad(x, tuple(pads), mode=mode, value=0.5), _x((1, 2, 3, 3), seed))


@given(mode=st.sampled_from(["constant", "reflect", "replicate", "circular"]),
       pads=st.lists(st.integers(-1, 3), min_size=2, max_size=6), seed=st.integers(0, 99))
@settings(max_examples=40, deadline=None)
def test_against_pytorch_pad(mode, pads, seed):
    torch = pytest.importorskip("torch")
    if len(pads) % 2:
        pads = pads[:-1]
    if mode != "constant":
        pads = [abs(p) for p in pads][:4]
    a = np.random.default_rng(seed).standard_normal((2, 3, 4, 4))
    xt = torch.tensor(a, requires_grad=True)
    try:
        yt = torch.nn.functional.pad(xt, tuple(pads), mode=mode,
                                     **({"value": 0.5} if mode == "constant" else {}))
    except (RuntimeError, NotImplementedError, ValueError):
        return                                                             # PyTorch refuses too
    x = t64(a)
    y = R.pad(x, tuple(pads), mode=mode, value=0.5)
    assert_allclose(y.cpu().numpy(), yt.detach().cpu().numpy())
    gy = np.random.default_rng(seed).standard_normal(y.shape)
    y.backward(tg.tensor(gy))
    yt.backward(torch.tensor(gy))
    assert_allclose(x.grad.cpu().numpy(), xt.grad.cpu().numpy(), rtol=1e-12)


@pytest.mark.parametrize("args, match", [
    (((1, 2, 3),), "even"),
    (((3, 3), "reflect"), "reflect"),
    (((4, 0), "circular"), "circular"),
    (((1, 1), "wrap"), "mode"),
    (((-1, 0), "replicate"), "negative"),
])
def test_invalid_pad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        R.pad(_x((1, 1, 3, 3)), *args)


# ----------------------------------------------------------------------------
# layers
# ----------------------------------------------------------------------------

def test_resample_and_pad_layers_gradcheck():
    x = np.random.default_rng(1).standard_normal((1, 4, 3, 3))
    for m in (nn.Upsample(scale_factor=2), nn.Upsample(size=(4, 5), mode="bilinear"),
              nn.UpsamplingBilinear2d(scale_factor=2), nn.PixelShuffle(2), nn.PixelUnshuffle(3),
              nn.ReflectionPad2d(2), nn.ReplicationPad2d((1, 0, 2, 1)), nn.ZeroPad2d(1),
              nn.ConstantPad2d((0, 1, 1, 0), 3.0), nn.CircularPad2d(1)):
        assert all(r.passed for r in check_module(m, x)), repr(m)


def test_against_pytorch_layers():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(2).standard_normal((2, 4, 6, 6))
    pairs = [(nn.Upsample(scale_factor=2), torch.nn.Upsample(scale_factor=2)),
             (nn.Upsample(size=(5, 9), mode="bilinear", align_corners=False),
              torch.nn.Upsample(size=(5, 9), mode="bilinear", align_corners=False)),
             (nn.PixelShuffle(2), torch.nn.PixelShuffle(2)),
             (nn.PixelUnshuffle(2), torch.nn.PixelUnshuffle(2)),
             (nn.ReflectionPad2d(3), torch.nn.ReflectionPad2d(3)),
             (nn.ReplicationPad2d((1, 2, 3, 4)), torch.nn.ReplicationPad2d((1, 2, 3, 4))),
             (nn.ZeroPad2d((1, 2, 0, 1)), torch.nn.ZeroPad2d((1, 2, 0, 1))),
             (nn.ConstantPad2d(2, -1.5), torch.nn.ConstantPad2d(2, -1.5))]
    for ours, theirs in pairs:
        assert_allclose(ours(t64(a)).cpu().numpy(), theirs(torch.tensor(a)).cpu().numpy(),
                                   rtol=1e-12, err_msg=repr(ours))
