"""Applications of codes: ROC AUC, precision@k, k-means(++), purity/NMI, restoration, latent maths."""
import itertools

import numpy as np
import tinygen
import pytest
from hypothesis import given, settings, strategies as st

from tinygen.methods import ae_apps as P

SETTINGS = dict(max_examples=15, deadline=None)


# ---------------------------------------------------------------------------------------
# ROC AUC
# ---------------------------------------------------------------------------------------

@given(st.lists(st.integers(0, 5), min_size=2, max_size=30), st.integers(0, 10_000))
@settings(**SETTINGS)
def test_roc_auc_equals_the_pairwise_probability_with_ties_as_half(scores, seed):
    rng = np.random.default_rng(seed)
    pos = rng.random(len(scores)) < 0.5
    if pos.all() or not pos.any():
        pos[0] = not pos[0]
    s = np.array(scores, dtype=float)
    pairs = [(1.0 if a > b else 0.5 if a == b else 0.0) for a, b in itertools.product(s[pos], s[~pos])]
    assert P.roc_auc(s, pos) == pytest.approx(np.mean(pairs), abs=1e-12)
    # and equals the trapezoid area under the curve
    fpr, tpr = P.roc_curve(s, pos)
    if len(np.unique(s)) == len(s):
        assert P.roc_auc(s, pos) == pytest.approx(np.trapezoid(tpr, fpr), abs=1e-12)


def test_roc_auc_extremes_and_errors():
    assert P.roc_auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert P.roc_auc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
    assert P.roc_auc([1, 1, 1, 1], [0, 1, 0, 1]) == 0.5
    with pytest.raises(ValueError, match="both classes"):
        P.roc_auc([1, 2], [1, 1])


def test_held_out_shape_is_detected_by_reconstruction_error():
    """A short version of the issue's anomaly experiment: 16 px gray shapes (filled, large),
    crosses held out; 400 steps give AUC ~0.83 (the full experiment: docs/autoencoders.md)."""
    from tinygen.data.arrays import load_images
    kw = dict(size=16, channels=1, filled=("filled",), sizes=("large",))
    x, y = load_images("shapes", "train", n=1500, **kw)
    xt, yt = load_images("shapes", "test", n=400, **kw)
    auc, scores, is_anomaly = P.held_out_class_auc(x, y, xt, yt, held_out=3, steps=400, hidden=128)
    assert is_anomaly.sum() == (yt == 3).sum() > 50
    assert auc == pytest.approx(P.roc_auc(scores, is_anomaly))
    assert auc > 0.75, auc


# ---------------------------------------------------------------------------------------
# retrieval, PCA
# ---------------------------------------------------------------------------------------

def test_precision_at_k_by_hand():
    f = np.array([[0.0], [0.1], [5.0], [5.1], [0.2]])
    y = np.array([0, 0, 1, 1, 1])
    # neighbours (k=1): 0->1 (same), 1->0 (same), 2->3 (same), 3->2 (same), 4->1 (different)
    assert P.precision_at_k(f, y, 1) == pytest.approx(4 / 5)
    with pytest.raises(ValueError, match="k must be"):
        P.precision_at_k(f, y, 5)


def test_pca_2d_captures_the_two_largest_directions():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 4)) * [5, 3, 0.1, 0.1]
    z = P.pca_2d(x)
    assert z.shape == (400, 2)
    assert z[:, 0].var() == pytest.approx(x[:, 0].var(), rel=0.05)
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < 1e-8


# ---------------------------------------------------------------------------------------
# clustering
# ---------------------------------------------------------------------------------------

def test_kmeans_recovers_separated_blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], float)
    y = np.repeat(np.arange(4), 50)
    x = centres[y] + rng.normal(size=(200, 2))
    assign, found, inertia = P.kmeans(x, 4, seed=1)
    assert P.purity(y, assign) == 1.0 and P.nmi(y, assign) == pytest.approx(1.0)
    assert inertia == pytest.approx(((x - found[assign]) ** 2).sum())


def test_kmeans_plus_plus_spreads_the_seeds():
    x = np.array([[0, 0], [0, 0.1], [100, 0], [100, 0.1]], float)
    c = P.kmeans_plus_plus_init(x, 2, np.random.default_rng(0))
    assert abs(c[0, 0] - c[1, 0]) == 100.0     # the second seed is (almost surely) the far pair


def test_purity_and_nmi_known_values():
    t = [0, 0, 1, 1]
    assert P.purity(t, [5, 5, 7, 7]) == 1.0 and P.nmi(t, [5, 5, 7, 7]) == pytest.approx(1.0)
    assert P.nmi(t, [0, 1, 0, 1]) == pytest.approx(0.0, abs=1e-12)
    assert P.purity(t, [0, 0, 0, 0]) == 0.5
    # Manning et al., "Introduction to IR", Fig. 16.4: purity 0.71, NMI 0.36
    truth = [0] * 5 + [1] + [0] + [1] * 4 + [2] + [0] * 2 + [2] * 3
    clusters = [0] * 6 + [1] * 6 + [2] * 5
    assert P.purity(truth, clusters) == pytest.approx(12 / 17)
    assert P.nmi(truth, clusters) == pytest.approx(0.36, abs=0.01)


@given(st.lists(st.integers(0, 3), min_size=2, max_size=40), st.integers(0, 1000))
@settings(**SETTINGS)
def test_nmi_is_symmetric_bounded_and_rename_invariant(t, seed):
    rng = np.random.default_rng(seed)
    p = rng.integers(0, 3, len(t))
    v = P.nmi(t, p)
    assert 0.0 <= v <= 1.0 + 1e-12
    assert v == pytest.approx(P.nmi(p, t))
    assert v == pytest.approx(P.nmi(t, (p + 1) * 7))


# ---------------------------------------------------------------------------------------
# restoration tasks
# ---------------------------------------------------------------------------------------

def test_restoration_pairs_use_the_data_package_corruptions():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (6, 3, 8, 8)).astype(np.float32) / 255.0
    gray, colour = P.restoration_pairs("colorize", x)
    assert gray.shape == (6, 1, 8, 8) and colour.shape == (6, 3, 8, 8)
    np.testing.assert_allclose(colour, x, atol=1e-7)
    luma = (x * np.array([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)).sum(1, keepdims=True)
    np.testing.assert_allclose(gray, luma, atol=0.5 / 255 + 1e-6)      # rounded to uint8
    masked, whole = P.restoration_pairs("inpaint", x[:, :1], seed=1)
    hole = masked != whole
    assert hole.any() and (masked[hole] == 0).all()
    noisy, clean = P.restoration_pairs("denoise", x[:, :1], sigma=0.3)
    assert 0.2 < (noisy - clean).std() < 0.3 and noisy.min() >= 0 and noisy.max() <= 1
    with pytest.raises(ValueError, match="'denoise', 'inpaint' or 'colorize'"):
        P.restoration_pairs("deblur", x)


def test_psnr_db_averages_the_mse_before_the_log_and_stays_finite():
    a = np.zeros((2, 1, 4, 4))
    b = a.copy()
    b[1] = 0.1                                  # image 0 exact (its own PSNR is +inf), image 1 off
    assert P.psnr_db(a, b) == pytest.approx(10 * np.log10(1 / (0.01 / 2)))
    assert P.psnr_db(a, a) == np.inf


def test_short_denoising_map_beats_the_noisy_input():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 400)
    x = np.zeros((400, 1, 8, 8), np.float32)
    for i, c in enumerate(y):
        r, k = divmod(int(c), 2)
        x[i, 0, r * 4:r * 4 + 4, k * 4:k * 4 + 4] = 1.0
    noisy, clean = P.restoration_pairs("denoise", x, sigma=0.4)
    model = P.train_mapping(noisy[:300], clean[:300], steps=200, code_dim=32, hidden=64, lr=3e-3)
    gain = P.psnr_db(clean[300:], P.restore(model, noisy[300:])) - P.psnr_db(clean[300:], noisy[300:])
    assert gain > 3.0


# ---------------------------------------------------------------------------------------
# latent-space maths
# ---------------------------------------------------------------------------------------

@given(st.integers(2, 6), st.integers(0, 1000))
@settings(**SETTINGS)
def test_slerp_endpoints_norm_and_angle(L, seed):
    rng = np.random.default_rng(seed)
    z0, z1 = rng.normal(size=L), rng.normal(size=L)
    z1 = z1 / np.linalg.norm(z1) * np.linalg.norm(z0)           # equal norms
    t = np.linspace(0, 1, 7)
    path = P.slerp(z0, z1, t)
    np.testing.assert_allclose(path[0], z0, atol=1e-10)
    np.testing.assert_allclose(path[-1], z1, atol=1e-10)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), np.linalg.norm(z0), rtol=1e-9)
    # equal angular steps
    cos = [(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b)) for a, b in zip(path[:-1], path[1:])]
    np.testing.assert_allclose(cos, cos[0], atol=1e-9)
    lin = P.lerp(z0, z1, t)
    np.testing.assert_allclose(lin[3], 0.5 * (z0 + z1))
    assert np.linalg.norm(lin[3]) <= np.linalg.norm(path[3]) + 1e-12


def test_manifold_grid_covers_the_prior_by_quantiles():
    g = P.manifold_grid(5)
    assert g.shape == (25, 2)
    np.testing.assert_allclose(g[:5, 1], g[0, 1])                 # a row shares z_2
    np.testing.assert_allclose(g[:5, 0], -g[:5, 0][::-1], atol=1e-12)   # symmetric quantiles
    assert g[0, 1] > 0 > g[-1, 1]


def test_attribute_vector_and_its_application():
    codes = np.array([[1.0, 0], [3.0, 0], [0.0, 2], [0.0, 4]])
    has = [True, True, False, False]
    v = P.attribute_vector(codes, has)
    np.testing.assert_allclose(v, [2.0, -3.0])
    out = P.apply_attribute(codes[2:], v, [0.0, 1.0])
    assert out.shape == (2, 2, 2)
    np.testing.assert_allclose(out[:, 1].mean(0), codes[:2].mean(0))   # mean "without" + v = mean "with"
    with pytest.raises(ValueError, match="both with and without"):
        P.attribute_vector(codes, [True] * 4)


def test_input_skip_starts_as_the_identity_and_learns_only_the_correction():
    # g(f(x)) = 0 (decoder weights zeroed): the output is the input, broadcast over channels.
    from tinygen.models.autoencoders import AutoEncoder, MLPDecoder, MLPEncoder
    ae = AutoEncoder(MLPEncoder(16, 4, (8,)), MLPDecoder(4, 48, (8,), out_shape=(3, 4, 4)))
    for p in ae.decoder.parameters():
        p.data[...] = 0
    model = P.InputSkip(ae, eps=1e-3)
    x = np.random.default_rng(0).uniform(0, 1, (5, 1, 4, 4)).astype(np.float32)
    h, logits = model(tinygen.tensor(x))
    assert h.shape == (5, 4) and logits.shape == (5, 3, 4, 4)
    out = 1 / (1 + np.exp(-logits.cpu().numpy().astype(np.float64)))
    np.testing.assert_allclose(out, np.repeat(np.clip(x, 1e-3, 1 - 1e-3), 3, 1), rtol=1e-4)
    # a colour target that is a fixed tint of the gray input is learnt to beat the gray baseline
    rng = np.random.default_rng(1)
    gray = rng.uniform(0.1, 0.9, (256, 1, 4, 4)).astype(np.float32)
    colour = np.concatenate([gray * 0.5, gray, np.clip(gray * 1.1, 0, 1)], 1)
    m = P.train_mapping(gray, colour, steps=300, code_dim=8, hidden=32, input_skip=True, lr=3e-3)
    assert isinstance(m, P.InputSkip)
    assert P.psnr_db(colour, P.restore(m, gray)) > P.psnr_db(colour, np.repeat(gray, 3, 1)) + 5
