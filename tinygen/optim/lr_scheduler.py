"""Learning-rate schedules (PyTorch's ``torch.optim.lr_scheduler``): StepLR, MultiStepLR,
ExponentialLR, LambdaLR, CosineAnnealingLR.

A scheduler rewrites ``group["lr"]`` of its optimizer's parameter groups. Call
``scheduler.step()`` once per epoch (or per step), *after* ``optimizer.step()``, as in PyTorch.
``last_epoch`` counts those calls (the constructor makes the first, so it starts at 0), and
each schedule is the closed form of PyTorch's, lr_t = f(base_lr, t):

    StepLR            base_lr * gamma ** (t // step_size)
    MultiStepLR       base_lr * gamma ** (number of milestones <= t)
    ExponentialLR     base_lr * gamma ** t
    LambdaLR          base_lr * lr_lambda(t)
    CosineAnnealingLR eta_min + (base_lr - eta_min) (1 + cos(pi t / T_max)) / 2

:func:`constant_then_linear` is the ``lr_lambda`` of CycleGAN's schedule (constant, then a
linear decay towards zero), for LambdaLR.
"""
from __future__ import annotations

import bisect
import math

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "LambdaLR",
           "CosineAnnealingLR", "constant_then_linear"]


class LRScheduler:
    def __init__(self, optimizer, last_epoch: int = -1):
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, base_lr: float, t: int) -> float:
        raise NotImplementedError

    def step(self, epoch=None) -> None:
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        self._last_lr = []
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(base, self.last_epoch)
            self._last_lr.append(group["lr"])

    def get_last_lr(self):
        return list(self._last_lr)

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(state)


_LRScheduler = LRScheduler          # the older PyTorch name


class StepLR(LRScheduler):
    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, t):
        return base_lr * self.gamma ** (t // self.step_size)


class MultiStepLR(LRScheduler):
    def __init__(self, optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        self.milestones, self.gamma = sorted(milestones), gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, t):
        return base_lr * self.gamma ** bisect.bisect_right(self.milestones, t)


class ExponentialLR(LRScheduler):
    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, t):
        return base_lr * self.gamma ** t


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(t); ``lr_lambda`` may be a list, one function per group."""

    def __init__(self, optimizer, lr_lambda, last_epoch: int = -1):
        n = len(optimizer.param_groups)
        self.lr_lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        super().__init__(optimizer, last_epoch)

    def step(self, epoch=None) -> None:
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        self._last_lr = []
        for group, base, fn in zip(self.optimizer.param_groups, self.base_lrs, self.lr_lambdas):
            group["lr"] = base * fn(self.last_epoch)
            self._last_lr.append(group["lr"])

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}


class CosineAnnealingLR(LRScheduler):
    """SGDR's cosine without restarts (Loshchilov & Hutter 2017, arXiv:1608.03983, eq. 5)."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, t):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2


def constant_then_linear(n_constant: int, n_decay: int):
    """The ``lr_lambda`` of CycleGAN (Zhu et al. 2017, arXiv:1703.10593, Sec. 7.1: "keep the
    same learning rate for the first 100 epochs and linearly decay the rate to zero over the
    next 100 epochs"), as the authors' code writes it:

        f(t) = 1 - max(0, t - n_constant) / (n_decay + 1)

    so f = 1 for t <= n_constant and f falls by 1 / (n_decay + 1) per call after that, to
    1 / (n_decay + 1) at t = n_constant + n_decay (t counts ``scheduler.step()`` calls).
    ``LambdaLR(opt, constant_then_linear(100, 100))`` stepped once per epoch is the paper's.
    """
    if n_constant < 0 or n_decay < 0:
        raise ValueError(f"constant_then_linear: n_constant and n_decay must be >= 0, got "
                         f"{n_constant} and {n_decay}")

    def factor(t: int) -> float:
        return 1.0 - max(0, t - n_constant) / float(n_decay + 1)
    return factor
