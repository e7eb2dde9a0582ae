"""The fixed Python cost of one Function call, measured on tiny tensors, vs PyTorch.

    python benchmarks/engine_overhead.py [--repeats 7] [--ops 200] [--threads 1]

On tiny tensors the arithmetic is free and what remains is the bookkeeping
per op: wrapping scalars, the device check, creating the output Tensor,
recording the graph (tinygen/autograd.py, ``Function.__call__``), and in
backward the topological sort and gradient accumulation (``_run_backward``).
Three measurements, each in tinygen and (when installed) PyTorch:

* chain forward:   ``--ops`` element-wise ops on a (4,) tensor, no graph
                   (under no_grad / torch.no_grad): the cost of one op call;
* chain fwd+bwd:   the same chain with a graph, then backward: the cost of
                   one recorded op plus its share of backward;
* MLP step:        a 2-layer MLP (32 -> 64 -> 1, ReLU, batch 16), MSE loss,
                   backward and an Adam step: a whole tiny training step,
                   where nearly all the time is per-op overhead.

Timings are best of ``--repeats`` after warm-up, in microseconds of process
CPU time (``time.process_time``): everything here is single-threaded, and CPU
time is far less disturbed than wall time by other jobs on a shared machine.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402  (a benchmark script, not library code)

import tinygen as tg  # noqa: E402
from tinygen import nn, optim  # noqa: E402

import timing  # noqa: E402  (benchmarks/timing.py)

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None


def best_time(fn, repeats):
    """CPU time of the fastest call (three warm-ups)."""
    return timing.best_time(fn, repeats, warmup=3, clock=time.process_time)


def chain(x, n_ops):
    """n_ops element-wise ops cycling through mul, add, tanh, sub (values stay bounded)."""
    y = x
    for i in range(n_ops // 4):
        y = y * 0.5
        y = y + x
        y = y.tanh()
        y = y - 0.1
    return y


def tinygen_cases(n_ops):
    x = tg.Tensor(np.linspace(-1, 1, 4, dtype=np.float32), requires_grad=True)

    def forward():
        with tg.no_grad():
            chain(x, n_ops)

    def forward_backward():
        x.grad = None
        chain(x, n_ops).sum().backward()

    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 1))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    xb = tg.Tensor(rng.standard_normal((16, 32)).astype(np.float32))
    yb = tg.Tensor(rng.standard_normal((16, 1)).astype(np.float32))

    def mlp_step():
        loss = ((model(xb) - yb) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return forward, forward_backward, mlp_step


def torch_cases(n_ops):
    x = torch.linspace(-1, 1, 4, requires_grad=True)

    def forward():
        with torch.no_grad():
            chain(x, n_ops)

    def forward_backward():
        x.grad = None
        chain(x, n_ops).sum().backward()

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xb, yb = torch.randn(16, 32), torch.randn(16, 1)

    def mlp_step():
        loss = ((model(xb) - yb) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return forward, forward_backward, mlp_step


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--ops", type=int, default=200, help="length of the op chain (multiple of 4)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-torch", action="store_true")
    args = ap.parse_args(argv)
    use_torch = torch is not None and not args.no_torch
    if use_torch:
        torch.set_num_threads(args.threads)
    print(f"loadavg {timing.loadavg()}; chain of {args.ops} ops on (4,) float32; "
          f"best of {args.repeats}")
    names = ["chain forward (no graph)", "chain fwd+bwd", "MLP step (fwd+bwd+Adam)"]
    per_op = [args.ops, args.ops, None]
    t_tg = [best_time(f, args.repeats) for f in tinygen_cases(args.ops)]
    t_pt = [best_time(f, args.repeats) for f in torch_cases(args.ops)] if use_torch else None
    print(f"{'':26s} {'tinygen':>12s} {'torch':>12s} {'ratio':>6s}")
    for i, name in enumerate(names):
        unit = per_op[i] or 1
        label = "us/op" if per_op[i] else "us/step"
        a = 1e6 * t_tg[i] / unit
        line = f"{name:26s} {a:8.2f} {label:7s}"
        if t_pt is not None:
            b = 1e6 * t_pt[i] / unit
            line = f"{name:26s} {a:8.2f}     {b:8.2f}     {a / b:5.1f}   ({label})"
        print(line)


if __name__ == "__main__":
    main()
