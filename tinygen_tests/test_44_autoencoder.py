"""Autoencoder variants: the PCA equivalence, each variant's objective, short trainings, the run."""
import json
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinygen_tests.conftest import SHARED_DATA
import tinygen
from tinygen import nn
from tinygen.data.arrays import load_images, to_float_images
from tinygen.methods import autoencoder as A


def blobs(n=256, size=8, seed=0):
    """Tiny images in [0, 1]: a bright square at one of 4 places, plus faint noise; labels 0..3."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = 0.1 * rng.random((n, 1, size, size)).astype(np.float32)
    for i, c in enumerate(y):
        r, k = divmod(int(c), 2)
        x[i, 0, r * 4:r * 4 + 4, k * 4:k * 4 + 4] = 0.9
    return x, y


# ---------------------------------------------------------------------------------------
# linear autoencoder = PCA
# ---------------------------------------------------------------------------------------

def test_principal_angles_of_known_subspaces():
    e = np.eye(4)
    np.testing.assert_allclose(A.principal_angles(e[:, :2], e[:, :2] @ [[1, 2], [3, 1]]), 0, atol=1e-7)
    np.testing.assert_allclose(A.principal_angles(e[:, :1], e[:, 1:2]), [np.pi / 2])
    v = np.array([[1.0], [1.0], [0], [0]])
    np.testing.assert_allclose(A.principal_angles(e[:, :1], v), [np.pi / 4])


def test_pca_matches_eigendecomposition_of_the_covariance():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 5)) @ np.diag([3, 2, 1, 0.5, 0.1])
    mean, V = A.pca(x, 2)
    w, U = np.linalg.eigh(np.cov(x.T))
    assert A.principal_angles(V.T, U[:, -2:]).max() < 1e-6
    np.testing.assert_allclose(V @ V.T, np.eye(2), atol=1e-12)


def test_linear_autoencoder_spans_the_principal_subspace():
    """Baldi & Hornik 1989: the optimum of ||x - W_d W_e x||^2 has span(W_d) = top-k PCA space."""
    rng = np.random.default_rng(0)
    D, k = 8, 3
    Q, _ = np.linalg.qr(rng.normal(size=(D, D)))
    scales = np.array([3.0, 2.5, 2.0, 0.4, 0.3, 0.2, 0.1, 0.05])
    x = (rng.normal(size=(512, D)) * scales) @ Q.T + 0.5          # non-zero mean: the biases learn it
    images = x.reshape(-1, 1, 2, 4).astype(np.float32)
    tinygen.manual_seed(0)
    model = A.build_models(A.Config(variant="linear", code_dim=k, loss="mse"), (1, 2, 4))
    cfg = A.Config(variant="linear", loss="mse")
    A.fit(model, lambda m, xb: A.loss_terms(m, xb, cfg), images, steps=300, batch_size=512, lr=5e-2)
    _, V = A.pca(x, k)
    angles = A.principal_angles(A.decoder_subspace(model), V.T)
    assert angles.max() < 0.05, angles
    # and it is not just any subspace: a random one is far off
    assert A.principal_angles(rng.normal(size=(D, k)), V.T).max() > 0.3


# ---------------------------------------------------------------------------------------
# each variant's objective
# ---------------------------------------------------------------------------------------

def _model(variant, **kw):
    tinygen.manual_seed(0)
    cfg = A.Config(variant=variant, code_dim=kw.pop("code_dim", 12), hidden=16, **kw)
    return A.build_models(cfg, (1, 8, 8)), cfg


@pytest.mark.parametrize("variant", A.VARIANTS)
def test_loss_terms_are_reconstruction_plus_the_variants_penalty(variant):
    model, cfg = _model(variant, loss="mse" if variant == "linear" else "bce")
    x = tinygen.tensor(blobs(16)[0])
    tinygen.manual_seed(1)
    terms = A.loss_terms(model, x, cfg)
    assert np.isfinite(terms["loss"].item())
    penalty = 0.0 if terms["penalty"] is None else terms["penalty"].item()
    assert terms["loss"].item() == pytest.approx(terms["recon"].item() + penalty, rel=1e-6)
    if variant in ("undercomplete", "linear", "denoising"):
        assert terms["penalty"] is None
    h = model.encoder(x)
    if variant == "sparse_l1":
        assert penalty == pytest.approx(cfg.l1_weight * np.abs(h.cpu().numpy()).sum(1).mean(), rel=1e-5)
    if variant == "sparse_kl":
        r = h.cpu().numpy().mean(0)
        kl = (cfg.rho * np.log(cfg.rho / r) + (1 - cfg.rho) * np.log((1 - cfg.rho) / (1 - r))).sum()
        assert penalty == pytest.approx(cfg.kl_weight * kl, rel=1e-4)
    if variant != "denoising":           # clean input: recon is exactly L(x, g(f(x)))
        expected = A.reconstruction_error(model(x)[1], x, cfg.loss).mean().item()
        assert terms["recon"].item() == pytest.approx(expected, rel=1e-6)
    # every parameter gets a gradient
    terms["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())


def test_contractive_closed_form_and_autograd_penalties_agree_in_value_and_gradient():
    model, cfg = _model("contractive", code_dim=6)
    x = tinygen.tensor(blobs(8)[0])
    grads = {}
    for jac in ("closed_form", "autograd"):
        cfg.jacobian = jac
        terms = A.loss_terms(model, x, cfg)
        model.zero_grad()
        terms["penalty"].backward()
        grads[jac] = (terms["penalty"].item(), [p.grad.cpu().numpy().copy() for p in model.encoder.parameters()])
    assert grads["closed_form"][0] == pytest.approx(grads["autograd"][0], rel=1e-4)
    for a, b in zip(grads["closed_form"][1], grads["autograd"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-6)


@given(st.floats(0.1, 0.9), st.integers(0, 1000))
@settings(max_examples=5, deadline=None)
def test_masking_noise_zeroes_the_requested_fraction(p, seed):
    tinygen.manual_seed(seed)
    x = tinygen.ones(200, 1, 8, 8)
    x_tilde = A.corrupt(x, "masking", mask_prob=p).cpu().numpy()
    assert set(np.unique(x_tilde)) <= {0.0, 1.0}
    assert abs((x_tilde == 0).mean() - p) < 0.03


def test_gaussian_noise_has_the_requested_std():
    tinygen.manual_seed(0)
    x = tinygen.zeros(100, 1, 16, 16)
    assert A.corrupt(x, "gaussian", noise_std=0.3).cpu().numpy().std() == pytest.approx(0.3, rel=0.03)


def test_bad_options_name_the_choices():
    with pytest.raises(ValueError, match="variant must be one of"):
        A.build_models(A.Config(variant="fancy"), (1, 8, 8))
    with pytest.raises(ValueError, match="'gaussian' or 'masking'"):
        A.corrupt(tinygen.zeros(1, 1, 2, 2), "salt")
    with pytest.raises(ValueError, match="'mse' or 'bce'"):
        A.reconstruction_error(tinygen.zeros(1, 4), tinygen.zeros(1, 4), "l1")
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        to_float_images(np.zeros((2, 3)))


def test_to_float_images_layouts():
    u8 = np.full((2, 5, 5), 255, np.uint8)
    out = to_float_images(u8)
    assert out.shape == (2, 1, 5, 5) and out.dtype == np.float32 and out.max() == 1.0
    assert to_float_images(np.zeros((2, 5, 5, 3), np.uint8)).shape == (2, 3, 5, 5)


def test_load_images_goes_through_the_data_package():
    x, y = load_images("digits", "train", n=40)
    xt, _ = load_images("digits", "test", n=40)
    assert x.shape == (40, 1, 28, 28) and x.dtype == np.float32 and y.shape == (40,)
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.9
    assert not np.allclose(x, xt)                         # the test split is a different draw
    s, _ = load_images("shapes", "train", n=4)
    assert s.shape == (4, 3, 32, 32)
    with pytest.raises(ValueError, match="split must be"):
        load_images("digits", "valid")


def test_mnist_uses_the_shared_test_split_8000_2000():
    root = os.path.join(SHARED_DATA, "mnist")
    if not os.path.exists(os.path.join(root, "t10k-images-idx3-ubyte.gz")):
        pytest.skip("shared MNIST not present")
    from tinygen.data import load_mnist
    t10k, labels = load_mnist(root, split="test")
    x, y = load_images("mnist", "train", root)
    xt, yt = load_images("mnist", "test", root)
    assert x.shape == (8000, 1, 28, 28) and xt.shape == (2000, 1, 28, 28)
    np.testing.assert_array_equal(y, labels[:8000])
    np.testing.assert_array_equal(yt, labels[8000:])
    np.testing.assert_allclose(xt[-1, 0], t10k[-1] / 255.0, atol=1e-7)


# ---------------------------------------------------------------------------------------
# short trainings (long versions are @slow)
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["undercomplete", "sparse_kl", "denoising", "contractive"])
def test_short_training_lowers_the_reconstruction_error(variant):
    x, _ = blobs(256)
    model, cfg = _model(variant, code_dim=8 if variant == "undercomplete" else 32)
    before = A.reconstruction_errors(model, x, cfg.loss).mean()
    A.fit(model, lambda m, xb: A.loss_terms(m, xb, cfg), x, steps=150, batch_size=64, lr=3e-3)
    after = A.reconstruction_errors(model, x, cfg.loss).mean()
    assert after < 0.7 * before, (before, after)


def test_sparse_kl_training_drives_mean_activation_towards_rho():
    x, _ = blobs(256)
    model, cfg = _model("sparse_kl", code_dim=32, kl_weight=3.0, rho=0.05)
    A.fit(model, lambda m, xb: A.loss_terms(m, xb, cfg), x, steps=300, batch_size=64, lr=3e-3)
    assert A.encode(model, x).mean() < 0.15


def test_train_writes_the_run_folder_and_resumes(tmp_path, monkeypatch):
    x, y = blobs(96)
    monkeypatch.setattr(A, "load_images", lambda name, split, *a, **k: (x[:64], y[:64]) if split == "train"
                        else (x[64:], y[64:]))
    out = str(tmp_path / "run")
    cfg = A.Config(variant="sparse_l1", steps=20, log_every=10, sample_every=10, out=out, quiet=True,
                   code_dim=16, hidden=16)
    A.train(cfg)
    for name in ("config.json", "metrics.jsonl", "samples.npz", "codes.npz", "checkpoint.npz",
                 "frames/reconstructions_000020.png"):
        assert os.path.exists(os.path.join(out, name)), name
    lines = [json.loads(s) for s in open(os.path.join(out, "metrics.jsonl"))]
    assert [r["step"] for r in lines] == [10, 20] and "test_mse" in lines[-1]
    codes = np.load(os.path.join(out, "codes.npz"))
    assert codes["h"].shape == (32, 16)
    # resume: continuing 20 -> 30 equals an uninterrupted 30-step run
    A.train(A.Config(**{**cfg.__dict__, "steps": 30, "resume": out, "out": None}))
    full = str(tmp_path / "full")
    A.train(A.Config(**{**cfg.__dict__, "steps": 30, "out": full}))
    a = np.load(os.path.join(out, "samples.npz"))["x"]
    b = np.load(os.path.join(full, "samples.npz"))["x"]
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not hasattr(nn, "Conv2d") or not hasattr(nn, "ConvTranspose2d"),
                    reason="conv layers not available")
def test_conv_autoencoder_shapes_and_short_training():
    x, _ = blobs(64)
    model, cfg = _model("undercomplete", arch="conv", code_dim=8)
    h, x_hat = model(tinygen.tensor(x[:4]))
    assert h.shape == (4, 8) and x_hat.shape == (4, 1, 8, 8)
    before = A.reconstruction_errors(model, x, cfg.loss).mean()
    A.fit(model, lambda m, xb: A.loss_terms(m, xb, cfg), x, steps=60, batch_size=32, lr=3e-3)
    assert A.reconstruction_errors(model, x, cfg.loss).mean() < 0.7 * before


@pytest.mark.slow
def test_mnist_denoising_autoencoder_beats_the_noisy_input():
    root = os.path.join(SHARED_DATA, "mnist")
    if not os.path.exists(os.path.join(root, "t10k-images-idx3-ubyte.gz")):
        pytest.skip("no MNIST test split in the shared folder")
    from tinygen.methods import ae_apps
    tinygen.manual_seed(0)             # initial weights and the test noise: not order-dependent
    x, _ = load_images("mnist", "train", root)
    xt, _ = load_images("mnist", "test", root, n=500)
    cfg = A.Config(variant="denoising", noise="gaussian", noise_std=0.4, code_dim=256)
    model = A.build_models(cfg, x.shape[1:])
    A.fit(model, lambda m, xb: A.loss_terms(m, xb, cfg), x, steps=1500, batch_size=64)
    noisy = A.corrupt(tinygen.tensor(xt), "gaussian", 0.4).cpu().numpy().clip(0, 1)
    gain = ae_apps.psnr_db(xt, A.reconstruct(model, noisy, "bce")) - ae_apps.psnr_db(xt, noisy)
    # Measured with seeds 0 / 1 / 2: 11.0 dB -> 15.6 / 15.6 / 15.8 dB (dataset-wide PSNR, psnr_db).
    assert gain > 4.0
