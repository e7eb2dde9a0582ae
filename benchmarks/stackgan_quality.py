"""Issue 24's quality bar for StackGAN on real MNIST digits, with the default budget.

The task (tinygen.data.captions.caption_digits on ../shared/data/mnist, the t10k split: the
first 8,000 images train, the last 2,000 are held out; padded to 32 x 32): every digit in a
random colour (red, green, blue) and stroke width (thin as it is, thick by a 3 x 3 grey
dilation), captioned "<colour> <width> <digit name>". The run sees the 2,000 held-out captions
alone (``--test-dataset`` with ``text`` only) and draws one image for each; the image counts
when all three of its caption's words are judged right:

    digit   the digit LeNet (tinygen.metrics.domain) on the grey image (the maximum over the
            channels), trained on training digits thin and thick
    colour  the mean colour of the stroke pixels (grey value > 25 % of the image's maximum):
            the channel holding most of it
    width   the thin/thick LeNet on the grey image, trained on training digits as they are vs
            thickened (other ones)

The two LeNets are benchmarks/unpaired_quality.py's (the same training data, cached). The
scorers are first checked on the 2,000 real held-out images with their true captions.

    python benchmarks/stackgan_quality.py [--steps N] [--out DIR] [--STACKGAN-FLAG V ...]

prints the scorers' accuracy on real images, the figures of the run, and its wall / CPU time
with the load average; ``--steps`` overrides the budget for a short form, and any other
``tinygen run stackgan`` flag (``--stage1-fraction 0.9``) is passed on to the run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unpaired_quality import (MNIST, classifiers, grey, make_tasks, run_folder,  # noqa: E402
                              run_method)


def make_captions(folder: str, mnist_dir: str = MNIST) -> dict:
    """captions_train.npz (x, text), captions_test.npz (text only: what the run sees) and
    captions_truth.npz (the held-out images, captions and their colour / width / digit)."""
    from tinygen.data import load_dataset
    from tinygen.data.captions import caption_digits
    paths = {k: os.path.join(folder, f"{k}.npz") for k in
             ("captions_train", "captions_test", "captions_truth")}
    if all(os.path.isfile(p) for p in paths.values()):
        return paths
    os.makedirs(folder, exist_ok=True)
    ds = load_dataset("mnist", split="test", data_dir=mnist_dir)       # t10k (10000, 28, 28)
    train = caption_digits(ds.x[:8000], ds.y[:8000], seed=0)
    test = caption_digits(ds.x[8000:], ds.y[8000:], seed=1)
    np.savez(paths["captions_train"], x=train.x, text=train.text)
    np.savez(paths["captions_test"], text=test.text)
    np.savez(paths["captions_truth"], x=test.x, text=test.text, digit=test.digit,
             colour=test.colour, width=test.width)
    return paths


def stroke_colour(x: np.ndarray, threshold: float = 0.25) -> np.ndarray:
    """uint8 RGB (N, H, W, 3) -> (N,) the channel (0 red, 1 green, 2 blue) holding most of the
    mean colour of the stroke pixels (those whose grey value exceeds ``threshold`` x the
    image's maximum)."""
    x = x.astype(np.float64)
    g = x.max(-1)                                                      # (N, H, W)
    stroke = g > threshold * g.reshape(len(g), -1).max(1)[:, None, None]
    mean = (x * stroke[..., None]).sum((1, 2)) / np.maximum(stroke.sum((1, 2)), 1)[:, None]
    return mean.argmax(1)


def score(x: np.ndarray, text, clf: dict) -> dict:
    """Images uint8 (N, 32, 32, 3) for captions ``text``: how often each word is right."""
    from tinygen.data.captions import parse_caption
    asked = np.array([parse_caption(t) for t in text])                 # (N, 3) colour width digit
    g = grey(x)
    colour = stroke_colour(x) == asked[:, 0]
    width = clf["widths"].probabilities(g).argmax(1) == asked[:, 1]
    digit = clf["digits"].probabilities(g).argmax(1) == asked[:, 2]
    return {"digit": float(digit.mean()), "colour": float(colour.mean()),
            "width": float(width.mean()), "all_three": float((digit & colour & width).mean())}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=None, help="override the default budget")
    p.add_argument("--out", default="runs/stackgan_quality", help="data and run folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--score-only", default=None, metavar="RUN",
                   help="score the predictions.npz of an existing run folder")
    a, flags = p.parse_known_args(argv)
    data = os.path.join(a.out, "data")
    paths = {**make_tasks(data), **make_captions(data)}
    clf = classifiers(paths)
    truth = np.load(paths["captions_truth"])
    real = score(truth["x"], truth["text"], clf)
    print(json.dumps({"scorers_on_real_held_out": {k: round(v, 4) for k, v in real.items()},
                      **{f"{k}_lenet_test_accuracy": round(v.info["test_accuracy"], 4)
                         for k, v in clf.items()}}), flush=True)
    if a.score_only:
        info = {"folder": a.score_only}
    else:
        folder = run_folder(a.out, "stackgan", a.seed, a.steps, flags)
        info = run_method("stackgan", paths, folder, a.steps, a.seed, task="captions",
                          extra=flags)
    pred = np.load(os.path.join(info["folder"], "predictions.npz"))
    info.update({k: round(v, 4) for k, v in score(pred["x"], pred["text"], clf).items()})
    if "steps" in info:
        info["sec_per_step_cpu"] = round(info["cpu_s"] / info["steps"], 3)
    print(json.dumps({"method": "stackgan", **info}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
