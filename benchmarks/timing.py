"""What every benchmark script shares: the best-of-N timer and the machine's load.

Scripts run as ``python benchmarks/NAME.py``, so this folder is on ``sys.path``.
"""
from __future__ import annotations

import time


def best_time(step, repeats, warmup=1, clock=time.perf_counter):
    """The fastest of ``repeats`` calls of ``step()`` after ``warmup`` untimed ones (allocations,
    BLAS threads, optimiser state), in seconds of ``clock`` (wall clock by default;
    ``time.process_time`` for CPU time, meaningful only single-threaded)."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        t0 = clock()
        step()
        times.append(clock() - t0)
    return min(times)


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages from /proc/loadavg ('?' where there is none):
    compare only runs taken when the machine was quiet (benchmarks/README.md)."""
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:  # pragma: no cover
        return "?"
