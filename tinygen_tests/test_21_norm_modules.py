"""Normalisation modules: PyTorch's buffers, keys, train/eval behaviour, errors, and (optionally)
PyTorch itself as an oracle for values, gradients and running statistics."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
from tinygen import nn
from tinygen.gradcheck import check_module
from tinygen_tests.conftest import (
    SETTINGS, assert_allclose, assert_array_equal, on_default_device, t64)


def test_batchnorm2d_state_dict_keys_buffers_and_init():
    bn = nn.BatchNorm2d(3)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert_array_equal(bn.weight.data, np.ones(3))
    assert_array_equal(bn.bias.data, np.zeros(3))
    assert_array_equal(bn.running_mean.data, np.zeros(3))
    assert_array_equal(bn.running_var.data, np.ones(3))
    assert bn.num_batches_tracked.shape == () and bn.num_batches_tracked.dtype == np.int64
    bn.double()
    assert bn.running_mean.dtype == np.float64 and bn.num_batches_tracked.dtype == np.int64
    plain = nn.BatchNorm2d(3, affine=False, track_running_stats=False)
    assert list(plain.state_dict()) == [] and plain.running_mean is None


def test_batchnorm_train_eval_behaviour():
    rng = np.random.default_rng(0)
    bn = nn.BatchNorm2d(2, momentum=0.5).double()
    x = t64(rng.normal(3.0, 2.0, (4, 2, 3, 3)), requires_grad=False)
    y_train = bn(x)
    assert_allclose(y_train.data.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    assert bn.num_batches_tracked.item() == 1
    rm = bn.running_mean.data.copy()
    bn.eval()
    y_eval = bn(x)
    assert_array_equal(bn.running_mean.data, rm)      # eval leaves stats alone
    assert bn.num_batches_tracked.item() == 1
    expect = (x.data - rm[None, :, None, None]) / np.sqrt(bn.running_var.data[None, :, None, None]
                                                         + 1e-5)
    assert_allclose(y_eval.data, expect, atol=1e-12)
    # one value per channel is fine in eval, an error in training
    bn(t64(np.ones((1, 2, 1, 1)), requires_grad=False))
    bn.train()
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(t64(np.ones((1, 2, 1, 1)), requires_grad=False))
    # without running statistics, eval uses the batch statistics
    free = nn.BatchNorm2d(2, track_running_stats=False).double().eval()
    assert_allclose(free(x).data.mean(axis=(0, 2, 3)), 0, atol=1e-12)


def test_rank_and_channel_errors():
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected a 4-D .* got a 2-D input"):
        nn.BatchNorm2d(3)(tg.zeros(2, 3))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected a 2-D .* got a 4-D"):
        nn.BatchNorm1d(3)(tg.zeros(2, 3, 1, 1))
    with pytest.raises(ValueError, match=r"num_features=3\) got an input with 4 channels"):
        nn.BatchNorm2d(3)(tg.zeros(2, 4, 2, 2))
    with pytest.raises(ValueError, match=r"num_features=3\) got an input with 5 channels"):
        nn.InstanceNorm2d(3, affine=True)(tg.zeros(2, 5, 2, 2))
    with pytest.raises(ValueError, match="divisible by num_groups=4"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"expected input \(N, 6, \*\)"):
        nn.GroupNorm(3, 6)(tg.zeros(2, 4, 2))
    with pytest.raises(ValueError, match="trailing dimensions"):
        nn.LayerNorm(4)(tg.zeros(2, 3))


@SETTINGS
@given(kind=st.sampled_from(["bn1d", "bn1d_3d", "bn2d", "in2d", "in2d_affine", "ln", "gn"]),
       training=st.booleans(), seed=st.integers(0, 100))
def test_modules_first_and_second_order(kind, training, seed):
    rng = np.random.default_rng(seed)
    module, shape = {
        "bn1d": (nn.BatchNorm1d(3), (2, 3)),
        "bn1d_3d": (nn.BatchNorm1d(2), (1, 2, 3)),
        "bn2d": (nn.BatchNorm2d(2), (2, 2, 2, 1)),
        "in2d": (nn.InstanceNorm2d(2), (1, 2, 2, 2)),
        "in2d_affine": (nn.InstanceNorm2d(2, affine=True, track_running_stats=True), (2, 2, 1, 3)),
        "ln": (nn.LayerNorm((2, 3)), (2, 2, 3)),
        "gn": (nn.GroupNorm(2, 4), (1, 4, 1, 2)),
    }[kind]
    module.double()
    for p in module.parameters():                       # move away from the trivial init
        p.data[...] = on_default_device(rng.uniform(0.5, 1.5, p.shape))
    for name, b in module.named_buffers():
        if name == "running_var":
            b.data[...] = on_default_device(rng.uniform(0.5, 2.0, b.shape))
        elif name == "running_mean":
            b.data[...] = on_default_device(rng.standard_normal(b.shape))
    module.train(training)
    reports = check_module(module, on_default_device(rng.standard_normal(shape)))
    assert all(r.passed and r.checked > 0 for r in reports)


# ----------------------------------------------------------------------------
# PyTorch as an oracle (optional)
# ----------------------------------------------------------------------------

def _pair(kind, torch):
    tnn = torch.nn
    return {
        "bn1d": (nn.BatchNorm1d(3), tnn.BatchNorm1d(3), (4, 3)),
        "bn1d_3d": (nn.BatchNorm1d(3, momentum=0.3), tnn.BatchNorm1d(3, momentum=0.3), (2, 3, 5)),
        "bn2d": (nn.BatchNorm2d(3), tnn.BatchNorm2d(3), (4, 3, 3, 2)),
        "bn2d_cma": (nn.BatchNorm2d(3, momentum=None), tnn.BatchNorm2d(3, momentum=None),
                     (2, 3, 2, 2)),
        "bn3d": (nn.BatchNorm3d(3, momentum=0.2), tnn.BatchNorm3d(3, momentum=0.2), (2, 3, 2, 3, 2)),
        "in2d": (nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
                 tnn.InstanceNorm2d(3, affine=True, track_running_stats=True), (2, 3, 3, 3)),
        "ln": (nn.LayerNorm((3, 2)), tnn.LayerNorm((3, 2)), (4, 3, 3, 2)),
        "gn": (nn.GroupNorm(3, 6), tnn.GroupNorm(3, 6), (2, 6, 2, 2)),
    }[kind]


@pytest.mark.parametrize("kind", ["bn1d", "bn1d_3d", "bn2d", "bn2d_cma", "bn3d", "in2d", "ln", "gn"])
def test_matches_torch_over_three_training_steps_then_eval(kind):
    torch = pytest.importorskip("torch")
    ours, theirs, shape = _pair(kind, torch)
    ours.double()
    theirs.double()
    rng = np.random.default_rng(0)
    with torch.no_grad():                                  # the same non-trivial gamma, beta
        for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
            p.data[...] = on_default_device(rng.uniform(0.5, 1.5, p.shape))
            q.copy_(torch.from_numpy(p.cpu().numpy()))
    for step in range(3):
        x = rng.normal(step, 1.0 + step, shape)
        gy = rng.standard_normal(shape)
        xt = torch.tensor(x, requires_grad=True)
        yt = theirs(xt)
        yt.backward(torch.from_numpy(gy))
        xo = t64(x)
        yo = ours(xo)
        yo.backward(t64(gy, requires_grad=False))
        assert_allclose(yo.data, yt.detach().cpu().numpy(), atol=1e-6, rtol=0)
        assert_allclose(xo.grad.data, xt.grad.cpu().numpy(), atol=1e-6, rtol=0)
        for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert_allclose(p.grad.data, q.grad.cpu().numpy(), atol=1e-6, rtol=0,
                                       err_msg=name)
            p.grad, q.grad = None, None
    theirs_sd = theirs.state_dict()
    for key, value in ours.state_dict().items():
        assert_allclose(value.data, theirs_sd[key].cpu().numpy(), atol=1e-6, rtol=0,
                                   err_msg=key)
    assert list(ours.state_dict()) == list(theirs_sd)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape)
    assert_allclose(ours(t64(x)).data, theirs(torch.from_numpy(x)).detach().cpu().numpy(),
                               atol=1e-6, rtol=0)


def test_torch_batchnorm2d_state_dict_loads_into_ours():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.BatchNorm2d(4)
    theirs.train()
    for _ in range(2):
        theirs(torch.randn(5, 4, 3, 3) * 3 + 1)
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5)
        theirs.bias.uniform_(-1, 1)
    theirs.eval()
    ours = nn.BatchNorm2d(4).eval()
    ours.load_state_dict({k: v.cpu().numpy() for k, v in theirs.state_dict().items()})
    assert ours.num_batches_tracked.item() == 2 and ours.num_batches_tracked.dtype == np.int64
    x = np.random.default_rng(1).standard_normal((2, 4, 3, 3)).astype(np.float32)
    assert_allclose(ours(tg.tensor(x)).data,
                               theirs(torch.from_numpy(x)).detach().cpu().numpy(), atol=1e-5)
