"""The quality bars of the label-using GANs on real MNIST (issue 18), as printed figures.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/label_gans_quality.py sgan
    python benchmarks/label_gans_quality.py cgan [--steps N] [--out DIR] [--METHOD-FLAG V ...]

Data (as docs/sgan.md and docs/cgan.md): the first 8,000 images of MNIST's t10k split
(``../shared/data/mnist``) train, the last 2,000 test; for sgan only 10 labels per class are
kept (``labelled_subset(y, 10, default_rng(0))``, the rest y = -1). Each method runs with its
defaults (``--steps`` and any other ``tinygen run METHOD`` flag, e.g. ``--preset paper``,
override them), then the
script prints the learning curve from metrics.jsonl (sgan: test accuracy of D and of the
labelled-only baseline; cgan / acgan: the domain classifier's label agreement and domain FID),
the wall time, seconds per step and the load average at the start and the end -- on a shared
machine the wall time is pessimistic: quote the load next to it.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from timing import loadavg  # noqa: E402

MNIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
                     "mnist")
CURVES = {"sgan": ("test_accuracy", "baseline_test_accuracy"),
          "cgan": ("label_agreement", "domain_fid"),
          "acgan": ("label_agreement", "domain_fid"),
          "infogan": ("domain_fid", "domain_is")}


def mnist_files(folder: str, labels_per_class: int = 0):
    """npz:TRAIN (the first 8,000 t10k images; labels_per_class > 0 keeps that many labels per
    class, the rest -1) and npz:TEST (the last 2,000) written into ``folder``."""
    from tinygen.data import load_mnist
    from tinygen.data.arrays import labelled_subset
    if not os.path.exists(os.path.join(MNIST, "t10k-images-idx3-ubyte.gz")):
        raise SystemExit(f"no MNIST t10k split in {MNIST}")
    x, y = load_mnist(MNIST, split="test")
    y_train = y[:8000]
    if labels_per_class:
        y_train = labelled_subset(y_train, labels_per_class, np.random.default_rng(0))
    train, test = os.path.join(folder, "train.npz"), os.path.join(folder, "test.npz")
    np.savez(train, x=x[:8000], y=y_train)
    np.savez(test, x=x[8000:], y=y[8000:])
    return f"npz:{train}", f"npz:{test}"


def infogan_scores(folder: str, config) -> dict:
    """InfoGAN's samples.npz (x, y = the categorical code c) read by the MNIST reader the cGAN
    is scored with: the digit each code value draws, matched one-to-one to the digits
    (Hungarian, scipy.optimize.linear_sum_assignment) -> ``code_digit_accuracy``, the share of
    samples whose read digit is their code's match (Chen et al. 2016 Sec. 7.1: 5 % error), and
    the overall domain FID / IS / precision / recall."""
    from scipy.optimize import linear_sum_assignment
    from tinygen.metrics.domain import DomainConfig, evaluate_samples, load_label_reader
    from tinygen.metrics.fid import compute_features
    with np.load(os.path.join(folder, "samples.npz")) as z:
        x, c = z["x"], z["y"].astype(np.int64)
    base = DomainConfig(dataset=config.dataset, data_dir=config.data_dir)
    reader = load_label_reader(base)
    digits = compute_features(reader.prepare(x), reader.prob_fn, 200).argmax(axis=1)
    counts = np.zeros((config.categories, 10), np.int64)                # (code, digit)
    np.add.at(counts, (c, digits), 1)
    codes, matched = linear_sum_assignment(-counts)
    out = {"code_digit_accuracy": float(counts[codes, matched].sum() / len(c)),
           "code_to_digit": {int(a): int(b) for a, b in zip(codes, matched)}}
    out.update(evaluate_samples(x[np.random.default_rng(0).permutation(len(x))],
                                config.dataset, config=base))
    return out


def main(argv=None) -> int:
    from tinygen import cli
    from tinygen.methods import METHODS
    from tinygen.methods.run import read_metrics
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("method", choices=sorted(CURVES))
    p.add_argument("--steps", type=int, default=0, help="override the default budget")
    p.add_argument("--out", default="", help="run folder (default: a temporary one)")
    args, flags = p.parse_known_args(argv)
    module = importlib.import_module(METHODS[args.method])
    work = tempfile.mkdtemp(prefix="label_gans_")
    train, test = mnist_files(work, 10 if args.method == "sgan" else 0)
    argv = ["--dataset", train, "--test-dataset", test, "--quiet",
            "--out", args.out or os.path.join(work, "run")]
    if args.steps:
        argv += ["--steps", str(args.steps)]
    if args.method == "sgan":
        argv += ["--labels-per-class", "0"]             # the file keeps 10 per class already
    config = cli.build_config(module, argv + flags, report=print)
    print(f"{args.method} on MNIST (8,000 train / 2,000 test), {config.steps} steps; "
          f"load at start {loadavg()}", flush=True)
    start = time.time()
    folder = module.train(config)
    wall = time.time() - start
    keys = CURVES[args.method]
    print("step  " + "  ".join(f"{k:>22}" for k in keys))
    rows = read_metrics(folder)
    for r in rows:
        if any(k in r for k in keys):
            print(f"{r['step']:>5} " + "  ".join(
                f"{r[k]:>22.4f}" if isinstance(r.get(k), float) else f"{'':>22}" for k in keys))
    last = {k: v for r in rows for k, v in r.items()}
    if args.method == "infogan":
        last.update(infogan_scores(folder, config))
    extra = {k: last[k] for k in ("domain_fid_class", "real_agreement", "domain_fid",
                                  "domain_is", "precision", "recall", "code_digit_accuracy",
                                  "code_to_digit") if k in last}
    for k, v in extra.items():
        print(f"{k}: {v}")
    print(f"wall {wall:.0f} s, {wall / config.steps:.3f} s/step, load at end {loadavg()}; "
          f"run folder {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
