"""The GAN's theory, checked with tinygen: a trained discriminator approaches
D*(x) = p_r / (p_r + p_g) (Goodfellow et al. 2014, arXiv:1406.2661, Proposition 1) and
its value approaches V(D*, G) = 2 JS(p_r || p_g) - 2 log 2 (Theorem 1)."""
import math

import numpy as np

import tinygen as tg
from tinygen import losses as L
from tinygen import optim
from tinygen.metrics.divergences import gan_value, js_divergence, optimal_discriminator
from tinygen.models.mlp import MLPDiscriminator


def gaussian(x, mu, sigma):
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


def test_trained_discriminator_approaches_the_optimal_one():
    # p_r = N(0, 1), p_g = N(0, 2^2): log D*/(1 - D*) = log 2 - 3 x^2 / 8 (not linear in x).
    tg.manual_seed(0)
    rng = np.random.default_rng(0)
    # Small and quick: 300 Adam steps of a 16-wide MLP (a few seconds).
    D = MLPDiscriminator(data_dim=1, hidden=16, n_hidden=2, activation="tanh")
    opt = optim.Adam(D.parameters(), lr=1e-2)
    for step in range(300):
        x_r = tg.tensor(rng.normal(0.0, 1.0, (256, 1)).astype(np.float32))   # (256, 1)
        x_g = tg.tensor(rng.normal(0.0, 2.0, (256, 1)).astype(np.float32))   # (256, 1)
        loss = L.d_loss_minimax(D(x_r), D(x_g))        # -[E log D(x_r) + E log(1 - D(x_g))]
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = np.linspace(-3, 3, 121)
    p_r, p_g = gaussian(x, 0, 1), gaussian(x, 0, 2)
    d_star = optimal_discriminator(p_r, p_g)
    with tg.no_grad():
        d = tg.sigmoid(D(tg.tensor(x[:, None].astype(np.float32)))).cpu().numpy().ravel()
    assert np.max(np.abs(d - d_star)) < 0.06, np.max(np.abs(d - d_star))
    # Its value on a wide grid approaches 2 JS - 2 log 2 from below (Theorem 1).
    xs = np.linspace(-10, 10, 2001)
    dx = xs[1] - xs[0]
    pr, pg = gaussian(xs, 0, 1), gaussian(xs, 0, 2)
    with tg.no_grad():
        dv = tg.sigmoid(D(tg.tensor(xs[:, None].astype(np.float32)))).cpu().numpy().ravel()
    dv = np.clip(dv.astype(np.float64), 1e-12, 1 - 1e-12)
    v_trained = gan_value(dv, pr, pg, dx)
    v_star = 2 * js_divergence(pr * dx, pg * dx) - 2 * math.log(2)
    assert gan_value(optimal_discriminator(pr, pg), pr, pg, dx) == \
        __import__("pytest").approx(v_star, abs=1e-6)
    assert v_star - 0.01 < v_trained <= v_star + 1e-6


def test_minimax_loss_at_the_optimum_is_minus_the_value():
    # On a grid, the loss written with tinygen (expectations as weighted sums) at D* gives
    # -V(D*) = 2 log 2 - 2 JS: here for identical distributions, 2 log 2 exactly.
    x = np.linspace(-6, 6, 601)
    p = gaussian(x, 0, 1)
    d_star = optimal_discriminator(p, p)                        # 1/2 everywhere
    logits = tg.tensor(np.log(d_star / (1 - d_star))[:, None])
    assert float(L.d_loss_minimax(logits, logits)) == __import__("pytest").approx(2 * math.log(2))
    assert abs(js_divergence(p, p)) < 1e-12
