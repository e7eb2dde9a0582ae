"""pix2pix: Isola, Zhu, Zhou & Efros, "Image-to-Image Translation with Conditional Adversarial
Networks", CVPR 2017, arXiv:1611.07004.

A conditional GAN learns a map G: a -> b from aligned pairs (a, b). The objective (Sec. 3.1,
eqs. 1, 3 and 4; z is G's dropout, the paper's only noise):

    L_cGAN(G, D) = E_{a,b} log D(a, b) + E_{a,z} log(1 - D(a, G(a, z)))
    L_L1(G)      = E_{a,b,z} || b - G(a, z) ||_1
    G*           = arg min_G max_D  L_cGAN(G, D) + lambda L_L1(G),        lambda = 100

Training (Sec. 3.3), one step per pair batch:                                 train()
    draw (a, b) from the data; the same random jitter and mirroring for both  (App. 6.2)
    y = G(a)                                         (U-Net, models/translation.py)
    D step: descend 1/2 [BCE(D(a, b), 1) + BCE(D(a, y.detach()), 0)]   discriminator_step()
            ("we divide the objective by 2 while optimizing D")
    G step: descend BCE(D(a, y), 1) + lambda mean|b - y|              generator_step()
            (non-saturating: G maximises log D(a, G(a)) rather than minimising log(1 - D))
    Adam, lr 2e-4, beta1 0.5 for both
D is the PatchGAN (Sec. 3.2.2): one logit per N x N patch, averaged into the BCE; 70 x 70 at
256 px. At test time G runs "in exactly the same manner as during the training phase"
(dropout on, batch norm on the test batch's statistics): ``--test-mode train``.

Ablations (Table 1): ``--loss`` l1 (no D), cgan (no L1), gan (an unconditional D(b), no L1),
l1+gan (an unconditional D plus L1), l1+cgan (the paper's objective, the default).

Outputs besides the run contract: frames/translations_STEP.png (rows of input | output | target
on test pairs; step 0 is the "before" picture, the last step the "after" one), predictions.npz
(``x`` = G(a_i) for every test input, in the data's layout, uint8), the test PSNR of G(a) and of
the input itself against b, and the mean gradient magnitude (sharpness) of outputs and targets.

deblurgan (Kupyn et al. 2018) builds on this paper: its critic is the PatchGAN and it runs G
at test time as pix2pix does (dropout and instance norm on), through :func:`translate`.

Notation / Shapes: a (B, Ca, H, W) and b, y = G(a) (B, Cb, H, W) in [-1, 1];
D(a, b): (B, 1, H', W') logits.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
from typing import Literal, Optional

import tinygen
from tinygen import backend, optim
from tinygen import losses as L
from tinygen.data.arrays import to_float_images, to_uint8_images
from tinygen.data.paired import (
    EMBEDDED_PAIRS, jitter_size, load_paired, pad_to_multiple, random_crop_flip,
)
from tinygen.methods import run as R
from tinygen.models.translation import PatchGANDiscriminator, UNetGenerator, receptive_field

np = backend.numpy   # host arrays: the data, pictures, scores


@dataclasses.dataclass
class PairedConfig(R.RunConfig):
    """The data, test-time and picture options every paired-translation method shares
    (pix2pix, tpgan, pixeldtgan: :func:`load_data`, :func:`paired_loop`)."""
    dataset: str = "edges2digits"      # aligned pairs: edges2digits (offline, edge map ->
                                       # digit), npz:PATH (arrays a, b) or folder:PATH (A|B
                                       # side-by-side images, pix2pix's datasets)
    test_dataset: Optional[str] = None  # pairs translated at the end into predictions.npz
                                       # (b optional); default: the offline task's test split
    direction: Literal["AtoB", "BtoA"] = "AtoB"   # BtoA: translate b into a
    size: int = 0                      # resize every image to S x S (0: as they are)
    n_train: int = 0                   # first n training pairs (0: all; offline tasks: 3,000)
    n_test: int = 0                    # first n test pairs (0: all; offline tasks: 500)
    test_mode: Literal["train", "eval"] = "eval"   # G at test time: eval mode (running batch-
                                       # norm statistics) or as in training
    n_grid: int = 8                    # test pairs in each translations picture
    log_every: int = 100               # steps between metrics.jsonl lines
    sample_every: int = 500            # steps between translation pictures
    checkpoint_every: int = 500        # steps between checkpoint.npz writes

    def check_non_negative(self, *names: str) -> None:
        for name in names:
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got "
                                 f"{getattr(self, name)}")


@dataclasses.dataclass
class Config(PairedConfig):
    """pix2pix (Isola et al. 2017, arXiv:1611.07004): cGAN + lambda L1, U-Net G, PatchGAN D."""
    loss: Literal["l1+cgan", "l1", "cgan", "gan", "l1+gan"] = "l1+cgan"   # Table 1's rows:
                                       # the paper's cGAN + L1, or an ablation
    lambda_l1: float = 100.0           # lambda of the L1 term (the paper: 100)
    steps: int = 80000                 # the paper: 200 epochs (facades: 400 pairs, batch 1)
    batch_size: int = 1                # the paper: 1 (4 for some large sets)
    lr: float = 2e-4                   # Adam's learning rate for G and D (the paper: 2e-4)
    beta1: float = 0.5                 # Adam beta1 (the paper: 0.5)
    beta2: float = 0.999               # Adam beta2
    ngf: int = 64                      # U-Net filters of the first layer (the paper: 64)
    ndf: int = 64                      # PatchGAN filters of the first layer (the paper: 64)
    d_layers: int = 0                  # PatchGAN stride-2 layers; 0 = the largest patch at most
                                       # half the image side (256 px: 3, the paper's 70x70)
    norm: Literal["batch", "instance"] = "batch"   # the paper: batch norm (= instance norm at
                                       # batch size 1)
    dropout: float = 0.5               # dropout of G's 3 innermost decoder layers (the paper)
    test_mode: Literal["train", "eval"] = "train"   # G at test time: as in training (dropout,
                                       # test-batch statistics; the paper) or eval mode
    jitter: bool = True                # resize by 286/256 and random-crop back (the paper)
    flip: bool = True                  # random horizontal mirroring (the paper)

    def __post_init__(self):
        super().__post_init__()
        self.check_non_negative("lambda_l1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"--dropout must be in [0, 1), got {self.dropout}")


PRESETS = {
    "paper": dict(d_layers=3),
    # Measured in docs/pix2pix.md: about 7 minutes of one core at 32 x 32 (0.4 s a step).
    "small": dict(steps=1000, batch_size=16, ngf=32, ndf=32, jitter=False, flip=False,
                  sample_every=250, checkpoint_every=500),
}
PRESET_DOCS = {
    "paper": "the paper's settings (batch 1, 200 epochs' worth of steps, 70x70 PatchGAN)",
    "small": "a ~7-minute CPU budget (one core): batch 16, 1,000 steps, ngf = ndf = 32, no "
             "jitter or mirroring (digits are not mirror-symmetric)",
}


def default_preset(dataset: str) -> str:
    """``--preset auto``: the small CPU budget on every dataset (``--preset paper`` for the
    paper's)."""
    return "small"


# ---------------------------------------------------------------- data

def load_data(config: Config):
    """(train pairs, test pairs or None) as uint8 PairedImages (tinygen.data.paired); an
    offline task (edges2digits, rotdigits, clutterdigits) brings its own test split. Shared
    with the other paired-translation methods (tpgan, pixeldtgan), whose Configs have the same
    data fields."""
    size = config.size or None
    train = load_paired(config.dataset, "train", config.direction, config.n_train or None,
                        size, config.seed)
    test_spec = config.test_dataset or (config.dataset if config.dataset in EMBEDDED_PAIRS
                                        else None)
    test = None
    if test_spec:
        test = load_paired(test_spec, "test", config.direction, config.n_test or None, size,
                           config.seed, require_b=False)
        if test.a.shape[1:3] != train.a.shape[1:3]:
            raise ValueError(f"--test-dataset {test_spec}: images are {test.a.shape[1]}x"
                             f"{test.a.shape[2]} but the training pairs are {train.a.shape[1]}x"
                             f"{train.a.shape[2]}; pass --size S to bring both to S x S")
        for key, x, ref in (("a", test.a, train.a), ("b", test.b, train.b)):
            if x is not None and _channels(x) != _channels(ref):
                raise ValueError(f"--test-dataset {test_spec}: {key} has {_channels(x)} "
                                 f"channel(s) but the training {key} has {_channels(ref)}")
    return train, test


def _channels(x) -> int:
    return 1 if x.ndim == 3 else x.shape[-1]


def d_layers_for(side: int) -> int:
    """The largest PatchGAN whose receptive field is at most half the image side:
    256 -> 3 (70x70, the paper's), 128 -> 2 (34x34), 32 and 64 -> 1 (16x16)."""
    n = 0
    while receptive_field(n + 1) <= side // 2:
        n += 1
    return n


# ---------------------------------------------------------------- models

def conditional(config: Config) -> bool:
    """Does D see the input a beside b (cGAN) or b alone (the unconditional GAN ablation)?"""
    return "cgan" in config.loss


def build_models(config: Config, ca: int, cb: int, side: int):
    """(G, D) for Ca-channel inputs, Cb-channel targets and images of side ``side`` (the
    gcd of H and W); D is None for ``--loss l1``."""
    G = UNetGenerator(ca, cb, size=side, ngf=config.ngf, norm=config.norm,
                      dropout=config.dropout).to(config.device)
    if config.loss == "l1":
        return G, None
    d_in = ca + cb if conditional(config) else cb
    D = PatchGANDiscriminator(d_in, ndf=config.ndf, n_layers=config.d_layers or
                              d_layers_for(side), norm=config.norm).to(config.device)
    return G, D


def build_optimizers(config: Config, G, D):
    """Adam(lr 2e-4, betas (0.5, 0.999)) for G and for D (Sec. 3.3 / App. 6.2)."""
    betas = (config.beta1, config.beta2)
    opt_g = optim.Adam(G.parameters(), lr=config.lr, betas=betas)
    opt_d = None if D is None else optim.Adam(D.parameters(), lr=config.lr, betas=betas)
    return opt_g, opt_d


def _d(config: Config, D, a, b):
    return D(a, b) if conditional(config) else D(b)                 # (B, 1, H', W') logits


# ---------------------------------------------------------------- one step

def discriminator_step(config: Config, D, opt_d, a, b, y) -> dict:
    """Descend 1/2 [BCE(D(a, b), 1) + BCE(D(a, y), 0)] over every patch (y = G(a) detached)."""
    loss = 0.5 * L.d_loss_minimax(_d(config, D, a, b), _d(config, D, a, y.detach()))
    return {"loss_d": R.descend(loss, opt_d)}


def generator_step(config: Config, D, opt_g, a, b, y) -> dict:
    """Descend BCE(D(a, y), 1) + lambda mean |b - y| (each term as ``--loss`` asks)."""
    terms = {}
    if D is not None:
        terms["loss_g_gan"] = L.g_loss_nonsaturating(_d(config, D, a, y))
    if "l1" in config.loss:
        terms["loss_l1"] = tinygen.abs(b - y).mean()
    total = sum((config.lambda_l1 if k == "loss_l1" else 1.0) * v for k, v in terms.items())
    out = {k: v.detach() for k, v in terms.items()}
    return {"loss_g": R.descend(total, opt_g), **out}


def train_step(config: Config, G, D, opt_g, opt_d, a, b) -> dict:
    """One pix2pix iteration: y = G(a) once (one dropout draw), a D step, then a G step."""
    y = G(a)                                                        # (B, Cb, H, W)
    out = discriminator_step(config, D, opt_d, a, b, y) if D is not None else {}
    return {**out, **generator_step(config, D, opt_g, a, b, y)}


def paired_batch(a, b, m: int, rng, config: Config):
    """m random pairs (host float arrays (N, C, H, W)) -> two device tensors, jittered and
    mirrored alike when the config asks (App. 6.2)."""
    idx = rng.integers(0, len(a), m)
    xa, xb = a[idx], b[idx]
    if config.jitter or config.flip:
        xa, xb = _jittered(xa, xb, rng, config)
    return (tinygen.tensor(xa, device=config.device), tinygen.tensor(xb, device=config.device))


def _jittered(xa, xb, rng, config: Config):
    """Resize by 286/256 (bilinear, as the authors' code) then the same random crop and flip."""
    h, w = xa.shape[2:]
    if config.jitter:
        big = (jitter_size(h), jitter_size(w))
        xa, xb = _resize_batch(xa, big), _resize_batch(xb, big)
    return random_crop_flip([xa, xb], (h, w), rng, config.flip)


def _resize_batch(x, size):
    from scipy import ndimage
    zoom = (1, 1, size[0] / x.shape[2], size[1] / x.shape[3])
    return ndimage.zoom(x, zoom, order=1, mode="nearest", grid_mode=True).astype(np.float32)


# ---------------------------------------------------------------- test time

@contextlib.contextmanager
def test_time(G, mode: str, seed: int):
    """G as at test time, leaving the run untouched afterwards: ``train`` mode keeps dropout
    and batch statistics (the paper) with the dropout masks drawn from ``seed``; the global
    RNG, G's mode and its batch-norm buffers are restored on exit."""
    rng_state = backend.get_rng_state()
    buffers = {k: v.data.copy() for k, v in G.named_buffers()}
    was_training = G.training
    backend.manual_seed(seed)
    G.train(mode == "train")
    try:
        with tinygen.no_grad():
            yield G
    finally:
        for k, v in G.named_buffers():
            v.data[...] = buffers[k]
        G.train(was_training)
        backend.set_rng_state(rng_state)


def translate(G, a, config: Config, seed: int, batch: int = 64):
    """G(a) for host float inputs a (N, Ca, H, W) in [-1, 1] -> host float32 (N, Cb, H, W)."""
    out = []
    with test_time(G, config.test_mode, seed):
        for i in range(0, len(a), batch):
            y = G(tinygen.tensor(np.ascontiguousarray(a[i:i + batch]), device=config.device))
            out.append(R.to_host(y))
    return np.concatenate(out)


def _rgb(x, c: int):
    return np.repeat(x, 3, axis=1) if x.shape[1] == 1 and c == 3 else x


def picture(run, G, config: Config, a, b, step: int, seed: int) -> str:
    """frames/translations_STEP.png: one row per test pair, input | output | target."""
    y = translate(G, a, config, seed)
    cols = [a, y] + ([b] if b is not None else [])
    c = max(x.shape[1] for x in cols)
    tiles = np.stack([_rgb(x, c) for x in cols], axis=1)            # (n, 2 or 3, C, H, W)
    what = "input | output | target" if b is not None else "input | output"
    stage = "before training" if step == 0 else f"step {step}"
    title = f"{run.method} on {config.dataset}: {what} ({stage})"
    return run.save_grid(tiles.reshape((-1,) + tiles.shape[2:]), f"translations_{step:06d}.png",
                         nrow=len(cols), title=title)


# ---------------------------------------------------------------- scores

def mean_gradient_magnitude(x) -> float:
    """Sharpness: mean over pixels of sqrt(dx^2 + dy^2), forward differences of images in
    [0, 1] (any of (N, C, H, W) float; uint8 is divided by 255)."""
    x = np.asarray(x, np.float64) / (255.0 if np.asarray(x).dtype == np.uint8 else 1.0)
    dx, dy = np.diff(x, axis=-1)[..., :-1, :], np.diff(x, axis=-2)[..., :-1]
    return float(np.sqrt(dx * dx + dy * dy).mean())


def psnr_per_image(x, ref) -> float:
    """Mean over images of PSNR(x_i, ref_i) in dB, both in [0, 1] (N, C, H, W)."""
    mse = ((np.asarray(x, np.float64) - ref) ** 2).reshape(len(x), -1).mean(axis=1)
    return float(np.mean(10 * np.log10(1.0 / np.maximum(mse, 1e-10))))


def scores(a, y, b) -> dict:
    """test_psnr (G(a) vs b), test_psnr_input (a itself vs b, grey inputs repeated to b's
    channels), test_sharpness (mean gradient magnitude of G(a)) and of b; [-1, 1] inputs."""
    unit = [(x + 1.0) / 2.0 for x in (a, y, b)]
    ua, uy, ub = unit
    out = {"test_psnr": psnr_per_image(uy, ub), "test_sharpness": mean_gradient_magnitude(uy),
           "test_sharpness_target": mean_gradient_magnitude(ub)}
    if ua.shape[1] in (1, ub.shape[1]):
        out["test_psnr_input"] = psnr_per_image(_rgb(ua, ub.shape[1]), ub)
    return out


def predictions_layout(y, like):
    """Float (N, C, H, W) in [-1, 1] -> uint8 in the layout of the data array ``like``."""
    u = to_uint8_images(y, (-1.0, 1.0))                             # (N, H, W) or (N, H, W, C)
    return u[..., None] if like.ndim == 4 and u.ndim == 3 else u


# ---------------------------------------------------------------- the loop

def train(config: Config) -> str:
    """``tinygen run pix2pix``: train for ``config.steps`` steps; returns the run folder."""
    run = R.Run(config, "pix2pix")
    pairs, test = load_data(config)
    a, b = to_float_images(pairs.a, (-1.0, 1.0)), to_float_images(pairs.b, (-1.0, 1.0))
    side = math.gcd(a.shape[2], a.shape[3])
    G, D = build_models(config, a.shape[1], b.shape[1], side)
    opt_g, opt_d = build_optimizers(config, G, D)
    models = {"G": G, "opt_g": opt_g, **({"D": D, "opt_d": opt_d} if D is not None else {})}

    def one_step(step):
        xa, xb = paired_batch(a, b, config.batch_size, run.data_rng, config)
        return train_step(config, G, D, opt_g, opt_d, xa, xb)
    return paired_loop(run, config, G, models, one_step, pairs, test)


def paired_loop(run, config, G, models: dict, one_step, pairs, test, on_start=None,
                final_scores=None) -> str:
    """The training loop every paired-translation method shares (pix2pix, tpgan, pixeldtgan):
    resume, the "before" picture, ``one_step(step)`` (draws a batch, takes the method's
    steps, returns its losses) ``config.steps`` times with pictures, log lines and checkpoints, the
    test scores at the last step (plus ``final_scores(G(test a))``'s), predictions.npz.
    ``on_start()`` runs once before the first step of a fresh run (not on resume)."""
    if test is not None:
        ta = to_float_images(test.a, (-1.0, 1.0))
        tb = None if test.b is None else to_float_images(test.b, (-1.0, 1.0))
    else:                                   # no held-out pairs: show training pairs
        ta = to_float_images(pairs.a[:config.n_grid], (-1.0, 1.0))
        tb = to_float_images(pairs.b[:config.n_grid], (-1.0, 1.0))
    seed = int(run.eval_rng.integers(2 ** 31))     # the test-time dropout masks, every time
    show = (ta[:config.n_grid], None if tb is None else tb[:config.n_grid])
    start = run.resume(**models)
    if start == 0:
        if on_start is not None:
            on_start()
        picture(run, G, config, *show, 0, seed)
    final = None
    for step in run.steps(start):
        G.train()
        run.record(step, **one_step(step))
        if run.due(step, config.sample_every):
            picture(run, G, config, *show, step, seed)
        if run.due(step, config.log_every):
            extra = {}
            if step == config.steps:
                final = translate(G, ta, config, seed)
                extra = scores(ta, final, tb) if tb is not None else {}
                extra.update(final_scores(final) if final_scores is not None else {})
            run.log(step, **extra)
        run.checkpoint(step, **models)
    if final is None:                       # resumed at the end: nothing left to train
        final = translate(G, ta, config, seed)
    run.finish(**models)
    if test is not None:
        R.save_npz(run.path("predictions.npz"), x=predictions_layout(final, pairs.b))
    return run.dir


# ---------------------------------------------------------------- tinygen apply

def load_generator(config: Config, checkpoint: str):
    """G of a pix2pix checkpoint, its channels and depth read from the saved weights."""
    from tinygen.io.checkpoint import load_checkpoint, restore_state
    state = load_checkpoint(checkpoint)
    weights = state["G"]
    depth = len({k.split(".")[1] for k in weights if k.startswith("down.")})
    ca = weights["down.0.0.weight"].shape[1]                       # (ngf, Ca, 4, 4)
    cb = weights[f"up.{depth - 1}.1.weight"].shape[1]              # (2 ngf, Cb, 4, 4)
    G = UNetGenerator(ca, cb, ngf=config.ngf, norm=config.norm, dropout=config.dropout,
                      depth=depth)
    restore_state(state, checkpoint, G=G)
    return G.to(config.device)


def apply_run(config: Config, checkpoint: str, image, seed: int = 0):
    """``tinygen apply``: G(image) for one uint8 image (H, W) or (H, W, C) of any size ->
    uint8 in G's output channels ((H, W) for one). Grey / RGB inputs are converted to G's
    input channels; the image is reflection-padded to a multiple of 2^depth and cropped back.
    """
    G = load_generator(config, checkpoint)
    return apply_generator(G, config, image, seed, G.in_channels, 2 ** G.depth)


def apply_generator(G, config, image, seed: int, ca: int, step: int):
    """G(image) for one uint8 image of any size, through :func:`translate`: converted to
    ``ca`` channels, padded to multiples of ``step`` (G's downsampling) and cropped back.
    The tail of every paired-translation method's ``apply_run`` (tpgan, pixeldtgan too)."""
    x = to_float_images(np.asarray(image)[None], (-1.0, 1.0))      # (1, C, H, W)
    if x.shape[1] != ca:
        x = x.mean(axis=1, keepdims=True) if ca == 1 else np.repeat(x[:, :1], ca, axis=1)
    h, w = x.shape[2:]
    y = translate(G, pad_to_multiple(x, step), config, seed)[:, :, :h, :w]
    return to_uint8_images(y, (-1.0, 1.0))[0]


__all__ = ["Config", "PairedConfig", "PRESETS", "build_models", "build_optimizers", "discriminator_step",
           "generator_step", "train_step", "translate", "scores", "train", "load_data",
           "d_layers_for", "mean_gradient_magnitude", "psnr_per_image", "apply_run",
           "load_generator", "apply_generator", "picture", "predictions_layout", "paired_loop"]
