"""Time forward+backward of the convolutions of DCGAN's discriminator and generator.

    python benchmarks/conv.py [--repeats 5] [--batch 64] [--threads 2]

For every conv / transposed-conv layer of the DCGAN discriminator (D) and
generator (G) at 64x64x3 (Radford et al. 2015, "Unsupervised Representation
Learning with Deep Convolutional Generative Adversarial Networks",
arXiv 1511.06434, Fig. 1) and the 28x28x1 variant of tinygen.models.dcgan,
it times one step = forward + backward (gradients for input and weight,
random upstream gradient, float32, bias=False as in DCGAN) and prints the
best of ``--repeats`` runs. When PyTorch is installed it times the same
layer in the same process with the same thread count and prints the ratio
tinygen / PyTorch (PyTorch is optional and used only here, as a yardstick).

The machine may be shared: run it a few times and compare quiet runs.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402  (a benchmark script, not library code)

import tinygen as tg  # noqa: E402
from tinygen.ops.conv import conv2d, conv_transpose2d  # noqa: E402

from timing import best_time  # noqa: E402  (benchmarks/timing.py)

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

# (net, kind, C_in, C_out, kernel, stride, padding, input side)
LAYERS_64 = [
    ("D64", "conv", 3, 64, 4, 2, 1, 64),
    ("D64", "conv", 64, 128, 4, 2, 1, 32),
    ("D64", "conv", 128, 256, 4, 2, 1, 16),
    ("D64", "conv", 256, 512, 4, 2, 1, 8),
    ("G64", "convT", 100, 512, 4, 1, 0, 1),
    ("G64", "convT", 512, 256, 4, 2, 1, 4),
    ("G64", "convT", 256, 128, 4, 2, 1, 8),
    ("G64", "convT", 128, 64, 4, 2, 1, 16),
    ("G64", "convT", 64, 3, 4, 2, 1, 32),
]
LAYERS_28 = [
    ("D28", "conv", 1, 64, 4, 2, 1, 28),
    ("D28", "conv", 64, 128, 4, 2, 1, 14),
    ("D28", "conv", 128, 1, 7, 1, 0, 7),
    ("G28", "convT", 100, 128, 7, 1, 0, 1),
    ("G28", "convT", 128, 64, 4, 2, 1, 7),
    ("G28", "convT", 64, 1, 4, 2, 1, 14),
]


def tinygen_step(kind, x, w, gy, s, p):
    x = tg.Tensor(x, requires_grad=True)
    w = tg.Tensor(w, requires_grad=True)
    fn = conv2d if kind == "conv" else conv_transpose2d

    def step():
        x.grad = w.grad = None
        y = fn(x, w, None, s, p)
        y.backward(tg.Tensor(gy))
        assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32   # no float64 sneaks in
    return step


def torch_step(kind, x, w, gy, s, p):
    x = torch.tensor(x, requires_grad=True)
    w = torch.tensor(w, requires_grad=True)
    gy = torch.tensor(gy)
    fn = torch.nn.functional.conv2d if kind == "conv" else torch.nn.functional.conv_transpose2d

    def step():
        x.grad = w.grad = None
        fn(x, w, None, s, p).backward(gy)
    return step


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-torch", action="store_true")
    args = ap.parse_args(argv)
    use_torch = torch is not None and not args.no_torch
    if use_torch:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"batch {args.batch}, float32, best of {args.repeats}; OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; torch threads "
          f"{torch.get_num_threads() if use_torch else '-'}")
    print(f"{'net':4s} {'layer':28s} {'tinygen ms':>10s} {'torch ms':>9s} {'ratio':>6s}")
    totals = {}
    for net, kind, cin, cout, k, s, p, side in LAYERS_64 + LAYERS_28:
        x = rng.standard_normal((args.batch, cin, side, side)).astype(np.float32)
        w_shape = (cout, cin, k, k) if kind == "conv" else (cin, cout, k, k)
        w = (0.02 * rng.standard_normal(w_shape)).astype(np.float32)
        if kind == "conv":
            y_side = (side + 2 * p - k) // s + 1
        else:
            y_side = (side - 1) * s - 2 * p + k
        gy = rng.standard_normal((args.batch, cout, y_side, y_side)).astype(np.float32)
        t_tg = best_time(tinygen_step(kind, x, w, gy, s, p), args.repeats)
        t_pt = float("nan")
        if use_torch:
            t_pt = best_time(torch_step(kind, x, w, gy, s, p), args.repeats)
        name = f"{kind} {cin}->{cout} k{k} s{s} p{p} @{side}"
        print(f"{net:4s} {name:28s} {1e3 * t_tg:10.1f} {1e3 * t_pt:9.1f} {t_tg / t_pt:6.2f}")
        a, b = totals.get(net, (0.0, 0.0))
        totals[net] = (a + t_tg, b + t_pt)
        totals.setdefault(kind, (0.0, 0.0))
        ka, kb = totals[kind]
        totals[kind] = (ka + t_tg, kb + t_pt)
    print("totals (one step of all layers):")
    for key, (a, b) in totals.items():
        print(f"  {key:6s} tinygen {1e3 * a:8.1f} ms   torch {1e3 * b:8.1f} ms   "
              f"ratio {a / b:5.2f}")


if __name__ == "__main__":
    main()
