"""The super-resolution quality bar of docs/super_resolution.md: train on the shared photos,
score on held-out ones, print Y-PSNR per photo against the better of bicubic and Lanczos-3.

    python benchmarks/sr_quality.py srresnet --scale 4 [--steps N] [any `tinygen run` flag]
    python benchmarks/sr_quality.py wdsr --scale 2 --eval-every 250 --out runs/q/wdsr2

Defaults: the method's default preset, trained on /work/shared/data/images less chelsea.png
and camera.png (``--photos``, ``--held-out``), evaluated on those two every ``--eval-every``
steps (the learning curve). Prints one row per evaluation: step, seconds per *training* step
(evaluations excluded), Y-PSNR of each held-out photo and its gain over max(bicubic, Lanczos),
and the load average beside the wall time: the machine is shared, so the seconds are
pessimistic and ``steps x s/step`` is the extrapolation to a budget. Run it with
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`` for timings.
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

PHOTOS = "/work/shared/data/images"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("method", choices=["srresnet", "edsr", "wdsr", "srgan"])
    p.add_argument("--photos", default=PHOTOS)
    p.add_argument("--held-out", default="chelsea.png,camera.png")
    p.add_argument("--eval-every", type=int, default=500)
    a, rest = p.parse_known_args(argv)
    from tinygen import cli
    from tinygen.methods import METHODS
    from tinygen.methods.run import read_metrics
    module = importlib.import_module(METHODS[a.method])
    held = a.held_out.split(",")
    args = ["--dataset", f"folder:{a.photos}", "--exclude", a.held_out,
            "--test-dataset", "files:" + ",".join(os.path.join(a.photos, h) for h in held),
            "--eval-every", str(a.eval_every),
            "--log-every", str(math.gcd(a.eval_every, 100)),   # every evaluation is logged
            "--quiet"] + rest
    config = cli.build_config(module, args, report=print)
    t0, c0, load0 = time.time(), time.process_time(), os.getloadavg()
    out = module.train(config)
    wall, cpu, load1 = time.time() - t0, time.process_time() - c0, os.getloadavg()
    rows = [r for r in read_metrics(out) if "test_psnr_y_sr" in r]
    ev = json.load(open(os.path.join(out, "eval.json")))
    base = {r["image"]: max(r["psnr_y_bicubic"], r["psnr_y_lanczos"]) for r in ev["images"]}
    print(f"{a.method} x{config.scale} {out}: {config.steps} steps, {wall:.0f} s wall, "
          f"{cpu:.0f} CPU s ({cpu / config.steps:.2f} CPU s/step with the evaluations; a quiet "
          f"2-core machine takes about half that in wall time per step), load "
          f"{load0[0]:.1f} -> {load1[0]:.1f} (1-min average)")
    print("step   s/step  " + "".join(f"{h[:12]:>13} gain " for h in held))
    prev_step, prev_time = 0, 0.0
    for r in rows:
        per_step = (r["time"] - prev_time - r.get("eval_s", 0.0)) / max(1, r["step"] - prev_step)
        prev_step, prev_time = r["step"], r["time"]
        psnr = [r[f"test_psnr_y_sr[{h}]"] for h in held]
        cells = "".join(f"{v:13.2f} {v - base[h]:+.2f}" for v, h in zip(psnr, held))
        print(f"{r['step']:<6d} {per_step:6.2f}  {cells}")
    print("baseline max(bicubic, lanczos): " + ", ".join(f"{h} {v:.2f}" for h, v in base.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
