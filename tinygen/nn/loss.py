"""Loss modules (PyTorch's ``torch.nn`` losses): each one holds its options and calls the
functional form in :mod:`tinygen.functional`, where the math (and its docstring) lives.

    criterion = nn.BCELoss()              # once, with the options
    loss = criterion(output, target)      # then called like a function

``reduction`` is ``"mean"`` (default), ``"sum"`` or ``"none"`` (``KLDivLoss`` also takes
``"batchmean"``, the true KL per sample). PyTorch's deprecated ``size_average`` / ``reduce``
arguments are read as PyTorch reads them. Class weights are buffers, as in PyTorch.
"""
from __future__ import annotations

from tinygen import functional as F
from tinygen.nn.module import Module

__all__ = ["BCELoss", "BCEWithLogitsLoss", "MSELoss", "L1Loss", "CrossEntropyLoss", "NLLLoss",
           "SmoothL1Loss", "KLDivLoss"]


def _legacy_reduction(size_average, reduce, reduction):
    """PyTorch's mapping of the old flags: reduce=False -> 'none'; size_average=False -> 'sum'."""
    if size_average is None and reduce is None:
        return reduction
    if reduce is False:
        return "none"
    return "sum" if size_average is False else "mean"


class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        self.reduction = _legacy_reduction(size_average, reduce, reduction)

    def extra_repr(self):
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class BCELoss(_WeightedLoss):
    """-[y log p + (1 - y) log(1 - p)] on probabilities p (``F.binary_cross_entropy``)."""

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """BCE on logits, stable for any logit (``F.binary_cross_entropy_with_logits``)."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean",
                 pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction,
                                                  self.pos_weight)


class MSELoss(_Loss):
    """(x - y)^2 (``F.mse_loss``)."""

    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """|x - y| (``F.l1_loss``)."""

    def forward(self, input, target):
        return F.l1_loss(input, target, self.reduction)


class SmoothL1Loss(_Loss):
    """Huber-like: 0.5 d^2 / beta inside |d| < beta, |d| - beta / 2 outside (``F.smooth_l1_loss``)."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, self.reduction, self.beta)


class KLDivLoss(_Loss):
    """target (log target - input), input = log q (``F.kl_div``)."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean",
                 log_target: bool = False):
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input, target):
        return F.kl_div(input, target, self.reduction, self.log_target)


class NLLLoss(_WeightedLoss):
    """-log p[n, t_n] from log-probabilities (N, C, *) (``F.nll_loss``)."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, self.reduction, self.ignore_index)


class CrossEntropyLoss(_WeightedLoss):
    """log_softmax + NLL on logits (N, C, *), class indices or probabilities (``F.cross_entropy``)."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.weight, self.reduction, self.label_smoothing,
                               self.ignore_index)
