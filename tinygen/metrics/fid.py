"""Frechet Inception Distance (FID) on feature statistics, in float64 host NumPy.

References:
    Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
        Equilibrium", arXiv:1706.08500, Sec. "Frechet Inception Distance" (Eq. 6 in v6):

        d^2((m, C), (m_w, C_w)) = ||m - m_w||_2^2 + Tr(C + C_w - 2 (C C_w)^{1/2}).

    Dowson & Landau (1982): this is the squared 2-Wasserstein (Frechet) distance between the
        Gaussians N(m, C) and N(m_w, C_w).
    The numerics follow pytorch-fid's ``calculate_frechet_distance`` (mseitzer/pytorch-fid,
        src/pytorch_fid/fid_score.py, itself after the TTUR reference code), so our numbers agree.

Notation / Shapes:
    features  (N, D)  one row per image (D = 2048 for Inception pool3)
    mu        (D,)    sample mean  m = 1/N sum_n f_n
    sigma     (D, D)  sample covariance C = 1/(N-1) sum_n (f_n - m)(f_n - m)^T   (ddof = 1)

The Inception network itself lives in ``tinygen.models`` (``InceptionV3FID``); this module only
needs a callable ``feature_fn`` mapping a float32 (B, 3, H, W) batch in [0, 1] to (B, D).
"""
import os
import warnings

import numpy as np
import scipy
from scipy import linalg

__all__ = [
    "frechet_distance", "frechet_distance_eig", "feature_statistics", "fid_from_features",
    "compute_features", "compute_statistics_of", "save_statistics", "load_statistics",
]


def _scipy_older_than(major, minor):
    version = tuple(int(part) for part in scipy.__version__.split(".")[:2])
    return version < (major, minor)


def _sqrtm(matrix):
    """Principal matrix square root, the same computation as ``linalg.sqrtm(A, disp=False)[0]``.

    SciPy 1.16 deprecated ``disp`` (removed in 1.18) and the plain call now returns only the
    root without printing; before 1.16 the plain call could print a warning, so ``disp=False``
    is used there and the error estimate dropped, exactly as pytorch-fid does.
    """
    if _scipy_older_than(1, 16):
        root, _ = linalg.sqrtm(matrix, disp=False)
        return root
    return linalg.sqrtm(matrix)


def _check_statistics(mu1, sigma1, mu2, sigma2):
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or mu1.ndim != 1:
        raise ValueError(f"mu1 and mu2 must be mean vectors of the same length, got shapes "
                         f"{mu1.shape} and {mu2.shape} (were both computed with the same feature "
                         f"dimension?)")
    d = mu1.shape[0]
    if sigma1.shape != sigma2.shape or sigma1.shape != (d, d):
        raise ValueError(f"sigma1 and sigma2 must both be ({d}, {d}) covariances matching the "
                         f"means, got {sigma1.shape} and {sigma2.shape}")
    return (mu1.astype(np.float64), sigma1.astype(np.float64),
            mu2.astype(np.float64), sigma2.astype(np.float64))


def frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2):

        d^2 = ||mu1 - mu2||^2 + Tr(sigma1) + Tr(sigma2) - 2 Tr((sigma1 sigma2)^{1/2}).

    Same numerics as pytorch-fid: (sigma1 sigma2)^{1/2} by ``scipy.linalg.sqrtm`` (Schur method);
    if it is not finite (nearly singular product), retry on (sigma1 + eps I)(sigma2 + eps I) with
    a warning; a complex result whose diagonal has an imaginary part above 1e-3 is rejected, a
    smaller one is rounding noise and is dropped.

    Shapes:
        mu1, mu2: (D,)   sigma1, sigma2: (D, D).  Returns a Python float (>= 0 up to rounding).
    """
    mu1, sigma1, mu2, sigma2 = _check_statistics(mu1, sigma1, mu2, sigma2)
    diff = mu1 - mu2                                               # (D,)

    covmean = _sqrtm(sigma1.dot(sigma2))                           # (D, D)
    if not np.isfinite(covmean).all():
        warnings.warn(f"frechet_distance: sqrtm(sigma1 @ sigma2) is not finite (singular "
                      f"product, often fewer samples than feature dimensions); adding {eps} to "
                      f"the diagonal of both covariances", RuntimeWarning, stacklevel=2)
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = _sqrtm((sigma1 + offset).dot(sigma2 + offset))

    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            largest = np.max(np.abs(covmean.imag))
            raise ValueError(f"frechet_distance: sqrtm(sigma1 @ sigma2) has an imaginary "
                             f"component of {largest:.3g} on its diagonal; the covariances are "
                             f"probably not valid (not symmetric PSD) or estimated from too few "
                             f"samples -- use more samples than feature dimensions")
        covmean = covmean.real

    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def _psd_sqrt(matrix):
    """Symmetric PSD square root by eigendecomposition (negative rounding eigenvalues -> 0)."""
    eigenvalues, eigenvectors = np.linalg.eigh(0.5 * (matrix + matrix.T))
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ eigenvectors.T


def frechet_distance_eig(mu1, sigma1, mu2, sigma2):
    """The same Frechet distance through eigenvalues, without a general matrix square root.

    sigma1 sigma2 is similar to the symmetric PSD matrix M = sigma1^{1/2} sigma2 sigma1^{1/2}
    (conjugate by sigma1^{1/2}), so
        Tr((sigma1 sigma2)^{1/2}) = Tr(M^{1/2}) = sum_i sqrt(lambda_i(M))
    with real lambda_i >= 0. Rounding can produce tiny negative lambda_i; they are clipped to 0.

    Shapes:
        mu1, mu2: (D,)   sigma1, sigma2: (D, D).  Returns a Python float.
    """
    mu1, sigma1, mu2, sigma2 = _check_statistics(mu1, sigma1, mu2, sigma2)
    diff = mu1 - mu2
    root1 = _psd_sqrt(sigma1)                                      # sigma1^{1/2}
    m = root1 @ sigma2 @ root1                                     # (D, D) symmetric PSD
    eigenvalues = np.linalg.eigvalsh(0.5 * (m + m.T))
    tr_covmean = np.sum(np.sqrt(np.clip(eigenvalues, 0, None)))
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def feature_statistics(features):
    """(mu, sigma) of a feature matrix in float64: mean and ``np.cov(rowvar=False)`` (ddof = 1).

    Warns when N < D: the covariance then has rank < D, the FID is biased and sqrtm may fail.

    Shapes:
        features: (N, D), N >= 2.  Returns mu (D,), sigma (D, D).
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"features must be a 2-D (n_samples, n_features) array, got shape "
                         f"{features.shape}; flatten (B, D, 1, 1) pooled outputs first")
    n, d = features.shape
    if n < 2:
        raise ValueError(f"features needs at least 2 samples for a covariance, got {n}")
    if n < d:
        warnings.warn(f"feature_statistics: only {n} samples for {d} feature dimensions; the "
                      f"covariance is rank-deficient and FID is strongly biased. Use at least "
                      f"{d} samples (10,000+ is customary for Inception features)",
                      RuntimeWarning, stacklevel=2)
    mu = features.mean(axis=0)
    sigma = np.atleast_2d(np.cov(features, rowvar=False))
    return mu, sigma


def fid_from_features(features_a, features_b, eps=1e-6):
    """FID between two feature matrices (N_a, D) and (N_b, D): Frechet distance of their stats."""
    mu_a, sigma_a = feature_statistics(features_a)
    mu_b, sigma_b = feature_statistics(features_b)
    return frechet_distance(mu_a, sigma_a, mu_b, sigma_b, eps=eps)


# ----------------------------------------------------------------------------------------------
# from images to statistics, with any feature extractor
# ----------------------------------------------------------------------------------------------

def _to_host(array):
    """A NumPy array from a NumPy/CuPy array or a tinygen Tensor (duck-typed, no engine import)."""
    if hasattr(array, "numpy"):
        array = array.cpu().numpy() if hasattr(array, "cpu") else array.numpy()   # a GPU tensor
    if hasattr(array, "get"):                  # CuPy array -> host
        array = array.get()
    return np.asarray(array)


def _as_unit_float_batch(batch):
    """uint8 batches become float32 / 255; float batches are checked to lie in [0, 1]."""
    batch = np.asarray(batch)
    if batch.ndim != 4:
        raise ValueError(f"images must be a (N, C, H, W) array, got shape {batch.shape}; "
                         f"transpose (N, H, W, C) images with x.transpose(0, 3, 1, 2)")
    if batch.dtype == np.uint8:
        return batch.astype(np.float32) / 255.0
    batch = batch.astype(np.float32, copy=False)
    if batch.size and (batch.min() < -1e-6 or batch.max() > 1 + 1e-6):
        raise ValueError(f"float images must lie in [0, 1], got range [{batch.min():.3g}, "
                         f"{batch.max():.3g}]; rescale, e.g. (x + 1) / 2 for tanh outputs")
    return batch


def compute_features(images, feature_fn, batch_size=50):
    """Run ``feature_fn`` over ``images`` in batches and stack the (N, D) float64 features.

    Shapes:
        images: (N, C, H, W) uint8 (scaled by 1/255) or float in [0, 1].
        feature_fn: float32 (B, C, H, W) in [0, 1]  ->  (B, D) or (B, D, 1, 1).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    images = np.asarray(images)
    chunks = []
    for start in range(0, len(images), batch_size):
        batch = _as_unit_float_batch(images[start:start + batch_size])
        out = _to_host(feature_fn(batch)).astype(np.float64)
        out = out.reshape(out.shape[0], -1) if out.ndim == 4 and out.shape[2:] == (1, 1) else out
        if out.ndim != 2 or out.shape[0] != len(batch):
            raise ValueError(f"feature_fn must return ({len(batch)}, D) features for a batch of "
                             f"{len(batch)}, got shape {out.shape}")
        chunks.append(out)
    if not chunks:
        raise ValueError("images is empty")
    return np.concatenate(chunks, axis=0)


def compute_statistics_of(images_or_features, feature_fn=None, batch_size=50):
    """(mu, sigma) of images (through ``feature_fn``) or of ready-made (N, D) features.

    With ``feature_fn=None`` the input must already be a (N, D) feature matrix; otherwise it is a
    (N, C, H, W) image array passed through :func:`compute_features`.
    """
    if feature_fn is None:
        return feature_statistics(images_or_features)
    return feature_statistics(compute_features(images_or_features, feature_fn, batch_size))


# ----------------------------------------------------------------------------------------------
# statistics files (pytorch-fid's .npz format: keys mu, sigma)
# ----------------------------------------------------------------------------------------------

def save_statistics(path, mu, sigma):
    """Write ``mu`` and ``sigma`` to an .npz file atomically (temp file in the same folder, then
    ``os.replace``), so a crash never leaves a half-written statistics file behind."""
    from tinygen.io.files import save_npz
    save_npz(os.fspath(path), mu=np.asarray(mu, dtype=np.float64),
             sigma=np.asarray(sigma, dtype=np.float64))


def load_statistics(path):
    """Read (mu, sigma) from an .npz file with keys ``mu`` and ``sigma`` (pytorch-fid's format)."""
    with np.load(os.fspath(path)) as data:
        missing = {"mu", "sigma"} - set(data.files)
        if missing:
            raise KeyError(f"{path} lacks the key(s) {sorted(missing)}; FID statistics files "
                           f"hold arrays 'mu' (D,) and 'sigma' (D, D), found {data.files}")
        return data["mu"].astype(np.float64), data["sigma"].astype(np.float64)
