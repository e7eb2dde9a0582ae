"""Frechet distance and feature statistics (tinygen.metrics.fid): closed forms, properties,
the eigenvalue formulation as a second implementation, and the statistics files."""
import os
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinygen.metrics import (
    frechet_distance, frechet_distance_eig, feature_statistics, fid_from_features,
    compute_statistics_of, save_statistics, load_statistics,
)
import tinygen.metrics.fid as fid_module

FAST = settings(max_examples=30, deadline=None)
seeds = st.integers(0, 2**31 - 1)
dims = st.integers(1, 6)


def random_gaussian(rng, d):
    """A mean (d,) and a well-conditioned SPD covariance (d, d)."""
    a = rng.normal(size=(d, d))
    return rng.normal(size=d), a @ a.T + 0.1 * np.eye(d)


def random_rotation(rng, d):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


# ---- closed forms -----------------------------------------------------------------------------

def test_one_dimensional_closed_form():
    # N(m1, s1^2) vs N(m2, s2^2):  (m1 - m2)^2 + (s1 - s2)^2
    value = frechet_distance(np.array([1.0]), np.array([[4.0]]),
                             np.array([-2.0]), np.array([[9.0]]))
    assert value == pytest.approx(9.0 + 1.0, rel=1e-12)
    # scalars are accepted (atleast_1d / atleast_2d)
    assert frechet_distance(1.0, 4.0, -2.0, 9.0) == pytest.approx(10.0, rel=1e-12)


def test_diagonal_covariances_closed_form():
    a, b = np.array([1.0, 2.0, 0.5]), np.array([3.0, 0.2, 0.5])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)
    assert frechet_distance_eig(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected,
                                                                                   rel=1e-10)


# ---- properties -------------------------------------------------------------------------------

@FAST
@given(seeds, dims)
def test_distance_to_itself_is_zero(seed, d):
    mu, sigma = random_gaussian(np.random.default_rng(seed), d)
    scale = np.trace(sigma)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8 * scale)
    assert frechet_distance_eig(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8 * scale)


@FAST
@given(seeds, dims)
def test_symmetric_non_negative_and_matches_eigen_form(seed, d):
    rng = np.random.default_rng(seed)
    (mu1, s1), (mu2, s2) = random_gaussian(rng, d), random_gaussian(rng, d)
    forward = frechet_distance(mu1, s1, mu2, s2)
    tol = 1e-8 * (np.trace(s1) + np.trace(s2))
    assert forward == pytest.approx(frechet_distance(mu2, s2, mu1, s1), rel=1e-8, abs=tol)
    assert forward >= -tol
    assert forward == pytest.approx(frechet_distance_eig(mu1, s1, mu2, s2), rel=1e-8, abs=tol)


@FAST
@given(seeds, dims)
def test_equal_covariances_give_squared_mean_distance(seed, d):
    rng = np.random.default_rng(seed)
    mu1, sigma = random_gaussian(rng, d)
    mu2 = rng.normal(size=d) * 3
    expected = float(np.sum((mu1 - mu2) ** 2))
    assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(
        expected, rel=1e-8, abs=1e-8 * np.trace(sigma))


@FAST
@given(seeds, dims)
def test_invariant_under_common_rotation(seed, d):
    rng = np.random.default_rng(seed)
    (mu1, s1), (mu2, s2) = random_gaussian(rng, d), random_gaussian(rng, d)
    q = random_rotation(rng, d)
    rotated = frechet_distance(q @ mu1, q @ s1 @ q.T, q @ mu2, q @ s2 @ q.T)
    assert rotated == pytest.approx(frechet_distance(mu1, s1, mu2, s2), rel=1e-7,
                                    abs=1e-8 * (np.trace(s1) + np.trace(s2)))


# ---- errors and numerics ----------------------------------------------------------------------

def test_shape_mismatch_errors():
    with pytest.raises(ValueError, match="mu1 and mu2"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="sigma1 and sigma2"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(2))


def test_imaginary_component_is_rejected():
    # not a covariance (negative eigenvalue): sqrtm of the product is genuinely complex
    with pytest.raises(ValueError, match="imaginary component"):
        frechet_distance(np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), np.eye(2))


def test_non_finite_sqrtm_retries_with_offset(monkeypatch):
    calls = []
    real_sqrtm = fid_module._sqrtm

    def flaky_sqrtm(matrix):
        calls.append(matrix.copy())
        return np.full_like(matrix, np.nan) if len(calls) == 1 else real_sqrtm(matrix)

    monkeypatch.setattr(fid_module, "_sqrtm", flaky_sqrtm)
    sigma = np.eye(2)
    with pytest.warns(RuntimeWarning, match="adding 1e-06"):
        value = frechet_distance(np.zeros(2), sigma, np.zeros(2), sigma)
    np.testing.assert_allclose(calls[1], (1 + 1e-6) ** 2 * np.eye(2))   # (s1 + eps I)(s2 + eps I)
    assert value == pytest.approx(2 * 2 - 2 * 2 * (1 + 1e-6), abs=1e-12)


# ---- statistics -------------------------------------------------------------------------------

def test_feature_statistics_float64_ddof1_and_warning():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(50, 4)).astype(np.float32)
    mu, sigma = feature_statistics(feats)
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    centred = feats.astype(np.float64) - feats.astype(np.float64).mean(0)
    np.testing.assert_allclose(sigma, centred.T @ centred / 49, rtol=1e-12)
    with pytest.warns(RuntimeWarning, match="only 3 samples for 5 feature dimensions"):
        feature_statistics(rng.normal(size=(3, 5)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        feature_statistics(rng.normal(size=(5, 5)))          # N >= D: no warning
    with pytest.raises(ValueError, match="2-D"):
        feature_statistics(np.zeros((2, 3, 4)))


def test_fid_from_features_detects_a_shift():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(400, 3))
    b = rng.normal(size=(400, 3))
    shifted = fid_from_features(a, b + np.array([2.0, 0.0, 0.0]))
    assert fid_from_features(a, b) < 0.1
    assert shifted == pytest.approx(4.0, abs=0.5)


def test_compute_statistics_of_images_with_a_feature_fn():
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(23, 3, 4, 5), dtype=np.uint8)

    def feature_fn(batch):                 # float32 (B, 3, H, W) in [0, 1] -> (B, 3, 1, 1)
        assert batch.dtype == np.float32 and batch.max() <= 1.0
        return batch.mean(axis=(2, 3), keepdims=True)

    expected = feature_statistics((images / 255.0).mean(axis=(2, 3)))
    for batch_size in (1, 5, 50):
        mu, sigma = compute_statistics_of(images, feature_fn, batch_size=batch_size)
        np.testing.assert_allclose(mu, expected[0], rtol=1e-6)
        np.testing.assert_allclose(sigma, expected[1], atol=1e-8)  # float32 features
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        compute_statistics_of(images.astype(np.float32), feature_fn)
    with pytest.raises(ValueError, match="must return"):
        compute_statistics_of(images, lambda b: b.reshape(-1))


def test_save_and_load_statistics_roundtrip(tmp_path):
    rng = np.random.default_rng(3)
    mu, sigma = random_gaussian(rng, 4)
    path = tmp_path / "sub" / "stats.npz"
    save_statistics(path, mu, sigma)
    loaded_mu, loaded_sigma = load_statistics(path)
    np.testing.assert_array_equal(loaded_mu, mu)
    np.testing.assert_array_equal(loaded_sigma, sigma)
    assert os.listdir(tmp_path / "sub") == ["stats.npz"]   # no temp file left behind
    np.savez(tmp_path / "bad.npz", m=mu)
    with pytest.raises(KeyError, match="'mu'"):
        load_statistics(tmp_path / "bad.npz")
