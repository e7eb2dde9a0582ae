"""SRGAN: photo-realistic super-resolution with a GAN and a perceptual (VGG) content loss.

Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial
Network", CVPR 2017, arXiv:1609.04802, Sec. 2.2-2.3 and 3.2. The generator is SRResNet
(tinygen.methods.srresnet), started from an SRResNet trained on the MSE ("to avoid
undesired local optima"); the perceptual loss of eq. 3 replaces the MSE:

    l^SR = l_X + 1e-3 l_Gen                                             (eq. 3)
    l_X  = l_VGG/5,4 = mean (phi_5,4(I_HR)/12.75 - phi_5,4(G(I_LR))/12.75)^2   (eq. 5, VGG54)
    l_Gen = sum_n -log D(G(I_LR))                                       (eq. 6, non-saturating)
    D maximises  E log D(I_HR) + E log(1 - D(G(I_LR)))                  (eq. 2)

    G <- SRResNet-MSE (--init-from RUN, or trained here first for --init-steps steps)
    repeat for steps:
        draw B aligned patch pairs (x_LR, x_HR), random flip / 90-degree rotation
        y = G(x_LR)
        D step: descend softplus(-l(x_HR)) + softplus(l(y))     (BN sees a real, a fake batch)
        G step: descend l_VGG(y, x_HR) + 1e-3 softplus(-l(y))
        Adam (beta 0.9, 0.999) for both; lr 1e-4 for 10^5 steps, then 1e-5 for 10^5
    evaluate as SRResNet: Y-PSNR / SSIM beside bicubic and Lanczos (SRGAN trades PSNR for
    texture: expect it below SRResNet's)

phi_5,4 is VGG19's relu5_4 (tinygen.models.vgg, torchvision's weights). Without the weight
file the content loss falls back to random multi-scale conv features
(RandomMultiScaleFeatures, as style transfer does), with a one-line notice: not the paper's
loss, flagged. The discriminator is models.sr_nets.SRGANDiscriminator (8 convs 64 -> 512,
stride 2 every other one, BN, LeakyReLU 0.2, dense 1024, dense 1).

Notation / Shapes: s scale; x_LR (B, 3, p, p); x_HR, y (B, 3, sp, sp) in [0, 1]; l(.) the
discriminator's logit (B,).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Literal, Optional

import tinygen
from tinygen import losses as L
from tinygen import backend, optim
from tinygen.methods import run as R
from tinygen.methods import srresnet
from tinygen.models.sr_nets import SRGANDiscriminator

np = srresnet.np

# the generator's shape: what --init-from's SRResNet run must share with this run
GENERATOR_FIELDS = ("scale", "channels", "blocks", "upsampler", "residual")

# the content loss's layers: VGG19's (the paper's VGG54 and VGG22), and the fallback's
CONTENT_LAYERS = {"vgg54": ("relu5_4",), "vgg22": ("relu2_2",)}
FALLBACK_LAYERS = ("scale0", "scale1", "scale2", "scale3")


@dataclasses.dataclass
class Config(srresnet.Config):
    """tinygen run srgan: SRGAN (Ledig et al. 2017), SRResNet trained with VGG54 + 1e-3 adversarial.

    Without --init-from, the run first trains its SRResNet-MSE start itself, for
    --init-steps steps, in RUN/init (a full srresnet run of its own).
    """
    init_from: Optional[str] = None    # srresnet run (folder or checkpoint.npz) G starts from (the
                                       # paper: SRResNet-MSE, 10^6 steps); unset: train one here
                                       # first, for --init-steps steps, in RUN/init
    init_steps: int = 1000000          # steps of that SRResNet-MSE start (the paper: 10^6; 0: as
                                       # many as --steps)
    init_lr: float = 1e-4              # its Adam lr (the paper: 1e-4)
    init_lr_halvings: int = 0          # its lr halvings at 50%, 75%, ... (the paper: none)
    steps: int = 200000                # GAN steps (the paper: 10^5 at lr 1e-4, 10^5 at 1e-5)
    lr: float = 1e-4                   # Adam's lr for G and D (the paper: 1e-4)
    lr_halvings: int = 1               # lr drops, at 50%, 75%, ... of the steps (the paper: one)
    lr_factor: float = 0.1             # each drop multiplies lr by this (the paper: 1e-4 -> 1e-5)
    content: Literal["vgg54", "vgg22", "mse"] = "vgg54"   # content loss l_X: VGG19 relu5_4 (the
                                       # paper's SRGAN-VGG54), relu2_2 (VGG22) or the pixel MSE
    content_rescale: float = 0.0784313725490196   # phi rescaled by 1/12.75 (the paper), i.e.
                                       # the squared distance by ~0.006
    adv_weight: float = 1e-3           # weight of the adversarial term l_Gen (the paper: 1e-3)
    features: Literal["auto", "vgg19", "random"] = "auto"   # auto: VGG19 if its weights are
                                       # found, else the random multi-scale fallback (departure,
                                       # with a notice; its layers scale0..scale3)
    weights: Optional[str] = None      # path of torchvision's vgg19-dcbb9e9d.pth (default: the
                                       # weight cache: `tinygen weights path vgg19-dcbb9e9d.pth`)
    d_channels: int = 64               # discriminator width C, 64 -> 8C (the paper: 64)
    d_dense: int = 1024                # its dense layer (the paper: 1024)
    log_every: int = 100               # steps between metrics.jsonl lines
    sample_every: int = 500            # steps between frames (bicubic | SRResNet | SRGAN | HR)


PRESETS = {
    "paper": {},
    # SRResNet's small CPU budget for G (4 x 32, sub-pixel, residual over bicubic); a short
    # MSE start and a short GAN phase; D 16 -> 128 channels (paper 64 -> 512, ~16x the cost)
    "small": dict(srresnet.PRESETS["small"], init_steps=0, init_lr=1e-3,
                  init_lr_halvings=2, steps=300,
                  lr=1e-4, lr_halvings=1, lr_factor=0.1, d_channels=16),
}
PRESET_DOCS = {"paper": "Sec. 3.2: SRResNet 16 x 64 from 10^6 MSE steps, "
                        "then 10^5 steps at 1e-4 and 10^5 at 1e-5, D 64 -> 512",
               "small": "a CPU budget: G = srresnet's small preset, 300 MSE steps then 300 GAN "
                        "steps (--init-steps 0: as many as --steps), D 16 -> 128 channels"}
default_preset = srresnet.default_preset


def build_models(config):
    """The generator G (SRResNet, the shape of ``config``): what ``tinygen sr`` loads."""
    return srresnet.build_models(config)


def build_discriminator(config):
    return SRGANDiscriminator(config.patch_size * config.scale, config.d_channels, config.d_dense)


# ---------------------------------------------------------------------------------------
# the content loss's features
# ---------------------------------------------------------------------------------------

def fallback_notice(reason: str = "") -> str:
    from tinygen.models.vgg import VGG19_WEIGHTS
    return (f"NOTICE: VGG19 weights ({VGG19_WEIGHTS}) not found{reason}; srgan's content loss "
            "uses random multi-scale conv features instead of VGG54 (not the paper's loss): "
            f"`tinygen weights download {VGG19_WEIGHTS}` or --weights PATH for the real one")


def build_content_features(config, log=print):
    """-> (extractor, layers, kind): VGG19 up to relu5_4 / relu2_2, the random fallback, or
    (None, (), 'mse')."""
    from tinygen.methods.style_transfer import vgg_weights_or_fallback
    from tinygen.models import vgg
    if config.content == "mse":
        return None, (), "mse"
    path = vgg_weights_or_fallback(config.features, config.weights, log, fallback_notice)
    if path is not None:
        model, layers, kind = vgg.vgg19(weights=path), CONTENT_LAYERS[config.content], "vgg19"
    else:
        model, layers, kind = vgg.RandomMultiScaleFeatures(), FALLBACK_LAYERS, "random"
    model.requires_grad_(False)
    model.eval()
    return model.to(config.device), layers, kind


def content_loss(phi, layers, y, x_hr, config):
    """l_X: the perceptual loss on ``layers`` of ``phi`` (losses.perceptual_loss), or the MSE."""
    if phi is None:
        return srresnet.pixel_loss(y, x_hr, "mse")
    return L.perceptual_loss(phi, y, x_hr, layers, config.content_rescale)


# ---------------------------------------------------------------------------------------
# the SRResNet-MSE start
# ---------------------------------------------------------------------------------------

def _init_source(config, run_dir: str) -> str:
    return config.init_from if config.init_from else os.path.join(run_dir, "init")


def check_init_run(config, source: str) -> None:
    """``--init-from`` must be an srresnet run whose generator has this run's shape."""
    saved = R.read_config(source)
    flag = "--init-from" if config.init_from else "the init run"
    if saved.get("method") != "srresnet":
        raise ValueError(f"{flag} {source}: a {saved.get('method')} run, not an srresnet run "
                         "(SRGAN starts from SRResNet trained on the MSE)")
    differ = [f"--{k.replace('_', '-')} {saved.get(k)} (this run: {getattr(config, k)})"
              for k in GENERATOR_FIELDS if saved.get(k) != getattr(config, k)]
    if differ:
        raise ValueError(f"{flag} {source}: its generator has " + ", ".join(differ)
                         + "; pass the same options to srgan")


def init_steps(config) -> int:
    return config.init_steps or config.steps


def init_config(config, out: str):
    """srresnet's Config for the SRResNet-MSE start this run trains itself."""
    shared = {f.name: getattr(config, f.name) for f in dataclasses.fields(srresnet.Config)
              if f.name not in ("out", "resume", "steps", "lr", "lr_halvings", "eval_every",
                                "log_every", "sample_every", "checkpoint_every")}
    n = init_steps(config)
    return srresnet.Config(**shared, out=out, steps=n, lr=config.init_lr,
                           lr_halvings=config.init_lr_halvings,
                           log_every=max(1, min(config.log_every, n)), sample_every=n,
                           checkpoint_every=n)


def initial_generator(config, run_dir: str):
    """G_MSE, the start: loaded from --init-from, or from RUN/init (trained there when absent
    or unfinished; a finished one is reused, so --resume never retrains it)."""
    from tinygen.io.checkpoint import load_checkpoint, restore_state
    source = _init_source(config, run_dir)
    if not config.init_from:
        path = os.path.join(source, "checkpoint.npz")
        done = os.path.exists(path) and int(load_checkpoint(path)["step"]) >= init_steps(config)
        if not done:                             # unfinished (interrupted): continue it
            resume = source if os.path.exists(path) else None
            srresnet.train(dataclasses.replace(init_config(config, source), resume=resume))
    check_init_run(config, source)
    G0 = build_models(config)
    path = R.checkpoint_path(source)
    restore_state(load_checkpoint(path), path, model=G0)
    return G0.to(config.device)


def _frame(G0, G, hr, scale: int, size: int = 64):
    """bicubic | SRResNet (the start) | SRGAN | HR, the centre crop of a test image."""
    left = srresnet._frame(G0, hr, scale, size)                      # bicubic | SRResNet | HR
    c = size * scale if min(hr.shape[:2]) >= size * scale else left.shape[1]
    mid = srresnet._frame(G, hr, scale, size)[:, :, c:2 * c]          # SRGAN
    return np.concatenate([left[:, :, :2 * c], mid, left[:, :, 2 * c:]], axis=2)


# ---------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------

def discriminator_step(D, opt_d, x_hr, y) -> float:
    """Descend -[log D(x_HR) + log(1 - D(G(x_LR)))] (eq. 2)."""
    return R.descend(L.d_loss_minimax(D(x_hr), D(y.detach())), opt_d)


def generator_step(G, D, opt_g, phi, layers, y, x_hr, config) -> dict:
    """Descend l^SR = l_X + 1e-3 l_Gen (eq. 3) with the non-saturating l_Gen (eq. 6)."""
    l_x = content_loss(phi, layers, y, x_hr, config)
    l_gen = L.g_loss_nonsaturating(D(y))
    R.descend(l_x + l_gen * config.adv_weight, opt_g)
    return {"loss_content": l_x.detach(), "loss_gen": l_gen.detach()}


def train(config: Config) -> str:
    """Train SRGAN from an SRResNet-MSE start; returns the run folder."""
    if config.init_steps < 0:
        raise ValueError(f"--init-steps {config.init_steps}: give 0 (as many as --steps) or more")
    if config.init_from:
        check_init_run(config, config.init_from)                     # fail before any work
    log = (lambda *a: None) if config.quiet else (lambda *a: print(*a, flush=True))
    run = R.Run(config, "srgan")
    pairs, test_images, test_names = srresnet.sr_data(config)
    G = build_models(config).to(config.device)
    D = build_discriminator(config).to(config.device)
    opt_g = optim.Adam(G.parameters(), lr=config.lr, betas=(0.9, 0.999))
    opt_d = optim.Adam(D.parameters(), lr=config.lr, betas=(0.9, 0.999))
    phi, layers, kind = build_content_features(config, log)
    start = run.resume(model=G, D=D, optimizer=opt_g, opt_d=opt_d)
    rng = backend.get_rng_state()
    G0 = initial_generator(config, run.dir)
    backend.set_rng_state(rng)                   # an init run here reseeds tinygen's generator
    if start == 0:
        G.load_state_dict(G0.state_dict())
    G0.eval()
    monitor = srresnet.SRMonitor(run, config, G, test_images, test_names,
                                 frame=lambda m, hr: _frame(G0, m, hr, config.scale),
                                 columns="bicubic | SRResNet start | SRGAN | HR")
    for step in run.steps(start):
        lr_now = srresnet.lr_at(config, step)
        srresnet.set_lr(opt_g, lr_now)
        srresnet.set_lr(opt_d, lr_now)
        G.train()
        D.train()
        x_lr, x_hr = pairs.patches(config.batch_size, config.patch_size, run.data_rng,
                                   config.augment)                   # (B, 3, p, p), (B, 3, sp, sp)
        x_lr = tinygen.tensor(x_lr, device=config.device)
        x_hr = tinygen.tensor(x_hr, device=config.device)
        y = G(x_lr)                                                  # (B, 3, sp, sp)
        loss_d = discriminator_step(D, opt_d, x_hr, y)
        g_out = generator_step(G, D, opt_g, phi, layers, y, x_hr, config)
        monitor.step_done(step, loss_d=loss_d, **g_out, lr=lr_now)
        run.checkpoint(step, model=G, D=D, optimizer=opt_g, opt_d=opt_d)
    return monitor.finish(model=G, D=D, optimizer=opt_g, opt_d=opt_d)


__all__ = ["Config", "PRESETS", "build_models", "build_discriminator", "build_content_features",
           "content_loss", "initial_generator", "check_init_run", "train"]
