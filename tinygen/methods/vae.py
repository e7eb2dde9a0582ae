"""Variational autoencoder (Kingma & Welling 2014), beta-VAE, and the IWAE bound for evaluation.

Kingma & Welling, "Auto-Encoding Variational Bayes", arXiv:1312.6114.
    encoder   q_phi(z|x) = N(z; mu(x), diag(sigma^2(x)))          (Sec. 3, Appendix C.2)
    prior     p(z) = N(0, I)
    decoder   p_theta(x|z) = Bernoulli(sigmoid(logits(z)))  or  N(x; mean(z), sigma_x^2 I)
    reparameterisation   z = mu + sigma * eps,  eps ~ N(0, I)      (Sec. 2.4, eq. 10)
    ELBO      L(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z))          (eq. 3; KL closed form, App. B)
              estimated with L = 1 sample of z per x during training (eq. 10: "SGVB estimator B")
Higgins et al. 2017, "beta-VAE" (ICLR): multiply the KL by beta (beta = 1 is the VAE).
Burda, Grosse & Salakhutdinov 2016, "Importance Weighted Autoencoders", arXiv:1509.00519, eq. 8:
    L_k(x) = E[ log (1/k) sum_i p(x, z_i) / q(z_i|x) ],  z_i ~ q(z|x)
a tighter lower bound on log p(x) (L_1 = ELBO <= L_k <= log p(x)), used here for evaluation.

All likelihoods and bounds are in nats per image (summed over pixels, averaged over images).
With the Bernoulli decoder the data must be binary: training images are binarised
afresh at every step (x_b ~ Bernoulli(x), "dynamic binarisation") and the test images
once with a fixed seed, the usual protocol for binarised MNIST.

Shapes:
    x        (N, C, H, W) in {0, 1} (Bernoulli) or [0, 1] (Gaussian)
    mu, logvar, eps, z   (N, L)          L = latent_dim
    logits   (N, C, H, W)
"""
from __future__ import annotations

import dataclasses
import math
from typing import Literal

import tinygen
from tinygen import backend, losses, optim
from tinygen.autograd import Tensor, no_grad
from tinygen.data.arrays import load_images, to_float_images
from tinygen.methods import run as R
from tinygen.models.autoencoders import VAEModel
from tinygen.nn.module import module_device

np = backend.numpy   # host data


@dataclasses.dataclass
class Config(R.RunConfig):
    """tinygen run vae: a VAE (Kingma & Welling 2014) on images; test ELBO and IWAE bound in nats."""
    dataset: str = "digits"            # digits, mnist (first 8,000 / last 2,000 of t10k), shapes...
    steps: int = 6000                  # Adam steps (75 passes over 8,000 images at batch 100;
                                       # ~5 min on 2 cores)
    batch_size: int = 100              # the paper's M = 100
    latent_dim: int = 20               # J = 20 in the paper's MNIST figures
    hidden: int = 400                  # 400 hidden units per MLP (the paper's MNIST setting)
    arch: Literal["mlp", "conv"] = "mlp"   # encoder / decoder (the paper: MLPs)
    decoder: Literal["bernoulli", "gaussian"] = "bernoulli"   # p(x|z): Bernoulli on binarised
                                       # data (the paper's MNIST) or Gaussian
    gaussian_std: float = 0.1          # sigma_x of the Gaussian decoder (fixed)
    beta: float = 1.0                  # KL weight: 1 = VAE, > 1 = beta-VAE (Higgins et al. 2017)
    lr: float = 1e-3                   # Adam (departs from the paper's Adagrad: the modern default)
    n_train: int = 8000                # training images (MNIST: the first 8,000 of t10k)
    n_test: int = 2000                 # held-out images (MNIST: the last 2,000 of t10k)
    iwae_k: int = 100                  # importance samples for the final test bound (0: skip)
    n_iwae: int = 2000                 # how many test images get the (costly) IWAE bound
    eval_every: int = 2000             # steps between test-ELBO evaluations
    domain_eval: bool = False          # at the end, log domain FID/IS + precision/recall of 1,000
                                       # decoder-mean samples (tinygen.metrics.domain)
    log_every: int = 200               # steps between metrics.jsonl lines
    sample_every: int = 2000           # steps between sample grids


# ---------------------------------------------------------------------------------------
# the model's pieces, in the paper's order
# ---------------------------------------------------------------------------------------

def reparameterize(mu: Tensor, logvar: Tensor, eps: Tensor = None) -> Tensor:
    """z = mu + sigma * eps, sigma = exp(logvar / 2), eps ~ N(0, I) (eq. 10).

    Sampling moves into eps, a constant, so dz/dmu = 1 and dz/dlogvar = sigma eps / 2
    and the ELBO can be differentiated through z. Shapes: mu, logvar (N, L) -> z (N, L);
    eps may carry extra leading sample axes (k, N, L).
    """
    if eps is None:
        eps = tinygen.randn(*mu.shape, dtype=mu.dtype, device=mu.device)
    return mu + (0.5 * logvar).exp() * eps                            # (..., N, L)


def log_likelihood(model: VAEModel, z: Tensor, x, config) -> Tensor:
    """log p(x|z) per image (N,) for the configured decoder."""
    out = model.decoder(z)                                            # (N, C, H, W)
    if config.decoder == "bernoulli":
        return losses.bernoulli_log_likelihood(out, x)
    if config.decoder == "gaussian":
        return losses.gaussian_log_likelihood(out, x, 2.0 * math.log(config.gaussian_std))
    raise ValueError(f"decoder must be 'bernoulli' or 'gaussian', got {config.decoder!r}")


def elbo_terms(model: VAEModel, x, config) -> dict:
    """One-sample ELBO per image: {'elbo', 'log_px_z', 'kl'}, each (N,).

    L(x) ~ log p(x | z) - KL(q(z|x) || p(z)),  z = mu + sigma eps   (eq. 10, L = 1)
    """
    x = x if isinstance(x, Tensor) else tinygen.tensor(x, device=module_device(model))
    mu, logvar = model.encoder(x)                                     # (N, L), (N, L)
    z = reparameterize(mu, logvar)                                    # (N, L)
    log_px_z = log_likelihood(model, z, x, config)                    # (N,)
    kl = losses.kl_normal_standard(mu, logvar)                        # (N,)
    return {"elbo": log_px_z - kl, "log_px_z": log_px_z, "kl": kl}


def iwae_bound(model: VAEModel, x, k: int, config) -> Tensor:
    """L_k per image (N,) (Burda et al. 2016, eq. 8), by logsumexp over k importance samples.

        log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x),   z_i ~ q(z|x)
        L_k     = logsumexp_i(log w_i) - log k
    """
    x = x if isinstance(x, Tensor) else tinygen.tensor(x, device=module_device(model))
    N = x.shape[0]
    mu, logvar = model.encoder(x)                                     # (N, L)
    eps = tinygen.randn(k, *mu.shape, dtype=mu.dtype, device=mu.device)   # (k, N, L)
    z = reparameterize(mu, logvar, eps)                               # (k, N, L)
    z_flat = z.reshape(k * N, -1)                                     # (k N, L)
    x_rep = tinygen.broadcast_to(x, (k,) + x.shape).reshape(k * N, *x.shape[1:])  # (k N, C, H, W)
    log_px_z = log_likelihood(model, z_flat, x_rep, config).reshape(k, N)        # (k, N)
    log_pz = losses.log_normal_diag(z, 0.0, 0.0)                      # (k, N)
    log_qz = losses.log_normal_diag(z, mu, logvar)                    # (k, N)
    return losses.iwae_bound(log_px_z + log_pz - log_qz)              # (N,)


def sample(model: VAEModel, n: int, config, generator=None):
    """x ~ p(x|z), z ~ N(0, I): decoder means (Bernoulli: sigmoid(logits)) as host (n, C, H, W)."""
    z = tinygen.randn(n, model.latent_dim, device=config.device, generator=generator)  # (n, L)
    return decode(model, z, config)


def decode(model: VAEModel, z, config):
    """Decoder mean for latents z (n, L) -> host float32 (n, C, H, W) in [0, 1]."""
    with no_grad():
        z = z if isinstance(z, Tensor) else tinygen.tensor(np.asarray(z, dtype=np.float32),
                                                           device=module_device(model))
        out = model.decoder(z)
        if config.decoder == "bernoulli":
            out = tinygen.sigmoid(out)
        return backend.to_host(tinygen.clip(out, 0.0, 1.0).data)


def encode_mean(model: VAEModel, x, batch_size: int = 500):
    """mu(x) for host images -> float64 (N, L) (the code used by the applications)."""
    out = []
    with no_grad():
        for i in range(0, len(x), batch_size):
            mu, _ = model.encoder(tinygen.tensor(x[i:i + batch_size], device=module_device(model)))
            out.append(backend.to_host(mu.data))
    return np.concatenate(out).astype(np.float64)


def evaluate(model: VAEModel, x, config, k: int = 0, n_iwae: int = None, batch_size: int = 500,
             iwae_batch: int = 25, seed: int = 2024) -> dict:
    """Test metrics in nats per image: test_elbo, test_log_px_z, test_kl (and test_iwae_k{k}).

    Evaluation draws its eps from its own fixed seed and then puts the training
    generator back: the numbers are reproducible and a resumed run matches an
    uninterrupted one whatever was evaluated in between.
    """
    totals = {"elbo": 0.0, "log_px_z": 0.0, "kl": 0.0}
    saved = backend.get_rng_state()
    backend.manual_seed(seed)
    try:
        return _evaluate(model, x, config, k, n_iwae, batch_size, iwae_batch, totals)
    finally:
        backend.set_rng_state(saved)


def _evaluate(model, x, config, k, n_iwae, batch_size, iwae_batch, totals):
    with no_grad():
        for i in range(0, len(x), batch_size):
            terms = elbo_terms(model, x[i:i + batch_size], config)
            for key in totals:
                totals[key] += float(terms[key].sum().item())
        out = {f"test_{key}": v / len(x) for key, v in totals.items()}
        if k:
            xs = x[:n_iwae or len(x)]
            total = 0.0
            for i in range(0, len(xs), iwae_batch):
                total += float(iwae_bound(model, xs[i:i + iwae_batch], k, config).sum().item())
            out[f"test_iwae_k{k}"] = total / len(xs)
    return out


def binarize(x, rng):
    """x_b ~ Bernoulli(x) elementwise (host float32 in {0, 1})."""
    return (rng.random(x.shape, dtype=np.float32) < x).astype(np.float32)


def build_models(config, image_shape) -> VAEModel:
    return VAEModel(image_shape, config.latent_dim, config.hidden, config.arch)


def loss_fn(model: VAEModel, x, config) -> dict:
    """The minimised loss: mean_n [-log p(x|z) + beta KL] (negative ELBO for beta = 1)."""
    terms = elbo_terms(model, x, config)
    loss = losses.negative_elbo(terms["log_px_z"], terms["kl"], config.beta)
    return {"loss": loss, "elbo": terms["elbo"].mean(), "kl": terms["kl"].mean()}


def load_data(config):
    """(x_train, x_test, y_test) host arrays ready for the decoder (test binarised once)."""
    x_train, _ = load_images(config.dataset, "train", config.data_dir, config.n_train, config.seed)
    x_test, y_test = load_images(config.dataset, "test", config.data_dir, config.n_test, config.seed)
    if config.decoder == "bernoulli":
        x_test = binarize(x_test, np.random.default_rng(12345))   # one fixed binarisation
    return x_train, x_test, y_test


def train_step(model: VAEModel, opt, x_train, step: int, config) -> dict:
    """One Adam step on a minibatch of the negative ELBO; returns the loss terms.

    The batch and its binarisation depend only on (seed, 0-based step), so a resumed run
    sees exactly the batches of an uninterrupted one.
    """
    rng = np.random.default_rng((config.seed, step))
    xb = x_train[rng.integers(0, len(x_train), size=config.batch_size)]   # (B, C, H, W)
    if config.decoder == "bernoulli":
        xb = binarize(xb, rng)
    terms = loss_fn(model, tinygen.tensor(xb, device=config.device), config)
    R.descend(terms["loss"], opt)
    return terms


def train(config: Config, data=None) -> str:
    """Train a VAE; log ELBO terms; write samples, reconstructions, the test bounds, a checkpoint."""
    run = R.Run(config, "vae")
    x_train, x_test, y_test = data if data is not None else load_data(config)
    model = build_models(config, x_train.shape[1:]).to(config.device)
    opt = optim.Adam(model.parameters(), lr=config.lr)
    z_fixed = tinygen.randn(64, config.latent_dim, device=config.device)   # same z every grid
    for step in run.steps(run.resume(model=model, optimizer=opt)):
        terms = train_step(model, opt, x_train, step - 1, config)
        run.record(step, loss=terms["loss"], elbo=terms["elbo"], kl=terms["kl"])
        metrics = {}
        if step == config.steps:       # the final bounds, with the IWAE one
            metrics = evaluate(model, x_test, config, k=config.iwae_k, n_iwae=config.n_iwae)
        elif run.due(step, config.eval_every):
            metrics = evaluate(model, x_test, config)
        if run.due(step, config.log_every) or metrics:
            run.log(step, **metrics)
        if run.due(step, config.sample_every):
            run.save_grid(decode(model, z_fixed, config), f"samples_{step:06d}.png",
                          value_range=(0.0, 1.0))
        run.checkpoint(step, model=model, optimizer=opt)
    run.finish(model=model, optimizer=opt)
    run.save_samples(decode(model, z_fixed, config))
    R.save_npz(run.path("codes.npz"), mu=encode_mean(model, x_test),
               y=y_test if y_test is not None else np.zeros(0))
    if config.domain_eval:             # after the checkpoint: its z draws never affect a resume
        run.log(config.steps, **R.sample_metrics(sample(model, 1000, config), None,
                                                 config.dataset, config.device, (0.0, 1.0)))
    return run.dir


def sample_run(config: Config, checkpoint: str, n: int, seed: int):
    """``tinygen sample``: n decoder means of a finished run -> (host array, value range)."""
    from tinygen.io.checkpoint import restore_checkpoint
    x_train, _ = load_images(config.dataset, "train", config.data_dir, 1, config.seed)
    model = build_models(config, x_train.shape[1:]).to(config.device)
    restore_checkpoint(checkpoint, model=model)
    return sample(model, n, config, np.random.default_rng(seed)), (0.0, 1.0)


# ---------------------------------------------------------------------------------------
# the demo: pictures of the latent space (tinygen demo vae)
# ---------------------------------------------------------------------------------------

def fit_model(config, x_train, desc: str = "vae") -> VAEModel:
    """A VAE trained with :func:`train_step` for ``config.steps`` steps, no run folder
    (a progress line on stderr unless ``config.quiet``)."""
    from tinygen.io.progress import Progress
    backend.manual_seed(config.seed)
    model = build_models(config, x_train.shape[1:]).to(config.device)
    opt = optim.Adam(model.parameters(), lr=config.lr)
    progress = None if config.quiet else Progress(total=config.steps, desc=desc)
    for step in range(config.steps):
        terms = train_step(model, opt, x_train, step, config)
        if progress is not None:
            progress.update(step + 1, loss=float(terms["loss"].item()))
    if progress is not None:
        progress.close()
    return model


def interpolation_grid(model, config, pairs, n_steps: int = 10):
    """Rows of decoded paths: for each (z0, z1), the lerp row then the slerp row -> (2 P n_steps, C, H, W)."""
    from tinygen.methods.ae_apps import lerp, slerp
    t = np.linspace(0.0, 1.0, n_steps)
    rows = []
    for z0, z1 in pairs:
        rows += [decode(model, lerp(z0, z1, t), config), decode(model, slerp(z0, z1, t), config)]
    return np.concatenate(rows)


def attribute_grid(model, config, codes, has, queries, alphas):
    """Decodings of z + alpha v, v = attribute vector of ``codes``: rows = queries, columns = alphas."""
    from tinygen.methods.ae_apps import apply_attribute, attribute_vector
    v = attribute_vector(codes, has)                                  # (L,)
    z = apply_attribute(queries, v, alphas)                           # (Q, A, L)
    return decode(model, z.reshape(-1, z.shape[-1]), config), v


def demo_main(argv=None) -> int:
    """``tinygen demo vae [--out DIR] [--steps N] [--seed S]``: latent-space pictures.

    Trains three small VAEs on CPU (synthetic digits with latent 20 and latent 2, colour
    shapes with latent 16; run with OPENBLAS_NUM_THREADS=1 on a small machine) and writes:
        interpolation.png    pairs of prior samples / test codes: lerp row, then slerp row
        manifold.png         the 2-D latent manifold (Kingma & Welling 2014, Fig. 4)
        attribute_filled.png, attribute_large.png
                             outlined (small) test shapes + alpha v_filled (v_large), alpha per column
        report.html          the pictures on one page
    """
    import argparse
    import os
    import sys
    from tinygen.data import load_dataset
    from tinygen.io import make_grid, save_image
    from tinygen.io.plot import titled
    from tinygen.methods.ae_apps import manifold_grid
    parser = argparse.ArgumentParser(prog="tinygen demo vae",
                                     formatter_class=R.DefaultsHelp,
                                     description="Train three small VAEs "
                                     "on CPU and write latent-space pictures (interpolation, 2-D "
                                     "manifold, attribute vectors); prints each file's path.")
    parser.add_argument("--out", default=None, help="output folder (default: a new runs/vae-* folder)")
    parser.add_argument("--steps", type=int, default=3000, help="Adam steps per VAE")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data, weights and samples")
    parser.add_argument("--device", default=backend.get_default_device(),
                        help="cpu, cuda or cuda:N (default: $TINYGEN_DEVICE or cpu)")
    args = parser.parse_args(argv)
    out = args.out or R.new_folder("vae")
    os.makedirs(out, exist_ok=True)
    print(f"tinygen demo vae: writing {out} (three VAEs of {args.steps} steps each)",
          file=sys.stderr, flush=True)
    rng = np.random.default_rng(args.seed)

    def save(images, name, nrow, title, caption):   # print each path as soon as it is written
        grid = make_grid(images, nrow=nrow, value_range=(0.0, 1.0), normalize=True)
        save_image(titled(grid, title, caption), os.path.join(out, name))
        print(os.path.join(out, name), flush=True)

    # 1. digits, latent 20: linear vs spherical interpolation
    x, _ = load_images("digits", "train", n=8000, seed=args.seed)
    xt, _ = load_images("digits", "test", n=200, seed=args.seed)
    cfg = Config(steps=args.steps, seed=args.seed, device=args.device)
    model = fit_model(cfg, x, "vae 1/3 (digits, latent 20)")
    prior = [(rng.standard_normal(20), rng.standard_normal(20)) for _ in range(2)]
    mu = encode_mean(model, xt[:4])
    save(interpolation_grid(model, cfg, prior + [(mu[0], mu[1]), (mu[2], mu[3])]), "interpolation.png", 10,
         "VAE (latent 20): interpolation between two codes",
         "pairs of rows: linear, then spherical; first two pairs prior samples, last two test codes")

    # 2. digits, latent 2: the manifold
    cfg2 = Config(steps=args.steps, seed=args.seed, latent_dim=2, device=args.device)
    save(decode(fit_model(cfg2, x, "vae 2/3 (digits, latent 2)"), manifold_grid(15), cfg2),
         "manifold.png", 15, "VAE (latent 2): the learned manifold",
         "decoder means on a 15x15 grid of prior quantiles, z1 across, z2 down")

    # 3. colour shapes, latent 16: attribute vectors "filled" and "large"
    shapes = load_dataset("shapes", "train", n=6000, seed=args.seed)
    test = load_dataset("shapes", "test", n=400, seed=args.seed)
    xs, xs_t = to_float_images(shapes.x), to_float_images(test.x)
    cfg3 = Config(steps=args.steps, seed=args.seed, latent_dim=16, device=args.device)
    model3 = fit_model(cfg3, xs, "vae 3/3 (shapes, latent 16)")
    codes, codes_t = encode_mean(model3, xs), encode_mean(model3, xs_t)
    alphas = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    for attr in ("filled", "size"):
        has = shapes.labels[attr] == 1                              # filled / large
        queries = codes_t[test.labels[attr] == 0][:6]               # outlined / small test shapes
        grid, _ = attribute_grid(model3, cfg3, codes, has, queries, alphas)
        word = "large" if attr == "size" else attr
        save(grid, f"attribute_{word}.png", len(alphas), f"VAE (latent 16): adding the '{word}' vector",
             "rows: test shapes without it; columns: z + alpha v, alpha = "
             + ", ".join(f"{a:g}" for a in alphas))
    from tinygen.io.report import write_run_report
    print(write_run_report(out, title="tinygen demo vae: latent-space pictures",
                           command=f"tinygen demo vae --steps {args.steps} --seed {args.seed}"))
    return 0
