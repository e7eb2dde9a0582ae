"""StarGAN: one generator for image-to-image translation between many domains.

Choi, Choi, Kim, Ha, Kim & Choo, "StarGAN: Unified Generative Adversarial Networks for
Multi-Domain Image-to-Image Translation", CVPR 2018, arXiv:1711.09020. One G(x, c) maps an
image x to any target domain c (the label given as spatially replicated one-hot maps beside
the image's channels); one D with two heads, D_src (real / fake) and D_cls (the domain).
The objectives (eq. 1-7, with the WGAN-GP adversarial loss of eq. 8):

    L_adv   = E_x D_src(x) - E_{x,c} D_src(G(x, c)) - lambda_gp E_x^ (||grad D_src(x^)||_2 - 1)^2
    L_cls^r = E_{x,c'} -log D_cls(c' | x)            (real x of domain c': teaches D_cls)
    L_cls^f = E_{x,c} -log D_cls(c | G(x, c))        (the fake must look like domain c)
    L_rec   = E_{x,c,c'} ||x - G(G(x, c), c')||_1    (cycle back to the original domain c',
                                                     CycleGAN's cycle loss: cyclegan.cycle_loss)
    L_D = -L_adv + lambda_cls L_cls^r                              discriminator_step
    L_G =  L_adv + lambda_cls L_cls^f + lambda_rec L_rec           generator_step

lambda_cls = 1, lambda_rec = 10, lambda_gp = 10 (Sec. 4); Adam lr 1e-4, beta = (0.5, 0.999);
batch 16; G is updated once per n_critic = 5 updates of D; 200,000 iterations with the
learning rates decayed linearly to zero over the second half (Sec. 4, "Training"). One
iteration of :func:`train` (``steps`` counts D updates, as the authors' code does):

    x, c' ~ data;  c ~ U{0..K-1} (the target domains)
    descend -D_src(x) + D_src(G(x, c)) + lambda_gp GP + lambda_cls CE(D_cls(x), c')
    every n_critic-th iteration:
        descend -D_src(G(x, c)) + lambda_cls CE(D_cls(G(x, c)), c) + lambda_rec |x - G(G(x, c), c')|
    both schedulers step

The domain labels here are one class per image (RaFD's setting, softmax cross-entropy);
CelebA's multi-attribute labels with a binary cross-entropy are not implemented. Nets:
tinygen.models.stargan_nets. The default preset ``small`` is a CPU budget on 32 x 32
images (the departures are flagged in PRESET_DOCS and the Config comments).

Notation / Shapes:
    x (m, C, H, W) in [-1, 1]; c, c' (m,) int64 in 0..K-1; D_src (m, 1, h, w); D_cls (m, K)
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import tinygen
from tinygen import backend, optim
from tinygen import functional as F
from tinygen import losses as L
from tinygen.data.arrays import to_float_images, to_uint8_images
from tinygen.data.unpaired import load_domains
from tinygen.methods import run as R
from tinygen.methods.cyclegan import cycle_loss
from tinygen.models.stargan_nets import StarGANDiscriminator, StarGANGenerator

np = backend.numpy   # host arrays: the data, labels, predictions


@dataclasses.dataclass
class Config(R.RunConfig):
    """tinygen run stargan: StarGAN (Choi et al. 2018, arXiv:1711.09020)."""
    dataset: str = "digit-styles"      # domain-labelled images: digit-styles (3 colours x 2
                                       # stroke widths of synthetic digits, offline),
                                       # shape-colours, npz:PATH (x, y) or folder:PATH
    test_dataset: Optional[str] = None  # translated to every domain into predictions.npz
                                       # (default: the built-in's test split)
    n_train: int = 0                   # training images to load (0 = all)
    steps: int = 200000                # iterations = D updates (the paper: 200,000)
    batch_size: int = 16               # m (the paper: 16)
    n_critic: int = 5                  # D updates per G update (the paper: 5)
    lambda_cls: float = 1.0            # domain classification weight (the paper: 1)
    lambda_rec: float = 10.0           # reconstruction weight (the paper: 10; the small
                                       # preset: 20, a departure that keeps more digits)
    lambda_gp: float = 10.0            # gradient penalty weight (the paper: 10)
    lr_g: float = 1e-4                 # G's Adam learning rate (the paper: 1e-4)
    lr_d: float = 1e-4                 # D's Adam learning rate (the paper: 1e-4)
    beta1: float = 0.5                 # Adam beta1 (the paper: 0.5)
    beta2: float = 0.999               # Adam beta2 (the paper: 0.999)
    decay_from: float = 0.5            # lrs constant for this fraction of the steps, then
                                       # linearly decayed to 0 (the paper: 100k + 100k)
    ngf: int = 64                      # G's first conv channels (the paper: 64)
    ndf: int = 64                      # D's first conv channels (the paper: 64)
    n_blocks: int = 6                  # G's residual blocks (the paper: 6)
    n_layers_d: int = 0                # D's stride-2 convs (0 = the paper's 6 at 128 px: the
                                       # most that leave at least 2 x 2 at this image size)
    log_every: int = 100               # steps between metrics.jsonl lines
    sample_every: int = 500            # steps between grids (one column per target domain)
    checkpoint_every: int = 500        # steps between checkpoint.npz writes


PRESETS = {
    "paper": {},
    # A CPU budget of about 20 minutes on 32 x 32 images (docs/stargan.md measures it).
    # Departures from the paper: smaller nets and batch, n_critic 2, lr 3e-4, 3,500
    # iterations, and lambda_rec 20 (the paper: 10; at 1,000 iterations it kept the digit in
    # 15.6 % of translations instead of 9.7 % and the width in 99.6 % instead of 82.6 %).
    "small": dict(steps=3500, batch_size=8, ngf=16, ndf=32, n_blocks=3, n_critic=2,
                  lr_g=3e-4, lr_d=3e-4, lambda_rec=20.0),
}
PRESET_DOCS = {
    "paper": "Sec. 4: batch 16, Adam 1e-4 (0.5, 0.999), ngf = ndf = 64, 6 blocks, n_critic 5, "
             "200k iterations",
    "small": "a ~20-minute CPU budget on 32x32 images (departs from the paper): 3,500 "
             "iterations of batch 8, ngf 16, ndf 32, 3 residual blocks, n_critic 2, lr 3e-4, "
             "lambda_rec 20",
}


def default_preset(dataset: str) -> str:
    """``--preset auto``: the small CPU budget on every dataset (``--preset paper`` keeps the
    paper's sizes)."""
    return "small"


# ---------------------------------------------------------------------------- the models

def critic_layers(config: Config, size: int) -> int:
    """D's stride-2 layers: ``n_layers_d``, or the paper's 6 capped so that at least 2 x 2
    patches are left (32 px: 4)."""
    if config.n_layers_d:
        return config.n_layers_d
    n = 0
    while n < 6 and size % 2 ** (n + 1) == 0 and size // 2 ** (n + 1) >= 2:
        n += 1
    return max(1, n)


def build_models(config: Config, channels: int, num_domains: int, size: int):
    """(G(x, c), D(x) -> (D_src, D_cls)) for images (channels, size, size) and K domains."""
    if size % 4:
        raise ValueError(f"stargan: the image side must be a multiple of 4 (two stride-2 "
                         f"stages), got {size}; resize the images")
    G = StarGANGenerator(channels, num_domains, config.ngf, config.n_blocks)
    D = StarGANDiscriminator(channels, num_domains, size, config.ndf,
                             critic_layers(config, size))
    return G.to(config.device), D.to(config.device)


def build_optimizers(config: Config, G, D):
    """Adam for G and D, each with the constant-then-linear LambdaLR schedule (in D updates;
    G's scheduler steps with every iteration too, as the authors' code decays both)."""
    betas = (config.beta1, config.beta2)
    opt_g = optim.Adam(G.parameters(), lr=config.lr_g, betas=betas)
    opt_d = optim.Adam(D.parameters(), lr=config.lr_d, betas=betas)
    return (opt_g, opt_d,
            *R.constant_then_linear_schedulers(config.decay_from, config.steps, opt_g, opt_d))


# ---------------------------------------------------------------------------- the losses

def domain_classification_loss(logits, c):
    """E -log D_cls(c | x) (eq. 2 and 3): the softmax cross-entropy of D_cls's K logits."""
    return F.cross_entropy(logits, c)


# ---------------------------------------------------------------------------- one step

def discriminator_step(config: Config, G, D, opt_d, x, c_org, c_trg) -> dict:
    """Descend L_D = -D_src(x) + D_src(G(x, c)) + lambda_gp GP + lambda_cls L_cls^r."""
    with tinygen.no_grad():
        x_fake = G(x, c_trg)                                         # (m, C, H, W) constant
    src_real, cls_real = D(x)                                        # (m, 1, h, w), (m, K)
    src_fake, _ = D(x_fake)
    loss_adv = L.d_loss_wasserstein(src_real, src_fake)              # E D(fake) - E D(real)
    loss_gp = L.gradient_penalty(D.critic, x, x_fake, lambda_=config.lambda_gp)
    loss_cls = domain_classification_loss(cls_real, c_org)
    R.descend(loss_adv + loss_gp + config.lambda_cls * loss_cls, opt_d)
    return {"loss_d": loss_adv.detach(), "loss_gp": loss_gp.detach(),
            "loss_cls_real": loss_cls.detach()}


def generator_step(config: Config, G, D, opt_g, x, c_org, c_trg) -> dict:
    """Descend L_G = -D_src(G(x, c)) + lambda_cls L_cls^f + lambda_rec ||x - G(G(x, c), c')||_1
    (D's parameters held fixed)."""
    with R.frozen(D):
        x_fake = G(x, c_trg)                                         # (m, C, H, W)
        src_fake, cls_fake = D(x_fake)
        loss_adv = L.g_loss_wasserstein(src_fake)                    # -E D_src(G(x, c))
        loss_cls = domain_classification_loss(cls_fake, c_trg)
        loss_rec = cycle_loss(G(x_fake, c_org), x)                   # back to domain c'
        R.descend(loss_adv + config.lambda_cls * loss_cls + config.lambda_rec * loss_rec, opt_g)
    return {"loss_g": loss_adv.detach(), "loss_cls_fake": loss_cls.detach(),
            "loss_rec": loss_rec.detach()}


# ---------------------------------------------------------------------------- looking

def translate_all(G, x, num_domains: int, device, batch: int = 100):
    """Every image to every domain: host x (N, C, H, W) in [-1, 1] -> (N, K, C, H, W)."""
    out = []
    with tinygen.no_grad():
        for start in range(0, len(x), batch):
            xb = tinygen.tensor(x[start:start + batch], device=device)       # (n, C, H, W)
            n = xb.shape[0]
            per_domain = []
            for k in range(num_domains):
                c = tinygen.tensor(np.full(n, k, np.int64), device=device)
                per_domain.append(backend.to_host(G(xb, c).data))             # (n, C, H, W)
            out.append(np.stack(per_domain, 1))                               # (n, K, C, H, W)
    return np.concatenate(out, 0)


def domain_grid(G, x, num_domains: int, device):
    """A grid with one row per image: the input, then its translation to domain 0..K-1."""
    t = translate_all(G, x, num_domains, device)                     # (n, K, C, H, W)
    rows = np.concatenate([x[:, None], t], 1)                        # (n, K + 1, C, H, W)
    return rows.reshape((-1,) + x.shape[1:])


def domain_accuracy(D, x, c, device) -> float:
    """How often D_cls names the domain of images x (host, (N, C, H, W)) as c."""
    with tinygen.no_grad():
        _, logits = D(tinygen.tensor(x, device=device))
    return float(np.mean(backend.to_host(logits.data).argmax(1) == c))


def translated_domain_accuracy(G, D, x, num_domains: int, device, rng) -> float:
    """D_cls's accuracy on G(x, c) for random target domains c: does G reach the domain?"""
    c = rng.integers(0, num_domains, len(x))
    with tinygen.no_grad():
        fake = G(tinygen.tensor(x, device=device), tinygen.tensor(c, device=device))
        _, logits = D(fake)
    return float(np.mean(backend.to_host(logits.data).argmax(1) == c))


# ---------------------------------------------------------------------------- data

def load_data(config: Config):
    """(train DomainSet, test DomainSet or None)."""
    train = load_domains(config.dataset, "train", config.seed, config.n_train)
    test = None
    if config.test_dataset:
        test = load_domains(config.test_dataset, "test", config.seed)
    elif not config.dataset.startswith(("npz:", "folder:")):
        test = load_domains(config.dataset, "test", config.seed)
    if test is not None and test.x.shape[1:] != train.x.shape[1:]:
        raise ValueError(f"--test-dataset {config.test_dataset}: its images are "
                         f"{test.x.shape[1:]} but the training ones {train.x.shape[1:]}")
    missing = sorted(set(range(train.num_domains)) - set(np.unique(train.y).tolist()))
    if missing:
        raise ValueError(f"{config.dataset}: domain {missing[0]} has no training image (labels "
                         f"must be 0..K-1 with every domain present)")
    return train, test


def save_predictions(run, G, test, num_domains: int, device) -> str:
    """predictions.npz: ``x`` (N, K, H, W[, C]) uint8, test image i translated to domain k."""
    x = to_float_images(test.x, (-1.0, 1.0))
    t = translate_all(G, x, num_domains, device)                     # (N, K, C, H, W)
    n, k = t.shape[:2]
    u8 = to_uint8_images(t.reshape((n * k,) + t.shape[2:]), (-1.0, 1.0))
    path = run.path("predictions.npz")
    R.save_npz(path, x=u8.reshape((n, k) + u8.shape[1:]))
    return path


# ---------------------------------------------------------------------------- the run

def train(config: Config) -> str:
    """``tinygen run stargan``: the loop of the module docstring; returns the run folder."""
    run = R.Run(config, "stargan")
    data, test = load_data(config)
    x_all = to_float_images(data.x, (-1.0, 1.0))                     # (N, C, H, W)
    K, size = data.num_domains, x_all.shape[-1]
    G, D = build_models(config, x_all.shape[1], K, size)
    opt_g, opt_d, sched_g, sched_d = build_optimizers(config, G, D)
    state = dict(G=G, D=D, opt_g=opt_g, opt_d=opt_d, sched_g=sched_g, sched_d=sched_d)
    shown = test if test is not None else data
    show = to_float_images(shown.x[:8], (-1.0, 1.0))                 # the grids' fixed images
    probe = to_float_images(shown.x[:200], (-1.0, 1.0))
    probe_c = shown.y[:200]
    for step in run.steps(run.resume(**state)):
        idx = run.data_rng.integers(0, len(x_all), config.batch_size)
        x = tinygen.tensor(x_all[idx], device=config.device)         # (m, C, H, W)
        c_org = tinygen.tensor(data.y[idx], device=config.device)    # (m,)
        c_trg = tinygen.tensor(run.data_rng.integers(0, K, config.batch_size),
                               device=config.device)                 # (m,) target domains
        d_out = discriminator_step(config, G, D, opt_d, x, c_org, c_trg)
        g_out = {}
        if step % config.n_critic == 0:                              # G: every n_critic-th
            g_out = generator_step(config, G, D, opt_g, x, c_org, c_trg)
        lr_now = opt_d.param_groups[0]["lr"]
        sched_g.step()
        sched_d.step()
        run.record(step, **d_out, **g_out, lr=lr_now)
        if run.due(step, config.log_every):
            metrics = {"test_d_cls_real": domain_accuracy(D, probe, probe_c, config.device),
                       "test_d_cls_fake": translated_domain_accuracy(
                           G, D, probe, K, config.device, run.eval_rng)}
            run.log(step, **metrics)
        if run.due(step, config.sample_every):
            run.save_grid(domain_grid(G, show, K, config.device), f"domains_{step:06d}.png",
                          nrow=K + 1)
        run.checkpoint(step, **state)
    run.finish(**state)
    names = ", ".join(data.names) if data.names else f"0..{K - 1}"
    show16 = to_float_images(shown.x[:16], (-1.0, 1.0))
    run.save_grid(domain_grid(G, show16, K, config.device), "translations.png", nrow=K + 1,
                  keep_frame=False, title=f"stargan on {config.dataset}: input, then domains "
                                          f"{names}")
    if test is not None:
        save_predictions(run, G, test, K, config.device)
    run.write_report()
    return run.dir


__all__ = ["Config", "PRESETS", "build_models", "build_optimizers", "critic_layers",
           "domain_classification_loss", "discriminator_step", "generator_step",
           "translate_all", "domain_grid", "load_data", "save_predictions", "train"]
