"""Finite-difference checks of first and second derivatives (public API).

What is compared
----------------
For a function ``y_1..y_m = fn(x_1..x_n)`` and random upstream gradients
``v_i`` (seeded normal, never all ones: an all-ones cotangent cannot tell a
correct backward from one that, say, forgets to multiply by the upstream
gradient), the analytic vector-Jacobian product

    g_j = sum_i  v_i^T  d y_i / d x_j          (one backward pass)

is compared with central differences of the scalar  f(x) = sum_i <v_i, y_i>:

    g_j[k]  ~  ( f(x + eps e_k) - f(x - eps e_k) ) / (2 eps)

entry by entry for inputs up to ``max_full`` elements (the report names the
input, the index, both values), and along seeded random unit directions d
(``<g, d>`` against the difference quotient along d) for larger ones. All in
float64: with eps = 1e-6 the truncation error is ~eps^2 and the round-off
~1e-16/eps, so agreement to 1e-5 is meaningful.

Also checked: gradient shapes, dtypes and devices; that two backward passes
give identical gradients; that the inputs are unchanged; and that inputs with
``requires_grad=False`` receive no gradient.

``gradgradcheck`` applies the same test to the function
``(x, v) -> grad(fn(x), x, v, create_graph=True)``, i.e. it checks that the
backward pass is itself correctly differentiable (second order).
"""
from __future__ import annotations

import dataclasses
from typing import Callable, List, Optional, Sequence

from tinygen import backend
from tinygen.autograd import Tensor, _run_backward, enable_grad, grad

np = backend.numpy   # host maths for the comparison only

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError", "GradcheckReport", "check_module"]


@dataclasses.dataclass
class Mismatch:
    input_name: str
    index: tuple          # the element, or ("direction", k) for a random direction
    analytic: float
    numeric: float

    def __str__(self):
        where = (f"direction {self.index[1]}" if self.index and self.index[0] == "direction"
                 else f"index {self.index}")
        return (f"{self.input_name} {where}: analytic {self.analytic:.8g} vs numeric "
                f"{self.numeric:.8g} (diff {abs(self.analytic - self.numeric):.3g})")


@dataclasses.dataclass
class GradcheckReport:
    """The outcome of a check. ``bool(report)`` is ``report.passed``."""
    order: int
    input_names: List[str]
    checked: int = 0                     # number of compared values
    max_abs_err: float = 0.0
    max_rel_err: float = 0.0
    mismatches: List[Mismatch] = dataclasses.field(default_factory=list)
    problems: List[str] = dataclasses.field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.mismatches and not self.problems

    def __bool__(self):
        return self.passed

    def __str__(self):
        kind = {1: "gradcheck", 2: "gradgradcheck"}[self.order]
        head = (f"{kind}: {'PASSED' if self.passed else 'FAILED'} — {self.checked} values over "
                f"inputs {', '.join(self.input_names)}; max abs err {self.max_abs_err:.3g}, "
                f"max rel err {self.max_rel_err:.3g}")
        lines = [head] + [f"  problem: {p}" for p in self.problems]
        shown = self.mismatches[:20]
        lines += [f"  mismatch: {m}" for m in shown]
        if len(self.mismatches) > len(shown):
            lines.append(f"  ... and {len(self.mismatches) - len(shown)} more mismatches")
        return "\n".join(lines)


class GradcheckError(AssertionError):
    def __init__(self, report: GradcheckReport):
        super().__init__(str(report))
        self.report = report


def _as_tuple(x):
    if isinstance(x, Tensor) or hasattr(x, "shape"):   # one tensor or one array, not its rows
        return (x,)
    return tuple(x)


def _outputs_of(fn, inputs):
    return [o for o in _as_tuple(fn(*inputs)) if o is not None]


def gradcheck(fn: Callable, inputs, grad_outputs=None, *, eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, max_full: int = 256,
              n_directions: int = 8, seed: int = 0, names: Optional[Sequence[str]] = None,
              raise_exception: bool = True) -> GradcheckReport:
    """Check ``fn``'s first derivatives against central finite differences.

    Args:
        fn: ``fn(*inputs) -> Tensor | sequence of Tensors``. It may also close
            over other tensors listed in ``inputs`` (e.g. a module's parameters):
            entries are perturbed *in place* and restored exactly.
        inputs: a Tensor or sequence of Tensors, float64 where requires_grad.
        grad_outputs: upstream gradients; default seeded normal noise.
        eps, atol, rtol: step and tolerance (|a - n| <= atol + rtol |n|).
        max_full: inputs with at most this many elements are checked entry by
            entry; larger ones along ``n_directions`` random unit directions.
        names: names for the report (default ``input0``, ``input1``, ...).
        raise_exception: raise :class:`GradcheckError` on failure (default).

    Returns:
        A :class:`GradcheckReport`.
    """
    inputs = _as_tuple(inputs)
    names = list(names) if names is not None else [f"input{i}" for i in range(len(inputs))]
    report = GradcheckReport(order=1, input_names=names)
    _check(fn, inputs, grad_outputs, eps, atol, rtol, max_full, n_directions, seed, names, report)
    if raise_exception and not report.passed:
        raise GradcheckError(report)
    return report


def gradgradcheck(fn: Callable, inputs, grad_outputs=None, grad_grad_outputs=None, *,
                  eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                  max_full: int = 256, n_directions: int = 8, seed: int = 0,
                  names: Optional[Sequence[str]] = None,
                  raise_exception: bool = True) -> GradcheckReport:
    """Check second derivatives: gradcheck of ``(x, v) -> d<v, fn(x)>/dx``.

    The first derivative is computed with ``create_graph=True``; its own
    backward (the double backward) is compared with finite differences of the
    first derivative, with respect to both the inputs and the upstream
    gradient ``v``.
    """
    inputs = _as_tuple(inputs)
    names = list(names) if names is not None else [f"input{i}" for i in range(len(inputs))]
    rng = np.random.default_rng(seed + 1)
    outputs = _outputs_of(fn, inputs)
    if grad_outputs is None:
        grad_outputs = [_random_like(o, rng) for o in outputs]
    vs = [_as_float64_leaf(v, o) for v, o in zip(_as_tuple(grad_outputs), outputs)]

    def first_derivative(*args):
        """(x, v) -> sum_i v_i^T d fn(x)_i / dx, with its graph (create_graph=True)."""
        xs, us = args[:len(inputs)], args[len(inputs):]
        diff = [x for x in xs if x.requires_grad]
        with enable_grad():
            ys = _outputs_of(fn, xs)
            pairs = [(y, u) for y, u in zip(ys, us) if y.requires_grad]
            gs = grad([y for y, _ in pairs], diff, [u for _, u in pairs],
                      create_graph=True, allow_unused=True)
        return [g if g is not None else _zeros_like(x) for g, x in zip(gs, diff)]

    all_inputs = tuple(inputs) + tuple(vs)
    all_names = names + [f"grad_output{i}" for i in range(len(vs))]
    report = GradcheckReport(order=2, input_names=all_names)
    _check(first_derivative, all_inputs, grad_grad_outputs, eps, atol, rtol, max_full,
           n_directions, seed + 2, all_names, report)
    if raise_exception and not report.passed:
        raise GradcheckError(report)
    return report


def _as_float64_leaf(v, like):
    """An upstream gradient as a float64 leaf on ``like``'s device (gradgradcheck varies it)."""
    data = backend.to_host(v._data if isinstance(v, Tensor) else v).astype(np.float64)
    return Tensor(backend.to_device(data, like.device), requires_grad=True)


def _random_like(t: Tensor, rng):
    """Seeded standard-normal noise of t's shape, on t's device (float64)."""
    return backend.to_device(rng.standard_normal(t.shape), t.device)


def _zeros_like(t: Tensor) -> Tensor:
    return Tensor(backend.full(t.shape, 0, t.dtype, t.device))      # on t's GPU, not the current one


def _check(fn, inputs, grad_outputs, eps, atol, rtol, max_full, n_directions, seed, names, report):
    rng = np.random.default_rng(seed)
    diff_idx = [i for i, x in enumerate(inputs) if x.requires_grad]
    for i in diff_idx:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: {names[i]} has dtype {inputs[i].dtype}; finite "
                            "differences need float64 inputs: call .double() on the input "
                            "(and on the module) first")
    if not diff_idx:
        raise ValueError("gradcheck: no input has requires_grad=True")
    originals = [backend.to_host(x._data).copy() for x in inputs]

    outputs = _outputs_of(fn, inputs)
    if grad_outputs is None:
        vs = [_random_like(o, rng) for o in outputs]
    else:
        vs = [v._data if isinstance(v, Tensor) else v for v in _as_tuple(grad_outputs)]
    if len(vs) != len(outputs):
        raise ValueError(f"gradcheck: {len(vs)} grad_outputs for {len(outputs)} outputs")
    vs = [backend.to_device(np.asarray(backend.to_host(v), dtype=np.float64), o.device)
          for v, o in zip(vs, outputs)]

    analytic = _analytic(fn, inputs, diff_idx, vs, names, report)
    if analytic is None:
        return
    again = _analytic(fn, inputs, diff_idx, vs, names, report)
    if again is not None and any(not np.array_equal(a, b, equal_nan=True)
                                 for a, b in zip(analytic, again)):
        report.problems.append("two backward passes gave different gradients (non-deterministic "
                               "backward or state kept between calls)")

    def f():
        # Grad mode stays on: fn may itself call grad() (a WGAN-GP penalty as a
        # function of the weights), which needs the graph of its inner forward.
        with enable_grad():
            outs = _outputs_of(fn, inputs)
        return sum(float((backend.to_host(o._data).astype(np.float64) *
                          backend.to_host(v)).sum()) for o, v in zip(outs, vs))

    for slot, i in enumerate(diff_idx):
        x, g = inputs[i], analytic[slot]
        if x.numel() <= max_full:
            _compare_entries(f, x, g, eps, atol, rtol, names[i], report)
        else:
            _compare_directions(f, x, g, eps, atol, rtol, n_directions, rng, names[i], report)

    for i, (x, orig) in enumerate(zip(inputs, originals)):
        if not np.array_equal(backend.to_host(x._data), orig):
            report.problems.append(f"{names[i]} was modified by the function")


def _analytic(fn, inputs, diff_idx, vs, names, report):
    """One backward pass; returns host float64 gradients for the differentiable inputs."""
    for x in inputs:
        x.grad = None
    with enable_grad():
        outputs = _outputs_of(fn, inputs)
    live = [(o, v) for o, v in zip(outputs, vs) if o.requires_grad]
    for o, v in zip(outputs, vs):
        if tuple(v.shape) != o.shape:
            raise ValueError(f"gradcheck: grad_output of shape {tuple(v.shape)} for an output of "
                             f"shape {o.shape}")
    if live:
        # backward() with explicit upstream gradients, accumulating into .grad, so
        # that inputs with requires_grad=False can be seen to receive nothing.
        _run_backward([o for o, _ in live], [Tensor(v) for _, v in live], retain_graph=False,
                      create_graph=False, inputs=None, accumulate=True)
    gs = [inputs[i].grad for i in diff_idx]
    result = []
    for i, g in zip(diff_idx, gs):
        x = inputs[i]
        if g is None:
            result.append(np.zeros(x.shape))
            continue
        if g.shape != x.shape:
            report.problems.append(f"gradient of {names[i]} has shape {g.shape}, input {x.shape}")
            return None
        if g.dtype != x.dtype:
            report.problems.append(f"gradient of {names[i]} has dtype {g.dtype}, input {x.dtype}")
        if g.device != x.device:
            report.problems.append(f"gradient of {names[i]} is on {g.device}, input on {x.device}")
        result.append(backend.to_host(g._data).astype(np.float64))
    for i, x in enumerate(inputs):
        if not x.requires_grad and x.grad is not None:
            report.problems.append(f"{names[i]} has requires_grad=False but received a gradient")
    return result


def _record(report, name, index, a, n, atol, rtol):
    report.checked += 1
    err = abs(a - n)
    report.max_abs_err = max(report.max_abs_err, err)
    report.max_rel_err = max(report.max_rel_err, err / max(abs(n), 1e-12))
    if not err <= atol + rtol * abs(n) or a != a:
        report.mismatches.append(Mismatch(name, index, float(a), float(n)))


def _compare_entries(f, x, g, eps, atol, rtol, name, report):
    """Central difference for every element of x (perturbed in place, restored exactly)."""
    data = x._data
    for index in np.ndindex(*x.shape):
        old = data[index].copy() if hasattr(data[index], "copy") else data[index]
        data[index] = old + eps
        f_plus = f()
        data[index] = old - eps
        f_minus = f()
        data[index] = old
        _record(report, name, index, float(g[index]), (f_plus - f_minus) / (2 * eps), atol, rtol)


def _compare_directions(f, x, g, eps, atol, rtol, n_directions, rng, name, report):
    """Central difference along random unit directions d: <g, d> vs (f(x+eps d) - f(x-eps d))/2eps."""
    old = x._data.copy()
    for k in range(n_directions):
        d = rng.standard_normal(x.shape)
        d /= np.linalg.norm(d)
        d_dev = backend.to_device(d, x.device)
        x._data[...] = old + eps * d_dev
        f_plus = f()
        x._data[...] = old - eps * d_dev
        f_minus = f()
        x._data[...] = old
        _record(report, name, ("direction", k), float((g * d).sum()),
                (f_plus - f_minus) / (2 * eps), atol, rtol)


def check_module(module, x, second_order: bool = True, **kwargs) -> List[GradcheckReport]:
    """Gradcheck a module with respect to its input and every parameter (float64).

    The module and the input are converted to float64 first (a copy of the
    input; the module in place). Returns the first- (and second-) order reports.
    """
    module.double()
    x = Tensor(backend.to_device(np.asarray(backend.to_host(x._data if isinstance(x, Tensor) else x),
                                            dtype=np.float64), _device_of_module(module)),
               requires_grad=True)
    named = list(module.named_parameters())
    inputs = (x,) + tuple(p for _, p in named)
    names = ["input"] + [n for n, _ in named]

    def fn(x, *params):
        # params are the module's own Parameter objects: gradcheck perturbs them in
        # place, so the module already computes with them and only x is passed on.
        return module(x)

    reports = [gradcheck(fn, inputs, names=names, **kwargs)]
    if second_order:
        reports.append(gradgradcheck(fn, inputs, names=names, **kwargs))
    return reports


def _device_of_module(module):
    for p in module.parameters():
        return p.device
    return backend.get_default_device()
