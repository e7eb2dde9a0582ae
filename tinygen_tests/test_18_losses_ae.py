"""Autoencoder and VAE losses: values against closed forms / NumPy, properties, gradchecks.

Order: KL (closed form, Monte-Carlo), likelihoods, ELBO/IWAE, sparsity, contractive.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygen
from tinygen import losses as L
from tinygen.gradcheck import GradcheckError, gradcheck, gradgradcheck
from tinygen_tests.conftest import assert_allclose

SETTINGS = dict(max_examples=8, deadline=None)


def t64(a, grad=True):
    return tinygen.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


shapes = st.tuples(st.integers(1, 3), st.integers(1, 4))


# ---------------------------------------------------------------------------------------
# KL(q || N(0, I))
# ---------------------------------------------------------------------------------------

@given(shapes, st.integers(0, 10_000))
@settings(**SETTINGS)
def test_kl_closed_form_matches_numpy_and_is_nonnegative(shape, seed):
    rng = np.random.default_rng(seed)
    mu, logvar = rng.normal(size=shape), rng.normal(size=shape)
    kl = L.kl_normal_standard(t64(mu), t64(logvar)).cpu().numpy()
    var = np.exp(logvar)
    # per-dimension KL of N(m, s^2) to N(0, 1): log(1/s) + (s^2 + m^2)/2 - 1/2
    expected = (-0.5 * logvar + 0.5 * (var + mu ** 2) - 0.5).sum(-1)
    assert_allclose(kl, expected, rtol=1e-12)
    assert (kl >= -1e-12).all()
    # zero exactly at q = p
    zero = L.kl_normal_standard(t64(np.zeros(shape)), t64(np.zeros(shape))).cpu().numpy()
    assert_allclose(zero, 0.0, atol=1e-15)


def test_kl_monte_carlo_agrees_with_closed_form():
    rng = np.random.default_rng(0)
    mu, logvar = rng.normal(size=(3, 4)), 0.5 * rng.normal(size=(3, 4))
    eps = rng.standard_normal((200_000, 3, 4))
    mc = L.kl_normal_monte_carlo(t64(mu), t64(logvar), t64(eps, grad=False)).cpu().numpy()
    exact = L.kl_normal_standard(t64(mu), t64(logvar)).cpu().numpy()
    # standard error of the MC mean is ~ sqrt(Var/S); 5 sigma-ish margin
    assert_allclose(mc, exact, atol=0.05)


def test_kl_monte_carlo_gradient_is_unbiased_for_the_closed_form_gradient():
    rng = np.random.default_rng(1)
    mu, logvar = t64(rng.normal(size=(2, 3))), t64(0.3 * rng.normal(size=(2, 3)))
    eps = t64(rng.standard_normal((100_000, 2, 3)), grad=False)
    g_mc = tinygen.grad(L.kl_normal_monte_carlo(mu, logvar, eps).sum(), [mu, logvar])
    g_cf = tinygen.grad(L.kl_normal_standard(mu, logvar).sum(), [mu, logvar])
    for a, b in zip(g_mc, g_cf):
        assert_allclose(a.cpu().numpy(), b.cpu().numpy(), atol=0.05)


@given(shapes, st.integers(0, 10_000))
@settings(**SETTINGS)
def test_kl_gradcheck_first_and_second_order(shape, seed):
    rng = np.random.default_rng(seed)
    mu, logvar = t64(rng.normal(size=shape)), t64(rng.normal(size=shape))
    gradcheck(L.kl_normal_standard, [mu, logvar])
    gradgradcheck(L.kl_normal_standard, [mu, logvar])
    eps = t64(rng.standard_normal((3,) + shape), grad=False)
    fn = lambda m, lv: L.kl_normal_monte_carlo(m, lv, eps)  # noqa: E731
    gradcheck(fn, [mu, logvar])
    gradgradcheck(fn, [mu, logvar])


def test_kl_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\)"):
        L.kl_normal_standard(t64(np.zeros((2, 3))), t64(np.zeros((2, 4))))
    with pytest.raises(ValueError, match="eps must be"):
        L.kl_normal_monte_carlo(t64(np.zeros((2, 3))), t64(np.zeros((2, 3))), t64(np.zeros((5, 3))))


# ---------------------------------------------------------------------------------------
# likelihoods, ELBO, IWAE
# ---------------------------------------------------------------------------------------

@given(shapes, st.integers(0, 10_000))
@settings(**SETTINGS)
def test_bernoulli_log_likelihood_matches_direct_formula(shape, seed):
    rng = np.random.default_rng(seed)
    logits, x = 3 * rng.normal(size=shape), rng.uniform(size=shape)
    p = 1 / (1 + np.exp(-logits))
    expected = (x * np.log(p) + (1 - x) * np.log(1 - p)).sum(-1)
    assert_allclose(L.bernoulli_log_likelihood(t64(logits), t64(x, False)).cpu().numpy(),
                               expected, rtol=1e-10)
    gradcheck(lambda lg: L.bernoulli_log_likelihood(lg, t64(x, False)), [t64(logits)])
    gradgradcheck(lambda lg: L.bernoulli_log_likelihood(lg, t64(x, False)), [t64(logits)])


def test_bernoulli_log_likelihood_is_finite_for_huge_logits():
    logits = t64([[1e4, -1e4, 50.0]])
    x = t64([[1.0, 0.0, 1.0]], False)
    ll = L.bernoulli_log_likelihood(logits, x).cpu().numpy()
    assert np.isfinite(ll).all() and ll[0] > -1e-15
    (g,) = tinygen.grad(L.bernoulli_log_likelihood(logits, x).sum(), logits)
    assert np.isfinite(g.cpu().numpy()).all()


@given(shapes, st.integers(0, 10_000))
@settings(**SETTINGS)
def test_gaussian_log_likelihood_matches_scipy(shape, seed):
    from scipy.stats import norm
    rng = np.random.default_rng(seed)
    mean, x, logvar = rng.normal(size=shape), rng.normal(size=shape), rng.normal(size=shape)
    expected = norm.logpdf(x, mean, np.exp(0.5 * logvar)).sum(-1)
    got = L.gaussian_log_likelihood(t64(mean), t64(x, False), t64(logvar)).cpu().numpy()
    assert_allclose(got, expected, rtol=1e-10)
    fn = lambda m, lv: L.gaussian_log_likelihood(m, t64(x, False), lv)  # noqa: E731
    gradcheck(fn, [t64(mean), t64(logvar)])
    gradgradcheck(fn, [t64(mean), t64(logvar)])


def test_log_normal_diag_matches_scipy_and_standard_normal():
    from scipy.stats import norm
    z = np.array([[0.3, -1.2], [2.0, 0.1]])
    assert_allclose(L.log_normal_diag(t64(z, False), 0.0, 0.0).cpu().numpy(),
                               norm.logpdf(z).sum(-1), rtol=1e-12)


def test_negative_elbo_and_beta():
    ll, kl = t64([-10.0, -20.0], False), t64([1.0, 3.0], False)
    assert float(L.negative_elbo(ll, kl).cpu().numpy()) == pytest.approx(17.0)
    assert float(L.negative_elbo(ll, kl, beta=4.0).cpu().numpy()) == pytest.approx(15.0 + 8.0)


@given(st.integers(1, 6), st.integers(1, 3), st.integers(0, 10_000))
@settings(**SETTINGS)
def test_iwae_bound_is_log_mean_exp_and_at_least_the_mean(k, n, seed):
    rng = np.random.default_rng(seed)
    log_w = 5 * rng.normal(size=(k, n)) - 100.0      # far from 0: exp would underflow directly
    got = L.iwae_bound(t64(log_w)).cpu().numpy()
    m = log_w.max(0)
    expected = m + np.log(np.exp(log_w - m).mean(0))
    assert_allclose(got, expected, rtol=1e-12)
    assert (got >= log_w.mean(0) - 1e-9).all()        # Jensen: L_k >= L_1 on average
    gradcheck(L.iwae_bound, [t64(log_w)])
    gradgradcheck(L.iwae_bound, [t64(log_w)])


def test_iwae_bound_tightens_to_log_px_in_a_conjugate_model():
    """p(z) = N(0,1), p(x|z) = N(z,1): log p(x) = log N(x; 0, 2) is known exactly.

    With q(z|x) = N(0, 1) (a poor proposal) L_k must increase with k towards log p(x).
    """
    rng = np.random.default_rng(0)
    x = 1.5
    log_px = -0.5 * (math.log(2 * math.pi * 2) + x * x / 2)
    bounds = []
    for k in (1, 10, 1000):
        z = rng.standard_normal((k, 4000))
        log_w = -0.5 * (math.log(2 * math.pi) + (x - z) ** 2)   # log p(x|z) + log p(z) - log q(z)
        bounds.append(float(L.iwae_bound(t64(log_w, False)).cpu().numpy().mean()))
    assert bounds[0] < bounds[1] < bounds[2] <= log_px + 1e-3
    assert abs(bounds[2] - log_px) < 0.01


# ---------------------------------------------------------------------------------------
# sparsity
# ---------------------------------------------------------------------------------------

@given(st.integers(1, 5), st.integers(1, 4), st.floats(0.02, 0.5), st.integers(0, 10_000))
@settings(**SETTINGS)
def test_sparse_kl_penalty_values_and_properties(n, j, rho, seed):
    rng = np.random.default_rng(seed)
    h = rng.uniform(0.05, 0.95, size=(n, j))
    r = h.mean(0)
    expected = (rho * np.log(rho / r) + (1 - rho) * np.log((1 - rho) / (1 - r))).sum()
    got = float(L.sparse_kl_penalty(t64(h), rho).cpu().numpy())
    assert got == pytest.approx(expected, rel=1e-10)
    assert got >= 0
    # minimised (= 0) when every unit's mean activation equals rho
    assert float(L.sparse_kl_penalty(t64(np.full((n, j), rho)), rho).cpu().numpy()) == pytest.approx(0, abs=1e-12)
    fn = lambda t: L.sparse_kl_penalty(t, rho)  # noqa: E731
    gradcheck(fn, [t64(h)])
    gradgradcheck(fn, [t64(h)])


def test_sparse_kl_penalty_gradient_pushes_mean_activation_towards_rho():
    h = t64(np.full((4, 2), 0.5))
    (g,) = tinygen.grad(L.sparse_kl_penalty(h, 0.05), h)
    assert (g.cpu().numpy() > 0).all()   # descending lowers activations above rho


def test_sparse_kl_penalty_rejects_bad_rho():
    with pytest.raises(ValueError, match="rho must lie in"):
        L.sparse_kl_penalty(t64(np.full((2, 2), 0.5)), rho=1.5)


@given(shapes, st.integers(0, 10_000))
@settings(**SETTINGS)
def test_l1_code_penalty(shape, seed):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=shape)
    h = np.where(np.abs(h) < 0.05, 0.1, h)      # keep away from the kink at 0
    assert_allclose(L.l1_code_penalty(t64(h)).cpu().numpy(), np.abs(h).sum(-1))
    gradcheck(L.l1_code_penalty, [t64(h)])
    gradgradcheck(L.l1_code_penalty, [t64(h)])


# ---------------------------------------------------------------------------------------
# contractive penalty
# ---------------------------------------------------------------------------------------

def _sigmoid_layer(rng, n, d, j):
    W = t64(rng.normal(size=(j, d)))
    b = t64(rng.normal(size=(j,)))
    x = t64(rng.normal(size=(n, d)))
    return x, W, b


@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(0, 10_000))
@settings(**SETTINGS)
def test_contractive_autograd_matches_sigmoid_closed_form_and_numpy_jacobian(n, d, j, seed):
    rng = np.random.default_rng(seed)
    x, W, b = _sigmoid_layer(rng, n, d, j)
    h = tinygen.sigmoid(x @ W.T + b)
    auto = L.contractive_penalty(h, x).cpu().numpy()
    closed = L.contractive_penalty_sigmoid(h, W).cpu().numpy()
    assert_allclose(auto, closed, rtol=1e-12)
    # the Jacobian by finite differences, by hand
    xs, Ws, bs = x.cpu().numpy(), W.cpu().numpy(), b.cpu().numpy()
    f = lambda v: 1 / (1 + np.exp(-(v @ Ws.T + bs)))  # noqa: E731
    for i in range(n):
        J = np.stack([(f(xs[i] + 1e-6 * e) - f(xs[i] - 1e-6 * e)) / 2e-6 for e in np.eye(d)], 1)
        assert auto[i] == pytest.approx((J ** 2).sum(), rel=1e-6)


def test_contractive_random_projection_estimate_is_unbiased():
    rng = np.random.default_rng(3)
    x, W, b = _sigmoid_layer(rng, 2, 3, 4)
    h = tinygen.sigmoid(x @ W.T + b)
    tinygen.manual_seed(0)
    est = L.contractive_penalty(h, x, n_projections=4000).cpu().numpy()
    assert_allclose(est, L.contractive_penalty_sigmoid(h, W).cpu().numpy(), rtol=0.1)


@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(0, 10_000))
@settings(max_examples=5, deadline=None)
def test_contractive_penalty_gradchecks_first_and_second_order(n, d, j, seed):
    """d penalty / d (x, W, b) through create_graph (a 2nd derivative), and its own derivative (3rd)."""
    rng = np.random.default_rng(seed)
    x, W, b = _sigmoid_layer(rng, n, d, j)

    def auto(x, W, b):
        # enable_grad: the finite differences evaluate fn under no_grad, but the penalty
        # is itself a gradient and needs the graph of h(x)
        with tinygen.enable_grad():
            return L.contractive_penalty(tinygen.sigmoid(x @ W.T + b), x)

    def closed(x, W, b):
        return L.contractive_penalty_sigmoid(tinygen.sigmoid(x @ W.T + b), W)

    for fn in (auto, closed):
        gradcheck(fn, [x, W, b])
        gradgradcheck(fn, [x, W, b])


def test_contractive_penalty_of_a_linear_map_is_its_frobenius_norm():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(3, 5))
    x = t64(rng.normal(size=(4, 5)))
    h = x @ t64(A.T, False)
    assert_allclose(L.contractive_penalty(h, x).cpu().numpy(), np.full(4, (A ** 2).sum()))


def test_contractive_penalty_errors_name_the_fix():
    x = t64(np.ones((2, 3)), grad=False)
    with pytest.raises(ValueError, match="requires_grad_"):
        L.contractive_penalty(x * 2.0, x)
    with pytest.raises(ValueError, match="units but W has"):
        L.contractive_penalty_sigmoid(t64(np.ones((2, 3))), t64(np.ones((4, 3))))


# ---------------------------------------------------------------------------------------
# sabotage: a wrong backward in the primitives these losses use is caught
# ---------------------------------------------------------------------------------------

def test_sabotaged_exp_backward_is_caught_through_the_kl(monkeypatch):
    from tinygen.ops import elementwise
    rng = np.random.default_rng(0)
    mu, logvar = t64(rng.normal(size=(2, 3))), t64(rng.normal(size=(2, 3)))
    monkeypatch.setattr(elementwise.Exp, "backward", lambda self, gy: gy * 2.0 * self.output(0))
    with pytest.raises(GradcheckError):
        gradcheck(L.kl_normal_standard, [mu, logvar])


def test_sabotaged_sigmoid_double_backward_is_caught_through_the_contractive_penalty(monkeypatch):
    """A sigmoid backward that detaches s(1 - s) is right to first order but breaks the
    contractive penalty's gradient, which differentiates that factor again."""
    from tinygen.ops import elementwise
    rng = np.random.default_rng(1)
    x, W, b = _sigmoid_layer(rng, 2, 3, 2)
    y_data = lambda self: self.output(0).detach()  # noqa: E731
    monkeypatch.setattr(elementwise.Sigmoid, "backward",
                        lambda self, gy: gy * (y_data(self) * (1.0 - y_data(self))))
    def fn(x, W, b):
        with tinygen.enable_grad():
            return L.contractive_penalty(tinygen.sigmoid(x @ W.T + b), x)
    with pytest.raises(GradcheckError):
        gradcheck(fn, [x, W, b])
