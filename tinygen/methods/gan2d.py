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
import contextlib
import io
import os
import sys
import time

import tinygen
from tinygen import backend
from tinygen import losses as L
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

REAL = (27, 158, 119)        # green, as GAN Lab
FAKE = (123, 50, 148)        # purple
ARROW = (214, 39, 40)        # red
MANIFOLD = (90, 90, 90)
SIZE = 400                   # pixels of the square panel


def _font(size=13):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


class View:
    """World (x, y) -> pixel (u, v) for a square panel around the data."""

    def __init__(self, points, size=SIZE, margin=0.3):
        lo, hi = points.min(0), points.max(0)
        centre, half = (lo + hi) / 2, (hi - lo).max() / 2 * (1 + margin) + 1e-6
        self.lo, self.hi, self.size = centre - half, centre + half, size

    def pixels(self, p):
        p = np.asarray(p, dtype=np.float64)
        u = (p[..., 0] - self.lo[0]) / (self.hi[0] - self.lo[0]) * (self.size - 1)
        v = (self.hi[1] - p[..., 1]) / (self.hi[1] - self.lo[1]) * (self.size - 1)
        return np.stack([u, v], -1)

    def grid(self, n):
        """(n*n, 2) world points at the centres of an n x n pixel grid (row-major, top first)."""
        xs = self.lo[0] + (np.arange(n) + 0.5) / n * (self.hi[0] - self.lo[0])
        ys = self.hi[1] - (np.arange(n) + 0.5) / n * (self.hi[1] - self.lo[1])
        X, Y = np.meshgrid(xs, ys)
        return np.stack([X.ravel(), Y.ravel()], 1)


def _heat(values):
    """D in [0, 1] (n, n) -> RGB: purple (fake) .. white (0.5) .. green (real), pale."""
    v = np.clip(values, 0, 1)[..., None]
    white = np.array([250.0, 250.0, 250.0])
    purple = np.array([222.0, 200.0, 232.0])
    green = np.array([196.0, 232.0, 214.0])
    low = white + (purple - white) * (1 - 2 * v).clip(0, 1)
    high = white + (green - white) * (2 * v - 1).clip(0, 1)
    return np.where(v < 0.5, low, high).astype(np.uint8)


def _dots(draw, pix, colour, r=2):
    for u, v in pix:
        draw.ellipse([u - r, v - r, u + r, v + r], fill=colour)


def _arrows(draw, starts, ends, colour=ARROW):
    for (u0, v0), (u1, v1) in zip(starts, ends):
        draw.line([u0, v0, u1, v1], fill=colour, width=1)
        d = np.array([u1 - u0, v1 - v0])
        n = np.linalg.norm(d)
        if n < 3:
            continue
        d /= n
        side = np.array([-d[1], d[0]])
        tip = np.array([u1, v1])
        a, b = tip - 4 * d + 2.5 * side, tip - 4 * d - 2.5 * side
        draw.polygon([tuple(tip), tuple(a), tuple(b)], fill=colour)


def render_scatter(real, fake, title="", view=None):
    """A plain frame: real (green) and generated (purple) points -> (H, W, 3) uint8."""
    from PIL import Image, ImageDraw
    view = view or View(real)
    img = Image.new("RGB", (SIZE, SIZE), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    _dots(draw, view.pixels(real), REAL)
    _dots(draw, view.pixels(fake), FAKE)
    if title:
        draw.text((6, 4), title, fill=(0, 0, 0), font=_font())
    return np.asarray(img)


def decision_surface(D, view, loss, n=80, device="cpu"):
    """D's decision on an n x n grid -> values in [0, 1] (n, n).

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
        self.view = View(real)
        self.z = tinygen.tensor(rng.standard_normal((n_show, 2)).astype(np.float32),
                                device=config.device)
        self.n_arrows = n_arrows
        self.metrics = {}

    def __call__(self, step, G, D, data, nz, record=None):
        from PIL import Image, ImageDraw
        c = self.config
        self.metrics = record or {}
        heat = _heat(decision_surface(D, self.view, c.loss, device=c.device))
        img = Image.fromarray(heat).resize((SIZE, SIZE), Image.BILINEAR)
        draw = ImageDraw.Draw(img)
        if nz == 2:
            for line in manifold_lines(G, device=c.device):
                draw.line([tuple(p) for p in self.view.pixels(line)], fill=MANIFOLD, width=1)
        fake, g = generator_gradients(G, D, c.loss, self.z)
        _dots(draw, self.view.pixels(self.real), REAL)
        _dots(draw, self.view.pixels(fake), FAKE)
        # Arrows: the steepest 95th-percentile gradient is drawn 1/8 of the panel long.
        a = fake[: self.n_arrows]
        ga = g[: self.n_arrows]
        norms = np.linalg.norm(g, axis=1)
        scale = (self.view.hi[0] - self.view.lo[0]) / 8 / (np.percentile(norms, 95) + 1e-12)
        ends = a + np.clip(ga * scale, -1e3, 1e3)
        _arrows(draw, self.view.pixels(a), self.view.pixels(ends))
        font = _font()
        label = f"{c.loss}  {c.dataset}  step {step}/{c.steps}"
        m = self.metrics
        if "modes" in m:
            k = len(data.centres)
            label2 = f"modes {m['modes']}/{k}   high quality {100 * m['hq']:.0f}%"
        else:
            label2 = ""
        draw.rectangle([0, 0, SIZE, 36 if label2 else 20], fill=(255, 255, 255))
        draw.text((6, 3), label, fill=(0, 0, 0), font=font)
        if label2:
            draw.text((6, 19), label2, fill=(0, 0, 0), font=font)
        return np.asarray(img)


def plot_history(history, path, title=""):
    """Losses (left) and mode coverage (right) against the step -> PNG at ``path``."""
    from PIL import Image, ImageDraw
    W, H, pad = 640, 260, 38
    img = Image.new("RGB", (W, H), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font = _font(12)
    steps = np.array([h["step"] for h in history], dtype=np.float64)

    def panel(x0, series, label, ylim=None):
        x1, y0, y1 = x0 + W // 2 - pad - 10, 22, H - pad
        draw.rectangle([x0, y0, x1, y1], outline=(0, 0, 0))
        values = np.concatenate([v for _, v, _ in series]) if series else np.zeros(1)
        lo, hi = ylim if ylim else (float(np.nanmin(values)), float(np.nanmax(values)))
        if hi - lo < 1e-9:
            lo, hi = lo - 1, hi + 1
        smax = max(steps.max(), 1)

        def px(s, v):
            return (x0 + s / smax * (x1 - x0), y1 - (v - lo) / (hi - lo) * (y1 - y0))
        for i, (name, v, colour) in enumerate(series):
            pts = [px(s, val) for s, val in zip(steps, v) if np.isfinite(val)]
            if len(pts) > 1:
                draw.line(pts, fill=colour, width=2)
            draw.text((x0 + 6 + 110 * i, y0 + 4), name, fill=colour, font=font)
        draw.text((x0 - 34, y0 - 6), f"{hi:.3g}", fill=(0, 0, 0), font=font)
        draw.text((x0 - 34, y1 - 6), f"{lo:.3g}", fill=(0, 0, 0), font=font)
        draw.text((x0, y1 + 4), "0", fill=(0, 0, 0), font=font)
        draw.text((x1 - 30, y1 + 4), f"{int(smax)}", fill=(0, 0, 0), font=font)
        draw.text(((x0 + x1) // 2 - 30, y1 + 18), "step", fill=(0, 0, 0), font=font)
        draw.text((x0, 3), label, fill=(0, 0, 0), font=font)

    get = lambda k: np.array([h.get(k, np.nan) for h in history], dtype=np.float64)  # noqa: E731
    panel(pad, [("loss_d", get("loss_d"), (31, 119, 180)), ("loss_g", get("loss_g"), FAKE)],
          f"losses  {title}")
    if any("modes" in h for h in history):
        k = max(1, int(np.nanmax(get("modes_total")))) if "modes_total" in history[0] else None
        modes = get("modes")
        kmax = k or max(1.0, float(np.nanmax(modes)))
        panel(W // 2 + pad, [("modes / K", modes / kmax, REAL), ("high quality", get("hq"),
                                                                  ARROW)],
              "mode coverage (fractions)", ylim=(0.0, 1.0))
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    from tinygen.methods.common import atomic_write_bytes
    atomic_write_bytes(path, buffer.getvalue())
    return path


def save_gif(frames, path, duration_ms=120):
    """Frames (H, W, 3) uint8 -> an animated GIF (last frame held), written atomically."""
    from PIL import Image
    images = [Image.fromarray(f).convert("P", palette=Image.ADAPTIVE, colors=64) for f in frames]
    durations = [duration_ms] * (len(images) - 1) + [1500]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=durations, loop=0, optimize=True)
    from tinygen.methods.common import atomic_write_bytes
    atomic_write_bytes(path, buffer.getvalue())
    return path


# ---------------------------------------------------------------- the demo

def run_demo(config: gan.Config):
    """Train with GAN-Lab frames; return (files written, history, seconds)."""
    t0 = time.time()
    data = gan.load_data(config)
    frames = Frames(config, data.x)

    run, G, D, data, history = gan.fit(config, "gan2d", on_frame=frames, data=data,
                                       write_gif=False)
    gif = save_gif(run.frames, run.path("gan2d.gif"))
    if data.centres is not None:
        for h in history:
            h["modes_total"] = len(data.centres)
    plot = plot_history(history, run.path("metrics.png"), f"({config.loss}, {config.dataset})")
    final = run.frames[-1]
    from PIL import Image
    last = run.path("final.png")
    buffer = io.BytesIO()
    Image.fromarray(final).save(buffer, format="PNG")
    from tinygen.methods.common import atomic_write_bytes
    atomic_write_bytes(last, buffer.getvalue())
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


@contextlib.contextmanager
def blas_threads(n: int = 1):
    """``with blas_threads(1): ...`` -- run the block with NumPy's OpenBLAS on ``n`` threads.

    Why: the demo's matrices are tiny (256 x 128). On a busy 2-core machine extra OpenBLAS
    threads spend most of their time waiting for cores (measured: a 2-layer MLP step took
    358 ms with the default threads, 40 ms with one).

    How: NumPy's wheels bundle OpenBLAS as ``numpy.libs/libscipy_openblas*.so``, which exports
    ``scipy_openblas_{get,set}_num_threads64_`` (older builds: ``openblas_*``). We read the
    current count, set ``n``, and restore the old count on exit. Best effort, never an error:
    if ``OPENBLAS_NUM_THREADS`` is set (the user chose), or the library or either symbol is
    missing (MKL, Accelerate, a system BLAS), the block simply runs unchanged.
    """
    get, set_ = (None, None) if os.environ.get("OPENBLAS_NUM_THREADS") else _openblas_threads_api()
    if set_ is None:
        yield False
        return
    old = get()
    set_(n)
    try:
        yield True
    finally:
        set_(old)


def _openblas_threads_api():
    """(get_num_threads, set_num_threads) of NumPy's bundled OpenBLAS, or (None, None)."""
    import ctypes
    import glob
    libdir = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in glob.glob(os.path.join(libdir, "*openblas*")):
        try:
            lib = ctypes.CDLL(path)                 # already loaded by NumPy: same handle
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""),
                               ("openblas", "64_"), ("openblas", "")):
            get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
            if get is not None and set_ is not None:
                get.restype, get.argtypes = ctypes.c_int, []
                set_.restype, set_.argtypes = None, [ctypes.c_int]
                return get, set_
    return None, None


def _new_folder(prefix):
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, i = f"{prefix}-{stamp}", 1
    while os.path.exists(path):
        i += 1
        path = f"{prefix}-{stamp}-{i}"
    os.makedirs(path)
    return path


__all__ = ["demo_main", "demo_config", "run_demo", "render_scatter", "Frames", "PRESETS",
           "decision_surface", "manifold_lines", "generator_gradients", "plot_history",
           "blas_threads"]
