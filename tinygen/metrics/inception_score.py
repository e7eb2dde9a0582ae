"""Inception Score (IS) from classifier outputs, in float64 host NumPy.

Reference:
    Salimans et al., "Improved Techniques for Training GANs", arXiv:1606.03498, Sec. 4:

        IS = exp( E_x KL( p(y|x) || p(y) ) ),   p(y) = E_x p(y|x),

    computed on 10 splits of 5,000 of 50,000 samples each; the mean and standard deviation over
    splits are reported (the original code splits in order, chunks of N // splits, and reports
    the population std, ddof = 0; we do the same).

Notation / Shapes:
    p(y|x)  (N, K)  class probabilities of N generated samples over K classes
    p(y)    (K,)    marginal over the split:  mean over its rows
    1 <= IS <= K: 1 when every p(y|x) equals p(y) (no confident or no diverse predictions),
    K when the predictions are one-hot and spread evenly over the K classes.
"""
import numpy as np

__all__ = ["inception_score"]


def _looks_like_logits(values, atol=1e-3):
    """Probabilities are non-negative rows summing to 1; anything else is taken as logits."""
    return bool(np.any(values < 0) or np.any(np.abs(values.sum(axis=1) - 1.0) > atol))


def _log_softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def inception_score(probs_or_logits, splits=10, shuffle_seed=None, from_logits=None):
    """Inception Score (mean, std) over ``splits`` equal chunks of the predictions.

    For each split s with rows x:  IS_s = exp( 1/|s| sum_x sum_y p(y|x) (log p(y|x) - log p(y)) ),
    with 0 log 0 = 0. The last N % splits rows are not used (as in the original code).

    Shapes:
        probs_or_logits: (N, K) softmax probabilities or pre-softmax logits.

    Args:
        splits: number of chunks, 1 <= splits <= N.
        shuffle_seed: if given, rows are permuted with ``numpy.random.default_rng(seed)`` first
            (useful when samples are ordered by class).
        from_logits: True/False to say what the input is; None detects it (negative entries or
            rows not summing to 1 within 1e-3 mean logits).

    Returns:
        (mean, std) of IS_s over the splits, Python floats.
    """
    values = np.asarray(probs_or_logits, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] < 1 or values.shape[0] < 1:
        raise ValueError(f"probs_or_logits must be a non-empty (N, K) array of per-sample class "
                         f"scores, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("probs_or_logits contains NaN or inf")
    n = values.shape[0]
    if not isinstance(splits, (int, np.integer)) or splits < 1 or splits > n:
        raise ValueError(f"splits must be an integer in [1, N={n}], got {splits}; use fewer "
                         f"splits or more samples")
    if from_logits is None:
        from_logits = _looks_like_logits(values)
    if from_logits:
        log_probs = _log_softmax(values)                                    # (N, K)
    else:
        if np.any(values < 0) or np.any(np.abs(values.sum(axis=1) - 1.0) > 1e-3):
            raise ValueError("from_logits=False but the rows are not probability vectors "
                             "(non-negative, summing to 1); pass from_logits=True for logits")
        with np.errstate(divide="ignore"):
            log_probs = np.log(values)
    if shuffle_seed is not None:
        log_probs = log_probs[np.random.default_rng(shuffle_seed).permutation(n)]

    size = n // splits
    scores = []
    for s in range(splits):
        part = log_probs[s * size:(s + 1) * size]                            # (size, K)
        probs = np.exp(part)                                                 # p(y|x)
        marginal = probs.mean(axis=0)                                        # p(y), (K,)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_marginal = np.log(marginal)
            # p log p - p log p(y), with 0 log 0 = 0 (p(y) = 0 forces p(y|x) = 0 there).
            terms = np.where(probs > 0, probs * (part - log_marginal), 0.0)  # (size, K)
        mean_kl = terms.sum(axis=1).mean()
        scores.append(np.exp(mean_kl))
    scores = np.array(scores)
    return float(scores.mean()), float(scores.std())
