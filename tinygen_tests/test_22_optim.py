"""Optimizers against PyTorch's update formulas (oracle) and against hand-computed steps."""
import numpy as np
import pytest

import tinygen as tg
from tinygen import nn, optim
from tinygen_tests.conftest import assert_allclose, assert_array_equal

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=1e-4, betas=(0.0, 0.9))),
    ("Adam", dict(lr=0.01, betas=(0.5, 0.999), weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
]


def _gradient_sequence(shape, steps, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for _ in range(steps)]


def _run_tinygen(name, kwargs, theta0, grads):
    p = nn.Parameter(tg.tensor(theta0.copy()))
    opt = getattr(optim, name)([p], **kwargs)
    for g in grads:
        p.grad = tg.tensor(g)
        opt.step()
    return p.cpu().numpy(), opt


@pytest.mark.parametrize("name,kwargs", CONFIGS)
def test_matches_pytorch_on_a_fixed_gradient_sequence(name, kwargs):
    torch = pytest.importorskip("torch")
    theta0 = np.random.default_rng(1).standard_normal((3, 4))
    grads = _gradient_sequence((3, 4), 12)
    ours, _ = _run_tinygen(name, kwargs, theta0, grads)
    p = torch.nn.Parameter(torch.tensor(theta0.copy()))
    opt = getattr(torch.optim, name)([p], **kwargs)
    for g in grads:
        p.grad = torch.tensor(g)
        opt.step()
    assert_allclose(ours, p.detach().cpu().numpy(), rtol=1e-6, atol=1e-9)


def test_adam_first_step_is_lr_times_sign():
    # With bias correction, the first Adam step is lr * g / (|g| + eps') = lr * sign(g).
    theta0 = np.zeros(5)
    g = np.array([3.0, -2.0, 0.5, -0.1, 7.0])
    ours, _ = _run_tinygen("Adam", dict(lr=0.1, eps=1e-12), theta0, [g])
    assert_allclose(ours, -0.1 * np.sign(g), rtol=1e-9)


def test_sgd_momentum_by_hand():
    g1, g2 = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    ours, _ = _run_tinygen("SGD", dict(lr=0.1, momentum=0.9), np.zeros(2), [g1, g2])
    b1 = g1
    b2 = 0.9 * b1 + g2
    assert_allclose(ours, -0.1 * b1 - 0.1 * b2)


@pytest.mark.parametrize("name,kwargs", CONFIGS)
def test_state_dict_round_trip_continues_identically(name, kwargs):
    theta0 = np.random.default_rng(2).standard_normal(6)
    grads = _gradient_sequence(6, 10, seed=3)
    full, _ = _run_tinygen(name, kwargs, theta0, grads)
    half, opt = _run_tinygen(name, kwargs, theta0, grads[:5])
    saved = opt.state_dict()
    p = nn.Parameter(tg.tensor(half.copy()))
    opt2 = getattr(optim, name)([p], **kwargs)
    opt2.load_state_dict(saved)
    for g in grads[5:]:
        p.grad = tg.tensor(g)
        opt2.step()
    assert_array_equal(p.cpu().numpy(), full)


def test_parameters_without_grad_are_skipped_and_groups_have_own_lr():
    a = nn.Parameter(tg.tensor([1.0]))
    b = nn.Parameter(tg.tensor([1.0]))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad = tg.tensor([1.0])
    b.grad = tg.tensor([1.0])
    opt.step()
    assert a.item() == pytest.approx(0.9) and b.item() == pytest.approx(0.5)
    opt.zero_grad()
    assert a.grad is None and b.grad is None
    opt.step()   # no gradients: nothing moves
    assert a.item() == pytest.approx(0.9)


@pytest.mark.parametrize("name,kwargs", CONFIGS)
def test_zero_grad_to_none_skips_the_parameter_zeros_still_step(name, kwargs):
    """PyTorch's semantics: a parameter whose .grad is None is left alone (no weight decay, no
    momentum, no state); a zero gradient is a step like any other."""
    theta = np.array([1.0, -2.0])
    p, q = nn.Parameter(tg.tensor(theta.copy())), nn.Parameter(tg.tensor(theta.copy()))
    opt = getattr(optim, name)([p, q], **kwargs)
    for _ in range(2):                                  # momentum/averages become non-zero
        p.grad, q.grad = tg.tensor([0.5, 0.5]), tg.tensor([0.5, 0.5])
        opt.step()
    moved = p.cpu().numpy().copy()
    opt.zero_grad()                                     # set_to_none=True
    assert p.grad is None and q.grad is None
    opt.step()
    assert_array_equal(p.cpu().numpy(), moved)
    p.grad = tg.tensor([0.5, 0.5])
    opt.zero_grad(set_to_none=False)
    assert_array_equal(p.grad.cpu().numpy(), [0.0, 0.0])
    assert q.grad is None
    opt.step()                                          # zero gradient: a step like any other
    carried = bool(kwargs.get("momentum") or kwargs.get("weight_decay") or name == "AdamW"
                   or (name == "Adam" and kwargs.get("betas", (0.9,))[0] > 0))
    assert np.array_equal(p.cpu().numpy(), moved) != carried  # moves by momentum / decay if any
    assert_array_equal(q.cpu().numpy(), moved)     # q had no gradient: untouched


def test_float32_parameters_stay_float32():
    p = nn.Parameter(tg.zeros(3))
    opt = optim.Adam([p], lr=0.1)
    p.grad = tg.ones(3)
    opt.step()
    assert p.dtype == np.float32


def test_bad_arguments_are_named():
    p = nn.Parameter(tg.zeros(1))
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([p], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    frozen = tg.zeros(1)
    with pytest.raises(ValueError, match="requires_grad"):
        optim.SGD([frozen], lr=0.1)


def test_training_a_linear_regression_converges():
    tg.manual_seed(0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3)).astype(np.float32)
    w_true = np.array([[1.5], [-2.0], [0.5]], dtype=np.float32)
    y = X @ w_true + 0.3
    model = nn.Linear(3, 1)
    opt = optim.Adam(model.parameters(), lr=0.05)
    from tinygen import functional as F
    for _ in range(300):
        opt.zero_grad()
        loss = F.mse_loss(model(tg.tensor(X)), tg.tensor(y))
        loss.backward()
        opt.step()
    assert_allclose(model.weight.cpu().numpy().T, w_true, atol=1e-2)
    assert model.bias.item() == pytest.approx(0.3, abs=1e-2)


@pytest.mark.parametrize("cls", [optim.Adam, optim.AdamW])
def test_fused_adam_update_gives_the_same_bits_as_the_readable_one(cls, monkeypatch):
    """The fused kernel a real GPU runs (backend.fused: cupy.fuse) is the same Python function
    run with NumPy here: forcing that path must reproduce the readable update exactly."""
    from tinygen import backend

    def trajectory():
        tg.manual_seed(0)
        net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
        opt = cls(net.parameters(), lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1)
        x = tg.randn(5, 3)
        for _ in range(4):
            opt.zero_grad()
            (net(x) ** 2).mean().backward()
            opt.step()
        return [p.cpu().numpy() for p in net.parameters()]

    plain = trajectory()
    monkeypatch.setattr(backend, "fused_kernels_for", lambda a: True)
    calls = []
    fused = backend.fused
    monkeypatch.setattr(backend, "fused", lambda fn: calls.append(fn) or fused(fn))
    for a, b in zip(trajectory(), plain):
        assert_array_equal(a, b)
    assert len(calls) == 3 * 4       # steps 2-4 of the 4 parameters went through the kernel

