"""WGAN-GP: Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville, "Improved Training of
Wasserstein GANs", arXiv:1704.00028.

Algorithm 1 (WGAN with gradient penalty), as code. Defaults: lambda = 10, n_critic = 5,
alpha = 1e-4, beta_1 = 0, beta_2 = 0.9.

    while theta has not converged:                                         wgan.critic_loop
        for t = 1..n_critic:                                               config.n_critic
            for i = 1..m:                                                  (vectorised over m)
                sample x ~ P_r, z ~ p(z), eps ~ U[0, 1]
                x_tilde <- G_theta(z)
                x_hat   <- eps x + (1 - eps) x_tilde                       losses.interpolates
                L(i)    <- D_w(x_tilde) - D_w(x)                           losses.d_loss_wasserstein
                           + lambda (||grad_x_hat D_w(x_hat)||_2 - 1)^2    losses.gradient_penalty
            w <- Adam(grad_w 1/m sum L(i), w, alpha, beta_1, beta_2)       critic_step()
        sample {z(i)} ~ p(z)
        theta <- Adam(grad_theta 1/m sum -D_w(G_theta(z)), theta, ...)     wgan.generator_step

The penalty differentiates the critic's input-gradient with respect to the critic's
weights: ``tinygen.grad(..., create_graph=True)`` followed by ``backward()`` is a true
double backward through every layer of D. The loop and lines 10-11 (the generator update)
are WGAN's, so this file reuses :func:`tinygen.methods.wgan.critic_loop` and with it
``wgan.generator_step`` (the papers build on each other); its own parts are the critic step
and the Adam optimiser.

No batch normalisation in the critic (Sec. 4, "Design choices"): the penalty is defined
per sample, and batch norm mixes the samples of a batch. ``--critic-norm layer`` puts
layer normalisation in its place, as the paper suggests.

Preset ``toy2d`` (the default on 2-D toys) follows the authors' own toy script
(github.com/igul222/improved_wgan_training, gan_toy.py, commit 3c8ba3c): lambda = 0.1
("Smaller lambda makes things faster for toy tasks"), n_critic = 5, Adam betas (0.5, 0.9),
batch 256 -- departures from Algorithm 1's image settings, which ``--preset paper`` keeps.
Ours, for a CPU budget of minutes instead of the script's 100,000 iterations: lr 2e-3
(20x the script's 1e-4) decayed linearly to 0, 3 x 128 MLPs instead of 3 x 512.
Measured (quiet 2-core CPU): ring8 2,000 steps 8/8 modes, 92 % / 93 % high quality
(seeds 0 / 1); grid25 4,000 steps 25/25, 78 % / 81 %. With lambda = 10 the same budget
reached 8/8 and 77 % on the ring (seed 0) and did not converge on the grid (docs/wgan_gp.md).
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

from tinygen import optim
from tinygen import losses as L
from tinygen.methods import run as R
from tinygen.methods.wgan import critic_loop
from tinygen.models.gan_nets import GANArch, build_gan_pair


@dataclasses.dataclass
class Config(R.SamplingConfig, GANArch):
    """WGAN-GP (Gulrajani et al. 2017, arXiv:1704.00028, Algorithm 1)."""
    batch_size: int = 64               # m (Algorithm 1's experiments: 64)
    gp_lambda: float = 10.0            # lambda, the gradient penalty coefficient
    n_critic: int = 5                  # critic iterations per generator iteration
    lr: float = 1e-4                   # alpha (Adam)
    beta1: float = 0.0                 # beta_1
    beta2: float = 0.9                 # beta_2
    critic_norm: Literal["none", "layer"] = "none"   # normalisation in the critic (never batch
                                       # norm: it mixes the samples of the per-sample penalty;
                                       # the old --layer-norm still means layer)
    lr_decay: bool = False             # decay alpha linearly to 0 over the run (not in the paper)
    ALIASES: ClassVar[dict] = {"lambda_": "gp_lambda", "k": "n_critic",
                               "layer_norm": ("critic_norm", "layer")}   # --layer-norm


TOY2D = dict(batch_size=256, hidden=128, n_hidden=3, latent_dim=2, lr=2e-3, beta1=0.5,
             beta2=0.9, gp_lambda=0.1, lr_decay=True, steps=2000)
PRESETS = {"paper": {}, "toy2d": TOY2D, "grid25": {**TOY2D, "steps": 4000}}
PRESET_DOCS = {
    "paper": "Algorithm 1: lambda 10, n_critic 5, Adam 1e-4, betas (0, 0.9), m 64",
    "toy2d": "2-D toys, as the authors' gan_toy.py: lambda 0.1, betas (0.5, 0.9), batch 256; "
             "ours: lr 2e-3 decayed to 0, 3x128 MLPs, 2,000 steps (departs from Algorithm 1)",
    "grid25": "toy2d with 4,000 steps for the 25 modes of grid25",
}


def default_preset(dataset: str) -> str:
    """``--preset auto``: the authors' toy settings on 2-D toys, Algorithm 1's elsewhere."""
    return R.toy_preset(dataset, otherwise="paper")


def build_models(config: Config, data):
    """G_theta and the critic D_w: the GAN architectures, with no batch norm in D_w."""
    if config.critic_norm not in ("none", "layer"):
        raise ValueError(f"critic_norm must be 'none' or 'layer' (batch norm breaks the "
                         f"per-sample penalty), got {config.critic_norm!r}")
    return build_gan_pair(config, data.shape, d_norm=config.critic_norm, device=config.device)


def build_optimizers(config: Config, G, D):
    """Adam(alpha, (beta_1, beta_2)) for both players (Algorithm 1): (opt_g, opt_d)."""
    betas = (config.beta1, config.beta2)
    return (optim.Adam(G.parameters(), lr=config.lr, betas=betas),
            optim.Adam(D.parameters(), lr=config.lr, betas=betas))


def critic_step(config: Config, G, D, opt_d, x, nz: int) -> dict:
    """Algorithm 1, lines 3-9: critic loss plus gradient penalty, one Adam step."""
    z = R.sample_noise(x.shape[0], nz, x.device)                     # (m, nz)
    x_tilde = G(z).detach()                                          # (m, *shape)
    loss_w = L.d_loss_wasserstein(D(x), D(x_tilde))                  # D(x_tilde) - D(x)
    gp = L.gradient_penalty(D, x, x_tilde, config.gp_lambda)         # lambda (||grad|| - 1)^2
    value = R.descend(loss_w + gp, opt_d)                            # double backward through D
    return {"loss_d": value, "gp": gp.detach(), "wasserstein": -loss_w.detach()}


def train(config: Config, frames=None) -> str:
    """``tinygen run wgan-gp``: Algorithm 1 for ``config.steps`` generator steps; the run folder.

    The loop is WGAN's (:func:`tinygen.methods.wgan.critic_loop`); what differs is the
    critic step above and the optimiser.
    """
    return critic_loop(config, "wgan-gp", build_models, build_optimizers, critic_step, frames)


def sample_run(config: Config, checkpoint: str, n: int, seed: int):
    """``tinygen sample``: n samples from the generator of a finished run."""
    return R.sample_generator(config, build_models, checkpoint, n, seed)
