"""Dropout (a constant random mask) and embedding (a gather whose backward scatter-adds)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
from tinygen import functional as F
from tinygen import backend, nn
from tinygen.gradcheck import GradcheckError, gradcheck
from tinygen.ops import misc
from tinygen.ops import shape as shape_ops
from tinygen_tests.conftest import (
    SETTINGS, assert_allclose, assert_array_equal, check_grads, host, leaf, t64)


# ----------------------------------------------------------------------------
# dropout
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.8])
def test_dropout_zero_fraction_and_expectation(p):
    """Fraction of zeros ~ p and mean of y ~ mean of x, within 5 standard errors."""
    tg.manual_seed(0)
    n = 200_000
    y = F.dropout(tg.ones(n), p, training=True).cpu().numpy()
    zero_fraction = float((y == 0).mean())
    assert abs(zero_fraction - p) < 5 * np.sqrt(p * (1 - p) / n)
    assert_allclose(np.unique(y), [0.0, 1 / (1 - p)], rtol=1e-6)
    # E[y] = 1 and Var[y] = p / (1 - p) per element
    assert abs(y.mean() - 1.0) < 5 * np.sqrt(p / (1 - p) / n)


def test_dropout_identity_in_eval_and_edge_probabilities():
    x = tg.randn(3, 4)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert_array_equal(F.dropout(x, 1.0).cpu().numpy(), np.zeros((3, 4)))
    drop = nn.Dropout(0.5).eval()
    assert drop(x) is x
    with pytest.raises(ValueError, match=r"between 0 and 1, got p=1.5"):
        F.dropout(x, 1.5)
    with pytest.raises(ValueError, match=r"between 0 and 1, got p=-0.1"):
        nn.Dropout(-0.1)


def test_dropout_gradient_is_mask_times_scale_and_seed_reproduces():
    p = 0.4
    x = t64(np.random.default_rng(0).uniform(1, 2, (5, 6)))    # nonzero: mask = y / x
    tg.manual_seed(3)
    y = F.dropout(x, p)
    mask_scaled = host(y) / host(x)
    assert set(np.round(np.unique(mask_scaled), 12)) <= {0.0, round(1 / (1 - p), 12)}
    v = np.random.default_rng(1).standard_normal(x.shape)
    y.backward(t64(v, requires_grad=False))
    assert_allclose(x.grad.data, v * mask_scaled, rtol=1e-12)
    tg.manual_seed(3)
    assert_array_equal(F.dropout(x, p).data, y.data)  # same seed, same mask
    assert y.dtype == np.float64 and F.dropout(tg.ones(3), p).dtype == np.float32


@SETTINGS
@given(data=st.data(), p=st.sampled_from([0.2, 0.5]))
def test_dropout_gradcheck_with_fixed_mask(data, p):
    """gradcheck calls fn many times: re-seeding inside fn keeps the mask fixed."""
    x = leaf(data.draw, (3, 4))

    def fn(t):
        tg.manual_seed(7)
        return F.dropout(t, p)
    check_grads(fn, x)


def test_dropout_sabotage_is_caught(monkeypatch):
    """A mask that changes between backward and forward (e.g. drawn twice) is caught."""
    x = t64(np.random.default_rng(2).standard_normal((4, 4)))
    calls = {"n": 0}
    original = misc._keep_mask

    def drifting(mask_shape, p, like):
        calls["n"] += 1
        tg.manual_seed(calls["n"])          # a new mask on every call: not a function of x
        return original(mask_shape, p, like)

    monkeypatch.setattr(misc, "_keep_mask", drifting)
    with pytest.raises(GradcheckError):
        gradcheck(lambda t: F.dropout(t, 0.5), x)


def test_dropout2d_zeros_whole_channels():
    tg.manual_seed(0)
    x = tg.ones(8, 16, 3, 3)
    y = nn.Dropout2d(0.5)(x).cpu().numpy()
    per_map = y.reshape(8, 16, 9)
    assert np.all((per_map == 0).all(-1) | (per_map == 2.0).all(-1))
    assert 0.2 < float((per_map[..., 0] == 0).mean()) < 0.8
    with pytest.raises(ValueError, match="4-D input"):
        misc.dropout2d(tg.ones(3, 3), 0.5)


# ----------------------------------------------------------------------------
# embedding
# ----------------------------------------------------------------------------

@SETTINGS
@given(data=st.data(), index_shape=st.sampled_from([(5,), (2, 3), (4, 1)]))
def test_embedding_gradcheck_with_repeated_indices(data, index_shape):
    V, D = 4, 3
    weight = leaf(data.draw, (V, D))
    idx = np.random.default_rng(data.draw(st.integers(0, 99))).integers(0, V, index_shape)
    idx.flat[0] = idx.flat[-1]                        # at least one repeat when size > 1
    y = F.embedding(idx, weight)
    assert y.shape == index_shape + (D,)
    assert_array_equal(y.data, weight.data[idx])
    check_grads(lambda w: F.embedding(idx, w), weight)


def test_embedding_gradient_accumulates_repeats_and_skips_padding():
    weight = t64(np.arange(12.0).reshape(4, 3))
    idx = tg.tensor([[1, 1, 2], [0, 1, 2]])
    y = F.embedding(idx, weight, padding_idx=2)
    assert_array_equal(y.data, weight.data[idx.data])        # padding row as stored
    y.sum().backward()
    assert_array_equal(weight.grad.data[:, 0], [1, 3, 0, 0])  # row 1 three times
    # with padding: exactly the plain gradient with the padding row zeroed (and padding_idx
    # may count from the end); the plain gather's gradient is gradchecked above
    v = t64(np.random.default_rng(0).standard_normal((2, 3, 3)), requires_grad=False)
    plain, = tg.grad(F.embedding(idx, weight), weight, v)
    padded, = tg.grad(F.embedding(idx, weight, padding_idx=-2), weight, v)
    expect = plain.data.copy()
    expect[2] = 0
    assert_array_equal(padded.data, expect)


def test_embedding_module_init_and_errors():
    tg.manual_seed(0)
    emb = nn.Embedding(50, 8, padding_idx=3)
    assert list(emb.state_dict()) == ["weight"] and emb.weight.shape == (50, 8)
    assert_array_equal(emb.weight.data[3], np.zeros(8))
    rows = np.delete(emb.weight.data, 3, axis=0)
    assert abs(rows.mean()) < 0.15 and abs(rows.std() - 1.0) < 0.1       # N(0, 1)
    assert emb(tg.tensor([3, 4])).shape == (2, 8)
    with pytest.raises(IndexError, match=r"\[0, 50\).*from 0 to 50"):
        emb(tg.tensor([0, 50]))
    with pytest.raises(TypeError, match="integers"):
        emb(tg.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="padding_idx=9"):
        nn.Embedding(5, 2, padding_idx=9)


def test_embedding_sabotaged_scatter_is_caught(monkeypatch):
    """A backward that assigns instead of accumulating repeated indices is caught."""
    def assign(self, gy):
        gx = backend.full(self.shape, 0.0, gy.dtype, backend.device_of(gy))
        gx[self.index] = gy                                  # WRONG: repeats overwrite
        return gx

    monkeypatch.setattr(shape_ops.GetItemGrad, "forward", assign)
    weight = t64(np.random.default_rng(0).standard_normal((3, 2)))
    idx = np.array([0, 0, 2])
    with pytest.raises(GradcheckError):
        gradcheck(lambda w: F.embedding(idx, w), weight)


def test_embedding_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 4))
    idx = np.array([[0, 5, 5], [2, 1, 0]])
    gy = rng.standard_normal((2, 3, 4))
    wt = torch.tensor(w, requires_grad=True)
    torch.nn.functional.embedding(torch.from_numpy(idx), wt, padding_idx=5).backward(
        torch.from_numpy(gy))
    wo = t64(w)
    F.embedding(idx, wo, padding_idx=5).backward(t64(gy, requires_grad=False))
    assert_allclose(wo.grad.data, wt.grad.cpu().numpy(), atol=1e-12)
