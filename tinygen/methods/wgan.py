"""Wasserstein GAN: Arjovsky, Chintala & Bottou, "Wasserstein GAN", arXiv:1701.07875.

Algorithm 1 (WGAN), as code. Defaults: alpha = 5e-5, c = 0.01, m = 64, n_critic = 5.

    while theta has not converged:                                        critic_loop()
        for t = 0..n_critic - 1:                                          config.n_critic
            sample {x_i}_{i=1..m} ~ P_r, {z_i} ~ p(z)                     run.real_batch, sample_noise
            g_w <- grad_w [ 1/m sum f_w(x_i) - 1/m sum f_w(g_theta(z_i)) ] critic_step()
            w   <- w + alpha RMSProp(w, g_w)                               (descend the negative)
            w   <- clip(w, -c, c)                                          clip_weights
        sample {z_i} ~ p(z)
        g_theta <- -grad_theta 1/m sum f_w(g_theta(z_i))                   generator_step()
        theta   <- theta - alpha RMSProp(theta, g_theta)

Why: with f_w K-Lipschitz (enforced crudely by clipping the weights to a compact box),
max_w E f_w(x) - E f_w(g(z)) is K times the Earth-Mover distance W(P_r, P_theta)
(Kantorovich-Rubinstein duality, eq. 2-3), which is continuous in theta even when the
supports are disjoint, unlike JS (the "parallel lines" Example 1; demos/divergences.py).
The critic has no sigmoid: f_w(x) is an unbounded score. -loss_d estimates W (logged as
``wasserstein``). RMSProp rather than Adam: Sec. 3, "momentum based methods ... perform
worse", and the paper's PyTorch code uses RMSprop with PyTorch's alpha = 0.99.

The networks are the GAN's (tinygen/models/gan_nets.py); ``clip_weights`` is exported
for the GAN's ``--clip`` option (Goodfellow's loop with WGAN's clipping).
Preset ``toy2d`` (the default on 2-D toys; departs from Algorithm 1's image settings):
batch 256, lr 5e-4 decayed linearly to 0, 1,000 steps.
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

from tinygen import backend, optim
from tinygen import losses as L
from tinygen.methods import run as R
from tinygen.models.gan_nets import GANArch, build_gan_pair


@dataclasses.dataclass
class Config(R.SamplingConfig, GANArch):
    """WGAN with weight clipping (Arjovsky et al. 2017, arXiv:1701.07875, Algorithm 1)."""
    batch_size: int = 64               # m (Algorithm 1)
    lr: float = 5e-5                   # alpha, for both critic and generator (RMSProp)
    clip: float = 0.01                 # c, weights clipped to [-c, c] after every critic step
    n_critic: int = 5                  # critic iterations per generator iteration
    lr_decay: bool = False             # decay alpha linearly to 0 over the run (not in the paper)
    layer_norm: bool = False           # layer norm in the critic instead of none (MLP) / batch
                                       # norm (convnet, the paper's DCGAN critic); not in the paper
    ALIASES: ClassVar[dict] = {"k": "n_critic"}


TOY2D = dict(batch_size=256, hidden=128, n_hidden=3, latent_dim=2, lr=5e-4, lr_decay=True,
             steps=1000)
PRESETS = {"paper": {}, "toy2d": TOY2D, "grid25": {**TOY2D, "steps": 1500}}
PRESET_DOCS = {
    "paper": "Algorithm 1: RMSProp alpha 5e-5, c 0.01, m 64, n_critic 5",
    "toy2d": "2-D toys: batch 256, 3x128 MLPs, alpha 5e-4 decayed to 0, 1,000 steps "
             "(departs from Algorithm 1, whose alpha needs ~100k steps)",
    "grid25": "toy2d with 1,500 steps for the 25 modes of grid25",
}


def default_preset(dataset: str) -> str:
    """``--preset auto``: the toy settings on 2-D toys, Algorithm 1's elsewhere."""
    return R.toy_preset(dataset, otherwise="paper")


def build_models(config: Config, data):
    """f_w (no sigmoid) and g_theta: the GAN's architectures (MLP or DCGAN), unchanged."""
    return build_gan_pair(config, data.shape, "layer" if config.layer_norm else "batch",
                          device=config.device)


def build_optimizers(config: Config, G, D):
    """RMSProp with lr alpha for both players (Algorithm 1): (opt_g, opt_d)."""
    return optim.RMSprop(G.parameters(), lr=config.lr), optim.RMSprop(D.parameters(), lr=config.lr)


def clip_weights(D, c: float) -> None:
    """w <- clip(w, -c, c) for every parameter of the critic (Algorithm 1, line 7)."""
    for p in D.parameters():
        backend.get_array_module(p.data).clip(p.data, -c, c, out=p.data)


def critic_step(config: Config, G, D, opt_d, x, nz: int) -> dict:
    """Algorithm 1, lines 3-7: one RMSProp step on the critic, then clip its weights."""
    z = R.sample_noise(x.shape[0], nz, x.device)                     # (m, nz)
    x_fake = G(z).detach()                                           # (m, *shape)
    loss = L.d_loss_wasserstein(D(x), D(x_fake))                     # E f(G(z)) - E f(x)
    value = R.descend(loss, opt_d)
    clip_weights(D, config.clip)                                     # w <- clip(w, -c, c)
    return {"loss_d": value, "wasserstein": -value}


def generator_step(config, G, D, opt_g, m: int, nz: int, device) -> dict:
    """Algorithm 1, lines 9-10: one step on -1/m sum f_w(g_theta(z)) (WGAN-GP's lines 10-11 too)."""
    z = R.sample_noise(m, nz, device)                                # (m, nz)
    return {"loss_g": R.descend(L.g_loss_wasserstein(D(G(z))), opt_g)}


def train(config: Config, frames=None) -> str:
    """``tinygen run wgan``: Algorithm 1 for ``config.steps`` generator steps; the run folder."""
    return critic_loop(config, "wgan", build_models, build_optimizers, critic_step, frames)


def critic_loop(config, method: str, build_models, build_optimizers, critic_step,
                frames=None) -> str:
    """The loop of Algorithm 1: n_critic critic steps, then one generator step.

    WGAN-GP's Algorithm 1 is this loop with another critic step (the gradient penalty
    instead of clipping) and Adam instead of RMSProp, so :mod:`tinygen.methods.wgan_gp`
    calls it with its own ``build_optimizers`` and ``critic_step``.
    """
    run = R.Run(config, method)
    data, nz = R.load_generator_data(config)
    G, D = build_models(config, data)
    opt_g, opt_d = build_optimizers(config, G, D)
    monitor = R.GeneratorMonitor(run, data, nz, frames, G=G, D=D, opt_g=opt_g, opt_d=opt_d)
    for step in run.steps(monitor.resume()):
        if config.lr_decay:
            monitor.decay_lrs(step)
        for _ in range(config.n_critic):                             # for t = 0..n_critic - 1
            x = R.real_batch(data.x, config.batch_size, run.data_rng, config.device)
            d_out = critic_step(config, G, D, opt_d, x, nz)
        g_out = generator_step(config, G, D, opt_g, config.batch_size, nz, config.device)
        monitor.step_done(step, **d_out, **g_out)
    return monitor.finish()


def sample_run(config: Config, checkpoint: str, n: int, seed: int):
    """``tinygen sample``: n samples from the generator of a finished run."""
    return R.sample_generator(config, build_models, checkpoint, n, seed)
