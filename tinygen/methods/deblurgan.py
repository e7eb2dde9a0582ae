"""DeblurGAN: Kupyn, Budzan, Mykhailych, Mishkin & Matas, "DeblurGAN: Blind Motion Deblurring
Using Conditional Adversarial Networks", CVPR 2018, arXiv:1711.07064.

Blind deblurring as image-to-image translation: a generator G maps a blurred photo I_B to a
sharp estimate I_S, with no kernel estimated. The objective (Sec. 3.2, eqs. 1-4):

    L   = L_GAN + lambda L_X,                               lambda = 100
    L_GAN = sum_n -D(G(I_B))                                WGAN-GP (Gulrajani et al. 2017)
    L_X = 1/(W H) sum_{x,y} (phi(I_S)_{x,y} - phi(G(I_B))_{x,y})^2     perceptual loss,
          phi = VGG19's conv3.3 feature map (ImageNet weights, fixed)  (Johnson et al. 2016)
    critic: maximise  E D(I_S) - E D(G(I_B)) - 10 E (||grad D(x_hat)||_2 - 1)^2

    G (Fig. 3): c7s1-64, two stride-2 convs, 9 ResBlocks (conv, instance norm, ReLU, dropout 0.5
      after the first conv), two transposed convs, c7s1-3, tanh; and the global skip "ResOut":
      I_S = clamp(I_B + G(I_B), -1, 1)      (models.translation.ResNetGenerator, global_skip)
    D: the PatchGAN critic (70 x 70 at 256 px), instance norm, no sigmoid (a Wasserstein score)

Training (Sec. 4 and the authors' code, models/conditional_gan_model.py):     train()
    repeat for steps:
        draw a (blurred, sharp) pair of p x p patches: a random crop of a photo blurred with a
            fresh random motion kernel (Sec. 3.1: the trajectory generator, data/blur.py)
        y = G(I_B)                                          one forward, reused below
        5 times (n_critic): descend D(y) - D(I_S) + GP on the same pair    critic_step()
        descend -D(y) + 100 L_X(y, I_S)                                    generator_step()
        Adam lr 1e-4 for G and D, constant for the first half, then linearly to 0 (150 + 150
        epochs in the paper), batch 1
    at test time G runs as in training, dropout and instance norm on ("we follow the idea of
    [pix2pix]"): --test-mode train, through tinygen.methods.pix2pix.translate

The miniature (``--preset small``, the default; ``--preset paper`` keeps every number above):
64-px patches, a narrow G with 4 ResBlocks, a 34 x 34 PatchGAN of 8 -> 32 channels, batch 4,
no dropout, Adam lr 1e-3, one critic step per G step instead of 5 (the critic steps were two
thirds of the time and the gain did not need them) and a shorter schedule; every departure
is flagged in PRESETS. Blur:
trajectory kernels of Algorithm 1 (L_max 15 px instead of 60) and linear kernels (length
3-15 px, any angle), half each (the paper blurs with trajectories only; its main data are
GoPro's real blurred frames, which are not here). Without VGG19's weights (absent offline)
phi is the random multi-scale feature extractor of style transfer (models.vgg.
RandomMultiScaleFeatures, its scales 0-2: full, 1/2 and 1/4 resolution, conv3_3's), with a
notice: not the paper's loss.

Evaluation: whole held-out photos blurred with one linear kernel (``--test-length`` px at
``--test-angle`` degrees), rounded to 8 bits; PSNR of G's output and of the blurred input
against the sharp photo, and the gain (test_psnr_gain, dB).

Notation / Shapes: I_B, I_S, y (B, 3, p, p) in [-1, 1] for G and D; phi sees (x + 1) / 2 in
[0, 1]; D(x) (B, 1, p', p') patch scores.
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Literal, Optional

import tinygen
from tinygen import backend, optim
from tinygen import losses as L
from tinygen.data.blur import BlurPairs, blur, linear_kernel, quantize
from tinygen.data.paired import pad_to_multiple
from tinygen.methods import pix2pix
from tinygen.methods import run as R
from tinygen.models.translation import PatchGANDiscriminator, ResNetGenerator

np = backend.numpy   # host arrays: photos, patches, pictures, scores

# phi: VGG19's conv3_3 after its ReLU ("the feature map obtained by the j-th convolution
# (after activation) before the i-th maxpooling layer", Sec. 3.2), or the fallback's scales
CONTENT_LAYERS = ("relu3_3",)
FALLBACK_LAYERS = ("scale0", "scale1", "scale2")

# the photos of ../shared/data/images held out of training by default (both colour photos)
HELD_OUT = "chelsea.png,coffee.png"


@dataclasses.dataclass
class Config(R.RunConfig):
    """DeblurGAN (Kupyn et al. 2018, arXiv:1711.07064): ResNet G with ResOut, WGAN-GP PatchGAN
    critic, 100 x perceptual (VGG19 conv3_3) loss, trained on photos blurred on the fly."""
    dataset: str = "photos"            # sharp photos: photos (../shared/data/images when found,
                                       # else the offline drawn scenes), scenes, folder:PATH,
                                       # files:A.png,B.png or npz:PATH (array x)
    held_out: str = HELD_OUT           # file names of a folder dataset kept out of training and
                                       # used as the test photos (unless --test-dataset)
    test_dataset: Optional[str] = None  # sharp test photos (same forms as --dataset); default:
                                       # the held-out files, or held-out scenes
    steps: int = 630900                # G steps (the paper: 300 epochs of GoPro's 2,103 pairs at
                                       # batch 1)
    batch_size: int = 1                # pairs per step (the paper: 1)
    patch_size: int = 256              # side of the training crops (the paper: 256)
    kernels: Literal["mixed", "trajectory", "linear"] = "mixed"   # training blur: Algorithm
                                       # 1's trajectories, linear motion, or half each
                                       # (departure: the paper's synthetic set uses trajectories)
    max_blur: float = 15.0             # trajectory length L_max and longest linear kernel, px
                                       # (departure: the paper's L_max is 60 px)
    trajectory_iters: int = 2000       # M, points of a trajectory (the paper: 2000)
    augment: bool = True               # random flips / quarter turns of the crops (departure:
                                       # more variety from a few photos)
    lr: float = 1e-4                   # Adam's lr for G and the critic (the paper: 1e-4)
    beta1: float = 0.5                 # Adam beta1 (the authors' code: 0.5)
    beta2: float = 0.999               # Adam beta2 (the authors' code: 0.999)
    decay_from: float = 0.5            # lr constant for this fraction of the steps, then linear
                                       # decay to 0 (the paper: 150 + 150 epochs)
    n_critic: int = 5                  # critic steps per G step, on the same pair (the paper: 5)
    lambda_gp: float = 10.0            # gradient penalty weight (the paper: 10)
    lambda_x: float = 100.0            # weight of the perceptual loss L_X (the paper: 100)
    ngf: int = 64                      # G's first-layer filters (the paper: 64)
    g_blocks: int = 9                  # ResBlocks of G (the paper: 9)
    dropout: float = 0.5               # dropout after each ResBlock's first conv (the paper: 0.5)
    ndf: int = 64                      # critic's first-layer filters (the paper: 64)
    d_layers: int = 3                  # PatchGAN stride-2 layers (the paper: 3, 70 x 70 patches)
    test_mode: Literal["train", "eval"] = "train"   # G at test time: as in training (dropout
                                       # on; the paper, after pix2pix) or eval mode
    features: Literal["auto", "vgg19", "random"] = "auto"   # phi: VGG19 if its weights are
                                       # found, else the random multi-scale fallback (departure,
                                       # with a notice; its scales 0-2)
    weights: Optional[str] = None      # torchvision's vgg19-dcbb9e9d.pth (default: the weight
                                       # cache: `tinygen weights path vgg19-dcbb9e9d.pth`)
    test_length: float = 11.0          # evaluation: linear kernel length, px
    test_angle: float = 30.0           # evaluation: its angle, degrees counter-clockwise
    eval_every: int = 0                # steps between held-out PSNR lines in metrics.jsonl
                                       # (0: only at the end)
    log_every: int = 100               # steps between metrics.jsonl lines
    sample_every: int = 500            # steps between frames (blurred | deblurred | sharp)
    checkpoint_every: int = 500        # steps between checkpoint.npz writes

    def __post_init__(self):
        super().__post_init__()
        for name in ("n_critic", "patch_size", "ngf", "ndf", "trajectory_iters"):
            R._check_positive(self, name)
        if self.patch_size % 4:
            raise ValueError(f"--patch-size {self.patch_size}: G halves the side twice; give a "
                             "multiple of 4")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"--dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.decay_from <= 1.0:
            raise ValueError(f"--decay-from must be in [0, 1], got {self.decay_from}")
        if not 1.0 <= self.max_blur <= 0.5 * self.patch_size:
            raise ValueError(f"--max-blur {self.max_blur}: give a length in [1, patch_size / 2 ="
                             f" {self.patch_size // 2}] px")
        if self.eval_every < 0:
            raise ValueError(f"--eval-every must be >= 0 (0: only at the end), got "
                             f"{self.eval_every}")


PRESETS = {
    "paper": {},
    # 20 minutes of one core, measured (1,198 s, docs/deblurgan.md): 64-px patches, G 16 x 4
    # blocks, a 34 x 34 critic of 8 -> 32 channels, batch 4, no dropout, lr 1e-3 (at 1e-4 the
    # held-out gain after 150 steps was -0.23 dB, at 1e-3 +0.15 dB), and ONE critic step per
    # G step (the paper: 5; its critic steps were 2/3 of a step's time, and 3,600 steps of
    # 1 critic step gained +0.57 dB where 1,500 of 5 gained +0.36 in more time)
    "small": dict(steps=4500, batch_size=4, patch_size=64, ngf=16, g_blocks=4, dropout=0.0,
                  ndf=8, d_layers=2, lr=1e-3, n_critic=1, eval_every=500, sample_every=500,
                  checkpoint_every=500, log_every=50),
}
PRESET_DOCS = {
    "paper": "Sec. 4: 256-px crops, batch 1, 9 ResBlocks of 64 -> 256 filters with dropout 0.5, "
             "70x70 critic, Adam 1e-4, 300 epochs' worth of steps",
    "small": "a ~20-minute CPU budget: 64-px patches, batch 4, G 16 filters x 4 ResBlocks "
             "without dropout, 34x34 critic 8 -> 32, Adam 1e-3 and 1 critic step per G step "
             "(departures), 4,500 steps",
}


def default_preset(dataset: str) -> str:
    """``--preset auto``: the small CPU budget on every dataset (``--preset paper`` for the
    paper's sizes)."""
    return "small"


# ---------------------------------------------------------------- data

def shared_photos() -> Optional[str]:
    """The project's photo folder ../shared/data/images, looked for beside the working
    directory and beside the repository; None when absent (a fresh machine)."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(tinygen.__file__)))
    for root in (os.getcwd(), repo):
        path = os.path.join(root, "..", "shared", "data", "images")
        if os.path.isdir(path):
            return os.path.normpath(path)
    return None


def resolve_dataset(spec: str) -> str:
    """``photos`` -> folder:../shared/data/images when present, else ``scenes``."""
    if spec != "photos":
        return spec
    path = shared_photos()
    return f"folder:{path}" if path else "scenes"


def load_photos(spec: str, exclude: str, split: str):
    """-> (float32 photos (H, W, 3) in [0, 1], names). scenes: drawn offline (8 train /
    2 test, 192 px; tinygen.methods.style_images.default_content)."""
    from tinygen.data.byo import load_photos as load
    if spec == "scenes":
        from tinygen.methods.style_images import default_content
        n, seed = (8, 0) if split == "train" else (2, 1000)
        return ([default_content(192, seed=seed + i) for i in range(n)],
                [f"scene{seed + i}" for i in range(n)])
    where = "--dataset" if split == "train" else "--test-dataset"
    if not spec.startswith(("folder:", "files:", "npz:")):
        raise ValueError(f"{where} {spec!r}: give photos, scenes, folder:PATH, "
                         "files:A.png,B.png or npz:PATH")
    return load(spec, exclude, where)


def load_data(config: Config):
    """(training photos, their names, test photos, test names): a folder less its held-out
    files, which are the test photos (unless --test-dataset)."""
    spec = resolve_dataset(config.dataset)
    train, names = load_photos(spec, config.held_out if spec.startswith("folder:") else "", "train")
    if config.test_dataset:
        test, test_names = load_photos(resolve_dataset(config.test_dataset), "", "test")
    elif spec == "scenes":
        test, test_names = load_photos("scenes", "", "test")
    else:
        held = [h.strip() for h in config.held_out.split(",") if h.strip()]
        folder = spec[len("folder:"):] if spec.startswith("folder:") else None
        files = [os.path.join(folder, h) for h in held] if folder else []
        files = [f for f in files if os.path.isfile(f)]
        if files:
            test, test_names = load_photos("files:" + ",".join(files), "", "test")
        else:                                # nothing held out: show a training photo
            test, test_names = train[-1:], [f"{names[-1]} (training photo)"]
    side = config.patch_size + int(config.max_blur) + 4
    small = [f"{n} ({im.shape[1]}x{im.shape[0]})" for n, im in zip(names, train)
             if min(im.shape[:2]) < side]
    if small:
        raise ValueError(f"--dataset {config.dataset}: photos smaller than a {side}-px crop "
                         f"(patch and blur margin): {', '.join(small[:3])}; lower --patch-size")
    return train, names, test, test_names


# ---------------------------------------------------------------- models and losses

def build_models(config: Config):
    """(G, D): the ResNet generator with ResOut (Fig. 3) and the PatchGAN critic."""
    G = ResNetGenerator(3, 3, ngf=config.ngf, n_blocks=config.g_blocks, n_down=2,
                        norm="instance", dropout=config.dropout, global_skip=True)
    D = PatchGANDiscriminator(3, ndf=config.ndf, n_layers=config.d_layers, norm="instance")
    return G.to(config.device), D.to(config.device)


def build_optimizers(config: Config, G, D):
    """Adam(1e-4, (0.5, 0.999)) for G and the critic, each with the constant-then-linear
    schedule (stepped once per G step)."""
    betas = (config.beta1, config.beta2)
    opt_g = optim.Adam(G.parameters(), lr=config.lr, betas=betas)
    opt_d = optim.Adam(D.parameters(), lr=config.lr, betas=betas)
    return (opt_g, opt_d,
            *R.constant_then_linear_schedulers(config.decay_from, config.steps, opt_g, opt_d))


def fallback_notice(reason: str = "") -> str:
    from tinygen.models.vgg import VGG19_WEIGHTS
    return (f"NOTICE: VGG19 weights ({VGG19_WEIGHTS}) not found{reason}; deblurgan's perceptual "
            "loss uses random multi-scale conv features instead of VGG19 conv3_3 (not the "
            f"paper's loss): `tinygen weights download {VGG19_WEIGHTS}` or --weights PATH")


def build_features(config: Config, log=print):
    """-> (phi, layers, kind): VGG19 up to relu3_3, or the random fallback's scales 0-2."""
    from tinygen.methods.style_transfer import vgg_weights_or_fallback
    from tinygen.models import vgg
    path = vgg_weights_or_fallback(config.features, config.weights, log, fallback_notice)
    if path is not None:
        phi, layers, kind = vgg.vgg19(weights=path), CONTENT_LAYERS, "vgg19"
    else:
        phi, layers, kind = vgg.RandomMultiScaleFeatures(scales=3), FALLBACK_LAYERS, "random"
    phi.requires_grad_(False)
    phi.eval()
    return phi.to(config.device), layers, kind


def perceptual_loss(phi, layers, y, sharp):
    """L_X (eq. 4): the mean squared difference of phi's feature maps of G(I_B) and I_S, on
    [0, 1] images (losses.perceptual_loss without SRGAN's 1/12.75 rescaling)."""
    return L.perceptual_loss(phi, (y + 1.0) * 0.5, (sharp + 1.0) * 0.5, layers, rescale=1.0)


def critic_step(config: Config, D, opt_d, sharp, y) -> dict:
    """Descend E D(G(I_B)) - E D(I_S) + lambda_gp E (||grad D(x_hat)|| - 1)^2 (WGAN-GP); the
    penalty is on the gradient of the summed patch scores, as the authors' code has it."""
    fake = y.detach()
    loss_w = L.d_loss_wasserstein(D(sharp), D(fake))                 # mean over patches
    gp = L.gradient_penalty(D, sharp, fake, config.lambda_gp)
    value = R.descend(loss_w + gp, opt_d)                            # double backward through D
    return {"loss_d": value, "gp": gp.detach(), "wasserstein": -loss_w.detach()}


def generator_step(config: Config, D, opt_g, phi, layers, y, sharp) -> dict:
    """Descend L = -E D(G(I_B)) + lambda_x L_X(G(I_B), I_S) (eq. 1); D is held fixed."""
    with R.frozen(D):
        l_gan = L.g_loss_wasserstein(D(y))
        l_x = perceptual_loss(phi, layers, y, sharp)
        value = R.descend(l_gan + config.lambda_x * l_x, opt_g)
    return {"loss_g": value, "loss_gan": l_gan.detach(), "loss_x": l_x.detach()}


def train_step(config: Config, G, D, opt_g, opt_d, phi, layers, blurred, sharp) -> dict:
    """One iteration of the authors' optimize_parameters: y = G(I_B) once, n_critic critic
    steps on that pair, one G step."""
    y = G(blurred)                                                   # (B, 3, p, p)
    for _ in range(config.n_critic):
        out = critic_step(config, D, opt_d, sharp, y)               # the last one is logged
    return {**out, **generator_step(config, D, opt_g, phi, layers, y, sharp)}


# ---------------------------------------------------------------- test time

def test_blur(config: Config):
    """The evaluation kernel: linear, ``test_length`` px at ``test_angle`` degrees."""
    return linear_kernel(config.test_length, config.test_angle)


def deblur(G, image, config: Config, seed: int = 0):
    """G on one whole photo float (H, W, 3) in [0, 1] -> float32 (H, W, 3) in [0, 1]: padded
    to a multiple of 4 (G's stride), run as at test time (pix2pix.translate), cropped back."""
    x = np.ascontiguousarray(image.transpose(2, 0, 1)[None] * 2.0 - 1.0, np.float32)
    h, w = x.shape[2:]
    y = pix2pix.translate(G, pad_to_multiple(x, 2 ** G.n_down), config, seed, batch=1)
    return np.clip((y[0, :, :h, :w].transpose(1, 2, 0) + 1.0) * 0.5, 0.0, 1.0)


def evaluate(G, photos, names, config: Config, seed: int = 0):
    """Per held-out photo: PSNR of the blurred input and of G's output against the sharp photo
    (8-bit blurred input, linear test kernel) -> (rows, outputs, blurred inputs)."""
    from tinygen.metrics.image_quality import psnr
    kernel = test_blur(config)
    rows, outputs, inputs = [], [], []
    for sharp, name in zip(photos, names):
        blurred = quantize(blur(sharp, kernel))
        out = deblur(G, blurred, config, seed)
        rows.append({"image": name, "psnr_blurred": psnr(sharp, blurred, data_range=1.0),
                     "psnr": psnr(sharp, out, data_range=1.0)})
        rows[-1]["psnr_gain"] = rows[-1]["psnr"] - rows[-1]["psnr_blurred"]
        outputs.append(out)
        inputs.append(blurred)
    return rows, outputs, inputs


def _means(rows) -> dict:
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "image"}


def frame(G, sharp, config: Config, size: int = 96, seed: int = 0):
    """blurred | deblurred | sharp, the centre crop of a test photo, (3, S, 3 S) in [0, 1]."""
    h, w = sharp.shape[:2]
    s = min(size, h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    crop = sharp[y0:y0 + s, x0:x0 + s]
    blurred = quantize(blur(crop, test_blur(config)))
    row = [blurred, deblur(G, blurred, config, seed), crop]
    return np.concatenate(row, axis=1).transpose(2, 0, 1)


# ---------------------------------------------------------------- the loop

def train(config: Config) -> str:
    """``tinygen run deblurgan``: the loop of the module docstring; returns the run folder."""
    log = (lambda *a: None) if config.quiet else (lambda *a: print(*a, flush=True))
    run = R.Run(config, "deblurgan")
    photos, _, test, test_names = load_data(config)
    pairs = BlurPairs(photos, config.kernels, config.max_blur, config.trajectory_iters)
    G, D = build_models(config)
    opt_g, opt_d, sched_g, sched_d = build_optimizers(config, G, D)
    phi, layers, _ = build_features(config, log)
    state = dict(G=G, D=D, opt_g=opt_g, opt_d=opt_d, sched_g=sched_g, sched_d=sched_d)
    seed = int(run.eval_rng.integers(2 ** 31))       # test-time dropout masks, every time
    start = run.resume(**state)
    title = f"deblurgan: blurred | deblurred | sharp ({test_names[0]}, centre, linear " \
            f"{config.test_length:g} px at {config.test_angle:g} deg)"
    if start == 0:
        run.save_grid(frame(G, test[0], config, seed=seed)[None], "deblur_000000.png", nrow=1,
                      value_range=(0.0, 1.0), title=f"{title}, before training")
    rows = outputs = None
    for step in run.steps(start):
        G.train()
        D.train()
        blurred, sharp = pairs.patches(config.batch_size, config.patch_size, run.data_rng,
                                       config.augment)              # (B, 3, p, p) in [0, 1]
        blurred = tinygen.tensor(blurred * 2.0 - 1.0, device=config.device)
        sharp = tinygen.tensor(sharp * 2.0 - 1.0, device=config.device)
        lr_now = opt_g.param_groups[0]["lr"]
        out = train_step(config, G, D, opt_g, opt_d, phi, layers, blurred, sharp)
        sched_g.step()
        sched_d.step()
        run.record(step, **out, lr=lr_now)
        if run.due(step, config.sample_every):
            run.save_grid(frame(G, test[0], config, seed=seed)[None], f"deblur_{step:06d}.png",
                          nrow=1, value_range=(0.0, 1.0), title=f"{title}, step {step}")
        evaluate_now = step == config.steps or bool(config.eval_every and
                                                    step % config.eval_every == 0)
        if run.due(step, config.log_every) or evaluate_now:
            extra = {}
            if evaluate_now:
                t0 = time.process_time()
                rows, outputs, _ = evaluate(G, test, test_names, config, seed)
                extra = {f"test_{k}": v for k, v in _means(rows).items()}
                extra.update({f"test_psnr_gain[{r['image']}]": r["psnr_gain"] for r in rows})
                extra["eval_cpu_s"] = round(time.process_time() - t0, 2)
            run.log(step, **extra)
        run.checkpoint(step, **state)
    if rows is None:                                 # resumed at the end: nothing left to train
        rows, outputs, _ = evaluate(G, test, test_names, config, seed)
    run.finish(**state)
    R.save_image_predictions(run.path("predictions.npz"), outputs, test_names)
    from tinygen.io.files import atomic_write_bytes
    import json
    atomic_write_bytes(run.path("eval.json"), json.dumps(
        {"test_kernel": {"length": config.test_length, "angle": config.test_angle},
         "images": rows, "mean": _means(rows)}, indent=2).encode())
    return run.dir


# ---------------------------------------------------------------- tinygen apply

def load_generator(config: Config, checkpoint: str):
    """G of a deblurgan checkpoint (its shape from the run's saved config)."""
    from tinygen.io.checkpoint import load_checkpoint, restore_state
    G = ResNetGenerator(3, 3, ngf=config.ngf, n_blocks=config.g_blocks, n_down=2,
                        norm="instance", dropout=config.dropout, global_skip=True)
    restore_state(load_checkpoint(checkpoint), checkpoint, G=G)
    return G.to(config.device)


def apply_run(config: Config, checkpoint: str, image, seed: int = 0):
    """``tinygen apply``: deblur one uint8 photo (H, W) or (H, W, 3) of any size -> uint8 of
    the same layout (a grey photo is deblurred as R = G = B and returned grey)."""
    image = np.asarray(image)
    rgb = np.repeat(image[..., None], 3, -1) if image.ndim == 2 else image[..., :3]
    out = deblur(load_generator(config, checkpoint), rgb.astype(np.float32) / 255.0, config,
                 seed)
    out = np.round(out * 255.0).astype(np.uint8)
    return out.mean(axis=-1).round().astype(np.uint8) if image.ndim == 2 else out


__all__ = ["Config", "PRESETS", "PRESET_DOCS", "default_preset", "build_models",
           "build_optimizers", "build_features", "perceptual_loss", "critic_step",
           "generator_step", "train_step", "load_data", "deblur", "evaluate", "train",
           "apply_run", "load_generator", "resolve_dataset"]
