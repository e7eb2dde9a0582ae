"""ProGAN's quality bar (issue 21): the default run on real MNIST digits, scored as DCGAN's.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 \\
        python benchmarks/progan_quality.py --out /tmp/progan_mnist [--dcgan] [-- extra flags]

1. Writes the first 8,000 t10k digits of ../shared/data/mnist padded to 32 x 32 (2 px of black
   on each side) as an npz, and runs ``tinygen run progan --dataset npz:THAT`` with no other
   flag but ``--n-samples 10000`` (so every samples_<R>px.npz holds 2,000 images) and any extra
   flags after ``--``.
2. Scores samples_4px.npz ... samples_32px.npz (the end of each resolution; a coarse level
   brought back to 32 px with a bicubic filter, beside the real digits treated the same way:
   the floor at that resolution) and 2,000 fresh
   samples of the finished run (``tinygen sample --n 2000``) with the MNIST domain classifier
   of docs/dcgan.md (``DomainConfig(dataset="mnist", split="test", data_dir=...)``: LeNet on
   t10k[0:4000], reference features t10k[4000:5000]), on the centre 28 x 28 crop (the padding
   removed): domain FID, IS, precision / recall and the share of each digit class.
3. ``--dcgan``: also runs the project's DCGAN default on the same 8,000 digits at their own
   28 x 28 size and scores 2,000 of its samples the same way.

Prints one JSON line per scored sample set and writes them to OUT/quality.json.
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
if not os.path.isdir(MNIST):
    MNIST = "/work/shared/data/mnist"


def write_digits(path: str, pad: int) -> str:
    """The first 8,000 t10k digits (uint8 (N, 28 + 2 pad, 28 + 2 pad)) and labels as npz."""
    from tinygen.data import load_dataset
    ds = load_dataset("mnist", split="test", data_dir=MNIST)
    x = np.pad(np.asarray(ds.x[:8000]), ((0, 0), (pad, pad), (pad, pad)))
    np.savez(path, x=x, y=np.asarray(ds.y[:8000], dtype=np.int64))
    return path


def classifier():
    from tinygen.metrics import domain
    config = domain.DomainConfig(dataset="mnist", split="test", data_dir=os.path.realpath(MNIST))
    return domain.load_domain_classifier("mnist", config=config, verbose=True)


def score(images: np.ndarray, name: str) -> dict:
    """Domain FID / IS / precision / recall / class shares of uint8 (N, H, W) digits."""
    from tinygen.metrics import domain
    if images.shape[1] != 28:                                       # remove the 2-px padding
        c = (images.shape[1] - 28) // 2
        images = images[:, c:c + 28, c:c + 28]
    clf = classifier()
    x = clf.prepare(images)
    feats = domain.compute_features(x, clf.feature_fn, 200)
    probs = domain.compute_features(x, clf.prob_fn, 200)
    mu_g, s_g = domain.feature_statistics(feats)
    mu_r, s_r = domain.feature_statistics(clf.reference_features)
    precision, recall = domain.precision_recall(clf.reference_features, feats, k=3)
    shares = np.bincount(probs.argmax(1), minlength=10) / len(probs)
    return {"samples": name, "n": int(len(images)),
            "domain_fid": round(float(domain._frechet(mu_r, s_r, mu_g, s_g)), 2),
            "domain_is": round(float(domain.inception_score(probs, splits=10)[0]), 3),
            "precision": round(float(precision), 3), "recall": round(float(recall), 3),
            "min_class_share": round(float(shares.min()), 4),
            "class_shares": [round(float(s), 4) for s in shares]}


def smooth(x: np.ndarray, r: int) -> np.ndarray:
    """Images (N, S, S) seen at r x r px, brought back to S x S with Pillow's bicubic filter:
    r x r pixels of a nearest-upsampled sample (or the 2x2-mean pyramid of a real image, as
    ProGAN's D sees it), so a coarse level is scored on its content, not on its blocks."""
    from tinygen.data import resize_images
    side = x.shape[1]
    if r >= side:
        return x
    k = side // r
    coarse = x.reshape(len(x), r, k, r, k).astype(np.float32).mean((2, 4))
    return resize_images(np.round(coarse).astype(np.uint8), side)


def run_and_sample(argv, out: str) -> float:
    from tinygen import cli
    start = time.time()
    if cli.main(argv) != 0:
        raise SystemExit(f"run failed: {' '.join(argv)}")
    wall = time.time() - start
    cli.main(["sample", out, "--n", "2000", "--out", os.path.join(out, "sampled-2000.npz")])
    return wall


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/progan_mnist")
    parser.add_argument("--dcgan", action="store_true", help="also run DCGAN's default")
    parser.add_argument("--score-only", action="store_true", help="score an existing --out")
    parser.add_argument("extra", nargs="*", help="extra flags for tinygen run progan")
    args = parser.parse_args(argv)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)) or ".", exist_ok=True)
    results = []
    data32 = write_digits(args.out.rstrip("/") + "-mnist32.npz", pad=2)
    if not args.score_only:
        wall = run_and_sample(["run", "progan", "--dataset", f"npz:{data32}", "--out", args.out,
                               "--n-samples", "10000", "--quiet", *args.extra], args.out)
        results.append({"run": "progan", "wall_s": round(wall, 1),
                        "load": os.getloadavg()})
    real = np.load(data32)["x"]
    for r in (4, 8, 16, 32, 64, 128):
        path = os.path.join(args.out, f"samples_{r}px.npz")
        if os.path.exists(path):
            x = np.load(path)["x"]
            results.append(score(smooth(x, r), f"progan end of {r} px"))
            if r < x.shape[1]:                  # the floor at this resolution
                results.append(score(smooth(real[:len(x)], r), f"real digits at {r} px"))
    final = os.path.join(args.out, "sampled-2000.npz")
    if os.path.exists(final):                   # --score-only on an unfinished run: no final
        results.append(score(np.load(final)["x"], "progan final, 2,000 fresh samples"))
    if args.dcgan:
        data28 = write_digits(args.out.rstrip("/") + "-mnist28.npz", pad=0)
        out = args.out.rstrip("/") + "-dcgan"
        wall = run_and_sample(["run", "dcgan", "--dataset", f"npz:{data28}", "--out", out,
                               "--quiet"], out)
        results.append({"run": "dcgan", "wall_s": round(wall, 1), "load": os.getloadavg()})
        results.append(score(np.load(os.path.join(out, "sampled-2000.npz"))["x"],
                             "dcgan default, 2,000 samples"))
    for r in results:
        print(json.dumps(r), flush=True)
    with open(os.path.join(args.out, "quality.json"), "w") as f:
        json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
