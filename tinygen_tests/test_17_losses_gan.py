"""GAN losses (tinygen/losses.py, GAN section): values, signs, gradients, stability, penalty.

Read in order: values at known points -> properties for random logits -> the saturation of
the minimax generator loss (the reason for the non-saturating one) -> stability at huge
logits -> the gradient penalty (double backward) checked by finite differences.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

import tinygen as tg
from tinygen import nn
from tinygen import losses as L
from tinygen.gradcheck import GradcheckError, gradcheck
from tinygen.models.mlp import MLPDiscriminator

LOG2 = math.log(2.0)


def T(values, dtype=np.float64):
    return tg.tensor(np.asarray(values, dtype=dtype).reshape(-1, 1))


def logit_arrays(min_size=1, max_size=6, bound=30.0):
    return arrays(np.float64, st.integers(min_size, max_size),
                  elements=st.floats(-bound, bound, allow_nan=False))


def grad_wrt(loss_fn, logits):
    t = T(logits).requires_grad_()
    loss_fn(t).backward()
    return t.grad.cpu().numpy().ravel()


# ---------------------------------------------------------------- values at known points

def test_values_at_known_points():
    zero = T([0.0, 0.0])
    # D = 1/2 everywhere: -log(1/2) - log(1/2) = 2 log 2 (the value at the GAN equilibrium).
    assert float(L.d_loss_minimax(zero, zero)) == pytest.approx(2 * LOG2, abs=1e-12)
    assert float(L.g_loss_minimax(zero)) == pytest.approx(-LOG2, abs=1e-12)
    assert float(L.g_loss_nonsaturating(zero)) == pytest.approx(LOG2, abs=1e-12)
    r, f = T([1.0, 3.0]), T([-2.0, 0.5])
    assert float(L.d_loss_wasserstein(r, f)) == pytest.approx(-0.75 - 2.0)
    assert float(L.g_loss_wasserstein(f)) == pytest.approx(0.75)
    # LSGAN: 1/2 mean((r-1)^2) + 1/2 mean(f^2) = 1/2 (0 + 4)/2 + 1/2 (4 + 0.25)/2
    assert float(L.d_loss_least_squares(r, f)) == pytest.approx(1.0 + 1.0625)
    assert float(L.g_loss_least_squares(f)) == pytest.approx(0.5 * (9 + 0.25) / 2)
    # hinge: mean(relu(1 - r)) + mean(relu(1 + f)) = (0 + 0)/2 + (0 + 1.5)/2
    assert float(L.d_loss_hinge(r, f)) == pytest.approx(0.75)


@settings(max_examples=25, deadline=None)
@given(logit_arrays(), logit_arrays())
def test_minimax_d_loss_is_binary_cross_entropy(r, f):
    # -log sigmoid(r) = log(1 + e^-r), -log(1 - sigmoid(f)) = log(1 + e^f), exactly in numpy.
    # (Tolerance 1e-8: softplus is linear above 20, PyTorch's threshold, an error < e^-20.)
    expected = np.mean(np.logaddexp(0, -r)) + np.mean(np.logaddexp(0, f))
    assert float(L.d_loss_minimax(T(r), T(f))) == pytest.approx(expected, rel=1e-9, abs=1e-8)


@settings(max_examples=25, deadline=None)
@given(logit_arrays(), logit_arrays())
def test_non_negativity_where_it_holds(r, f):
    assert float(L.d_loss_minimax(T(r), T(f))) >= 0
    assert float(L.g_loss_nonsaturating(T(f))) >= 0
    assert float(L.g_loss_minimax(T(f))) <= 0
    assert float(L.d_loss_least_squares(T(r), T(f))) >= 0
    assert float(L.g_loss_least_squares(T(f))) >= 0
    assert float(L.d_loss_hinge(T(r), T(f))) >= 0


@settings(max_examples=25, deadline=None)
@given(logit_arrays(), st.floats(-5, 5))
def test_wasserstein_loss_is_shift_invariant_and_antisymmetric(r, shift):
    # A critic is defined up to a constant: f + c gives the same loss.
    assert float(L.d_loss_wasserstein(T(r + shift), T(r[::-1] + shift))) == pytest.approx(0, abs=1e-9)
    f = r[::-1] * 0.5 - 1.0
    assert float(L.d_loss_wasserstein(T(r), T(f))) == pytest.approx(
        -float(L.d_loss_wasserstein(T(f), T(r))), abs=1e-9)


def test_label_smoothing_and_tensor_targets():
    r, f = T([2.0, -1.0]), T([0.3, -0.7])
    smoothed = float(L.d_loss_minimax(r, f, real_target=0.9))
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    rv = np.array([2.0, -1.0])
    expected_real = -np.mean(0.9 * np.log(sig(rv)) + 0.1 * np.log(1 - sig(rv)))
    expected_fake = -np.mean(np.log(1 - sig(np.array([0.3, -0.7]))))
    assert smoothed == pytest.approx(expected_real + expected_fake, rel=1e-9)
    flipped = float(L.d_loss_minimax(r, f, real_target=T([1.0, 0.0])))
    expected_real = -(np.log(sig(2.0)) + np.log(1 - sig(-1.0))) / 2
    assert flipped == pytest.approx(expected_real + expected_fake, rel=1e-9)


# ---------------------------------------------------------------- fixed point vs saturation

@settings(max_examples=25, deadline=None)
@given(logit_arrays(bound=8.0))
def test_minimax_and_nonsaturating_push_the_same_way(f):
    # Both generator losses decrease as D(G(z)) increases (same fixed point D = p_r/(p_r+p_g)):
    # their gradients with respect to the fake logits have the same (negative) sign.
    g_mm = grad_wrt(L.g_loss_minimax, f)
    g_ns = grad_wrt(L.g_loss_nonsaturating, f)
    assert np.all(g_mm < 0) and np.all(g_ns < 0)
    # ... and their sum is exactly -1/N per sample: sigmoid(l) + sigmoid(-l) = 1.
    assert np.allclose(g_mm + g_ns, -1.0 / len(f), atol=1e-12)


def test_minimax_generator_saturates_where_nonsaturating_does_not():
    # D(G(z)) -> 0: the discriminator confidently rejects the fakes (logit -> -inf).
    for logit in (-5.0, -10.0, -20.0, -50.0):
        g_mm = grad_wrt(L.g_loss_minimax, [logit])[0]
        g_ns = grad_wrt(L.g_loss_nonsaturating, [logit])[0]
        assert abs(g_mm) == pytest.approx(1 / (1 + math.exp(-logit)), rel=1e-9)   # sigmoid(l)
        assert abs(g_ns) == pytest.approx(1 / (1 + math.exp(logit)), rel=1e-9)    # sigmoid(-l)
        assert abs(g_mm) < 1e-2 and abs(g_ns) > 0.99
    # The ratio grows like e^{|l|}: at l = -20 the minimax gradient is 2e-9 of the other.
    assert abs(grad_wrt(L.g_loss_minimax, [-20.0])[0]) / abs(grad_wrt(L.g_loss_nonsaturating,
                                                                      [-20.0])[0]) < 3e-9


# ---------------------------------------------------------------- stability

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["minimax", "nonsaturating", "wgan", "lsgan", "hinge"])
def test_losses_are_finite_with_their_gradients_at_huge_logits(name, dtype):
    d_loss, g_loss = L.gan_losses(name)
    values = [1e4, -1e4, 0.0, 1e3, -1e3]
    r = T(values, dtype).requires_grad_()
    f = T(values[::-1], dtype).requires_grad_()
    loss = d_loss(r, f) + g_loss(f)
    loss.backward()
    assert np.isfinite(float(loss))
    assert np.all(np.isfinite(r.grad.cpu().numpy())) and np.all(np.isfinite(f.grad.cpu().numpy()))
    assert loss.dtype == dtype


def test_minimax_loss_exact_at_huge_logits():
    # softplus(1e4) = 1e4 exactly (log(1 + e^1e4) would overflow); log(sigmoid) would give inf.
    assert float(L.d_loss_minimax(T([-1e4]), T([1e4]))) == pytest.approx(2e4)
    assert float(L.g_loss_nonsaturating(T([-1e4], np.float32))) == pytest.approx(1e4)
    assert float(L.d_loss_minimax(T([1e4]), T([-1e4]))) == 0.0


def test_bad_logit_shape_is_named():
    with pytest.raises(ValueError, match=r"\(N,\) or \(N, 1\).*\(3, 2\)"):
        L.g_loss_nonsaturating(tg.zeros(3, 2))
    with pytest.raises(ValueError, match="unknown GAN loss 'foo'"):
        L.gan_losses("foo")


# ---------------------------------------------------------------- gradient penalty

def _critic(activation="tanh", seed=0):
    tg.manual_seed(seed)
    return MLPDiscriminator(data_dim=3, hidden=5, n_hidden=2, activation=activation).double()


def test_gradient_penalty_value_on_a_linear_critic():
    # f(x) = w.x + b has grad_x f = w everywhere: GP = lambda (||w|| - 1)^2 for any x_hat.
    lin = nn.Linear(3, 1).double()
    lin.weight.data[...] = tg.tensor([[3.0, 0.0, 4.0]], dtype=tg.float64).data   # its device
    x, y = tg.randn(6, 3, dtype=tg.float64), tg.randn(6, 3, dtype=tg.float64)
    assert float(L.gradient_penalty(lin, x, y)) == pytest.approx(10 * 16, rel=1e-9)
    lin.weight.data[...] = tg.tensor([[0.6, 0.0, 0.8]], dtype=tg.float64).data           # a 1-Lipschitz critic: no penalty
    assert float(L.gradient_penalty(lin, x, y)) == pytest.approx(0.0, abs=1e-9)


def test_gradient_penalty_matches_a_direct_numpy_computation():
    D = _critic()
    x, y = tg.randn(4, 3, dtype=tg.float64), tg.randn(4, 3, dtype=tg.float64)
    eps = np.array([0.1, 0.5, 0.9, 0.3])
    gp = float(L.gradient_penalty(D, x, y, epsilon=tg.tensor(eps)))
    x_hat = eps[:, None] * x.cpu().numpy() + (1 - eps[:, None]) * y.cpu().numpy()
    # finite-difference gradient of the critic at x_hat, then the penalty by hand
    h, norms = 1e-6, []
    for n in range(4):
        g = []
        for k in range(3):
            e = np.zeros(3)
            e[k] = h
            f = lambda v: float(D(tg.tensor(v[None])).cpu().numpy().ravel()[0])  # noqa: E731
            g.append((f(x_hat[n] + e) - f(x_hat[n] - e)) / (2 * h))
        norms.append(np.linalg.norm(g))
    assert gp == pytest.approx(10 * np.mean((np.array(norms) - 1) ** 2), rel=1e-6)


@pytest.mark.parametrize("activation", ["tanh", "leaky_relu"])
def test_gradient_penalty_gradcheck_wrt_critic_weights(activation):
    # d GP / d w needs d^2 D / (dw dx_hat): this passes only if the double backward is exact.
    D = _critic(activation)
    x, y = tg.randn(4, 3, dtype=tg.float64), tg.randn(4, 3, dtype=tg.float64)
    eps = tg.tensor(np.array([0.2, 0.4, 0.6, 0.8]))
    params = list(D.parameters())
    report = gradcheck(lambda *p: L.gradient_penalty(D, x, y, epsilon=eps), params,
                       names=[n for n, _ in D.named_parameters()])
    assert report.passed


def test_gradcheck_catches_a_penalty_without_create_graph(monkeypatch):
    # Sabotage: compute grad_x D without create_graph -> the penalty looks constant in w.
    D = _critic()
    x, y = tg.randn(4, 3, dtype=tg.float64), tg.randn(4, 3, dtype=tg.float64)
    eps = tg.tensor(np.array([0.2, 0.4, 0.6, 0.8]))
    real_grad = L.grad
    monkeypatch.setattr(L, "grad", lambda out, inp, create_graph=False: tuple(
        g.detach() for g in real_grad(out, inp, create_graph=True)))

    def penalty_plus_score(*p):
        # + D(x).mean() keeps the output attached to the weights, so gradcheck can compare.
        return L.gradient_penalty(D, x, y, epsilon=eps) + D(x).mean()
    with pytest.raises(GradcheckError):
        gradcheck(penalty_plus_score, list(D.parameters()))


def test_gradient_penalty_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(5, 3\)"):
        L.gradient_penalty(_critic(), tg.zeros(4, 3), tg.zeros(5, 3))
