"""Linear probe: how linearly readable a representation's classes are.

A multinomial logistic regression (softmax classifier, L2-regularised) is fitted on the codes of
labelled training images and scored on held-out ones; its test accuracy measures what an
encoder's features say about the labels without any further learning (Donahue et al. 2017,
"Adversarial Feature Learning", arXiv:1605.09782, Sec. 4: BiGAN features under a linear
classifier, vs a randomly initialised encoder).

Fitting: the codes are standardised with the training mean / std, then SciPy's L-BFGS-B
minimises  mean_i -log softmax(W h_i + b)_{y_i} + (c / 2) ||W||^2  from W = 0: convex, so the
result depends only on the data (deterministic, no seed).
Shapes: train (N, d) float, labels (N,) int; test (M, d), labels (M,) -> accuracy in [0, 1].
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

__all__ = ["linear_probe_accuracy", "fit_softmax_classifier"]


def fit_softmax_classifier(h, y, num_classes: int, l2: float = 1e-3, max_iter: int = 500):
    """(W (d, K), b (K,), mean, std) of the L2-regularised softmax regression on codes h."""
    h = np.asarray(h, np.float64)
    y = np.asarray(y, np.int64)
    mean, std = h.mean(0), h.std(0) + 1e-8
    hs = (h - mean) / std                                            # (N, d)
    n, d = hs.shape
    target = np.eye(num_classes)[y]                                  # (N, K)

    def loss_and_grad(theta):
        W, b = theta[:d * num_classes].reshape(d, num_classes), theta[d * num_classes:]
        logits = hs @ W + b                                          # (N, K)
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(1, keepdims=True)
        loss = -np.mean(np.log(p[np.arange(n), y] + 1e-300)) + 0.5 * l2 * np.sum(W * W)
        g = (p - target) / n                                         # (N, K)
        return loss, np.concatenate([(hs.T @ g + l2 * W).ravel(), g.sum(0)])

    theta0 = np.zeros(d * num_classes + num_classes)
    res = minimize(loss_and_grad, theta0, jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter})
    W, b = res.x[:d * num_classes].reshape(d, num_classes), res.x[d * num_classes:]
    return W, b, mean, std


def linear_probe_accuracy(h_train, y_train, h_test, y_test, l2: float = 1e-3) -> float:
    """Test accuracy of a softmax regression fitted on (h_train, y_train)."""
    y_train, y_test = np.asarray(y_train, np.int64), np.asarray(y_test, np.int64)
    k = int(max(y_train.max(), y_test.max())) + 1
    W, b, mean, std = fit_softmax_classifier(h_train, y_train, k, l2)
    pred = (((np.asarray(h_test, np.float64) - mean) / std) @ W + b).argmax(1)
    return float(np.mean(pred == y_test))
