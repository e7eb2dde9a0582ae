"""Peak resident memory of DCGAN training steps, tinygen against PyTorch, each in its own process.

    python benchmarks/step_memory.py [--size 64|28] [--steps 3]

Each framework builds benchmarks/dcgan_step.py's step (batch 64, ngf = ndf = 64) in a fresh
Python process and runs ``--steps`` steps; the figure is the growth of the peak resident set
size (``resource.getrusage(...).ru_maxrss``) over the process's size just before the first
step: the graph, activations, gradients and optimizer state of a step, not the interpreter
or the libraries.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = r"""
import resource, sys
sys.path.insert(0, {here!r}); sys.path.insert(0, {root!r})
import dcgan_step
size, nc, steps, which = {size}, {nc}, {steps}, {which!r}
make = dcgan_step.tinygen_step if which == "tinygen" else dcgan_step.torch_step
if which == "torch":
    import torch; torch.set_num_threads(1)
step = make(size, nc, 100, 64, 64, 64)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for _ in range(steps):
    step()
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before, after)
"""


def peak_growth_mb(which: str, size: int, steps: int) -> float:
    code = CHILD.format(here=HERE, root=os.path.dirname(HERE), size=size,
                        nc=3 if size == 64 else 1, steps=steps, which=which)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    before, after = int(out[-2]), int(out[-1])          # KiB on Linux
    return (after - before) / 1024


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, choices=[28, 64], default=64)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args(argv)
    tg = peak_growth_mb("tinygen", args.size, args.steps)
    try:
        import torch  # noqa: F401
        pt = peak_growth_mb("torch", args.size, args.steps)
    except ImportError:
        pt = None
    print(f"DCGAN {args.size}px, batch 64, {args.steps} steps: peak RSS growth "
          f"tinygen {tg:.0f} MB" + (f", torch {pt:.0f} MB, ratio {tg / pt:.2f}" if pt else ""))


if __name__ == "__main__":
    main()
