"""Optional PyTorch oracle for every op: forward and gradient in float64.

Skipped when torch is not installed. Finite differences (the other test
files) are the in-repo oracle; this one catches convention differences
(tie rules, kinks, broadcasting) that a gradcheck cannot see.
"""
import numpy as np
import pytest

import tinygen as tg
from tinygen_tests.conftest import assert_allclose

torch = pytest.importorskip("torch")

rng = np.random.default_rng(11)
A = rng.standard_normal((2, 3, 4))
B = rng.standard_normal((3, 1))
P = rng.uniform(0.3, 2.0, (2, 3, 4))
M = rng.standard_normal((2, 4, 3))
MASK = A > 0

# name: (fn(x, y, lib) -> output, x array, y array or None); lib is tg or torch
CASES = {
    "add": (lambda x, y, L: x + y, A, B[:, :1].reshape(3, 1)),
    "sub": (lambda x, y, L: x - y, A, B),
    "mul": (lambda x, y, L: x * y, A, B),
    "div": (lambda x, y, L: x / y, A, P),
    "neg": (lambda x, y, L: -x, A, None),
    "pow_scalar": (lambda x, y, L: x ** 2.5, P, None),
    "pow_tensor": (lambda x, y, L: x ** y, P, A),
    "rpow": (lambda x, y, L: 2.0 ** x, A, None),
    "exp": (lambda x, y, L: L.exp(x), A, None),
    "log": (lambda x, y, L: L.log(x), P, None),
    "sqrt": (lambda x, y, L: L.sqrt(x), P, None),
    "abs": (lambda x, y, L: L.abs(x), np.where(A == 0, 1.0, A), None),
    "maximum": (lambda x, y, L: L.maximum(x, y), A, np.round(A * 2) / 2),   # with ties
    "minimum": (lambda x, y, L: L.minimum(x, y), A, np.round(A * 2) / 2),
    "clip": (lambda x, y, L: L.clamp(x, -0.5, 0.5), A, None),
    "where": (lambda x, y, L: L.where(L.tensor(MASK) if L is tg else torch.tensor(MASK), x, y), A, P),
    "tanh": (lambda x, y, L: L.tanh(x), A, None),
    "sigmoid": (lambda x, y, L: L.sigmoid(x * 30), A, None),
    "relu": (lambda x, y, L: L.relu(x), A, None),
    "leaky_relu": (lambda x, y, L: (tg.leaky_relu(x, 0.2) if L is tg
                                    else torch.nn.functional.leaky_relu(x, 0.2)), A, None),
    "softplus": (lambda x, y, L: (tg.softplus(x * 15, 2.0, 10.0) if L is tg
                                  else torch.nn.functional.softplus(x * 15, 2.0, 10.0)), A, None),
    "sum": (lambda x, y, L: x.sum((0, 2), keepdim=True), A, None),
    "mean": (lambda x, y, L: x.mean(1), A, None),
    "var": (lambda x, y, L: x.var(2), A, None),
    "var_biased": (lambda x, y, L: x.var(0, correction=0), A, None),
    "max_dim": (lambda x, y, L: x.amax(1), A, None),
    "max_ties": (lambda x, y, L: x.amax(1), np.round(A), None),
    "min_all": (lambda x, y, L: x.amin(), np.round(A), None),
    "logsumexp": (lambda x, y, L: L.logsumexp(x * 100, 2) if L is torch else tg.logsumexp(x * 100, 2), A, None),
    "matmul": (lambda x, y, L: x @ y, A, M[:1]),
    "matmul_vec": (lambda x, y, L: x @ y, A, M[0, :, 0]),
    "matmul_vec_left": (lambda x, y, L: y @ x, A, M[0, 0, :3].copy()),
    "reshape": (lambda x, y, L: x.reshape(4, 6), A, None),
    "flatten": (lambda x, y, L: x.flatten(1), A, None),
    "permute": (lambda x, y, L: x.permute(2, 0, 1), A, None),
    "transpose": (lambda x, y, L: x.transpose(0, 2), A, None),
    "squeeze": (lambda x, y, L: x[:, :1].squeeze(1), A, None),
    "unsqueeze": (lambda x, y, L: x.unsqueeze(-1), A, None),
    "expand": (lambda x, y, L: x[:, :1].expand(2, 5, 4), A, None),
    "concat": (lambda x, y, L: L.cat([x, x * 2], 1), A, None),
    "stack": (lambda x, y, L: L.stack([x, x * 2], 3), A, None),
    "split": (lambda x, y, L: x.split(3, 2)[1], A, None),
    "split_sections": (lambda x, y, L: x.split([1, 3], 2)[1], A, None),
    "chunk": (lambda x, y, L: x.chunk(2, 1)[1], A, None),
    "getitem_basic": (lambda x, y, L: x[1, ::2, None, ...], A, None),
    "getitem_array": (lambda x, y, L: x[:, [2, 0, 2, 2]], A, None),
    "getitem_mask": (lambda x, y, L: x[L.tensor(MASK) if L is tg else torch.tensor(MASK)], A, None),
    "getitem_ellipsis": (lambda x, y, L: x[..., 1:3], A, None),
    "flip": (lambda x, y, L: x.flip((0, 2)), A, None),
    "norm": (lambda x, y, L: x.norm(dim=1), A, None),
    "std": (lambda x, y, L: x.std(1), A, None),
}


def _run(lib, fn, x_np, y_np):
    if lib is tg:
        x = tg.tensor(x_np, requires_grad=True)
        y = None if y_np is None else tg.tensor(np.asarray(y_np, dtype=np.float64), requires_grad=True)
    else:
        x = torch.tensor(x_np, requires_grad=True)
        y = None if y_np is None else torch.tensor(np.asarray(y_np, dtype=np.float64), requires_grad=True)
    out = fn(x, y, lib)
    g = np.random.default_rng(5).standard_normal(tuple(out.shape))
    out.backward(tg.tensor(g) if lib is tg else torch.tensor(g))
    val = out.detach().cpu().numpy()                       # the same spelling in both libraries
    grads = [None if t is None or t.grad is None else t.grad.cpu().numpy() for t in (x, y)]
    return val, grads


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_torch(name):
    fn, x_np, y_np = CASES[name]
    val, grads = _run(tg, fn, x_np, y_np)
    tval, tgrads = _run(torch, fn, x_np, y_np)
    assert_allclose(val, tval, rtol=1e-10, atol=1e-12)
    for g, tg_ in zip(grads, tgrads):
        if tg_ is None:
            assert g is None or not np.any(g)
        else:
            assert_allclose(g, tg_, rtol=1e-9, atol=1e-12)
