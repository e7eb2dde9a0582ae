"""``tinygen demo gan2d``: a GAN Lab in a GIF, trained on CPU in well under two minutes.

GAN Lab (Kahng et al. 2018, arXiv:1809.01587) shows a GAN learning a 2-D distribution;
this demo draws the same layers, frame after frame, for the minimax, non-saturating,
WGAN (weight clipping) and WGAN-GP objectives:

    background   the discriminator's decision D(x) over the plane (green: "real",
                 purple: "fake"; for a WGAN critic, its score f(x), standardised)
    thin lines   the generator's manifold: a square grid of noise z, mapped through G
    dots         real samples (green) and generated samples (purple)
    arrows       -grad_x L_G at generated points: where the generator's update pushes them

Side by side, ``--loss minimax`` and ``--loss nonsaturating`` on ``--dataset grid25`` show
mode collapse, and ``--loss wgan-gp`` the Wasserstein critic's answer to it (with the
authors' toy-task lambda = 0.1: see docs/wgan_gp.md). A second
picture plots the losses and the mode-coverage metrics (modes covered, fraction of
high-quality samples) against the step.

The training itself is :func:`tinygen.methods.gan.fit` (Goodfellow et al. Algorithm 1)
with settings tuned for 2-D toys (see :data:`PRESETS`); every setting can be overridden.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import tinygen
from tinygen import backend
from tinygen import losses as L
from tinygen.backend import blas_threads
from tinygen.io.plot import FAKE, REAL, Canvas, line_plot, save_gif, save_image, side_by_side
from tinygen.methods import gan

np = backend.numpy

# ---------------------------------------------------------------- settings

# Tuned for the 2-D toys on a laptop CPU (departures from the papers' image settings,
# which need ~100k steps): Adam everywhere, wider nets than needed, fewer steps.
# WGAN keeps clipping c = 0.01 and n_critic = 5 with RMSProp (Arjovsky et al. 2017,
# Algorithm 1) and a larger lr; WGAN-GP follows its authors' toy script (below).
COMMON = dict(batch_size=256, optimizer="adam", hidden=128, n_hidden=3, latent_dim=2,
              g_activation="relu", d_activation="leaky_relu", n_eval=2500, n_samples=2500,
              lr_decay=True)
PRESETS = {
    # Instance noise (std 0.1 annealed to 0, a GAN hack) made seed 1 reach 8/8 modes
    # (4/8 without it, same budget).
    "minimax": dict(loss="minimax", k=1, lr_d=1e-3, lr_g=1e-3, beta1=0.5, beta2=0.999,
                    instance_noise=0.1, steps=2000),
    "nonsaturating": dict(loss="nonsaturating", k=1, lr_d=1e-3, lr_g=1e-3, beta1=0.5,
                          beta2=0.999, instance_noise=0.1, steps=2000),
    "wgan": dict(loss="wgan", k=5, optimizer="rmsprop", lr_d=5e-4, lr_g=5e-4, clip=0.01,
                 steps=1000),
    # WGAN-GP as its authors ran it on these toys (github.com/igul222/improved_wgan_training,
    # gan_toy.py, commit 3c8ba3c): lambda = 0.1 ("Smaller lambda makes things faster for toy
    # tasks"), n_critic = 5, Adam betas (0.5, 0.9), batch 256 -- departures from Algorithm 1's
    # image settings (lambda = 10, beta1 = 0, m = 64), which tinygen.methods.wgan_gp keeps.
    # Ours, for a CPU budget of minutes instead of the script's 100,000 iterations: lr 2e-3
    # (20x the script's 1e-4) decayed linearly to 0, 3 x 128 MLPs instead of 3 x 512.
    # Measured (quiet 2-core CPU): ring8 2,000 steps 8/8 modes, 92 % / 93 % high quality
    # (seeds 0 / 1); grid25 4,000 steps 25/25, 78 % / 81 %. With lambda = 10 the same budget
    # reached 8/8 and 77 % on the ring (seed 0) and did not converge on the grid (docs/wgan_gp.md).
    "wgan-gp": dict(loss="wgan-gp", k=5, lr_d=2e-3, lr_g=2e-3, beta1=0.5, beta2=0.9,
                    gp_lambda=0.1, steps=2000),
}
# Step budget multiplier per dataset, and per loss where it differs.
DATASET_STEPS = {"ring8": 1.0, "grid25": 1.5, "moons": 1.0}
LOSS_DATASET_STEPS = {("wgan-gp", "grid25"): 2.0}


def demo_config(loss="nonsaturating", dataset="ring8", steps=None, seed=0, out=None,
                **overrides) -> gan.Config:
    """The demo's :class:`tinygen.methods.gan.Config` for a loss and a dataset."""
    if loss not in PRESETS:
        raise ValueError(f"--loss for the demo must be one of {', '.join(PRESETS)}, got {loss!r}")
    settings = {**COMMON, **PRESETS[loss]}
    multiplier = LOSS_DATASET_STEPS.get((loss, dataset), DATASET_STEPS.get(dataset, 1.0))
    settings["steps"] = steps or int(settings["steps"] * multiplier)
    settings.update(dataset=dataset, seed=seed, out=out, quiet=True)
    settings["log_every"] = max(1, settings["steps"] // 40)
    settings["sample_every"] = max(1, settings["steps"] // 40)
    settings.update(overrides)
    return gan.Config(**settings)


# ---------------------------------------------------------------- drawing

ARROW = (214, 39, 40)        # red
MANIFOLD = (90, 90, 90)
HEAT = ((222, 200, 232), (250, 250, 250), (196, 232, 214))   # pale purple - white - pale green
LOSS_D = (31, 119, 180)      # blue
SIZE = 400                   # pixels of the square panel


def decision_surface(D, view, loss, n=80, device="cpu"):
    """D's decision on the n x n grid of cells of ``view`` (a :class:`tinygen.io.plot.Canvas`)
    -> values in [0, 1], (n, n) with row 0 at the bottom (``Canvas.heatmap``'s layout).

    GAN losses: D(x) = sigmoid(logit). Critics (wgan, wgan-gp, hinge, lsgan): the score
    is unbounded and defined up to a constant, so it is standardised over the grid and
    squashed: 1/2 + 1/2 tanh((f - mean f) / std f).
    """
    pts = tinygen.tensor(view.grid(n).astype(np.float32), device=device)   # (n*n, 2)
    with tinygen.no_grad():
        s = backend.to_host(D(pts).data).reshape(n, n).astype(np.float64)
    if loss in ("minimax", "nonsaturating"):
        return 1 / (1 + np.exp(-np.clip(s, -50, 50)))
    return 0.5 + 0.5 * np.tanh((s - s.mean()) / (s.std() + 1e-12))


def manifold_lines(G, lines=11, points=48, radius=2.5, device="cpu"):
    """G applied to a square grid of noise lines z in [-r, r]^2 -> list of (points, 2) polylines."""
    t = np.linspace(-radius, radius, points)
    c = np.linspace(-radius, radius, lines)
    zs = [np.stack([t, np.full_like(t, ci)], 1) for ci in c] + \
         [np.stack([np.full_like(t, ci), t], 1) for ci in c]
    z = tinygen.tensor(np.concatenate(zs).astype(np.float32), device=device)   # (2 L P, 2)
    with tinygen.no_grad():
        x = backend.to_host(G(z).data)
    return np.split(x, 2 * lines)


def generator_gradients(G, D, loss, z):
    """Fake points x = G(z) and the direction -dL_G/dx the generator update pushes them."""
    with tinygen.no_grad():
        x = G(z)
    x = x.detach().requires_grad_()
    _, g_loss = L.gan_losses(loss)
    (g,) = tinygen.grad(g_loss(D(x)) * float(x.shape[0]), x)       # per-sample gradient (m, 2)
    D.zero_grad()
    return backend.to_host(x.data), -backend.to_host(g.data)


class Frames:
    """Renders GAN-Lab frames during training (``on_frame`` hook of :func:`gan.fit`)."""

    def __init__(self, config, real, n_show=500, n_arrows=80):
        rng = np.random.default_rng(config.seed + 3)
        self.config = config
        self.real = real[rng.choice(len(real), min(n_show, len(real)), replace=False)]
        self.view = Canvas.around(real, SIZE)
        self.z = tinygen.tensor(rng.standard_normal((n_show, 2)).astype(np.float32),
                                device=config.device)
        self.n_arrows = n_arrows
        self.metrics = {}

    def __call__(self, step, G, D, data, nz, record=None):
        c = self.config
        self.metrics = record or {}
        frame = self.view.blank()
        frame.heatmap(decision_surface(D, frame, c.loss, device=c.device), vmin=0.0, vmax=1.0,
                      stops=HEAT)
        if nz == 2:
            for line in manifold_lines(G, device=c.device):
                frame.polyline(line, MANIFOLD)
        fake, g = generator_gradients(G, D, c.loss, self.z)
        frame.scatter(self.real, REAL).scatter(fake, FAKE)
        # Arrows: the steepest 95th-percentile gradient is drawn 1/8 of the panel long.
        norms = np.linalg.norm(g, axis=1)
        scale = (frame.xlim[1] - frame.xlim[0]) / 8 / (np.percentile(norms, 95) + 1e-12)
        frame.arrows(fake[: self.n_arrows], np.clip(g[: self.n_arrows] * scale, -1e3, 1e3),
                     color=ARROW)
        m = self.metrics
        coverage = (f"modes {m['modes']}/{len(data.centres)}   high quality {100 * m['hq']:.0f}%"
                    if "modes" in m else "")
        frame.title(f"{c.loss}  {c.dataset}  step {step}/{c.steps}", coverage)
        frame.legend([("real", REAL), ("generated", FAKE), ("-grad L_G", ARROW)],
                     corner="bottom-right")
        return frame.to_array()


def plot_history(history, path, title=""):
    """Losses (left) and mode coverage (right) against the step -> PNG at ``path``."""
    steps = [h["step"] for h in history]
    get = lambda k: np.array([h.get(k, np.nan) for h in history], dtype=np.float64)  # noqa: E731
    panels = [line_plot({"loss_d": get("loss_d"), "loss_g": get("loss_g")}, steps, (320, 260),
                        f"losses {title}", xlabel="step", colors=[LOSS_D, FAKE])]
    if any("modes" in h for h in history):
        k = max(1, int(np.nanmax(get("modes_total")))) if "modes_total" in history[0] else None
        modes = get("modes")
        kmax = k or max(1.0, float(np.nanmax(modes)))
        panels.append(line_plot({"modes / K": modes / kmax, "high quality": get("hq")}, steps,
                                (320, 260), "mode coverage (fractions)", ylim=(0.0, 1.0),
                                xlabel="step", colors=[REAL, ARROW]))
    save_image(side_by_side(panels), path)
    return path


# ---------------------------------------------------------------- the demo

def run_demo(config: gan.Config):
    """Train with GAN-Lab frames; return (files written, history, seconds)."""
    t0 = time.time()
    data = gan.load_data(config)
    frames = Frames(config, data.x)

    run, G, D, data, history = gan.fit(config, "gan2d", on_frame=frames, data=data,
                                       write_gif=False)
    gif = save_gif(run.frames, run.path("gan2d.gif"), duration_ms=120, hold_last_ms=1500)
    if data.centres is not None:
        for h in history:
            h["modes_total"] = len(data.centres)
    plot = plot_history(history, run.path("metrics.png"), f"({config.loss}, {config.dataset})")
    last = run.path("final.png")
    save_image(run.frames[-1], last)
    files = [gif, plot, last] + [run.path(n) for n in ("samples.npz", "metrics.jsonl",
                                                         "config.json", "checkpoint.npz")]
    files += [run.path(n) for n in sorted(os.listdir(run.dir)) if n.startswith("samples_")]
    return [f for f in files if os.path.exists(f)], history, time.time() - t0


def demo_main(argv) -> int:
    """``tinygen demo gan2d [--out DIR] [--loss L] [--dataset D] [--steps N] [--seed S]``."""
    parser = argparse.ArgumentParser(
        prog="tinygen demo gan2d", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Train a GAN on a 2-D toy on CPU and write a GAN-Lab style GIF "
                    "(decision heat map, generator manifold, gradient arrows) and a "
                    "loss / mode-coverage plot.")
    parser.add_argument("--out", default=None, help="output folder (default: a new gan2d-* "
                        "folder in the current directory)")
    parser.add_argument("--loss", default="nonsaturating", choices=list(PRESETS),
                        help="GAN objective; each has its own tuned preset (PRESETS)")
    parser.add_argument("--dataset", default="ring8", choices=["ring8", "grid25", "moons"],
                        help="2-D toy distribution")
    parser.add_argument("--steps", type=int, default=None,
                        help="generator steps (default: the preset's budget for the loss)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, data and noise")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    args = parser.parse_args(argv)
    out = args.out or _new_folder(f"gan2d-{args.loss}-{args.dataset}")
    config = demo_config(args.loss, args.dataset, args.steps, args.seed, out, device=args.device)
    with blas_threads(1):
        files, history, seconds = run_demo(config)
    for f in files:
        print(f)
    last = history[-1]
    summary = f"# {config.loss} on {config.dataset}: {config.steps} steps in {seconds:.1f} s"
    if "modes" in last:
        summary += f"; modes {last['modes']}, high quality {100 * last['hq']:.1f}%"
    print(summary, file=sys.stderr)
    return 0


def _new_folder(prefix):
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, i = f"{prefix}-{stamp}", 1
    while os.path.exists(path):
        i += 1
        path = f"{prefix}-{stamp}-{i}"
    os.makedirs(path)
    return path


__all__ = ["demo_main", "demo_config", "run_demo", "Frames", "PRESETS",
           "decision_surface", "manifold_lines", "generator_gradients", "plot_history"]
