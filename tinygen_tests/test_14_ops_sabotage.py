"""Sabotage: a deliberately wrong backward must make gradcheck fail.

A gradient check that passes a broken backward is worse than none. For a
sample of primitives from every op family we monkeypatch ``Function.backward``
to (a) return zeros, (b) ignore the upstream gradient (use ones), (c) double
the result, and require :class:`GradcheckError`. A backward that is right to
first order but not differentiable correctly (Tanh using a *detached* y, the
classic cached-array bug) must pass gradcheck and fail gradgradcheck.
"""
import numpy as np
import pytest

import tinygen as tg
from tinygen import functional as F
from tinygen.gradcheck import GradcheckError, gradcheck, gradgradcheck
from tinygen.ops import elementwise as E, linalg as L, reduction as R, shape as S
from tinygen_tests.conftest import t64

rng = np.random.default_rng(0)


def _x(*shape, positive=False):
    a = rng.uniform(0.5, 2.0, shape) if positive else rng.standard_normal(shape)
    return t64(a)


# (Function class whose backward is broken, function under test, inputs)
CASES = {
    "Mul": (E.Mul, lambda a, b: a * b, lambda: (_x(2, 3), _x(3))),
    "Exp": (E.Exp, tg.exp, lambda: (_x(2, 3),)),
    "Tanh": (E.Tanh, tg.tanh, lambda: (_x(4),)),
    "Div": (E.Div, lambda a, b: a / b, lambda: (_x(3), _x(3, positive=True))),
    "MatMul": (L.MatMul, lambda a, b: a @ b, lambda: (_x(2, 3), _x(3, 2))),
    "Sum": (R.Sum, lambda a: a.sum(1), lambda: (_x(2, 3),)),
    "Max": (R.Max, lambda a: a.max(0).values, lambda: (t64([[1.0, -2.0], [0.5, 3.0]]),)),
    "GetItem": (S.GetItem, lambda a: a[[0, 2, 2]], lambda: (_x(3, 2),)),
    "Permute": (S.Permute, lambda a: a.permute(1, 0), lambda: (_x(2, 3),)),
    "Concat": (S.Concat, lambda a, b: tg.concat([a, b], 1), lambda: (_x(2, 1), _x(2, 2))),
    # composites: breaking one primitive inside must show
    "logsumexp(Log)": (E.Log, lambda a: tg.logsumexp(a, 1), lambda: (_x(2, 3),)),
    "softmax(Exp)": (E.Exp, lambda a: F.softmax(a, 1), lambda: (_x(2, 3),)),
    "cross_entropy(Sub)": (E.Sub, lambda a: F.cross_entropy(a, np.array([0, 2])), lambda: (_x(2, 3),)),
}


def _zeros(orig):
    def backward(self, *gys):
        out = orig(self, *gys)
        return tuple(None if g is None else g * 0.0 for g in out) if isinstance(out, tuple) else out * 0.0
    return backward


def _ignore_upstream(orig):
    def backward(self, *gys):
        return orig(self, *(tg.ones(g.shape, dtype=g.dtype, device=g.device) for g in gys))
    return backward


def _double(orig):
    def backward(self, *gys):
        out = orig(self, *gys)
        return tuple(None if g is None else g * 2.0 for g in out) if isinstance(out, tuple) else out * 2.0
    return backward


SABOTAGES = {"zeros": _zeros, "ignore_upstream": _ignore_upstream, "double": _double}


@pytest.mark.parametrize("case", sorted(CASES))
def test_correct_backward_passes(case):
    _, fn, make = CASES[case]
    assert gradcheck(fn, make()).passed
    assert gradgradcheck(fn, make()).passed


@pytest.mark.parametrize("sabotage", sorted(SABOTAGES))
@pytest.mark.parametrize("case", sorted(CASES))
def test_sabotaged_backward_is_caught(case, sabotage, monkeypatch):
    cls, fn, make = CASES[case]
    monkeypatch.setattr(cls, "backward", SABOTAGES[sabotage](cls.backward))
    with pytest.raises(GradcheckError) as info:
        gradcheck(fn, make())
    assert "mismatch" in str(info.value)


def test_all_ones_cotangent_would_miss_an_ignored_upstream_gradient(monkeypatch):
    """Why gradcheck's default upstream gradient is random: with ones, ignoring gy is invisible."""
    monkeypatch.setattr(E.Exp, "backward", _ignore_upstream(E.Exp.backward))
    x = _x(2, 3)
    assert gradcheck(tg.exp, x, grad_outputs=np.ones((2, 3))).passed     # the blind spot
    with pytest.raises(GradcheckError):
        gradcheck(tg.exp, x)                                             # default: random


def test_default_upstream_gradient_is_random_normal_not_ones(monkeypatch):
    seen = []
    orig = E.Exp.backward

    def spy(self, gy):
        seen.append(gy.data.copy())
        return orig(self, gy)
    monkeypatch.setattr(E.Exp, "backward", spy)
    gradcheck(tg.exp, _x(50))
    gy = seen[0]
    assert not np.allclose(gy, 1.0)
    assert abs(gy.mean()) < 0.5 and 0.6 < gy.std() < 1.4      # standard normal-ish
    assert len(np.unique(gy)) == 50


def _tanh_backward_detached(self, gy):
    y = self.saved_tensors[0].detach()  # right value, but a constant to the next backward
    return gy * (1.0 - y * y)


def test_first_order_correct_second_order_wrong_is_caught_by_gradgradcheck(monkeypatch):
    monkeypatch.setattr(E.Tanh, "backward", _tanh_backward_detached)
    x = _x(4)
    assert gradcheck(tg.tanh, x).passed
    with pytest.raises(GradcheckError) as info:
        gradgradcheck(tg.tanh, x)
    assert "input0" in str(info.value)


def test_cached_array_in_softplus_backward_is_caught_by_gradgradcheck(monkeypatch):
    """The batch-norm-style bug: a smooth quantity cached as a raw array in backward."""
    def cached(self, gy):
        x = self.saved_tensors[0].data
        return gy * tg.Tensor(1 / (1 + np.exp(-x)))
    monkeypatch.setattr(E.Softplus, "backward", cached)
    x = _x(3)
    assert gradcheck(tg.softplus, x).passed
    with pytest.raises(GradcheckError):
        gradgradcheck(tg.softplus, x)
