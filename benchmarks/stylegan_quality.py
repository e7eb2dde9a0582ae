"""StyleGAN's quality bar (issue 21), measured: prints the figures docs/stylegan.md quotes.

    python benchmarks/stylegan_quality.py mnist  [--steps N] [--out DIR] [--set key=value ...]
    python benchmarks/stylegan_quality.py colour [--steps N] [--out DIR] [--set key=value ...]
    python benchmarks/stylegan_quality.py score RUN_DIR [--colour]     (a run again, or one
                                        stopped by SIGTERM: scored at its last checkpoint)

mnist:  trains ``tinygen run stylegan`` with its defaults on the first 8,000 MNIST t10k digits
        (../shared/data/mnist) padded to 32 x 32, then scores 2,000 samples with the MNIST
        domain classifier (tinygen.metrics.domain, the one docs/dcgan.md scores DCGAN with) on
        the 28 x 28 centre: domain FID / IS, and the share of each digit (bar: every digit
        >= 3 %). docs/dcgan.md: the DCGAN default run scored domain FID 93.1 on 2,000 samples.
colour: the same digits painted in one of 3 colours (red, green, blue strokes on black);
        after training, in mixing.npz's x_mix (coarse styles of x_coarse, fine of x_fine) the
        digit is read by the domain classifier and the colour by the mean colour of the stroke;
        it prints how often x_mix's digit equals x_coarse's / x_fine's and its colour equals
        x_fine's / x_coarse's, with the chance levels.

Timing: wall and process CPU seconds per step and ``/proc/loadavg`` are printed; the machine
is shared, so quote CPU s/step (single BLAS thread: run with OPENBLAS_NUM_THREADS=1).
Needs ../shared/data/mnist (exits with a message when it is missing).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED_MNIST = os.path.realpath(os.path.join(HERE, "..", "..", "shared", "data", "mnist"))
COLOURS = np.array([[255, 40, 40], [40, 220, 40], [60, 90, 255]], np.float64)   # R, G, B strokes


def mnist8k(pad: int = 2):
    """(x uint8 (8000, 32, 32), y) : the first 8,000 t10k digits padded with black."""
    from tinygen.data import load_mnist
    x, y = load_mnist(SHARED_MNIST, split="test")
    x = np.pad(x[:8000], ((0, 0), (pad, pad), (pad, pad)))
    return x, y[:8000].astype(np.int64)


def painted(x, seed: int = 0):
    """Each digit's strokes in one of the 3 colours: (N, 32, 32, 3) uint8 and the colour index."""
    c = np.random.default_rng(seed).integers(0, 3, len(x))
    rgb = x[..., None].astype(np.float64) / 255.0 * COLOURS[c][:, None, None, :]
    return np.round(rgb).astype(np.uint8), c


def domain_config():
    from tinygen.metrics.domain import DomainConfig
    return DomainConfig(dataset="mnist", split="test", data_dir=SHARED_MNIST)


def centre28(x):
    """(N, 32, 32[, 3]) uint8 -> (N, 28, 28) uint8 grey (a colour image: its brightest channel,
    so each colour's stroke reads as the same white digit)."""
    x = np.asarray(x)
    if x.ndim == 4:
        x = x.max(axis=3)
    return np.ascontiguousarray(x[:, 2:30, 2:30])


def digit_scores(x_u8) -> dict:
    """domain FID / IS / precision / recall and the digit shares of uint8 samples."""
    from tinygen.metrics.domain import evaluate_samples, load_domain_classifier
    x = centre28(x_u8)
    scores = evaluate_samples(x, "mnist", config=domain_config())
    clf = load_domain_classifier("mnist", config=domain_config())
    digits = clf.probabilities(x).argmax(1)
    share = np.bincount(digits, minlength=10) / len(digits)
    scores["digit_share"] = [round(float(s), 4) for s in share]
    scores["min_digit_share"] = float(share.min())
    return {k: (round(float(v), 4) if isinstance(v, float) else v) for k, v in scores.items()}


def read_digits(x_u8):
    from tinygen.metrics.domain import load_domain_classifier
    clf = load_domain_classifier("mnist", config=domain_config())
    return clf.probabilities(centre28(x_u8)).argmax(1)


def read_colours(x_u8):
    """The colour (0, 1, 2) whose direction is nearest the mean colour of the stroke pixels
    (brightest channel > 40 % of the image's brightest)."""
    x = np.asarray(x_u8, np.float64)                                 # (N, H, W, 3)
    bright = x.max(axis=3)                                           # (N, H, W)
    out = np.empty(len(x), np.int64)
    directions = COLOURS / np.linalg.norm(COLOURS, axis=1, keepdims=True)
    for i in range(len(x)):
        mask = bright[i] > 0.4 * max(bright[i].max(), 1.0)
        mean = x[i][mask].mean(0)
        out[i] = int(np.argmax(directions @ (mean / max(np.linalg.norm(mean), 1e-8))))
    return out


def chance(a, b) -> float:
    """The agreement two independent labellings with these marginals would reach."""
    k = int(max(a.max(), b.max())) + 1
    pa, pb = np.bincount(a, minlength=k) / len(a), np.bincount(b, minlength=k) / len(b)
    return float(pa @ pb)


def mixing_scores(folder: str) -> dict:
    m = np.load(os.path.join(folder, "mixing.npz"))
    d = {k: read_digits(m[k]) for k in ("x_coarse", "x_fine", "x_mix")}
    c = {k: read_colours(m[k]) for k in ("x_coarse", "x_fine", "x_mix")}
    r = lambda a, b: round(float(np.mean(a == b)), 4)               # noqa: E731
    return {
        "n_triples": int(len(m["x_mix"])),
        "digit_mix_eq_coarse": r(d["x_mix"], d["x_coarse"]),
        "digit_mix_eq_fine": r(d["x_mix"], d["x_fine"]),
        "digit_chance": round(chance(d["x_mix"], d["x_coarse"]), 4),
        "colour_mix_eq_fine": r(c["x_mix"], c["x_fine"]),
        "colour_mix_eq_coarse": r(c["x_mix"], c["x_coarse"]),
        "colour_chance": round(chance(c["x_mix"], c["x_fine"]), 4),
    }


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def train(dataset_npz: str, out: str, steps, options: dict):
    from tinygen.methods import stylegan
    kw = dict(dataset=f"npz:{dataset_npz}", out=out, **options)
    if steps:
        kw["steps"] = steps
    config = stylegan.Config(**kw)
    load0, t0, c0 = loadavg(), time.time(), time.process_time()
    folder = stylegan.train(config)
    wall, cpu = time.time() - t0, time.process_time() - c0
    return folder, config, {"steps": config.steps, "wall_s": round(wall, 1),
                            "cpu_s": round(cpu, 1),
                            "cpu_s_per_step": round(cpu / config.steps, 4),
                            "wall_s_per_step": round(wall / config.steps, 4),
                            "load_before": load0, "load_after": loadavg()}


def samples_of(folder: str, n: int = 2000):
    from tinygen.data.arrays import to_uint8_images
    from tinygen.methods import run as R
    from tinygen.methods import stylegan
    config = stylegan.Config(**R.config_options(R.read_config(folder), stylegan.Config))
    x, vr = stylegan.sample_run(config, R.checkpoint_path(folder), n, seed=123)
    return to_uint8_images(x, vr)


def finish_stopped_run(folder: str) -> int:
    """A run stopped before its end (SIGTERM: its last checkpoint) gets what ``finish`` would
    have written from that checkpoint: mixing.npz and the three pictures. Returns its step."""
    from tinygen.io.checkpoint import load_checkpoint
    from tinygen.methods import run as R
    from tinygen.methods import stylegan
    path = R.checkpoint_path(folder)
    step = int(load_checkpoint(path)["step"])
    if os.path.exists(os.path.join(folder, "mixing.npz")):
        return step
    config = stylegan.Config(**R.config_options(R.read_config(folder), stylegan.Config))
    data, _ = stylegan.load_images(stylegan.Config(**{**vars(config), "n_train": 16}))
    G, D = stylegan.build_models(config, data)
    from tinygen.io.checkpoint import restore_checkpoint
    restore_checkpoint(path, G=G, D=D)
    rng = np.random.default_rng(config.seed + 2)

    class Folder:                        # what save_pictures needs of a Run
        eval_rng = rng

        @staticmethod
        def path(name):
            return os.path.join(folder, name)
    R.save_npz(Folder.path("mixing.npz"), **stylegan.mixing_triples(G, config.n_mixing, config,
                                                                     rng))
    stylegan.save_pictures(Folder, G, config)
    return step


def parse_sets(items) -> dict:
    out = {}
    for item in items or ():
        key, _, value = item.partition("=")
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                pass
        out[key] = {"true": True, "false": False}.get(value, value) if isinstance(value, str) \
            else value
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("part", choices=["mnist", "colour", "score"])
    p.add_argument("run", nargs="?", help="score: the run folder")
    p.add_argument("--steps", type=int, default=None, help="default: the Config's")
    p.add_argument("--out", default=None)
    p.add_argument("--colour", action="store_true", help="score: the run is a colour run")
    p.add_argument("--set", nargs="*", default=[], help="more Config fields, key=value")
    args = p.parse_args(argv)
    if not os.path.isdir(SHARED_MNIST):
        print(f"no MNIST at {SHARED_MNIST}; this benchmark needs ../shared/data/mnist")
        return 2
    result = {}
    if args.part == "score":
        folder, colour = args.run, args.colour
        result["step"] = finish_stopped_run(folder)
    else:
        colour = args.part == "colour"
        x, _ = mnist8k()
        if colour:
            x, _ = painted(x)
        stamp = time.strftime("%H%M%S")
        npz = f"/tmp/stylegan_{args.part}8k.npz"
        if not os.path.exists(npz):
            np.savez(npz, x=x)
        out = args.out or f"runs/stylegan-{args.part}-{stamp}"
        folder, config, timing = train(npz, out, args.steps, parse_sets(args.set))
        result["timing"] = timing
    result["folder"] = folder
    result["samples"] = digit_scores(samples_of(folder))
    result["mixing"] = mixing_scores(folder) if colour else None
    print(json.dumps(result, indent=1))
    with open(os.path.join(folder, "quality.json"), "w") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
