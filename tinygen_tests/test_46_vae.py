"""VAE: reparameterisation, the ELBO against a hand computation, IWAE >= ELBO, gradchecks, the run."""
import json
import math
import os

import numpy as np
import pytest

from tinygen_tests.conftest import SHARED_DATA
import tinygen
from tinygen.gradcheck import gradcheck, gradgradcheck
from tinygen.methods import vae as V


def binary_blobs(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = np.zeros((n, 1, 8, 8), np.float32)
    for i, c in enumerate(y):
        r, k = divmod(int(c), 2)
        x[i, 0, r * 4:r * 4 + 4, k * 4:k * 4 + 4] = 1.0
    flip = rng.random(x.shape) < 0.03
    return np.where(flip, 1.0 - x, x).astype(np.float32), y


def small(decoder="bernoulli", latent=2, hidden=16):
    tinygen.manual_seed(0)
    cfg = V.Config(latent_dim=latent, hidden=hidden, decoder=decoder)
    return V.build_models(cfg, (1, 8, 8)), cfg


def test_reparameterization_values_and_gradients():
    mu = tinygen.tensor(np.array([[0.5, -1.0]]), requires_grad=True)
    logvar = tinygen.tensor(np.array([[0.2, -0.4]]), requires_grad=True)
    eps = tinygen.tensor(np.array([[1.5, -0.3]]))
    z = V.reparameterize(mu, logvar, eps)
    sigma = np.exp(0.5 * logvar.cpu().numpy())
    np.testing.assert_allclose(z.cpu().numpy(), mu.cpu().numpy() + sigma * eps.cpu().numpy())
    g_mu, g_lv = tinygen.grad(z.sum(), [mu, logvar])
    np.testing.assert_allclose(g_mu.cpu().numpy(), 1.0)
    np.testing.assert_allclose(g_lv.cpu().numpy(), 0.5 * sigma * eps.cpu().numpy())


def test_reparameterized_samples_have_the_encoder_distribution():
    tinygen.manual_seed(0)
    mu = tinygen.full((20000, 1), 2.0)
    logvar = tinygen.full((20000, 1), math.log(0.25))
    z = V.reparameterize(mu, logvar).cpu().numpy()
    assert z.mean() == pytest.approx(2.0, abs=0.01) and z.std() == pytest.approx(0.5, rel=0.02)


@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian"])
def test_elbo_terms_match_a_hand_computation(decoder):
    model, cfg = small(decoder)
    x, _ = binary_blobs(5)
    tinygen.manual_seed(7)
    terms = V.elbo_terms(model, x, cfg)
    # the same maths in NumPy with the same eps
    tinygen.manual_seed(7)
    mu, logvar = (t.cpu().numpy().astype(np.float64) for t in model.encoder(tinygen.tensor(x)))
    eps = tinygen.randn(*mu.shape).cpu().numpy()
    z = mu + np.exp(0.5 * logvar) * eps
    out = model.decoder(tinygen.tensor(z.astype(np.float32))).cpu().numpy().reshape(5, -1).astype(np.float64)
    xf = x.reshape(5, -1)
    if decoder == "bernoulli":
        ll = (xf * out - np.logaddexp(0, out)).sum(1)
    else:
        s2 = cfg.gaussian_std ** 2
        ll = (-0.5 * (np.log(2 * np.pi * s2) + (xf - out) ** 2 / s2)).sum(1)
    kl = 0.5 * (mu ** 2 + np.exp(logvar) - 1 - logvar).sum(1)
    np.testing.assert_allclose(terms["log_px_z"].cpu().numpy(), ll, rtol=1e-4)
    np.testing.assert_allclose(terms["kl"].cpu().numpy(), kl, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(terms["elbo"].cpu().numpy(), ll - kl, rtol=1e-4)


def test_negative_elbo_gradcheck_through_the_whole_model_first_and_second_order():
    model, cfg = small(latent=2, hidden=3)
    model.double()
    x, _ = binary_blobs(3)
    x = tinygen.tensor(x.astype(np.float64))
    params = list(model.encoder.mu.parameters()) + list(model.decoder.parameters())

    def fn(*_):
        tinygen.manual_seed(3)            # the same eps at every evaluation
        return V.loss_fn(model, x, cfg)["loss"]
    gradcheck(fn, params, max_full=64)
    gradgradcheck(fn, [model.encoder.mu.weight, model.encoder.logvar.bias], max_full=64)


@pytest.mark.parametrize("seed", [0, 1])
def test_iwae_bound_is_at_least_the_elbo_and_grows_with_k(seed):
    model, cfg = small()
    # a deliberately poor proposal (narrow q far from the posterior) makes the gaps visible
    model.encoder.logvar.bias.data[:] = -3.0
    x = np.repeat(binary_blobs(8, seed)[0], 25, axis=0)           # 200 images, 8 distinct
    tinygen.manual_seed(seed)
    with tinygen.no_grad():
        elbo = V.elbo_terms(model, x, cfg)["elbo"].cpu().numpy().mean()
        l1 = V.iwae_bound(model, x, 1, cfg).cpu().numpy().mean()
        l10 = V.iwae_bound(model, x, 10, cfg).cpu().numpy().mean()
        l100 = V.iwae_bound(model, x, 100, cfg).cpu().numpy().mean()
    assert l1 == pytest.approx(elbo, abs=0.3)          # L_1 is the ELBO (up to MC noise)
    assert elbo + 0.1 < l10 < l100


def test_sample_and_decode_ranges():
    model, cfg = small()
    s = V.sample(model, 7, cfg)
    assert s.shape == (7, 1, 8, 8) and s.min() >= 0 and s.max() <= 1


def test_short_training_improves_the_test_elbo_and_beta_lowers_the_kl():
    x, _ = binary_blobs(300)
    results = {}
    for beta in (1.0, 8.0):
        model, cfg = small(latent=4, hidden=32)
        cfg.beta = beta
        before = V.evaluate(model, x[200:], cfg)["test_elbo"]
        opt = tinygen.optim.Adam(model.parameters(), lr=3e-3)
        for step in range(150):
            xb = x[np.random.default_rng(step).integers(0, 200, 32)]
            loss = V.loss_fn(model, tinygen.tensor(xb), cfg)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
        results[beta] = V.evaluate(model, x[200:], cfg)
        assert results[beta]["test_elbo"] > before + 5
    assert results[8.0]["test_kl"] < results[1.0]["test_kl"]


def test_train_writes_elbo_iwae_samples_checkpoint_and_resumes(tmp_path):
    x, y = binary_blobs(120)
    data = (x[:80], x[80:], y[80:])
    out = str(tmp_path / "run")
    cfg = V.Config(steps=20, batch_size=16, latent_dim=2, hidden=16, iwae_k=5, log_every=10,
                   eval_every=10, sample_every=10, out=out, quiet=True)
    V.train(cfg, data=data)
    lines = [json.loads(s) for s in open(os.path.join(out, "metrics.jsonl"))]
    final = lines[-1]
    assert final["test_elbo"] < 0 and final["test_iwae_k5"] >= final["test_elbo"] - 1.0
    assert {"loss", "elbo", "kl"} <= set(lines[0])
    for name in ("samples.npz", "codes.npz", "checkpoint.npz", "frames/samples_000020.png",
                 "config.json"):
        assert os.path.exists(os.path.join(out, name)), name
    assert np.load(os.path.join(out, "codes.npz"))["mu"].shape == (40, 2)
    # resume 20 -> 30 equals a straight 30-step run
    V.train(V.Config(**{**cfg.__dict__, "steps": 30, "resume": out, "out": None}), data=data)
    full = str(tmp_path / "full")
    V.train(V.Config(**{**cfg.__dict__, "steps": 30, "out": full}), data=data)
    a = np.load(os.path.join(out, "samples.npz"))["x"]
    b = np.load(os.path.join(full, "samples.npz"))["x"]
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_bad_decoder_is_named():
    model, cfg = small()
    cfg.decoder = "poisson"
    with pytest.raises(ValueError, match="'bernoulli' or 'gaussian'"):
        V.elbo_terms(model, binary_blobs(2)[0], cfg)


@pytest.mark.slow
def test_mnist_vae_reaches_the_quality_bar():
    root = os.path.join(SHARED_DATA, "mnist")
    if not os.path.exists(os.path.join(root, "t10k-images-idx3-ubyte.gz")):
        pytest.skip("no MNIST test split in the shared folder")
    cfg = V.Config(dataset="mnist", data_dir=root, steps=6000, iwae_k=100, n_iwae=500, quiet=True,
                   out=None)
    import tempfile
    cfg.out = tempfile.mkdtemp()
    out = V.train(cfg)
    final = [json.loads(s) for s in open(os.path.join(out, "metrics.jsonl"))][-1]
    assert final["test_elbo"] > -110
    assert final["test_iwae_k100"] > final["test_elbo"]


def test_demo_pictures_interpolation_and_attribute_grids():
    model, cfg = small(latent=2)
    z0, z1 = np.array([2.0, 0.0]), np.array([0.0, 2.0])
    g = V.interpolation_grid(model, cfg, [(z0, z1)], n_steps=5)
    assert g.shape == (10, 1, 8, 8)                       # lerp row, slerp row
    np.testing.assert_allclose(g[0], g[5], atol=1e-6)     # both paths start at z0 ...
    np.testing.assert_allclose(g[4], g[9], atol=1e-6)     # ... and end at z1
    assert np.abs(g[2] - g[7]).max() > 1e-4               # and differ in the middle
    codes = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    grid, v = V.attribute_grid(model, cfg, codes, [True, True, False, False], codes[2:], [0.0, 1.0])
    np.testing.assert_allclose(v, [2.0, -2.0])
    assert grid.shape == (4, 1, 8, 8)
    np.testing.assert_allclose(grid[0], V.decode(model, codes[2:3], cfg)[0], atol=1e-6)   # alpha 0
    np.testing.assert_allclose(grid[1], V.decode(model, codes[2:3] + v, cfg)[0], atol=1e-6)


@pytest.mark.slow
def test_vae_demo_writes_its_pictures(tmp_path):
    from tinygen import cli
    assert cli.main(["demo", "vae", "--steps", "5", "--out", str(tmp_path)]) == 0
    for name in ("interpolation.png", "manifold.png", "attribute_filled.png", "attribute_large.png"):
        assert (tmp_path / name).stat().st_size > 0
