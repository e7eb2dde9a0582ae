"""WGAN-GP: Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville, "Improved Training of
Wasserstein GANs", arXiv:1704.00028.

Algorithm 1 (WGAN with gradient penalty), as code. Defaults: lambda = 10, n_critic = 5,
alpha = 1e-4, beta_1 = 0, beta_2 = 0.9.

    while theta has not converged:                                         gan.fit
        for t = 1..n_critic:                                               config.n_critic
            for i = 1..m:                                                  (vectorised over m)
                sample x ~ P_r, z ~ p(z), eps ~ U[0, 1]
                x_tilde <- G_theta(z)
                x_hat   <- eps x + (1 - eps) x_tilde                       losses.interpolates
                L(i)    <- D_w(x_tilde) - D_w(x)                           losses.d_loss_wasserstein
                           + lambda (||grad_x_hat D_w(x_hat)||_2 - 1)^2    losses.gradient_penalty
            w <- Adam(grad_w 1/m sum L(i), w, alpha, beta_1, beta_2)       discriminator_step()
        sample {z(i)} ~ p(z)
        theta <- Adam(grad_theta 1/m sum -D_w(G_theta(z)), theta, ...)     generator_step()

The penalty differentiates the critic's input-gradient with respect to the critic's
weights: ``tinygen.grad(..., create_graph=True)`` followed by ``backward()`` is a true
double backward through every layer of D.

No batch normalisation in the critic (Sec. 4, "Design choices"): the penalty is defined
per sample, and batch norm mixes the samples of a batch. ``--critic-norm layer`` puts
layer normalisation in its place, as the paper suggests.
"""
from __future__ import annotations

import dataclasses

from tinygen import losses as L
from tinygen.methods import gan, wgan
from tinygen.methods.gan import sample, sample_noise  # noqa: F401


@dataclasses.dataclass
class Config(gan.ModelConfig):
    """WGAN-GP (Gulrajani et al. 2017, arXiv:1704.00028, Algorithm 1)."""
    batch_size: int = 64           # m (Algorithm 1's experiments: 64)
    lambda_: float = 10.0          # gradient penalty coefficient lambda
    n_critic: int = 5              # critic iterations per generator iteration
    lr: float = 1e-4               # alpha (Adam)
    beta1: float = 0.0             # beta_1
    beta2: float = 0.9             # beta_2
    critic_norm: str = "none"      # none | layer: normalisation in the critic (never batch norm)


def build_models(config, data):
    """G_theta and the critic D_w: the GAN architectures, with no batch norm in D_w."""
    if config.critic_norm not in ("none", "layer"):
        raise ValueError(f"critic_norm must be 'none' or 'layer' (batch norm breaks the "
                         f"per-sample penalty), got {config.critic_norm!r}")
    config = dataclasses.replace(config, layer_norm=config.critic_norm == "layer")
    config.d_norm = config.critic_norm          # read by the DCGAN critic
    return gan.build_models(config, data)


# Adam(alpha, beta_1, beta_2) for both players (Algorithm 1).
build_optimizers = gan.adam_optimizers


def discriminator_step(config, G, D, opt_d, x, nz, step) -> dict:
    """Algorithm 1, lines 3-9: critic loss plus gradient penalty, one Adam step."""
    z = sample_noise(x.shape[0], nz, x.device)                       # (m, nz)
    x_tilde = G(z).detach()                                          # (m, *shape)
    loss_w = L.d_loss_wasserstein(D(x), D(x_tilde))                  # D(x_tilde) - D(x)
    gp = L.gradient_penalty(D, x, x_tilde, config.lambda_)           # lambda (||grad|| - 1)^2
    value = gan.descend(loss_w + gp, opt_d)                          # double backward through D
    return {"loss_d": value, "gp": float(gp.item()),
            "wasserstein": -float(loss_w.item())}


# Algorithm 1, lines 10-11 (one Adam step on -1/m sum D_w(G_theta(z))) is WGAN's generator update.
generator_step = wgan.generator_step


def train(config: Config) -> str:
    """``tinygen run wgan-gp``: train and return the run folder."""
    run, *_ = gan.fit(config, "wgan-gp", discriminator_step, generator_step, build_models,
                      build_optimizers)
    return run.dir
