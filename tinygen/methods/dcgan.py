"""DCGAN: Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", arXiv:1511.06434.

The training algorithm is the GAN's (Goodfellow et al. 2014, Algorithm 1, k = 1, with the
non-saturating generator loss); what DCGAN fixes is the architecture and the optimiser
(Sec. 3-4), so this file is short:

    models      tinygen/models/dcgan.py: strided convs, BN, ReLU / LeakyReLU(0.2), tanh,
                weights N(0, 0.02), BN scale N(1, 0.02)                    build_models()
    optimiser   Adam, lr 0.0002, beta_1 0.5 ("0.9 resulted in training
                oscillation and instability"), beta_2 0.999               build_optimizers()
    batch       128; images scaled to [-1, 1], the range of tanh
    loop        for each step:                                            train()
                    sample x ~ p_data, z ~ N(0, I)
                    D step: descend -[log D(x) + log(1 - D(G(z)))]        discriminator_step()
                    G step: descend -log D(G(z'))                         generator_step()
                    (z' a fresh draw, as Algorithm 1; --reuse-fake: z' = z, the D step's
                    batch G(z) reused, as PyTorch's DCGAN example: one G forward less)

Works on 28 x 28 one-channel data (digits, mnist: two up-sampling stages from 7 x 7) and on
32 / 64 px three-channel data (shapes, folder:PATH: three / four stages from 4 x 4).
z ~ N(0, I) instead of the paper's uniform noise (as PyTorch's DCGAN example).

``default_preset`` also chooses the DCGAN settings of ``tinygen run cgan`` (the conditional
GAN on DCGAN's nets: the papers build on each other).
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

import tinygen
from tinygen import optim
from tinygen import losses as L
from tinygen.methods import run as R
from tinygen.models.gan_nets import GANArch, build_gan_pair


@dataclasses.dataclass
class Config(R.SamplingConfig, GANArch):
    """DCGAN (Radford et al. 2015, arXiv:1511.06434, Sec. 4)."""
    dataset: str = "digits"            # 28x28 synthetic digits (mnist / shapes / folder:PATH too)
    arch: Literal["dcgan"] = "dcgan"   # the convolutional architecture of Sec. 3
    batch_size: int = 128              # "mini-batch SGD with a mini-batch size of 128"
    latent_dim: int = 100              # z in R^100 (uniform in the paper; N(0, I) here)
    ngf: int = 64                      # generator width (PyTorch's DCGAN example; LSUN model: 128)
    ndf: int = 64                      # discriminator width (on 28x28 CPU runs the digits28 preset
                                       # uses ngf / 2, else D wins and G collapses to grey)
    lr: float = 2e-4                   # "learning rate of 0.0002"
    beta1: float = 0.5                 # "reducing beta_1 to 0.5 helped stabilize training"
    beta2: float = 0.999               # Adam's default
    lr_decay: bool = False             # decay the lr linearly to 0 over the run (not in the paper)
    reuse_fake: bool = False           # G step on the D step's G(z) instead of a fresh z (not in
                                       # Algorithm 1; PyTorch's DCGAN example, the digits28
                                       # preset): one G forward less a step
    d_norm: Literal["batch", "layer", "none"] = "batch"   # normalisation in D: batch (Sec. 3),
                                       # layer or none (not in the paper; the digits28 preset:
                                       # none, as ProGAN's / StyleGAN's D, with the R1 penalty)
    r1_gamma: float = 0.0              # R1 penalty gamma/2 E||grad_x D(x)||^2 on reals in D's
                                       # loss (Mescheder et al. 2018; not in the paper; digits28:
                                       # 0.1, StyleGAN2-ADA's scale for 32 px)
    r1_every: int = 16                 # lazy R1: on every k-th D step, weighted by k
                                       # (StyleGAN2 Sec. 3.1)
    n_samples: int = 512               # final images in samples.npz
    log_every: int = 50                # steps between metrics.jsonl lines
    sample_every: int = 100            # steps between sample grids

    ALIASES: ClassVar[dict] = {"layer_norm": ("d_norm", "layer")}   # --layer-norm (first tinygen)

    def __post_init__(self):
        super().__post_init__()
        R._check_positive(self, "r1_every")
        if self.r1_gamma < 0:
            raise ValueError(f"--r1-gamma must be >= 0 (0: no R1 penalty), got {self.r1_gamma}")


# Dataset-aware defaults (``--preset``). The paper's settings were tuned for 64 px LSUN on a
# GPU; on 28 x 28 digits on a 2-core CPU they leave G a grey blur for thousands of steps
# (domain FID 254 at 1,000 steps, docs/dcgan.md). Measured there (seed 0, N = 2,000 samples):
# batch 32 (the same quality per step as 64 at 0.55x the time), ngf 32 / ndf 16 (wider nets
# lose at equal CPU time), the G step on the D step's fakes (~10 % less CPU, the same
# quality), and D trained as ProGAN's / StyleGAN's is: no batch norm, the lazy R1 penalty
# (gamma 0.1 every 16 steps) and Adam lr 2e-3, betas (0, 0.99) for both players. That D
# halves the FID of the batch-norm one at equal CPU (2,000 steps: 84 vs 152; the old preset,
# BN with Adam 5e-4 / 0.5, reached 86.6 only after 7,000 steps). 14,000 steps fit in ~10 CPU
# minutes on a quiet core: docs/dcgan.md has the screens and the default run.
PRESETS = {
    "paper": {},
    "digits28": dict(ngf=32, ndf=16, batch_size=32, lr=2e-3, beta1=0.0, beta2=0.99,
                     d_norm="none", r1_gamma=0.1, r1_every=16, reuse_fake=True, steps=14000,
                     log_every=200, sample_every=1000),
}
PRESET_DOCS = {
    "paper": "Sec. 4: Adam 2e-4, beta1 0.5, batch 128, ngf = ndf = 64",
    "digits28": "28x28 one-channel data on a CPU: ngf 32, ndf 16, batch 32, D without batch "
                "norm and with the lazy R1 penalty (gamma 0.1, every 16), Adam 2e-3 with betas "
                "(0, 0.99), G step on the D step's fakes, 14,000 steps (departs from the "
                "paper; measured in docs/dcgan.md)",
}
SMALL_GRAY = ("digits", "mnist", "fashion-mnist", "fashion", "fashion_mnist")


def default_preset(dataset: str) -> str:
    """``--preset auto``: digits28 for 28 x 28 one-channel data (the built-in digit sets, or an
    npz: archive of such images), the paper's settings otherwise."""
    if dataset.lower() in SMALL_GRAY:
        return "digits28"
    if dataset.startswith("npz:"):
        try:
            with R.np.load(dataset[len("npz:"):]) as archive:
                shape = archive["x"].shape
        except (OSError, KeyError, ValueError):
            return "paper"                     # the loader will say what is wrong with the file
        if shape[1:] in ((28, 28), (28, 28, 1), (1, 28, 28)):
            return "digits28"
    return "paper"


def build_models(config: Config, data):
    """DCGANGenerator / DCGANDiscriminator for the data's channels and side."""
    if data.is_points:
        raise ValueError(f"dcgan needs image data (dataset {config.dataset!r} is 2-D points); "
                         "use `tinygen run gan` for 2-D toys, or --dataset digits / mnist / shapes")
    return build_gan_pair(config, data.shape, config.d_norm, device=config.device)


def build_optimizers(config: Config, G, D):
    """Adam(0.0002, betas=(0.5, 0.999)) for both networks: (opt_g, opt_d)."""
    betas = (config.beta1, config.beta2)
    return (optim.Adam(G.parameters(), lr=config.lr, betas=betas),
            optim.Adam(D.parameters(), lr=config.lr, betas=betas))


def discriminator_step(D, opt_d, x, x_fake, r1_weight: float = 0.0) -> dict:
    """Descend -[log D(x) + log(1 - D(G(z)))] (BN sees a real batch and a fake batch);
    ``x_fake`` = G(z) (m, nc, H, W) is a constant here (detached). ``r1_weight`` > 0 adds
    r1_weight / 2 E||grad_x D(x)||^2 (the R1 penalty on reals, ``losses.r1_penalty``)."""
    loss = L.d_loss_minimax(D(x), D(x_fake.detach()))
    if r1_weight > 0:
        loss = loss + L.r1_penalty(D, x, r1_weight)
    return {"loss_d": R.descend(loss, opt_d)}


def generator_step(D, opt_g, x_fake) -> dict:
    """Descend the non-saturating loss -log D(G(z)), through ``x_fake`` = G(z) into G."""
    return {"loss_g": R.descend(L.g_loss_nonsaturating(D(x_fake)), opt_g)}


def train(config: Config) -> str:
    """``tinygen run dcgan``: train for ``config.steps`` steps and return the run folder."""
    run = R.Run(config, "dcgan")
    data, nz = R.load_generator_data(config)
    G, D = build_models(config, data)
    opt_g, opt_d = build_optimizers(config, G, D)
    monitor = R.GeneratorMonitor(run, data, nz, G=G, D=D, opt_g=opt_g, opt_d=opt_d)
    for step in run.steps(monitor.resume()):
        if config.lr_decay:
            monitor.decay_lrs(step)
        m = config.batch_size
        x = R.real_batch(data.x, m, run.data_rng, config.device)     # (m, nc, H, W)
        z = R.sample_noise(m, nz, config.device)                       # (m, nz)
        with tinygen.set_grad_enabled(config.reuse_fake):            # a graph only if reused
            x_fake = G(z)                                              # (m, nc, H, W)
        lazy_r1 = config.r1_gamma > 0 and step % config.r1_every == 0
        d_out = discriminator_step(D, opt_d, x, x_fake,
                                   config.r1_every * config.r1_gamma if lazy_r1 else 0.0)
        if not config.reuse_fake:
            x_fake = G(R.sample_noise(m, nz, config.device))           # z' a fresh draw
        g_out = generator_step(D, opt_g, x_fake)
        monitor.step_done(step, **d_out, **g_out)
    return monitor.finish()


def sample_run(config: Config, checkpoint: str, n: int, seed: int):
    """``tinygen sample``: n samples from the generator of a finished run."""
    return R.sample_generator(config, build_models, checkpoint, n, seed)
