"""Issue 16, the new differentiable pieces: every op, layer and loss module added for PyTorch
scripts gets a float64 finite-difference gradcheck *and* gradgradcheck (random upstream
gradients, tinygen.gradcheck) and a value check against PyTorch (skipped without torch).

New ops: erf (a primitive), gelu (exact and tanh), silu, prelu, conv1d, max_pool1d (composites),
Tensor.repeat / masked_fill / gather / sort / topk values; layers GELU, SiLU, PReLU, Conv1d,
MaxPool1d; the eight loss modules; spectral_norm; clip_grad_norm_ (not differentiable).
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygen as tg
import tinygen.functional as F
from tinygen import nn
from tinygen_tests.conftest import check_grads, host, t64

RNG = np.random.default_rng(16)


def away_from_zero(shape, margin=0.1):
    """Values with |x| >= margin: finite differences never straddle a kink at 0."""
    x = RNG.normal(size=shape)
    return np.where(np.abs(x) < margin, np.sign(x + 1e-12) * margin + x, x)


def torch_or_skip():
    return pytest.importorskip("torch")


def close_to_torch(ours, theirs, atol=1e-12):
    """Max abs difference between a tinygen tensor and a torch tensor (asserted <= atol)."""
    a = host(ours) if isinstance(ours, tg.Tensor) else np.asarray(ours)
    b = theirs.detach().numpy()
    assert a.shape == b.shape, (a.shape, b.shape)
    diff = float(np.abs(a - b).max()) if a.size else 0.0
    assert diff <= atol, f"max abs diff {diff:.3g} > {atol}"
    return diff


# --------------------------------------------------------------------------
# activations: erf, gelu, silu, prelu
# --------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [tg.erf, F.gelu, lambda x: F.gelu(x, approximate="tanh"), F.silu],
                         ids=["erf", "gelu", "gelu_tanh", "silu"])
def test_smooth_activations_gradcheck(fn):
    check_grads(fn, [t64(RNG.normal(size=(3, 4)) * 2)])


@pytest.mark.parametrize("name", ["erf", "gelu", "gelu_tanh", "silu"])
def test_smooth_activations_match_torch(name):
    torch = torch_or_skip()
    x = RNG.normal(size=(5, 7)) * 3
    ours = {"erf": tg.erf, "gelu": F.gelu, "gelu_tanh": lambda v: F.gelu(v, approximate="tanh"),
            "silu": F.silu}[name](t64(x, requires_grad=False))
    theirs = {"erf": torch.erf, "gelu": torch.nn.functional.gelu,
              "gelu_tanh": lambda v: torch.nn.functional.gelu(v, approximate="tanh"),
              "silu": torch.nn.functional.silu}[name](torch.tensor(x))
    close_to_torch(ours, theirs, atol=1e-14)


@pytest.mark.parametrize("channels", [1, 3])
def test_prelu_gradcheck_input_and_slope(channels):
    x = t64(away_from_zero((2, 3, 2)))
    a = t64(RNG.uniform(0.1, 0.5, size=channels))
    check_grads(lambda x, a: F.prelu(x, a), [x, a])


def test_prelu_module_matches_torch():
    torch = torch_or_skip()
    x = away_from_zero((4, 3, 5))
    ours = nn.PReLU(3).double()
    theirs = torch.nn.PReLU(3).double()
    assert [k for k, _ in ours.named_parameters()] == [k for k, _ in theirs.named_parameters()]
    close_to_torch(ours(t64(x, False)), theirs(torch.tensor(x)))
    close_to_torch(nn.GELU()(t64(x, False)), torch.nn.GELU()(torch.tensor(x)), atol=1e-14)
    close_to_torch(nn.SiLU()(t64(x, False)), torch.nn.SiLU()(torch.tensor(x)), atol=1e-14)
    close_to_torch(nn.ELU(0.7)(t64(x, False)), torch.nn.ELU(0.7)(torch.tensor(x)), atol=1e-14)


# --------------------------------------------------------------------------
# 1-d convolution and pooling
# --------------------------------------------------------------------------

CONV1D_CASES = [dict(), dict(stride=2, padding=1), dict(padding=2, dilation=2), dict(groups=2),
                dict(padding="same")]


@pytest.mark.parametrize("kw", CONV1D_CASES, ids=str)
def test_conv1d_gradcheck(kw):
    x = t64(RNG.normal(size=(2, 4, 7)))
    w = t64(RNG.normal(size=(4, 4 // kw.get("groups", 1), 3)))
    b = t64(RNG.normal(size=4))
    check_grads(lambda x, w, b: F.conv1d(x, w, b, **kw), [x, w, b])


@pytest.mark.parametrize("kw", CONV1D_CASES, ids=str)
def test_conv1d_matches_torch(kw):
    torch = torch_or_skip()
    x, w, b = RNG.normal(size=(2, 4, 9)), RNG.normal(size=(4, 4 // kw.get("groups", 1), 3)), \
        RNG.normal(size=4)
    ours = F.conv1d(t64(x, False), t64(w, False), t64(b, False), **kw)
    theirs = torch.nn.functional.conv1d(torch.tensor(x), torch.tensor(w), torch.tensor(b), **kw)
    close_to_torch(ours, theirs)


def test_conv1d_module_keys_shapes_and_init_bound_as_torch():
    torch = torch_or_skip()
    ours, theirs = nn.Conv1d(3, 5, 4, stride=2), torch.nn.Conv1d(3, 5, 4, stride=2)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    bound = 1 / np.sqrt(3 * 4)
    assert np.abs(host(ours.weight)).max() <= bound
    x = RNG.normal(size=(2, 3, 11)).astype(np.float32)
    theirs.load_state_dict({k: torch.from_numpy(host(v)) for k, v in ours.state_dict().items()})
    close_to_torch(ours(tg.tensor(x)), theirs(torch.tensor(x)), atol=1e-6)


def test_max_pool1d_gradcheck_and_torch():
    x = t64(RNG.permutation(2 * 3 * 8).reshape(2, 3, 8) / 10.0)      # distinct: no ties
    check_grads(lambda x: F.max_pool1d(x, 3, 2, 1), [x])
    torch = torch_or_skip()
    ours = nn.MaxPool1d(3, 2, 1)(x)
    theirs = torch.nn.MaxPool1d(3, 2, 1)(torch.tensor(host(x)))
    close_to_torch(ours, theirs)


# --------------------------------------------------------------------------
# Tensor methods that are differentiable
# --------------------------------------------------------------------------

def test_repeat_masked_fill_gather_sort_topk_gradcheck():
    x = t64(RNG.permutation(12).reshape(3, 4) / 7.0)                  # distinct: stable sort
    mask = RNG.random((3, 4)) < 0.4
    index = RNG.integers(0, 4, size=(3, 2))
    check_grads(lambda x: x.repeat(2, 1, 3), [x])
    check_grads(lambda x: x.masked_fill(tg.tensor(mask), -2.0), [x])
    check_grads(lambda x: x.gather(1, tg.tensor(index)), [x])
    check_grads(lambda x: x.sort(dim=1, descending=True).values, [x])
    check_grads(lambda x: x.topk(2, dim=0).values, [x])


def test_tensor_methods_match_torch():
    torch = torch_or_skip()
    a = RNG.permutation(24).reshape(2, 3, 4) / 5.0
    x, X = t64(a, False), torch.tensor(a)
    close_to_torch(x.repeat(2, 1, 1, 2), X.repeat(2, 1, 1, 2))
    m = RNG.random((3, 4)) < 0.5
    close_to_torch(x.masked_fill(tg.tensor(m), 7.0), X.masked_fill(torch.tensor(m), 7.0))
    for dim in (0, 1, -1):
        ours, theirs = x.max(dim), X.max(dim)
        close_to_torch(ours.values, theirs.values)
        close_to_torch(ours.indices, theirs.indices)
        ours, theirs = x.min(dim, keepdim=True), X.min(dim, keepdim=True)
        close_to_torch(ours.indices, theirs.indices)
        ours, theirs = x.sort(dim, descending=True), X.sort(dim, descending=True)
        close_to_torch(ours.values, theirs.values)
        close_to_torch(ours.indices, theirs.indices)
        ours, theirs = x.topk(2, dim), X.topk(2, dim)
        close_to_torch(ours.values, theirs.values)
        close_to_torch(ours.indices, theirs.indices)
    idx = RNG.integers(0, 3, size=(2, 2, 4))
    close_to_torch(x.gather(1, tg.tensor(idx)), X.gather(1, torch.tensor(idx)))
    close_to_torch(x.sum(dtype=tg.float32), X.sum(dtype=torch.float32), atol=1e-5)
    close_to_torch(x[0].t(), X[0].t())
    close_to_torch(tg.max(x, 2).indices, torch.max(X, 2).indices)


# --------------------------------------------------------------------------
# loss modules
# --------------------------------------------------------------------------

def _loss_case(name):
    """(module kwargs, input, target, whether the target is differentiable) for each loss."""
    p = RNG.uniform(0.05, 0.95, size=(4, 3))
    y01 = RNG.uniform(0, 1, size=(4, 3))
    z = RNG.normal(size=(4, 3))
    d = away_from_zero((4, 3), 0.2) + np.where(RNG.random((4, 3)) < 0.5, 0.0, 1.5)
    cls = RNG.integers(0, 3, size=4)
    logq = np.log(RNG.dirichlet(np.ones(3), size=4))
    return {
        "BCELoss": (p, y01, True), "BCEWithLogitsLoss": (z, y01, True), "MSELoss": (z, y01, True),
        "L1Loss": (d, np.zeros((4, 3)), False), "SmoothL1Loss": (d, np.zeros((4, 3)), False),
        "CrossEntropyLoss": (z, cls, False), "NLLLoss": (logq, cls, False),
        "KLDivLoss": (logq, RNG.dirichlet(np.ones(3), size=4), True),
    }[name]


LOSSES = ["BCELoss", "BCEWithLogitsLoss", "MSELoss", "L1Loss", "SmoothL1Loss", "CrossEntropyLoss",
          "NLLLoss", "KLDivLoss"]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", LOSSES)
def test_loss_modules_gradcheck(name, reduction):
    x, y, y_differentiable = _loss_case(name)
    loss = getattr(nn, name)(reduction=reduction)
    target = t64(y, requires_grad=y_differentiable) if y.dtype.kind == "f" else tg.tensor(y)
    inputs = [t64(x), target] if y_differentiable else [t64(x)]
    fn = (lambda a, b: loss(a, b)) if y_differentiable else (lambda a: loss(a, target))
    check_grads(fn, inputs)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", LOSSES)
def test_loss_modules_match_torch(name, reduction):
    torch = torch_or_skip()
    x, y, _ = _loss_case(name)
    ours = getattr(nn, name)(reduction=reduction)(t64(x, False), tg.tensor(y))
    theirs = getattr(torch.nn, name)(reduction=reduction)(torch.tensor(x), torch.tensor(y))
    close_to_torch(ours, theirs, atol=1e-12)


def test_loss_module_options_match_torch():
    torch = torch_or_skip()
    z, y, cls = RNG.normal(size=(4, 3)), RNG.uniform(0, 1, (4, 3)), RNG.integers(0, 3, size=4)
    w, pw = RNG.uniform(0.5, 2, 3), RNG.uniform(0.5, 2, 3)
    pairs = [
        (nn.CrossEntropyLoss(weight=tg.tensor(w), label_smoothing=0.1),
         torch.nn.CrossEntropyLoss(weight=torch.tensor(w), label_smoothing=0.1), z, cls),
        (nn.BCEWithLogitsLoss(pos_weight=tg.tensor(pw)),
         torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pw)), z, y),
        (nn.SmoothL1Loss(beta=0.5), torch.nn.SmoothL1Loss(beta=0.5), z, y),
        (nn.KLDivLoss(reduction="batchmean", log_target=True),
         torch.nn.KLDivLoss(reduction="batchmean", log_target=True), z, RNG.normal(size=(4, 3))),
        (nn.MSELoss(size_average=False), torch.nn.MSELoss(reduction="sum"), z, y),
    ]
    for ours, theirs, a, b in pairs:
        close_to_torch(ours(t64(a, False), tg.tensor(b)), theirs(torch.tensor(a), torch.tensor(b)))


# --------------------------------------------------------------------------
# spectral norm, gradient clipping
# --------------------------------------------------------------------------

def test_spectral_norm_keys_values_and_gradient_match_torch():
    torch = torch_or_skip()
    ours = nn.utils.spectral_norm(nn.Linear(5, 4).double())
    theirs = torch.nn.utils.spectral_norm(torch.nn.Linear(5, 4).double())
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict()) == \
        ["bias", "weight_orig", "weight_u", "weight_v"]
    theirs.load_state_dict({k: torch.tensor(host(v)) for k, v in ours.state_dict().items()})
    x = RNG.normal(size=(3, 5))
    for _ in range(3):                          # training: power iterations update u and v
        y, Y = ours(t64(x, False)), theirs(torch.tensor(x))
        close_to_torch(y, Y)
    close_to_torch(ours.weight_u, theirs.weight_u)
    g = RNG.normal(size=(3, 4))
    y.backward(tg.tensor(g))
    Y.backward(torch.tensor(g))
    close_to_torch(ours.weight_orig.grad, theirs.weight_orig.grad)
    for _ in range(50):                         # the power iteration converges: sigma(W / sigma) -> 1
        ours(t64(x, False))
    assert abs(np.linalg.svd(host(ours.weight), compute_uv=False)[0] - 1.0) < 1e-6


def test_spectral_norm_gradcheck_in_eval_mode():
    layer = nn.utils.spectral_norm(nn.Conv2d(2, 3, 3).double())
    layer.eval()                                # u, v fixed: weight = W / (u^T W v) is smooth
    check_grads(lambda x: layer(x), [t64(RNG.normal(size=(1, 2, 4, 4)))])
    check_grads(lambda w: nn.utils.SpectralNorm("weight", 1, 0, 1e-12).weight_matrix(w) /
                (tg.tensor(host(layer.weight_u)) *
                 (nn.utils.SpectralNorm("weight", 1, 0, 1e-12).weight_matrix(w) @
                  tg.tensor(host(layer.weight_v)))).sum(), [t64(host(layer.weight_orig))])


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_clip_grad_norm_matches_torch(norm_type):
    torch = torch_or_skip()
    grads = [RNG.normal(size=(3, 2)), RNG.normal(size=(4,))]
    ps = [nn.Parameter(tg.tensor(np.zeros_like(g))) for g in grads]
    Ps = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
    for p, P, g in zip(ps, Ps, grads):
        p.grad, P.grad = tg.tensor(g), torch.tensor(g)
    total = nn.utils.clip_grad_norm_(ps, 0.5, norm_type)
    Total = torch.nn.utils.clip_grad_norm_(Ps, 0.5, norm_type)
    close_to_torch(total, Total)
    for p, P in zip(ps, Ps):
        close_to_torch(p.grad, P.grad)
    nn.utils.clip_grad_value_(ps, 0.01)
    assert max(float(np.abs(host(p.grad)).max()) for p in ps) <= 0.01
