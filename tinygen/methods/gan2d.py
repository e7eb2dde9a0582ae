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

The training itself is each objective's own method (``gan``, ``wgan``, ``wgan_gp``: their
``train`` with a ``frames`` hook) under that method's 2-D preset; every setting can be
overridden.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import tinygen
from tinygen import backend, nn
from tinygen import losses as L
from tinygen.backend import blas_threads
from tinygen.io.plot import FAKE, REAL, Canvas, line_plot, save_gif, save_image, side_by_side
from tinygen.methods import run as R

np = backend.numpy

# ---------------------------------------------------------------- settings

# The demo trains each objective with its method's own preset for 2-D toys
# (``--preset auto`` of ``tinygen run METHOD --dataset ring8``): gan.PRESETS["toy2d"]
# (Adam, instance noise, lr decay), wgan.PRESETS["toy2d"] (RMSProp, clipping c = 0.01,
# n_critic = 5) and wgan_gp.PRESETS["toy2d"] (the authors' toy script, lambda = 0.1).
# Each preset says where it departs from its paper.
METHOD_OF_LOSS = {"minimax": "gan", "nonsaturating": "gan", "wgan": "wgan", "wgan-gp": "wgan-gp"}
LOSSES = tuple(METHOD_OF_LOSS)


def method_module(loss: str):
    """The method module that trains ``loss`` (minimax / nonsaturating: the GAN's)."""
    import importlib
    from tinygen.methods import METHODS
    return importlib.import_module(METHODS[METHOD_OF_LOSS[loss]])


def demo_config(loss="nonsaturating", dataset="ring8", steps=None, seed=0, out=None,
                **overrides):
    """The demo's config for a loss and a dataset: the method's dataset preset, ~40 frames."""
    if loss not in METHOD_OF_LOSS:
        raise ValueError(f"--loss for the demo must be one of {', '.join(LOSSES)}, got {loss!r}")
    module = method_module(loss)
    settings = dict(module.PRESETS[module.default_preset(dataset)])
    if METHOD_OF_LOSS[loss] == "gan":             # the GAN's Config carries the loss
        settings["loss"] = loss
    settings["steps"] = settings["steps"] if steps is None else steps   # 0: refused by Config
    settings.update(dataset=dataset, seed=seed, out=out)
    settings["log_every"] = max(1, settings["steps"] // 40)
    settings["sample_every"] = max(1, settings["steps"] // 40)
    settings.update(overrides)
    return module.Config(**settings)


# ---------------------------------------------------------------- drawing

ARROW = (214, 39, 40)        # red
MANIFOLD = (90, 90, 90)
HEAT = ((222, 200, 232), (250, 250, 250), (196, 232, 214))   # pale purple - white - pale green
LOSS_D = (31, 119, 180)      # blue
SIZE = 400                   # pixels of the square panel


def decision_surface(D, view, loss, n=80, device=None):
    """D's decision on the n x n grid of cells of ``view`` (a :class:`tinygen.io.plot.Canvas`)
    -> values in [0, 1], (n, n) with row 0 at the bottom (``Canvas.heatmap``'s layout).

    GAN losses: D(x) = sigmoid(logit). Critics (wgan, wgan-gp, hinge, lsgan): the score
    is unbounded and defined up to a constant, so it is standardised over the grid and
    squashed: 1/2 + 1/2 tanh((f - mean f) / std f). ``device``: D's (None: where D lives).
    """
    device = device or nn.module_device(D)
    pts = tinygen.tensor(view.grid(n).astype(np.float32), device=device)   # (n*n, 2)
    with tinygen.no_grad():
        s = backend.to_host(D(pts).data).reshape(n, n).astype(np.float64)
    if loss in ("minimax", "nonsaturating"):
        return 1 / (1 + np.exp(-np.clip(s, -50, 50)))
    return 0.5 + 0.5 * np.tanh((s - s.mean()) / (s.std() + 1e-12))


def manifold_lines(G, lines=11, points=48, radius=2.5, device=None):
    """G applied to a square grid of noise lines z in [-r, r]^2 -> list of (points, 2) polylines
    (made on ``device``; None: where G lives)."""
    device = device or nn.module_device(G)
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
    """Renders GAN-Lab frames during training (the ``frames`` hook of the GANs' ``train``)."""

    def __init__(self, config, data, loss, n_show=500, n_arrows=80):
        rng = np.random.default_rng(config.seed + 3)
        real = data.x
        self.config, self.data, self.loss = config, data, loss
        self.nz = config.latent_dim or 2
        self.drawn = []                         # every frame, for the demo's own GIF
        self.recorded = []                      # every frame's layers as data (--html)
        self.real = real[rng.choice(len(real), min(n_show, len(real)), replace=False)]
        self.view = Canvas.around(real, SIZE)
        self.z = tinygen.tensor(rng.standard_normal((n_show, 2)).astype(np.float32),
                                device=config.device)
        self.n_arrows = n_arrows
        self.metrics = {}

    def __call__(self, step, G, D, record=None):
        c, data, nz, loss = self.config, self.data, self.nz, self.loss
        self.metrics = record or {}
        frame = self.view.blank()
        heat = decision_surface(D, frame, loss, device=c.device)
        frame.heatmap(heat, vmin=0.0, vmax=1.0, stops=HEAT)
        lines = manifold_lines(G, device=c.device) if nz == 2 else []
        for line in lines:
            frame.polyline(line, MANIFOLD)
        fake, g = generator_gradients(G, D, loss, self.z)
        frame.scatter(self.real, REAL).scatter(fake, FAKE)
        # Arrows: the steepest 95th-percentile gradient is drawn 1/8 of the panel long.
        norms = np.linalg.norm(g, axis=1)
        scale = (frame.xlim[1] - frame.xlim[0]) / 8 / (np.percentile(norms, 95) + 1e-12)
        vectors = np.clip(g[: self.n_arrows] * scale, -1e3, 1e3)
        frame.arrows(fake[: self.n_arrows], vectors, color=ARROW)
        m = self.metrics
        coverage = (f"modes {m['modes']}/{len(data.centres)}   high quality {100 * m['hq']:.0f}%"
                    if "modes" in m else "")
        frame.title(f"{loss}  {c.dataset}  step {step}/{c.steps}", coverage)
        frame.legend([("real", REAL), ("generated", FAKE), ("-grad L_G", ARROW)])  # emptiest corner
        self.drawn.append(frame.to_array())
        self.recorded.append({"step": step, "fake": fake, "heat": heat, "lines": lines,
                              "arrow_from": fake[: self.n_arrows], "arrow_vec": vectors,
                              "metrics": dict(m)})
        return self.drawn[-1]


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

def loss_of(config) -> str:
    """The objective a demo config trains: its ``loss`` for the GAN, else its method's."""
    from tinygen.methods import gan, wgan, wgan_gp
    if isinstance(config, gan.Config):
        return config.loss
    return {wgan.Config: "wgan", wgan_gp.Config: "wgan-gp"}[type(config)]


def run_demo(config, loss: str = None, html: bool = False, command: str = None):
    """Train with GAN-Lab frames; return (files written, history, seconds).

    ``loss``: the objective (default :func:`loss_of` the config). ``html``: also write
    gan2d.html, the interactive GAN-Lab page (:func:`tinygen.io.report.write_gan2d_page`).
    ``command``: the line that reproduces the demo, shown in report.html and gan2d.html.
    """
    from tinygen.data.arrays import load_training_set
    from tinygen.methods.run import read_metrics
    loss = loss or loss_of(config)
    t0 = time.time()
    frames = Frames(config, load_training_set(config.dataset, seed=config.seed), loss)
    out = method_module(loss).train(config, frames=frames)
    history = read_metrics(out)
    path = lambda name: os.path.join(out, name)   # noqa: E731
    gif = save_gif(frames.drawn, path("gan2d.gif"), duration_ms=120, hold_last_ms=1500)
    if frames.data.centres is not None:
        for h in history:
            h["modes_total"] = len(frames.data.centres)
    plot = plot_history(history, path("metrics.png"), f"({loss}, {config.dataset})")
    last = path("final.png")
    save_image(frames.drawn[-1], last)
    page = write_page(path("gan2d.html"), frames, history, loss, command) if html else None
    report = R.write_report(out, type(config), command)      # now with the demo's pictures
    files = [gif, page, report, plot, last] + [path(n) for n in (
        "samples.npz", "metrics.jsonl", "config.json", "checkpoint.npz")]
    frame_dir = path(R.FRAMES)
    files += [os.path.join(frame_dir, n) for n in sorted(os.listdir(frame_dir))]
    return [f for f in files if f and os.path.exists(f)], history, time.time() - t0


def write_page(path: str, frames: Frames, history, loss: str, command: str = None) -> str:
    """gan2d.html: the recorded frames as GAN Lab's interactive page, same view and colours
    as the GIF (:func:`tinygen.io.report.write_gan2d_page`)."""
    from tinygen.io.report import write_gan2d_page
    c, centres = frames.config, frames.data.centres
    return write_gan2d_page(
        path, f"GAN Lab: {loss} on {c.dataset}", frames.view.xlim, frames.view.ylim,
        frames.real, frames.recorded, history, c.steps,
        colors={"real": REAL, "fake": FAKE, "manifold": MANIFOLD, "arrows": ARROW},
        stops=HEAT, modes_total=None if centres is None else len(centres),
        command=command or "")


def demo_main(argv) -> int:
    """``tinygen demo gan2d [--out DIR] [--loss L] [--dataset D] [--steps N] [--seed S]``."""
    parser = argparse.ArgumentParser(
        prog="tinygen demo gan2d", formatter_class=R.DefaultsHelp,
        description="Train a GAN on a 2-D toy on CPU and write a GAN-Lab style GIF "
                    "(decision heat map, generator manifold, gradient arrows) and a "
                    "loss / mode-coverage plot.")
    parser.add_argument("--out", default=None, help="output folder (default: a new "
                        "runs/gan2d-LOSS-DATASET-* folder)")
    parser.add_argument("--loss", default="nonsaturating", choices=list(LOSSES),
                        help="GAN objective, each trained by its method with that method's "
                             "toy2d preset (gan, wgan, wgan-gp)")
    parser.add_argument("--dataset", default="ring8", choices=["ring8", "grid25", "moons"],
                        help="2-D toy distribution")
    parser.add_argument("--steps", type=int, default=None,
                        help="generator steps (default: the preset's budget for the loss)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, data and noise")
    parser.add_argument("--device", default=backend.get_default_device(),
                        help="cpu, cuda or cuda:N (default: $TINYGEN_DEVICE or cpu)")
    parser.add_argument("--html", action="store_true",
                        help="also write gan2d.html: GAN Lab in the browser (step slider, "
                             "play/pause, a toggle per layer, the curves with a cursor)")
    args = parser.parse_args(argv)
    out = args.out or R.new_folder(f"gan2d-{args.loss}-{args.dataset}")
    config = demo_config(args.loss, args.dataset, args.steps, args.seed, out, device=args.device)
    command = " ".join(["tinygen demo gan2d", f"--loss {args.loss}", f"--dataset {args.dataset}",
                        f"--steps {config.steps}", f"--seed {args.seed}"]
                       + (["--html"] if args.html else []))
    with blas_threads(1):
        files, history, seconds = run_demo(config, args.loss, html=args.html, command=command)
    for f in files:
        print(f)
    last = history[-1]
    summary = f"# {args.loss} on {config.dataset}: {config.steps} steps in {seconds:.1f} s"
    if "modes" in last:
        summary += f"; modes {last['modes']}, high quality {100 * last['hq']:.1f}%"
    print(summary, file=sys.stderr)
    return 0


__all__ = ["demo_main", "demo_config", "run_demo", "write_page", "Frames", "LOSSES", "method_module",
           "decision_surface", "manifold_lines", "generator_gradients", "plot_history"]
