"""ProGAN: Karras, Aila, Laine & Lehtinen, "Progressive Growing of GANs for Improved Quality,
Stability, and Variation", ICLR 2018, arXiv:1710.10196.

G and D start at 4 x 4 pixels and grow together, one resolution at a time; each new block
fades in smoothly (Sec. 2, Fig. 2). The objective is WGAN-GP's with a drift term (Sec. A.1):

    L_D = E[D(G(z))] - E[D(x)] + lambda E[(||grad_x_hat D(x_hat)||_2 - 1)^2]
          + eps_drift E[D(x)^2]                     lambda = 10, eps_drift = 1e-3
    L_G = -E[D(G(z))]

The training loop, as code:

    for each level l = 0 (4 px), 1 (8 px), ..., L (the final resolution):        schedule()
        if l > 0: fade in for fade_images real images:
            alpha rises linearly 0 -> 1 with the images shown
            G: x = (1 - alpha) up(ToRGB_{l-1}(h)) + alpha ToRGB_l(block_l(h))      ProGANGenerator
            D: h = (1 - alpha) FromRGB_{l-1}(down(x)) + alpha block_l(FromRGB_l(x))
            reals: x = (1 - alpha) up(down(x_l)) + alpha x_l                    real_batch()
        stabilise for stable_images real images (alpha = 1)
        each step (n_critic = 1, "we alternate ... on a per-minibatch basis"):
            D: one Adam step on L_D                                             discriminator_step()
            G: one Adam step on L_G                                             generator_step()
            G_ema <- 0.999 G_ema + 0.001 G   (the generator shown and sampled)  R.update_ema()
        Adam's moments are reset whenever the phase changes (the authors' code,
        reset_opt_for_new_lod)

Architecture (models/progan_nets.py, Table 2): equalised learning rate in every layer (weights
N(0, 1) scaled at run time by He's constant, Sec. 4.1), pixelwise feature normalisation after
every conv of G (Sec. 4.2), minibatch standard deviation at the start of D's last block (Sec. 3),
LeakyReLU(0.2), nearest upsampling / average pooling, linear output (no tanh).
Adam(lr 0.001, beta_1 0, beta_2 0.99, eps 1e-8), minibatch 16 (Sec. A.1).

What a run writes besides the run contract's files: metrics.jsonl has ``resolution`` and
``alpha`` on every line; frames/resolution_<R>px.png (a titled grid at the end of each
resolution) and samples_<R>px.npz (the samples of that moment, nearest-upsampled to the final
size: the per-resolution FID curve of docs/progan.md is scored on them).

The ``cpu`` preset (the default) shrinks the paper's budget (800k images per phase, 512 feature
maps) to what two CPU cores train in about 20 minutes; ``--preset paper`` keeps the paper's.
"""
from __future__ import annotations

import dataclasses
import math

import tinygen
from tinygen import backend, optim
from tinygen import losses as L
from tinygen.data import resize_images
from tinygen.data.arrays import to_float_images, to_uint8_images
from tinygen.methods import run as R
from tinygen.models.progan_nets import ProGANDiscriminator, ProGANGenerator, levels_for

np = backend.numpy   # host arrays: the data pyramid, samples


@dataclasses.dataclass
class Config(R.SamplingConfig):
    """ProGAN (Karras et al. 2018, arXiv:1710.10196, Sec. 2-4 and A.1)."""
    dataset: str = "digits"            # any images (grey or colour), resized to --resolution
    resolution: int = 32               # final side R (a power of two); growth 4 -> 8 -> ... -> R
    steps: int = 0                     # 0: the whole schedule (every fade and stabilisation)
    latent_dim: int = 512              # z in R^512, normalised onto the sphere (PixelNorm on z)
    fmap_base: int = 8192              # nf(stage) = min(fmap_base / 2^stage, fmap_max)
    fmap_max: int = 512                # (the authors' code: 8192 and 512)
    batch_size: int = 16               # minibatch 16 up to 128^2 (Sec. A.1)
    fade_images: int = 800_000         # real images shown while a new block fades in
    stable_images: int = 800_000       # real images shown after it (and at 4 x 4)
    lr: float = 1e-3                   # Adam alpha (Sec. A.1)
    beta1: float = 0.0                 # Adam beta_1
    beta2: float = 0.99                # Adam beta_2
    adam_eps: float = 1e-8             # Adam epsilon
    reset_optimizers: bool = True      # reset Adam's moments at each phase change (authors' code)
    gp_lambda: float = 10.0            # lambda of the WGAN-GP penalty
    eps_drift: float = 1e-3            # epsilon_drift: keeps D(x) near 0
    mbstd_group: int = 4               # minibatch-stddev group size (authors' code: 4)
    ema_decay: float = 0.999           # G's weights averaged with this decay for samples and
                                       # pictures (Sec. A.1); 0 = show the trained G itself
    n_samples: int = 2500              # samples.npz holds max(512, n_samples / 5) images
    log_every: int = 100               # steps between metrics.jsonl lines
    sample_every: int = 500            # steps between sample grids

    def __post_init__(self):
        levels_for(self.resolution)                   # ValueError: not a power of two
        for name in ("fade_images", "stable_images", "latent_dim", "fmap_base", "fmap_max",
                     "mbstd_group"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be a whole number >= 1, "
                                 f"got {value!r}")
        if self.batch_size % min(self.mbstd_group, self.batch_size):
            raise ValueError(f"--batch-size {self.batch_size} is not a multiple of the "
                             f"minibatch-stddev group (--mbstd-group {self.mbstd_group}); use "
                             f"e.g. --batch-size {self.mbstd_group * 4}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"--ema-decay must be in [0, 1), got {self.ema_decay}")
        if self.steps == 0:
            self.steps = schedule_steps(self)
        super().__post_init__()


# The cpu preset: measured on MNIST digits, docs/progan.md. Departures: 128-d z, feature maps
# 64 / 32 / 16 / 8 at 4 / 8 / 16 / 32 px (paper: 512 up to 32 px), 1/80 of the images per phase,
# and so an EMA of G with decay 0.99: at batch 16 the paper's 0.999 has a half-life of 11k
# images, longer than a whole phase here, and would still hold ~30% of the newest block's
# initial weights at the end of the run.
PRESETS = {
    "paper": {},
    "cpu": dict(latent_dim=128, fmap_base=128, fmap_max=64, fade_images=10_000,
                stable_images=10_000, ema_decay=0.99),
}
PRESET_DOCS = {
    "paper": "Sec. A.1: z 512, 512 feature maps, 800k images per fade and per stabilisation",
    "cpu": "two CPU cores, ~20 minutes at 32 px: z 128, feature maps 64/32/16/8, 10k images "
           "per phase, G EMA decay 0.99 (departs from the paper; docs/progan.md)",
}


def default_preset(dataset: str) -> str:
    """``--preset auto``: the CPU budget (the paper's needs days on a GPU)."""
    return "cpu"


# ----------------------------------------------------------------------------
# the growth schedule: a pure function of the step, so a resumed run is where it was
# ----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Stage:
    """Where training is at a step: ``level`` (side 4 * 2^level), fade-in weight ``alpha``,
    ``phase`` (0: 4 px; then 2l - 1 fading in level l, 2l stabilising it)."""
    level: int
    alpha: float
    phase: int

    @property
    def resolution(self) -> int:
        return 4 * 2 ** self.level


def schedule(step: int, config: Config) -> Stage:
    """The stage of step ``step`` (1-based), from the real images shown before it.

    Phases: 4 px for stable_images; then for each next level a fade of fade_images (alpha =
    images into the fade / fade_images, 0 at its first step) and a stabilisation of
    stable_images; the last level stabilises until the run ends.
    """
    shown = (step - 1) * config.batch_size
    last = levels_for(config.resolution) - 1
    if shown < config.stable_images or last == 0:
        return Stage(0, 1.0, 0)
    shown -= config.stable_images
    for level in range(1, last + 1):
        if shown < config.fade_images:
            return Stage(level, shown / config.fade_images, 2 * level - 1)
        shown -= config.fade_images
        if shown < config.stable_images or level == last:
            return Stage(level, 1.0, 2 * level)
        shown -= config.stable_images
    raise AssertionError("unreachable")


def schedule_steps(config: Config) -> int:
    """Steps of the whole schedule: every phase once, at ``batch_size`` images a step."""
    fades = levels_for(config.resolution) - 1
    images = config.stable_images + fades * (config.fade_images + config.stable_images)
    return math.ceil(images / config.batch_size)


# ----------------------------------------------------------------------------
# data: the real images at every level
# ----------------------------------------------------------------------------

def load_pyramid(config: Config):
    """(pyramid, native shape): the training images in [-1, 1] at the final resolution and at
    every coarser level (2x2 average pooling, as D's downsampling), host float32 arrays
    pyramid[l] of shape (N, C, 4 * 2^l, 4 * 2^l); native shape (C, H, W) as loaded."""
    data, _ = R.load_generator_data(config)
    if data.is_points:
        raise ValueError(f"progan needs image data (dataset {config.dataset!r} is 2-D points); "
                         "use --dataset digits / mnist / shapes / npz:PATH / folder:PATH")
    x, native = data.x, data.shape                                    # (N, C, H, W)
    if x.shape[2:] != (config.resolution, config.resolution):
        x = to_float_images(resize_images(to_uint8_images(x, (-1.0, 1.0)), config.resolution),
                            (-1.0, 1.0))
    pyramid = [x]
    while pyramid[0].shape[-1] > 4:
        n, c, h, w = pyramid[0].shape
        pyramid.insert(0, pyramid[0].reshape(n, c, h // 2, 2, w // 2, 2).mean((3, 5)))
    return pyramid, native


def real_batch(pyramid, stage: Stage, m: int, rng, device) -> tinygen.Tensor:
    """m real images at the stage's resolution; while fading, blended with their coarser
    version as G's output is: (1 - alpha) up(down(x)) + alpha x (Sec. 2)."""
    idx = rng.integers(0, len(pyramid[0]), m)
    x = pyramid[stage.level][idx]                                     # (m, C, r, r)
    if stage.alpha < 1.0:
        coarse = pyramid[stage.level - 1][idx].repeat(2, axis=2).repeat(2, axis=3)
        x = (1.0 - stage.alpha) * coarse + stage.alpha * x
    return tinygen.tensor(np.ascontiguousarray(x, dtype=np.float32), device=device)


# ----------------------------------------------------------------------------
# models, steps
# ----------------------------------------------------------------------------

def build_models(config: Config, channels: int):
    """(G, D, G_ema) for images of ``channels`` channels at ``config.resolution``; G_ema starts
    as a copy of G (None when ema_decay is 0)."""
    def generator():
        return ProGANGenerator(config.latent_dim, channels, config.resolution, config.fmap_base,
                               config.fmap_max).to(config.device)
    G = generator()
    D = ProGANDiscriminator(channels, config.resolution, config.fmap_base, config.fmap_max,
                            config.mbstd_group).to(config.device)
    G_ema = None
    if config.ema_decay > 0:
        G_ema = generator()
        G_ema.load_state_dict(G.state_dict())
    return G, D, G_ema


def build_optimizers(config: Config, G, D):
    """Adam(0.001, betas=(0, 0.99), eps=1e-8) for both (Sec. A.1): (opt_g, opt_d)."""
    kw = dict(lr=config.lr, betas=(config.beta1, config.beta2), eps=config.adam_eps)
    return optim.Adam(G.parameters(), **kw), optim.Adam(D.parameters(), **kw)


def set_stage(stage: Stage, *models) -> None:
    for model in models:
        if model is not None:
            model.set_stage(stage.level, stage.alpha)


def discriminator_step(config: Config, G, D, opt_d, x) -> dict:
    """One Adam step on L_D = D(G(z)) - D(x) + lambda GP + eps_drift D(x)^2 (Sec. A.1)."""
    z = R.sample_noise(x.shape[0], config.latent_dim, x.device)         # (m, nz)
    with tinygen.no_grad():
        x_tilde = G(z)                                                  # (m, C, r, r)
    real_scores = D(x)                                                  # (m, 1)
    loss_w = L.d_loss_wasserstein(real_scores, D(x_tilde))              # D(G(z)) - D(x)
    gp = L.gradient_penalty(D, x, x_tilde, config.gp_lambda)            # double backward
    drift = config.eps_drift * (real_scores * real_scores).mean()       # eps_drift E[D(x)^2]
    value = R.descend(loss_w + gp + drift, opt_d)
    return {"loss_d": value, "gp": gp.detach(), "wasserstein": -loss_w.detach()}


def generator_step(config: Config, G, D, opt_g, m: int) -> dict:
    """One Adam step on L_G = -D(G(z))."""
    z = R.sample_noise(m, config.latent_dim, config.device)             # (m, nz)
    return {"loss_g": R.descend(L.g_loss_wasserstein(D(G(z))), opt_g)}


def upsample_to(x, size: int):
    """Host images (N, C, r, r) -> (N, C, size, size) by pixel repetition (what G's fade path
    does), so pictures and samples of every level share the final size."""
    k = size // x.shape[-1]
    return x if k == 1 else x.repeat(k, axis=2).repeat(k, axis=3)


def generate(config: Config, G, n: int, rng):
    """n samples of G at its current stage, upsampled to the final size: host (n, C, R, R)."""
    return upsample_to(R.generate(G, n, config.latent_dim, config.device, rng), config.resolution)


# ----------------------------------------------------------------------------
# the loop
# ----------------------------------------------------------------------------

def train(config: Config) -> str:
    """``tinygen run progan``: grow G and D from 4 px to ``config.resolution``; the run folder."""
    run = R.Run(config, "progan")
    pyramid, native = load_pyramid(config)
    G, D, G_ema = build_models(config, pyramid[0].shape[1])
    opt_g, opt_d = build_optimizers(config, G, D)
    models = dict(G=G, D=D, opt_g=opt_g, opt_d=opt_d)
    if G_ema is not None:
        models["G_ema"] = G_ema
    shown = G_ema if G_ema is not None else G                           # what pictures show
    z_fixed = R.sample_noise(64, config.latent_dim, config.device, run.eval_rng)
    start = run.resume(**models)
    previous = schedule(start, config) if start else None
    for step in run.steps(start):
        stage = schedule(step, config)
        set_stage(stage, G, D, G_ema)
        if config.reset_optimizers and previous is not None and stage.phase != previous.phase:
            opt_g.state.clear()                                         # reset_opt_for_new_lod
            opt_d.state.clear()
        x = real_batch(pyramid, stage, config.batch_size, run.data_rng, config.device)
        out = discriminator_step(config, G, D, opt_d, x)
        out.update(generator_step(config, G, D, opt_g, config.batch_size))
        if G_ema is not None:
            R.update_ema(G_ema, G, config.ema_decay)
        run.record(step, **out)
        if run.due(step, config.log_every):
            metrics = {"resolution": stage.resolution, "alpha": round(stage.alpha, 6)}
            if config.domain_eval and run.due(step, config.domain_eval):
                metrics.update(evaluate(config, shown, native, run.eval_rng))
            run.log(step, **metrics)
        if run.due(step, config.sample_every):
            _grid(run, shown, z_fixed, f"samples_{step:06d}.png", stage, step)
        if step < config.steps and schedule(step + 1, config).level != stage.level:
            _end_of_resolution(run, shown, z_fixed, stage, step)
        run.checkpoint(step, **models)
        previous = stage
    last = schedule(config.steps, config)
    _grid(run, shown, z_fixed, f"resolution_{last.resolution}px.png", last, config.steps,
          keep_frame=False)                                             # before report.html
    run.finish(**models)               # the last checkpoint first: sampling never changes a resume
    _save_resolution_samples(run, shown, last)
    n = max(512, config.n_samples // 5)
    x = generate(config, shown, n, run.eval_rng)
    run.save_samples(to_uint8_images(x, (-1.0, 1.0)))
    return run.dir


def evaluate(config: Config, G, native, rng) -> dict:
    """Domain FID / IS / precision / recall of n_eval samples, scored at the dataset's own size
    (the domain classifier's input; samples are resized back when --resolution differs)."""
    x = to_uint8_images(generate(config, G, config.n_eval, rng), (-1.0, 1.0))
    if x.shape[1:3] != native[1:]:
        x = resize_images(x, native[-1])
    return R.sample_metrics(x, None, config.dataset, config.device)


def _grid(run, G, z, name: str, stage: Stage, step: int, keep_frame: bool = True) -> str:
    """A titled grid of G(z_fixed) at the current stage, upsampled to the final size."""
    with R.sampling(G):
        images = upsample_to(R.to_host(G(z)), run.config.resolution)
    r = stage.resolution
    title = (f"progan on {run.config.dataset}: samples at {r}x{r} px"
             + (f" (fading in, alpha {stage.alpha:.2f})" if stage.alpha < 1 else "")
             + f", step {step}")
    return run.save_grid(images, name, title=title, keep_frame=keep_frame)


def _end_of_resolution(run, G, z, stage: Stage, step: int) -> None:
    """frames/resolution_<r>px.png and samples_<r>px.npz: how far G got at this resolution."""
    _grid(run, G, z, f"resolution_{stage.resolution}px.png", stage, step, keep_frame=False)
    _save_resolution_samples(run, G, stage)


def _save_resolution_samples(run, G, stage: Stage) -> None:
    r = stage.resolution
    n = max(512, run.config.n_samples // 5)
    x = generate(run.config, G, n, run.eval_rng)
    run.save_samples(to_uint8_images(x, (-1.0, 1.0)), name=f"samples_{r}px.npz")


def sample_run(config: Config, checkpoint: str, n: int, seed: int):
    """``tinygen sample``: n samples from the (averaged) generator of a finished run, at the
    stage the run ended in, upsampled to the final size."""
    from tinygen.io.checkpoint import restore_checkpoint
    pyramid, _ = load_pyramid(config)
    G, D, G_ema = build_models(config, pyramid[0].shape[1])
    models = dict(G=G, D=D) if G_ema is None else dict(G=G, D=D, G_ema=G_ema)
    restore_checkpoint(checkpoint, **models)
    shown = G_ema if G_ema is not None else G
    set_stage(schedule(config.steps, config), shown)
    return generate(config, shown, n, np.random.default_rng(seed)), (-1.0, 1.0)


__all__ = ["Config", "PRESETS", "Stage", "schedule", "schedule_steps", "load_pyramid",
           "real_batch", "build_models", "build_optimizers", "discriminator_step",
           "generator_step", "train", "sample_run"]
