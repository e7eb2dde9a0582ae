"""Issue 24's quality bar for tpgan and pixeldtgan, on tasks made from the real MNIST digits.

    python benchmarks/zoo_quality.py tpgan|pixeldtgan [--out DIR] [--steps N] [--set K=V ...]

The shared folder's MNIST t10k split (the course's protocol): the first 8,000 digits train,
the last 2,000 are held out; each is zero-padded from 28 x 28 to 32 x 32 (the target b) and
its input a is made by tinygen.data.paired:

    tpgan       rotation_pairs: the digit turned by +-(30..75) degrees   (a "profile")
    pixeldtgan  clutter_pairs: the digit shrunk 0.6-0.8 x, at a random place on strokes,
                blobs and fragments of other digits

The method trains with its default budget (``tinygen run METHOD`` with only --dataset /
--test-dataset given, so the small preset applies; ``--set`` adds flags for ablations) and
translates the 2,000 held-out inputs. Then (benchmarks/translation_quality.py's scorer):

    accuracy      a LeNet digit classifier (tinygen.metrics.domain, trained on the 8,000 padded
                  training digits; its accuracy on the 2,000 real test digits printed beside)
                  reads G(a_i) as the digit y_i                              (bar: >= 90 %)
    psnr          mean over test images of PSNR(G(a_i), b_i), beside PSNR(a_i, b_i) of the
                  input                                                  (bar: well above)

Prints the figures, the process CPU time of the training (time.process_time: the machine is
shared, wall time says little) and the load average; writes DIR/results-METHOD.json. A run
folder with predictions.npz is reused, one with only a checkpoint is resumed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from translation_quality import MNIST, digit_classifier, evaluate  # noqa: E402

TASKS = {"tpgan": "rotate", "pixeldtgan": "clutter"}


def mnist_task(method: str, out: str, mnist: str = MNIST, n_train: int = 8000) -> dict:
    """train.npz / test.npz (a, b, y) for the method's task and digits32.npz (x, y) in out."""
    from tinygen.data import load_mnist
    from tinygen.data.paired import make_pairs, pad_images
    paths = {k: os.path.join(out, f"{k}.npz") for k in ("digits32",)}
    paths.update({k: os.path.join(out, f"{method}-{k}.npz") for k in ("train", "test")})
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    x, y = load_mnist(mnist, split="test")                       # t10k: (10000, 28, 28)
    b = pad_images(x, 32)
    a, _ = make_pairs(TASKS[method], b, seed=0)
    os.makedirs(out, exist_ok=True)
    np.savez(paths["train"], a=a[:n_train], b=b[:n_train], y=y[:n_train])
    np.savez(paths["test"], a=a[n_train:], b=b[n_train:], y=y[n_train:])
    if not os.path.exists(paths["digits32"]):      # its stamp keys the classifier's cache
        np.savez(paths["digits32"], x=b, y=y)
    return paths


def train_default(method: str, paths: dict, folder: str, steps=None, extra=()) -> float:
    """Train in this process; returns its CPU seconds (0 when the run was already done)."""
    import importlib
    from tinygen import cli
    from tinygen.methods import METHODS
    if os.path.exists(os.path.join(folder, "predictions.npz")):
        return 0.0
    module = importlib.import_module(METHODS[method])
    argv = ["--dataset", f"npz:{paths['train']}", "--test-dataset", f"npz:{paths['test']}",
            "--out", folder, "--quiet", *extra]
    if steps:
        argv += ["--steps", str(steps)]
    if os.path.exists(os.path.join(folder, "checkpoint.npz")):
        argv += ["--resume", folder]
    t0 = time.process_time()
    module.train(cli.build_config(module, argv))
    return time.process_time() - t0


def load_average() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("method", choices=sorted(TASKS))
    p.add_argument("--out", default="runs/zoo-quality", help="working folder")
    p.add_argument("--mnist", default=MNIST, help="folder with t10k-images-idx3-ubyte.gz")
    p.add_argument("--steps", type=int, default=None, help="override the default budget")
    p.add_argument("--set", nargs="*", default=[], metavar="FLAG=VALUE",
                   help="extra method flags, e.g. lambda-l1=10 (names the run folder too)")
    p.add_argument("--name", default=None, help="run folder name (default: METHOD[-flags])")
    a = p.parse_args(argv)
    load = load_average()
    print(f"load average at start: {load}", flush=True)
    paths = mnist_task(a.method, a.out, a.mnist)
    extra = [w for kv in a.set for w in (f"--{kv.split('=', 1)[0]}", kv.split("=", 1)[1])]
    name = a.name or "-".join([a.method] + [kv.replace("=", "") for kv in a.set])
    folder = os.path.join(a.out, name)
    cpu = train_default(a.method, paths, folder, a.steps, extra)
    print(f"{name}: trained in {cpu:.0f} CPU s ({folder})", flush=True)
    clf = digit_classifier(paths["digits32"])
    row = evaluate(folder, paths, clf)
    row["accuracy_input"] = row.pop("accuracy_input_edges")
    row["train_cpu_seconds"] = round(cpu, 1) if cpu else None
    real = clf.info.get("test_accuracy")
    load_end = load_average()
    summary = {"task": f"MNIST {TASKS[a.method]} pairs, 32x32, 8000 train / 2000 test",
               "method": a.method, "flags": a.set, "classifier_test_accuracy_real_digits": real,
               "load_start": load, "load_end": load_end, "result": row}
    with open(os.path.join(a.out, f"results-{name}.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(f"digit classifier on the 2,000 real test digits: {real:.4f}")
    keys = ["accuracy", "accuracy_input", "psnr", "psnr_input", "sharpness", "sharpness_real",
            "steps", "train_seconds"]
    print("run".ljust(24) + "".join(k.rjust(15) for k in keys))
    print(name.ljust(24) + "".join(f"{row[k]:15.4f}" for k in keys))
    print(f"training CPU seconds: {cpu:.0f}; load average at end: {load_end}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
