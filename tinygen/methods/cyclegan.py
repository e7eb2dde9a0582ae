"""CycleGAN: unpaired image-to-image translation with cycle-consistent adversarial networks.

Zhu, Park, Isola & Efros, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks", ICCV 2017, arXiv:1703.10593. Two mappings G: A -> B and F: B -> A
(``G_AB``, ``G_BA`` here) and two discriminators D_B (real B vs G(a)) and D_A (real A vs
F(b)), trained on unpaired sets {a_i} and {b_j}. The full objective (eq. 3, 6):

    L(G, F, D_A, D_B) = L_GAN(G, D_B, A, B) + L_GAN(F, D_A, B, A) + lambda L_cyc(G, F)
                        [+ lambda_id lambda L_identity(G, F)]                 (Sec. 5.2)
    L_cyc      = E_a ||F(G(a)) - a||_1 + E_b ||G(F(b)) - b||_1                (eq. 2)
    L_identity = E_b ||G(b) - b||_1 + E_a ||F(a) - a||_1                     (Sec. 5.2)

with the least-squares GAN loss (Sec. 4, "Training details", after Mao et al. 2017):

    G minimises  E_a (D_B(G(a)) - 1)^2                                    adversarial_loss_g
    D_B minimises  1/2 [E_b (D_B(b) - 1)^2 + E_a D_B(G(a))^2]   ("we divide the objective by
                   2 while optimizing D", = losses.d_loss_least_squares)

and the training details of Sec. 4 / 7.1: D sees a history of 50 generated images
(Shrivastava et al. 2017) rather than only the latest (:class:`ImagePool`); Adam, lr 2e-4,
beta1 0.5, batch 1; lr constant for the first half of training, then linearly decayed to
zero (:func:`tinygen.optim.lr_scheduler.constant_then_linear` under ``LambdaLR``); lambda = 10.
One step of :func:`train`, as in the authors' code:

    a ~ A, b ~ B                                        (m each, independently: unpaired)
    fake_b = G(a), rec_a = F(fake_b); fake_a = F(b), rec_b = G(fake_a)      generator_step
    descend L_GAN(G) + L_GAN(F) + lambda L_cyc [+ identity] over G and F (D's held fixed)
    descend L_D(D_B; b, pool_B(fake_b)) and L_D(D_A; a, pool_A(fake_a))     discriminator_step
    both schedulers step

Networks (tinygen.models.translation): the ResNet generator of Johnson et al. 2016
(c7s1-64, d128, d256, 6 or 9 residual blocks, u128, u64, c7s1-3; reflection padding,
instance norm) and the 70 x 70 PatchGAN (C64-C128-C256-C512). Departures of the default
preset ``small`` (a CPU budget on 32 x 32 images; ``--preset paper`` keeps the paper's) are
flagged in the Config comments and PRESET_DOCS. Not done here, as in the paper: the random
286 -> 256 crops and flips (they would flip digits); pairs are drawn at random with
replacement each step instead of by epochs (the same distribution).

Notation / Shapes:
    a (m, C_A, H, W), b (m, C_B, H, W) float32 in [-1, 1]; D outputs (m, 1, h, w) patch scores
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import tinygen
from tinygen import backend, optim
from tinygen import losses as L
from tinygen.data.arrays import to_float_images, to_uint8_images
from tinygen.data.unpaired import has_test_split, load_unpaired
from tinygen.methods import run as R

np = backend.numpy   # host arrays: the data, the pool's RNG, predictions


@dataclasses.dataclass
class Config(R.RunConfig):
    """tinygen run cyclegan: CycleGAN (Zhu et al. 2017, arXiv:1703.10593)."""
    dataset: str = "strokes"           # unpaired domains: strokes (thin -> thick synthetic
                                       # digits, offline), npz:PATH (arrays a, b) or folder:PATH
                                       # (trainA/, trainB/)
    test_dataset: Optional[str] = None  # translated at the end into predictions.npz (same
                                       # layout; default: the built-in's test split or testA/B)
    n_train: int = 0                   # images per domain to load (0 = all)
    steps: int = 200000                # updates (the paper: 200 epochs at batch 1, ~1,000 images)
    batch_size: int = 1                # m (the paper: 1)
    lr: float = 2e-4                   # Adam's learning rate (the paper: 0.0002)
    beta1: float = 0.5                 # Adam beta1 (the paper: 0.5)
    beta2: float = 0.999               # Adam beta2
    decay_from: float = 0.5            # lr constant for this fraction of the steps, then linear
                                       # decay to 0 (the paper: 100 + 100 epochs)
    lambda_cyc: float = 10.0           # lambda, weight of L_cyc (the paper: 10)
    lambda_identity: float = 0.0       # identity loss weight, times lambda (the paper: 0.5 for
                                       # painting -> photo only, Sec. 5.2; 0 = off)
    pool_size: int = 50                # generated images D sees from the history (the paper: 50;
                                       # 0 = only the latest)
    ngf: int = 64                      # generator channels after the first conv (the paper: 64)
    ndf: int = 64                      # discriminator channels of the first conv (the paper: 64)
    n_blocks: int = 0                  # residual blocks of G (0 = by the image side: the
                                       # paper's 9 at 256 px, 6 at 128; 4 below, tinygen's)
    n_layers_d: int = 3                # PatchGAN stride-2 layers (the paper: 3, a 70 x 70 patch)
    log_every: int = 100               # steps between metrics.jsonl lines
    sample_every: int = 500            # steps between grids (a | G(a) | F(G(a)), and b's)
    checkpoint_every: int = 500        # steps between checkpoint.npz writes


PRESETS = {
    "paper": {},
    # A CPU budget of minutes on 32 x 32 digits (docs/cyclegan.md measures it).
    "small": dict(steps=600, batch_size=4, ngf=16, ndf=16, n_blocks=3, n_layers_d=2,
                  lr=5e-4),
}
PRESET_DOCS = {
    "paper": "Sec. 4 / 7.1: batch 1, Adam 2e-4, ngf = ndf = 64, 6-9 blocks, 70x70 PatchGAN, "
             "200k steps",
    "small": "a ~5-minute CPU budget on 32x32 images (departs from the paper): 600 steps "
             "of batch 4, ngf = ndf = 16, 3 residual blocks, a 2-layer PatchGAN, lr 5e-4",
}


def default_preset(dataset: str) -> str:
    """``--preset auto``: the small CPU budget on every dataset (``--preset paper`` keeps the
    paper's sizes)."""
    return "small"


# ---------------------------------------------------------------------------- the history

class ImagePool:
    """The history of generated images D is trained on (Shrivastava et al. 2017,
    arXiv:1612.07828, Sec. 2.3; CycleGAN Sec. 4: a buffer of 50).

    ``query(images)`` returns as many images as it is given. While the buffer holds fewer
    than ``size`` images, each new image is stored and returned as it is. Once it is full,
    each new image is, with probability 1/2, returned as it is, and otherwise swapped with
    a stored image drawn uniformly (the stored one is returned, the new one kept): so about
    half of a batch is from the history, as in the authors' code. ``size`` 0: no buffer.

    The draws come from the pool's own seeded Generator; ``state_dict`` holds the stored
    images and that Generator's state, so a resumed run continues exactly. ``device``: where
    the loaded images go (None: the default device, as for every new tensor).
    """

    def __init__(self, size: int = 50, seed: int = 0, device=None):
        if size < 0:
            raise ValueError(f"ImagePool: size must be >= 0, got {size}")
        self.size, self.device = size, device
        self.images = []                               # backend arrays (C, H, W)
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.images)

    def query(self, images: tinygen.Tensor) -> tinygen.Tensor:
        """(m, C, H, W) generated images -> (m, C, H, W) for D, detached (constants)."""
        if self.size == 0:
            return images.detach()
        data = images.detach().data
        out = []
        for image in data:                             # (C, H, W) each
            image = image.copy()
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif self.rng.random() < 0.5:
                j = int(self.rng.integers(self.size))
                out.append(self.images[j])
                self.images[j] = image
            else:
                out.append(image)
        xp = backend.get_array_module(data)
        return tinygen.Tensor(xp.stack(out))

    def state_dict(self) -> dict:
        return {"size": self.size, "rng": self.rng.bit_generator.state,
                "images": [img for img in self.images]}

    def load_state_dict(self, state: dict) -> None:
        if int(state["size"]) != self.size:
            raise ValueError(f"ImagePool: the checkpoint's pool holds {state['size']} images, "
                             f"this one {self.size}")
        self.rng.bit_generator.state = state["rng"]
        self.images = [tinygen.tensor(np.asarray(img), device=self.device).data
                       for img in state["images"]]


# ---------------------------------------------------------------------------- the losses

def adversarial_loss_g(fake_scores):
    """The generator's least-squares GAN loss E (D(G(a)) - 1)^2 (CycleGAN Sec. 4; LSGAN
    eq. 2 with c = 1, without LSGAN's 1/2: tinygen's ``g_loss_least_squares`` doubled, so
    that lambda = 10 weighs L_cyc against the paper's L_GAN)."""
    return 2.0 * L.g_loss_least_squares(fake_scores)


def cycle_loss(reconstructed, real):
    """||F(G(a)) - a||_1 as a mean over pixels and the batch (eq. 2, one of its two terms);
    the identity loss ||G(b) - b||_1 is the same function."""
    if reconstructed.shape != real.shape:
        raise ValueError(f"cycle_loss: reconstruction {reconstructed.shape} and image "
                         f"{real.shape} differ in shape")
    return tinygen.abs(reconstructed - real).mean()


# ---------------------------------------------------------------------------- the models

def build_models(config: Config, channels_a: int, channels_b: int, size: int) -> dict:
    """G_AB: A -> B and G_BA: B -> A (ResNet generators), D_A on A and D_B on B (PatchGANs
    with instance norm), all from tinygen.models.translation (weights ~ N(0, 0.02) there, as
    in the authors' code)."""
    from tinygen.models.translation import (PatchGANDiscriminator, ResNetGenerator,
                                            resnet_blocks_for)
    blocks = config.n_blocks or resnet_blocks_for(size)
    nets = {
        "G_AB": ResNetGenerator(channels_a, channels_b, config.ngf, blocks),
        "G_BA": ResNetGenerator(channels_b, channels_a, config.ngf, blocks),
        "D_A": PatchGANDiscriminator(channels_a, config.ndf, config.n_layers_d, "instance"),
        "D_B": PatchGANDiscriminator(channels_b, config.ndf, config.n_layers_d, "instance"),
    }
    return {k: v.to(config.device) for k, v in nets.items()}


def build_optimizers(config: Config, nets: dict):
    """One Adam over both generators' parameters and one over both discriminators' (as the
    authors' code chains them), each with the constant-then-linear LambdaLR schedule."""
    betas = (config.beta1, config.beta2)
    opt_g = optim.Adam([*nets["G_AB"].parameters(), *nets["G_BA"].parameters()], lr=config.lr,
                       betas=betas)
    opt_d = optim.Adam([*nets["D_A"].parameters(), *nets["D_B"].parameters()], lr=config.lr,
                       betas=betas)
    return (opt_g, opt_d,
            *R.constant_then_linear_schedulers(config.decay_from, config.steps, opt_g, opt_d))


# ---------------------------------------------------------------------------- one step

def generator_step(config: Config, nets: dict, opt_g, real_a, real_b) -> tuple:
    """Descend L_GAN(G, D_B) + L_GAN(F, D_A) + lambda L_cyc [+ identity] over G and F.

    Returns (losses, fake_a, fake_b): the fakes go to the discriminator step (through the
    pools). D's parameters are held fixed (no gradient is computed for them)."""
    G, F, D_A, D_B = nets["G_AB"], nets["G_BA"], nets["D_A"], nets["D_B"]
    out = {}
    with R.frozen(D_A, D_B):
        fake_b = G(real_a)                               # (m, C_B, H, W)
        rec_a = F(fake_b)                                # (m, C_A, H, W)
        fake_a = F(real_b)                               # (m, C_A, H, W)
        rec_b = G(fake_a)                                # (m, C_B, H, W)
        loss_gan = adversarial_loss_g(D_B(fake_b)) + adversarial_loss_g(D_A(fake_a))
        loss_cyc = cycle_loss(rec_a, real_a) + cycle_loss(rec_b, real_b)
        loss = loss_gan + config.lambda_cyc * loss_cyc
        if config.lambda_identity > 0 and real_a.shape[1] == real_b.shape[1]:
            loss_idt = cycle_loss(G(real_b), real_b) + cycle_loss(F(real_a), real_a)
            loss = loss + config.lambda_identity * config.lambda_cyc * loss_idt
            out["loss_idt"] = loss_idt.detach()
        R.descend(loss, opt_g)
    out.update(loss_g=loss_gan.detach(), loss_cyc=loss_cyc.detach())
    return out, fake_a, fake_b


def discriminator_step(nets: dict, opt_d, pools: dict, real_a, real_b, fake_a, fake_b) -> dict:
    """Descend 1/2 [E (D_B(b) - 1)^2 + E D_B(pool_B(fake_b))^2] and the same for D_A
    (the two discriminators share one optimizer; their losses do not interact)."""
    D_A, D_B = nets["D_A"], nets["D_B"]
    old_b = pools["pool_b"].query(fake_b)                # (m, C_B, H, W), constants
    old_a = pools["pool_a"].query(fake_a)                # (m, C_A, H, W)
    loss_d_b = L.d_loss_least_squares(D_B(real_b), D_B(old_b))
    loss_d_a = L.d_loss_least_squares(D_A(real_a), D_A(old_a))
    R.descend(loss_d_a + loss_d_b, opt_d)
    return {"loss_d_a": loss_d_a.detach(), "loss_d_b": loss_d_b.detach()}


# ---------------------------------------------------------------------------- looking

def translate(G, x, device, batch: int = 200):
    """G applied to host images x (N, C, H, W) in [-1, 1], without a graph -> host (N, C', H, W)."""
    out = []
    with tinygen.no_grad():
        for start in range(0, len(x), batch):
            out.append(backend.to_host(G(tinygen.tensor(x[start:start + batch],
                                                         device=device)).data))
    return np.concatenate(out, 0) if out else np.zeros((0,) + x.shape[1:], np.float32)


def as_rgb(x):
    """(N, 1, H, W) -> (N, 3, H, W) (grey repeated); (N, 3, H, W) as it is: so one grid can
    show a grey domain beside a colour one."""
    return np.repeat(x, 3, axis=1) if x.shape[1] == 1 else x


def rows_grid(rows):
    """Rows of n images each (N, C, H, W) -> one (len(rows) n, C', H, W) array for a grid
    with n columns (channels made equal with :func:`as_rgb` where they differ)."""
    if len({r.shape[1] for r in rows}) > 1:
        rows = [as_rgb(r) for r in rows]
    return np.concatenate(rows, 0)


def cycle_grid(nets, a, b, device):
    """Rows: a | G(a) | F(G(a)) | b | F(b) | G(F(b)), one column per image."""
    G, F = nets["G_AB"], nets["G_BA"]
    fake_b, fake_a = translate(G, a, device), translate(F, b, device)
    return rows_grid([a, fake_b, translate(F, fake_b, device),
                      b, fake_a, translate(G, fake_a, device)])


def cycle_error(nets, a, b, device) -> float:
    """Mean |F(G(a)) - a| and |G(F(b)) - b| over the images (in [-1, 1] units), averaged."""
    G, F = nets["G_AB"], nets["G_BA"]
    err_a = np.abs(translate(F, translate(G, a, device), device) - a).mean()
    err_b = np.abs(translate(G, translate(F, b, device), device) - b).mean()
    return float((err_a + err_b) / 2)


# ---------------------------------------------------------------------------- data

def load_data(config: Config):
    """(train UnpairedSet, test UnpairedSet or None) from ``config.dataset`` / ``test_dataset``."""
    train = load_unpaired(config.dataset, "train", config.seed, config.n_train)
    test = None
    if config.test_dataset:
        spec = config.test_dataset
        test = load_unpaired(spec, "test" if spec.startswith("folder:") and has_test_split(spec)
                             else "train", config.seed)
    elif has_test_split(config.dataset):
        test = load_unpaired(config.dataset, "test", config.seed)
    if test is not None:
        for name in ("a", "b"):
            mine, theirs = getattr(train, name), getattr(test, name)
            if mine.shape[1:] != theirs.shape[1:]:
                raise ValueError(f"--test-dataset {config.test_dataset}: its {name} images are "
                                 f"{theirs.shape[1:]} but the training ones {mine.shape[1:]}")
    return train, test


def save_predictions(run, nets, test, device) -> str:
    """predictions.npz: ``x`` = G_AB(a[i]) in B's layout (uint8 (N, H, W[, C])) and ``x_ba`` =
    G_BA(b[i]) in A's, in test-set order."""
    a = to_float_images(test.a, (-1.0, 1.0))
    b = to_float_images(test.b, (-1.0, 1.0))
    x = to_uint8_images(translate(nets["G_AB"], a, device), (-1.0, 1.0))
    x_ba = to_uint8_images(translate(nets["G_BA"], b, device), (-1.0, 1.0))
    path = run.path("predictions.npz")
    R.save_npz(path, x=x, x_ba=x_ba)
    return path


# ---------------------------------------------------------------------------- the run

def train(config: Config) -> str:
    """``tinygen run cyclegan``: the loop of the module docstring; returns the run folder."""
    run = R.Run(config, "cyclegan")
    data, test = load_data(config)
    a_all = to_float_images(data.a, (-1.0, 1.0))           # (N_a, C_A, H, W)
    b_all = to_float_images(data.b, (-1.0, 1.0))           # (N_b, C_B, H, W)
    size = a_all.shape[-1]
    nets = build_models(config, a_all.shape[1], b_all.shape[1], size)
    opt_g, opt_d, sched_g, sched_d = build_optimizers(config, nets)
    pools = {"pool_a": ImagePool(config.pool_size, config.seed + 3, config.device),
             "pool_b": ImagePool(config.pool_size, config.seed + 4, config.device)}
    state = dict(nets, opt_g=opt_g, opt_d=opt_d, sched_g=sched_g, sched_d=sched_d, **pools)
    shown = (test if test is not None else data)
    show_a = to_float_images(shown.a[:8], (-1.0, 1.0))     # the grids' fixed images
    show_b = to_float_images(shown.b[:8], (-1.0, 1.0))
    for step in run.steps(run.resume(**state)):
        real_a = R.real_batch(a_all, config.batch_size, run.data_rng, config.device)
        real_b = R.real_batch(b_all, config.batch_size, run.data_rng, config.device)
        g_out, fake_a, fake_b = generator_step(config, nets, opt_g, real_a, real_b)
        d_out = discriminator_step(nets, opt_d, pools, real_a, real_b, fake_a, fake_b)
        lr_now = opt_g.param_groups[0]["lr"]
        sched_g.step()
        sched_d.step()
        run.record(step, **g_out, **d_out, lr=lr_now)
        if run.due(step, config.log_every):
            run.log(step, test_cycle_l1=cycle_error(nets, show_a, show_b, config.device))
        if run.due(step, config.sample_every):
            run.save_grid(cycle_grid(nets, show_a, show_b, config.device),
                          f"cycle_{step:06d}.png", nrow=len(show_a))
        run.checkpoint(step, **state)
    run.finish(**state)
    _final_pictures(run, nets, shown, config.device)
    if test is not None:
        save_predictions(run, nets, test, config.device)
    run.write_report()
    return run.dir


def _final_pictures(run, nets, shown, device) -> None:
    """translations_ab.png (a | G(a)) and translations_ba.png (b | F(b)), 16 images each."""
    a = to_float_images(shown.a[:16], (-1.0, 1.0))
    b = to_float_images(shown.b[:16], (-1.0, 1.0))
    run.save_grid(rows_grid([a, translate(nets["G_AB"], a, device)]), "translations_ab.png",
                  nrow=len(a), keep_frame=False,
                  title=f"cyclegan on {run.config.dataset}: A (top) -> G_AB(A) (bottom)")
    run.save_grid(rows_grid([b, translate(nets["G_BA"], b, device)]), "translations_ba.png",
                  nrow=len(b), keep_frame=False,
                  title=f"cyclegan on {run.config.dataset}: B (top) -> G_BA(B) (bottom)")


__all__ = ["Config", "PRESETS", "ImagePool", "adversarial_loss_g", "cycle_loss",
           "build_models", "build_optimizers", "generator_step", "discriminator_step",
           "translate", "cycle_grid", "cycle_error", "load_data", "save_predictions", "train"]
