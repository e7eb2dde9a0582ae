"""Where a DCGAN step's time goes, op by op, in tinygen and (when installed) PyTorch.

    python benchmarks/profile_step.py [--size 28|64] [--steps 5] [--top 15] [--threads 1]
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 python benchmarks/profile_step.py

The step is ``benchmarks/dcgan_step.py``'s (one D and one G update, batch 64, ngf = ndf = 64).

tinygen: every ``Function`` call is timed while the steps run. A forward's time is its own
(``Conv2dFunction``: the forward alone); a backward's time (``Conv2dFunction.backward``)
includes every op its backward calls, as PyTorch's autograd nodes (``ConvolutionBackward0``)
include their kernels. The optimizer step is timed as ``Adam.step``; what is left of the step's
time (the engine's own bookkeeping, loss glue, the data) is ``(rest)``.

PyTorch: ``torch.profiler``'s self CPU time per op over the same number of steps.

Both columns are shares of their own framework's step; the times are process CPU time when
single-threaded (``--threads 1``, the default), else wall time.
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import tinygen.autograd as A  # noqa: E402  (a benchmark script, not library code)
from tinygen import optim  # noqa: E402

import dcgan_step  # noqa: E402  (benchmarks/dcgan_step.py: the step itself)
from timing import loadavg  # noqa: E402

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None


class OpTimer:
    """Exclusive time per Function class in forward, inclusive time per backward, Adam.step."""

    def __init__(self, clock):
        self.clock = clock
        self.times = collections.Counter()
        self.calls = collections.Counter()
        self._inner = []          # time spent in nested timed calls, per open call
        self._in_backward = 0

    def _timed(self, key, fn, *args):
        t0 = self.clock()
        self._inner.append(0.0)
        try:
            return fn(*args)
        finally:
            dt = self.clock() - t0
            self.times[key] += dt - self._inner.pop()
            self.calls[key] += 1
            if self._inner:
                self._inner[-1] += dt

    def install(self):
        call, backward, step = A.Function.__call__, A._call_backward, optim.Adam.step
        timer = self

        def timed_call(fn, *inputs):
            if timer._in_backward:            # counted in the backward that called it
                return call(fn, *inputs)
            return timer._timed(type(fn).__name__, call, fn, *inputs)

        def timed_backward(f, gys):
            timer._in_backward += 1
            try:
                return timer._timed(type(f).__name__ + ".backward", backward, f, gys)
            finally:
                timer._in_backward -= 1

        def timed_step(opt):
            return timer._timed("Adam.step", step, opt)

        A.Function.__call__, A._call_backward, optim.Adam.step = timed_call, timed_backward, timed_step
        return lambda: setattr(A.Function, "__call__", call) or setattr(A, "_call_backward", backward) \
            or setattr(optim.Adam, "step", step)


def profile_tinygen(size, nc, steps, clock):
    step = dcgan_step.tinygen_step(size, nc, 100, 64, 64, 64)
    step(), step()                                   # warm-up: Adam's state, caches
    timer = OpTimer(clock)
    uninstall = timer.install()
    t0 = clock()
    for _ in range(steps):
        step()
    total = clock() - t0
    uninstall()
    timer.times["(rest)"] = total - sum(timer.times.values())
    return total / steps, {k: v / steps for k, v in timer.times.items()}


def profile_torch(size, nc, steps):
    step = dcgan_step.torch_step(size, nc, 100, 64, 64, 64)
    step(), step()
    t0 = time.perf_counter()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    total = (time.perf_counter() - t0) / steps
    times = {e.key: e.self_cpu_time_total / 1e6 / steps for e in prof.key_averages()}
    return total, times


def table(title, total, times, top):
    print(f"\n{title}: {1e3 * total:.1f} ms per step")
    print(f"  {'op':42s} {'ms/step':>9s} {'share':>6s}")
    for key, t in sorted(times.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {key[:42]:42s} {1e3 * t:9.2f} {100 * t / total:5.1f}%")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, choices=[28, 64], default=28)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-torch", action="store_true")
    args = ap.parse_args(argv)
    nc = 3 if args.size == 64 else 1
    clock = time.process_time if args.threads == 1 else time.perf_counter
    print(f"DCGAN {args.size}x{args.size}x{nc}, batch 64, ngf = ndf = 64; loadavg {loadavg()}; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')}")
    total, times = profile_tinygen(args.size, nc, args.steps, clock)
    table("tinygen", total, times, args.top)
    if torch is not None and not args.no_torch:
        torch.set_num_threads(args.threads)
        total_t, times_t = profile_torch(args.size, nc, args.steps)
        table("torch (profiler, self CPU time)", total_t, times_t, args.top)
        print(f"\nstep ratio tinygen / torch: {total / total_t:.2f} "
              f"(torch's time under its profiler: compare with benchmarks/dcgan_step.py)")


if __name__ == "__main__":
    main()
