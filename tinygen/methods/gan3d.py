"""3D-GAN: Wu, Zhang, Xue, Freeman & Tenenbaum, "Learning a Probabilistic Latent Space of Object
Shapes via 3D Generative-Adversarial Modeling", NIPS 2016, arXiv:1610.07584.

The problem: generate 3-D objects. A shape is a voxel grid of occupancy (64^3 in the paper,
ShapeNet chairs, cars, sofas ...); G maps a latent z (200-D) to occupancy probabilities
with 3-D transposed convolutions, D judges volumes with 3-D convolutions (Sec. 3.1):

    L_3D-GAN = log D(x) + log(1 - D(G(z)))                                   (Eq. 1)

Training (Sec. 3.1, "Training details"), as the loop of ``train``:

    for each step:
        x ~ p_data (a batch of real volumes, blurred by 0.7 voxel here), z ~ p_z
        D's loss  -[log D(x) + log(1 - D(G(z)))] and its accuracy on this batch
        update D only if that accuracy <= 80 %   ("adaptive training": D learns
                                    faster than G, so it pauses)   discriminator_step()
        update G on -log D(G(z))  (Eq. 1's G term, non-saturating) generator_step()
        G_ema <- 0.999 G_ema + 0.001 G  (here; pictured and sampled) R.update_ema()
    Adam, lr 0.0025 for G and 1e-5 for D, beta 0.5, batch 100 (here: D 1e-3, batch 32)

Shapes (the miniature):
    z (N, 200) -> G -> x (N, 1, 16, 16, 16) occupancy probabilities in (0, 1)
    x -> D -> logit (N, 1);  the data: x in {0, 1}, ``npz:`` x (N, D, H, W) or the
    embedded ``solids`` (tinygen/data/voxels.py)
Nets: tinygen/models/gan3d_nets.py (the paper's Fig. 1, widths at side 64: 512-256-128-64).

Departures, each also in its Config comment: 16^3 grids instead of 64^3 (two stride-2
stages instead of four), narrower nets, a smaller batch and a larger lr for D on the CPU
(``--preset paper`` keeps the paper's widths 64, batch 100, D's lr 1e-5, 0/1 data and
no average); z ~ N(0, I) (the paper says only "a probabilistic latent space"); the
non-saturating G loss (as every DCGAN-style GAN); the real volumes blurred by a Gaussian of
0.7 voxel, so that D cannot tell G's soft occupancies from 0/1 solids by value
(``--real-blur 0`` for the paper's data); samples from a running average of G's weights
(ProGAN's; ``--ema-decay 0`` for G itself).
Samples: samples.npz ``x`` float32 (N, 16, 16, 16), the occupancy probabilities; the
pictures render the voxels above 0.5 (tinygen.io.plot.render_voxels).
"""
from __future__ import annotations

import dataclasses

import tinygen
from tinygen import optim
from tinygen import losses as L
from tinygen.data.voxels import SOLIDS, check_side, load_voxels
from tinygen.data.arrays import TrainingSet
from tinygen.io import save_image
from tinygen.methods import run as R
from tinygen.models.gan3d_nets import VoxelDiscriminator, VoxelGenerator

np = R.np


@dataclasses.dataclass
class Config(R.SamplingConfig):
    """3D-GAN (Wu et al. 2016, arXiv:1610.07584, Sec. 3.1)."""
    dataset: str = "solids"            # embedded 16^3 solids (cube, sphere, cylinder, cone, torus)
                                       # or npz:PATH, x (N, S, S, S) 0/1 (paper: ShapeNet 64^3)
    steps: int = 3000                  # generator steps (the CPU budget: ~7 min of one quiet core;
                                       # the score barely moves from 3,000 to 8,000 steps)
    batch_size: int = 32               # the paper: 100 (departure for CPU time; --preset paper)
    latent_dim: int = 200              # z in R^200, as the paper (z ~ N(0, I): the paper does
                                       # not name the distribution)
    ngf: int = 16                      # G's last hidden width (the paper: 64, i.e. 512 channels
                                       # at 4^3; departure for CPU time)
    ndf: int = 16                      # D's first width (the paper: 64; departure for CPU time)
    lr_g: float = 0.0025               # "learning rate of G to 0.0025", as the paper
    lr_d: float = 1e-3                 # departure: the paper's "10^-5" (--preset paper) leaves D
                                       # too weak at 16^3 with batch 32 (G fools it from step 20:
                                       # d_acc 0.2); 1e-3 with the 80 % rule keeps d_acc ~0.78
    beta1: float = 0.5                 # "beta = 0.5", as the paper
    beta2: float = 0.999               # Adam's default (the paper gives one beta)
    d_acc_max: float = 0.8             # adaptive training: D updated only when its accuracy
                                       # on the batch is <= this ("80%" in the paper)
    real_blur: float = 0.7             # departure: D sees the real volumes blurred by a Gaussian
                                       # of this std (voxels; 0: the paper's 0/1 volumes), so G's
                                       # soft occupancies cannot be told from solids by value;
                                       # at 0.7, > 0.5 gives back the solid (0.2 % of voxels differ)
    ema_decay: float = 0.999           # departure: pictures and samples come from a running
                                       # average of G's weights (as ProGAN, Sec. A.1; 0: G itself)
    n_samples: int = 512               # final samples in samples.npz
    log_every: int = 50                # steps between metrics.jsonl lines
    sample_every: int = 500            # steps between sample renders
    checkpoint_every: int = 500        # steps between checkpoint.npz writes

    def __post_init__(self):
        super().__post_init__()
        if not 0.5 <= self.d_acc_max <= 1.0:
            raise ValueError(f"--d-acc-max must lie in [0.5, 1] (1 = always update D), got "
                             f"{self.d_acc_max}")
        if self.real_blur < 0:
            raise ValueError(f"--real-blur must be >= 0 (0: no blur), got {self.real_blur}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"--ema-decay must be in [0, 1) (0: no average), got "
                             f"{self.ema_decay}")
        if self.domain_eval:
            raise ValueError("--domain-eval scores 2-D images; 3D-GAN's volumes are scored by "
                             "benchmarks/gan3d_quality.py (tinygen.metrics.voxels)")


# Without --preset: the CPU defaults above (batch 32, widths 16, D's lr 1e-3, 3,000 steps).
PRESETS = {"paper": dict(batch_size=100, ngf=64, ndf=64, lr_d=1e-5, real_blur=0.0,
                         ema_decay=0.0)}
PRESET_DOCS = {
    "paper": "Sec. 3.1: batch 100, widths 64 (512 channels at 4^3), Adam 0.0025 / 1e-5, beta "
             "0.5, 0/1 real volumes, samples from G itself",
}


def load_data(config: Config) -> TrainingSet:
    """The training volumes as float32 (N, 1, S, S, S): in {0, 1}, or blurred by
    :func:`blur_volumes` when ``config.real_blur`` > 0."""
    ds = load_voxels(config.dataset, "train", config.seed, config.n_train or None)
    check_side(ds.x, f"gan3d --dataset {config.dataset}")
    return TrainingSet(x=blur_volumes(ds.x, config.real_blur)[:, None])


def blur_volumes(x, sigma: float):
    """Each volume (N, S, S, S) convolved with an isotropic Gaussian of std ``sigma`` voxels
    (zero outside the grid), float32; ``sigma`` 0 returns x as float32.

    Departure from the paper (``--real-blur``): a real solid is exactly 0 or 1 in every voxel
    and G's sigmoid never is, so without it D can call a sample fake from its voxel values
    alone and G learns to saturate voxels rather than to draw shapes. Blurred by ~0.7 voxel,
    the real volumes have soft surfaces too, and thresholding them at 0.5 gives back the solid.
    """
    from scipy.ndimage import gaussian_filter
    x = np.asarray(x, np.float32)
    if sigma == 0:
        return x
    return np.stack([gaussian_filter(v, sigma, mode="constant") for v in x])   # float32 in, out


def build_models(config: Config, data) -> dict:
    """{G, D[, G_ema]}: VoxelGenerator / VoxelDiscriminator for the data's side, on
    ``config.device``; G_ema (when ``ema_decay`` > 0) starts as a copy of G."""
    side = data.shape[-1]

    def generator():
        return VoxelGenerator(config.latent_dim, side, config.ngf).to(config.device)
    models = {"G": generator(), "D": VoxelDiscriminator(side, config.ndf).to(config.device)}
    if config.ema_decay > 0:
        models["G_ema"] = generator()
        models["G_ema"].load_state_dict(models["G"].state_dict())
    return models


def build_optimizers(config: Config, G, D):
    """Adam(0.0025) for G, Adam(1e-5) for D, betas (0.5, 0.999): (opt_g, opt_d)."""
    betas = (config.beta1, config.beta2)
    return (optim.Adam(G.parameters(), lr=config.lr_g, betas=betas),
            optim.Adam(D.parameters(), lr=config.lr_d, betas=betas))


def discriminator_step(G, D, opt_d, x, nz: int, acc_max: float) -> dict:
    """-[log D(x) + log(1 - D(G(z)))]; descend only if D's accuracy on this batch <= acc_max."""
    z = R.sample_noise(x.shape[0], nz, x.device)                     # (m, nz)
    with tinygen.no_grad():
        x_fake = G(z)                                                # (m, 1, S, S, S)
    real, fake = D(x), D(x_fake)                                     # logits (m, 1)
    loss = L.d_loss_minimax(real, fake)
    correct = (R.to_host(real) > 0).sum() + (R.to_host(fake) < 0).sum()  # D > 1/2 ...
    accuracy = float(correct) / (2 * x.shape[0])                     # ... on x, < 1/2 on G(z)
    update = accuracy <= acc_max
    if update:
        R.descend(loss, opt_d)
    return {"loss_d": loss.detach(), "d_acc": accuracy, "d_updated": float(update)}


def generator_step(G, D, opt_g, m: int, nz: int, device) -> dict:
    """Descend -log D(G(z)) (Eq. 1's G term in its non-saturating form)."""
    z = R.sample_noise(m, nz, device)                                # (m, nz)
    return {"loss_g": R.descend(L.g_loss_nonsaturating(D(G(z))), opt_g)}


def picture(volumes, title: str, nrow: int = 8):
    """Renders of volumes (N, S, S, S) in a titled grid (a PIL image)."""
    from tinygen.io.plot import titled, voxel_grid
    return titled(voxel_grid(volumes, nrow=nrow, size=56), title,
                  "voxels with occupancy > 0.5, seen from above a corner")


def train(config: Config) -> str:
    """``tinygen run gan3d``: train for ``config.steps`` steps and return the run folder."""
    run = R.Run(config, "gan3d")
    data = load_data(config)
    nz = config.latent_dim
    models = build_models(config, data)
    G, D, G_ema = models["G"], models["D"], models.get("G_ema")
    shown = G_ema if G_ema is not None else G                       # what pictures and samples use
    opt_g, opt_d = build_optimizers(config, G, D)

    def frames(step, G, D, last):
        with R.sampling(shown):
            x = R.to_host(shown(monitor.z_fixed[:32]))[:, 0]           # (32, S, S, S)
        return picture(x, f"gan3d on {config.dataset}: samples, step {step}")

    state = dict(**models, opt_g=opt_g, opt_d=opt_d)
    monitor = R.GeneratorMonitor(run, data, nz, frames=frames, **state)
    for step in run.steps(monitor.resume()):
        x = R.real_batch(data.x, config.batch_size, run.data_rng, config.device)  # (m, 1, S^3)
        d_out = discriminator_step(G, D, opt_d, x, nz, config.d_acc_max)
        g_out = generator_step(G, D, opt_g, config.batch_size, nz, config.device)
        if G_ema is not None:
            R.update_ema(G_ema, G, config.ema_decay)
        monitor.step_done(step, **d_out, **g_out)
    run.finish(**state)
    x = R.generate(shown, config.n_samples, nz, config.device, run.eval_rng)[:, 0]  # (N, S^3)
    run.save_samples(x.astype(np.float32))
    save_image(np.asarray(picture(x[:32], f"gan3d on {config.dataset}: final samples")),
               run.path("samples.png"))
    return run.dir


def sample_run(config: Config, checkpoint: str, n: int, seed: int):
    """``tinygen sample``: n volumes (n, S, S, S) of occupancy probabilities; no value range
    (they are not images)."""
    from tinygen.io.checkpoint import load_checkpoint, restore_state
    side = load_voxels(config.dataset, "train", config.seed, 1).x[:, None]   # G's shape only:
    models = build_models(config, TrainingSet(x=side))                       # no blur needed
    state = load_checkpoint(checkpoint)
    if "G_ema" not in state:                          # a run made before --ema-decay
        models.pop("G_ema", None)
    restore_state(state, checkpoint, **models)
    G = models.get("G_ema", models["G"])
    x = R.generate(G, n, config.latent_dim, config.device, np.random.default_rng(seed))
    return x[:, 0].astype(np.float32), None


__all__ = ["Config", "PRESETS", "SOLIDS", "build_models", "build_optimizers",
           "discriminator_step", "generator_step", "train", "sample_run"]
