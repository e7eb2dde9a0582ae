"""InfoGAN: Chen, Duan, Houthooft, Schulman, Sutskever & Abbeel, "InfoGAN: Interpretable
Representation Learning by Information Maximizing Generative Adversarial Nets",
arXiv:1606.03657.

G(z, c) takes, beside the noise z, a latent code c = (c_cat, c_cont): a categorical code of K
values and L continuous codes ~ U(-1, 1). Nothing tells G what c means; a head Q on D's
trunk must recover c from G(z, c), which maximises a variational lower bound on the mutual
information I(c; G(z, c)) (eq. 4-5):

    L_I(G, Q) = E_{c, x ~ G(z, c)} log Q(c | x) + H(c)  <=  I(c; G(z, c))
    min_{G,Q} max_D  V(D, G) - lambda L_I(G, Q)                             (eq. 6)

As code (the GAN's non-saturating losses; ``losses.infogan_information_loss`` is -L_I + H(c)):

    for each step:                                                         train()
        x ~ p_data; z ~ N(0, I), c ~ p(c); x_fake = G(z, c)
        D: descend d_loss_minimax(D(x), D(x_fake))                         discriminator_step()
        G: descend g_loss_nonsaturating(D(G(z, c))) + lambda (-L_I)        generator_step()
        Q, trunk: descend lambda (-L_I) on the same G(z, c)

Q shares D's trunk (Sec. 6: "Q shares all convolutional layers with D"), with one hidden layer
of its own. At the G step, Q and the trunk descend the information term alone, with D's
optimiser: the paper's code puts -lambda L_I into both players' losses, and the trunk is D's,
so it must never follow G's adversarial gradient (an earlier version let it, and D was
pushed to chance).
Pictures: traversals.png, one row per categorical value, the continuous code c_1 swept from
-2 to 2 along the row (z and the other codes fixed), the paper's Figure 2 layout.

Defaults: the paper's MNIST setting (one 10-way code, two continuous codes, lambda 1) on
DCGAN's nets with dcgan's CPU settings on 28 x 28 data (preset digits28); ``--preset paper``:
Adam 2e-4 for D / 1e-3 for G, batch 64 (its Appendix C.1).
"""
from __future__ import annotations

import dataclasses
from typing import Literal

import tinygen
from tinygen import backend, optim
from tinygen import losses as L
from tinygen.methods import conditional as C
from tinygen.methods import dcgan
from tinygen.methods import run as R
from tinygen.models.cond_nets import TrunkDiscriminator, build_trunk, generator_net, one_hot
from tinygen.models.gan_nets import GANArch, latent_size

np = backend.numpy   # host arrays: codes for the pictures


@dataclasses.dataclass
class Config(R.SamplingConfig, GANArch):
    """InfoGAN (Chen et al. 2016, arXiv:1606.03657, Sec. 5-6, Appendix C.1)."""
    dataset: str = "digits"            # images (labels are not used)
    arch: Literal["auto", "mlp", "dcgan"] = "dcgan"   # the paper's convnets (DCGAN-like)
    latent_dim: int = 62               # dim z (paper, MNIST: 62)
    categories: int = 10               # K, values of the categorical code (paper: 10)
    continuous: int = 2                # L, continuous codes ~ U(-1, 1) (paper: 2)
    info_weight: float = 1.0           # lambda (paper: 1 for MNIST)
    q_hidden: int = 128                # Q's own hidden layer (paper: 128)
    batch_size: int = 64               # m (paper: 64)
    lr_d: float = 2e-4                 # Adam lr of D (paper: 2e-4)
    lr_g: float = 1e-3                 # Adam lr of G and Q (paper: 1e-3)
    beta1: float = 0.5                 # Adam beta1 (paper: 0.5)
    beta2: float = 0.999               # Adam beta2
    n_samples: int = 512               # final samples in samples.npz
    log_every: int = 100               # steps between metrics.jsonl lines
    sample_every: int = 500            # steps between traversal frames


PRESETS = {
    "paper": {},
    "digits28": dict(ngf=32, ndf=16, batch_size=32, lr_d=5e-4, lr_g=5e-4, steps=5000),
}
PRESET_DOCS = {
    "paper": "Appendix C.1 (MNIST): Adam 2e-4 (D) / 1e-3 (G), beta1 0.5, batch 64",
    "digits28": "28x28 one-channel data: ngf 32, ndf 16, batch 32, Adam 5e-4 for both, 5,000 "
                "steps (departs from the paper; dcgan's CPU settings)",
}


def default_preset(dataset: str) -> str:
    """``--preset auto``: digits28 on 28 x 28 one-channel data (``dcgan.default_preset``)."""
    return dcgan.default_preset(dataset)


class InfoGenerator(tinygen.nn.Module):
    """G(z, c_cat, c_cont) = G'([z, onehot(c_cat), c_cont])."""

    def __init__(self, net, categories: int):
        super().__init__()
        self.net, self.categories = net, categories

    def forward(self, z, c_cat, c_cont):
        return self.net(tinygen.cat([z, one_hot(c_cat, self.categories, z), c_cont], 1))


def build_models(config: Config, data):
    """(G(z, c_cat, c_cont), D(x) -> (logit, Q's K logits + L means, features))."""
    name = config.arch if config.arch != "auto" else "dcgan"
    nz, k, n_cont = latent_size(config, False), config.categories, config.continuous
    G = InfoGenerator(generator_net(config, data.shape, name, nz + k + n_cont), k)
    trunk, d = build_trunk(config, data.shape, name)
    D = TrunkDiscriminator(trunk, d, k + n_cont, head_hidden=config.q_hidden)
    return G.to(config.device), D.to(config.device)


def sample_codes(config: Config, m: int, device):
    """c_cat ~ Cat(K) (m,), c_cont ~ U(-1, 1) (m, L), from tinygen's generator."""
    c_cat = tinygen.randint(0, config.categories, m, device=device)
    c_cont = tinygen.rand(m, config.continuous, device=device) * 2.0 - 1.0
    return c_cat, c_cont


def discriminator_step(config: Config, G, D, opt_d, x, nz: int) -> dict:
    """Descend -[log D(x) + log(1 - D(G(z, c)))] (D's source head)."""
    m = x.shape[0]
    z, (c_cat, c_cont) = R.sample_noise(m, nz, x.device), sample_codes(config, m, x.device)
    with tinygen.no_grad():
        x_fake = G(z, c_cat, c_cont)
    loss = L.d_loss_minimax(D(x)[0], D(x_fake)[0])
    return {"loss_d": R.descend(loss, opt_d)}


def generator_step(config: Config, G, D, opt_g, opt_d, m: int, nz: int, device) -> dict:
    """G descends -log D(G(z, c)) + lambda (-L_I) with opt_g; Q and D's trunk descend
    lambda (-L_I) alone with opt_d (eq. 6: only G plays against D; D's part of the game stays
    in discriminator_step, and the source head gets nothing here)."""
    z, (c_cat, c_cont) = R.sample_noise(m, nz, device), sample_codes(config, m, device)
    s, q, _ = D(G(z, c_cat, c_cont))
    k = config.categories
    info = L.infogan_information_loss(q[:, :k], c_cat, q[:, k:], c_cont)
    loss = L.g_loss_nonsaturating(s) + config.info_weight * info
    source = {id(p) for p in D.source.parameters()}
    q_and_trunk = [p for p in D.parameters() if id(p) not in source]
    d_grads = tinygen.grad(config.info_weight * info, q_and_trunk, retain_graph=True)
    opt_g.zero_grad()
    opt_d.zero_grad()
    loss.backward()                                  # G's gradients (and D's, replaced below)
    for p in D.parameters():
        p.grad = None
    for p, g in zip(q_and_trunk, d_grads):
        p.grad = g
    opt_g.step()
    opt_d.step()
    return {"loss_g": loss.detach(), "loss_info": info.detach()}


def traversals(config: Config, G, device, rng, steps: int = 10):
    """(K steps, C, H, W): row k holds c_cat = k, c_1 from -2 to 2; one z, other codes 0."""
    nz = latent_size(config, False)
    z = np.repeat(rng.standard_normal((1, nz)).astype(np.float32), config.categories * steps, 0)
    c_cat = np.repeat(np.arange(config.categories), steps)
    c_cont = np.zeros((len(c_cat), config.continuous), np.float32)
    if config.continuous:
        c_cont[:, 0] = np.tile(np.linspace(-2.0, 2.0, steps, dtype=np.float32), config.categories)
    with R.sampling(G):
        x = G(tinygen.tensor(z, device=device), tinygen.tensor(c_cat, device=device),
              tinygen.tensor(c_cont, device=device))
    return backend.to_host(x.data)


def train(config: Config) -> str:
    """``tinygen run infogan``: train for ``config.steps`` steps; returns the run folder."""
    run = R.Run(config, "infogan")
    data, nz = R.load_generator_data(config)
    G, D = build_models(config, data)
    betas = (config.beta1, config.beta2)
    opt_g = optim.Adam(G.parameters(), lr=config.lr_g, betas=betas)
    opt_d = optim.Adam(D.parameters(), lr=config.lr_d, betas=betas)
    nz = latent_size(config, False)
    models = dict(G=G, D=D, opt_g=opt_g, opt_d=opt_d)
    for step in run.steps(run.resume(**models)):
        x = R.real_batch(data.x, config.batch_size, run.data_rng, config.device)
        out = discriminator_step(config, G, D, opt_d, x, nz)
        out.update(generator_step(config, G, D, opt_g, opt_d, config.batch_size, nz,
                                  config.device))
        run.record(step, **out)
        if run.due(step, config.log_every):
            run.log(step)
        if run.due(step, config.sample_every):
            run.save_grid(traversals(config, G, config.device, np.random.default_rng(0)),
                          f"traversals_{step:06d}.png", nrow=10)
        run.checkpoint(step, **models)
    run.finish(**models)
    C.save_picture(run, traversals(config, G, config.device, np.random.default_rng(0)),
                   "traversals.png", nrow=10)
    m = config.n_samples
    with R.sampling(G):
        c_cat, c_cont = sample_codes(config, m, config.device)
        x = G(R.sample_noise(m, nz, config.device, run.eval_rng), c_cat, c_cont)
    run.save_samples(R.to_uint8_images(R.to_host(x), (-1.0, 1.0)), c_cat)
    return run.dir


__all__ = ["Config", "PRESETS", "build_models", "sample_codes", "discriminator_step",
           "generator_step", "traversals", "train"]
