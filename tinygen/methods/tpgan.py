"""TP-GAN: Huang, Zhang, Li & He, "Beyond Face Rotation: Global and Local Perception GAN for
Photorealistic and Identity Preserving Frontal View Synthesis", ICCV 2017, arXiv:1704.04086.

A profile face I^P is turned into its frontal view I^pred = G(I^P) by a two-pathway generator
(a global encoder-decoder and local ones on landmark patches, fused; models/zoo_nets.py)
trained on pairs (I^P, I^gt) with a weighted sum of five losses (Sec. 3.3, eq. 7):

    L_syn = L_pixel + lambda_1 L_sym + lambda_2 L_adv + lambda_3 L_ip + lambda_4 L_tv
    L_pixel = mean | I^pred - I^gt |                         (eq. 3, the paper: several scales)
    L_sym   = mean | I^pred - mirror(I^pred) |                (eq. 4, losses.symmetry_loss)
    L_adv   = - mean log D(I^pred)                            (eq. 5, non-saturating)
    L_ip    = mean | phi(I^pred) - phi(I^gt) |                (eq. 6, phi: a pretrained
                                                               recognition net's features)
    L_tv    = total variation of I^pred                       (the paper's regulariser)
    lambda_1..4 = 0.3, 1e-3, 3e-3, 1e-4                       (the paper, Sec. 4)
D learns to tell real frontal images from I^pred: descend BCE(D(I^gt), 1) + BCE(D(I^pred), 0).

Training, one step per batch of pairs:                                         train()
    I^pred = G(I^P)
    D step: descend L_D                                           discriminator_step()
    G step: descend L_syn                                         generator_step()
    Adam, lr 2e-4, beta1 0.5 for both (tinygen's choice: pix2pix's settings)

The miniature: rotated digits -> upright digits (rotdigits, offline; npz:PATH with a, b and
optionally y). Departures, each flagged where it lives:
  * the local pathway works on the four quadrants, not on facial landmarks (zoo_nets.py);
  * phi is a LeNet trained at the start of the run on the training targets and their labels
    y (the paper's Light CNN is trained beforehand on another face set: a recognition net
    trained on other data is faithful to it, so ``--identity-dataset`` can name one); its
    penultimate features only (the paper: the last two layers);
  * L_sym is off by default (--lambda-sym 0; the paper 0.3): digits are not mirror-symmetric,
    and on real MNIST digits L_sym of the true targets is about as large as L_pixel of a good
    output (docs/tpgan.md), so the term pulls outputs away from their targets. ``--preset
    paper`` turns it on;
  * L_tv is losses.total_variation_loss, the squared form (the paper's sums absolute
    differences), so gradients have no kink;
  * no Laplacian-space symmetry nor the multi-scale pixel loss.

Outputs as pix2pix (whose paired-translation plumbing this reuses: load_data, translate,
picture, scores, predictions_layout, apply_generator): frames/translations_STEP.png (input |
output | target), predictions.npz ``x`` for the test inputs, the test PSNR of G(a) and of a.

Notation / Shapes: a = I^P (B, Ca, H, W), b = I^gt and y = I^pred (B, Cb, H, W) in [-1, 1];
phi((y + 1) / 2): (B, 128); D(y): (B, 1, H', W') logits.
"""
from __future__ import annotations

import dataclasses
import math

import tinygen
from tinygen import backend, optim
from tinygen import losses as L
from tinygen.data.arrays import to_float_images
from tinygen.methods import pix2pix
from tinygen.methods import run as R
from tinygen.models.lenet import LeNet
from tinygen.models.translation import PatchGANDiscriminator
from tinygen.models.zoo_nets import TwoPathwayGenerator

np = backend.numpy   # host arrays: the data, pictures, scores


@dataclasses.dataclass
class Config(pix2pix.PairedConfig):
    """TP-GAN (Huang et al. 2017, arXiv:1704.04086): two-pathway G, pixel + symmetry +
    adversarial + identity + TV losses."""
    dataset: str = "rotdigits"         # aligned pairs: rotdigits (offline: a synthetic digit
                                       # turned +-30..75 deg -> upright), npz:PATH (arrays a,
                                       # b, optional labels y) or folder:PATH (A|B images)
    lambda_sym: float = 0.0            # lambda_1, symmetry loss (the paper: 0.3 for faces;
                                       # 0 here: digits are not mirror-symmetric, a departure)
    lambda_adv: float = 1e-3           # lambda_2, adversarial loss (the paper: 1e-3)
    lambda_ip: float = 3e-3            # lambda_3, identity-preserving loss (the paper: 3e-3)
    lambda_tv: float = 1e-4            # lambda_4, total variation (the paper: 1e-4)
    identity_dataset: str = "auto"     # what phi (a LeNet) is trained on: auto = the training
                                       # targets b with their labels y; or a labelled set
                                       # (digits, mnist, npz:PATH with x, y) at the pairs' size
    identity_steps: int = 300          # Adam steps of phi's training (batch 64; a tinygen
                                       # choice: ~98% on held-out digits)
    steps: int = 1000                  # G steps (the paper trains on Multi-PIE, no count
                                       # given; the small preset's budget)
    batch_size: int = 16               # pairs per step (the paper: not given; tinygen's choice)
    lr: float = 2e-4                   # Adam's learning rate for G and D (pix2pix's; the
                                       # paper gives none)
    beta1: float = 0.5                 # Adam beta1 (pix2pix's)
    beta2: float = 0.999               # Adam beta2
    ngf: int = 32                      # global pathway's first filters (a miniature's width)
    nlf: int = 16                      # each local pathway's first filters
    features: int = 16                 # channels each pathway hands to the fusion convs
    ndf: int = 32                      # PatchGAN D's first filters
    sample_every: int = 250            # steps between translation pictures

    def __post_init__(self):
        super().__post_init__()
        self.check_non_negative("lambda_sym", "lambda_adv", "lambda_ip", "lambda_tv")
        R._check_positive(self, "identity_steps")


PRESETS = {
    "paper": dict(lambda_sym=0.3),
    "small": dict(),
}
PRESET_DOCS = {
    "paper": "the paper's loss weights, symmetry included (lambda_1 = 0.3)",
    "small": "a ~10-minute CPU budget (one core): batch 16, 1,000 steps, small pathways, "
             "no symmetry loss (digits are not mirror-symmetric)",
}


def default_preset(dataset: str) -> str:
    """``--preset auto``: the small CPU budget without the symmetry loss on every dataset."""
    return "small"


# ---------------------------------------------------------------- models

def build_models(config: Config, ca: int, cb: int, side: int):
    """(G, D): the two-pathway generator and an unconditional PatchGAN on frontal images."""
    G = TwoPathwayGenerator(ca, cb, size=side, ngf=config.ngf, nlf=config.nlf,
                            features=config.features).to(config.device)
    D = PatchGANDiscriminator(cb, ndf=config.ndf, n_layers=pix2pix.d_layers_for(side)
                              ).to(config.device)
    return G, D


def build_optimizers(config: Config, G, D):
    betas = (config.beta1, config.beta2)
    return (optim.Adam(G.parameters(), lr=config.lr, betas=betas),
            optim.Adam(D.parameters(), lr=config.lr, betas=betas))


def identity_data(config: Config, pairs, side: int):
    """(x float32 (N, Cb, H, W) in [0, 1], y int64) to train phi on (``--identity-dataset``)."""
    from tinygen.data import load_dataset
    from tinygen.metrics.domain import to_unit_nchw
    if config.identity_dataset == "auto":
        if pairs.y is None:
            raise ValueError(f"--dataset {config.dataset}: no labels y to train the identity "
                             "network phi on; save the npz with an array y (the class of each "
                             "pair), pass --identity-dataset digits (or another labelled set), "
                             "or turn the identity loss off with --lambda-ip 0")
        return to_unit_nchw(pairs.b), pairs.y
    ds = load_dataset(config.identity_dataset, split="train", data_dir=config.data_dir,
                      seed=config.seed, size=side)
    if getattr(ds, "y", None) is None:
        raise ValueError(f"--identity-dataset {config.identity_dataset}: it has no labels y; "
                         "phi is a classifier, so it needs a labelled set (digits, mnist, "
                         "npz:PATH with arrays x and y)")
    return to_unit_nchw(ds.x, channels=1 if pairs.b.ndim == 3 else 3), np.asarray(ds.y)


def build_identity_net(config: Config, x, y):
    """phi: a LeNet for x's shape (not trained yet; :func:`train_identity_net`), frozen."""
    return LeNet(x.shape[1], int(y.max()) + 1, x.shape[2]).to(config.device).requires_grad_(False)


def train_identity_net(config: Config, phi, x, y) -> None:
    """Cross-entropy on (x, y) with Adam (metrics.domain.fit_classifier), then frozen: the
    paper's Light CNN is fixed while TP-GAN trains."""
    from tinygen.metrics.domain import DomainConfig, fit_classifier
    phi.requires_grad_(True)
    fit_classifier(phi, x, y, DomainConfig(steps=config.identity_steps, seed=config.seed),
                   config.device)
    phi.requires_grad_(False)


def identity_accuracy(config: Config, phi, y_img, labels) -> float:
    """Fraction of images (float (N, C, H, W) in [-1, 1]) that phi reads as ``labels``."""
    hits = []
    with tinygen.no_grad():
        for i in range(0, len(y_img), 200):
            x = tinygen.tensor((y_img[i:i + 200] + 1.0) / 2.0, device=config.device)
            hits.append(R.to_host(phi(x)).argmax(1) == labels[i:i + 200])
    return float(np.concatenate(hits).mean())


# ---------------------------------------------------------------- one step

def discriminator_step(config: Config, D, opt_d, b, y) -> dict:
    """Descend BCE(D(I^gt), 1) + BCE(D(I^pred), 0) over every patch (I^pred detached)."""
    return {"loss_d": R.descend(L.d_loss_minimax(D(b), D(y.detach())), opt_d)}


def generator_step(config: Config, D, phi, opt_g, b, y) -> dict:
    """Descend L_syn = L_pixel + l1 L_sym + l2 L_adv + l3 L_ip + l4 L_tv (eq. 7); terms whose
    weight is 0 are skipped (and not logged)."""
    terms = {"loss_pixel": (1.0, lambda: tinygen.abs(y - b).mean()),
             "loss_sym": (config.lambda_sym, lambda: L.symmetry_loss(y)),
             "loss_adv": (config.lambda_adv, lambda: L.g_loss_nonsaturating(D(y))),
             "loss_ip": (config.lambda_ip, lambda: identity_loss(phi, y, b)),
             "loss_tv": (config.lambda_tv, lambda: L.total_variation_loss(y))}
    values = {k: (w, f()) for k, (w, f) in terms.items() if w > 0}
    total = sum(w * v for w, v in values.values())
    return {"loss_g": R.descend(total, opt_g),
            **{k: v.detach() for k, (_, v) in values.items()}}


def identity_loss(phi, y, b):
    """L_ip = mean | phi(I^pred) - phi(I^gt) | on phi's penultimate features (eq. 6; images
    mapped from [-1, 1] to the [0, 1] phi was trained on). Shapes: (B, C, H, W) -> scalar."""
    return tinygen.abs(phi.features((y + 1.0) * 0.5) - phi.features((b + 1.0) * 0.5)).mean()


def train_step(config: Config, G, D, phi, opt_g, opt_d, a, b) -> dict:
    """One TP-GAN iteration: I^pred = G(I^P) once, a D step, then a G step."""
    y = G(a)                                                        # (B, Cb, H, W)
    return {**discriminator_step(config, D, opt_d, b, y),
            **generator_step(config, D, phi, opt_g, b, y)}


def random_pairs(a, b, m: int, rng, device):
    """m random pairs of host float arrays (N, C, H, W) -> two device tensors."""
    idx = rng.integers(0, len(a), m)
    return tinygen.tensor(a[idx], device=device), tinygen.tensor(b[idx], device=device)


# ---------------------------------------------------------------- the loop

def train(config: Config) -> str:
    """``tinygen run tpgan``: phi first, then ``config.steps`` TP-GAN steps; the run folder
    (pix2pix.paired_loop's: pictures, logs, checkpoints, scores, predictions.npz)."""
    run = R.Run(config, "tpgan")
    pairs, test = pix2pix.load_data(config)
    a, b = to_float_images(pairs.a, (-1.0, 1.0)), to_float_images(pairs.b, (-1.0, 1.0))
    side = math.gcd(a.shape[2], a.shape[3])
    G, D = build_models(config, a.shape[1], b.shape[1], side)
    opt_g, opt_d = build_optimizers(config, G, D)
    x_id, y_id = identity_data(config, pairs, side) if config.lambda_ip > 0 else (None, None)
    phi = None if x_id is None else build_identity_net(config, x_id, y_id)
    models = {"G": G, "D": D, "opt_g": opt_g, "opt_d": opt_d,
              **({"phi": phi} if phi is not None else {})}

    def one_step(step):
        xa, xb = random_pairs(a, b, config.batch_size, run.data_rng, config.device)
        return train_step(config, G, D, phi, opt_g, opt_d, xa, xb)

    def final_scores(y):
        if phi is None or test is None or test.y is None:
            return {}
        return {"test_identity_accuracy": identity_accuracy(config, phi, y, test.y)}

    def on_start():
        if phi is not None:
            train_identity_net(config, phi, x_id, y_id)
    return pix2pix.paired_loop(run, config, G, models, one_step, pairs, test, on_start,
                               final_scores)


# ---------------------------------------------------------------- tinygen apply

def load_generator(config: Config, checkpoint: str):
    """G of a tpgan checkpoint (its channels read from the saved weights, its widths from the
    run's config)."""
    from tinygen.io.checkpoint import load_checkpoint, restore_state
    state = load_checkpoint(checkpoint)
    weights = state["G"]
    depth = len({k.split(".")[2] for k in weights if k.startswith("global_path.down.")})
    local_depth = len({k.split(".")[3] for k in weights
                       if k.startswith("local_paths.0.down.")})
    ca = weights["global_path.down.0.0.weight"].shape[1]           # (ngf, Ca, 4, 4)
    cb = weights["fuse.3.weight"].shape[0]                           # (Cb, ngf, 3, 3)
    G = TwoPathwayGenerator(ca, cb, ngf=config.ngf, nlf=config.nlf, features=config.features,
                            depth=depth, local_depth=local_depth)
    restore_state(state, checkpoint, G=G)
    return G.to(config.device)


def apply_run(config: Config, checkpoint: str, image, seed: int = 0):
    """``tinygen apply``: G(image) for one uint8 image of any size (padded to a multiple of
    G's downsampling, cropped back), as pix2pix.apply_generator does it."""
    G = load_generator(config, checkpoint)
    return pix2pix.apply_generator(G, config, image, seed, G.in_channels, G.multiple)


__all__ = ["Config", "PRESETS", "build_models", "build_optimizers", "discriminator_step",
           "generator_step", "identity_loss", "train_step", "train", "apply_run",
           "load_generator", "identity_data", "train_identity_net"]
