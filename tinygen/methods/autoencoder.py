"""Autoencoders: undercomplete, linear (= PCA), sparse, denoising, contractive.

An autoencoder is an encoder h = f(x) and a decoder x_hat = g(h) trained to
reconstruct x; what it learns comes from the constraint or the regulariser
(Goodfellow, Bengio & Courville, "Deep Learning", ch. 14):

    variant         objective (per image, averaged over the batch)          reference
    undercomplete   L(x, g(f(x))),  dim h < dim x                           Hinton & Salakhutdinov 2006
    linear          ||x - W_d W_e x||^2: spans the principal subspace       Baldi & Hornik 1989
    sparse_l1       L(x, g(h)) + lambda sum_j |h_j|                         DL book 14.2.1
    sparse_kl       L(x, g(h)) + beta sum_j KL(rho || rho_hat_j)            Ng, CS294A notes, Sec. 3
    denoising       L(x, g(f(x_tilde))),  x_tilde ~ C(x_tilde | x)          Vincent et al. 2008, Sec. 2.3
    contractive     L(x, g(h)) + lambda ||d h / d x||_F^2                   Rifai et al. 2011, eq. 2

L is the summed squared error (``loss='mse'``) or binary cross-entropy with the
decoder's logits (``loss='bce'``, x in [0, 1]), both in units per image.
Overcomplete codes (dim h > dim x) are the default for the regularised variants.

Notation / Shapes:
    x, x_tilde, x_hat   (N, C, H, W) images in [0, 1] (x_hat: logits for bce)
    h                   (N, J) code
    D = C H W           pixels per image
"""
from __future__ import annotations

import dataclasses
from typing import Literal

import tinygen
from tinygen import backend, losses, nn, optim
from tinygen.autograd import Tensor, no_grad
from tinygen.data.arrays import load_images
from tinygen.methods import run as R
from tinygen.models.autoencoders import (
    AutoEncoder, ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder,
)
from tinygen.nn.module import module_device

np = backend.numpy   # host data and the PCA reference

VARIANTS = ("undercomplete", "linear", "sparse_l1", "sparse_kl", "denoising", "contractive")


@dataclasses.dataclass
class Config(R.RunConfig):
    """tinygen run autoencoder: an autoencoder variant on images."""
    dataset: str = "digits"            # digits, shapes, mnist, npz:PATH, ...
    steps: int = 2000                  # Adam steps
    batch_size: int = 64               # images per step
    variant: Literal["undercomplete", "linear", "sparse_l1", "sparse_kl", "denoising",
                     "contractive"] = "undercomplete"   # the constraint or regulariser (table above)
    arch: Literal["mlp", "conv"] = "mlp"   # encoder / decoder architecture
    loss: Literal["bce", "mse"] = "bce"    # bce (decoder logits, x in [0, 1]) or mse (linear: mse,
                                       # for the PCA equivalence)
    code_dim: int = 0                  # 0: the variant's default (32; linear 16; regularised 1024)
    hidden: int = 256                  # MLP hidden width (conv: channels of the first conv)
    n_train: int = 8000                # training images (MNIST: the first 8,000 of t10k)
    n_test: int = 2000                 # held-out images (MNIST: the last 2,000 of t10k)
    lr: float = 1e-3                   # Adam's learning rate
    l1_weight: float = 1e-3            # lambda of the L1 code penalty (sparse_l1)
    rho: float = 0.05                  # target mean activation (sparse_kl; Ng's notes: 0.05)
    kl_weight: float = 1.0             # beta of the KL sparsity penalty (sparse_kl)
    noise: Literal["gaussian", "masking"] = "gaussian"   # denoising corruption (Vincent et al.)
    noise_std: float = 0.4             # sigma of the additive Gaussian noise
    mask_prob: float = 0.3             # fraction of pixels set to 0 by masking noise
    contractive_weight: float = 0.1    # lambda of ||J_f(x)||_F^2 (contractive)
    jacobian: Literal["closed_form", "autograd"] = "closed_form"   # contractive penalty: the
                                       # sigmoid layer's closed form (Rifai et al. eq. 4) or autograd
    sample_every: int = 1000           # steps between reconstruction grids


# ---------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------

def default_code_dim(variant: str) -> int:
    return {"undercomplete": 32, "linear": 16}.get(variant, 1024)


def build_models(config: Config, image_shape) -> AutoEncoder:
    """The autoencoder for ``config.variant`` on images of ``image_shape`` = (C, H, W)."""
    if config.variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {config.variant!r}")
    C, H, W = image_shape
    D = C * H * W
    J = config.code_dim or default_code_dim(config.variant)
    if config.variant == "linear":
        # no hidden layer, no non-linearity: h = W_e x + b_e, x_hat = W_d h + b_d
        return AutoEncoder(MLPEncoder(D, J, hidden=(), code_act="linear"),
                           MLPDecoder(J, D, hidden=(), out_shape=image_shape))
    # sparse_kl needs activations in (0, 1); the closed-form contractive penalty needs
    # a single sigmoid layer h = sigmoid(W x + b) (Rifai et al. 2011, Sec. 3)
    code_act = "sigmoid" if config.variant in ("sparse_kl", "contractive") else "relu"
    if config.variant == "undercomplete":
        code_act = "linear"
    if config.variant == "contractive" and config.jacobian == "closed_form":
        if config.arch != "mlp":
            raise ValueError("contractive with jacobian='closed_form' needs arch='mlp' (one sigmoid "
                             "layer); use --jacobian autograd for a conv encoder")
        encoder = MLPEncoder(D, J, hidden=(), code_act="sigmoid")
    elif config.arch == "mlp":
        encoder = MLPEncoder(D, J, hidden=(config.hidden,), code_act=code_act)
    elif config.arch == "conv":
        encoder = ConvEncoder(C, H, J, width=32, code_act=code_act)
    else:
        raise ValueError(f"arch must be 'mlp' or 'conv', got {config.arch!r}")
    if config.arch == "conv":
        decoder = ConvDecoder(J, C, H, width=32)
    else:
        decoder = MLPDecoder(J, D, hidden=(config.hidden,), out_shape=image_shape)
    return AutoEncoder(encoder, decoder)


# ---------------------------------------------------------------------------------------
# the objective
# ---------------------------------------------------------------------------------------

def reconstruction_error(x_hat: Tensor, x, loss: str) -> Tensor:
    """L(x, x_hat) per image (N,): summed squared error, or BCE with the decoder's logits."""
    if loss == "mse":
        x = tinygen.tensor(x, device=x_hat.device) if not isinstance(x, Tensor) else x
        d = x_hat - x
        return (d * d).reshape(d.shape[0], -1).sum(1)
    if loss == "bce":
        return -losses.bernoulli_log_likelihood(x_hat, x)
    raise ValueError(f"loss must be 'mse' or 'bce', got {loss!r}")


def output_image(x_hat: Tensor, loss: str) -> Tensor:
    """The reconstruction in [0, 1]: sigmoid of the logits for bce, the mean for mse."""
    return tinygen.sigmoid(x_hat) if loss == "bce" else tinygen.clip(x_hat, 0.0, 1.0)


def corrupt(x: Tensor, noise: str, noise_std: float = 0.4, mask_prob: float = 0.3) -> Tensor:
    """x_tilde ~ C(x_tilde | x) (Vincent et al. 2008, Sec. 2.3 and 4.2).

    gaussian:  x_tilde = x + sigma eps,  eps ~ N(0, I)   (kept unclipped)
    masking:   x_tilde = x * m,  m_d ~ Bernoulli(1 - p)  (a fraction p of pixels forced to 0)
    """
    if noise == "gaussian":
        return x + noise_std * tinygen.randn(*x.shape, dtype=x.dtype, device=x.device)
    if noise == "masking":
        keep = tinygen.rand(*x.shape, dtype=x.dtype, device=x.device).data >= mask_prob
        return x * Tensor(keep.astype(x.dtype))
    raise ValueError(f"noise must be 'gaussian' or 'masking', got {noise!r}")


def loss_terms(model: AutoEncoder, x: Tensor, config: Config) -> dict:
    """The variant's objective on a batch: {'loss', 'recon', 'penalty'} (scalars)."""
    v = config.variant
    x_in = corrupt(x, config.noise, config.noise_std, config.mask_prob) if v == "denoising" else x
    if v == "contractive" and config.jacobian == "autograd":
        x_in = x_in.detach().requires_grad_()
    h = model.encoder(x_in)                                            # (N, J)
    x_hat = model.decoder(h)                                           # (N, C, H, W)
    recon = reconstruction_error(x_hat, x, config.loss).mean()         # clean target
    if v == "sparse_l1":
        penalty = config.l1_weight * losses.l1_code_penalty(h).mean()
    elif v == "sparse_kl":
        penalty = config.kl_weight * losses.sparse_kl_penalty(h, config.rho)
    elif v == "contractive":
        if config.jacobian == "autograd":
            jac = losses.contractive_penalty(h, x_in)                  # (N,)
        else:
            W = model.encoder.net[1].weight                            # (J, D): Flatten, Linear, Sigmoid
            jac = losses.contractive_penalty_sigmoid(h, W)             # (N,)
        penalty = config.contractive_weight * jac.mean()
    else:
        penalty = None
    total = recon if penalty is None else recon + penalty
    return {"loss": total, "recon": recon, "penalty": penalty}


def encode(model: AutoEncoder, x, batch_size: int = 500) -> "np.ndarray":
    """Codes of host images x (N, C, H, W) -> float64 (N, J), in batches, no graph."""
    out = []
    with no_grad():
        for i in range(0, len(x), batch_size):
            xb = tinygen.tensor(x[i:i + batch_size], device=module_device(model))  # (B, C, H, W)
            out.append(backend.to_host(model.encoder(xb).data))
    return np.concatenate(out).astype(np.float64)


def reconstruct(model: AutoEncoder, x, loss: str, batch_size: int = 500) -> "np.ndarray":
    """Reconstructions in [0, 1] of host images x (N, C, H, W) -> float32 (N, C, H, W)."""
    out = []
    with no_grad():
        for i in range(0, len(x), batch_size):
            _, x_hat = model(tinygen.tensor(x[i:i + batch_size], device=module_device(model)))
            out.append(backend.to_host(output_image(x_hat, loss).data))
    return np.concatenate(out)


def reconstruction_errors(model: AutoEncoder, x, loss: str = "mse", batch_size: int = 500):
    """Per-image summed squared error ||x - x_hat||^2 (in [0, 1] pixel units) -> (N,)."""
    r = reconstruct(model, x, loss, batch_size)
    return ((r.astype(np.float64) - x) ** 2).reshape(len(x), -1).sum(1)


def minibatch(x, batch_size: int, seed: int, step: int):
    """The batch of 0-based ``step``: it depends only on (seed, step), so a resumed run
    sees exactly the batches of an uninterrupted one."""
    idx = np.random.default_rng((seed, step)).integers(0, len(x), size=min(batch_size, len(x)))
    return x[idx]


def fit(model: nn.Module, objective, x, steps: int, batch_size: int = 64, lr: float = 1e-3,
        seed: int = 0, log=None, log_every: int = 100, start_step: int = 0, optimizer=None):
    """Minibatch Adam on host images ``x``: ``objective(model, batch) -> {'loss': ...}``.

    The loop every variant (and the applications) share: sample a batch, the
    objective, backward, step. Returns the optimizer.
    """
    opt = optimizer or optim.Adam(model.parameters(), lr=lr)
    for step in range(start_step, steps):
        xb = tinygen.tensor(minibatch(x, batch_size, seed, step), device=module_device(model))
        terms = objective(model, xb)
        R.descend(terms["loss"], opt)
        if log is not None and ((step + 1) % log_every == 0 or step + 1 == steps):
            log(step + 1, **{k: float(v.item()) for k, v in terms.items() if v is not None})
    return opt


# ---------------------------------------------------------------------------------------
# the linear autoencoder and PCA
# ---------------------------------------------------------------------------------------

def pca(x, k: int):
    """Principal components by SVD of the centred data: (mean (D,), components (k, D)).

    x (N, D) host array; the rows of ``components`` are orthonormal, by decreasing variance.
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    mean = x.mean(0)
    _, _, Vt = np.linalg.svd(x - mean, full_matrices=False)
    return mean, Vt[:k]


def principal_angles(A, B) -> "np.ndarray":
    """Principal angles (radians, ascending) between the column spans of A (D, k) and B (D, m).

    Björck & Golub 1973: with orthonormal bases Q_A, Q_B, cos theta_i are the
    singular values of Q_A^T Q_B.
    """
    Qa, _ = np.linalg.qr(np.asarray(A, dtype=np.float64))
    Qb, _ = np.linalg.qr(np.asarray(B, dtype=np.float64))
    s = np.linalg.svd(Qa.T @ Qb, compute_uv=False)
    return np.sort(np.arccos(np.clip(s, -1.0, 1.0)))


def decoder_subspace(model: AutoEncoder) -> "np.ndarray":
    """The span of a linear decoder: the columns of W_d (D, J)."""
    linear = model.decoder.net[0]
    return backend.to_host(linear.weight.data).astype(np.float64)


# ---------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------

def train(config: Config) -> str:
    """Train ``config.variant``; write metrics, reconstruction grids, codes, checkpoint."""
    if config.variant == "linear" and config.loss != "mse":
        config.loss = "mse"          # the PCA equivalence holds for the squared error
    run = R.Run(config, "autoencoder")
    x_train, _ = load_images(config.dataset, "train", config.data_dir, config.n_train, config.seed)
    x_test, y_test = load_images(config.dataset, "test", config.data_dir, config.n_test, config.seed)
    model = build_models(config, x_train.shape[1:]).to(config.device)
    opt = optim.Adam(model.parameters(), lr=config.lr)
    show = x_test[:32]
    for step in run.steps(run.resume(model=model, optimizer=opt)):
        xb = minibatch(x_train, config.batch_size, config.seed, step - 1)   # (B, C, H, W)
        terms = loss_terms(model, tinygen.tensor(xb, device=config.device), config)
        R.descend(terms["loss"], opt)
        run.record(step, **{k: v for k, v in terms.items() if v is not None})
        if run.due(step, config.sample_every):
            r = reconstruct(model, show, config.loss)
            run.save_grid(np.concatenate([show, r]), f"reconstructions_{step:06d}.png",
                          nrow=8, value_range=(0.0, 1.0))
        if run.due(step, config.log_every):
            extra = {}
            if step == config.steps:
                extra["test_mse"] = float(reconstruction_errors(model, x_test, config.loss).mean())
            run.log(step, **extra)
        run.checkpoint(step, model=model, optimizer=opt)
    run.finish(model=model, optimizer=opt)
    run.save_samples(reconstruct(model, x_test[:64], config.loss), name="samples.npz")
    R.save_npz(run.path("codes.npz"), h=encode(model, x_test),
               y=y_test if y_test is not None else np.zeros(0))
    return run.dir
