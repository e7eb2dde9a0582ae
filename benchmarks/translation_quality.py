"""Issue 19's quality bar for the translation methods, on tasks made from the real MNIST digits.

    python benchmarks/translation_quality.py pix2pix [--out DIR] [--steps N] [--variants ...]

pix2pix: edges -> digit. The shared folder's MNIST t10k split (the course's protocol, as in
tinygen.data.arrays.load_images): the first 8,000 digits train, the last 2,000 are held out;
each is zero-padded from 28 x 28 to 32 x 32 and its input is edges_pairs' edge map
(tinygen.data.paired). Each variant (the default objective l1+cgan and the L1-only ablation)
trains with the default budget (``tinygen run pix2pix`` with only --dataset / --test-dataset /
--loss given, so the small preset applies) and translates the 2,000 held-out edge maps. Then:

    accuracy      a LeNet digit classifier (tinygen.metrics.domain, trained on the 8,000 padded
                  training digits, its own held-out accuracy on the 2,000 real test digits
                  printed beside) reads G(a_i) as the digit y_i   (bar: >= 95 % for pix2pix)
    psnr          mean over test images of PSNR(G(a_i), b_i), beside PSNR(a_i, b_i) of the input
    sharpness     mean gradient magnitude of G(a) (and of the real digits b, for scale)

Writes DIR/results.json and prints one table. Stages that already ran (a run folder with its
predictions.npz) are reused, so an interrupted benchmark continues where it stopped.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
MNIST = os.path.join(HERE, "..", "..", "shared", "data", "mnist")


def mnist_edges_task(out: str, mnist: str = MNIST, n_train: int = 8000):
    """train.npz / test.npz (a = edges, b = digit, y), digits32.npz (x, y: all 10,000) in out."""
    from tinygen.data import load_mnist
    from tinygen.data.paired import edges_pairs, pad_images
    paths = {k: os.path.join(out, f"{k}.npz") for k in ("train", "test", "digits32")}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    x, y = load_mnist(mnist, split="test")                       # t10k: (10000, 28, 28)
    b = pad_images(x, 32)
    a, _ = edges_pairs(b)
    os.makedirs(out, exist_ok=True)
    np.savez(paths["train"], a=a[:n_train], b=b[:n_train], y=y[:n_train])
    np.savez(paths["test"], a=a[n_train:], b=b[n_train:], y=y[n_train:])
    np.savez(paths["digits32"], x=b, y=y)
    return paths


def digit_classifier(digits32: str, n_train: int = 8000):
    """A LeNet on the padded training digits; tested on the 2,000 held-out real ones."""
    from tinygen.metrics.domain import DomainConfig, load_domain_classifier
    config = DomainConfig(dataset=f"npz:{digits32}", n_train=n_train, n_test=2000,
                          steps=1500)
    return load_domain_classifier(config.dataset, config, verbose=True)


def train_variant(method: str, loss: str, paths: dict, out: str, steps=None) -> str:
    from tinygen import cli
    from tinygen.methods import pix2pix
    folder = os.path.join(out, f"{method}-{loss}")
    if os.path.exists(os.path.join(folder, "predictions.npz")):
        return folder
    argv = ["--dataset", f"npz:{paths['train']}", "--test-dataset", f"npz:{paths['test']}",
            "--loss", loss, "--out", folder, "--quiet"]
    if steps:
        argv += ["--steps", str(steps)]
    if os.path.exists(os.path.join(folder, "checkpoint.npz")):
        argv += ["--resume", folder]
    config = cli.build_config(pix2pix, argv)
    return pix2pix.train(config)


def translate_checkpoint(folder: str, checkpoint: str, a: np.ndarray):
    """(G(a) uint8, its step) from any checkpoint of a pix2pix run: exactly what a run of that
    many steps writes to predictions.npz (constant lr: the first s steps of a longer run are
    a run of s steps), for runs stopped before the end."""
    from tinygen.data.arrays import to_float_images
    from tinygen.io.checkpoint import load_checkpoint
    from tinygen.methods import pix2pix
    from tinygen.methods import run as R
    config = pix2pix.Config(**{**R.config_options(R.read_config(folder), pix2pix.Config),
                               "out": None, "resume": None, "device": "cpu"})
    G = pix2pix.load_generator(config, checkpoint)
    seed = int(np.random.default_rng(config.seed + 2).integers(2 ** 31))   # train()'s seed
    y = pix2pix.translate(G, to_float_images(a, (-1.0, 1.0)), config, seed)
    return pix2pix.predictions_layout(y, a), int(load_checkpoint(checkpoint)["step"])


def evaluate(folder: str, paths: dict, clf, checkpoint=None) -> dict:
    from tinygen.methods.pix2pix import mean_gradient_magnitude, psnr_per_image
    from tinygen.methods.run import read_metrics
    with np.load(paths["test"]) as f:
        a, b, y = f["a"], f["b"], f["y"]
    metrics = read_metrics(folder)
    if checkpoint:
        x, step = translate_checkpoint(folder, checkpoint, a)
        metrics = [m for m in metrics if m["step"] <= step]
    else:
        with np.load(os.path.join(folder, "predictions.npz")) as f:
            x = f["x"]
    unit = [v[:, None].astype(np.float64) / 255.0 for v in (a, x, b)]
    return {
        "accuracy": clf.accuracy(x, y),
        "accuracy_input_edges": clf.accuracy(a, y),
        "psnr": psnr_per_image(unit[1], unit[2]),
        "psnr_input": psnr_per_image(unit[0], unit[2]),
        "sharpness": mean_gradient_magnitude(unit[1]),
        "sharpness_real": mean_gradient_magnitude(unit[2]),
        "steps": metrics[-1]["step"],
        "train_seconds": metrics[-1]["time"],
        "sec_per_step": metrics[-1].get("sec_per_step"),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("method", choices=["pix2pix"])
    p.add_argument("--out", default="runs/translation-quality", help="working folder")
    p.add_argument("--mnist", default=MNIST, help="folder with t10k-images-idx3-ubyte.gz")
    p.add_argument("--steps", type=int, default=None, help="override the default budget")
    p.add_argument("--variants", nargs="+", default=["l1+cgan", "l1"],
                   help="pix2pix --loss values to train and compare")
    p.add_argument("--checkpoints", nargs="+", default=None, metavar="VARIANT=FILE",
                   help="score these checkpoints instead of training (runs stopped early)")
    a = p.parse_args(argv)
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(f"load average at start: {load}", flush=True)
    paths = mnist_edges_task(a.out, a.mnist)
    results, chosen = {}, dict(c.split("=", 1) for c in a.checkpoints or [])
    for loss in chosen:
        results[loss] = os.path.join(a.out, f"{a.method}-{loss}")
    for loss in ([] if chosen else a.variants):
        t0 = time.time()
        folder = train_variant(a.method, loss, paths, a.out, a.steps)
        print(f"{loss}: trained in {time.time() - t0:.0f} s ({folder})", flush=True)
        results[loss] = folder
    clf = digit_classifier(paths["digits32"])
    table = {loss: evaluate(folder, paths, clf, chosen.get(loss))
             for loss, folder in results.items()}
    real = clf.info.get("test_accuracy")
    with open("/proc/loadavg") as f:
        load_end = " ".join(f.read().split()[:3])
    summary = {"task": "MNIST edges -> digit, 32x32, 8000 train / 2000 test",
               "classifier_test_accuracy_real_digits": real, "load_start": load,
               "load_end": load_end, "variants": table}
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(f"digit classifier on the 2,000 real test digits: {real:.4f}")
    keys = ["accuracy", "psnr", "psnr_input", "sharpness", "sharpness_real", "steps",
            "train_seconds"]
    print("variant".ljust(10) + "".join(k.rjust(15) for k in keys))
    for loss, row in table.items():
        print(loss.ljust(10) + "".join(f"{row[k]:15.4f}" for k in keys))
    print(f"load average at end: {load_end}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
