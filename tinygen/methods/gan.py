"""The original GAN: Goodfellow et al., "Generative Adversarial Nets", arXiv:1406.2661.

Algorithm 1 (minibatch stochastic gradient descent training of GANs), as code:

    for number of training iterations:                                  train()
        for k steps:                                                    config.k
            sample m noise samples {z_1..z_m} from p_g(z)               sample_noise()
            sample m examples {x_1..x_m} from p_data(x)                 real_batch()
            update D by ascending
                grad_theta_d 1/m sum [log D(x_i) + log(1 - D(G(z_i)))]  discriminator_step()
        sample m noise samples {z_1..z_m} from p_g(z)
        update G by descending
                grad_theta_g 1/m sum log(1 - D(G(z_i)))                 generator_step()

"The gradient-based updates can use any standard gradient-based learning rule. We used
momentum in our experiments." -> SGD with momentum (``--optimizer adam`` as option).

Departures / options (all explicit, all off by default unless the paper says otherwise):
    --loss nonsaturating (default): the generator maximises log D(G(z)) instead, as the
        paper recommends in Sec. 3 and used in practice; ``--loss minimax`` is the box above.
        lsgan / hinge / wgan / wgan-gp swap in other objectives (tinygen/losses.py).
    GAN "hacks" (Salimans et al. 2016, arXiv:1606.03498; Soumith Chintala's ganhacks):
        --real-label 0.9      one-sided label smoothing (real targets 0.9, fakes stay 0)
        --label-flip p        noisy labels: each D target flipped with probability p
        --instance-noise s    N(0, s_t^2) added to every D input, s_t annealed s -> 0
                              (Sonderby et al. 2016, arXiv:1610.04490, Sec. 5)
        --d-activation leaky_relu, --k > 1 (more D steps)

Notation:
    m batch size, z (m, latent_dim) noise, x (m, *data_shape) data,
    D returns logits l (m, 1), D(x) = sigmoid(l(x)).

The training loop here (``fit``) is shared by ``dcgan``, ``wgan`` and ``wgan_gp``: each of
those modules supplies its own ``Config`` defaults and its own ``discriminator_step`` /
``generator_step``, so every file still reads like its paper's algorithm box.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Optional

import tinygen
from tinygen import backend, optim
from tinygen import losses as L
from tinygen.methods.common import Run, RunConfig, seed_everything

np = backend.numpy   # host arrays for data indices, samples and metrics


@dataclasses.dataclass
class ModelConfig(RunConfig):
    """Architecture and evaluation options shared by gan, dcgan, wgan and wgan-gp."""
    arch: str = "auto"             # mlp | dcgan | auto (mlp for 2-D points, dcgan for images)
    latent_dim: int = 0            # dim of z; 0 = auto (2 for 2-D points, 100 for images)
    hidden: int = 128              # MLP width
    n_hidden: int = 3              # MLP hidden layers
    g_activation: str = "relu"     # MLP generator hidden activation
    d_activation: str = "leaky_relu"  # MLP D activation (paper: maxout; LeakyReLU(0.2) is a hack)
    layer_norm: bool = False       # LayerNorm in the MLP discriminator (WGAN-GP critic option)
    ngf: int = 64                  # DCGAN generator width (channels of the last hidden layer)
    ndf: int = 64                  # DCGAN discriminator width (channels of the first layer)
    lr_decay: bool = False         # decay the lrs linearly to 0 over the run (not in the papers;
                                   # the 2-D demo uses it to sharpen the modes at the end)
    n_eval: int = 2500             # samples for the mode metrics (VEEGAN uses 2,500)
    n_samples: int = 2500          # final samples in samples.npz (images: at least 512)
    n_train: int = 0               # training examples to load (0 = the dataset's default)
    domain_eval: int = 0           # images: steps between domain FID/IS + precision/recall of n_eval
                                   # samples (a multiple of log_every; 0 = off; tinygen.metrics.domain)


@dataclasses.dataclass
class Config(ModelConfig):
    """Original GAN (Goodfellow et al. 2014, arXiv:1406.2661, Algorithm 1)."""
    loss: str = "nonsaturating"    # minimax | nonsaturating (Sec. 3) | wgan | wgan-gp | lsgan | hinge
    k: int = 1                     # discriminator steps per generator step (Alg. 1: "k = 1")
    batch_size: int = 100          # m (the paper's code, pylearn2 adversarial/mnist.yaml)
    optimizer: str = "sgd"         # sgd (with momentum, as the paper) | adam | rmsprop
    lr_d: float = 0.1              # discriminator learning rate (paper's code: 0.1)
    lr_g: float = 0.1              # generator learning rate
    momentum: float = 0.5          # SGD momentum (paper's code: 0.5, rising to 0.7)
    beta1: float = 0.5             # Adam beta1 (Radford et al. 2015 value, for --optimizer adam)
    beta2: float = 0.999           # Adam beta2
    real_label: float = 1.0        # target for reals; 0.9 = one-sided label smoothing
    label_flip: float = 0.0        # probability of flipping each D target (noisy labels)
    instance_noise: float = 0.0    # initial std of instance noise, annealed linearly to 0
    clip: float = 0.0              # weight clipping c after each D step (as WGAN); 0 = off
    gp_lambda: float = 10.0        # gradient penalty weight (used by --loss wgan-gp)


# ---------------------------------------------------------------- data

@dataclasses.dataclass
class Data:
    """Training data on the host: x (N, *shape) float32, plus mode centres/std for 2-D toys."""
    x: object
    centres: Optional[object] = None
    std: Optional[float] = None

    @property
    def is_points(self) -> bool:
        return self.x.ndim == 2

    @property
    def shape(self) -> tuple:
        return tuple(self.x.shape[1:])


def load_data(config) -> Data:
    """``config.dataset`` -> :class:`Data` via ``tinygen.data.load_dataset``.

    Images are scaled to [-1, 1] (the range of the generator's tanh output).
    """
    from tinygen.data import load_dataset
    ds = load_dataset(config.dataset, split="train", data_dir=config.data_dir, seed=config.seed,
                      n=getattr(config, "n_train", 0) or None)
    x = getattr(ds, "x", None)
    if x is None:
        x = getattr(ds, "images", None)
    if x is None:
        x = ds[0] if isinstance(ds, tuple) else ds
    x = np.asarray(backend.to_host(getattr(x, "data", x)))
    if x.ndim == 2:
        x = x.astype(np.float32)
    else:
        if x.ndim == 3:                          # (N, H, W) -> (N, 1, H, W)
            x = x[:, None]
        if x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
            x = x.transpose(0, 3, 1, 2)          # NHWC -> NCHW
        if x.dtype == np.uint8:
            x = x.astype(np.float32) / 127.5 - 1.0
        else:
            x = x.astype(np.float32)
            lo, hi = float(x.min()), float(x.max())
            if lo >= 0.0 and hi <= 1.0:          # [0, 1] -> [-1, 1]
                x = x * 2.0 - 1.0
    # Mode metrics only where the data has discrete modes (ring8, grid25): one class per
    # centre. (moons / swissroll list points along a curve as "centres": not modes.)
    meta = getattr(ds, "meta", {}) or {}
    centres, std = meta.get("centres"), meta.get("std")
    if centres is None or len(meta.get("classes", ())) != len(centres):
        centres = std = None
    return Data(x=x, centres=None if centres is None else np.asarray(centres), std=std)


def real_batch(data: Data, m: int, rng, device) -> tinygen.Tensor:
    """Sample m examples {x_1..x_m} from p_data (uniformly, with replacement)."""
    idx = rng.integers(0, len(data.x), m)
    return tinygen.tensor(data.x[idx], device=device)                # (m, *shape)


def sample_noise(m: int, latent_dim: int, device, generator=None) -> tinygen.Tensor:
    """Sample m noise samples {z_1..z_m} from the prior p_z = N(0, I)."""
    return tinygen.randn(m, latent_dim, device=device, generator=generator)   # (m, latent_dim)


# ---------------------------------------------------------------- models

def resolve_arch(config, data: Data) -> str:
    if config.arch != "auto":
        return config.arch
    return "mlp" if data.is_points else "dcgan"


def latent_size(config, data: Data) -> int:
    if config.latent_dim:
        return config.latent_dim
    return 2 if data.is_points else 100


def build_models(config, data: Data):
    """G: z -> x and D: x -> logit, as MLPs (2-D points, or flattened images) or DCGAN convnets."""
    from tinygen import nn
    from tinygen.models.mlp import MLPDiscriminator, MLPGenerator
    arch, nz = resolve_arch(config, data), latent_size(config, data)
    if arch == "dcgan":
        from tinygen.models.dcgan import DCGANDiscriminator, DCGANGenerator
        channels, size = data.shape[0], data.shape[-1]
        G = DCGANGenerator(nz, channels, size, config.ngf)
        D = DCGANDiscriminator(channels, size, config.ndf,
                               norm=getattr(config, "d_norm", "batch"))
    elif arch == "mlp":
        dim = int(np.prod(data.shape))
        G = MLPGenerator(nz, dim, config.hidden, config.n_hidden, config.g_activation)
        D = MLPDiscriminator(dim, config.hidden, config.n_hidden, config.d_activation,
                             config.layer_norm)
        if not data.is_points:
            # images: flatten for D, tanh + reshape for G
            G = nn.Sequential(G, nn.Tanh(), nn.Unflatten(1, data.shape))
            D = nn.Sequential(nn.Flatten(), D)
    else:
        raise ValueError(f"arch must be 'mlp', 'dcgan' or 'auto', got {config.arch!r}")
    return G.to(config.device), D.to(config.device)


def build_optimizers(config, G, D):
    """The optimiser named by ``config.optimizer`` for each player."""
    def make(params, lr):
        if config.optimizer == "sgd":
            return optim.SGD(params, lr=lr, momentum=config.momentum)
        if config.optimizer == "adam":
            return optim.Adam(params, lr=lr, betas=(config.beta1, config.beta2))
        if config.optimizer == "rmsprop":
            return optim.RMSprop(params, lr=lr)
        raise ValueError(f"optimizer must be 'sgd', 'adam' or 'rmsprop', got {config.optimizer!r}")
    return make(G.parameters(), config.lr_g), make(D.parameters(), config.lr_d)


def adam_optimizers(config, G, D):
    """Adam(config.lr, betas=(config.beta1, config.beta2)) for both players, one learning rate
    (DCGAN: 2e-4, (0.5, 0.999); WGAN-GP Algorithm 1: 1e-4, (0, 0.9))."""
    betas = (config.beta1, config.beta2)
    return (optim.Adam(G.parameters(), lr=config.lr, betas=betas),
            optim.Adam(D.parameters(), lr=config.lr, betas=betas))


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


def discriminator_step(config, G, D, opt_d, x, nz, step) -> dict:
    """One update of D (Algorithm 1, inner loop): descend L_D = -[log D(x) + log(1 - D(G(z)))]."""
    m = x.shape[0]
    z = sample_noise(m, nz, x.device)                                # (m, nz)
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
    out = {"loss_d": float(loss.item())}
    if config.loss == "wgan-gp":
        gp = L.gradient_penalty(D, x, x_fake, config.gp_lambda)
        out["gp"] = float(gp.item())
        loss = loss + gp
    descend(loss, opt_d)
    if config.clip > 0:
        clip_weights(D, config.clip)
    return out


def descend(loss, optimizer) -> float:
    """One gradient step on ``loss``: clear old gradients, backpropagate, update; return the value."""
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return float(loss.item())


def clip_weights(D, c: float) -> None:
    """w <- clip(w, -c, c) for every parameter of the critic ([WGAN] Algorithm 1, line 7)."""
    xp = backend.get_array_module
    for p in D.parameters():
        xp(p.data).clip(p.data, -c, c, out=p.data)


def generator_step(config, G, D, opt_g, m, nz, device) -> dict:
    """One update of G (Algorithm 1, outer loop): descend the generator loss of ``config.loss``."""
    z = sample_noise(m, nz, device)                                  # (m, nz)
    l_fake = D(G(z))                                                 # (m, 1)
    _, g_loss = L.gan_losses(config.loss)
    # D's parameters get gradients too; they are cleared at D's next zero_grad().
    return {"loss_g": descend(g_loss(l_fake), opt_g)}


def set_lr_fraction(optimizers, base_lrs, fraction: float) -> None:
    """lr <- fraction * initial lr, for every parameter group (linear decay)."""
    for opt, lrs in zip(optimizers, base_lrs):
        for group, lr in zip(opt.param_groups, lrs):
            group["lr"] = lr * fraction


def sample(G, n: int, nz: int, device, batch: int = 500, generator=None):
    """x = G(z), z ~ N(0, I): n samples as a host array (N, *shape).

    ``generator``: a numpy Generator for z; evaluation uses its own, so that logging or
    drawing pictures never changes the training run's random stream (exact resume).
    G stays in training mode, as in the DCGAN authors' code: batch norm normalises with the
    batch's own statistics (the running averages lag far behind early in training).
    """
    out = []
    with tinygen.no_grad():
        for start in range(0, n, batch):
            z = sample_noise(min(batch, n - start), nz, device, generator)
            out.append(backend.to_host(G(z).data))
    return np.concatenate(out, 0)


# ---------------------------------------------------------------- the loop

def evaluate(samples, data: Data) -> dict:
    """Mode-collapse metrics for 2-D toys: modes covered and fraction of high-quality samples."""
    if data.centres is None or data.std is None:
        return {}
    from tinygen.metrics.modes import mode_coverage
    cov = mode_coverage(samples, data.centres, data.std)
    return {"modes": cov["modes"], "hq": round(float(cov["hq"]), 4)}


def fit(config, method: str, discriminator_step=discriminator_step, generator_step=generator_step,
        build_models=build_models, build_optimizers=build_optimizers, on_frame=None,
        data: Optional[Data] = None, write_gif: bool = True):
    """Run Algorithm 1 for ``config.steps`` generator steps under the run contract.

    Returns (run, G, D, data, history).
    ``on_frame(step, G, D, data, nz, last_logged_record)`` (optional) renders a frame (H, W, 3) at each
    ``sample_every``; by default 2-D points are drawn as a scatter plot and images as a grid.
    """
    rng = seed_everything(config.seed)
    run = Run(config, method)
    data = data if data is not None else load_data(config)
    nz = latent_size(config, data)
    G, D = build_models(config, data)
    opt_g, opt_d = build_optimizers(config, G, D)
    # Pictures and metrics draw from their own generator: the training stream stays exact.
    eval_rng = np.random.default_rng(config.seed + 2)
    z_fixed = sample_noise(64, nz, config.device, eval_rng)   # the same z for every sample grid
    start = run.resume(extra_rngs={"data": rng}, G=G, D=D, opt_g=opt_g, opt_d=opt_d)
    history, window = [], []
    t0 = time.time()
    n_critic = getattr(config, "n_critic", None) or getattr(config, "k", 1)   # D steps per G step
    base_lrs = [[g["lr"] for g in o.param_groups] for o in (opt_g, opt_d)]
    for step in range(start + 1, config.steps + 1):
        if config.lr_decay:
            set_lr_fraction((opt_g, opt_d), base_lrs, 1.0 - (step - 1) / config.steps)
        for _ in range(n_critic):
            x = real_batch(data, config.batch_size, rng, config.device)
            d_out = discriminator_step(config, G, D, opt_d, x, nz, step)
        g_out = generator_step(config, G, D, opt_g, config.batch_size, nz, config.device)
        window.append({**d_out, **g_out})
        if step % config.log_every == 0 or step == config.steps:
            record = {k: float(np.mean([w[k] for w in window])) for k in window[-1]}
            window = []
            if data.is_points:
                record.update(evaluate(sample(G, config.n_eval, nz, config.device,
                                                generator=eval_rng), data))
            elif config.domain_eval and (step % config.domain_eval == 0 or step == config.steps):
                from tinygen.metrics.domain import evaluate_samples
                record.update(evaluate_samples(sample(G, config.n_eval, nz, config.device,
                                                      generator=eval_rng), config.dataset,
                                               value_range=(-1.0, 1.0), device=config.device))
            record["sec_per_step"] = round((time.time() - t0) / max(1, step - start), 5)
            history.append(run.log(step, **record))
        if step % config.sample_every == 0 or step == config.steps:
            if on_frame is not None:
                run.save_frame(on_frame(step, G, D, data, nz, history[-1] if history else None),
                               name=f"samples_{step:06d}.png")
            elif data.is_points:
                from tinygen.io.plot import scatter_frame
                pts = sample(G, 1000, nz, config.device, generator=eval_rng)
                run.save_frame(scatter_frame(data.x[:1000], pts, f"{method} step {step}"),
                               name=f"samples_{step:06d}.png")
            else:
                with tinygen.no_grad():
                    images = G(z_fixed)                          # batch statistics, see sample()
                run.save_grid(images, f"samples_{step:06d}.png")
    run.save_checkpoint(config.steps, extra_rngs={"data": rng}, G=G, D=D, opt_g=opt_g, opt_d=opt_d)
    final = sample(G, config.n_samples if data.is_points else max(512, config.n_samples // 5),
                   nz, config.device, generator=eval_rng)
    if data.is_points:
        run.save_samples(final)
    else:
        images = ((np.clip(final, -1, 1) + 1) * 127.5).round().astype(np.uint8)   # (N, C, H, W)
        images = images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1)
        run.save_samples(images)
    if write_gif:
        run.save_gif()
    run.close()
    return run, G, D, data, history


def train(config: Config) -> str:
    """``tinygen run gan``: train and return the run folder."""
    if config.loss not in L.GAN_LOSSES:
        raise ValueError(f"--loss must be one of {', '.join(L.GAN_LOSSES)}, got {config.loss!r}")
    run, *_ = fit(config, "gan")
    return run.dir


__all__ = ["Config", "ModelConfig", "build_models", "build_optimizers", "adam_optimizers",
           "discriminator_step", "generator_step", "sample", "train", "fit", "load_data", "Data",
           "evaluate", "clip_weights"]
