"""The ProGAN layers (models/progan_nets.py), shared with StyleGAN: equalised learning rate,
pixel norm, minibatch stddev, to-RGB / from-RGB.

First and second derivatives by finite differences in float64 (random upstream gradients),
PyTorch as an oracle for forward and gradients (the reference written in torch ops here), and
property tests: PixelNorm gives unit mean square per pixel, the equalised layers' effective
weights have the He constant as std while the stored ones have std 1.
"""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygen as tg
from tinygen.gradcheck import check_module, gradcheck, gradgradcheck
from tinygen.models.progan_nets import (
    EqualizedConv2d, EqualizedLinear, FromRGB, MinibatchStdDev, PixelNorm, ToRGB, he_constant,
    minibatch_stddev, pixel_norm,
)
from tinygen_tests.conftest import SETTINGS, on_default_device


def _x(shape, seed=0):
    return tg.tensor(np.random.default_rng(seed).normal(size=shape), requires_grad=True)


# ----------------------------------------------------------------------------
# finite differences, first and second order
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("make, shape", [
    (lambda: EqualizedLinear(3, 2), (4, 3)),
    (lambda: EqualizedLinear(3, 2, gain=1.0, lr_mul=0.01, bias_init=0.5), (2, 3)),
    (lambda: EqualizedConv2d(2, 3, 3), (2, 2, 4, 4)),
    (lambda: EqualizedConv2d(2, 2, 4, padding=0, gain=0.5), (2, 2, 4, 4)),
    (lambda: ToRGB(3, 2), (2, 3, 3, 3)),
    (lambda: FromRGB(1, 3), (2, 1, 3, 3)),
    (lambda: PixelNorm(), (2, 3, 2, 2)),
    (lambda: MinibatchStdDev(group_size=2), (4, 2, 2, 2)),
    (lambda: MinibatchStdDev(group_size=4, num_channels=2), (4, 4, 1, 2)),
])
def test_first_and_second_derivatives(make, shape):
    """check_module: every input entry and parameter, gradcheck and gradgradcheck (float64)."""
    tg.manual_seed(0)
    first, second = check_module(make(), _x(shape))
    assert first.passed and second.passed


def test_pixel_norm_and_mbstd_functions_gradcheck_with_given_cotangents():
    """The functional forms, with explicit random cotangents (never all ones)."""
    rng = np.random.default_rng(3)
    x = _x((4, 3, 2, 2), seed=1)
    v = tg.tensor(rng.normal(size=(4, 3, 2, 2)))
    gradcheck(pixel_norm, (x,), (v,))
    gradgradcheck(pixel_norm, (x,), (v,))
    v = tg.tensor(rng.normal(size=(4, 4, 2, 2)))
    gradcheck(lambda t: minibatch_stddev(t, 2), (x,), (v,))
    gradgradcheck(lambda t: minibatch_stddev(t, 2), (x,), (v,))


# ----------------------------------------------------------------------------
# PyTorch as the oracle
# ----------------------------------------------------------------------------

torch = pytest.importorskip("torch")


def _torch_mbstd(x, group_size, num_channels, eps=1e-8):
    """The authors' minibatch-stddev layer in torch ops (group = i mod N/G)."""
    n, c, h, w = x.shape
    g = min(group_size, n)
    y = x.reshape(g, -1, num_channels, c // num_channels, h, w)
    y = y - y.mean(0)
    y = (y.square().mean(0) + eps).sqrt()
    y = y.mean((2, 3, 4)).reshape(-1, num_channels, 1, 1)
    y = y.repeat(g, 1, h, w)
    return torch.cat([x, y], 1)


def _torch_pixel_norm(x, eps=1e-8):
    return x * torch.rsqrt(x.square().mean(1, keepdim=True) + eps)


def _compare(ours, ref, x_np, params=(), atol=1e-10):
    """Forward and the gradients of <v, y> w.r.t. x and each (our, torch) parameter pair."""
    x = tg.tensor(x_np, requires_grad=True)
    xt = torch.tensor(x_np, requires_grad=True)
    y, yt = ours(x), ref(xt)
    np.testing.assert_allclose(y.cpu().numpy(), yt.detach().cpu().numpy(), atol=atol, rtol=1e-9)
    v = np.random.default_rng(7).normal(size=y.shape)
    (y * tg.tensor(v)).sum().backward()
    (yt * torch.tensor(v)).sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), xt.grad.cpu().numpy(), atol=atol, rtol=1e-9)
    for p, pt in params:
        np.testing.assert_allclose(p.grad.cpu().numpy(), pt.grad.cpu().numpy(), atol=atol, rtol=1e-9)


def test_equalized_conv_matches_torch():
    tg.manual_seed(1)
    layer = EqualizedConv2d(3, 4, 3).double()
    w = torch.tensor(layer.weight.cpu().numpy(), requires_grad=True)
    b = torch.tensor(np.random.default_rng(2).normal(size=4), requires_grad=True)
    layer.bias.data[...] = on_default_device(b.detach().numpy())
    c = math.sqrt(2 / (3 * 3 * 3))
    ref = lambda t: torch.nn.functional.conv2d(t, w * c, b, padding=1)     # noqa: E731
    _compare(layer, ref, np.random.default_rng(0).normal(size=(2, 3, 5, 5)),
             [(layer.weight, w), (layer.bias, b)])


def test_equalized_linear_with_lr_mul_matches_torch():
    tg.manual_seed(2)
    layer = EqualizedLinear(5, 3, lr_mul=0.01, bias_init=1.0).double()
    w = torch.tensor(layer.weight.cpu().numpy(), requires_grad=True)
    b = torch.tensor(layer.bias.cpu().numpy(), requires_grad=True)
    ref = lambda t: torch.nn.functional.linear(t, w * (math.sqrt(2 / 5) * 0.01), b * 0.01)  # noqa
    _compare(layer, ref, np.random.default_rng(1).normal(size=(4, 5)),
             [(layer.weight, w), (layer.bias, b)])
    np.testing.assert_allclose(layer.bias.cpu().numpy() * 0.01, 1.0)   # bias_init is the effective b


@pytest.mark.parametrize("shape, group, f", [((8, 4, 3, 3), 4, 1), ((6, 4, 2, 2), 2, 2),
                                             ((3, 2, 2, 2), 4, 1)])
def test_minibatch_stddev_matches_torch(shape, group, f):
    x = np.random.default_rng(4).normal(size=shape)
    _compare(lambda t: minibatch_stddev(t, group, f), lambda t: _torch_mbstd(t, group, f), x)


def test_pixel_norm_matches_torch():
    x = np.random.default_rng(5).normal(size=(3, 5, 4, 4))
    _compare(pixel_norm, _torch_pixel_norm, x)


# ----------------------------------------------------------------------------
# properties
# ----------------------------------------------------------------------------

@SETTINGS
@given(n=st.integers(1, 3), c=st.integers(1, 6), hw=st.integers(1, 3),
       scale=st.floats(0.01, 100.0), seed=st.integers(0, 1000))
def test_pixel_norm_gives_unit_mean_square_per_pixel(n, c, hw, scale, seed):
    x = np.random.default_rng(seed).normal(size=(n, c, hw, hw)) * scale + 0.1
    y = pixel_norm(tg.tensor(x)).cpu().numpy()
    ms = (x ** 2).mean(1)                                      # (n, hw, hw)
    np.testing.assert_allclose((y ** 2).mean(1), ms / (ms + 1e-8), rtol=1e-10)   # exactly
    big = ms > 1e-3                                            # eps = 1e-8 is then negligible
    np.testing.assert_allclose((y ** 2).mean(1)[big], 1.0, rtol=1e-5)
    np.testing.assert_allclose(y * np.sqrt(ms + 1e-8)[:, None], x, rtol=1e-10)   # a rescaling


@pytest.mark.parametrize("layer, fan_in", [
    (EqualizedConv2d(64, 64, 3), 64 * 9), (EqualizedConv2d(32, 48, 1, gain=1.0), 32),
    (EqualizedLinear(256, 200), 256), (EqualizedLinear(128, 300, lr_mul=0.01), 128),
])
def test_effective_weight_std_is_the_he_constant(layer, fan_in):
    """Stored w_hat ~ N(0, 1/lr_mul^2); the weight used at run time has std gain/sqrt(fan_in)."""
    c = he_constant(fan_in, layer.gain)
    w_hat = layer.weight.cpu().numpy()
    w = layer.effective_weight().cpu().numpy()
    assert abs(w.std() / c - 1) < 0.05, (w.std(), c)
    assert abs(w_hat.std() * layer.lr_mul - 1) < 0.05
    assert abs(w.mean()) < 0.05 * c


def test_he_constant_keeps_the_signal_scale_through_relu_layers():
    """Why sqrt(2): a stack of equalised conv + ReLU layers neither explodes nor vanishes."""
    tg.manual_seed(3)
    h = tg.tensor(np.random.default_rng(0).normal(size=(8, 32, 8, 8)).astype(np.float32))
    second_moment = float((h * h).mean().item())
    for _ in range(6):
        h = tg.relu(EqualizedConv2d(32, 32, 3)(h))
    ratio = float((h * h).mean().item()) / second_moment
    assert 0.3 < ratio < 3.0, ratio


def test_minibatch_stddev_values():
    """Identical samples in a group give sqrt(eps); the map is constant per group; group i mod M."""
    x = np.zeros((4, 2, 3, 3))
    x[1] = 1.0                            # groups are {0, 2} and {1, 3} (i mod M, M = 2)
    x[3] = 3.0                            # std over {1, 3} of every feature: 1
    y = minibatch_stddev(tg.tensor(x), group_size=2).cpu().numpy()
    assert y.shape == (4, 3, 3, 3)
    np.testing.assert_allclose(y[:, :2], x)
    np.testing.assert_allclose(y[[0, 2], 2], 1e-4, rtol=1e-6)    # sqrt(1e-8)
    np.testing.assert_allclose(y[[1, 3], 2], 1.0, rtol=1e-6)


def test_minibatch_stddev_rejects_a_batch_not_divisible_by_the_group():
    with pytest.raises(ValueError, match="not a multiple of the group size 4"):
        minibatch_stddev(tg.tensor(np.zeros((6, 2, 2, 2))), group_size=4)


def test_torgb_is_linear_and_fromrgb_leaky():
    tg.manual_seed(4)
    to, frm = ToRGB(4, 3), FromRGB(3, 4)
    assert to.conv.gain == 1.0 and to.conv.kernel_size == 1
    x = tg.tensor(np.random.default_rng(0).normal(size=(2, 4, 2, 2)).astype(np.float32))
    np.testing.assert_allclose(to(x * 2.0).cpu().numpy() - to.conv.bias.cpu().numpy()[:, None, None],
                               2 * (to(x).cpu().numpy() - to.conv.bias.cpu().numpy()[:, None, None]),
                               rtol=1e-5, atol=1e-6)
    y = frm(tg.tensor(np.random.default_rng(1).normal(size=(2, 3, 2, 2)).astype(np.float32)))
    assert y.shape == (2, 4, 2, 2) and (y.cpu().numpy() < 0).any()
