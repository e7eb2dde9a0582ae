"""Inception Score (tinygen.metrics.inception_score) on predictions with known scores."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinygen.metrics import inception_score

FAST = settings(max_examples=30, deadline=None)


@FAST
@given(st.integers(1, 40), st.integers(1, 12), st.integers(1, 4))
def test_uniform_predictions_score_one(n, k, splits):
    splits = min(splits, n)
    mean, std = inception_score(np.full((n, k), 1.0 / k), splits=splits)
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


@FAST
@given(st.integers(1, 10), st.integers(1, 4), st.integers(1, 5))
def test_one_hot_spread_evenly_scores_k(k, per_class, splits):
    # each split holds every class per_class times: p(y) uniform, p(y|x) one-hot -> IS = K
    probs = np.tile(np.eye(k), (per_class * splits, 1))        # (K * per_class * splits, K)
    mean, std = inception_score(probs, splits=splits)
    assert mean == pytest.approx(k, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


@FAST
@given(st.integers(2, 60), st.integers(1, 8), st.integers(0, 2**31 - 1))
def test_score_lies_between_one_and_k(n, k, seed):
    probs = np.random.default_rng(seed).dirichlet(np.full(k, 0.3), size=n)
    mean, _ = inception_score(probs, splits=1)
    assert 1.0 - 1e-9 <= mean <= k + 1e-9


@FAST
@given(st.integers(1, 20), st.integers(2, 6), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_identical_splits_have_zero_std(block, k, splits, seed):
    chunk = np.random.default_rng(seed).dirichlet(np.ones(k), size=block)   # (block, K)
    mean, std = inception_score(np.tile(chunk, (splits, 1)), splits=splits)
    assert std == pytest.approx(0.0, abs=1e-9)
    assert mean == pytest.approx(inception_score(chunk, splits=1)[0], rel=1e-12)


def test_hand_computed_value():
    probs = np.array([[1.0, 0.0], [0.5, 0.5]])
    marginal = np.array([0.75, 0.25])
    kl_1 = math.log(1.0 / marginal[0])
    kl_2 = 0.5 * math.log(0.5 / marginal[0]) + 0.5 * math.log(0.5 / marginal[1])
    mean, std = inception_score(probs, splits=1)
    assert mean == pytest.approx(math.exp(0.5 * (kl_1 + kl_2)), rel=1e-12)
    assert std == 0.0


def test_logits_are_detected_and_match_softmax():
    logits = np.random.default_rng(0).normal(size=(30, 5)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert inception_score(logits, splits=3) == pytest.approx(inception_score(probs, splits=3))
    assert inception_score(logits, splits=3, from_logits=True) == pytest.approx(
        inception_score(probs, splits=3, from_logits=False))
    # confident logits behave like one-hot predictions
    assert inception_score(np.eye(4) * 50.0, splits=1)[0] == pytest.approx(4.0, rel=1e-9)


def test_shuffle_mixes_class_sorted_samples():
    probs = np.repeat(np.eye(4), 25, axis=0)          # sorted by class: each split is one class
    assert inception_score(probs, splits=4)[0] == pytest.approx(1.0)
    shuffled_mean, _ = inception_score(probs, splits=4, shuffle_seed=0)
    assert shuffled_mean > 3.0
    assert inception_score(probs, splits=4, shuffle_seed=0) == inception_score(
        probs, splits=4, shuffle_seed=0)


def test_errors():
    with pytest.raises(ValueError, match=r"splits must be an integer in \[1, N=3\]"):
        inception_score(np.full((3, 2), 0.5), splits=4)
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        inception_score(np.full(5, 0.2))
    with pytest.raises(ValueError, match="from_logits=True"):
        inception_score(np.array([[2.0, -1.0]]), splits=1, from_logits=False)
