"""Issue 19's quality bar for CycleGAN and StarGAN on real MNIST digits, with the default budget.

Tasks (made by tinygen.data.unpaired from ../shared/data/mnist, the t10k split: the first 8,000
images train, the last 2,000 are held out; padded to 32 x 32):

    cyclegan   thin -> thick: A = digits as they are, B = the 3 x 3 grey dilation of OTHER
               digits (the two domains drawn from disjoint images). Scores of G_AB(a) on the
               1,000 held-out A digits: recognised as the right digit (a LeNet trained on thin
               and thick training digits) and judged thick (a LeNet trained on training A vs B).
    stargan    3 colours (red, green, blue) x 2 stroke widths = 6 domains, one random domain per
               image. Every held-out image is translated to all 6 domains; scores: the target
               colour (the channel holding most of the ink), the target width (the thin/thick
               LeNet on the grey image) and the digit kept (the digit LeNet on the grey image).

Both methods run with no option but the data (``--dataset npz:... --test-dataset npz:...``),
i.e. their default preset. The classifiers are tinygen.metrics.domain's LeNets, trained on
the training split only.

    python benchmarks/unpaired_quality.py [cyclegan|stargan|both] [--steps N] [--out DIR]
        [--n-test N] [method options, e.g. --lambda-rec 10]

prints the figures and the wall / CPU time with the load average (``uptime``); ``--steps``
overrides the budget for a short form, ``--n-test`` scores only the first N held-out images (a
quicker screen), and any other option goes to the method as in ``tinygen run``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

MNIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
                     "mnist")


def make_tasks(folder: str, mnist_dir: str = MNIST) -> dict:
    """The npz files of both tasks (and of the classifiers' training data) in ``folder``;
    files already there are kept (the classifiers' cache key includes their time stamp)."""
    from tinygen.data import load_dataset
    from tinygen.data.paired import pad_images
    from tinygen.data.unpaired import stroke_domains, style_domains, thicken
    os.makedirs(folder, exist_ok=True)
    paths = {k: os.path.join(folder, f"{k}.npz") for k in
             ("strokes_train", "strokes_test", "styles_train", "styles_test", "digits",
              "widths")}
    if all(os.path.isfile(p) for p in paths.values()):
        return paths
    ds = load_dataset("mnist", split="test", data_dir=mnist_dir)       # t10k (10000, 28, 28)
    x, y = ds.x, ds.y
    train, test = stroke_domains(x[:8000], y[:8000]), stroke_domains(x[8000:], y[8000:])
    np.savez(paths["strokes_train"], a=train.a, b=train.b)
    np.savez(paths["strokes_test"], a=test.a, b=test.b, a_labels=test.a_labels,
             b_labels=test.b_labels)
    s_train, s_test = style_domains(x[:8000], y[:8000], seed=0), style_domains(x[8000:],
                                                                               y[8000:], seed=1)
    np.savez(paths["styles_train"], x=s_train.x, y=s_train.y)
    np.savez(paths["styles_test"], x=s_test.x, y=s_test.y, digit=s_test.content)
    # the scorers' data, from the training split only: digits thin and thick (labels 0..9),
    # and thin (0) vs thick (1) on disjoint halves; shuffled so that the LeNet's held-out
    # calibration part is a mix
    rng = np.random.default_rng(0)
    x32 = pad_images(x[:8000], 32)
    both = np.concatenate([x32[:4000], thicken(x32[4000:])])
    order = rng.permutation(8000)
    np.savez(paths["digits"], x=both[order], y=y[:8000][order])
    width = np.concatenate([np.zeros(4000, np.int64), np.ones(4000, np.int64)])
    np.savez(paths["widths"], x=both[order], y=width[order])
    return paths


def classifiers(paths: dict) -> dict:
    """The digit LeNet and the thin/thick LeNet (tinygen.metrics.domain; cached)."""
    from tinygen.metrics.domain import DomainConfig, load_domain_classifier
    out = {}
    for name in ("digits", "widths"):
        spec = f"npz:{paths[name]}"
        cfg = DomainConfig(dataset=spec, n_train=7000, n_test=1000, steps=600)
        out[name] = load_domain_classifier(spec, config=cfg)
    return out


def grey(x: np.ndarray) -> np.ndarray:
    """uint8 RGB (N, H, W, 3) -> (N, H, W): the maximum over channels (the ink of a pure
    red, green or blue digit); grey images as they are."""
    return x.max(-1) if x.ndim == 4 else x


def score_cyclegan(pred: np.ndarray, labels: np.ndarray, clf: dict) -> dict:
    """G_AB(a) uint8 (N, 32, 32): digit recognised, judged thick."""
    digit = clf["digits"].probabilities(pred).argmax(1)
    thick = clf["widths"].probabilities(pred).argmax(1)
    return {"right_digit": float(np.mean(digit == labels)),
            "judged_thick": float(np.mean(thick == 1))}


def score_stargan(pred: np.ndarray, digits: np.ndarray, clf: dict) -> dict:
    """pred uint8 (N, K=6, 32, 32, 3), domain k = 2 colour + width."""
    n, k = pred.shape[:2]
    flat = pred.reshape((n * k,) + pred.shape[2:])
    target = np.tile(np.arange(k), n)
    colour = flat.reshape(n * k, -1, 3).astype(np.float64).sum(1).argmax(1)
    g = grey(flat)
    width = clf["widths"].probabilities(g).argmax(1)
    digit = clf["digits"].probabilities(g).argmax(1)
    right_colour = colour == target // 2
    right_width = width == target % 2
    return {"target_colour": float(right_colour.mean()),
            "target_width": float(right_width.mean()),
            "target_colour_and_width": float((right_colour & right_width).mean()),
            "digit_kept": float(np.mean(digit == np.repeat(digits, k)))}


def _load() -> str:
    try:
        return open("/proc/loadavg").read().split()[:3].__str__()
    except OSError:
        return "?"


def first_test_images(paths: dict, n: int) -> dict:
    """``paths`` with each ``*_test`` npz cut to its first ``n`` images (every array)."""
    out = dict(paths)
    for key in [k for k in paths if k.endswith("_test")]:
        cut = paths[key].replace(".npz", f"-first{n}.npz")
        if not os.path.isfile(cut):
            with np.load(paths[key]) as f:
                np.savez(cut, **{name: f[name][:n] for name in f.files})
        out[key] = cut
    return out


def run_folder(out: str, method: str, seed: int, steps=None, extra=()) -> str:
    """OUT/METHOD-seedS[-STEPS][-flag-value...]: a run folder named after what it changes."""
    tag = "".join(extra).replace("--", "-")
    return os.path.join(out, f"{method}-seed{seed}" + (f"-{steps}" if steps else "") + tag)


def run_method(method: str, paths: dict, out: str, steps=None, seed: int = 0,
               task: str = "", extra=()) -> dict:
    """Train ``method`` with its default preset on the npz task (``paths[task + '_train']``
    and ``_test``; by default strokes for cyclegan, styles for stargan), ``extra`` command-line
    options added; wall and CPU seconds."""
    import importlib
    from tinygen import cli
    module = importlib.import_module(f"tinygen.methods.{method}")
    task = task or ("strokes" if method == "cyclegan" else "styles")
    argv = ["--dataset", f"npz:{paths[task + '_train']}",
            "--test-dataset", f"npz:{paths[task + '_test']}", "--out", out, "--quiet",
            "--seed", str(seed)]
    if steps:
        argv += ["--steps", str(steps)]
    argv += list(extra)
    config = cli.build_config(module, argv, f"tinygen run {method}")     # as `tinygen run`
    load_before = _load()
    t0, c0 = time.time(), time.process_time()
    folder = module.train(config)
    wall, cpu = time.time() - t0, time.process_time() - c0
    return {"folder": folder, "steps": config.steps, "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1), "load_before": load_before, "load_after": _load()}


def evaluate(method: str, folder: str, paths: dict, clf: dict) -> dict:
    pred = np.load(os.path.join(folder, "predictions.npz"))
    if method == "cyclegan":
        test = np.load(paths["strokes_test"])
        return score_cyclegan(pred["x"], test["a_labels"], clf)
    test = np.load(paths["styles_test"])
    return score_stargan(pred["x"], test["digit"], clf)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("method", nargs="?", default="both", choices=["cyclegan", "stargan", "both"])
    p.add_argument("--steps", type=int, default=None, help="override the default budget")
    p.add_argument("--out", default="runs/unpaired_quality", help="tasks and run folders")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-test", type=int, default=0, help="score the first N held-out images")
    a, extra = p.parse_known_args(argv)
    paths = make_tasks(os.path.join(a.out, "data"))
    if a.n_test:
        paths = first_test_images(paths, a.n_test)
    clf = classifiers(paths)
    print(json.dumps({k: {"test_accuracy": round(v.info["test_accuracy"], 4)}
                      for k, v in clf.items()}))
    methods = ["cyclegan", "stargan"] if a.method == "both" else [a.method]
    for m in methods:
        folder = run_folder(a.out, m, a.seed, a.steps, extra)
        info = run_method(m, paths, folder, a.steps, a.seed, extra=extra)
        info.update(evaluate(m, info["folder"], paths, clf))
        info["sec_per_step_cpu"] = round(info["cpu_s"] / info["steps"], 3)
        print(json.dumps({"method": m, **info}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
