"""DeblurGAN's quality bar (issue 24): on photos NOT in training, blurred with a linear motion
kernel, does G's output beat the blurred input by >= 1 dB of PSNR?

    python benchmarks/deblur_quality.py [--out DIR] [--steps N] [-- extra tinygen run flags]
    python benchmarks/deblur_quality.py --run DIR        # score a finished run again

Trains ``tinygen run deblurgan`` with the default budget (the small preset) on
../shared/data/images less the held-out photos (default chelsea.png and coffee.png), measured
in process CPU seconds, then scores the run's G on the held-out photos, each blurred with the
run's evaluation kernel (linear, 11 px at 30 degrees) and with linear kernels of other lengths
and angles (does it generalise beyond the one kernel?), 8-bit inputs, PSNR over the whole
photo. The training photos are scored too, for comparison only (they are not the bar).
Prints one JSON object (and writes it to DIR/quality.json) with the load average: the machine
may be shared, so CPU time, not wall time, is the budget. Writes DIR/held_out.png: blurred |
deblurred | sharp crops of each held-out photo.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402  (a benchmark script, not library code)

KERNELS = [(11.0, 30.0), (11.0, 0.0), (11.0, 90.0), (11.0, 135.0), (7.0, 60.0), (15.0, 30.0)]


def score(G, photos, names, config, kernels=KERNELS) -> dict:
    """{name: {"L@A": [psnr blurred, psnr deblurred, gain]}} and the bar's mean gain."""
    from tinygen.data.blur import blur, linear_kernel, quantize
    from tinygen.methods import deblurgan
    from tinygen.metrics.image_quality import psnr
    table = {}
    for sharp, name in zip(photos, names):
        table[name] = {}
        for length, angle in kernels:
            blurred = quantize(blur(sharp, linear_kernel(length, angle)))
            out = deblurgan.deblur(G, blurred, config)
            p_in, p_out = psnr(sharp, blurred, data_range=1.0), psnr(sharp, out, data_range=1.0)
            table[name][f"{length:g}px@{angle:g}deg"] = [round(p_in, 3), round(p_out, 3),
                                                         round(p_out - p_in, 3)]
    return table


def crops_picture(G, photos, names, config, path: str, size: int = 128) -> None:
    from tinygen.io import save_image_grid
    from tinygen.methods import deblurgan
    rows = [deblurgan.frame(G, sharp, config, size=size) for sharp in photos]
    save_image_grid(np.stack(rows), path, nrow=1, normalize=True, value_range=(0.0, 1.0))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="score this run folder instead of training one")
    parser.add_argument("--steps", type=int, default=None, help="override deblurgan's --steps")
    parser.add_argument("--out", default=None, help="run folder to train into")
    parser.add_argument("extra", nargs="*", help="more `tinygen run deblurgan` flags (after --)")
    args = parser.parse_args(argv)
    run, cpu = args.run, None
    if run is None:
        from tinygen import cli
        run = args.out or os.path.join("runs", time.strftime("deblurgan-quality-%Y%m%d-%H%M%S"))
        flags = ["run", "deblurgan", "--quiet", "--out", run]
        flags += (["--steps", str(args.steps)] if args.steps else []) + list(args.extra)
        if os.path.exists(os.path.join(run, "checkpoint.npz")):
            flags += ["--resume", run]
        t0 = time.process_time()
        if cli.main(flags) != 0:
            return 1
        cpu = time.process_time() - t0
    from tinygen.methods import deblurgan
    from tinygen.methods import run as R
    config = deblurgan.Config(**{**R.config_options(R.read_config(run), deblurgan.Config),
                                 "out": None, "resume": None, "device": "cpu"})
    G = deblurgan.load_generator(config, R.checkpoint_path(run))
    train, names, test, test_names = deblurgan.load_data(config)
    held = score(G, test, test_names, config)
    bar_key = f"{config.test_length:g}px@{config.test_angle:g}deg"
    gains = [held[n][bar_key][2] for n in test_names]
    metrics = R.read_metrics(run)
    crops_picture(G, test, test_names, config, os.path.join(run, "held_out.png"))
    report = {"run": run, "step": metrics[-1]["step"], "held_out": test_names,
              "bar": "mean PSNR gain >= 1 dB on the held-out photos, linear " + bar_key,
              "mean_gain_db": round(float(np.mean(gains)), 3),
              "met": bool(np.mean(gains) >= 1.0),
              "held_out_table [psnr blurred, psnr deblurred, gain]": held,
              "mean_gain_all_kernels_db": round(float(np.mean(
                  [v[2] for t in held.values() for v in t.values()])), 3),
              "training_photos (not the bar)": score(G, train, names, config, KERNELS[:1]),
              "train_cpu_s": None if cpu is None else round(cpu, 1),
              "wall_s_in_metrics": metrics[-1].get("time"),
              "load_average": [round(v, 2) for v in os.getloadavg()]}
    text = json.dumps(report, indent=1)
    print(text)
    with open(os.path.join(run, "quality.json"), "w") as f:
        f.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
