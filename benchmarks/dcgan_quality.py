"""Issue 13's quality bar for DCGAN on real MNIST, as printed figures.

    OPENBLAS_NUM_THREADS=1 python benchmarks/dcgan_quality.py [--steps N] [--out DIR]
                                                              [--DCGAN-FLAG V ...]

The bar: ``tinygen run dcgan --dataset npz:MNIST`` with its defaults (the ``digits28`` preset,
chosen by ``--preset auto`` for 28 x 28 one-channel data) reaches domain IS >= 85 % of the real
digits' and domain FID <= 60 within 10 minutes on 2 cores.

Data (as docs/dcgan.md): the first 8,000 images of MNIST's t10k split (``../shared/data/mnist``)
in one npz; the run trains on them with the defaults (``--steps`` and any other ``tinygen run
dcgan`` flag override them). Then 2,000 fresh samples of the final G (``tinygen sample``'s
route, seed 0) are scored with the MNIST domain classifier (``DomainConfig(dataset="mnist",
split="test", data_dir=...)``: a LeNet on t10k[0:4000], reference features of t10k[4000:5000]),
beside 2,000 random real digits of the training pool (minus the reference: a perfect
sampler's floor; 85 % of their IS is the IS bar) and the 2,000 held-out t10k[8000:] ones.
Prints domain FID / IS / precision / recall, the bar, the training's process CPU time (the
10-minute limit: 2 BLAS threads gain nothing at this size, docs/dcgan.md, so the CPU seconds
at one thread stand for the wall time of a quiet 2-core machine), the wall time and the load.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from timing import loadavg  # noqa: E402

MNIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
                     "mnist")
BAR_FID, BAR_IS_FRACTION, BUDGET_S = 60.0, 0.85, 600.0


def mnist8000(folder: str) -> str:
    """npz:PATH of the first 8,000 t10k digits (x uint8 (8000, 28, 28), y) in ``folder``."""
    from tinygen.data import load_mnist
    if not os.path.exists(os.path.join(MNIST, "t10k-images-idx3-ubyte.gz")):
        raise SystemExit(f"no MNIST t10k split in {MNIST}")
    x, y = load_mnist(MNIST, split="test")
    path = os.path.join(folder, "mnist8000.npz")
    np.savez(path, x=x[:8000], y=y[:8000])
    return f"npz:{path}"


def domain_config():
    """The MNIST domain classifier of docs/dcgan.md (LeNet on t10k[:4000], reference t10k[4000:5000])."""
    from tinygen.metrics.domain import DomainConfig
    return DomainConfig(dataset="mnist", split="test", data_dir=MNIST)


def score(images, value_range=None) -> dict:
    """Domain FID / IS / precision / recall of images with that classifier."""
    from tinygen.metrics.domain import evaluate_samples
    return evaluate_samples(images, "mnist", value_range=value_range, config=domain_config())


def main(argv=None) -> int:
    from tinygen import cli
    from tinygen.data import load_mnist
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=0, help="override the default budget")
    p.add_argument("--out", default="", help="run folder (default: a temporary one)")
    p.add_argument("--n", type=int, default=2000, help="samples scored")
    args, flags = p.parse_known_args(argv)
    work = tempfile.mkdtemp(prefix="dcgan_quality_")
    folder = args.out or os.path.join(work, "run")
    run = ["run", "dcgan", "--dataset", mnist8000(work), "--quiet", "--out", folder]
    run += (["--steps", str(args.steps)] if args.steps else []) + flags
    from tinygen.metrics.domain import load_domain_classifier
    load_domain_classifier("mnist", config=domain_config())     # trained (once) outside the timing
    print("tinygen " + " ".join(run) + f"; load at start {loadavg()}", flush=True)
    wall, cpu = time.time(), time.process_time()
    if cli.main(run) != 0:                          # `tinygen run dcgan`, in this process
        return 1
    wall, cpu = time.time() - wall, time.process_time() - cpu
    steps = json.load(open(os.path.join(folder, "config.json")))["steps"]
    sampled = os.path.join(folder, f"sampled-{args.n}.npz")
    cli.main(["sample", folder, "--n", str(args.n), "--out", sampled])    # `tinygen sample`, seed 0
    real = load_mnist(MNIST, split="test")[0]
    pool = np.r_[0:4000, 5000:8000]               # the GAN's training images minus the reference
    pool = np.random.default_rng(0).choice(pool, args.n, replace=False)
    rows = [("DCGAN, final G", score(np.load(sampled)["x"])),
            ("real, random from the training pool", score(real[pool])),
            ("real, held out t10k[8000:]", score(real[8000:8000 + args.n]))]
    print(f"{'images (N = %d)' % args.n:<38} {'FID':>8} {'IS':>6} {'prec.':>6} {'recall':>6}")
    for name, r in rows:
        print(f"{name:<38} {r['domain_fid']:>8.1f} {r['domain_is']:>6.2f} {r['precision']:>6.3f} "
              f"{r['recall']:>6.3f}")
    ours, floor = rows[0][1], rows[1][1]
    is_bar = BAR_IS_FRACTION * floor["domain_is"]
    met = ours["domain_fid"] <= BAR_FID and ours["domain_is"] >= is_bar and cpu <= BUDGET_S
    print(f"bar: FID <= {BAR_FID:.0f}, IS >= {is_bar:.2f} (85 % of the pool's), CPU <= "
          f"{BUDGET_S:.0f} s -> {'met' if met else 'NOT met'}")
    print(f"training: {steps} steps, {cpu:.0f} s process CPU ({cpu / steps:.4f} s/step), "
          f"{wall:.0f} s wall, load at end {loadavg()}; run folder {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
