"""Style-transfer losses: Gram matrix, style / content / total-variation losses.

Order: the Gram matrix as a statistic (symmetric, PSD, blind to positions), then the
losses' zeros and normalisations, then first- and second-order gradchecks, a sabotage
check, and a PyTorch oracle.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
from tinygen import losses as L
from tinygen.gradcheck import GradcheckError, gradcheck
from tinygen.ops.linalg import MatMul

from tinygen_tests.conftest import assert_allclose, check_grads, leaf, t64

SETTINGS = settings(max_examples=10, deadline=None)
feature_shapes = st.tuples(st.integers(1, 2), st.integers(1, 4), st.integers(1, 3),
                           st.integers(1, 3))


def _features(seed, shape):
    return t64(np.random.default_rng(seed).normal(size=shape))


# ----- the Gram matrix ---------------------------------------------------------------

@SETTINGS
@given(shape=feature_shapes, seed=st.integers(0, 10_000))
def test_gram_matrix_is_symmetric_psd_and_matches_definition(shape, seed):
    F = _features(seed, shape)
    G = L.gram_matrix(F).cpu().numpy()
    n, c, h, w = shape
    A = F.cpu().numpy().reshape(n, c, h * w)
    assert_allclose(G, np.einsum("nik,njk->nij", A, A), rtol=1e-12, atol=1e-12)
    assert_allclose(G, np.transpose(G, (0, 2, 1)), atol=0)
    for g in G:
        assert np.linalg.eigvalsh(g).min() >= -1e-10 * max(1.0, np.abs(g).max())
    Gn = L.gram_matrix(F, normalize=True).cpu().numpy()
    assert_allclose(Gn, G / (h * w), rtol=1e-12)


def test_gram_matrix_rejects_non_4d_with_the_fix():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\).*unsqueeze"):
        L.gram_matrix(tg.zeros(3, 4, 4))


@SETTINGS
@given(shape=feature_shapes, seed=st.integers(0, 10_000))
def test_style_loss_is_blind_to_a_permutation_of_positions(shape, seed):
    """Summing over positions k forgets where features are: the Gram matrix is a texture
    statistic. Shuffle the H W positions of the feature maps: the style loss is unchanged."""
    rng = np.random.default_rng(seed)
    n, c, h, w = shape
    F = rng.normal(size=shape)
    perm = rng.permutation(h * w)
    F_perm = F.reshape(n, c, h * w)[:, :, perm].reshape(shape)
    target = L.gram_matrix(t64(rng.normal(size=(1, c, h + 1, w)))).cpu().numpy()
    for norm in L.STYLE_NORMALISATIONS:
        a = L.style_layer_loss(t64(F), t64(target, False), norm).item()     # the target on F's device
        b = L.style_layer_loss(t64(F_perm), t64(target, False), norm).item()
        assert a == pytest.approx(b, rel=1e-12)
        assert a > 0


@SETTINGS
@given(shape=feature_shapes, seed=st.integers(0, 10_000))
def test_losses_vanish_at_their_targets(shape, seed):
    F = _features(seed, shape)
    grams = {"a": L.gram_matrix(F.detach())}
    assert L.style_loss({"a": F}, grams).item() == 0.0
    assert L.content_loss(F, F.detach()).item() == 0.0
    G = _features(seed + 1, shape)
    assert L.content_loss(G, F.detach()).item() > 0
    constant = t64(np.full(shape, 0.3))
    assert L.total_variation_loss(constant).item() == 0.0


def test_style_normalisations_side_by_side():
    """Gatys's 1/(4 N^2 M^2) and the course's 1/(2 n_H n_W n_C)^2 are the same number;
    the slide's 1/(4 (n_H n_W)^2) is N^2 times larger."""
    rng = np.random.default_rng(0)
    F = t64(rng.normal(size=(1, 3, 4, 5)))
    A = L.gram_matrix(t64(rng.normal(size=(1, 3, 4, 5)))).cpu().numpy()
    raw = ((L.gram_matrix(F).cpu().numpy() - A) ** 2).sum()
    A = t64(A, False)                                   # the target, on F's device
    N, M = 3, 20
    assert L.style_layer_loss(F, A, "none").item() == pytest.approx(raw, rel=1e-12)
    assert L.style_layer_loss(F, A, "gatys").item() == pytest.approx(raw / (4 * N**2 * M**2), rel=1e-12)
    assert L.style_layer_loss(F, A, "ng").item() == pytest.approx(
        L.style_layer_loss(F, A, "gatys").item(), rel=1e-12)
    assert L.style_layer_loss(F, A, "slide").item() == pytest.approx(raw / (4 * M**2), rel=1e-12)
    with pytest.raises(ValueError, match="gatys, ng, slide, none"):
        L.style_layer_loss(F, A, "fro")


def test_style_loss_layer_weights_and_batch_mean():
    rng = np.random.default_rng(1)
    f1, f2 = t64(rng.normal(size=(2, 2, 3, 3))), t64(rng.normal(size=(2, 4, 2, 2)))
    a1 = L.gram_matrix(t64(rng.normal(size=(1, 2, 3, 3))))
    a2 = L.gram_matrix(t64(rng.normal(size=(1, 4, 2, 2))))
    total = L.style_loss({"x": f1, "y": f2}, {"x": a1, "y": a2}, {"x": 0.25, "y": 2.0}).item()
    e1 = L.style_layer_loss(f1, a1).item()
    e2 = L.style_layer_loss(f2, a2).item()
    assert total == pytest.approx(0.25 * e1 + 2.0 * e2, rel=1e-12)
    # batch mean: the loss of a batch of two copies equals that of one
    one = L.style_layer_loss(f1[:1], a1).item()
    two = L.style_layer_loss(tg.cat([f1[:1], f1[:1]], 0), a1).item()
    assert one == pytest.approx(two, rel=1e-12)
    default = L.style_loss({"x": f1, "y": f2}, {"x": a1, "y": a2}).item()
    assert default == pytest.approx(0.5 * (e1 + e2), rel=1e-12)
    with pytest.raises(KeyError, match="'z'"):
        L.style_loss({"x": f1}, {"x": a1}, {"z": 1.0})


def test_content_loss_normalisations_and_shape_error():
    rng = np.random.default_rng(2)
    F, P = rng.normal(size=(1, 3, 4, 4)), rng.normal(size=(1, 3, 4, 4))
    sq = ((F - P) ** 2).sum()
    P = t64(P, False)                                   # the target, on F's device
    assert L.content_loss(t64(F), P).item() == pytest.approx(0.5 * sq)
    assert L.content_loss(t64(F), P, "ng").item() == pytest.approx(sq / (4 * 48))
    assert L.content_loss(t64(F), P, "mean").item() == pytest.approx(sq / 48)
    with pytest.raises(ValueError, match="does not match"):
        L.content_loss(t64(F), P[:, :2])


def test_total_variation_closed_form():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 1.0      # a single bright pixel: 4 neighbours differ by 1
    assert L.total_variation_loss(t64(x), "sum").item() == pytest.approx(4.0)
    assert L.total_variation_loss(t64(x)).item() == pytest.approx(4.0 / 9)
    ramp = np.arange(4.0).reshape(1, 1, 1, 4) * np.ones((1, 1, 2, 1))
    assert L.total_variation_loss(t64(ramp), "sum").item() == pytest.approx(6.0)


# ----- gradients ---------------------------------------------------------------------

@SETTINGS
@given(data=st.data(), shape=feature_shapes)
def test_gradcheck_gram_and_style_loss_first_and_second_order(data, shape):
    F = leaf(data.draw, shape)
    n, c, h, w = shape
    A = L.gram_matrix(_features(7, (1, c, h, w)))
    norm = data.draw(st.sampled_from(L.STYLE_NORMALISATIONS))
    check_grads(lambda f: L.gram_matrix(f), F)
    check_grads(lambda f: L.style_layer_loss(f, A, norm), F)


@SETTINGS
@given(data=st.data(), shape=feature_shapes)
def test_gradcheck_content_and_tv_first_and_second_order(data, shape):
    x = leaf(data.draw, shape)
    P = _features(3, shape).detach()
    norm = data.draw(st.sampled_from(L.CONTENT_NORMALISATIONS))
    check_grads(lambda f: L.content_loss(f, P, norm), x)
    red = data.draw(st.sampled_from(["sum", "mean"]))
    check_grads(lambda f: L.total_variation_loss(f, red), x)


def test_sabotaged_matmul_backward_is_caught(monkeypatch):
    """A Gram-matrix gradient that ignores one factor (G = F F^T has two) must fail."""
    F = _features(4, (1, 2, 2, 2))

    def half_backward(self, gy):
        a, b = self.inputs
        return gy @ b.transpose(-1, -2), None        # forgets the gradient through b = F^T

    monkeypatch.setattr(MatMul, "backward", half_backward)
    A = L.gram_matrix(_features(5, (1, 2, 2, 2)))
    with pytest.raises(GradcheckError):
        gradcheck(lambda f: L.style_layer_loss(f, A), F)


# ----- PyTorch oracle ----------------------------------------------------------------

def test_matches_torch_oracle():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    F = rng.normal(size=(2, 3, 4, 5))
    S = rng.normal(size=(1, 3, 4, 5))
    tF = torch.tensor(F, requires_grad=True)
    tS = torch.tensor(S)

    def tgram(x):
        a = x.reshape(x.shape[0], x.shape[1], -1)
        return a @ a.transpose(1, 2)

    t_loss = ((tgram(tF) - tgram(tS)) ** 2).sum() / (4 * 9 * 400) / 2 \
        + 0.5 * ((tF - tS) ** 2).sum() / 2 \
        + ((tF[:, :, 1:] - tF[:, :, :-1]) ** 2).sum() + ((tF[..., 1:] - tF[..., :-1]) ** 2).sum()
    t_loss.backward()
    x = t64(F)
    loss = (L.style_layer_loss(x, L.gram_matrix(t64(S)), "gatys")
            + L.content_loss(x, t64(S, False)) + L.total_variation_loss(x, "sum"))
    loss.backward()
    assert loss.item() == pytest.approx(t_loss.item(), rel=1e-12)
    assert_allclose(x.grad.cpu().numpy(), tF.grad.cpu().numpy(), rtol=1e-10, atol=1e-12)


def test_style_gradient_is_gatys_equation_6():
    """dE_l/dF^l = 1/(N_l^2 M_l^2) (G^l - A^l) F^l  (Gatys et al., eq. 6, written for F as
    (N_l, M_l); the paper's (F^T (G - A))^T is the same matrix). Autograd must agree."""
    rng = np.random.default_rng(8)
    N, H, W = 3, 2, 4
    F = rng.normal(size=(1, N, H, W))
    A = L.gram_matrix(t64(rng.normal(size=(1, N, H, W)))).cpu().numpy()[0]
    x = t64(F)
    L.style_layer_loss(x, t64(A[None], False), "gatys").backward()
    Fm = F.reshape(N, H * W)
    expected = (Fm @ Fm.T - A) @ Fm / (N ** 2 * (H * W) ** 2)
    assert_allclose(x.grad.cpu().numpy().reshape(N, H * W), expected, rtol=1e-12)


def test_gram_distance_is_an_mmd_with_the_quadratic_kernel():
    """||G_x - G_a||_F^2 = sum_kk' k(f_k, f_k') + k(g_k, g_k') - 2 k(f_k, g_k'), k(u, v) =
    (u^T v)^2: the style loss compares the *distributions* of feature vectors over
    positions (Li et al. 2017, "Demystifying Neural Style Transfer", arXiv:1701.01036)."""
    rng = np.random.default_rng(9)
    f, g = rng.normal(size=(1, 4, 3, 3)), rng.normal(size=(1, 4, 2, 5))
    Fv, Gv = f.reshape(4, -1).T, g.reshape(4, -1).T          # positions x channels
    k = lambda U, V: ((U @ V.T) ** 2).sum()                  # noqa: E731
    mmd = k(Fv, Fv) + k(Gv, Gv) - 2 * k(Fv, Gv)
    raw = L.style_layer_loss(t64(f), L.gram_matrix(t64(g)), "none").item()
    assert raw == pytest.approx(mmd, rel=1e-10)
