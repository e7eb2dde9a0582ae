"""Divergences between probability distributions: the theory of GAN objectives made executable.

Everything here works on host NumPy arrays in float64: discrete distributions are vectors of
non-negative masses, densities on a 1-D grid are vectors of values with a spacing ``dx``.

References:
    [GAN]  Goodfellow et al., "Generative Adversarial Networks", arXiv:1406.2661,
           Proposition 1 (optimal discriminator) and Theorem 1 (V(D*, G) = -log 4 + 2 JSD).
    [WGAN] Arjovsky, Chintala, Bottou, "Wasserstein GAN", arXiv:1701.07875,
           Eq. (1) (Earth-Mover distance) and Example 1 (learning parallel lines).

Notation (for every function below):
    p, q      (n,) / (m,)   discrete distributions, p_i >= 0, sum_i p_i = 1
    log_b                   logarithm in base ``base`` (e by default: nats; 2: bits)
    KL(p||q)  = sum_i p_i log_b(p_i / q_i)                 (0 log 0 = 0; +inf where q_i = 0 < p_i)
    JS(p, q)  = 1/2 KL(p||m) + 1/2 KL(q||m),  m = (p+q)/2  (0 <= JS <= log_b 2)
    W(p, q)   = min_{pi in Pi(p, q)} sum_ij pi_ij c_ij
                (Pi: transport plans with row sums p and column sums q)
"""
import math

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

__all__ = [
    "kl_divergence", "js_divergence", "earth_movers_distance", "wasserstein_1d",
    "parallel_lines", "boxes_example", "optimal_discriminator", "gan_value",
]


# ----------------------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------------------

def _as_distribution(p, name, normalize, atol=1e-6):
    """Check that ``p`` is a discrete distribution and return it as float64 (normalised)."""
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 0:
        raise ValueError(f"{name} must be an array of probabilities, got the scalar {p!r}")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} contains NaN or inf; pass finite probabilities")
    if np.any(p < 0):
        raise ValueError(f"{name} has negative entries (min {p.min():.3g}); probabilities must "
                         f"be >= 0")
    total = p.sum()
    if total <= 0:
        raise ValueError(f"{name} sums to {total}; a distribution needs positive total mass")
    if normalize:
        return p / total
    if abs(total - 1.0) > atol:
        raise ValueError(f"{name} sums to {total:.6g}, not 1; pass normalize=True or divide it "
                         f"by its sum")
    return p


def _pair(p, q, normalize):
    p = _as_distribution(p, "p", normalize)
    q = _as_distribution(q, "q", normalize)
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape (same support), got {p.shape} and "
                         f"{q.shape}")
    return p, q


def _check_base(base):
    if not base > 0 or base == 1:
        raise ValueError(f"base must be positive and != 1 (e.g. math.e or 2), got {base}")
    return math.log(base)


# ----------------------------------------------------------------------------------------------
# f-divergences
# ----------------------------------------------------------------------------------------------

def kl_divergence(p, q, base=math.e, normalize=True):
    """Kullback-Leibler divergence KL(p || q) = sum_i p_i log_b(p_i / q_i).

    Terms with p_i = 0 contribute 0 (the limit of t log t); a single i with q_i = 0 < p_i makes
    the divergence +inf (p puts mass where q has none: [WGAN] Sec. 2, why KL fails for
    distributions on low-dimensional manifolds).

    Shapes:
        p, q: any shape, the same for both (flattened support). Returns a Python float.

    Args:
        base: logarithm base (e: nats, 2: bits).
        normalize: divide p and q by their sums (True) or raise if they do not sum to 1.
    """
    p, q = _pair(p, q, normalize)
    support = p > 0
    if np.any(q[support] == 0):
        return math.inf
    terms = p[support] * (np.log(p[support]) - np.log(q[support]))
    # KL >= 0 exactly; clip the ~1e-17 rounding below zero so callers can rely on it.
    return max(float(terms.sum()), 0.0) / _check_base(base)


def js_divergence(p, q, base=math.e, normalize=True):
    """Jensen-Shannon divergence JS(p, q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q) / 2.

    Symmetric and always finite: 0 <= JS <= log_b 2, i.e. at most log 2 ~ 0.693 nats in base e
    and at most 1 bit in base 2; the bound is reached exactly when p and q have disjoint supports
    ([WGAN] Example 1). [GAN] Theorem 1: the minimax value at the optimal discriminator is
    -log 4 + 2 JS(p_data, p_g) (JS in nats).

    Shapes:
        p, q: any shape, the same for both. Returns a Python float.
    """
    p, q = _pair(p, q, normalize)
    m = 0.5 * (p + q)
    js = 0.5 * kl_divergence(p, m, normalize=False) + 0.5 * kl_divergence(q, m, normalize=False)
    return min(js, math.log(2.0)) / _check_base(base)


# ----------------------------------------------------------------------------------------------
# optimal transport
# ----------------------------------------------------------------------------------------------

def _ground_cost(n, m, cost, positions):
    """The (n, m) cost matrix c_ij = ||x_i - y_j|| from ``cost`` or ``positions``."""
    if cost is not None and positions is not None:
        raise ValueError("pass either cost (an (n, m) matrix) or positions, not both")
    if cost is not None:
        cost = np.asarray(cost, dtype=np.float64)
        if cost.shape != (n, m):
            raise ValueError(f"cost must have shape (len(p), len(q)) = {(n, m)}, got {cost.shape}")
        return cost
    if positions is None:                      # bins 0..n-1 on a line
        x_p, x_q = np.arange(n, dtype=np.float64), np.arange(m, dtype=np.float64)
    elif isinstance(positions, tuple) and len(positions) == 2:
        x_p, x_q = (np.asarray(x, dtype=np.float64) for x in positions)
    else:
        x_p = x_q = np.asarray(positions, dtype=np.float64)
    x_p = x_p.reshape(len(x_p), -1)            # (n, d)
    x_q = x_q.reshape(len(x_q), -1)            # (m, d)
    if len(x_p) != n or len(x_q) != m:
        raise ValueError(f"positions must give {n} points for p and {m} for q, got {len(x_p)} "
                         f"and {len(x_q)}; pass one array for a shared support or a tuple "
                         f"(positions_p, positions_q)")
    if x_p.shape[1] != x_q.shape[1]:
        raise ValueError(f"positions of p and q must have the same dimension, got "
                         f"{x_p.shape[1]} and {x_q.shape[1]}")
    return np.linalg.norm(x_p[:, None, :] - x_q[None, :, :], axis=-1)   # (n, m)


def earth_movers_distance(p, q, cost=None, positions=None, normalize=True):
    """Earth-Mover (Wasserstein-1) distance by solving the transport linear program.

    [WGAN] Eq. (1):  W(P_r, P_g) = inf_{gamma in Pi(P_r, P_g)} E_{(x, y) ~ gamma} ||x - y||.
    For discrete p (n,) and q (m,) this is the linear program

        minimise   sum_ij pi_ij c_ij
        subject to sum_j pi_ij = p_i  (n rows),   sum_i pi_ij = q_j  (m columns),   pi_ij >= 0,

    solved here with ``scipy.optimize.linprog`` (HiGHS) on the n*m unknowns pi_ij (row-major).

    Shapes:
        p: (n,)   q: (m,)   cost: (n, m)   positions: (n,) / (n, d) shared by p and q (n = m),
        or a tuple ((n,) or (n, d), (m,) or (m, d)).   Returns (distance: float, plan: (n, m)).

    Args:
        cost: explicit ground cost c_ij; default |i - j| (bins 0..n-1 on a line).
        positions: support points; c_ij = Euclidean distance between them.
    """
    p = _as_distribution(p, "p", normalize).ravel()
    q = _as_distribution(q, "q", normalize).ravel()
    n, m = len(p), len(q)
    c = _ground_cost(n, m, cost, positions)   # (n, m)

    # Row constraints: for row i, the unknowns pi_i0..pi_i(m-1) sum to p_i.
    a_rows = sparse.kron(sparse.eye(n), np.ones((1, m)))  # (n, n*m)
    # Column constraints: for column j, the unknowns pi_0j..pi_(n-1)j sum to q_j.
    a_cols = sparse.kron(np.ones((1, n)), sparse.eye(m))  # (m, n*m)
    # Sparse: only 2 n m of the (n + m) n m entries are non-zero.
    a_eq = sparse.vstack([a_rows, a_cols]).tocsr()
    b_eq = np.concatenate([p, q])
    # One equality is redundant (both sides sum to 1); HiGHS copes with that.
    result = linprog(c.ravel(), A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    if not result.success:
        raise RuntimeError(f"transport LP failed: {result.message}")
    plan = result.x.reshape(n, m)
    return float(result.fun), plan


def wasserstein_1d(u_values, v_values, u_weights=None, v_weights=None):
    """Wasserstein-1 distance between two distributions on the real line via their CDFs.

    In 1-D the optimal transport has a closed form (the monotone coupling):

        W_1(u, v) = integral_{-inf}^{inf} |F_u(t) - F_v(t)| dt,

    with F the cumulative distribution functions. Both CDFs are step functions that only change
    at the sample points, so the integral is an exact finite sum over the gaps between the
    sorted union of all points.

    Shapes:
        u_values: (n,)  v_values: (m,)  u_weights: (n,) or None (uniform)  v_weights: (m,) or None.
        Returns a Python float.
    """
    u_values = np.asarray(u_values, dtype=np.float64).ravel()
    v_values = np.asarray(v_values, dtype=np.float64).ravel()
    if len(u_values) == 0 or len(v_values) == 0:
        raise ValueError("u_values and v_values must each contain at least one point")
    u_w = np.ones_like(u_values) if u_weights is None else u_weights
    v_w = np.ones_like(v_values) if v_weights is None else v_weights
    u_w = _as_distribution(u_w, "u_weights", normalize=True).ravel()
    v_w = _as_distribution(v_w, "v_weights", normalize=True).ravel()
    if u_w.shape != u_values.shape or v_w.shape != v_values.shape:
        raise ValueError(f"weights must match their values: u {u_values.shape} vs "
                         f"{u_w.shape}, v {v_values.shape} vs {v_w.shape}")

    points = np.sort(np.concatenate([u_values, v_values]))   # (n+m,) breakpoints t_k
    gaps = np.diff(points)                                   # (n+m-1,) widths of [t_k, t_k+1)

    def cdf_at(values, weights, t):
        order = np.argsort(values)
        sorted_values, cumulative = values[order], np.cumsum(weights[order])
        # F(t) = total weight of the points <= t, constant on [t_k, t_k+1).
        count = np.searchsorted(sorted_values, t, side="right")
        return np.where(count > 0, cumulative[np.maximum(count - 1, 0)], 0.0)

    f_u = cdf_at(u_values, u_w, points[:-1])
    f_v = cdf_at(v_values, v_w, points[:-1])
    return float(np.sum(np.abs(f_u - f_v) * gaps))


# ----------------------------------------------------------------------------------------------
# worked examples
# ----------------------------------------------------------------------------------------------

def parallel_lines(theta, n_points=16):
    """[WGAN] Example 1, learning parallel lines: returns (JS, KL, W) for P_0 vs P_theta.

    Z ~ U[0, 1]; P_0 is the law of (0, Z) (a vertical segment at x = 0) and P_theta the law of
    (theta, Z). The paper shows

        W(P_0, P_theta) = |theta|,
        JS(P_0, P_theta) = log 2 if theta != 0 else 0,
        KL(P_0 || P_theta) = +inf if theta != 0 else 0,

    so only W gives a gradient in theta. Here both distributions are actually built: Z is
    discretised to ``n_points`` equal masses at z_k = (k + 1/2) / n_points, the support is the
    union of the points (0, z_k) and (theta, z_k), and the three quantities are computed by
    :func:`js_divergence`, :func:`kl_divergence` (nats) and :func:`earth_movers_distance`
    (Euclidean ground cost) on that support.
    """
    theta = float(theta)
    z = (np.arange(n_points) + 0.5) / n_points                            # (n,)
    line_0 = np.stack([np.zeros(n_points), z], axis=1)                    # (n, 2)
    line_theta = np.stack([np.full(n_points, theta), z], axis=1)          # (n, 2)
    if theta == 0.0:
        support = line_0                                                  # the lines coincide
        p0 = np.full(n_points, 1.0 / n_points)
        p_theta = p0.copy()
    else:
        support = np.concatenate([line_0, line_theta])                    # (2n, 2)
        p0 = np.concatenate([np.full(n_points, 1.0 / n_points), np.zeros(n_points)])
        p_theta = np.concatenate([np.zeros(n_points), np.full(n_points, 1.0 / n_points)])
    js = js_divergence(p0, p_theta)
    kl = kl_divergence(p0, p_theta)
    w, _ = earth_movers_distance(p0, p_theta, positions=support)
    return js, kl, w


def boxes_example():
    """The "moving boxes" transport example with a known answer.

    Four piles of boxes at positions 0, 1, 2, 3 hold P = (3, 2, 1, 4) boxes and must be moved
    into the configuration Q = (1, 2, 4, 3). Moving one box by one position costs 1; the
    cheapest plan moves 2 boxes from 0 to 1, then 2 boxes from 1 to 2 and 1 box from 3 to 2:
    total cost 5 box-steps. As distributions (divide by the 10 boxes) p = (.3, .2, .1, .4),
    q = (.1, .2, .4, .3) and W_1(p, q) = 5 / 10 = 0.5 (in 1-D, sum_k |P_k - Q_k| over
    cumulative piles: |2| + |2| + |-1| = 5).

    Returns a dict with p, q, positions and the expected distance.
    """
    boxes_p = np.array([3.0, 2.0, 1.0, 4.0])
    boxes_q = np.array([1.0, 2.0, 4.0, 3.0])
    return {"p": boxes_p / boxes_p.sum(), "q": boxes_q / boxes_q.sum(),
            "positions": np.arange(4.0), "distance": 0.5}


# ----------------------------------------------------------------------------------------------
# the optimal discriminator on a grid
# ----------------------------------------------------------------------------------------------

def optimal_discriminator(p_r, p_g):
    """[GAN] Proposition 1: for a fixed generator the best discriminator is

        D*(x) = p_r(x) / (p_r(x) + p_g(x)).

    Where both densities vanish D* is arbitrary (the point carries no weight in V); we return 1/2.

    Shapes:
        p_r, p_g: (n,) density values on a grid (or any equal shapes). Returns D: same shape.
    """
    p_r = np.asarray(p_r, dtype=np.float64)
    p_g = np.asarray(p_g, dtype=np.float64)
    if p_r.shape != p_g.shape:
        raise ValueError(f"p_r and p_g must be evaluated on the same grid, got shapes "
                         f"{p_r.shape} and {p_g.shape}")
    if np.any(p_r < 0) or np.any(p_g < 0):
        raise ValueError("densities p_r and p_g must be non-negative")
    total = p_r + p_g
    safe = np.where(total > 0, total, 1.0)
    return np.where(total > 0, p_r / safe, 0.5)


def gan_value(D, p_r, p_g, dx):
    """[GAN] Eq. (1) value function on a 1-D grid:

        V(D, G) = E_{x ~ p_r}[log D(x)] + E_{x ~ p_g}[log(1 - D(x))]
                ~ sum_k (p_r(x_k) log D(x_k) + p_g(x_k) log(1 - D(x_k))) dx.

    Points where a density is 0 contribute 0 to its expectation (even if log D = -inf there).
    At D = D* it equals 2 JS(p_r, p_g) - 2 log 2 ([GAN] Theorem 1), and any other D is lower.

    Shapes:
        D, p_r, p_g: (n,) values on the grid; dx: grid spacing. Returns a Python float.
    """
    D = np.asarray(D, dtype=np.float64)
    p_r = np.asarray(p_r, dtype=np.float64)
    p_g = np.asarray(p_g, dtype=np.float64)
    if not (D.shape == p_r.shape == p_g.shape):
        raise ValueError(f"D, p_r and p_g must share the grid, got {D.shape}, {p_r.shape}, "
                         f"{p_g.shape}")
    if np.any((D < 0) | (D > 1)):
        raise ValueError("D must be a probability in [0, 1] at every grid point")
    with np.errstate(divide="ignore"):
        real_term = np.where(p_r > 0, p_r * np.log(np.where(p_r > 0, D, 1.0)), 0.0)
        fake_term = np.where(p_g > 0, p_g * np.log(np.where(p_g > 0, 1.0 - D, 1.0)), 0.0)
    return float(np.sum(real_term + fake_term) * dx)
