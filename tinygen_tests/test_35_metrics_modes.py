"""Mode coverage for the 2-D toy mixtures (tinygen.metrics.modes)."""
import math

import numpy as np
import pytest

from tinygen.metrics import mode_coverage, ring_centres, grid_centres


def mixture_samples(centres, std, n, rng, weights=None):
    idx = rng.choice(len(centres), size=n, p=weights)
    return centres[idx] + std * rng.normal(size=(n, centres.shape[1]))


def test_centres():
    ring = ring_centres(8, radius=2.0)
    np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 2.0)
    grid = grid_centres(5, spacing=2.0)
    assert grid.shape == (25, 2) and set(np.unique(grid)) == {-4.0, -2.0, 0.0, 2.0, 4.0}


def test_perfect_generator_covers_every_mode():
    rng = np.random.default_rng(0)
    centres = ring_centres()
    result = mode_coverage(mixture_samples(centres, 0.02, 2500, rng), centres, std=0.02)
    assert result["modes"] == 8
    # within 3 std in 2-D: P(chi_2 <= 3) = 1 - exp(-9/2) ~ 0.989
    assert result["hq"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    assert result["counts"].sum() == round(result["hq"] * 2500)
    assert result["kl"] < 0.01


def test_collapsed_generator():
    rng = np.random.default_rng(1)
    centres = grid_centres()
    samples = centres[7] + 0.05 * rng.normal(size=(2500, 2))     # everything on one mode
    result = mode_coverage(samples, centres, std=0.05)
    assert result["modes"] == 1
    assert result["counts"][7] == result["counts"].sum()
    assert result["kl"] == pytest.approx(math.log(25), rel=1e-12)   # one-hot vs uniform


def test_threshold_and_off_mode_samples():
    centres = np.array([[0.0, 0.0], [10.0, 0.0]])
    samples = np.concatenate([np.zeros((30, 2)), np.full((5, 2), [10.0, 0.0]),
                              np.full((65, 2), [5.0, 5.0])])       # 65 far from both modes
    result = mode_coverage(samples, centres, std=0.1, min_count=10)
    assert result["counts"].tolist() == [30, 5]
    assert result["modes"] == 1                                     # 5 < min_count
    assert result["hq"] == pytest.approx(0.35)
    # default threshold: ceil(100 * 20 / 2500) = 1 -> both modes covered
    assert mode_coverage(samples, centres, std=0.1)["modes"] == 2
    none = mode_coverage(np.full((4, 2), 50.0), centres, std=0.1)
    assert none["modes"] == 0 and none["hq"] == 0.0 and math.isnan(none["kl"])


def test_errors():
    with pytest.raises(ValueError, match="same d"):
        mode_coverage(np.zeros((4, 3)), ring_centres(), std=0.1)
    with pytest.raises(ValueError, match="std must be positive"):
        mode_coverage(np.zeros((4, 2)), ring_centres(), std=0.0)
