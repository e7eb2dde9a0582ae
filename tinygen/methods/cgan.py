"""Conditional GAN: Mirza & Osindero, "Conditional Generative Adversarial Nets", arXiv:1411.1784.

The GAN's two-player game with both players given the label y (Sec. 3.2, eq. 2):

    min_G max_D  E_{x,y ~ p_data} log D(x | y) + E_{z ~ p_z, y ~ p_data} log(1 - D(G(z | y) | y))

which is Algorithm 1 of Goodfellow et al. with y beside every x and z (this file builds on
``tinygen.methods.gan``: its optimiser choice, ``gan.build_optimizers``):

    for each step:                                                         train()
        sample (x_1, y_1)..(x_m, y_m) from p_data, z_1..z_m from p_z
        update D by descending -[log D(x_i, y_i) + log(1 - D(G(z_i, y_i), y_i))]
                                                                           discriminator_step()
        sample z_1..z_m and labels y_1..y_m from p_data
        update G by descending -log D(G(z_i, y_i), y_i) (non-saturating)   generator_step()

How y enters (tinygen/models/cond_nets.py): G(z, y) = G'([z, onehot(y)]); D(x, y) sees
onehot(y) concatenated to flatten(x) (MLP) or broadcast to K channel maps beside the image
(DCGAN); ``--projection`` replaces the concatenation by Miyato & Koyama 2018's projection
discriminator D(x, y) = psi(phi(x)) + embed(y)^T phi(x) (arXiv:1802.05637).

At the end the final samples are scored by the dataset's domain classifier (a LeNet that never
saw the generator): ``label_agreement`` (how often it reads the conditioning label),
domain FID / IS, and the per-class domain FID against the held-out test images of each class.
Pictures: samples_*.png / class_grid.png (one row per class, one z per column),
interpolation.png (z_0 -> z_1 at each fixed label).

Presets: the paper's SGD (lr 0.1, momentum 0.5, batch 100) on MLPs is the Config; on 28 x 28
one-channel data the default is ``digits28``, DCGAN's nets with dcgan's CPU settings
(``dcgan.default_preset`` decides, as for dcgan; docs/dcgan.md measured them).
"""
from __future__ import annotations

import dataclasses
from typing import Literal

import tinygen
from tinygen import backend
from tinygen import losses as L
from tinygen.methods import conditional as C
from tinygen.methods import dcgan
from tinygen.methods import run as R
from tinygen.methods.gan import build_optimizers
from tinygen.models.cond_nets import build_conditional_pair
from tinygen.models.gan_nets import GANArch, latent_size

np = backend.numpy   # host arrays: labels


@dataclasses.dataclass
class Config(R.SamplingConfig, GANArch):
    """Conditional GAN (Mirza & Osindero 2014, arXiv:1411.1784, Sec. 3.2 and 4.1)."""
    dataset: str = "digits"            # labelled images (digits, mnist, npz:PATH with y, ...)
    num_classes: int = 0               # K; 0 = one more than the largest label
    arch: Literal["auto", "mlp", "dcgan"] = "mlp"   # the paper's MLPs (its maxout and dropout
                                       # are replaced by the GAN family's LeakyReLU MLP)
    hidden: int = 512                  # MLP width
    n_hidden: int = 2                  # MLP hidden layers
    projection: bool = False           # projection discriminator (Miyato & Koyama 2018)
                                       # instead of the label concatenated to D's input
    loss: Literal["minimax", "nonsaturating", "lsgan", "hinge"] = "nonsaturating"
                                       # nonsaturating: -log D(G(z, y), y) for G (GAN, Sec. 3)
    d_norm: Literal["batch", "none"] = "batch"   # DCGAN D's normalisation (DCGAN: batch)
    batch_size: int = 100              # m (paper: 100)
    optimizer: Literal["sgd", "adam", "rmsprop"] = "sgd"   # paper: SGD with momentum
    lr_d: float = 0.1                  # D learning rate (paper: 0.1, decayed to 1e-6)
    lr_g: float = 0.1                  # G learning rate (paper: 0.1)
    momentum: float = 0.5              # SGD momentum (paper: 0.5, rising to 0.7)
    beta1: float = 0.5                 # Adam beta1 (for --optimizer adam; DCGAN's value)
    beta2: float = 0.999               # Adam beta2
    lr_decay: bool = False             # decay the lrs linearly to 0 (the paper decays its lr
                                       # exponentially)
    final_eval: bool = True            # score the final samples with the domain classifier
                                       # (label agreement, domain FID overall and per class)
    n_samples: int = 1000              # final samples in samples.npz, an equal number per
                                       # class (at least 100 per class)
    n_eval: int = 1000                 # samples scored at each domain_eval step
    log_every: int = 100               # steps between metrics.jsonl lines
    sample_every: int = 500            # steps between class grids


PRESETS = {
    "paper": {},
    # dcgan's measured CPU settings for 28 x 28 digits (docs/dcgan.md), with the label added,
    # and 9,000 steps (~17 CPU-minutes): on MNIST the label agreement was 93.6 % at 5,000 steps
    # and 96.7 % at 9,000 (docs/cgan.md).
    "digits28": dict(arch="dcgan", ngf=32, ndf=16, batch_size=32, optimizer="adam", lr_d=5e-4,
                     lr_g=5e-4, beta1=0.5, steps=9000, sample_every=500),
}
PRESET_DOCS = {
    "paper": "Sec. 4.1's optimiser on MLPs: SGD lr 0.1, momentum 0.5, batch 100",
    "digits28": "28x28 one-channel data: DCGAN nets (ngf 32, ndf 16), Adam 5e-4, beta1 0.5, "
                "batch 32, 9,000 steps (departs from the paper; dcgan's CPU settings, longer)",
}


def default_preset(dataset: str) -> str:
    """``--preset auto``: digits28 on 28 x 28 one-channel data (``dcgan.default_preset``)."""
    return dcgan.default_preset(dataset)


# ---------------------------------------------------------------- models

def build_models(config: Config, data):
    """(G(z, y), D(x, y)) for the data's shape and K classes."""
    if data.is_points:
        raise ValueError("cgan needs labelled images")
    return build_conditional_pair(config, data.shape, data.num_classes,
                                  latent_size(config, False), config.projection,
                                  config.d_norm, device=config.device)


# ---------------------------------------------------------------- one step

def discriminator_step(config: Config, G, D, opt_d, x, y, nz: int) -> dict:
    """Descend L_D = -[log D(x, y) + log(1 - D(G(z, y), y))] (or the --loss critic loss);
    the fakes carry the real batch's labels, so both halves of the batch see the same y."""
    z = R.sample_noise(x.shape[0], nz, x.device)                     # (m, nz)
    with tinygen.no_grad():
        x_fake = G(z, y)                                             # (m, *shape), constant
    d_loss, _ = L.gan_losses(config.loss)
    return {"loss_d": R.descend(d_loss(D(x, y), D(x_fake, y)), opt_d)}


def generator_step(config: Config, G, D, opt_g, y, nz: int) -> dict:
    """Descend the generator loss of ``--loss`` on D(G(z, y), y)."""
    z = R.sample_noise(y.shape[0], nz, y.device)                     # (m, nz)
    _, g_loss = L.gan_losses(config.loss)
    return {"loss_g": R.descend(g_loss(D(G(z, y), y)), opt_g)}


# ---------------------------------------------------------------- the loop

def train(config: Config) -> str:
    """``tinygen run cgan``: train for ``config.steps`` steps; returns the run folder."""
    run = R.Run(config, "cgan")
    data, test = C.load_labelled_data(config)
    C.require_all_labels(data, "cgan")
    nz = latent_size(config, False)
    G, D = build_models(config, data)
    opt_g, opt_d = build_optimizers(config, G, D)
    monitor = C.ConditionalMonitor(run, data, nz, test, config.final_eval,
                                   G=G, D=D, opt_g=opt_g, opt_d=opt_d)
    everyone = np.arange(len(data.x))
    for step in run.steps(monitor.resume()):
        if config.lr_decay:
            monitor.decay_lrs(step)
        x, y = C.labelled_batch(data, everyone, config.batch_size, run.data_rng, config.device)
        d_out = discriminator_step(config, G, D, opt_d, x, y, nz)
        _, y_g = C.labelled_batch(data, everyone, config.batch_size, run.data_rng,
                                  config.device)                    # y ~ p_data for G
        g_out = generator_step(config, G, D, opt_g, y_g, nz)
        monitor.step_done(step, **d_out, **g_out)
    return monitor.finish()


def sample_run(config: Config, checkpoint: str, n: int, seed: int):
    """``tinygen sample``: n samples, classes in turn (0, 1, ..., K-1, 0, ...)."""
    from tinygen.io.checkpoint import restore_checkpoint
    data, _ = C.load_labelled_data(config)
    G, D = build_models(config, data)
    restore_checkpoint(checkpoint, G=G, D=D)
    y = np.arange(n) % data.num_classes
    x = C.generate_conditional(G, y, latent_size(config, False), config.device,
                               np.random.default_rng(seed))
    return x, (-1.0, 1.0)


__all__ = ["Config", "PRESETS", "build_models", "discriminator_step", "generator_step",
           "train", "sample_run"]
