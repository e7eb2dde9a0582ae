"""Autograd semantics: the graph, backward, grad(), retain_graph, create_graph, grad modes.

Ordered as a reader learns: recording a graph, one backward, accumulation,
freeing the graph, gradients of gradients, then the WGAN-GP penalty as the
real-world test of create_graph.
"""
import gc
import time
import weakref

import numpy as np
import pytest

import tinygen as tg
from tinygen import functional as F, nn
from tinygen.autograd import Function, Tensor
from tinygen.gradcheck import gradcheck, gradgradcheck
from tinygen_tests.conftest import assert_allclose, assert_array_equal, check_grads, host, t64


# ----------------------------------------------------------------------------
# recording a graph
# ----------------------------------------------------------------------------

def test_graph_is_recorded_only_when_an_input_requires_grad():
    a, b = t64([1.0, 2.0]), t64([3.0, 4.0], requires_grad=False)
    y = a * b
    assert y.requires_grad and not y.is_leaf and type(y.grad_fn).__name__ == "Mul"
    assert y.grad_fn.inputs[0] is a and y.grad_fn.inputs[1] is b
    z = b * 2.0
    assert not z.requires_grad and z.is_leaf and z.grad_fn is None


def test_backward_on_non_scalar_without_gradient_raises():
    y = t64([1.0, 2.0]) * 2.0
    with pytest.raises(RuntimeError, match=r"single-element.*\(2,\).*gradient="):
        y.backward()
    with pytest.raises(RuntimeError, match="shape"):
        y.backward(tg.ones(3, dtype=tg.float64))


def test_backward_on_a_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.ones(2).sum().backward()


def test_leaf_grad_accumulates_across_backward_calls():
    x = t64([1.0, 2.0])
    (x * x).sum().backward()
    (x * x).sum().backward()
    assert_array_equal(x.grad.data, [4.0, 8.0])


def test_leaf_grads_do_not_alias_each_other_or_the_upstream_gradient():
    # y = a + b passes gy unchanged to both: a.grad and b.grad must be separate arrays,
    # or an in-place update of one (gradient clipping) would change the other.
    a, b = t64([1.0, 2.0]), t64([3.0, 4.0])
    g = tg.tensor(np.array([1.0, 1.0]))
    (a + b).backward(g)
    a.grad.data *= 10.0
    assert_array_equal(b.grad.data, [1.0, 1.0])
    assert_array_equal(g.data, [1.0, 1.0])
    x = t64([1.0])
    x.backward(tg.tensor(np.array([3.0])))          # a leaf's own backward
    assert x.grad.item() == 3.0


def test_diamond_graph_sums_both_paths():
    # y = (x*x) * sin-free shared h:  h = x^2;  y = h * h + h  ->  dy/dx = (2h + 1) 2x
    x = t64([0.5, -1.5, 2.0])
    h = x * x
    y = (h * h + h).sum()
    y.backward()
    assert_allclose(x.grad.data, (2 * x.data ** 2 + 1) * 2 * x.data)
    assert gradgradcheck(lambda t: (t * t) * (t * t) + t * t, x).passed


@pytest.mark.skipif(tg.get_default_device() != "cpu", reason="times the host engine: under the "
                    "stand-in pass the 20 s bar measures the stand-in's checks and the load")
def test_long_chain_backward_is_iterative_and_fast():
    # The engine's own cost, so on the host: the stand-in GPU's Python wrapper per kernel
    # would time the stand-in (a real GPU spends ~10 us a launch: ~2 s for these 200k kernels).
    x = tg.tensor([1.5], dtype=tg.float64, device="cpu", requires_grad=True)
    y = x
    for _ in range(100_000):
        y = -y
    start = time.perf_counter()
    y.backward()
    elapsed = time.perf_counter() - start
    assert x.grad.item() == 1.0            # an even number of negations
    assert elapsed < 20.0, f"backward over 100k ops took {elapsed:.1f}s"


def test_long_chain_can_be_dropped_without_recursion_error():
    x = t64([1.0])
    y = -x
    first = weakref.ref(y.grad_fn)        # the Neg next to the leaf, at the bottom of the chain
    for _ in range(99_999):
        y = -y
    assert y.item() == 1.0 and y.grad_fn is not first()    # 100,000 negations
    del y                                 # freeing a deep graph must not recurse...
    assert first() is None                # ...and must free all of it
    assert x.grad is None and x.item() == 1.0


# ----------------------------------------------------------------------------
# broadcasting: the engine sums each gradient down to its input's shape
# ----------------------------------------------------------------------------

class PlainAdd(Function):
    """y = a + b with broadcasting; backward returns gy for both, of the *output's* shape."""

    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        return gy, gy


def test_engine_sums_broadcast_gradients_down_to_each_input():
    rng = np.random.default_rng(0)
    a, b = t64(rng.standard_normal((2, 1, 3))), t64(rng.standard_normal(3))
    v = rng.standard_normal((2, 4, 3))
    y = PlainAdd()(a, b) * tg.tensor(np.ones((1, 4, 1)))      # (2, 4, 3)
    y.backward(tg.tensor(v))
    assert_allclose(a.grad.data, v.sum(1, keepdims=True))
    assert_allclose(b.grad.data, v.sum((0, 1)))
    check_grads(lambda a, b: PlainAdd()(a, b) * 1.5, (a, b))  # sum_to is differentiable too


def test_a_gradient_of_a_wrong_shape_names_the_function_input_and_shapes():
    class Wrong(Function):
        def forward(self, a, b):
            return a + b

        def backward(self, gy):
            return gy, gy[:, :2]                       # (2, 2) for an input of shape (3,)

    y = Wrong()(t64(np.zeros((2, 3))), t64(np.zeros(3)))
    with pytest.raises(RuntimeError, match=r"Wrong\.backward .* shape \(2, 2\) for input 1 "
                                           r"of shape \(3,\)"):
        y.backward(tg.ones(2, 3, dtype=tg.float64))


def test_no_backward_reduces_broadcast_gradients_itself():
    """The engine is the one place: sum_to appears nowhere else in the library."""
    import pathlib
    root = pathlib.Path(tg.__file__).parent
    users = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                   if "sum_to(" in p.read_text() or "unbroadcast" in p.read_text())
    assert users == ["autograd.py", "ops/broadcast.py"]


# ----------------------------------------------------------------------------
# grad()
# ----------------------------------------------------------------------------

def test_grad_returns_without_accumulating():
    x = t64([1.0, 2.0])
    (g,) = tg.grad((x ** 3).sum(), x)
    assert_allclose(g.data, 3 * x.data ** 2)
    assert x.grad is None and g.grad_fn is None


def test_grad_allow_unused():
    x, z = t64([1.0]), t64([2.0])
    y = (x * 3.0).sum()
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        tg.grad(y, [x, z], retain_graph=True)
    gx, gz = tg.grad(y, [x, z], allow_unused=True)
    assert gx.item() == 3.0 and gz is None


def test_grad_with_respect_to_a_non_leaf():
    x = t64([1.0, 2.0])
    h = x * x
    y = (h * 3.0 + h.exp()).sum()
    (gh,) = tg.grad(y, h)
    assert_allclose(gh.data, 3.0 + np.exp(h.data))


def test_grad_with_explicit_grad_outputs_and_several_outputs():
    x = t64([1.0, 2.0])
    y1, y2 = x * 2.0, x * x
    v1, v2 = np.array([1.0, -1.0]), np.array([0.5, 2.0])
    (g,) = tg.grad([y1, y2], x, [tg.tensor(v1), tg.tensor(v2)])
    assert_allclose(g, 2 * v1 + 2 * host(x) * v2)


def test_grad_errors():
    x = t64([1.0])
    with pytest.raises(RuntimeError, match="inputs\\[0\\] does not require grad"):
        tg.grad(x * 2.0, tg.ones(1))
    with pytest.raises(RuntimeError, match="outputs\\[0\\] does not require grad"):
        tg.grad(tg.ones(1) * 2.0, x)
    with pytest.raises(ValueError, match="2 entries for 1 outputs"):
        tg.grad(x * 2.0, x, [tg.ones(1), tg.ones(1)])


# ----------------------------------------------------------------------------
# freeing the graph, retain_graph
# ----------------------------------------------------------------------------

def test_second_backward_without_retain_graph_raises_a_clear_error():
    x = t64([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_lets_gradients_accumulate_twice():
    x = t64([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    once = x.grad.data.copy()
    y.backward()
    assert_allclose(x.grad.data, 2 * once)
    assert_allclose(once, np.exp(x.data) * (1 + x.data))


def test_grad_frees_the_graph_unless_retained():
    x = t64([1.0, 2.0])
    y = (x * x).sum()
    tg.grad(y, x)
    with pytest.raises(RuntimeError, match="second time"):
        tg.grad(y, x)


# ----------------------------------------------------------------------------
# saved tensors: what a backward keeps, and when it is released
# ----------------------------------------------------------------------------

class ExpAndSquare(Function):
    """Two outputs, (e^x, x^2), both saved: backward needs y0 = e^x and x."""

    def forward(self, x):
        y0, y1 = np.exp(x), x * x
        self.save_for_backward(x, y0, y1)
        return y0, y1

    def backward(self, g0, g1):
        x, y0, y1 = self.saved_tensors
        return g0 * y0 + g1 * 2.0 * x


def test_saved_tensors_are_the_input_and_output_tensors_of_the_graph():
    x = t64([0.5, -1.0])
    y0, y1 = ExpAndSquare()(x)
    sx, s0, s1 = y0.grad_fn.saved_tensors
    assert sx is x                                     # an input: the tensor itself
    for s, y, i in ((s0, y0, 0), (s1, y1, 1)):         # an output: the same graph node
        assert s.data is y.data and s.grad_fn is y.grad_fn and s._output_index == i
        assert s.requires_grad


def test_two_output_function_whose_caller_drops_output_1():
    """The bug weakref'd outputs had: output 1 freed before backward, yet backward needs it."""
    x = t64([0.5, -1.0, 2.0])
    y0 = ExpAndSquare()(x)[0]             # output 1 is never referenced by the caller
    gc.collect()
    v = np.array([1.0, -2.0, 0.5])
    (y0 * tg.tensor(v)).sum().backward()
    assert_allclose(x.grad, v * np.exp(host(x)))
    check_grads(lambda t: ExpAndSquare()(t)[0], t64([0.3, -0.4]))     # first and second order
    check_grads(lambda t: ExpAndSquare()(t)[1], t64([0.3, -0.4]))


def test_backward_through_a_freed_graph_raises_a_clear_error():
    x = t64([0.5, -1.0])
    y0, y1 = ExpAndSquare()(x)
    fn = y0.grad_fn
    (y0.sum() + y1.sum()).backward()
    assert fn.inputs is None
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        fn.saved_tensors
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y0.sum().backward()


def test_retain_graph_keeps_saved_tensors_for_a_second_backward():
    x = t64([0.5, -1.0])
    y0, y1 = ExpAndSquare()(x)
    loss = (y0 + y1).sum()
    loss.backward(retain_graph=True)
    once = x.grad.data.copy()
    assert len(y0.grad_fn.saved_tensors) == 3
    loss.backward()                                    # frees this time
    assert_allclose(once, np.exp(x.data) + 2 * x.data)
    assert_allclose(x.grad.data, 2 * once)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()


def test_saving_an_array_that_is_neither_input_nor_output_is_refused():
    class CachesAnIntermediate(Function):
        def forward(self, x):
            s = 1 / (1 + np.exp(-x))                   # depends on x: a constant to backward
            self.save_for_backward(s)
            return x * s

    with pytest.raises(TypeError, match="CachesAnIntermediate.*neither an input nor an output"):
        CachesAnIntermediate()(t64([1.0]))
    with tg.no_grad():                                 # nothing is recorded: nothing to check
        CachesAnIntermediate()(t64([1.0]))


def test_saved_inputs_tell_a_tensor_from_its_detached_copy():
    """x and x.detach() share one array; backward must get the detached one where it was used."""
    x = t64([1.0, 2.0])
    (g,) = tg.grad((x * x.detach()).sum(), x, create_graph=True)
    assert_array_equal(g.data, x.data)
    assert not g.requires_grad            # d/dx (x c) = c: a constant, no second derivative
    (g2,) = tg.grad((x.detach() * x * x).sum(), x, create_graph=True)
    (h,) = tg.grad(g2.sum(), x)
    assert_allclose(h.data, 2 * x.data)     # d/dx 2 c x = 2 c, c = x


def test_a_function_nobody_saves_for_keeps_nothing():
    x = t64([1.0, 2.0])
    y = x + 1.0
    assert y.grad_fn.saved_tensors == ()
    with pytest.raises(RuntimeError, match="output 0 was not saved"):
        y.grad_fn.output(0)


def _big():
    return t64(np.random.default_rng(0).standard_normal(100_000))


@pytest.mark.parametrize("run_backward", ["backward", "retain_graph", "no_backward"])
def test_graph_and_its_arrays_are_freed_by_reference_counting(run_backward):
    """No reference cycles: with the cycle collector off, dropping the last output frees the
    whole graph, its saved tensors and their arrays, whether or not backward ran."""
    x = _big()
    gc.collect()
    gc.disable()
    try:
        h = x.exp()                       # saves its output (800 KB)
        y = (h * h).sum()                 # Mul saves h twice
        refs = [weakref.ref(h), weakref.ref(h.data), weakref.ref(h.grad_fn),
                weakref.ref(y.grad_fn)]
        del h
        if run_backward == "backward":
            y.backward()                  # frees the graph: h and Exp go at once, y stays
            assert [r() is None for r in refs] == [True, True, True, False]
        else:
            if run_backward == "retain_graph":
                y.backward(retain_graph=True)
            assert all(r() is not None for r in refs)    # the graph lives as long as y
        del y
        assert [r() for r in refs] == [None] * 4
    finally:
        gc.enable()
    if run_backward != "no_backward":
        assert_allclose(x.grad.data, 2 * np.exp(2 * x.data))


# ----------------------------------------------------------------------------
# higher order: create_graph
# ----------------------------------------------------------------------------

def test_third_derivative_of_x_to_the_fourth():
    x = t64([0.5, -1.0, 2.0])
    y = (x ** 4).sum()
    (g1,) = tg.grad(y, x, create_graph=True)
    (g2,) = tg.grad(g1.sum(), x, create_graph=True)
    (g3,) = tg.grad(g2.sum(), x, create_graph=True)
    (g4,) = tg.grad(g3.sum(), x)
    assert_allclose(g1.data, 4 * x.data ** 3)
    assert_allclose(g2.data, 12 * x.data ** 2)
    assert_allclose(g3.data, 24 * x.data)
    assert_allclose(g4.data, [24.0, 24.0, 24.0])


def test_higher_derivatives_of_tanh_and_exp_log():
    x = t64([0.3, -0.7])
    (g1,) = tg.grad(x.tanh().sum(), x, create_graph=True)
    (g2,) = tg.grad(g1.sum(), x, create_graph=True)
    (g3,) = tg.grad(g2.sum(), x)
    t = np.tanh(x.data)
    assert_allclose(g2.data, -2 * t * (1 - t ** 2))
    assert_allclose(g3.data, -2 * (1 - t ** 2) ** 2 + 4 * t ** 2 * (1 - t ** 2))


def test_backward_with_create_graph_gives_differentiable_leaf_grad():
    x = t64([2.0])
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    (gg,) = tg.grad(x.grad.sum(), x)
    assert gg.item() == pytest.approx(12.0)


# ----------------------------------------------------------------------------
# grad modes and detach
# ----------------------------------------------------------------------------

def test_no_grad_enable_grad_set_grad_enabled_as_contexts():
    x = t64([1.0])
    with tg.no_grad():
        assert not (x * 2.0).requires_grad and not tg.is_grad_enabled()
        with tg.enable_grad():
            assert (x * 2.0).requires_grad
        assert not (x * 2.0).requires_grad
    assert tg.is_grad_enabled()
    with tg.set_grad_enabled(False):
        assert not (x * 2.0).requires_grad
    with tg.set_grad_enabled(True):
        assert (x * 2.0).requires_grad


def test_grad_modes_as_decorators_and_restored_after_an_exception():
    x = t64([1.0])

    @tg.no_grad()
    def f():
        return x * 2.0

    @tg.set_grad_enabled(False)
    def g():
        raise KeyError("boom")

    assert not f().requires_grad
    with pytest.raises(KeyError):
        g()
    assert tg.is_grad_enabled() and (x * 2.0).requires_grad


def test_detach_cuts_the_graph_and_shares_data():
    x = t64([1.0, 2.0])
    d = (x * 3.0).detach()
    assert d.is_leaf and not d.requires_grad
    y = (x * d).sum()
    y.backward()
    assert_allclose(x.grad.data, d.data)


def test_requires_grad_only_for_floats():
    with pytest.raises(TypeError, match="floating"):
        tg.tensor([1, 2]).requires_grad_()


# ----------------------------------------------------------------------------
# WGAN-GP: the gradient penalty is a second-order computation
# ----------------------------------------------------------------------------

def _critic():
    tg.manual_seed(3)
    return nn.Sequential(nn.Linear(2, 5), nn.Tanh(), nn.Linear(5, 1)).double()


def _penalty(critic, x_hat):
    """lambda E[(||grad_x D(x_hat)||_2 - 1)^2]  (Gulrajani et al. 2017, arXiv:1704.00028, eq. 3)."""
    (g,) = tg.grad(critic(x_hat).sum(), x_hat, create_graph=True)   # (N, 2)
    norm = (g * g).sum(1).sqrt()                                      # (N,)
    return 10.0 * ((norm - 1.0) ** 2).mean()


def test_gradient_penalty_parameter_gradients_match_finite_differences():
    critic = _critic()
    x_hat = t64(np.random.default_rng(0).standard_normal((4, 2)))
    params = list(critic.parameters())
    # the penalty as a function of the weights (and of x_hat), first and second order
    report = gradcheck(lambda *ps: _penalty(critic, x_hat), [x_hat] + params)
    assert report.passed and report.checked == 8 + 10 + 5 + 5 + 1
    assert gradgradcheck(lambda *ps: _penalty(critic, x_hat), params).passed


def test_gradient_penalty_backward_fills_parameter_grads():
    critic = _critic()
    x_hat = t64(np.random.default_rng(1).standard_normal((4, 2)))
    _penalty(critic, x_hat).backward()
    w = critic[0].weight
    assert w.grad is not None and np.abs(w.grad.data).sum() > 0
    # compare one entry with a central difference
    eps, idx = 1e-6, (2, 1)
    old = w.data[idx]
    w.data[idx] = old + eps
    with tg.enable_grad():
        fp = _penalty(critic, x_hat).item()
    w.data[idx] = old - eps
    fm = _penalty(critic, x_hat).item()
    w.data[idx] = old
    assert w.grad[idx].item() == pytest.approx((fp - fm) / (2 * eps), rel=1e-5, abs=1e-8)


def test_function_output_accessor_and_repr():
    x = t64([1.0])
    y = x.exp()
    out = y.grad_fn.output(0)             # the saved output, as a tensor of the same graph node
    assert out.data is y.data and out.grad_fn is y.grad_fn and out._output_index == 0
    assert "grad_fn=<Exp>" in repr(y)
    assert isinstance(y, Tensor)
