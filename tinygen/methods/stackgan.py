"""StackGAN: text to image in two stages.

Zhang, Xu, Li, Zhang, Wang, Huang & Metaxas, "StackGAN: Text to Photo-realistic Image Synthesis
with Stacked Generative Adversarial Networks", ICCV 2017, arXiv:1612.03242. A caption t is
embedded (phi_t); conditioning augmentation draws the condition c_hat ~ N(mu(phi_t),
Sigma(phi_t)) (Sec. "Conditioning Augmentation"); Stage-I G0 draws a low-resolution image
from (z, c_hat0); Stage-II G1 redraws it at a higher resolution from (s0 = G0(z, c_hat0),
c_hat) (Sec. "Stage-II GAN"). Both Ds are matching-aware (after Reed et al. 2016's GAN-CLS):
a real image with a WRONG caption is a negative too, so D judges "real and matching the
text", and G must follow the text.

    L_D0 = E_(I0, t) log D0(I0, phi_t) + E_(z, t) log(1 - D0(G0(z, c_hat0), phi_t))
    L_G0 = E_(z, t) log(1 - D0(G0(z, c_hat0), phi_t)) + lambda KL(N(mu0, Sigma0) || N(0, I))
    L_D  = E_(I, t) log D(I, phi_t) + E_(s0, t) log(1 - D(G(s0, c_hat), phi_t))
    L_G  = E_(s0, t) log(1 - D(G(s0, c_hat), phi_t)) + lambda KL(N(mu, Sigma) || N(0, I))

lambda = 1 (Sec. "Implementation details"), the KL averaged over the N_g dimensions as the
authors' code does (:func:`kl_term`). D maximises, G minimises. As in the authors' code, D's
loss is the binary cross-entropy of real/right-text as 1 and, with weight 1/2 each,
real/wrong-text and fake/right-text as 0; G's adversarial term is the non-saturating
-log D(G(.), phi_t).
One iteration of :func:`train` (Stage-I for the first ``stage1_fraction`` of the steps, then
Stage-II with Stage-I fixed, as the paper trains them, Sec. "Implementation details"):

    (I, t) ~ data; wrong I_w = another image of the batch (its caption differs, mostly)
    Stage-I:  fake = G0(z, t) at side/2, I at side/2 (2 x 2 means)
    Stage-II: s0 = G0(z, t) (no gradient, G0 unchanged); fake = G1(s0, t) at side
    descend BCE(D(I, t), 1) + 1/2 [BCE(D(I_w, t), 0) + BCE(D(fake, t), 0)]   discriminator_step
    descend BCE(D(fake, t), 1) + lambda KL                                   generator_step

Adam, lr 0.0002 for G and D, beta1 0.5, batch 64 (Sec. "Implementation details"). Nets:
tinygen.models.stackgan_nets.

Departures (each also in its Config comment): the text encoder is learned (a word-embedding
table per net, mean-pooled over the caption's words) instead of the pretrained char-CNN-RNN;
16 px Stage-I and 32 px Stage-II instead of 64 and 256; narrower nets and a short schedule for
the CPU (the ``small`` preset; ``--preset paper`` keeps the paper's sizes); the learning rate is
not halved every 100 epochs (the budget is far shorter than 100 epochs).

Notation / Shapes:
    captions (m,) str -> bow (m, V) (tinygen.data.captions.Vocabulary); z (m, nz);
    I (m, C, S, S) in [-1, 1], I0 / s0 (m, C, S/2, S/2); c_hat, mu, logvar (m, N_g); logits (m, 1)
"""
from __future__ import annotations

import dataclasses
import os
from typing import Optional

import tinygen
from tinygen import optim
from tinygen import functional as F
from tinygen import losses as L
from tinygen.data.arrays import to_float_images, to_uint8_images
from tinygen.data.captions import Vocabulary, load_captions
from tinygen.methods import run as R
from tinygen.models.stackgan_nets import (Stage1Generator, Stage2Generator, StageDiscriminator,
                                          check_side)

np = R.np   # host arrays: the data, captions, predictions


@dataclasses.dataclass
class Config(R.RunConfig):
    """tinygen run stackgan: StackGAN (Zhang et al. 2017, arXiv:1612.03242)."""
    dataset: str = "digit-captions"    # captioned images: digit-captions ("red thick seven":
                                       # 3 colours x 2 stroke widths of synthetic digits, 32 px,
                                       # offline), npz:PATH (x, text) or folder:PATH (images
                                       # with same-named .txt captions)
    test_dataset: Optional[str] = None  # captions (npz: text, x optional) drawn once each into
                                       # predictions.npz (default: the built-in's test split)
    n_train: int = 0                   # training images to load (0 = all)
    steps: int = 150000                # iterations of both stages (the paper: 600 epochs each;
                                       # CUB's 8,855 images at batch 64 are ~83k a stage)
    stage1_fraction: float = 0.5       # the first steps train Stage-I, the rest Stage-II with
                                       # Stage-I fixed (the paper: 600 + 600 epochs)
    batch_size: int = 64               # m (the paper: 64)
    lr: float = 2e-4                   # Adam's learning rate for every G and D (the paper:
                                       # 0.0002; departure: not halved every 100 epochs; the
                                       # small preset: 5e-4, docs/stackgan.md)
    beta1: float = 0.5                 # Adam beta1 (the paper: 0.5)
    beta2: float = 0.999               # Adam beta2 (Adam's default; the paper names one beta)
    kl_lambda: float = 1.0             # lambda of the KL term (the paper: 1; the KL
                                       # is averaged over the N_g dimensions, as the authors'
                                       # code)
    nz: int = 100                      # N_z, the noise size (the paper: 100)
    c_dim: int = 128                   # N_g, the size of c_hat (the paper: 128)
    t_dim: int = 1024                  # phi_t's size (the paper's char-CNN-RNN: 1024; here a
                                       # learned word-embedding mean, departure)
    n_d: int = 128                     # N_d, D's compressed text size (the paper: 128)
    ngf: int = 64                      # G's channels at the Stage-I side (the paper: 64 at 64 px,
                                       # from 1024 at 4 x 4)
    ndf: int = 64                      # D's first conv channels (the paper: 64)
    n_res: int = 4                     # Stage-II residual blocks (the authors' code: 4)
    n_grid: int = 8                    # captions in each picture (one row each)
    log_every: int = 100               # steps between metrics.jsonl lines
    sample_every: int = 500            # steps between pictures
    checkpoint_every: int = 500        # steps between checkpoint.npz writes

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 < self.stage1_fraction < 1.0:
            raise ValueError(f"--stage1-fraction must lie in (0, 1) (both stages train), got "
                             f"{self.stage1_fraction}")
        if self.kl_lambda < 0:
            raise ValueError(f"--kl-lambda must be >= 0, got {self.kl_lambda}")
        for name in ("nz", "c_dim", "t_dim", "n_d", "ngf", "ndf", "n_grid"):
            R._check_positive(self, name)


PRESETS = {
    "paper": {},
    # A CPU budget of about 20 minutes on 32 x 32 images (docs/stackgan.md). Stage-I decides
    # the digit and costs a third of a Stage-II step, so it gets most of the steps; Stage-II
    # needs ~500 to get the stroke width right. Measured (all three words right): 2,400 steps
    # at 65 % 32.3 %, 3,000 at 80 % 54.0 %, 4,000 at 87.5 % 58.7 %, 4,000 at 90 % 44.8 % (the
    # width falls to 80 % with 400 Stage-II steps). Adam 5e-4 (the cGAN's measured rate on the
    # same digits, docs/cgan.md) instead of the paper's 2e-4: 58.7 / 69.5 / 64.8 % -> 68.4 /
    # 66.9 / 71.0 % at seeds 0 / 1 / 2 (71.6 % at seed 3).
    "small": dict(steps=4000, stage1_fraction=0.875, batch_size=32, lr=5e-4, ngf=32, ndf=32,
                  t_dim=64, n_res=2),
}
PRESET_DOCS = {
    "paper": "Implementation details: batch 64, Adam 2e-4 (0.5), N_g 128, N_z 100, N_d 128, "
             "1024-D phi_t, 600 + 600 epochs",
    "small": "a ~20-minute CPU budget on 32x32 images (departs from the paper): 4,000 "
             "iterations of batch 32 (3,500 Stage-I, 500 Stage-II, which costs 3x more a step), "
             "Adam 5e-4, ngf = ndf = 32, a 64-D word embedding, 2 residual blocks",
}


def default_preset(dataset: str) -> str:
    """``--preset auto``: the small CPU budget on every dataset (``--preset paper`` keeps the
    paper's sizes)."""
    return "small"


def stage1_steps(config: Config) -> int:
    """Iterations 1..stage1_steps train Stage-I, the rest Stage-II (a pure function of the
    config, so a resumed run is in the right stage)."""
    return max(1, min(config.steps - 1, int(round(config.stage1_fraction * config.steps))))


# ---------------------------------------------------------------------------- the models

def build_models(config: Config, vocab_size: int, channels: int, side: int) -> dict:
    """G0, D0 (Stage-I at side / 2), G1, D1 (Stage-II at side), on ``config.device``."""
    c = config
    nets = dict(
        G0=Stage1Generator(vocab_size, channels, side // 2, c.nz, c.t_dim, c.c_dim, c.ngf),
        D0=StageDiscriminator(vocab_size, channels, side // 2, c.t_dim, c.n_d, c.ndf),
        G1=Stage2Generator(vocab_size, channels, c.t_dim, c.c_dim, c.ngf, c.n_res),
        D1=StageDiscriminator(vocab_size, channels, side, c.t_dim, c.n_d, c.ndf))
    return {k: m.to(c.device) for k, m in nets.items()}


def build_optimizers(config: Config, nets: dict) -> dict:
    """Adam(2e-4, (0.5, 0.999)) for each of G0, D0, G1, D1: opt_G0, opt_D0, opt_G1, opt_D1."""
    betas = (config.beta1, config.beta2)
    return {f"opt_{k}": optim.Adam(m.parameters(), lr=config.lr, betas=betas)
            for k, m in nets.items()}


# ---------------------------------------------------------------------------- the losses

def matching_aware_d_loss(real_right, real_wrong, fake_right):
    """BCE(D(I, t), 1) + 1/2 [BCE(D(I_w, t), 0) + BCE(D(G(.), t), 0)]: the negative of the paper's
    L_D0 / L_D with the mismatched real pairs as a second kind of fake (the authors' code's
    weights). Logits (m, 1) each -> scalar."""
    ones = tinygen.ones_like(real_right)
    zeros = tinygen.zeros_like(real_wrong)
    return (F.binary_cross_entropy_with_logits(real_right, ones)
            + 0.5 * (F.binary_cross_entropy_with_logits(real_wrong, zeros)
                     + F.binary_cross_entropy_with_logits(fake_right, zeros)))


def kl_term(mu, logvar):
    """KL(N(mu(phi_t), diag(exp logvar)) || N(0, I)), the regulariser of L_G0 / L_G, averaged
    over the batch AND the N_g dimensions, as the authors' code does (its KL_loss is the mean
    of the per-element terms): the per-caption KL divided by N_g (mu, logvar (m, N_g) ->
    scalar). Summed over the dimensions instead, the KL (an upper bound on what c_hat can
    say about the caption) stayed at 1.6-4 nats in a 600-step run, below the ~4.1 nats that
    name one of the 60 digit captions, and its images showed the colour but not the digit."""
    return L.kl_normal_standard(mu, logvar).mean() / mu.shape[1]


# ---------------------------------------------------------------------------- one step

def discriminator_step(D, opt_d, real, wrong, fake, bow) -> dict:
    """Descend the matching-aware loss on (real, right text), (real of another caption, this
    text), (G's image, its text); ``fake`` is detached here."""
    loss = matching_aware_d_loss(D(real, bow), D(wrong, bow), D(fake.detach(), bow))
    return {"loss_d": R.descend(loss, opt_d)}


def generator_step(D, opt_g, fake, mu, logvar, bow, kl_lambda: float) -> dict:
    """Descend -log D(G(.), phi_t) + lambda KL (L_G0 / L_G, non-saturating)."""
    with R.frozen(D):
        adv = L.g_loss_nonsaturating(D(fake, bow))
        kl = kl_term(mu, logvar)
        R.descend(adv + kl_lambda * kl, opt_g)
    return {"loss_g": adv.detach(), "kl": kl.detach()}


def half_size(x):
    """Host images (N, C, S, S) -> (N, C, S/2, S/2), the mean of each 2 x 2 block: Stage-I's
    real images (the paper trains Stage-I on 64 x 64 versions of the images)."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def stage1_iteration(config: Config, nets, opts, real, wrong, bow) -> dict:
    """Stage-I: fake = G0(z, t) at side / 2, a D0 step, a G0 step."""
    z = R.sample_noise(real.shape[0], config.nz, real.device)              # (m, nz)
    fake, mu, logvar = nets["G0"](z, bow)                                  # (m, C, S/2, S/2)
    out = discriminator_step(nets["D0"], opts["opt_D0"], real, wrong, fake, bow)
    return {**out, **generator_step(nets["D0"], opts["opt_G0"], fake, mu, logvar, bow,
                                    config.kl_lambda)}


def stage2_iteration(config: Config, nets, opts, real, wrong, bow) -> dict:
    """Stage-II: s0 = G0(z, t) with G0 fixed, fake = G1(s0, t) at side, a D1 step, a G1 step."""
    z = R.sample_noise(real.shape[0], config.nz, real.device)              # (m, nz)
    with R.sampling(nets["G0"]):                                           # G0 stays as it is
        s0 = nets["G0"](z, bow)[0]                                         # (m, C, S/2, S/2)
    fake, mu, logvar = nets["G1"](s0, bow)                                 # (m, C, S, S)
    out = discriminator_step(nets["D1"], opts["opt_D1"], real, wrong, fake, bow)
    return {**out, **generator_step(nets["D1"], opts["opt_G1"], fake, mu, logvar, bow,
                                    config.kl_lambda)}


# ---------------------------------------------------------------------------- drawing

def draw(nets, bow, nz: int, device, rng, batch: int = 100):
    """Both stages for captions' bags of words (host (N, V)), z from ``rng``: host
    (s0 (N, C, S/2, S/2), I (N, C, S, S)) in [-1, 1]; the nets are left unchanged."""
    s0s, images = [], []
    with R.sampling(nets["G0"]), R.sampling(nets["G1"]):
        for start in range(0, len(bow), batch):
            b = tinygen.tensor(bow[start:start + batch], device=device)       # (n, V)
            n, c_dim = b.shape[0], nets["G0"].ca.c_dim
            z = R.sample_noise(n, nz, device, rng)                           # (n, nz)
            eps0, eps1 = (R.sample_noise(n, c_dim, device, rng) for _ in range(2))
            s0 = nets["G0"](z, b, eps0)[0]                 # CA's eps from rng too: drawing
            s0s.append(R.to_host(s0))                      # never moves the training stream
            images.append(R.to_host(nets["G1"](s0, b, eps1)[0]))
    return np.concatenate(s0s), np.concatenate(images)


def caption_rows(nets, vocab: Vocabulary, captions, nz: int, device, rng, per_row: int = 6,
                 stage2: bool = True, title: str = ""):
    """A picture with one row per caption (the caption above it): ``per_row`` Stage-I images
    (upsampled x2) and, with ``stage2``, the Stage-II images from the same z."""
    from tinygen.io import make_grid
    from tinygen.io.plot import titled
    bow = vocab.bag_of_words(np.repeat(np.asarray(captions), per_row))
    s0, images = draw(nets, bow, nz, device, rng)
    s0 = s0.repeat(2, axis=2).repeat(2, axis=3)                              # nearest x2
    rows = []
    for i, caption in enumerate(captions):
        part = slice(i * per_row, (i + 1) * per_row)
        tiles = np.concatenate([s0[part]] + ([images[part]] if stage2 else []))
        grid = make_grid(tiles, nrow=len(tiles), normalize=True, value_range=(-1.0, 1.0))
        rows.append(np.asarray(titled(grid, caption, size=11)))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255)
            for r in rows]
    how = (f"each row: {per_row} Stage-I images (x2) | Stage-II from the same z" if stage2
           else f"each row: {per_row} Stage-I images (x2); Stage-II not trained yet")
    return titled(np.concatenate(rows, 0), title, how)


# ---------------------------------------------------------------------------- data

def load_data(config: Config):
    """(train CaptionSet with images, test CaptionSet or None)."""
    train = load_captions(config.dataset, "train", config.seed, config.n_train)
    if train.x is None:
        raise ValueError(f"--dataset {config.dataset}: training needs images x beside the "
                         "captions")
    check_side(train.x.shape[1], f"--dataset {config.dataset}")
    if train.x.shape[1] != train.x.shape[2]:
        raise ValueError(f"--dataset {config.dataset}: the images are {train.x.shape[1]} x "
                         f"{train.x.shape[2]}; StackGAN here needs square images")
    test = None
    if config.test_dataset:
        test = load_captions(config.test_dataset, "test", config.seed)
    elif not config.dataset.startswith(("npz:", "folder:")):
        test = load_captions(config.dataset, "test", config.seed)
    return train, test


def run_vocabulary(run_dir: str) -> tuple:
    """(Vocabulary, (C, S)) saved in a run folder's vocabulary.json."""
    vocab = Vocabulary.load(os.path.join(run_dir, "vocabulary.json"))
    return vocab, tuple(vocab.extra["image_shape"])


def save_predictions(run, nets, vocab: Vocabulary, test, config: Config) -> str:
    """predictions.npz: ``x`` uint8 (N, S, S[, C]), one Stage-II image per test caption, and
    ``text`` the captions."""
    bow = vocab.bag_of_words(test.text, where=f"--test-dataset {test.name}: caption")
    _, images = draw(nets, bow, config.nz, config.device, np.random.default_rng(config.seed))
    path = run.path("predictions.npz")
    R.save_npz(path, x=to_uint8_images(images, (-1.0, 1.0)), text=np.asarray(test.text))
    return path


# ---------------------------------------------------------------------------- the run

def train(config: Config) -> str:
    """``tinygen run stackgan``: the loop of the module docstring; returns the run folder."""
    run = R.Run(config, "stackgan")
    data, test = load_data(config)
    vocab = Vocabulary.from_captions(data.text)
    if test is not None:                       # an unknown test word: one line, before training
        vocab.bag_of_words(test.text, where=f"--test-dataset {test.name}: caption")
    x = to_float_images(data.x, (-1.0, 1.0))                               # (N, C, S, S)
    x0 = half_size(x)                                                      # (N, C, S/2, S/2)
    bow_all = vocab.bag_of_words(data.text)                                # (N, V)
    channels, side = x.shape[1], x.shape[-1]
    nets = build_models(config, len(vocab), channels, side)
    opts = build_optimizers(config, nets)
    state = {**nets, **opts}
    shown = list((test if test is not None else data).text[:config.n_grid])
    n1 = stage1_steps(config)
    if config.resume:
        _check_same_split(n1, config)
    start = run.resume(**state)
    vocab.save(run.path("vocabulary.json"), image_shape=[channels, side], stage1_steps=n1)
    for step in run.steps(start):
        stage = 1 if step <= n1 else 2
        idx = run.data_rng.integers(0, len(x), config.batch_size)
        images = x0 if stage == 1 else x
        real = tinygen.tensor(images[idx], device=config.device)           # (m, C, s, s)
        wrong = tinygen.tensor(images[np.roll(idx, 1)], device=config.device)
        bow = tinygen.tensor(bow_all[idx], device=config.device)           # (m, V)
        iteration = stage1_iteration if stage == 1 else stage2_iteration
        run.record(step, **iteration(config, nets, opts, real, wrong, bow))
        if run.due(step, config.log_every):
            run.log(step, stage=stage)
        if run.due(step, config.sample_every) or step == n1:
            run.save_frame(caption_rows(nets, vocab, shown, config.nz, config.device,
                                        np.random.default_rng(config.seed), stage2=stage == 2,
                                        title=f"stackgan on {config.dataset}: step {step}, "
                                              f"stage {stage}"),
                           name=f"samples_{step:06d}.png")
        run.checkpoint(step, **state)
    run.finish(**state)
    picture = caption_rows(nets, vocab, shown, config.nz, config.device,
                           np.random.default_rng(config.seed),
                           title=f"stackgan on {config.dataset}: held-out captions"
                           if test is not None else f"stackgan on {config.dataset}")
    from tinygen.io import save_image
    save_image(np.asarray(picture), run.path("samples.png"))
    if test is not None:
        save_predictions(run, nets, vocab, test, config)
    run.write_report()
    return run.dir


def _check_same_split(n1: int, config: Config) -> None:
    """A resumed run must end Stage-I where the first part did (a longer --steps moves
    round(fraction * steps))."""
    saved = os.path.join(R.run_folder(config.resume), "vocabulary.json")
    before = Vocabulary.load(saved).extra.get("stage1_steps", n1)
    if before != n1:
        raise ValueError(f"--resume {config.resume}: --steps {config.steps} moves the end of "
                         f"Stage-I from step {before} to {n1}; pass --stage1-fraction "
                         f"{before / config.steps:.6g} to keep it at step {before}")


# ---------------------------------------------------------------------------- tinygen sample

def sample_run(config: Config, checkpoint: str, n: int, seed: int, text=None):
    """``tinygen sample``: n Stage-II images for the captions ``text`` (in turn), or for random
    captions of the training set (vocabulary.json) -> (x (n, C, S, S), (-1, 1), {"text": ...})."""
    from tinygen.io.checkpoint import restore_checkpoint
    vocab, (channels, side) = run_vocabulary(os.path.dirname(os.path.abspath(checkpoint)))
    rng = np.random.default_rng(seed)
    if text:
        captions = [text[i % len(text)] for i in range(n)]
    else:
        captions = [vocab.captions[i] for i in rng.integers(0, len(vocab.captions), n)]
    bow = vocab.bag_of_words(captions, where="--text: caption")
    nets = build_models(config, len(vocab), channels, side)
    restore_checkpoint(checkpoint, **nets)
    _, images = draw(nets, bow, config.nz, config.device, rng)
    return images, (-1.0, 1.0), {"text": np.asarray(captions)}


__all__ = ["Config", "PRESETS", "build_models", "build_optimizers", "matching_aware_d_loss",
           "kl_term", "discriminator_step", "generator_step", "stage1_iteration",
           "stage2_iteration", "stage1_steps", "half_size", "draw", "caption_rows", "load_data",
           "save_predictions", "train", "sample_run"]
