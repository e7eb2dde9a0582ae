"""Objective functions of the generative methods, one small documented function each.

Sections (each owned by the method family that uses it):

    GAN losses        discriminator / generator losses and the gradient penalty
    Label-using GANs  the K+1-class SGAN losses, feature matching, InfoGAN's information bound
    Style transfer    Gram matrix, style / content / total-variation losses (Gatys et al.)
    Super-resolution  SRGAN's perceptual (VGG feature) content loss

Differentiable: every function is composed of Tensor ops, so its first and
second derivatives follow from the engine (the gradient penalty needs the
second ones).
"""
from __future__ import annotations

from tinygen import functional as F
from tinygen import ops  # noqa: F401
from tinygen.autograd import Tensor, as_tensor, enable_grad, grad
from tinygen.creation import full_like, rand

# ==== GAN losses ====================================================================
#
# Notation (Goodfellow et al. 2014, arXiv:1406.2661, eq. 1):
#     x ~ p_r          real samples              z ~ p_z      noise
#     G(z) ~ p_g       generated samples         D(x) = sigmoid(l(x)) in (0, 1)
#     l_r = l(x)       discriminator *logits* on a real batch   (N, 1) or (N,)
#     l_f = l(G(z))    discriminator logits on a fake batch     (M, 1) or (M,)
#
# Every loss takes logits, never probabilities, because log D and log(1 - D) are
# softplus functions of the logit, exact and finite for any |l| (even 1e4):
#     log D(x)       = log sigmoid(l)     = -softplus(-l)
#     log(1 - D(x))  = log sigmoid(-l)    = -softplus(l)
# whereas log(sigmoid(l)) in floating point gives log(0) = -inf for l < -104 (float32).
#
# Each loss is the quantity the player *minimises*, averaged over the batch.
# The WGAN / hinge / least-squares critics output an unbounded score; we still call
# it l (the same network, no sigmoid).
#
#     name           discriminator minimises                 generator minimises
#     minimax        -E log D(x) - E log(1 - D(G(z)))        E log(1 - D(G(z)))
#     nonsaturating  (same)                                  -E log D(G(z))
#     wgan           E f(G(z)) - E f(x)                      -E f(G(z))
#     lsgan          1/2 E (D(x) - 1)^2 + 1/2 E D(G(z))^2    1/2 E (D(G(z)) - 1)^2
#     hinge          E relu(1 - f(x)) + E relu(1 + f(G(z)))  -E f(G(z))

GAN_LOSSES = ("minimax", "nonsaturating", "wgan", "wgan-gp", "lsgan", "hinge")


def _logits(name, t):
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: expected a Tensor of discriminator logits, got {type(t).__name__}")
    if t.ndim == 2 and t.shape[1] != 1:
        raise ValueError(f"{name}: logits must have shape (N,) or (N, 1), got {t.shape}; "
                         "the discriminator should output one score per sample")
    return t


def _target(value, logits):
    """A label (float or tensor) -> a constant tensor shaped like ``logits``."""
    if isinstance(value, Tensor):
        return value.detach().reshape(logits.shape)
    return full_like(logits, float(value))


def d_loss_minimax(real_logits, fake_logits, real_target=1.0, fake_target=0.0):
    """Discriminator loss of the original GAN: binary cross-entropy, real = 1, fake = 0.

        L_D = -E_x log D(x) - E_z log(1 - D(G(z)))          [GAN] eq. (1), Algorithm 1
            =  E softplus(-l_r) + E softplus(l_f)           (on logits)

    Minimising L_D is ascending V(D, G) in D. At the optimum D*(x) = p_r / (p_r + p_g)
    (Proposition 1) and -L_D(D*) = V(D*, G) = 2 JS(p_r || p_g) - 2 log 2 (Theorem 1).

    ``real_target`` / ``fake_target`` are the labels (a float or a tensor shaped like
    the logits): 0.9 for real gives *one-sided label smoothing* (Salimans et al. 2016,
    arXiv:1606.03498, Sec. 3.4); random flips give "noisy labels". With the defaults
    the loss is the expression above exactly.

    Shapes: real_logits (N, 1) or (N,), fake_logits (M, 1) or (M,) -> scalar.
    Non-negative; equals 2 log 2 when both logits are 0 (D = 1/2 everywhere).
    """
    real_logits = _logits("d_loss_minimax", real_logits)
    fake_logits = _logits("d_loss_minimax", fake_logits)
    real_target = _target(real_target, real_logits)
    fake_target = _target(fake_target, fake_logits)
    return (F.binary_cross_entropy_with_logits(real_logits, real_target)
            + F.binary_cross_entropy_with_logits(fake_logits, fake_target))


# The non-saturating GAN trains D exactly like the minimax one.
d_loss_nonsaturating = d_loss_minimax


def g_loss_minimax(fake_logits):
    """Generator loss of the minimax game: minimise E log(1 - D(G(z))) = -E softplus(l_f).

    [GAN] Algorithm 1, generator update. Its gradient with respect to the logit is
    d/dl_f [-softplus(l_f)] = -sigmoid(l_f) -> 0 as D(G(z)) -> 0: early in training,
    when D rejects the fakes confidently, the generator receives almost no gradient
    ("saturation", [GAN] Sec. 3, last paragraph). Bounded above by 0, unbounded below.
    """
    fake_logits = _logits("g_loss_minimax", fake_logits)
    return -F.softplus(fake_logits).mean()


def g_loss_nonsaturating(fake_logits):
    """Non-saturating generator loss: minimise -E log D(G(z)) = E softplus(-l_f).

    [GAN] Sec. 3: "Rather than training G to minimize log(1 - D(G(z))) we can train G to
    maximize log D(G(z)). This objective results in the same fixed point of the dynamics
    of G and D but provides much stronger gradients early in learning."
    d/dl_f softplus(-l_f) = -sigmoid(-l_f) -> -1 as D(G(z)) -> 0. Non-negative.
    """
    fake_logits = _logits("g_loss_nonsaturating", fake_logits)
    return F.softplus(-fake_logits).mean()


def d_loss_wasserstein(real_scores, fake_scores):
    """WGAN critic loss: minimise E f(G(z)) - E f(x), i.e. maximise the Kantorovich-Rubinstein
    estimate  W(p_r, p_g) ~ max_{||f||_L <= 1} E f(x) - E f(G(z))   (Arjovsky et al. 2017,
    arXiv:1701.07875, eq. 3 and Algorithm 1, line 5). The Lipschitz constraint is enforced
    elsewhere (weight clipping in ``wgan``, the gradient penalty in ``wgan_gp``).
    -loss is the critic's estimate of W (up to the Lipschitz constant).
    """
    real_scores = _logits("d_loss_wasserstein", real_scores)
    fake_scores = _logits("d_loss_wasserstein", fake_scores)
    return fake_scores.mean() - real_scores.mean()


def g_loss_wasserstein(fake_scores):
    """WGAN generator loss: minimise -E f(G(z))  ([WGAN] Algorithm 1, line 10)."""
    fake_scores = _logits("g_loss_wasserstein", fake_scores)
    return -fake_scores.mean()


def d_loss_least_squares(real_scores, fake_scores, a=0.0, b=1.0):
    """LSGAN discriminator loss (Mao et al. 2017, arXiv:1611.04076, eq. 2):

        L_D = 1/2 E (D(x) - b)^2 + 1/2 E (D(G(z)) - a)^2

    with the 0-1 coding a = 0 (fake), b = 1 (real) of Sec. 3.2.3 (eq. 9), D an unbounded
    score (no sigmoid). Non-negative, zero iff D = b on reals and a on fakes.
    """
    real_scores = _logits("d_loss_least_squares", real_scores)
    fake_scores = _logits("d_loss_least_squares", fake_scores)
    return 0.5 * ((real_scores - b) ** 2).mean() + 0.5 * ((fake_scores - a) ** 2).mean()


def g_loss_least_squares(fake_scores, c=1.0):
    """LSGAN generator loss: L_G = 1/2 E (D(G(z)) - c)^2 with c = 1 ([LSGAN] eq. 2, 9)."""
    fake_scores = _logits("g_loss_least_squares", fake_scores)
    return 0.5 * ((fake_scores - c) ** 2).mean()


def d_loss_hinge(real_scores, fake_scores):
    """Hinge discriminator loss (Lim & Ye 2017, arXiv:1705.02894; Miyato et al. 2018,
    arXiv:1802.05957, eq. 16):  L_D = E relu(1 - f(x)) + E relu(1 + f(G(z))).
    Non-negative; zero once reals score >= 1 and fakes <= -1.
    """
    real_scores = _logits("d_loss_hinge", real_scores)
    fake_scores = _logits("d_loss_hinge", fake_scores)
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


# The hinge generator is the Wasserstein one: minimise -E f(G(z)).
g_loss_hinge = g_loss_wasserstein


def gan_losses(name: str):
    """``--loss`` name -> (discriminator loss, generator loss) functions.

    'wgan-gp' uses the Wasserstein pair; its penalty is added by :func:`gradient_penalty`.
    """
    table = {
        "minimax": (d_loss_minimax, g_loss_minimax),
        "nonsaturating": (d_loss_nonsaturating, g_loss_nonsaturating),
        "wgan": (d_loss_wasserstein, g_loss_wasserstein),
        "wgan-gp": (d_loss_wasserstein, g_loss_wasserstein),
        "lsgan": (d_loss_least_squares, g_loss_least_squares),
        "hinge": (d_loss_hinge, g_loss_hinge),
    }
    if name not in table:
        raise ValueError(f"unknown GAN loss {name!r}; choose one of {', '.join(GAN_LOSSES)}")
    return table[name]


def interpolates(real, fake, epsilon):
    """x_hat = eps x + (1 - eps) x_tilde, one eps ~ U[0, 1] per sample.

    [WGAN-GP] Algorithm 1, line 6. Shapes: real, fake (N, *d); epsilon (N, 1, ..., 1).
    """
    return epsilon * real + (1.0 - epsilon) * fake


def gradient_penalty(critic, real, fake, lambda_: float = 10.0, epsilon=None, eps_norm=1e-12):
    """The WGAN-GP gradient penalty (Gulrajani et al. 2017, arXiv:1704.00028, eq. 3,
    Algorithm 1, lines 6-7):

        x_hat = eps x + (1 - eps) x_tilde,        eps ~ U[0, 1]
        GP    = lambda E_{x_hat} ( ||grad_{x_hat} D(x_hat)||_2 - 1 )^2

    The gradient grad_{x_hat} D(x_hat) is computed with ``create_graph=True``, so the
    penalty is itself differentiable with respect to the critic's weights w: its
    gradient involves d^2 D / (dw dx_hat), a true double backward through the critic.

    Args:
        critic: a callable (e.g. an nn.Module) mapping (N, *d) to scores (N, 1) or (N,).
        real, fake: (N, *d) batches; both are treated as constants (detached).
        lambda_: the penalty weight (10 in the paper).
        epsilon: optional (N,) or (N, 1, ..., 1) interpolation weights (drawn U[0, 1]
            from tinygen's seeded generator when None).
        eps_norm: ||g|| is computed as sqrt(sum g^2 + eps_norm). Departure from the
            paper: the tiny constant keeps the derivative of the norm finite at g = 0
            (1e-12 shifts the norm by at most 1e-6).

    Returns:
        The scalar lambda * mean((||g|| - 1)^2).
    """
    if real.shape != fake.shape:
        raise ValueError(f"gradient_penalty: real {real.shape} and fake {fake.shape} must have "
                         "the same shape (draw as many fakes as reals)")
    n = real.shape[0]
    broadcast = (n,) + (1,) * (real.ndim - 1)
    if epsilon is None:
        epsilon = rand(*broadcast, dtype=real.dtype, device=real.device)
    else:
        epsilon = as_tensor(epsilon, real).reshape(broadcast)
    x_hat = interpolates(real.detach(), fake.detach(), epsilon.detach())     # (N, *d)
    x_hat = x_hat.detach().requires_grad_()
    # enable_grad: the inner gradient exists even when called under no_grad (for logging).
    with enable_grad():
        scores = critic(x_hat)                                               # (N, 1)
        (g,) = grad(scores.sum(), x_hat, create_graph=True)                  # (N, *d)
    g = g.reshape(n, -1)                                                     # (N, D)
    norm = ((g * g).sum(1) + eps_norm).sqrt()                                # (N,)
    return lambda_ * ((norm - 1.0) ** 2).mean()


def r1_penalty(discriminator, real, gamma: float = 10.0):
    """The R1 penalty on real data (Mescheder et al. 2018, arXiv:1801.04406, eq. 9; the
    regulariser of StyleGAN, Karras et al. 2019, arXiv:1812.04948, Sec. 4 and App. C):

        R1 = gamma / 2 * E_{x ~ p_data} || grad_x D(x) ||^2

    D(x) is the logit (the discriminator's raw score). As in :func:`gradient_penalty`, the
    inner gradient grad_x D(x) is taken with ``create_graph=True``, so descending R1 with
    respect to D's weights runs a double backward through D.

    Args:
        discriminator: a callable mapping (N, *d) to logits (N, 1) or (N,).
        real: (N, *d) real batch, treated as a constant (detached).
        gamma: the weight (StyleGAN: 10 on FFHQ; StyleGAN2 scales it with the resolution).

    Returns:
        The scalar gamma / 2 * mean_n sum_d (dD(x_n)/dx_nd)^2.
    """
    n = real.shape[0]
    x = real.detach().requires_grad_()                                      # (N, *d)
    with enable_grad():                   # the gradient exists even under no_grad (logging)
        logits = discriminator(x)                                           # (N, 1)
        (g,) = grad(logits.sum(), x, create_graph=True)                     # (N, *d)
    g = g.reshape(n, -1)                                                    # (N, D)
    return (0.5 * gamma) * (g * g).sum(1).mean()


# ==== Label-using GAN losses (SGAN, InfoGAN) =======================================
#
# cGAN, ACGAN and BiGAN need no new objective: their D sees a label or a code beside x and
# is trained with d_loss_minimax above (ACGAN adds a cross-entropy, F.cross_entropy).
# New here: the K+1-class discriminator of the semi-supervised GAN, feature matching, and
# InfoGAN's variational bound on the mutual information.

import math  # noqa: E402  (imports of this section kept beside it)


def kplus1_logit(class_logits):
    """The real-vs-fake logit of a K+1-class discriminator whose fake logit is fixed at 0.

    Salimans et al. 2016 (arXiv:1606.03498), Sec. 5: D outputs logits l_1..l_K for the K
    real classes and l_{K+1} for "fake"; since softmax is unchanged by subtracting l_{K+1}
    from every logit, fix l_{K+1} = 0. Then with Z(x) = sum_k exp l_k(x)

        D(x) = p(real | x) = Z(x) / (Z(x) + 1) = sigmoid(log Z(x)),

    so the binary GAN logit is l(x) = logsumexp_k l_k(x), computed stably by ops.logsumexp.
    Shapes: class_logits (N, K) -> (N,).
    """
    if not isinstance(class_logits, Tensor) or class_logits.ndim != 2:
        raise ValueError("kplus1_logit: expected class logits of shape (N, K), got "
                         f"{getattr(class_logits, 'shape', type(class_logits).__name__)}")
    return ops.logsumexp(class_logits, 1)                            # (N,)


def sgan_supervised_loss(class_logits, labels):
    """L_supervised = -E_{x,y ~ p_data} log p(y | x, y < K + 1)   (Salimans et al., eq. 5).

    Conditioned on "real", the K+1-way softmax is the K-way softmax of l_1..l_K, so this is
    the ordinary cross-entropy of the labelled batch. Shapes: (N, K), labels (N,) -> scalar.
    """
    return F.cross_entropy(class_logits, labels)


def sgan_unsupervised_loss(real_logits, fake_logits):
    """L_unsupervised = -E_x log D(x) - E_z log(1 - D(G(z)))  (Salimans et al., eq. 5)

    with D(x) = Z(x) / (Z(x) + 1) (:func:`kplus1_logit`); on the logsumexp logits this is the
    original GAN's discriminator loss:

        L = E softplus(-lse(l(x))) + E softplus(lse(l(G(z))))
          = -E lse(l(x)) + E softplus(lse(l(x))) + E softplus(lse(l(G(z))))   (the code's form)

    Shapes: real_logits (N, K), fake_logits (M, K) -> scalar, non-negative.
    """
    return d_loss_minimax(kplus1_logit(real_logits), kplus1_logit(fake_logits))


def feature_matching_loss(real_features, fake_features):
    """|| E_x f(x) - E_z f(G(z)) ||^2 / d   (Salimans et al. 2016, Sec. 3.1)

    The generator matches the mean of an intermediate layer f of D on real data instead of
    maximising D's output. Departure: divided by the feature size d (the mean of squares, as
    the authors' code ``T.mean(T.square(m1 - m2))`` does) so the scale is width-free.
    The real features are a target: the gradient flows only into the fake ones.
    Shapes: real_features (N, d), fake_features (M, d) -> scalar, >= 0, 0 iff the means agree.
    """
    _check_pair_features(real_features, fake_features)
    diff = real_features.detach().mean(0) - fake_features.mean(0)    # (d,)
    return (diff * diff).mean()


def _check_pair_features(a, b):
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature_matching_loss: features must be (N, d) and (M, d) with the "
                         f"same d, got {a.shape} and {b.shape}")


def infogan_information_loss(code_logits, categories, cont_mean=None, cont_codes=None,
                             cont_logvar=None):
    """-L_I(G, Q) + H(c): the negative variational lower bound on I(c; G(z, c)).

    Chen et al. 2016 (InfoGAN, arXiv:1606.03657), eq. (4)-(5):
        L_I = E_{c ~ p(c), x ~ G(z, c)} [log Q(c | x)] + H(c)  <=  I(c; G(z, c)).
    H(c) is a constant of the prior, so the loss is the negative log-likelihood of the codes
    under Q: a cross-entropy for the categorical code, and for each continuous code a
    factored Gaussian -log N(c; mu, exp(logvar)) = 1/2 [(c - mu)^2 / exp(logvar) + logvar
    + log 2 pi] (logvar None: fixed unit variance, as the paper's MNIST code treats it).
    Summed over codes, averaged over the batch.

    Shapes: code_logits (N, K), categories (N,) int; cont_mean / cont_codes (N, L),
    cont_logvar (N, L) or None -> scalar.
    """
    loss = F.cross_entropy(code_logits, categories)
    if cont_mean is not None:
        if cont_codes is None or tuple(cont_codes.shape) != tuple(cont_mean.shape):
            raise ValueError("infogan_information_loss: cont_codes must have the shape of "
                             f"cont_mean {tuple(cont_mean.shape)}, got "
                             f"{None if cont_codes is None else tuple(cont_codes.shape)}")
        diff = cont_codes.detach() - cont_mean                        # (N, L)
        if cont_logvar is None:
            nll = 0.5 * diff * diff + 0.5 * math.log(2 * math.pi)
        else:
            nll = 0.5 * (diff * diff * (-cont_logvar).exp() + cont_logvar
                         + math.log(2 * math.pi))
        loss = loss + nll.sum(1).mean()
    return loss


# ==== Autoencoder and VAE losses ====================================================
#
# Notation (Kingma & Welling 2014, "Auto-Encoding Variational Bayes", arXiv:1312.6114):
#     x (N, D)            a batch of data, flattened
#     q(z|x) = N(mu, diag(sigma^2))   the encoder's Gaussian; we carry logvar = log sigma^2
#     p(z)   = N(0, I)                the prior
#     p(x|z)                           the decoder: Bernoulli(sigmoid(logits)) or N(mean, sigma_x^2)
#     ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z))      (eq. 3), in nats per image
# Autoencoder regularisers act on the code h (N, J) of an encoder h = f(x).
#
# Every function returns one value per sample (N,) unless it says otherwise, so the
# caller decides between a batch mean (training) and a per-image report (evaluation).

from tinygen.creation import randn_like  # noqa: E402

_LOG_2PI = math.log(2.0 * math.pi)


def _check_pair(name, a, b):
    if a.shape != b.shape:
        raise ValueError(f"{name}: shapes {a.shape} and {b.shape} differ; pass mu and logvar "
                         "(or the two tensors being compared) with the same shape (N, J)")


def _flat_sum(t: Tensor) -> Tensor:
    """Sum over every axis but the first: (N, *) -> (N,)."""
    return t.reshape(t.shape[0], -1).sum(1)


def kl_normal_standard(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag(sigma^2)) || N(0, I)) in closed form, per sample.

    Kingma & Welling 2014, Appendix B:
        -KL = 1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)

    Shapes: mu, logvar (N, J) -> (N,).
    """
    _check_pair("kl_normal_standard", mu, logvar)
    return 0.5 * (mu * mu + logvar.exp() - 1.0 - logvar).sum(-1)   # (N,)


def log_normal_diag(z: Tensor, mu, logvar) -> Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last axis.

    log N = -1/2 sum_j [ log(2 pi) + logvar_j + (z_j - mu_j)^2 / exp(logvar_j) ]
    ``mu`` and ``logvar`` broadcast against z (use 0.0 for the standard normal).
    Shapes: z (..., J) -> (...,).
    """
    mu = as_tensor(mu, z)
    logvar = as_tensor(logvar, z)
    d = z - mu
    return -0.5 * (_LOG_2PI + logvar + d * d * (-logvar).exp()).sum(-1)


def kl_normal_monte_carlo(mu: Tensor, logvar: Tensor, eps: Tensor) -> Tensor:
    """Monte-Carlo estimate of the same KL: mean_s [log q(z_s|x) - log p(z_s)].

    z_s = mu + sigma * eps_s (the reparameterisation, eq. 10 of Kingma & Welling),
    so the estimate is differentiable in mu and logvar and unbiased for the
    closed form above (the test checks both).
    Shapes: mu, logvar (N, J); eps (S, N, J) -> (N,).
    """
    _check_pair("kl_normal_monte_carlo", mu, logvar)
    if tuple(eps.shape[1:]) != tuple(mu.shape):
        raise ValueError(f"kl_normal_monte_carlo: eps must be (S, N, J) = (S, *{mu.shape}), "
                         f"got {eps.shape}")
    z = mu + (0.5 * logvar).exp() * eps                            # (S, N, J)
    log_q = log_normal_diag(z, mu, logvar)                         # (S, N)
    log_p = log_normal_diag(z, 0.0, 0.0)                           # (S, N)
    return (log_q - log_p).mean(0)                                 # (N,)


def bernoulli_log_likelihood(logits: Tensor, x) -> Tensor:
    """log p(x|z) for a Bernoulli decoder with logits l, per sample, stable for any |l|.

        log p(x|z) = sum_d [x_d log s(l_d) + (1 - x_d) log(1 - s(l_d))]
                   = -sum_d [softplus(l_d) - x_d l_d]
    (the negative of binary cross-entropy with logits, summed over pixels).
    Shapes: logits, x (N, *) -> (N,).
    """
    x = as_tensor(x, logits)
    _check_pair("bernoulli_log_likelihood", logits, x)
    return -_flat_sum(F.softplus(logits) - x * logits)


def gaussian_log_likelihood(mean: Tensor, x, logvar=0.0) -> Tensor:
    """log N(x; mean, exp(logvar) I) per sample (Kingma & Welling, Appendix C.2).

    ``logvar`` is a scalar (a fixed decoder variance) or a tensor like ``mean``.
    Shapes: mean, x (N, *) -> (N,).
    """
    x = as_tensor(x, mean)
    _check_pair("gaussian_log_likelihood", mean, x)
    logvar = as_tensor(logvar, mean)
    d = x - mean
    return -0.5 * _flat_sum(_LOG_2PI + logvar + d * d * (-logvar).exp())


def negative_elbo(log_px_given_z: Tensor, kl: Tensor, beta: float = 1.0) -> Tensor:
    """The loss a VAE minimises, averaged over the batch:  mean_n [-log p(x|z) + beta KL].

    beta = 1 is the ELBO of Kingma & Welling (eq. 3, one sample of z per x, L = 1);
    beta > 1 is the beta-VAE of Higgins et al. 2017 (ICLR, eq. 4).
    Shapes: log_px_given_z, kl (N,) -> scalar.
    """
    _check_pair("negative_elbo", log_px_given_z, kl)
    return (-log_px_given_z + beta * kl).mean()


def iwae_bound(log_w: Tensor) -> Tensor:
    """Importance-weighted bound L_k = log (1/k) sum_i w_i, computed as logsumexp.

    Burda, Grosse & Salakhutdinov 2016, "Importance Weighted Autoencoders",
    arXiv:1509.00519, eq. 8, with log w_i = log p(x, z_i) - log q(z_i|x), z_i ~ q(z|x).
    L_1 is the ELBO; L_k increases with k towards log p(x).
    Shapes: log_w (k, N) -> (N,).
    """
    k = log_w.shape[0]
    return ops.logsumexp(log_w, 0) - math.log(k)


def l1_code_penalty(h: Tensor) -> Tensor:
    """Sparsity by an L1 penalty on the code:  Omega(h) = sum_j |h_j|, per sample.

    Goodfellow, Bengio & Courville, "Deep Learning", Sec. 14.2.1 (sparse autoencoders).
    Shapes: h (N, J) -> (N,).
    """
    return h.abs().sum(-1)


def sparse_kl_penalty(h: Tensor, rho: float = 0.05, eps: float = 1e-6) -> Tensor:
    """The KL sparsity penalty sum_j KL(rho || rho_hat_j), a scalar for the batch.

    Ng, "Sparse autoencoder" (CS294A lecture notes, 2011), Sec. 3:
        rho_hat_j = (1/N) sum_n h_j(x_n)                (mean activation of unit j)
        KL(rho || rho_hat_j) = rho log(rho / rho_hat_j)
                               + (1 - rho) log((1 - rho) / (1 - rho_hat_j))
    h must be in (0, 1) (sigmoid units). rho_hat is clipped to [eps, 1 - eps]
    (a departure that only matters for dead or saturated units: it keeps the
    penalty finite; its gradient there is zero).
    Shapes: h (N, J) -> scalar.
    """
    if not 0.0 < rho < 1.0:
        raise ValueError(f"sparse_kl_penalty: the target activation rho must lie in (0, 1), got {rho}")
    rho_hat = ops.clip(h.mean(0), eps, 1.0 - eps)                  # (J,)
    return (rho * (rho / rho_hat).log()
            + (1.0 - rho) * ((1.0 - rho) / (1.0 - rho_hat)).log()).sum()


def contractive_penalty(h: Tensor, x: Tensor, n_projections: int = 0) -> Tensor:
    """||J_f(x)||_F^2 = sum_{j,d} (dh_j/dx_d)^2 per sample, by the autograd engine.

    Rifai et al. 2011, "Contractive Auto-Encoders: Explicit Invariance During
    Feature Extraction" (ICML), eq. 1-2. Exact version (n_projections = 0): one
    backward pass per code unit j gives row j of the Jacobian of every sample at
    once (samples do not interact):  J_j = grad(sum_n h_{n,j}, x). Each is built with
    ``create_graph=True`` so the penalty can itself be differentiated (the
    training step needs d penalty / d theta: a second derivative).
    With n_projections = P > 0 it uses the unbiased estimate
    E_v ||J^T v||^2 = ||J||_F^2, v ~ N(0, I), one backward per projection
    (cheaper when the code is wide).
    Requires: x.requires_grad and h computed from x. Shapes: h (N, J), x (N, *) -> (N,).
    """
    if not x.requires_grad:
        raise ValueError("contractive_penalty: x must require grad (call x.requires_grad_() "
                         "before computing h = encoder(x)) so that dh/dx exists")
    if h.ndim != 2:
        raise ValueError(f"contractive_penalty: h must be (N, J), got {h.shape}")
    if not h.requires_grad:
        raise ValueError("contractive_penalty: h has no graph back to x; compute h = encoder(x) "
                         "with gradients on (inside `with tinygen.enable_grad():` when the "
                         "caller runs under no_grad)")
    total = None
    if n_projections <= 0:
        for j in range(h.shape[1]):
            (J_j,) = grad(h[:, j].sum(), x, create_graph=True)      # (N, *)  dh_j/dx
            term = _flat_sum(J_j * J_j)                              # (N,)
            total = term if total is None else total + term
        return total
    for _ in range(n_projections):
        v = randn_like(h)                                            # (N, J)
        (Jt_v,) = grad(h, x, v, create_graph=True)                   # (N, *)  J^T v
        term = _flat_sum(Jt_v * Jt_v)
        total = term if total is None else total + term
    return total / float(n_projections)


def contractive_penalty_sigmoid(h: Tensor, W: Tensor) -> Tensor:
    """Closed form of ||J_f(x)||_F^2 for a sigmoid layer h = sigmoid(W x + b).

    Rifai et al. 2011: dh_j/dx_d = h_j (1 - h_j) W_jd, hence
        ||J_f(x)||_F^2 = sum_j (h_j (1 - h_j))^2 sum_d W_jd^2
    Shapes: h (N, J), W (J, D) (nn.Linear's weight) -> (N,).
    """
    if h.shape[1] != W.shape[0]:
        raise ValueError(f"contractive_penalty_sigmoid: h has {h.shape[1]} units but W has "
                         f"{W.shape[0]} rows (W must be the encoder Linear's weight, (J, D))")
    s = h * (1.0 - h)                                                # (N, J)
    return ((s * s) * (W * W).sum(1)).sum(-1)                      # (N,)


# ==== Style transfer losses =========================================================
#
# Notation (Gatys, Ecker & Bethge 2016, "Image Style Transfer Using Convolutional
# Neural Networks", CVPR; arXiv:1508.06576, Sec. 2):
#     x          the image being optimised, (1, 3, H, W)
#     F^l        its feature maps in layer l, (N, N_l, H_l, W_l) with N_l channels;
#                flattened over positions to (N_l, M_l), M_l = H_l W_l
#     P^l        the content image's features in layer l (same shape)
#     G^l        the Gram matrix of x in layer l:  G^l_ij = sum_k F^l_ik F^l_jk   (eq. 3)
#     A^l        the Gram matrix of the style image in layer l
# In the course's notation (deeplearning.ai C4W4): n_C = N_l, n_H n_W = M_l.
#
# Why a Gram matrix describes "style": G^l_ij = M_l * E_k[F_ik F_jk] is the (uncentred)
# second moment of the feature vector at a *random position k*. Summing over k throws
# the spatial arrangement away (any permutation of positions leaves G unchanged) and
# keeps which features occur together: texture, colour, stroke statistics. The
# derivation is in docs/style_transfer.md.
#
# The style-loss normalisations taught side by side (E_l = c_l sum_ij (G_ij - A_ij)^2):
#     "gatys"  c_l = 1 / (4 N_l^2 M_l^2)          Gatys et al. eq. 4
#     "ng"     c_l = 1 / (2 n_H n_W n_C)^2         deeplearning.ai; the SAME number as
#                                                  "gatys", since (2 M N)^2 = 4 N^2 M^2
#     "slide"  c_l = 1 / (4 (n_H n_W)^2)           one course slide; differs from "gatys"
#                                                  by N_l^2, so deep (wide) layers weigh
#                                                  N_l^2 times more
#     "none"   c_l = 1                             the raw squared Frobenius distance
# They change only the relative weight of the layers and the scale of beta.

STYLE_NORMALISATIONS = ("gatys", "ng", "slide", "none")


def _features_4d(name, F):
    if not isinstance(F, Tensor):
        raise TypeError(f"{name}: expected a Tensor of feature maps, got {type(F).__name__}")
    if F.ndim != 4:
        raise ValueError(f"{name}: feature maps must be (N, C, H, W), got shape {F.shape}; "
                         "add the batch axis with .unsqueeze(0) for a single image")
    return F


def gram_matrix(features: Tensor, normalize: bool = False) -> Tensor:
    """The Gram matrix of feature maps over spatial positions (Gatys et al., eq. 3).

        G_ij = sum_k F_ik F_jk,   i.e.  G = F F^T   with F reshaped to (C, H W)

    ``normalize=True`` divides by M = H W (the mean over positions instead of the sum),
    which makes G independent of the image size.
    Symmetric and positive semidefinite: v^T G v = ||F^T v||^2 >= 0.

    Shapes: features (N, C, H, W) -> G (N, C, C).
    """
    F = _features_4d("gram_matrix", features)
    n, c, h, w = F.shape
    F = F.reshape(n, c, h * w)                                       # (N, C, M)
    # One 2-D product per image: NumPy runs a batched (N, C, M) @ (N, M, C) on a
    # transposed view without BLAS, ~7x slower than the 2-D F_n F_n^T.
    G = ops.stack([F[i] @ F[i].T for i in range(n)], 0)              # (N, C, C)
    return G / float(h * w) if normalize else G


def style_normalisation(name: str, channels: int, positions: int) -> float:
    """The constant c_l in E_l = c_l sum_ij (G_ij - A_ij)^2 (see the table above).

    channels = N_l = n_C, positions = M_l = n_H n_W.
    """
    N, M = float(channels), float(positions)
    table = {
        "gatys": 1.0 / (4.0 * N ** 2 * M ** 2),
        "ng": 1.0 / (2.0 * M * N) ** 2,
        "slide": 1.0 / (4.0 * M ** 2),
        "none": 1.0,
    }
    if name not in table:
        raise ValueError(f"unknown style normalisation {name!r}; choose one of "
                         f"{', '.join(STYLE_NORMALISATIONS)}")
    return table[name]


def style_layer_loss(features: Tensor, target_gram, normalisation: str = "gatys") -> Tensor:
    """E_l = c_l sum_ij (G^l_ij - A^l_ij)^2, averaged over the batch (Gatys et al., eq. 4).

    ``target_gram`` is A^l, the *unnormalised* Gram matrix of the style image
    (``gram_matrix(style_features)``), treated as a constant; (1, C, C) broadcasts
    over a batch of generated images.
    Shapes: features (N, C, H, W), target_gram (N or 1, C, C) -> scalar.
    """
    F = _features_4d("style_layer_loss", features)
    n, c, h, w = F.shape
    A = as_tensor(target_gram, F).detach()
    if A.ndim != 3 or A.shape[1:] != (c, c):
        raise ValueError(f"style_layer_loss: target_gram must be (N or 1, {c}, {c}) to match "
                         f"features {F.shape}, got {A.shape}")
    G = gram_matrix(F)                                               # (N, C, C)
    D = G - A                                                        # (N, C, C)
    c_l = style_normalisation(normalisation, c, h * w)
    return c_l * (D * D).sum() / float(n)


def style_loss(features: dict, target_grams: dict, layer_weights: dict = None,
               normalisation: str = "gatys") -> Tensor:
    """L_style = sum_l w_l E_l over the style layers (Gatys et al., eq. 5).

    Gatys et al. use conv1_1, conv2_1, conv3_1, conv4_1, conv5_1 with w_l = 1/5.
    ``layer_weights`` defaults to 1/L for each of the L layers of ``target_grams``.
    Shapes: features[l] (N, C_l, H_l, W_l), target_grams[l] (1, C_l, C_l) -> scalar.
    """
    layers = list(target_grams)
    if layer_weights is None:
        layer_weights = {l: 1.0 / len(layers) for l in layers}
    missing = [l for l in layer_weights if l not in features or l not in target_grams]
    if missing:
        raise KeyError(f"style_loss: layers {missing} have a weight but no features or target "
                       f"Gram matrix (features: {sorted(features)}, targets: {sorted(target_grams)})")
    total = None
    for l, w_l in layer_weights.items():
        E_l = style_layer_loss(features[l], target_grams[l], normalisation)
        total = w_l * E_l if total is None else total + w_l * E_l
    return total


CONTENT_NORMALISATIONS = ("gatys", "ng", "mean")


def content_loss(features: Tensor, target, normalisation: str = "gatys") -> Tensor:
    """L_content = c sum_ij (F^l_ij - P^l_ij)^2 on one layer, averaged over the batch.

    "gatys": c = 1/2 (Gatys et al., eq. 1; they use conv4_2);
    "ng":    c = 1/(4 n_H n_W n_C) (deeplearning.ai);
    "mean":  c = 1/(N_l M_l), the mean squared error.
    ``target`` (P^l, from the content image) is a constant.
    Shapes: features (N, C, H, W), target (N or 1, C, H, W) -> scalar.
    """
    F = _features_4d("content_loss", features)
    n, c, h, w = F.shape
    P = as_tensor(target, F).detach()
    if P.shape[1:] != F.shape[1:]:
        raise ValueError(f"content_loss: target {P.shape} does not match features {F.shape} "
                         "(compute both at the same layer on images of the same size)")
    table = {"gatys": 0.5, "ng": 1.0 / (4.0 * c * h * w), "mean": 1.0 / (c * h * w)}
    if normalisation not in table:
        raise ValueError(f"unknown content normalisation {normalisation!r}; choose one of "
                         f"{', '.join(CONTENT_NORMALISATIONS)}")
    D = F - P                                                        # (N, C, H, W)
    return table[normalisation] * (D * D).sum() / float(n)


def total_variation_loss(x: Tensor, reduction: str = "mean") -> Tensor:
    """Squared total variation, a smoothness prior on the image:

        TV(x) = sum_{c,i,j} (x_{c,i+1,j} - x_{c,i,j})^2 + (x_{c,i,j+1} - x_{c,i,j})^2

    the beta = 2 case of Mahendran & Vedaldi 2015 ("Understanding Deep Image
    Representations by Inverting Them", arXiv:1412.0035, eq. 5 with beta = 2; the
    squared form is smooth, so L-BFGS and gradchecks see no kink). Gatys et al. use no
    TV term; it is a common addition that removes high-frequency noise.
    ``reduction="mean"`` divides by the number of pixel values N C H W (size-independent);
    ``"sum"`` keeps the sum.
    Shapes: x (N, C, H, W) -> scalar.
    """
    x = _features_4d("total_variation_loss", x)
    dh = x[:, :, 1:, :] - x[:, :, :-1, :]                            # (N, C, H-1, W)
    dw = x[:, :, :, 1:] - x[:, :, :, :-1]                            # (N, C, H, W-1)
    tv = (dh * dh).sum() + (dw * dw).sum()
    if reduction == "sum":
        return tv
    if reduction == "mean":
        return tv / float(x.numel())
    raise ValueError(f"total_variation_loss: reduction must be 'mean' or 'sum', got {reduction!r}")


def symmetry_loss(x: Tensor) -> Tensor:
    """TP-GAN's symmetry loss (Huang et al. 2017, arXiv:1704.04086, Sec. 3.3, eq. 4):

        L_sym = 1 / (W/2 x H) sum_{x=1}^{W/2} sum_{y=1}^{H} | I(x, y) - I(W - (x - 1), y) |

    the mean absolute difference between the image and its horizontal mirror over the left
    half (the right half gives the same terms, so it is the mean over the whole image).
    Frontal faces are nearly mirror-symmetric; digits are not (the method's option).
    Shapes: x (N, C, H, W) -> scalar.
    """
    x = _features_4d("symmetry_loss", x)
    return (x - x.flip(3)).abs().mean()


# ==== Super-resolution ================================================================

def perceptual_loss(features, sr: Tensor, hr, layers=("relu5_4",), rescale: float = 1 / 12.75):
    """SRGAN's content loss (Ledig et al. 2017, arXiv:1609.04802, eq. 5): the squared
    distance of feature maps phi of a fixed network (VGG19's relu5_4: "VGG54"),

        l_VGG/i,j = 1/(W_ij H_ij C_ij) sum_{x,y,c} (phi(I_HR)/r - phi(G(I_LR))/r)^2,  r = 12.75

    "VGG feature maps were also rescaled by a factor of 1/12.75 to obtain VGG losses of a
    scale that is comparable to the MSE loss. This is equivalent to multiplying eq. 5 with a
    rescaling factor of ~0.006" (Sec. 3.2; 1/12.75^2 = 0.00615). Averaged over the channels
    too (eq. 5 sums positions; the channel mean is the implementations'), and over the batch;
    several layers are summed. ``features.extract(x, layers)`` gives the maps
    (tinygen.models.vgg); ``hr`` is the constant target (its features carry no gradient).

    Shapes: sr, hr (N, 3, H, W) in [0, 1] -> scalar.
    """
    layers = (layers,) if isinstance(layers, str) else tuple(layers)
    from tinygen.autograd import no_grad
    with no_grad():                                                  # the target is a constant
        target = features.extract(as_tensor(hr, sr).detach(), layers)
    out = features.extract(sr, layers)
    total = None
    for name in layers:
        d = (out[name] - target[name].detach()) * rescale           # (N, C_l, H_l, W_l)
        term = (d * d).mean()
        total = term if total is None else total + term
    return total
