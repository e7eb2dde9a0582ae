"""3D-GAN's quality bar (issue 24): are the samples recognisable solids, and is every kind made?

    python benchmarks/gan3d_quality.py [--steps 3000] [--out DIR] [-- extra tinygen run flags]
    python benchmarks/gan3d_quality.py --run DIR          # score a finished (or checkpointed) run

Trains ``tinygen run gan3d`` on the embedded solids with the default budget (or takes a run
folder: its samples.npz, or fresh samples from its checkpoint.npz when the run is still
going), trains the 3-D solids classifier of tinygen.metrics.voxels (five solids + 'other'),
and prints one JSON line: the fraction of samples recognised as a solid (probability >= 0.9),
the share of each kind, how many kinds appear, the classifier's own accuracy on fresh solids
and on 'other' volumes, the real solids' scores for comparison, and the training speed
(seconds per step from metrics.jsonl, with the load average: the machine may be shared).
It also writes DIR/classified.png: 32 samples rendered with the class the classifier gave.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402  (a benchmark script, not library code)


def samples_of(run: str, n: int) -> np.ndarray:
    path = os.path.join(run, "samples.npz")
    if os.path.exists(path):
        return np.load(path)["x"]
    from tinygen.methods import gan3d
    from tinygen.methods import run as R
    config = gan3d.Config(**R.config_options(R.read_config(run), gan3d.Config))
    x, _ = gan3d.sample_run(config, R.checkpoint_path(run), n, seed=0)
    return x


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="score this run folder instead of training one")
    parser.add_argument("--steps", type=int, default=None, help="override gan3d's --steps")
    parser.add_argument("--out", default=None, help="run folder to train into")
    parser.add_argument("--n", type=int, default=512, help="samples to draw from a checkpoint")
    parser.add_argument("--classifier", default=None,
                        help="an .npz of the classifier's weights: loaded if it exists, else "
                             "written after training (saves retraining it for each score)")
    parser.add_argument("extra", nargs="*", help="more `tinygen run gan3d` flags (after --)")
    args = parser.parse_args(argv)
    run = args.run
    if run is None:
        from tinygen import cli
        flags = ["run", "gan3d", "--quiet"] + (["--steps", str(args.steps)] if args.steps else [])
        flags += (["--out", args.out] if args.out else []) + list(args.extra)
        if cli.main(flags) != 0:
            return 1
        run = args.out or sorted(os.path.join("runs", d) for d in os.listdir("runs")
                                 if d.startswith("gan3d-"))[-1]
    from tinygen.data.voxels import synthetic_solids
    from tinygen.io import save_image
    from tinygen.io.plot import titled, voxel_grid
    from tinygen.metrics.voxels import CLASSES, _probabilities, solid_scores, \
        train_solid_classifier
    x = samples_of(run, args.n)
    if args.classifier and os.path.exists(args.classifier):
        from tinygen.metrics.voxels import SolidClassifier
        model = SolidClassifier()
        with np.load(args.classifier) as f:
            model.load_state_dict({k: f[k] for k in f.files})
    else:
        model = train_solid_classifier(0)
        if args.classifier:
            np.savez(args.classifier, **{k: v.numpy() for k, v in model.state_dict().items()})
    scores = solid_scores(x, model)
    real = solid_scores(synthetic_solids(len(x), seed=2024).x, model)
    metrics = [json.loads(line) for line in open(os.path.join(run, "metrics.jsonl"))]
    p = _probabilities(model, x[:32])
    labels = [f"{CLASSES[k]} {q:.2f}" for k, q in zip(p.argmax(1), p.max(1))]
    picture = titled(voxel_grid(x[:32], nrow=8, size=56, labels=labels),
                     f"gan3d samples at step {metrics[-1]['step']}, as the solids classifier "
                     "labels them", "class and probability; recognised = a solid at >= 0.9")
    save_image(np.asarray(picture), os.path.join(run, "classified.png"))
    report = {"run": run, "step": metrics[-1]["step"], **scores,
              "real_recognised": real["recognised"], "real_kinds_present": real["kinds_present"],
              "sec_per_step": metrics[-1].get("sec_per_step"),
              "load_average": [round(v, 2) for v in os.getloadavg()]}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
