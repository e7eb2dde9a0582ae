"""StyleGAN: Karras, Laine & Aila, "A Style-Based Generator Architecture for Generative
Adversarial Networks", arXiv:1812.04948 (CVPR 2019), in miniature (32 px, CPU budget).

The generator maps z to an intermediate latent w and feeds w to every layer as a style
(tinygen/models/stylegan_nets.py has the diagram); the training is the non-saturating GAN
with the R1 penalty on reals and style-mixing regularisation (Sec. 3.1, 4, App. C):

    for each step:                                                          train()
        D step:                                                             discriminator_step()
            x ~ p_data; z (and z_2 with probability 0.9, crossover k ~ U{1..L-1})
            L_D = softplus(D(G(z))) + softplus(-D(x))                       (= d_loss_minimax)
            every r1_every steps: + r1_every * gamma/2 E ||grad_x D(x)||^2  (R1, lazy)
        G step:                                                             generator_step()
            z (z_2, k as above);  L_G = softplus(-D(G(z)))                  (non-saturating)
            w_avg <- 0.995 w_avg + 0.005 mean(w)                            (for truncation)
    Adam(lr 0.001, betas (0, 0.99), eps 1e-8) for both; the mapping network's lr x 0.01

At the end (finish()): samples.npz, ``mixing.npz`` (``x_coarse``, ``x_fine``, ``x_mix``: x_mix
takes the 4 and 8 px styles of x_coarse's w and the 16 px-and-up styles of x_fine's w, one
fixed noise for all three), and the pictures mixing.png (coarse / middle / fine rows),
truncation.png (psi sweep) and noise.png (noise per layer group, and its pixel std).

Departures (each also flagged in its Config comment): no progressive growing (StyleGAN2's
choice; StyleGAN1 grows as ProGAN does); widths 8-64 instead of 512; a 4-layer mapping
network of width 64 (paper: 8 x 512; ``--preset paper``); lazy R1 every 4 steps (StyleGAN2,
Sec. 3.1; StyleGAN1: every step); bilinear up-sampling without the extra low-pass filter.
"""
from __future__ import annotations

import dataclasses

import tinygen
from tinygen import backend, optim
from tinygen import losses as L
from tinygen.data import resize_images
from tinygen.data.arrays import load_training_set, to_float_images, to_uint8_images
from tinygen.methods import run as R
from tinygen.models.stylegan_nets import StyleDiscriminator, StyleGenerator, default_widths

np = backend.numpy   # host arrays: samples, pictures


@dataclasses.dataclass
class Config(R.SamplingConfig):
    """StyleGAN (Karras et al. 2019, arXiv:1812.04948, Sec. 2-4 and App. C)."""
    dataset: str = "digits"            # any images (digits, mnist, shapes, npz:PATH, folder:PATH),
                                       # resized to --resolution
    resolution: int = 32               # output side R, a power of two (the paper: 1024)
    z_dim: int = 64                    # z and w size (paper: 512)
    w_dim: int = 64                    # w size (paper: 512)
    mapping_layers: int = 4            # FC layers of the mapping network (paper: 8)
    mapping_lr_mul: float = 0.01       # the mapping network's learning-rate multiplier (App. C)
    fmap_base: int = 256               # width at r px: min(fmap_max, fmap_base / r), so 64, 32,
                                       # 16, 8 at 4, 8, 16, 32 px (paper: 8192, 512 at most)
    fmap_max: int = 64                 # widest layer (paper: 512)
    modulated: bool = False            # StyleGAN2's weight (de)modulation instead of AdaIN
                                       # (arXiv:1912.04958, Sec. 2.2; not in StyleGAN1)
    style_mixing: float = 0.9          # probability of mixing two latents in a batch (Sec. 3.1)
    r1_gamma: float = 0.1              # R1 weight gamma (App. C: 10 on FFHQ at 1024 px;
                                       # StyleGAN2-ADA: 0.01 on 32 px CIFAR-10)
    r1_every: int = 16                 # lazy R1: every k D steps, weighted by k (StyleGAN2
                                       # Sec. 3.1; StyleGAN1: 1, every step)
    w_avg_beta: float = 0.995          # decay of the tracked mean w_avg (truncation trick)
    truncation_psi: float = 1.0        # psi of samples.npz and sample_run (1: no truncation)
    batch_size: int = 32               # minibatch (paper: 256 at low res down to 32 at 1024)
    lr: float = 2e-3                   # Adam learning rate (App. C: 0.001 up to 128 px;
                                       # StyleGAN2: 0.002)
    beta1: float = 0.0                 # Adam beta1 (App. C: 0)
    beta2: float = 0.99                # Adam beta2 (App. C: 0.99)
    n_mixing: int = 500                # triples in mixing.npz
    n_samples: int = 2560              # samples.npz holds n_samples / 5 (>= 512) images
    steps: int = 1800                  # G steps (paper: 25M images; here ~20 CPU minutes at
                                       # ~0.68 s per step, one BLAS thread)
    log_every: int = 100               # steps between metrics.jsonl lines
    sample_every: int = 500            # steps between sample grids

    def __post_init__(self):
        super().__post_init__()
        for name in ("resolution", "z_dim", "w_dim", "r1_every", "fmap_base", "fmap_max",
                     "n_mixing"):
            R._check_positive(self, name)
        if self.resolution < 8 or self.resolution & (self.resolution - 1):
            raise ValueError(f"--resolution must be a power of two >= 8 (coarse styles are the "
                             f"4 and 8 px layers), got {self.resolution}")
        if not 0.0 <= self.style_mixing <= 1.0:
            raise ValueError(f"--style-mixing is a probability in [0, 1], got {self.style_mixing}")
        if self.mapping_layers < 1:
            raise ValueError(f"--mapping-layers must be >= 1, got {self.mapping_layers}")


PRESETS = {
    "paper": dict(z_dim=512, w_dim=512, mapping_layers=8, fmap_base=8192, fmap_max=512,
                  r1_every=1, r1_gamma=10.0, lr=1e-3),
}
PRESET_DOCS = {
    "paper": "App. C: z, w in R^512, 8 mapping layers, widths up to 512, Adam 0.001, R1 "
             "gamma 10 every step (far beyond a CPU budget at any resolution)",
}


# ---------------------------------------------------------------- data and models

def load_images(config: Config):
    """(training set, z size): any image dataset in [-1, 1], resized to the resolution
    (Pillow's bicubic filter on the uint8 images)."""
    data = load_training_set(config.dataset, config.data_dir, config.seed, config.n_train)
    if data.is_points:
        raise ValueError(f"stylegan needs image data (dataset {config.dataset!r} is 2-D "
                         "points); use --dataset digits / mnist / shapes / npz:PATH / folder:PATH")
    if data.shape[1:] != (config.resolution, config.resolution):
        u8 = resize_images(to_uint8_images(data.x, (-1.0, 1.0)), config.resolution)
        data.x = to_float_images(u8, (-1.0, 1.0))                    # (N, C, R, R)
    return data, config.z_dim


def build_models(config: Config, data):
    """(G, D): the style-based generator and ProGAN's discriminator at the data's size."""
    channels = data.shape[0]
    widths = default_widths(config.resolution, config.fmap_base, config.fmap_max)
    G = StyleGenerator(config.z_dim, config.w_dim, config.resolution, channels,
                       config.mapping_layers, widths, config.modulated, config.mapping_lr_mul,
                       config.w_avg_beta)
    D = StyleDiscriminator(config.resolution, channels, widths)
    return G.to(config.device), D.to(config.device)


def build_optimizers(config: Config, G, D):
    """Adam(lr, betas (0, 0.99), eps 1e-8) for G and D (the mapping network's smaller rate
    is inside its layers, as the equalised-lr multiplier)."""
    kw = dict(lr=config.lr, betas=(config.beta1, config.beta2), eps=1e-8)
    return optim.Adam(G.parameters(), **kw), optim.Adam(D.parameters(), **kw)


# ---------------------------------------------------------------- one step

def mixed_fakes(G, m: int, config: Config, device, track: bool = False):
    """x = G(z) with style-mixing regularisation: with probability ``style_mixing`` a second
    latent z_2 drives the layers from a crossover k ~ U{1, ..., L-1} on (Sec. 3.1). Draws from
    tinygen's generator (the training stream). ``track``: update w_avg with the batch's w."""
    z = R.sample_noise(m, config.z_dim, device)                      # (m, z_dim)
    w = G.mapping(z)                                                 # (m, w_dim)
    if track:
        G.track_w_avg(w)
    w2, k = None, 0          # the coin and k are drawn on the host: no wait for a GPU
    if float(tinygen.rand(1, device="cpu").item()) < config.style_mixing:
        w2 = G.mapping(R.sample_noise(m, config.z_dim, device))
        k = int(tinygen.randint(1, G.num_ws, (1,), device="cpu").item())
    return G.synthesis(G.broadcast(w, w2, k), G.make_noise(m, "random", device))


def discriminator_step(config: Config, G, D, opt_d, x, step: int) -> dict:
    """Descend softplus(D(G(z))) + softplus(-D(x)), plus the lazy R1 penalty every
    ``r1_every`` steps (weighted by r1_every so its average strength is gamma)."""
    with tinygen.no_grad():
        x_fake = mixed_fakes(G, x.shape[0], config, x.device)        # (m, C, R, R), constant
    loss = L.d_loss_minimax(D(x), D(x_fake))
    out = {}
    if step % config.r1_every == 0:
        r1 = L.r1_penalty(D, x, config.r1_gamma)
        out["r1"] = r1.detach()
        loss = loss + config.r1_every * r1
    out["loss_d"] = R.descend(loss, opt_d)
    return out


def generator_step(config: Config, G, D, opt_g, m: int, device) -> dict:
    """Descend the non-saturating loss softplus(-D(G(z))) on mixed fakes; track w_avg."""
    x_fake = mixed_fakes(G, m, config, device, track=True)
    return {"loss_g": R.descend(L.g_loss_nonsaturating(D(x_fake)), opt_g)}


# ---------------------------------------------------------------- looking at G

class Sampler(tinygen.nn.Module):
    """G(z) for grids, scores and samples.npz: the layers' fixed noise images (``noise_mode``
    'const', as the authors' generate script) and the truncation psi, so that looking at G
    draws nothing from any random stream but the z it is given."""

    def __init__(self, G, psi: float = 1.0):
        super().__init__()
        self.G, self.psi = G, psi

    def forward(self, z):
        return self.G(z, psi=self.psi, noise_mode="const")


def _z(n: int, config: Config, rng):
    return R.sample_noise(n, config.z_dim, config.device, rng)


def mixing_triples(G, n: int, config: Config, rng, batch: int = 250) -> dict:
    """``mixing.npz``: x_coarse = G(z_1), x_fine = G(z_2), x_mix with the 4 and 8 px styles of
    w_1 and the 16 px-and-up styles of w_2; all three with the same noise images (the layers'
    fixed ``noise_const``), so only the styles differ. uint8 (n, R, R[, C]) each."""
    k = G.layers_up_to(8)
    out = {"x_coarse": [], "x_fine": [], "x_mix": []}
    with R.sampling(G):
        for start in range(0, n, batch):
            m = min(batch, n - start)
            w1, w2 = G.mapping(_z(m, config, rng)), G.mapping(_z(m, config, rng))
            noise = G.make_noise(m, "const")
            for key, ws in (("x_coarse", G.broadcast(w1)), ("x_fine", G.broadcast(w2)),
                            ("x_mix", G.broadcast(w1, w2, k))):
                out[key].append(R.to_host(G.synthesis(ws, noise)))
    return {key: to_uint8_images(np.concatenate(v), (-1.0, 1.0)) for key, v in out.items()}


def mixing_grid(G, config: Config, rng, n_dest: int = 6, n_src: int = 2):
    """Fig. 3 in miniature: the top row holds destinations B (fixed noise), the left column
    sources A; each row below copies A's coarse (4-8 px), middle (16 px) or fine (32 px and
    up) styles into every B. Returns the images (rows x cols, C, R, R) and cols."""
    rs = G.layer_resolutions
    groups = {"coarse": [r <= 8 for r in rs], "middle": [r == 16 for r in rs],
              "fine": [r >= 32 for r in rs]}
    with R.sampling(G):
        w_b = G.mapping(_z(n_dest, config, rng))                     # (n_dest, w_dim)
        w_a = G.mapping(_z(n_src, config, rng))
        noise1 = G.make_noise(1, "const")
        one = lambda ws: R.to_host(G.synthesis(ws, noise1))[0]       # noqa: E731
        blank = np.full((G.synthesis.channels,) + (config.resolution,) * 2, -1.0,
                        np.float32)
        rows = [[blank] + [one(G.broadcast(w_b[j:j + 1])) for j in range(n_dest)]]
        for name, mask in groups.items():
            for i in range(n_src):
                row = [one(G.broadcast(w_a[i:i + 1]))]
                for j in range(n_dest):
                    ws = R.to_host(G.broadcast(w_b[j:j + 1])).copy()  # (1, L, w_dim) host
                    ws[:, np.asarray(mask)] = R.to_host(w_a[i:i + 1])[:, None]
                    row.append(one(tinygen.tensor(ws, device=config.device)))
                rows.append(row)
    return np.stack([np.asarray(im) for row in rows for im in row]), n_dest + 1


def truncation_sweep(G, config: Config, rng, psis=(-1.0, -0.5, 0.0, 0.5, 0.7, 1.0), n: int = 8):
    """One row per psi, one column per z: w' = w_avg + psi (w - w_avg) (Fig. 8)."""
    z = _z(n, config, rng)
    with R.sampling(G):
        noise = G.make_noise(n, "const")
        w = G.mapping(z)
        rows = [R.to_host(G.synthesis(G.broadcast(G.truncate(w, psi)), noise)) for psi in psis]
    return np.concatenate(rows), n


def noise_picture(G, config: Config, rng, n: int = 6, draws: int = 16):
    """Fig. 5 in miniature, one column per z: noise in all layers / none / fine layers only
    (16 px and up) / coarse only (4-8 px), and the per-pixel std over ``draws`` noise draws
    (Fig. 4; white = varies most). Returns (rows x n, C, R, R) in [-1, 1] and n."""
    rs = G.layer_resolutions
    with R.sampling(G):
        ws = G.broadcast(G.mapping(_z(n, config, rng)))
        full = lambda: G.make_noise(n, "random", config.device, rng)   # noqa: E731
        rows = [G.synthesis(ws, full())]
        rows.append(G.synthesis(ws, [None] * len(rs)))
        rows.append(G.synthesis(ws, [t if r >= 16 else None for t, r in zip(full(), rs)]))
        rows.append(G.synthesis(ws, [t if r <= 8 else None for t, r in zip(full(), rs)]))
        stack = np.stack([R.to_host(G.synthesis(ws, full())) for _ in range(draws)])
    std = stack.std(0).mean(1, keepdims=True)                        # (n, 1, R, R)
    std = 2.0 * std / max(float(std.max()), 1e-8) - 1.0
    rows = [R.to_host(r) for r in rows]
    std = np.repeat(std, rows[0].shape[1], axis=1)
    return np.concatenate(rows + [std]), n


def save_pictures(run, G, config: Config) -> None:
    """mixing.png, truncation.png, noise.png in the run folder (titled)."""
    from tinygen.io import make_grid, save_image
    from tinygen.io.plot import titled
    rng = run.eval_rng
    pictures = [
        ("mixing.png", mixing_grid(G, config, rng),
         "stylegan style mixing: top row B, left column A",
         "rows 2-3: A's coarse styles (4-8 px) in B; rows 4-5: middle (16 px); rows 6-7: fine"),
        ("truncation.png", truncation_sweep(G, config, rng),
         "stylegan truncation trick: w' = w_avg + psi (w - w_avg)",
         "rows: psi = -1, -0.5, 0, 0.5, 0.7, 1; columns: one z each"),
        ("noise.png", noise_picture(G, config, rng),
         "stylegan noise inputs: the same w, column by column",
         "rows: noise in all layers / none / 16 px and up only / 4-8 px only / pixel std"),
    ]
    for name, (images, nrow), title, caption in pictures:
        grid = make_grid(images, nrow=nrow, normalize=True, value_range=(-1.0, 1.0))
        save_image(np.asarray(titled(grid, title, caption)), run.path(name))


# ---------------------------------------------------------------- the loop

def train(config: Config) -> str:
    """``tinygen run stylegan``: train for ``config.steps`` steps; returns the run folder."""
    run = R.Run(config, "stylegan")
    data, nz = load_images(config)
    G, D = build_models(config, data)
    opt_g, opt_d = build_optimizers(config, G, D)
    monitor = R.GeneratorMonitor(run, data, nz, G=G, D=D, opt_g=opt_g, opt_d=opt_d)
    monitor.G = Sampler(G, config.truncation_psi)  # grids, scores, samples.npz
    for step in run.steps(monitor.resume()):
        x = R.real_batch(data.x, config.batch_size, run.data_rng, config.device)
        d_out = discriminator_step(config, G, D, opt_d, x, step)
        g_out = generator_step(config, G, D, opt_g, config.batch_size, config.device)
        monitor.step_done(step, **d_out, **g_out)
    folder = monitor.finish()
    R.save_npz(run.path("mixing.npz"), **mixing_triples(G, config.n_mixing, config,
                                                         run.eval_rng))
    save_pictures(run, G, config)
    run.write_report()                               # again, now with the pictures above
    return folder


def sample_run(config: Config, checkpoint: str, n: int, seed: int):
    """``tinygen sample``: n samples (psi = ``truncation_psi``) from a finished run."""
    from tinygen.io.checkpoint import restore_checkpoint
    data, nz = load_images(config)
    G, D = build_models(config, data)
    restore_checkpoint(checkpoint, G=G, D=D)
    rng = np.random.default_rng(seed)
    return R.generate(Sampler(G, config.truncation_psi), n, nz, config.device, rng), (-1.0, 1.0)


__all__ = ["Config", "PRESETS", "build_models", "build_optimizers", "mixed_fakes",
           "discriminator_step", "generator_step", "mixing_triples", "train", "sample_run"]
