"""Mode-collapse metrics for the 2-D toy mixtures (ring of 8 Gaussians, 5x5 grid of 25).

References:
    Metz et al., "Unrolled Generative Adversarial Networks", arXiv:1611.02163, Sec. 3.1
        (mixture of 8 Gaussians on a ring; counting the modes a generator reaches).
    Srivastava et al., "VEEGAN: Reducing Mode Collapse in GANs using Implicit Variational
        Learning", arXiv:1705.07761, Sec. 5.1: a sample is "high quality" when it lies within
        three standard deviations of the nearest mode centre; the number of modes captured and
        the fraction of high-quality samples are reported (over 2,500 samples).

Notation:
    x_n   (N, 2)  generated samples            mu_k  (K, 2)  mode centres     sigma  mode std
    k(n) = argmin_k ||x_n - mu_k||             nearest centre of sample n
    hq_n = [ ||x_n - mu_k(n)|| <= 3 sigma ]    high-quality indicator
    c_k  = sum_n hq_n [k(n) = k]               high-quality samples per mode
    mode k is covered  <=>  c_k >= min_count
"""
import math

import numpy as np

from tinygen.metrics.divergences import kl_divergence

__all__ = ["mode_coverage", "ring_centres", "grid_centres"]

# Our threshold: a mode counts as covered with at least 20 high-quality samples per 2,500
# drawn (0.8 %), scaled to the number of samples given (at least 1). With 2,500 samples on 8
# modes a uniform generator puts ~312 samples per mode, so 20 is far from borderline for a good
# model while a few stray samples near a dropped mode do not count it as captured.
DEFAULT_MIN_FRACTION = 20 / 2500


def ring_centres(k=8, radius=2.0):
    """Centres (K, 2) of the ring mixture: mu_k = radius (cos 2 pi k/K, sin 2 pi k/K)."""
    angles = 2 * np.pi * np.arange(k) / k
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def grid_centres(side=5, spacing=2.0):
    """Centres (side**2, 2) of the grid mixture, e.g. {-4, -2, 0, 2, 4}^2 for side=5."""
    ticks = (np.arange(side) - (side - 1) / 2) * spacing
    xs, ys = np.meshgrid(ticks, ticks, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def mode_coverage(samples, centres, std, min_count=None, n_std=3.0):
    """Count covered modes and the fraction of high-quality samples (see module docstring).

    Shapes:
        samples: (N, 2) (any (N, d) works)   centres: (K, d)   std: scalar sigma of each mode.

    Args:
        min_count: high-quality samples a mode needs to count as covered; default
            max(1, ceil(N * 20 / 2500)), i.e. 20 of 2,500 samples.
        n_std: the quality radius in units of std (3 in VEEGAN).

    Returns:
        dict with
          ``modes``  (int)    number of covered modes, 0..K;
          ``hq``     (float)  fraction of high-quality samples in [0, 1];
          ``counts`` (K,)     int64 high-quality samples per mode c_k;
          ``kl``     (float)  KL(c / sum c || uniform over K) in nats: 0 when the high-quality
                              samples are spread evenly, log K when all sit in one mode,
                              NaN when there is no high-quality sample at all.
    """
    samples = np.asarray(samples, dtype=np.float64)
    centres = np.asarray(centres, dtype=np.float64)
    if samples.ndim != 2 or centres.ndim != 2 or samples.shape[1] != centres.shape[1]:
        raise ValueError(f"samples must be (N, d) and centres (K, d) with the same d, got "
                         f"{samples.shape} and {centres.shape}")
    if len(samples) == 0 or len(centres) == 0:
        raise ValueError("samples and centres must be non-empty")
    if not std > 0:
        raise ValueError(f"std must be positive, got {std}")
    n, k = len(samples), len(centres)
    if min_count is None:
        min_count = max(1, math.ceil(n * DEFAULT_MIN_FRACTION))

    distances = np.linalg.norm(samples[:, None, :] - centres[None, :, :], axis=-1)   # (N, K)
    nearest = np.argmin(distances, axis=1)                                            # (N,)
    high_quality = distances[np.arange(n), nearest] <= n_std * std                    # (N,)
    counts = np.bincount(nearest[high_quality], minlength=k).astype(np.int64)         # (K,)

    n_hq = int(counts.sum())
    kl = kl_divergence(counts, np.full(k, 1.0 / k)) if n_hq > 0 else math.nan
    return {"modes": int(np.sum(counts >= min_count)), "hq": n_hq / n,
            "counts": counts, "kl": kl}
