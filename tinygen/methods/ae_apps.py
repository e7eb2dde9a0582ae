"""What autoencoder codes are used for: each application is one function on host arrays.

    visualisation      2-D codes vs the first two principal components      pca_2d
    retrieval          nearest neighbours by label, code vs pixel space      precision_at_k
    anomaly detection  reconstruction error as the score, ROC AUC by hand    roc_auc, anomaly_scores
    clustering         k-means (k-means++ init) scored by purity and NMI      kmeans, purity, nmi
    image restoration  denoising / inpainting / colorisation as trained maps restoration_pairs,
                                                                             train_mapping, InputSkip,
                                                                             restore, psnr_db
    VAE latent space   linear and spherical interpolation, the 2-D manifold  lerp, slerp, manifold_grid
                       grid, attribute vectors                              attribute_vector

Everything here works on NumPy arrays in float64 (evaluation maths, not part of
any graph); only :func:`train_mapping` trains a network, with the autoencoder loop.
References are given per function.
"""
from __future__ import annotations

import math
from typing import Optional

import tinygen
from tinygen import backend, nn
from tinygen.autograd import no_grad

np = backend.numpy   # host evaluation maths


# ---------------------------------------------------------------------------------------
# visualisation and retrieval
# ---------------------------------------------------------------------------------------

def pca_2d(x) -> "np.ndarray":
    """Coordinates of x (N, D) on its first two principal components -> (N, 2)."""
    from tinygen.methods.autoencoder import pca
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    mean, V = pca(x, 2)
    return (x - mean) @ V.T                                           # (N, 2)


def pairwise_sq_distances(a, b) -> "np.ndarray":
    """||a_i - b_j||^2 for a (N, D), b (M, D) -> (N, M), via |a|^2 + |b|^2 - 2 a.b (clipped at 0)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def precision_at_k(features, labels, k: int = 10) -> float:
    """Mean fraction of each item's k nearest neighbours (itself excluded) sharing its label.

    The retrieval score of Hinton & Salakhutdinov 2006 (Fig. 4): a query is every item
    in turn, the database is all the others, relevance = same label. Euclidean distance.
    Shapes: features (N, D), labels (N,).
    """
    features = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    labels = np.asarray(labels)
    if len(features) != len(labels):
        raise ValueError(f"precision_at_k: {len(features)} features but {len(labels)} labels")
    if not 1 <= k < len(labels):
        raise ValueError(f"precision_at_k: k must be in [1, N - 1] = [1, {len(labels) - 1}], got {k}")
    d = pairwise_sq_distances(features, features)                     # (N, N)
    np.fill_diagonal(d, np.inf)                                       # never retrieve the query
    nearest = np.argsort(d, axis=1, kind="stable")[:, :k]             # (N, k)
    return float((labels[nearest] == labels[:, None]).mean())


# ---------------------------------------------------------------------------------------
# anomaly detection
# ---------------------------------------------------------------------------------------

def roc_auc(scores, is_positive) -> float:
    """Area under the ROC curve = P(score of a random positive > score of a random negative).

    The Mann-Whitney U statistic (Hanley & McNeil 1982): with the ranks r of all
    scores (ties get their average rank),
        AUC = (sum_{positives} r - n_p (n_p + 1) / 2) / (n_p n_n)
    so ties count one half, exactly like the trapezoidal area under the ROC curve.
    Shapes: scores (N,) (higher = more anomalous), is_positive (N,) bool.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    pos = np.asarray(is_positive, dtype=bool).ravel()
    if scores.shape != pos.shape:
        raise ValueError(f"roc_auc: scores {scores.shape} and labels {pos.shape} differ")
    n_p, n_n = int(pos.sum()), int((~pos).sum())
    if n_p == 0 or n_n == 0:
        raise ValueError(f"roc_auc needs both classes, got {n_p} positives and {n_n} negatives")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):                       # average ranks over runs of equal scores
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1.0    # ranks are 1-based
        i = j + 1
    return float((ranks[pos].sum() - n_p * (n_p + 1) / 2.0) / (n_p * n_n))


def roc_curve(scores, is_positive):
    """(false positive rate, true positive rate) at every threshold, for plotting."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    pos = np.asarray(is_positive, dtype=bool).ravel()
    order = np.argsort(-scores, kind="mergesort")
    tp = np.concatenate([[0], np.cumsum(pos[order])])
    fp = np.concatenate([[0], np.cumsum(~pos[order])])
    return fp / max(fp[-1], 1), tp / max(tp[-1], 1)


def anomaly_scores(model, x, loss: str = "bce") -> "np.ndarray":
    """Reconstruction error ||x - g(f(x))||^2 per image: the anomaly score (N,).

    An autoencoder trained only on normal data reconstructs them well and
    anything unlike them badly (e.g. Sakurada & Yairi 2014).
    """
    from tinygen.methods.autoencoder import reconstruction_errors
    return reconstruction_errors(model, x, loss)


def held_out_class_auc(x, y, x_test, y_test, held_out: int, steps: int = 2000, code_dim: int = 16,
                       hidden: int = 256, arch: str = "mlp", seed: int = 0):
    """Anomaly detection on a held-out class: (ROC AUC, scores (N_test,), is_anomaly (N_test,)).

    Train an undercomplete autoencoder on the training images whose label is not
    ``held_out`` (the "normal" data), score every test image by its reconstruction
    error, and measure how well the score ranks the held-out class above the rest.
    Shapes: x (N, C, H, W) in [0, 1], y (N,); x_test, y_test likewise.
    """
    from tinygen.methods import autoencoder as A
    normal = x[np.asarray(y) != held_out]
    config = A.Config(variant="undercomplete", code_dim=code_dim, hidden=hidden, arch=arch)
    tinygen.manual_seed(seed)
    model = A.build_models(config, x.shape[1:])
    A.fit(model, lambda m, xb: A.loss_terms(m, xb, config), normal, steps, seed=seed)
    scores = anomaly_scores(model, x_test, config.loss)                 # (N_test,)
    is_anomaly = np.asarray(y_test) == held_out
    return roc_auc(scores, is_anomaly), scores, is_anomaly


# ---------------------------------------------------------------------------------------
# clustering
# ---------------------------------------------------------------------------------------

def kmeans_plus_plus_init(x, k: int, rng) -> "np.ndarray":
    """k-means++ seeding (Arthur & Vassilvitskii 2007, Sec. 2.2): first centre uniform,
    each next one drawn with probability proportional to D(x)^2, the squared distance to
    the nearest centre chosen so far. Shapes: x (N, D) -> centres (k, D)."""
    x = np.asarray(x, dtype=np.float64)
    centres = [x[rng.integers(len(x))]]
    d2 = pairwise_sq_distances(x, centres[0][None])[:, 0]             # (N,)
    for _ in range(1, k):
        p = d2 / d2.sum() if d2.sum() > 0 else np.full(len(x), 1.0 / len(x))
        centres.append(x[rng.choice(len(x), p=p)])
        d2 = np.minimum(d2, pairwise_sq_distances(x, centres[-1][None])[:, 0])
    return np.stack(centres)


def kmeans(x, k: int, n_iter: int = 100, n_init: int = 4, seed: int = 0):
    """Lloyd's algorithm from k-means++ seeds; the best of ``n_init`` runs by inertia.

    Repeat: assign each point to its nearest centre; move each centre to the mean of
    its points (an empty cluster keeps its centre). Stops when assignments stop changing.
    Returns (assignments (N,) int64, centres (k, D), inertia = sum of squared distances).
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if not 1 <= k <= len(x):
        raise ValueError(f"kmeans: k must be in [1, N] = [1, {len(x)}], got {k}")
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(n_init):
        centres = kmeans_plus_plus_init(x, k, rng)
        assign = None
        for _ in range(n_iter):
            d = pairwise_sq_distances(x, centres)                     # (N, k)
            new = d.argmin(1)
            if assign is not None and np.array_equal(new, assign):
                break
            assign = new
            for c in range(k):
                members = x[assign == c]
                if len(members):
                    centres[c] = members.mean(0)
        inertia = float(pairwise_sq_distances(x, centres)[np.arange(len(x)), assign].sum())
        if best is None or inertia < best[2]:
            best = (assign.astype(np.int64), centres.copy(), inertia)
    return best


def _contingency(labels_true, labels_pred):
    _, t = np.unique(np.asarray(labels_true), return_inverse=True)
    _, p = np.unique(np.asarray(labels_pred), return_inverse=True)
    table = np.zeros((t.max() + 1, p.max() + 1))
    np.add.at(table, (t, p), 1)
    return table                                                      # (classes, clusters)


def purity(labels_true, labels_pred) -> float:
    """Fraction of points whose cluster's majority class is their own class."""
    table = _contingency(labels_true, labels_pred)
    return float(table.max(0).sum() / table.sum())


def nmi(labels_true, labels_pred) -> float:
    """Normalised mutual information I(T; P) / ((H(T) + H(P)) / 2) in nats-free units [0, 1].

    The arithmetic-mean normalisation (scikit-learn's default; Vinh et al. 2010).
    1 for identical partitions (up to renaming), 0 for independent ones.
    """
    table = _contingency(labels_true, labels_pred)
    p = table / table.sum()
    pt, pp = p.sum(1), p.sum(0)
    nz = p > 0
    mi = float((p[nz] * np.log(p[nz] / np.outer(pt, pp)[nz])).sum())
    h_t = -float((pt[pt > 0] * np.log(pt[pt > 0])).sum())
    h_p = -float((pp[pp > 0] * np.log(pp[pp > 0])).sum())
    if h_t == 0.0 and h_p == 0.0:
        return 1.0
    return max(0.0, mi / (0.5 * (h_t + h_p)))


# ---------------------------------------------------------------------------------------
# restoration tasks: denoising, inpainting, colorisation
# ---------------------------------------------------------------------------------------

def restoration_pairs(task: str, images, seed: int = 0, **kwargs):
    """(x_in, x_target) float32 (N, C, H, W) in [0, 1] for a restoration task.

    The corruption comes from the project's one implementation, ``tinygen.data.paired``:
        denoise    x_in = clip(x + sigma eps)             (kwargs: sigma, default 0.2)
        inpaint    x_in = x with a random rectangle set to 0 (sides 25-50 % of the image)
        colorize   x_in = ITU-R 601 luma of the colour image (1 channel)
    ``images``: float (N, C, H, W) in [0, 1] or uint8 (N, H, W[, 3]).
    """
    from tinygen.data import paired
    from tinygen.data.arrays import to_float_images, to_uint8_images
    u8 = to_uint8_images(images)
    if task == "denoise":
        noisy, clean = paired.denoising_pairs(u8, seed=seed, **kwargs)      # float (N, H, W[, 3])
        return to_float_images(noisy), to_float_images(clean)
    if task == "inpaint":
        masked, image, _ = paired.inpainting_pairs(u8, seed=seed, **kwargs)
        return to_float_images(masked), to_float_images(image)
    if task == "colorize":
        gray, colour = paired.colorization_pairs(u8, **kwargs)
        return to_float_images(gray), to_float_images(colour)
    raise ValueError(f"task must be 'denoise', 'inpaint' or 'colorize', got {task!r}")


class InputSkip(nn.Module):
    """An autoencoder whose output logits start from the input's own logits:

        x_hat = sigmoid( g(f(x)) + logit(clip(x, eps, 1 - eps)) )

    A skip connection from the input to the output, in logit space (the space of the BCE
    loss), broadcast over channels: a 1-channel gray image x feeds all three colour
    logits. With g(f(x)) = 0 the map is the identity (gray -> gray repeated), so the
    bottleneck only has to learn the *correction* -- for colourisation, the chroma, which
    is smooth and low in information -- while the geometry, which a bottleneck blurs,
    passes through the skip. (The minimal form of the U-Net idea, Ronneberger et al. 2015.)
    Returns (h, logits) like :class:`tinygen.models.autoencoders.AutoEncoder`.
    """

    def __init__(self, autoencoder: nn.Module, eps: float = 1e-3):
        super().__init__()
        self.autoencoder, self.eps = autoencoder, eps

    def forward(self, x):                                            # x (N, C_in, H, W) in [0, 1]
        h, logits = self.autoencoder(x)                              # (N, J), (N, C_out, H, W)
        p = x.clip(self.eps, 1.0 - self.eps)
        return h, logits + (p.log() - (1.0 - p).log())               # C_in = 1 broadcasts


def train_mapping(x_in, x_target, steps: int = 1500, batch_size: int = 64, lr: float = 1e-3,
                  code_dim: int = 256, hidden: int = 512, arch: str = "mlp", seed: int = 0,
                  input_skip: bool = False):
    """An autoencoder-shaped network trained to map x_in -> x_target with BCE on logits.

    Denoising (noisy -> clean), inpainting (masked -> whole) and colorisation
    (gray -> colour) are the same problem: a reconstruction loss against a target
    that differs from the input. ``input_skip`` wraps the network in :class:`InputSkip`
    (the output starts from the input; used for colourisation). Returns the model
    (call :func:`restore`).
    """
    from tinygen.methods.autoencoder import fit
    from tinygen.models.autoencoders import (
        AutoEncoder, ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder,
    )
    from tinygen import losses
    tinygen.manual_seed(seed)
    in_shape, out_shape = x_in.shape[1:], x_target.shape[1:]
    if arch == "conv":
        model = AutoEncoder(ConvEncoder(in_shape[0], in_shape[1], code_dim, code_act="relu"),
                            ConvDecoder(code_dim, out_shape[0], out_shape[1]))
    else:
        D_in, D_out = int(np.prod(in_shape)), int(np.prod(out_shape))
        model = AutoEncoder(MLPEncoder(D_in, code_dim, (hidden,), code_act="relu"),
                            MLPDecoder(code_dim, D_out, (hidden,), out_shape=out_shape))
    if input_skip:
        model = InputSkip(model)
    pairs = np.concatenate([x_in.reshape(len(x_in), -1), x_target.reshape(len(x_target), -1)], 1)
    d_in = int(np.prod(in_shape))

    def objective(m, batch):                                          # batch (B, D_in + D_out)
        xb = batch[:, :d_in].reshape(batch.shape[0], *in_shape)
        tb = batch[:, d_in:].reshape(batch.shape[0], *out_shape)
        return {"loss": -losses.bernoulli_log_likelihood(m(xb)[1], tb).mean()}

    fit(model, objective, pairs, steps, batch_size, lr, seed=seed)
    return model


def restore(model, x_in, batch_size: int = 500):
    """The trained map applied to host inputs -> outputs in [0, 1] (sigmoid of the logits)."""
    from tinygen.methods.autoencoder import reconstruct
    return reconstruct(model, x_in, "bce", batch_size)


def psnr_db(reference, estimate) -> float:
    """PSNR of a set of images in [0, 1]: 10 log10(1 / MSE), MSE averaged over every pixel
    of every image first, then converted to dB.

    Averaging per-image PSNRs instead would give +inf as soon as one image is unchanged
    (e.g. an inpainting hole that fell on black background), so the mean would be
    meaningless; the MSE average is finite unless every image is reproduced exactly.
    Shapes: reference, estimate (N, ...), the same; a C-channel estimate may be compared
    with a 1-channel input by broadcasting.
    """
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(estimate, dtype=np.float64)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(1.0 / mse)


# ---------------------------------------------------------------------------------------
# VAE latent space
# ---------------------------------------------------------------------------------------

def lerp(z0, z1, t):
    """(1 - t) z0 + t z1 for each t: (L,), (L,), (T,) -> (T, L)."""
    t = np.asarray(t, dtype=np.float64)[:, None]
    return (1.0 - t) * np.asarray(z0, np.float64) + t * np.asarray(z1, np.float64)


def slerp(z0, z1, t):
    """Spherical interpolation (Shoemake 1985; for GAN/VAE latents, White 2016, arXiv:1609.04468):

        slerp(z0, z1; t) = sin((1 - t) Omega) / sin Omega z0 + sin(t Omega) / sin Omega z1,
        cos Omega = <z0, z1> / (|z0| |z1|)

    Under a Gaussian prior most mass lies near the sphere of radius sqrt(L); the
    straight line between two codes passes through the low-norm interior, which the
    decoder rarely saw, while slerp keeps the norm. Falls back to lerp for (anti)parallel codes.
    Shapes: z0, z1 (L,), t (T,) -> (T, L).
    """
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    cos = float(z0 @ z1 / (np.linalg.norm(z0) * np.linalg.norm(z1)))
    omega = math.acos(min(1.0, max(-1.0, cos)))
    if math.sin(omega) < 1e-6:
        return lerp(z0, z1, t)
    t = np.asarray(t, dtype=np.float64)[:, None]
    return (np.sin((1.0 - t) * omega) * z0 + np.sin(t * omega) * z1) / math.sin(omega)


def manifold_grid(n: int = 15, lo: float = 0.05, hi: float = 0.95) -> "np.ndarray":
    """Latent points for the 2-D manifold picture (Kingma & Welling 2014, Fig. 4):
    a regular grid on the unit square mapped through the inverse Gaussian CDF, so the
    grid covers the prior N(0, I) by equal probability mass. -> (n * n, 2), row-major."""
    from scipy.stats import norm
    u = np.linspace(lo, hi, n)
    zs = norm.ppf(u)
    zy, zx = np.meshgrid(zs[::-1], zs, indexing="ij")                 # top row = high z_2
    return np.stack([zx.ravel(), zy.ravel()], 1)


def attribute_vector(codes, has_attribute) -> "np.ndarray":
    """v = mean code of items with the attribute - mean code of items without it (L,).

    Adding alpha v to a code moves its decoding towards the attribute (the vector
    arithmetic of Larsen et al. 2016, arXiv:1512.09300, Sec. 5; White 2016).
    """
    codes = np.asarray(codes, dtype=np.float64)
    has = np.asarray(has_attribute, dtype=bool)
    if has.all() or not has.any():
        raise ValueError("attribute_vector needs items both with and without the attribute, "
                         f"got {int(has.sum())} of {len(has)} with it")
    return codes[has].mean(0) - codes[~has].mean(0)


def apply_attribute(codes, v, alphas) -> "np.ndarray":
    """z + alpha v for every code and strength: (N, L), (L,), (A,) -> (N, A, L)."""
    codes = np.asarray(codes, np.float64)
    return codes[:, None, :] + np.asarray(alphas, np.float64)[None, :, None] * v[None, None, :]


def with_no_grad(fn, *args, **kwargs):
    """Call ``fn`` with gradient recording off (helper for demos)."""
    with no_grad():
        return fn(*args, **kwargs)


def class_split(x, y, held_out: int, n_normal: Optional[int] = None):
    """Anomaly-detection split: (normal images (label != held_out), labels == held_out mask)."""
    y = np.asarray(y)
    normal = x[y != held_out]
    return (normal[:n_normal] if n_normal else normal), y == held_out
