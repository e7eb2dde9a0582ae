"""k-NN precision and recall (tinygen.metrics.precision_recall), Kynkaanniemi et al. 2019."""
import numpy as np
import pytest

from tinygen.metrics import precision_recall, knn_radii
from tinygen.metrics.precision_recall import in_manifold


def brute_force_precision_recall(real, fake, k):
    """Direct definition with explicit sorting, no batching, no Gram trick."""
    def radii(x):
        d = np.linalg.norm(x[:, None] - x[None], axis=-1)
        return np.sort(d, axis=1)[:, k]                       # index 0 is the point itself

    def inside(queries, support, r):
        d = np.linalg.norm(queries[:, None] - support[None], axis=-1)
        return np.any(d <= r[None, :] * (1 + 1e-12), axis=1)

    return inside(fake, real, radii(real)).mean(), inside(real, fake, radii(fake)).mean()


def test_identical_sets_score_one_one():
    x = np.random.default_rng(0).normal(size=(60, 5))
    assert precision_recall(x, x) == (1.0, 1.0)


def test_collapsed_generator_has_precision_without_recall():
    real = np.random.default_rng(1).normal(size=(100, 4))
    fake = np.repeat(real[:1], 50, axis=0)                    # every sample is the same real point
    precision, recall = precision_recall(real, fake)
    assert precision == 1.0
    assert recall <= 0.02


def test_far_away_generator_scores_zero():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(80, 3))
    fake = rng.normal(size=(80, 3)) + 100.0
    assert precision_recall(real, fake) == (0.0, 0.0)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_matches_brute_force_and_batching_does_not_matter(k):
    rng = np.random.default_rng(3)
    real = rng.normal(size=(70, 6))
    fake = 1.3 * rng.normal(size=(55, 6)) + 0.4
    expected = brute_force_precision_recall(real, fake, k)
    for batch_size in (7, 1024):
        assert precision_recall(real, fake, k=k, batch_size=batch_size) == pytest.approx(expected)


def test_radii_are_kth_neighbour_distances():
    points = np.array([[0.0], [1.0], [3.0], [7.0]])
    np.testing.assert_allclose(knn_radii(points, k=1), np.array([1.0, 1.0, 2.0, 4.0]) ** 2)
    np.testing.assert_allclose(knn_radii(points, k=2), np.array([3.0, 2.0, 3.0, 6.0]) ** 2)
    assert in_manifold(np.array([[2.0], [12.0]]), points, knn_radii(points, k=1)).tolist() == [
        True, False]


def test_errors():
    with pytest.raises(ValueError, match="1 <= k < N = 3"):
        knn_radii(np.zeros((3, 2)), k=3)
    with pytest.raises(ValueError, match="same feature dimension"):
        precision_recall(np.zeros((5, 2)), np.zeros((5, 3)))
