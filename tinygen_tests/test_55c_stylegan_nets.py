"""StyleGAN's equations and networks (tinygen/models/stylegan_nets.py) and the R1 penalty.

Read in order: AdaIN, the modulated convolution, the noise input and R1 checked by finite
differences in float64 (first AND second order, random upstream gradients) -> the same against
PyTorch written in torch ops -> properties (AdaIN's output statistics are the style, demodulated
kernels have unit norm) -> the generator's mixing, truncation and noise switches, values asserted.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygen as tg
from tinygen import functional as F
from tinygen import losses as L
from tinygen.gradcheck import gradcheck, gradgradcheck
from tinygen.models import stylegan_nets as S
from tinygen.ops.conv import conv2d
from tinygen_tests.conftest import assert_allclose, assert_array_equal, host, on_default_device


def leaf(rng, *shape, shift=0.0):
    return tg.tensor(rng.normal(size=shape) + shift).requires_grad_()


# ---------------------------------------------------------------- finite differences (float64)

def test_adain_first_and_second_order():
    rng = np.random.default_rng(0)
    x, ys, yb = leaf(rng, 2, 3, 3, 3), leaf(rng, 2, 3), leaf(rng, 2, 3)
    gradcheck(S.adain, [x, ys, yb])
    gradgradcheck(S.adain, [x, ys, yb])


@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_first_and_second_order(demodulate):
    rng = np.random.default_rng(1)
    x, w, s = leaf(rng, 2, 3, 4, 4), leaf(rng, 2, 3, 3, 3), leaf(rng, 2, 3, shift=1.0)
    fn = lambda x, w, s: S.modulated_conv2d(x, w, s, demodulate=demodulate)   # noqa: E731
    gradcheck(fn, [x, w, s])
    gradgradcheck(fn, [x, w, s])


def test_demodulation_weights_first_and_second_order():
    rng = np.random.default_rng(2)
    w, s = leaf(rng, 3, 2, 3, 3), leaf(rng, 2, 2, shift=1.0)
    gradcheck(S.modulate, [w, s])
    gradgradcheck(S.modulate, [w, s])


def test_noise_injection_first_and_second_order():
    rng = np.random.default_rng(3)
    x, noise, b = leaf(rng, 2, 3, 4, 4), leaf(rng, 2, 1, 4, 4), leaf(rng, 3)
    gradcheck(S.add_noise, [x, noise, b])
    gradgradcheck(S.add_noise, [x, noise, b])


def tiny_critic(rng):
    """A smooth D (tanh, no kinks for the finite differences): conv 3x3 -> tanh -> linear."""
    w1, w2 = leaf(rng, 3, 1, 3, 3), leaf(rng, 1, 3 * 4 * 4)
    return w1, w2, (lambda x, w1=w1, w2=w2: F.linear(
        F.tanh(conv2d(x, w1, padding=1)).reshape(x.shape[0], -1), w2))


def test_r1_penalty_first_and_second_order():
    """R1 is already a gradient; its gradient w.r.t. D's weights is a double backward, its
    gradgradcheck a third-order one."""
    rng = np.random.default_rng(4)
    w1, w2, _ = tiny_critic(rng)
    x = tg.tensor(rng.normal(size=(3, 1, 4, 4)))

    def r1(w1, w2):
        return L.r1_penalty(lambda v: F.linear(F.tanh(conv2d(v, w1, padding=1))
                                               .reshape(v.shape[0], -1), w2), x, gamma=3.0)
    gradcheck(r1, [w1, w2])
    gradgradcheck(r1, [w1, w2])


def test_r1_penalty_value_of_a_linear_critic():
    """D(x) = <a, x>: grad_x D = a for every x, so R1 = gamma/2 ||a||^2 exactly."""
    a = np.arange(1.0, 5.0).reshape(1, 4)
    critic = lambda x: F.linear(x, tg.tensor(a))                     # noqa: E731
    x = tg.tensor(np.random.default_rng(0).normal(size=(5, 4)))
    assert float(L.r1_penalty(critic, x, gamma=10.0).item()) == pytest.approx(5.0 * 30.0)


# ---------------------------------------------------------------- PyTorch oracle

def test_adain_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    xs = [rng.normal(size=s) for s in ((2, 3, 5, 5), (2, 3), (2, 3))]
    g = rng.normal(size=(2, 3, 5, 5))
    ours = [leaf_ for leaf_ in (tg.tensor(a).requires_grad_() for a in xs)]
    out = S.adain(*ours)
    out.backward(tg.tensor(g))
    tx, ts, tb = (torch.tensor(a, requires_grad=True) for a in xs)
    ref = torch.nn.functional.instance_norm(tx, eps=1e-8) * ts[:, :, None, None] \
        + tb[:, :, None, None]
    ref.backward(torch.tensor(g))
    assert_allclose(out.data, ref.detach().numpy(), rtol=1e-9, atol=1e-9)
    for a, b in zip(ours, (tx, ts, tb)):
        assert_allclose(a.grad.data, b.grad.numpy(), rtol=1e-8, atol=1e-9)


def test_modulated_conv_matches_torch_per_sample_loop():
    """The grouped convolution against the paper's definition: each sample convolved with its
    own modulated, demodulated kernel, in torch ops, values and gradients."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    arrays = [rng.normal(size=(3, 4, 6, 6)), rng.normal(size=(5, 4, 3, 3)),
              rng.normal(size=(3, 4)) + 1.0]
    g = rng.normal(size=(3, 5, 6, 6))
    ours = [tg.tensor(a).requires_grad_() for a in arrays]
    out = S.modulated_conv2d(*ours, demodulate=True)
    out.backward(tg.tensor(g))
    tx, tw, ts = (torch.tensor(a, requires_grad=True) for a in arrays)
    ys = []
    for n in range(3):
        w1 = tw * ts[n][None, :, None, None]                         # (O, C, 3, 3)
        w2 = w1 / torch.sqrt((w1 ** 2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        ys.append(torch.nn.functional.conv2d(tx[n:n + 1], w2, padding=1))
    ref = torch.cat(ys)
    ref.backward(torch.tensor(g))
    assert_allclose(out.data, ref.detach().numpy(), rtol=1e-9, atol=1e-9)
    for a, b in zip(ours, (tx, tw, ts)):
        assert_allclose(a.grad.data, b.grad.numpy(), rtol=1e-8, atol=1e-9)


def test_r1_matches_torch_double_backward():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4, 1, 4, 4))
    w1a, w2a = rng.normal(size=(3, 1, 3, 3)), rng.normal(size=(1, 48))
    w1, w2 = tg.tensor(w1a).requires_grad_(), tg.tensor(w2a).requires_grad_()
    critic = lambda v: F.linear(F.leaky_relu(conv2d(v, w1, padding=1), 0.2)   # noqa: E731
                                .reshape(v.shape[0], -1), w2)
    r1 = L.r1_penalty(critic, tg.tensor(x), gamma=10.0)
    r1.backward()
    tw1, tw2 = torch.tensor(w1a, requires_grad=True), torch.tensor(w2a, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    out = torch.nn.functional.leaky_relu(torch.nn.functional.conv2d(tx, tw1, padding=1), 0.2)
    d = out.reshape(4, -1) @ tw2.T
    (gx,) = torch.autograd.grad(d.sum(), tx, create_graph=True)
    ref = 5.0 * (gx ** 2).reshape(4, -1).sum(1).mean()
    ref.backward()
    assert float(r1.item()) == pytest.approx(float(ref), rel=1e-10)
    assert_allclose(w1.grad.data, tw1.grad.numpy(), rtol=1e-8, atol=1e-10)
    assert_allclose(w2.grad.data, tw2.grad.numpy(), rtol=1e-8, atol=1e-10)


# ---------------------------------------------------------------- properties

@settings(max_examples=15, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(2, 5), st.integers(0, 2 ** 31))
def test_adain_output_statistics_are_the_style(n, c, side, seed):
    rng = np.random.default_rng(seed)
    x = tg.tensor(rng.normal(size=(n, c, side, side)) * 3.0 + 2.0)
    ys, yb = rng.normal(size=(n, c)) * 2.0, rng.normal(size=(n, c)) * 2.0
    y = host(S.adain(x, tg.tensor(ys), tg.tensor(yb)))
    assert_allclose(y.mean(axis=(2, 3)), yb, atol=1e-9)
    assert_allclose(y.std(axis=(2, 3)), np.abs(ys), rtol=1e-6, atol=1e-7)


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.sampled_from([1, 3]),
       st.integers(0, 2 ** 31))
def test_demodulated_weights_have_unit_norm_per_output_channel(n, c, o, k, seed):
    rng = np.random.default_rng(seed)
    w = tg.tensor(rng.normal(size=(o, c, k, k)))
    s = tg.tensor(rng.uniform(0.5, 3.0, size=(n, c)) * rng.choice([-1.0, 1.0], size=(n, c)))
    w2 = host(S.modulate(w, s, demodulate=True, eps=0.0))             # (N, O, C, k, k)
    norms = np.sqrt((w2 ** 2).sum(axis=(2, 3, 4)))                   # (N, O)
    assert_allclose(norms, 1.0, rtol=1e-6)


def test_normalised_latent_lies_on_the_sphere():
    z = tg.tensor(np.random.default_rng(0).normal(size=(5, 16)) * 7.0)
    r = np.sqrt((host(S.normalise_latent(z)) ** 2).mean(1))
    assert_allclose(r, 1.0, rtol=1e-6)


def test_errors_name_the_shapes():
    x = tg.zeros(2, 3, 4, 4)
    with pytest.raises(ValueError, match=r"must be \(2, 3\)"):
        S.adain(x, tg.zeros(2, 4), tg.zeros(2, 4))
    with pytest.raises(ValueError, match=r"s must be \(N, 3\)"):
        S.modulate(tg.zeros(5, 3, 3, 3), tg.zeros(2, 2))
    with pytest.raises(ValueError, match="noise must be"):
        S.add_noise(x, tg.zeros(2, 3, 4, 4), tg.zeros(3))


# ---------------------------------------------------------------- the generator's switches

@pytest.fixture(scope="module", params=[False, True], ids=["adain", "modulated"])
def G(request):
    tg.manual_seed(0)
    g = S.StyleGenerator(z_dim=8, w_dim=8, resolution=16, channels=3, mapping_layers=2,
                         widths={4: 8, 8: 8, 16: 4}, modulated=request.param)
    for layer in g.synthesis.layers:                 # make the noise inputs matter
        layer.noise_strength.data[...] = 0.5
    return g


def test_layers_and_crossover_of_coarse_styles(G):
    assert G.layer_resolutions == [4, 4, 8, 8, 16, 16]
    assert G.num_ws == 6 and G.layers_up_to(8) == 4


def test_crossover_at_zero_layers_is_the_second_latents_image(G):
    z1, z2 = tg.randn(3, 8), tg.randn(3, 8)
    with tg.no_grad():
        mixed = host(G(z1, z2=z2, crossover=0, noise_mode="const"))
        fine = host(G(z2, noise_mode="const"))
        coarse = host(G(z1, noise_mode="const"))
        all_first = host(G(z1, z2=z2, crossover=G.num_ws, noise_mode="const"))
    assert_array_equal(mixed, fine)
    assert_array_equal(all_first, coarse)
    assert np.abs(mixed - coarse).max() > 1e-3


def test_truncation_psi_zero_gives_the_w_avg_image_for_every_z(G):
    G.w_avg.data[...] = on_default_device(np.linspace(-1, 1, 8))
    with tg.no_grad():
        x = host(G(tg.randn(4, 8), psi=0.0, noise_mode="const"))
        ref = host(G.synthesis(G.broadcast(G.w_avg.reshape(1, 8)),
                               G.make_noise(1, "const")))
    assert_allclose(x, np.repeat(ref, 4, axis=0), rtol=1e-5, atol=1e-5)


def test_w_avg_tracks_the_mean_w():
    g = S.StyleGenerator(z_dim=4, w_dim=4, resolution=8, channels=1, mapping_layers=1,
                         widths={4: 4, 8: 4}, w_avg_beta=0.5)
    w = tg.tensor(np.ones((3, 4), np.float32) * 2.0)
    g.track_w_avg(w)
    g.track_w_avg(w)
    assert_allclose(g.w_avg.data, 1.5)                    # 0 -> 1 -> 1.5


def test_noise_modes(G):
    z = tg.randn(2, 8)
    with tg.no_grad():
        a, b = (host(G(z, noise_mode="const")) for _ in range(2))
        r1, r2 = (host(G(z, noise_mode="random")) for _ in range(2))
        none = host(G(z, noise_mode="none"))
    assert_array_equal(a, b)
    assert np.abs(r1 - r2).max() > 1e-4 and np.abs(none - a).max() > 1e-4
    with pytest.raises(ValueError, match="noise_mode"):
        G.make_noise(2, "fixed")


def test_discriminator_shapes_and_resolution_check():
    tg.manual_seed(0)
    D = S.StyleDiscriminator(16, 3, {4: 8, 8: 8, 16: 4})
    assert D(tg.randn(4, 3, 16, 16)).shape == (4, 1)
    with pytest.raises(ValueError, match="16 x 16"):
        D(tg.randn(4, 3, 8, 8))
