"""gradcheck itself: what it reports, the random-direction path, and the
problems it must detect besides wrong numbers."""
import numpy as np
import pytest

import tinygen as tg
from tinygen.autograd import Function
from tinygen.gradcheck import GradcheckError, gradcheck, gradgradcheck
from tinygen_tests.conftest import t64


class WrongSquare(Function):
    """y = x^2 with a backward that is off by one at every element: gy (2x + 1)."""

    def forward(self, x):
        self.save_for_backward(x)
        return x * x

    def backward(self, gy):
        (x,) = self.saved_tensors
        return gy * (x * 2.0 + 1.0)


def test_report_names_input_index_analytic_and_numeric():
    x = t64([1.0, 2.0])
    w = t64([[0.5, -1.0]])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda a, b: WrongSquare()(a) * b, (x, w), names=["x", "w"])
    report = info.value.report
    assert not report.passed and report.order == 1
    bad = [m for m in report.mismatches if m.input_name == "x"]
    assert [m.index for m in bad] == [(0,), (1,)]
    assert all(abs(m.analytic - m.numeric) > 1e-3 for m in bad)
    text = str(info.value)
    assert "FAILED" in text and "x index (0,)" in text and "analytic" in text and "numeric" in text
    assert all(m.input_name != "w" for m in report.mismatches)      # w's gradient is right


def test_passing_report_counts_values():
    x = t64(np.arange(6.0).reshape(2, 3))
    report = gradcheck(lambda t: (t * t).sum(0), x)
    assert report.passed and bool(report) and report.checked == 6
    assert report.max_abs_err < 1e-6 and "PASSED" in str(report)


def test_random_directions_for_large_inputs():
    x = t64(np.random.default_rng(0).standard_normal(300))
    report = gradcheck(lambda t: t.tanh(), x, max_full=256, n_directions=5)
    assert report.passed and report.checked == 5
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: WrongSquare()(t), x, max_full=256, n_directions=5)
    assert "direction" in str(info.value)


def test_detects_an_input_modified_in_place():
    x = t64([1.0, 2.0])

    def fn(t):
        t.data *= 1.0000001            # a sneaky in-place update of the input
        return t * 2.0
    with pytest.raises(GradcheckError, match="modified"):
        gradcheck(fn, x)


def test_detects_non_determinism():
    state = {"calls": 0}

    class Flaky(Function):
        def forward(self, x):
            return x * 1.0

        def backward(self, gy):
            state["calls"] += 1
            return gy * (1.0 + 1e-3 * state["calls"])

    with pytest.raises(GradcheckError, match="different gradients"):
        gradcheck(lambda t: Flaky()(t), t64([1.0, 2.0]), atol=1e-1, rtol=1e-1)


def test_float32_input_is_a_clear_type_error():
    with pytest.raises(TypeError, match=r"float32.*\.double\(\)"):
        gradcheck(lambda t: t * 2.0, tg.ones(2, requires_grad=True))


def test_no_differentiable_input_is_an_error():
    with pytest.raises(ValueError, match="requires_grad"):
        gradcheck(lambda t: t * 2.0, t64([1.0], requires_grad=False))


def test_raise_exception_false_returns_the_report():
    report = gradcheck(lambda t: WrongSquare()(t), t64([1.0, 2.0]), raise_exception=False)
    assert not report.passed and len(report.mismatches) == 2
    report2 = gradgradcheck(lambda t: WrongSquare()(t), t64([1.0]), raise_exception=False)
    assert report2.order == 2


def test_wrong_gradient_shape_or_count_is_reported():
    class BadShape(Function):
        def forward(self, x):
            return x.sum()

        def backward(self, gy):
            return gy          # () instead of x's shape
    with pytest.raises(RuntimeError, match="shape"):
        gradcheck(lambda t: BadShape()(t), t64([1.0, 2.0]))


def test_gradient_to_an_input_without_requires_grad_is_a_problem():
    x, c = t64([1.0, 2.0]), t64([3.0, 4.0], requires_grad=False)
    assert gradcheck(lambda a, b: a * b, (x, c)).passed     # c: no grad expected, none given


def test_multiple_outputs_and_explicit_grad_outputs():
    x = t64([0.5, 1.5])
    report = gradcheck(lambda t: (t.exp(), t * t), x,
                       grad_outputs=[np.array([1.0, -2.0]), np.array([0.3, 0.7])])
    assert report.passed
    with pytest.raises(ValueError, match="1 grad_outputs for 2 outputs"):
        gradcheck(lambda t: (t.exp(), t * t), x, grad_outputs=[np.ones(2)])


def test_gradgradcheck_checks_the_upstream_gradient_too():
    report = gradgradcheck(lambda t: t.tanh(), t64([0.1, -0.4]))
    assert report.passed and "grad_output0" in report.input_names and report.checked == 4
