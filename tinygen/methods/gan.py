"""The original GAN: Goodfellow et al., "Generative Adversarial Nets", arXiv:1406.2661.

Algorithm 1 (minibatch stochastic gradient descent training of GANs), as code:

    for number of training iterations:                                  train()
        for k steps:                                                    config.n_critic
            sample m noise samples {z_1..z_m} from p_g(z)               run.sample_noise
            sample m examples {x_1..x_m} from p_data(x)                 run.real_batch
            update D by ascending
                grad_theta_d 1/m sum [log D(x_i) + log(1 - D(G(z_i)))]  discriminator_step()
        sample m noise samples {z_1..z_m} from p_g(z)
        update G by descending
                grad_theta_g 1/m sum log(1 - D(G(z_i)))                 generator_step()

"The gradient-based updates can use any standard gradient-based learning rule. We used
momentum in our experiments." -> SGD with momentum under ``--preset paper``.

Departures / options (all explicit):
    --loss nonsaturating (default): the generator maximises log D(G(z)) instead, as the
        paper recommends in Sec. 3 and used in practice; ``--loss minimax`` is the box above.
        lsgan / hinge / wgan / wgan-gp swap in other objectives (tinygen/losses.py; wgan-gp
        adds the same gradient penalty as ``tinygen run wgan-gp``, whose Algorithm 1 also
        fixes the optimiser and n_critic).
    GAN "hacks" (Salimans et al. 2016, arXiv:1606.03498; Soumith Chintala's ganhacks):
        --real-label 0.9      one-sided label smoothing (real targets 0.9, fakes stay 0)
        --label-flip p        noisy labels: each D target flipped with probability p
        --instance-noise s    N(0, s_t^2) added to every D input, s_t annealed s -> 0
                              (Sonderby et al. 2016, arXiv:1610.04490, Sec. 5)
    Presets (``--preset``): the paper's SGD (lr 0.1, momentum 0.5, batch 100) was tuned for
        MNIST MLPs and learns nothing on the 2-D toys (0/8 ring modes), so the default on a
        2-D dataset is ``toy2d`` (Adam 1e-3, batch 256, instance noise, lr decay: 8/8 modes),
        on images ``images`` (DCGAN's Adam 2e-4, beta1 0.5); ``--preset paper`` keeps the
        paper's numbers.

Notation:
    m batch size, z (m, latent_dim) noise, x (m, *data_shape) data,
    D returns logits l (m, 1), D(x) = sigmoid(l(x)).
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

import tinygen
from tinygen import backend, optim
from tinygen import losses as L
from tinygen.methods import run as R
from tinygen.methods.wgan import clip_weights
from tinygen.models.gan_nets import GANArch, build_gan_pair

np = backend.numpy   # host arrays for label flips and samples


@dataclasses.dataclass
class Config(R.SamplingConfig, GANArch):
    """Original GAN (Goodfellow et al. 2014, arXiv:1406.2661, Algorithm 1)."""
    loss: Literal["minimax", "nonsaturating", "wgan", "wgan-gp", "lsgan", "hinge"] = \
        "nonsaturating"                # nonsaturating: Sec. 3's practical G loss; minimax: Alg. 1
    n_critic: int = 1                  # k, discriminator steps per generator step (Alg. 1: k = 1)
    batch_size: int = 100              # m (the paper's code, pylearn2 adversarial/mnist.yaml)
    optimizer: Literal["sgd", "adam", "rmsprop"] = "sgd"   # sgd with momentum, as the paper
    lr_d: float = 0.1                  # discriminator learning rate (paper's code: 0.1)
    lr_g: float = 0.1                  # generator learning rate (paper's code: 0.1)
    momentum: float = 0.5              # SGD momentum (paper's code: 0.5, rising to 0.7)
    beta1: float = 0.5                 # Adam beta1 (Radford et al. 2015 value, for --optimizer adam)
    beta2: float = 0.999               # Adam beta2 (Adam's default)
    real_label: float = 1.0            # target for reals; 0.9 = one-sided label smoothing (a hack)
    label_flip: float = 0.0            # probability of flipping each D target (noisy labels, a hack)
    instance_noise: float = 0.0        # initial std of instance noise on D's inputs, annealed
                                       # linearly to 0 (Sonderby et al. 2016; a hack)
    clip: float = 0.0                  # weight clipping c after each D step (WGAN's
                                       # clip_weights); 0 = off
    gp_lambda: float = 10.0            # gradient penalty weight lambda (used by --loss wgan-gp)
    lr_decay: bool = False             # decay the lrs linearly to 0 over the run (not in the
                                       # paper; sharpens the 2-D modes at the end)
    layer_norm: bool = False           # layer norm in D instead of none (MLP) / batch norm
                                       # (convnet): the WGAN-GP critic's normalisation
    ALIASES: ClassVar[dict] = {"k": "n_critic"}


# Dataset-aware defaults: preset name -> the options it sets (``--preset``).
TOY2D = dict(batch_size=256, optimizer="adam", hidden=128, n_hidden=3, latent_dim=2,
             n_eval=2500, n_samples=2500, lr_decay=True, lr_d=1e-3, lr_g=1e-3, beta1=0.5,
             beta2=0.999, instance_noise=0.1, steps=2000)
PRESETS = {
    "paper": {},
    # Measured: ring8 2,000 steps 8/8 modes, 84 % high quality (instance noise made seed 1
    # reach 8/8; 4/8 without it, same budget).
    "toy2d": TOY2D,
    "grid25": {**TOY2D, "steps": 3000},
    # DCGAN's nets on images, with the CPU settings measured for dcgan on digits
    # (docs/dcgan.md: lr 5e-4, batch 32, ngf 32 / ndf 16).
    "images": dict(optimizer="adam", lr_d=5e-4, lr_g=5e-4, beta1=0.5, batch_size=32, ngf=32,
                   ndf=16, steps=2000, log_every=100, sample_every=250),
}
PRESET_DOCS = {
    "paper": "Algorithm 1 as the paper's code ran it: SGD lr 0.1, momentum 0.5, batch 100",
    "toy2d": "2-D toys: Adam 1e-3 (beta1 0.5), batch 256, 3x128 MLPs, instance noise 0.1, "
             "lr decay, 2,000 steps (departs from the paper, whose SGD gets 0/8 ring modes)",
    "grid25": "toy2d with 3,000 steps for the 25 modes of grid25",
    "images": "DCGAN nets with dcgan's CPU settings: Adam 5e-4, beta1 0.5, batch 32, ngf 32, "
              "ndf 16, 2,000 steps (departs from the paper)",
}


def default_preset(dataset: str) -> str:
    """``--preset auto``: toy2d (grid25) on the 2-D toys, images on everything else."""
    return R.toy_preset(dataset, otherwise="images")


# ---------------------------------------------------------------- models

def build_models(config: Config, data):
    """G: z -> x and D: x -> logit, as MLPs (2-D points, or flattened images) or DCGAN convnets."""
    return build_gan_pair(config, data.shape, "layer" if config.layer_norm else "batch",
                          device=config.device)


def build_optimizers(config: Config, G, D):
    """The optimiser named by ``config.optimizer`` for each player: (opt_g, opt_d)."""
    def make(params, lr):
        if config.optimizer == "sgd":
            return optim.SGD(params, lr=lr, momentum=config.momentum)
        if config.optimizer == "adam":
            return optim.Adam(params, lr=lr, betas=(config.beta1, config.beta2))
        if config.optimizer == "rmsprop":
            return optim.RMSprop(params, lr=lr)
        raise ValueError(f"optimizer must be 'sgd', 'adam' or 'rmsprop', got {config.optimizer!r}")
    return make(G.parameters(), config.lr_g), make(D.parameters(), config.lr_d)


# ---------------------------------------------------------------- one step of Algorithm 1

def _instance_noise(x, std):
    return x + tinygen.randn(*x.shape, device=x.device) * std if std > 0 else x


def _labels(value, m, flip, device, like):
    """D targets: ``value`` for all m, each flipped to 1 - value with probability ``flip``."""
    if flip <= 0:
        return value
    u = backend.host_rng().random((m, 1))
    t = np.where(u < flip, 1.0 - value, value).astype(like.dtype)
    return tinygen.tensor(t, device=device)


def discriminator_step(config: Config, G, D, opt_d, x, nz: int, step: int) -> dict:
    """One update of D (Algorithm 1, inner loop): descend L_D = -[log D(x) + log(1 - D(G(z)))]
    (or the ``--loss`` objective's critic loss, with the penalty for wgan-gp)."""
    m = x.shape[0]
    z = R.sample_noise(m, nz, x.device)                              # (m, nz)
    with tinygen.no_grad():
        x_fake = G(z)                                                # (m, *shape), a constant for D
    sigma = config.instance_noise * max(0.0, 1.0 - step / max(1, config.steps))
    l_real = D(_instance_noise(x, sigma))                            # (m, 1)
    l_fake = D(_instance_noise(x_fake, sigma))                       # (m, 1)
    d_loss, _ = L.gan_losses(config.loss)
    if config.loss in ("minimax", "nonsaturating"):
        loss = d_loss(l_real, l_fake,
                      real_target=_labels(config.real_label, m, config.label_flip, x.device, l_real),
                      fake_target=_labels(0.0, m, config.label_flip, x.device, l_real))
    else:
        loss = d_loss(l_real, l_fake)
    out = {}
    if config.loss == "wgan-gp":
        gp = L.gradient_penalty(D, x, x_fake, config.gp_lambda)     # lambda (||grad|| - 1)^2
        out["gp"] = gp.detach()
        loss = loss + gp
    out["loss_d"] = R.descend(loss, opt_d)
    if config.clip > 0:
        clip_weights(D, config.clip)
    return out


def generator_step(config: Config, G, D, opt_g, m: int, nz: int, device) -> dict:
    """One update of G (Algorithm 1, outer loop): descend the generator loss of ``config.loss``."""
    z = R.sample_noise(m, nz, device)                                # (m, nz)
    l_fake = D(G(z))                                                 # (m, 1)
    _, g_loss = L.gan_losses(config.loss)
    # D's parameters get gradients too; they are cleared at D's next zero_grad().
    return {"loss_g": R.descend(g_loss(l_fake), opt_g)}


# ---------------------------------------------------------------- the loop

def train(config: Config, frames=None) -> str:
    """``tinygen run gan``: Algorithm 1 for ``config.steps`` generator steps; the run folder.

    ``frames``: optional ``frames(step, G, D, record) -> (H, W, 3) uint8`` drawing the
    picture at each ``sample_every`` (the 2-D demo's GAN-Lab frames); by default 2-D
    points are drawn as a scatter plot and images as a grid.
    """
    if config.loss not in L.GAN_LOSSES:
        raise ValueError(f"--loss must be one of {', '.join(L.GAN_LOSSES)}, got {config.loss!r}")
    run = R.Run(config, "gan")
    data, nz = R.load_generator_data(config)
    G, D = build_models(config, data)
    opt_g, opt_d = build_optimizers(config, G, D)
    monitor = R.GeneratorMonitor(run, data, nz, frames, G=G, D=D, opt_g=opt_g, opt_d=opt_d)
    for step in run.steps(monitor.resume()):
        if config.lr_decay:
            monitor.decay_lrs(step)
        for _ in range(config.n_critic):                             # for k steps
            x = R.real_batch(data.x, config.batch_size, run.data_rng, config.device)
            d_out = discriminator_step(config, G, D, opt_d, x, nz, step)
        g_out = generator_step(config, G, D, opt_g, config.batch_size, nz, config.device)
        monitor.step_done(step, **d_out, **g_out)
    return monitor.finish()


def sample_run(config: Config, checkpoint: str, n: int, seed: int):
    """``tinygen sample``: n samples from the generator of a finished run."""
    return R.sample_generator(config, build_models, checkpoint, n, seed)


__all__ = ["Config", "PRESETS", "build_models", "build_optimizers", "discriminator_step",
           "generator_step", "train", "sample_run"]
