"""BiGAN: Donahue, Kraehenbuehl & Darrell, "Adversarial Feature Learning", arXiv:1605.09782
(ICLR 2017); the same model as ALI, Dumoulin et al., "Adversarially Learned Inference",
arXiv:1606.00704.

An encoder E: x -> z is learnt beside the generator G: z -> x by a discriminator that sees
pairs: D(x, z) tells (x, E(x)) with x ~ p_data from (G(z), z) with z ~ p_z (Sec. 3, eq. 3):

    min_{G,E} max_D  E_x log D(x, E(x)) + E_z log(1 - D(G(z), z))

At the optimum E = G^{-1} (Theorem 2), so G(E(x)) reconstructs x without any reconstruction
loss. Per step:                                                            train()
    sample x_1..x_m from p_data, z_1..z_m from p_z
    update D by descending -[log D(x, E(x)) + log(1 - D(G(z), z))]         discriminator_step()
    update G and E by descending -[log(1 - D(x, E(x))) + log D(G(z), z)]   encoder_generator_step()
        (the labels swapped: the non-saturating form, as the authors' code trains E and G)

Evaluation (metrics.jsonl at ``eval_every`` steps and at the end): ``probe_accuracy``, a
linear softmax classifier fitted on E(x) of labelled training images and scored on the test
images (tinygen.metrics.probe), beside ``probe_accuracy_random``, the same probe on a
randomly initialised encoder (E before training, kept in the checkpoint as ``E0``): what
adversarial training taught E is the difference. Pictures: samples_*.png, and
reconstructions.png (rows in pairs: test images x, then G(E(x))).

Departures (flagged in the Config): z ~ N(0, I) instead of U(-1, 1); the CPU preset (the
default) narrows the 1024-unit MLPs to 512 and raises Adam's lr from 2e-4 to 5e-4; the
paper's MNIST budget is 400 epochs. ``--preset paper`` keeps Sec. 4's numbers.

Notation: m batch size, x (m, C, H, W), z (m, nz); D returns logits (m, 1).
"""
from __future__ import annotations

import copy
import dataclasses

import tinygen
from tinygen import backend, optim
from tinygen import losses as L
from tinygen.data.arrays import MissingLabels
from tinygen.methods import conditional as C
from tinygen.methods import run as R
from tinygen.models.cond_nets import BNMLPGenerator, JointDiscriminator, MLPEncoder

np = backend.numpy   # host arrays: codes, labels


@dataclasses.dataclass
class Config(R.SamplingConfig):
    """BiGAN / ALI (Donahue et al. 2017, arXiv:1605.09782, Sec. 3-4)."""
    dataset: str = "digits"            # images; labels (if any) are used only by the probe
    latent_dim: int = 50               # dim z (paper, MNIST: 50, uniform; N(0, I) here)
    hidden: int = 1024                 # width of E, G and D's hidden layers (paper: 1024)
    n_hidden: int = 2                  # hidden layers of each MLP
    batch_size: int = 128              # m (paper: 128)
    lr: float = 2e-4                   # Adam lr of D and of (G, E) (paper: 2e-4)
    beta1: float = 0.5                 # Adam beta1 (paper: 0.5)
    beta2: float = 0.999               # Adam beta2
    weight_decay: float = 2.5e-5       # L2 weight decay on every parameter (paper: 2.5e-5)
    eval_every: int = 1000             # steps between linear probes (a multiple of log_every;
                                       # and at the end)
    n_probe: int = 4000                # labelled training images the probe is fitted on
    n_samples: int = 512               # final samples in samples.npz
    log_every: int = 100               # steps between metrics.jsonl lines
    sample_every: int = 500            # steps between sample grids

    def __post_init__(self):
        super().__post_init__()
        if self.eval_every % self.log_every:
            raise ValueError(f"--eval-every ({self.eval_every}) must be a multiple of "
                             f"--log-every ({self.log_every}): probes go on log lines")


PRESETS = {
    "paper": {},
    "cpu": dict(hidden=512, batch_size=64, lr=5e-4, steps=2000),
}
PRESET_DOCS = {
    "paper": "Sec. 4 (MNIST): 1024-unit MLPs, Adam 2e-4, beta1 0.5, batch 128, weight decay "
             "2.5e-5",
    "cpu": "two CPU cores: 512-unit MLPs, batch 64, Adam 5e-4, 2,000 steps (departs from the "
           "paper)",
}


def default_preset(dataset: str) -> str:
    """``--preset auto``: the CPU settings."""
    return "cpu"


# ---------------------------------------------------------------- models

def build_models(config: Config, data):
    """(G: z -> x, E: x -> z, D: (x, z) -> logit) as MLPs for the data's shape."""
    shape = tuple(data.shape)
    size = int(np.prod(shape))
    widths = (config.hidden,) * config.n_hidden
    G = BNMLPGenerator(config.latent_dim, shape, widths, activation="relu")
    E = MLPEncoder(size, config.latent_dim, config.hidden, config.n_hidden)
    D = JointDiscriminator(size, config.latent_dim, config.hidden, config.n_hidden)
    return G.to(config.device), E.to(config.device), D.to(config.device)


def build_optimizers(config: Config, G, E, D):
    """(opt_ge over G and E together, opt_d): Adam with the paper's weight decay."""
    def adam(params):
        return optim.Adam(params, lr=config.lr, betas=(config.beta1, config.beta2),
                          weight_decay=config.weight_decay)
    return adam(list(G.parameters()) + list(E.parameters())), adam(D.parameters())


# ---------------------------------------------------------------- one step

def discriminator_step(G, E, D, opt_d, x, z) -> dict:
    """Descend -[log D(x, E(x)) + log(1 - D(G(z), z))] in D's parameters."""
    with tinygen.no_grad():
        e_x, g_z = E(x), G(z)                                        # constants for D
    return {"loss_d": R.descend(L.d_loss_minimax(D(x, e_x), D(g_z, z)), opt_d)}


def encoder_generator_step(G, E, D, opt_ge, x, z) -> dict:
    """Descend -[log(1 - D(x, E(x))) + log D(G(z), z)] in G's and E's parameters: D's loss
    with real and fake swapped (d_loss_minimax(fake, real))."""
    loss = L.d_loss_minimax(D(G(z), z), D(x, E(x)))
    return {"loss_ge": R.descend(loss, opt_ge)}


# ---------------------------------------------------------------- evaluation

def probe(config: Config, encoders: dict, probe_set, test) -> dict:
    """Linear-probe accuracy of each encoder's codes: {"probe_accuracy": ...,
    "probe_accuracy_random": ...} (name -> E)."""
    from tinygen.metrics.probe import linear_probe_accuracy
    (x_p, y_p), (x_t, y_t) = probe_set, test
    out = {}
    for key, E in encoders.items():
        out[key] = linear_probe_accuracy(C.encode_all(E, x_p, config.device), y_p,
                                         C.encode_all(E, x_t, config.device), y_t)
    return out


def reconstructions(G, E, x, device) -> np.ndarray:
    """Rows of 8 in pairs: 8 images x, then their G(E(x)) -> (2 N, C, H, W) host."""
    with R.sampling(G):
        x_hat = backend.to_host(G(tinygen.tensor(C.encode_all(E, x, device),
                                                 device=device)).data)
    rows = []
    for start in range(0, len(x), 8):
        rows += [x[start:start + 8], x_hat[start:start + 8]]
    return np.concatenate(rows, 0)


# ---------------------------------------------------------------- the loop

def train(config: Config) -> str:
    """``tinygen run bigan``: train G, E and D; returns the run folder."""
    run = R.Run(config, "bigan")
    try:
        data, test = C.load_labelled_data(config)
    except MissingLabels:                        # no labels: no probe, the rest is the same
        data, test = R.load_generator_data(config)[0], None
    G, E, D = build_models(config, data)
    E0 = copy.deepcopy(E)                                            # the random encoder
    opt_ge, opt_d = build_optimizers(config, G, E, D)
    monitor = R.GeneratorMonitor(run, data, config.latent_dim, G=G, E=E, D=D, E0=E0,
                                 opt_ge=opt_ge, opt_d=opt_d)
    probe_set = None
    if test is not None and test[1] is not None and len(data.labelled):
        keep = data.labelled[:config.n_probe]
        probe_set = (data.x[keep], data.y[keep])
    dev, m = config.device, config.batch_size
    for step in run.steps(monitor.resume()):
        x = R.real_batch(data.x, m, run.data_rng, dev)               # (m, C, H, W)
        z = R.sample_noise(m, config.latent_dim, dev)                # (m, nz)
        out = discriminator_step(G, E, D, opt_d, x, z)
        out.update(encoder_generator_step(G, E, D, opt_ge, x, z))
        metrics = {}
        if probe_set is not None and run.due(step, config.eval_every):
            metrics = probe(config, {"probe_accuracy": E, "probe_accuracy_random": E0},
                            probe_set, test)
        monitor.step_done(step, metrics, **out)
    folder = monitor.finish()
    x_show = (test[0] if test is not None else data.x)[:32]
    C.save_picture(run, reconstructions(G, E, x_show, dev), "reconstructions.png", nrow=8)
    return folder


def sample_run(config: Config, checkpoint: str, n: int, seed: int):
    """``tinygen sample``: n images G(z) of a finished run."""
    from tinygen.io.checkpoint import restore_checkpoint
    data = R.load_generator_data(config)[0]
    G, E, D = build_models(config, data)
    restore_checkpoint(checkpoint, G=G, E=E, D=D)
    return R.generate(G, n, config.latent_dim, config.device,
                      np.random.default_rng(seed)), (-1.0, 1.0)


__all__ = ["Config", "PRESETS", "build_models", "build_optimizers", "discriminator_step",
           "encoder_generator_step", "probe", "reconstructions", "train", "sample_run"]
