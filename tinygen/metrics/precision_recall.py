"""Improved precision and recall of generative models by k-NN manifold estimates.

Reference:
    Kynkaanniemi, Karras, Laine, Lehtinen, Aila, "Improved Precision and Recall Metric for
    Assessing Generative Models", arXiv:1904.06991, Sec. 2, Eqs. (1)-(2):

        f(phi, Phi) = 1 if ||phi - phi'||_2 <= ||phi' - NN_k(phi', Phi)||_2 for some phi' in Phi,
                      0 otherwise;
        precision(Phi_r, Phi_g) = 1/|Phi_g| sum_{phi_g in Phi_g} f(phi_g, Phi_r),
        recall(Phi_r, Phi_g)    = 1/|Phi_r| sum_{phi_r in Phi_r} f(phi_r, Phi_g),

    where NN_k(phi', Phi) is the k-th nearest neighbour of phi' in Phi other than phi' itself
    (k = 3 in the paper). Each set's manifold is the union of balls around its points, with
    radius the distance to the k-th neighbour.

Notation / Shapes:
    Phi_r  real_features  (N_r, D)        Phi_g  fake_features  (N_g, D)
    Distances are computed in float64, ``batch_size`` rows at a time, so memory is
    O(batch_size * N) rather than O(N^2). Squared distances are compared with squared radii, as
    in the authors' code.
"""
import numpy as np

__all__ = ["precision_recall", "knn_radii", "in_manifold"]


def _as_features(features, name):
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) == 0:
        raise ValueError(f"{name} must be a non-empty (N, D) feature matrix, got shape "
                         f"{features.shape}")
    return features


def _squared_distances(a, b, b_sq_norms):
    """||a_i - b_j||^2 = ||a_i||^2 + ||b_j||^2 - 2 a_i.b_j, clipped at 0 against rounding."""
    a_sq_norms = np.einsum("id,id->i", a, a)                              # (B,)
    d2 = a_sq_norms[:, None] + b_sq_norms[None, :] - 2.0 * (a @ b.T)      # (B, M)
    return np.maximum(d2, 0.0)


def knn_radii(features, k=3, batch_size=1024):
    """Squared distance from every point to its k-th nearest neighbour in the same set.

    The point itself sits at distance 0, so in each sorted row of distances index 0 is the point
    and index k is its k-th neighbour.

    Shapes:
        features: (N, D) with N > k.  Returns (N,) squared radii r_i^2.
    """
    features = _as_features(features, "features")
    n = len(features)
    if not 1 <= k < n:
        raise ValueError(f"k must satisfy 1 <= k < N = {n} (a point needs k other points), "
                         f"got k={k}")
    sq_norms = np.einsum("id,id->i", features, features)
    radii = np.empty(n)
    for start in range(0, n, batch_size):
        d2 = _squared_distances(features[start:start + batch_size], features, sq_norms)
        radii[start:start + batch_size] = np.partition(d2, k, axis=1)[:, k]
    return radii


def in_manifold(queries, support, support_radii, batch_size=1024):
    """f(phi, Phi) of Eq. (1) for every query: is it inside some ball around a support point?

    Shapes:
        queries: (Q, D)   support: (M, D)   support_radii: (M,) squared radii.  Returns (Q,) bool.
    """
    queries = _as_features(queries, "queries")
    support = _as_features(support, "support")
    if queries.shape[1] != support.shape[1]:
        raise ValueError(f"feature dimensions differ: queries have {queries.shape[1]}, the "
                         f"support {support.shape[1]}")
    sq_norms = np.einsum("id,id->i", support, support)
    inside = np.empty(len(queries), dtype=bool)
    for start in range(0, len(queries), batch_size):
        d2 = _squared_distances(queries[start:start + batch_size], support, sq_norms)   # (B, M)
        inside[start:start + batch_size] = np.any(d2 <= support_radii[None, :], axis=1)
    return inside


def precision_recall(real_features, fake_features, k=3, batch_size=1024):
    """(precision, recall) of Kynkaanniemi et al. 2019, Eq. (1)-(2) (see module docstring).

    precision: fraction of generated samples inside the real manifold (sample quality);
    recall:    fraction of real samples inside the generated manifold (coverage).

    Shapes:
        real_features: (N_r, D), fake_features: (N_g, D), both with more than k rows.
        Returns two Python floats in [0, 1].
    """
    real = _as_features(real_features, "real_features")
    fake = _as_features(fake_features, "fake_features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real_features and fake_features must have the same feature "
                         f"dimension, got {real.shape[1]} and {fake.shape[1]}")
    real_radii = knn_radii(real, k, batch_size)
    fake_radii = knn_radii(fake, k, batch_size)
    precision = in_manifold(fake, real, real_radii, batch_size).mean()
    recall = in_manifold(real, fake, fake_radii, batch_size).mean()
    return float(precision), float(recall)
