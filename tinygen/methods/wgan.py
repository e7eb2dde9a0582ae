"""Wasserstein GAN: Arjovsky, Chintala & Bottou, "Wasserstein GAN", arXiv:1701.07875.

Algorithm 1 (WGAN), as code. Defaults: alpha = 5e-5, c = 0.01, m = 64, n_critic = 5.

    while theta has not converged:                                        train() / gan.fit
        for t = 0..n_critic - 1:                                          config.n_critic
            sample {x_i}_{i=1..m} ~ P_r, {z_i} ~ p(z)                     gan.real_batch, sample_noise
            g_w <- grad_w [ 1/m sum f_w(x_i) - 1/m sum f_w(g_theta(z_i)) ] discriminator_step()
            w   <- w + alpha RMSProp(w, g_w)                               (descend the negative)
            w   <- clip(w, -c, c)                                          gan.clip_weights
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
"""
from __future__ import annotations

import dataclasses

from tinygen import optim
from tinygen import losses as L
from tinygen.methods import gan
from tinygen.methods.gan import clip_weights, sample, sample_noise  # noqa: F401


@dataclasses.dataclass
class Config(gan.ModelConfig):
    """WGAN with weight clipping (Arjovsky et al. 2017, arXiv:1701.07875, Algorithm 1)."""
    batch_size: int = 64           # m
    lr: float = 5e-5               # alpha, for both critic and generator (RMSProp)
    clip: float = 0.01             # c, weights clipped to [-c, c] after every critic step
    n_critic: int = 5              # critic iterations per generator iteration


def build_models(config, data):
    """f_w (no sigmoid) and g_theta: the GAN's architectures (MLP or DCGAN), unchanged."""
    return gan.build_models(config, data)


def build_optimizers(config, G, D):
    """RMSProp with lr alpha for both players (Algorithm 1)."""
    return optim.RMSprop(G.parameters(), lr=config.lr), optim.RMSprop(D.parameters(), lr=config.lr)


def discriminator_step(config, G, D, opt_d, x, nz, step) -> dict:
    """Algorithm 1, lines 3-7: one RMSProp step on the critic, then clip its weights."""
    z = sample_noise(x.shape[0], nz, x.device)                       # (m, nz)
    x_fake = G(z).detach()                                           # (m, *shape)
    loss = L.d_loss_wasserstein(D(x), D(x_fake))                     # E f(G(z)) - E f(x)
    value = gan.descend(loss, opt_d)
    clip_weights(D, config.clip)                                     # w <- clip(w, -c, c)
    return {"loss_d": value, "wasserstein": -value}


def generator_step(config, G, D, opt_g, m, nz, device) -> dict:
    """Algorithm 1, lines 9-10: one RMSProp step on -E f(g_theta(z))."""
    z = sample_noise(m, nz, device)                                  # (m, nz)
    return {"loss_g": gan.descend(L.g_loss_wasserstein(D(G(z))), opt_g)}


def train(config: Config) -> str:
    """``tinygen run wgan``: train and return the run folder."""
    run, *_ = gan.fit(config, "wgan", discriminator_step, generator_step, build_models,
                      build_optimizers)
    return run.dir
