"""AC-GAN: Odena, Olah & Shlens, "Conditional Image Synthesis with Auxiliary Classifier GANs",
arXiv:1610.09585 (ICML 2017).

G(z, c) is conditioned like the cGAN's; D does not see the class but predicts it: one trunk,
two heads, P(S | x) (real or fake) and P(C | x) (the K classes). Sec. 3:

    L_S = E log P(S = real | x_real) + E log P(S = fake | x_fake)
    L_C = E log P(C = c | x_real)    + E log P(C = c | x_fake)
    D maximises L_S + L_C;  G maximises L_C - L_S

As code (each player descends its loss; G's source term is the non-saturating one, as the
authors' code trains it):

    for each step:                                                         train()
        sample (x, c) from p_data, z ~ p_z; x_fake = G(z, c)
        D: descend d_loss_minimax(s(x), s(x_fake)) + CE(k(x), c) + CE(k(x_fake), c)
                                                                           discriminator_step()
        sample z, c ~ p_data
        G: descend g_loss_nonsaturating(s(G(z, c))) + CE(k(G(z, c)), c)   generator_step()

with s the source logit and k the class logits of :class:`TrunkDiscriminator`. The generator
and the pictures, samples and scores are the cGAN's (``tinygen.methods.conditional``): the
domain classifier's ``label_agreement`` says how well the classes are generated.

Defaults: DCGAN's nets with dcgan's CPU settings on 28 x 28 one-channel data (the cgan
``digits28`` preset); the paper's ImageNet / CIFAR-10 settings (Adam 2e-4, beta1 0.5, batch
100) are the Config, ``--preset paper``.
"""
from __future__ import annotations

import dataclasses
from typing import Literal

import tinygen
from tinygen import backend
from tinygen import functional as F
from tinygen import losses as L
from tinygen.methods import conditional as C
from tinygen.methods import dcgan
from tinygen.methods import run as R
from tinygen.methods.gan import build_optimizers
from tinygen.models.cond_nets import (ConditionalGenerator, TrunkDiscriminator, build_trunk,
                                      generator_net)
from tinygen.models.gan_nets import GANArch, latent_size

np = backend.numpy   # host arrays: labels


@dataclasses.dataclass
class Config(R.SamplingConfig, GANArch):
    """AC-GAN (Odena et al. 2017, arXiv:1610.09585, Sec. 3)."""
    dataset: str = "digits"            # labelled images (digits, mnist, npz:PATH with y, ...)
    num_classes: int = 0               # K; 0 = one more than the largest label
    arch: Literal["auto", "mlp", "dcgan"] = "dcgan"   # the paper's convnets (DCGAN-like)
    class_weight: float = 1.0          # weight of L_C in both players' losses (paper: 1)
    batch_size: int = 100              # m (paper: 100)
    optimizer: Literal["sgd", "adam", "rmsprop"] = "adam"   # paper: Adam
    lr_d: float = 2e-4                 # D learning rate (paper: 2e-4)
    lr_g: float = 2e-4                 # G learning rate (paper: 2e-4)
    momentum: float = 0.5              # SGD momentum (for --optimizer sgd)
    beta1: float = 0.5                 # Adam beta1 (paper: 0.5)
    beta2: float = 0.999               # Adam beta2
    lr_decay: bool = False             # decay the lrs linearly to 0 (not in the paper)
    final_eval: bool = True            # score the final samples with the domain classifier
    n_samples: int = 1000              # final samples in samples.npz (at least 100 per class)
    n_eval: int = 1000                 # samples scored at each domain_eval step
    log_every: int = 100               # steps between metrics.jsonl lines
    sample_every: int = 500            # steps between class grids


PRESETS = {
    "paper": {},
    "digits28": dict(ngf=32, ndf=16, batch_size=32, lr_d=5e-4, lr_g=5e-4, steps=5000),
}
PRESET_DOCS = {
    "paper": "Sec. 3 / appendix: Adam 2e-4, beta1 0.5, batch 100",
    "digits28": "28x28 one-channel data: ngf 32, ndf 16, batch 32, Adam 5e-4, 5,000 steps "
                "(departs from the paper; dcgan's CPU settings)",
}


def default_preset(dataset: str) -> str:
    """``--preset auto``: digits28 on 28 x 28 one-channel data (``dcgan.default_preset``)."""
    return dcgan.default_preset(dataset)


def build_models(config: Config, data):
    """(G(z, c), D(x) -> (source logit, K class logits, features))."""
    name = config.arch if config.arch != "auto" else "dcgan"
    nz, k = latent_size(config, False), data.num_classes
    G = ConditionalGenerator(generator_net(config, data.shape, name, nz + k), k)
    trunk, d = build_trunk(config, data.shape, name)
    return G.to(config.device), TrunkDiscriminator(trunk, d, k).to(config.device)


def discriminator_step(config: Config, G, D, opt_d, x, c, nz: int) -> dict:
    """Descend -(L_S + L_C): real / fake on the source head, the class on both batches."""
    z = R.sample_noise(x.shape[0], nz, x.device)
    with tinygen.no_grad():
        x_fake = G(z, c)                                             # (m, *shape), constant
    s_real, k_real, _ = D(x)                                         # (m, 1), (m, K)
    s_fake, k_fake, _ = D(x_fake)
    source = L.d_loss_minimax(s_real, s_fake)
    classes = F.cross_entropy(k_real, c) + F.cross_entropy(k_fake, c)
    loss = source + config.class_weight * classes
    R.descend(loss, opt_d)
    return {"loss_d": loss.detach(), "loss_class": classes.detach()}


def generator_step(config: Config, G, D, opt_g, c, nz: int) -> dict:
    """Descend -log P(S = real | G(z, c)) - log P(C = c | G(z, c))."""
    z = R.sample_noise(c.shape[0], nz, c.device)
    s, k, _ = D(G(z, c))
    loss = L.g_loss_nonsaturating(s) + config.class_weight * F.cross_entropy(k, c)
    return {"loss_g": R.descend(loss, opt_g)}


def train(config: Config) -> str:
    """``tinygen run acgan``: train for ``config.steps`` steps; returns the run folder."""
    run = R.Run(config, "acgan")
    data, test = C.load_labelled_data(config)
    C.require_all_labels(data, "acgan")
    nz = latent_size(config, False)
    G, D = build_models(config, data)
    opt_g, opt_d = build_optimizers(config, G, D)
    monitor = C.ConditionalMonitor(run, data, nz, test, config.final_eval,
                                   G=G, D=D, opt_g=opt_g, opt_d=opt_d)
    everyone = np.arange(len(data.x))
    for step in run.steps(monitor.resume()):
        if config.lr_decay:
            monitor.decay_lrs(step)
        x, c = C.labelled_batch(data, everyone, config.batch_size, run.data_rng, config.device)
        out = discriminator_step(config, G, D, opt_d, x, c, nz)
        _, c_g = C.labelled_batch(data, everyone, config.batch_size, run.data_rng, config.device)
        out.update(generator_step(config, G, D, opt_g, c_g, nz))
        monitor.step_done(step, **out)
    return monitor.finish()


def sample_run(config: Config, checkpoint: str, n: int, seed: int):
    """``tinygen sample``: n samples, classes in turn (0, 1, ..., K-1, 0, ...)."""
    from tinygen.io.checkpoint import restore_checkpoint
    data, _ = C.load_labelled_data(config)
    G, D = build_models(config, data)
    restore_checkpoint(checkpoint, G=G, D=D)
    y = np.arange(n) % data.num_classes
    return C.generate_conditional(G, y, latent_size(config, False), config.device,
                                  np.random.default_rng(seed)), (-1.0, 1.0)


__all__ = ["Config", "PRESETS", "build_models", "discriminator_step", "generator_step",
           "train", "sample_run"]
