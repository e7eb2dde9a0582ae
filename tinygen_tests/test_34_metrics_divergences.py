"""Divergences and optimal transport (tinygen.metrics.divergences), checked against closed forms,
scipy, and the worked examples of the GAN and WGAN papers."""
import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from tinygen.metrics import (
    kl_divergence, js_divergence, earth_movers_distance, wasserstein_1d, parallel_lines,
    boxes_example, optimal_discriminator, gan_value,
)

FAST = settings(max_examples=30, deadline=None)


def distributions(n_min=2, n_max=6, zeros=True):
    """Strategy: a pair of probability vectors of the same length (entries may be 0)."""
    low = 0.0 if zeros else 0.05
    elements = st.floats(low, 1.0, allow_nan=False)

    @st.composite
    def pair(draw):
        n = draw(st.integers(n_min, n_max))
        p = draw(arrays(np.float64, n, elements=elements))
        q = draw(arrays(np.float64, n, elements=elements))
        p[0] += 0.1   # positive total mass
        q[-1] += 0.1
        return p / p.sum(), q / q.sum()
    return pair()


# ---- 1. KL and JS --------------------------------------------------------------------------

def test_kl_known_value_and_base():
    p, q = [0.5, 0.5], [0.25, 0.75]
    expected = 0.5 * math.log(2.0) + 0.5 * math.log(0.5 / 0.75)
    assert kl_divergence(p, q) == pytest.approx(expected, rel=1e-12)
    assert kl_divergence(p, q, base=2) == pytest.approx(expected / math.log(2), rel=1e-12)


def test_kl_infinite_where_q_vanishes_and_zero_terms_dropped():
    assert kl_divergence([0.5, 0.5], [1.0, 0.0]) == math.inf
    # p_i = 0 where q_i = 0 is fine: 0 log 0 = 0.
    assert kl_divergence([1.0, 0.0], [0.5, 0.5]) == pytest.approx(math.log(2))
    assert kl_divergence([1.0, 0.0], [1.0, 0.0]) == 0.0


def test_validation_errors_name_the_argument():
    with pytest.raises(ValueError, match="p has negative"):
        kl_divergence([-0.1, 1.1], [0.5, 0.5])
    with pytest.raises(ValueError, match="same shape"):
        js_divergence([0.5, 0.5], [0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="q sums to 2"):
        kl_divergence([0.5, 0.5], [1.0, 1.0], normalize=False)
    with pytest.raises(ValueError, match="positive total mass"):
        kl_divergence([0.0, 0.0], [0.5, 0.5])
    # normalize=True (the default) rescales unnormalised counts.
    assert kl_divergence([1, 1], [1, 3]) == pytest.approx(kl_divergence([.5, .5], [.25, .75]))


def test_js_bounds_for_disjoint_supports():
    p, q = [0.3, 0.7, 0.0, 0.0], [0.0, 0.0, 0.6, 0.4]
    assert js_divergence(p, q) == pytest.approx(math.log(2), rel=1e-12)   # nats: log 2
    assert js_divergence(p, q, base=2) == pytest.approx(1.0, rel=1e-12)    # bits: 1


@FAST
@given(distributions())
def test_kl_js_properties(pq):
    p, q = pq
    kl = kl_divergence(p, q)
    if np.all(q[p > 0] > 0):
        assert kl == pytest.approx(scipy.stats.entropy(p, q), rel=1e-9, abs=1e-12)
    assert kl >= 0.0
    js = js_divergence(p, q)
    assert 0.0 <= js <= math.log(2) + 1e-12
    assert js == pytest.approx(js_divergence(q, p), abs=1e-12)           # symmetric
    assert js_divergence(p, p) == pytest.approx(0.0, abs=1e-12)
    # JS = 1/2 KL(p||m) + 1/2 KL(q||m), via scipy
    m = 0.5 * (p + q)
    assert js == pytest.approx(0.5 * scipy.stats.entropy(p, m) + 0.5 * scipy.stats.entropy(q, m),
                               abs=1e-12)


# ---- 2. Earth-Mover distance ----------------------------------------------------------------

def test_boxes_example_lp_and_plan():
    ex = boxes_example()
    w, plan = earth_movers_distance(ex["p"], ex["q"], positions=ex["positions"])
    assert w == pytest.approx(ex["distance"], abs=1e-9) and ex["distance"] == 0.5
    np.testing.assert_allclose(plan.sum(axis=1), ex["p"], atol=1e-9)   # rows carry p
    np.testing.assert_allclose(plan.sum(axis=0), ex["q"], atol=1e-9)   # columns deliver q
    assert np.all(plan >= -1e-12)
    # the plan's cost is the distance
    cost = np.abs(ex["positions"][:, None] - ex["positions"][None, :])
    assert np.sum(plan * cost) == pytest.approx(w, abs=1e-9)
    assert wasserstein_1d(ex["positions"], ex["positions"], ex["p"], ex["q"]) == pytest.approx(0.5)


def test_uniform_boxes_to_one_pile():
    # p = 1/4 at 0, 1, 2, 3 all moved to position 3: 0.25 * (3 + 2 + 1 + 0) = 1.5
    w, plan = earth_movers_distance([0.25] * 4, [0, 0, 0, 1.0])
    assert w == pytest.approx(1.5, abs=1e-9)
    np.testing.assert_allclose(plan[:, 3], 0.25, atol=1e-9)


def test_emd_cost_matrix_and_errors():
    w, _ = earth_movers_distance([0.5, 0.5], [0.5, 0.5], cost=[[0, 1], [1, 0]])
    assert w == pytest.approx(0.0, abs=1e-12)
    w, _ = earth_movers_distance([1.0, 0.0], [0.0, 1.0], cost=[[0, 7], [7, 0]])
    assert w == pytest.approx(7.0)
    with pytest.raises(ValueError, match="cost must have shape"):
        earth_movers_distance([0.5, 0.5], [0.5, 0.5], cost=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="not both"):
        earth_movers_distance([0.5, 0.5], [0.5, 0.5], cost=np.zeros((2, 2)), positions=[0, 1])


@FAST
@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_lp_cdf_and_scipy_agree_in_1d(n, m, seed):
    rng = np.random.default_rng(seed)
    u, v = rng.normal(size=n), rng.normal(size=m) + 0.5
    u_w, v_w = rng.uniform(0.1, 1.0, n), rng.uniform(0.1, 1.0, m)
    w_lp, _ = earth_movers_distance(u_w, v_w, positions=(u, v))
    w_cdf = wasserstein_1d(u, v, u_w, v_w)
    w_scipy = scipy.stats.wasserstein_distance(u, v, u_w, v_w)
    assert w_cdf == pytest.approx(w_scipy, rel=1e-9, abs=1e-12)
    assert w_lp == pytest.approx(w_cdf, rel=1e-6, abs=1e-9)


def test_wasserstein_1d_shift_and_unweighted():
    x = np.array([0.0, 1.0, 5.0])
    assert wasserstein_1d(x, x + 2.5) == pytest.approx(2.5)
    assert wasserstein_1d([0.0], [3.0]) == pytest.approx(3.0)
    ties_u, ties_v = [0.0, 0.0, 1.0, 2.0], [0.0, 1.0, 1.0, 1.0]
    assert wasserstein_1d(ties_u, ties_v) == pytest.approx(
        scipy.stats.wasserstein_distance(ties_u, ties_v), rel=1e-12)
    with pytest.raises(ValueError, match="u_weights has negative"):
        wasserstein_1d([0.0, 1.0], [0.0], u_weights=[-1.0, 2.0])


# ---- 3. WGAN Example 1: parallel lines ------------------------------------------------------

@pytest.mark.parametrize("theta", [-1.5, -0.2, 0.3, 1.0])
def test_parallel_lines_away_from_zero(theta):
    js, kl, w = parallel_lines(theta)
    assert js == pytest.approx(math.log(2), rel=1e-12)
    assert kl == math.inf
    assert w == pytest.approx(abs(theta), rel=1e-9)


def test_parallel_lines_at_zero():
    assert parallel_lines(0.0) == (0.0, 0.0, 0.0)


# ---- 4. GAN: optimal discriminator and the value function ----------------------------------

def _gaussians_on_grid():
    x = np.linspace(-12.0, 14.0, 8001)
    dx = x[1] - x[0]
    p_r = scipy.stats.norm.pdf(x, loc=0.0, scale=1.0)
    p_g = scipy.stats.norm.pdf(x, loc=1.5, scale=2.0)
    return x, dx, p_r, p_g


def test_value_at_optimal_discriminator_is_2js_minus_log4():
    _, dx, p_r, p_g = _gaussians_on_grid()
    d_star = optimal_discriminator(p_r, p_g)
    js = js_divergence(p_r * dx, p_g * dx)              # densities -> masses on the grid
    assert gan_value(d_star, p_r, p_g, dx) == pytest.approx(2 * js - 2 * math.log(2), abs=1e-6)
    # identical densities: D* = 1/2 and V = -log 4
    assert gan_value(optimal_discriminator(p_r, p_r), p_r, p_r, dx) == pytest.approx(
        -math.log(4), abs=1e-6)


@FAST
@given(st.floats(-0.3, 0.3).filter(lambda a: abs(a) > 1e-3), st.floats(0.2, 3.0))
def test_any_other_discriminator_is_worse(amplitude, frequency):
    x, dx, p_r, p_g = _gaussians_on_grid()
    d_star = optimal_discriminator(p_r, p_g)
    other = np.clip(d_star + amplitude * np.sin(frequency * x), 1e-6, 1 - 1e-6)
    assert gan_value(other, p_r, p_g, dx) < gan_value(d_star, p_r, p_g, dx)


def test_optimal_discriminator_edge_cases():
    np.testing.assert_allclose(optimal_discriminator([1.0, 0.0, 0.0], [0.0, 1.0, 0.0]),
                               [1.0, 0.0, 0.5])
    with pytest.raises(ValueError, match="same grid"):
        optimal_discriminator([1.0], [1.0, 2.0])
