"""Issue 16, the non-differentiable surface PyTorch scripts touch: module paths, torch.device
and accelerator flags, legacy constructors, in-place methods and the version counter,
``.data`` idioms, utils.data, lr_scheduler and Adadelta, save/load with real ``.pth`` files
(both ways through the torch oracle), dtype rules, and missing-name errors.
"""
from __future__ import annotations

import collections
import math

import numpy as np
import pytest

import tinygen as tg
from tinygen import nn
from tinygen_tests.conftest import host


def torch_or_skip():
    return pytest.importorskip("torch")


# --------------------------------------------------------------------------
# module paths and flags
# --------------------------------------------------------------------------

def test_import_tinygen_loads_the_torch_shaped_namespace():
    import tinygen.functional
    assert tg.nn.functional is tinygen.functional
    assert tg.optim.Adam and tg.optim.lr_scheduler.StepLR and tg.utils.data.DataLoader
    assert tg.autograd.Variable and tg.nn.parallel.data_parallel and tg.nn.utils.clip_grad_norm_
    tg.backends.cudnn.benchmark = True                   # a flag that does nothing
    assert tg.backends.mps.is_available() is False
    assert tg.cuda.is_available() == tg.cuda_is_available()
    assert tg.accelerator.current_accelerator() is None or \
        tg.accelerator.current_accelerator().type == "cuda"


def test_device_is_pytorchs_and_a_plain_name():
    d = tg.device("cuda", 1)
    assert (d, d.type, d.index, repr(d)) == ("cuda:1", "cuda", 1, "device(type='cuda', index=1)")
    assert tg.device("cpu").index is None and tg.device(tg.device("cpu")) == "cpu"
    x = tg.zeros(2).to(tg.device("cpu"))
    assert x.device == "cpu" and x.device.type == "cpu" and not x.is_cuda
    m = nn.Linear(2, 2).to(tg.device("cpu"))
    assert m.weight.device == "cpu"
    with pytest.raises(tg.DeviceError, match="unknown device"):
        tg.device("tpu")


def test_missing_names_say_so_and_point_to_the_nearest():
    with pytest.raises(AttributeError, match="nearest in tinygen: tinygen.matmul"):
        tg.einsum
    with pytest.raises(AttributeError, match="tinygen.nn.Linear"):
        nn.LSTM
    with pytest.raises(AttributeError, match="tinygen.functional.softmax"):
        tg.nn.functional.softmaxx
    assert not hasattr(tg, "__wrapped__")


# --------------------------------------------------------------------------
# creation: legacy classes, from_numpy, as_tensor, Variable
# --------------------------------------------------------------------------

def test_legacy_constructors_and_type():
    t = tg.FloatTensor(4, 1).fill_(1.0)
    assert t.shape == (4, 1) and t.dtype == np.float32 and float(t.sum()) == 4.0
    z = tg.FloatTensor(np.random.normal(0, 1, (2, 3)))            # float64 data -> float32
    assert z.dtype == np.float32 and isinstance(z, tg.FloatTensor)
    assert not isinstance(z, tg.LongTensor) and not isinstance(z, tg.cuda.FloatTensor)
    labels = tg.LongTensor(np.random.randint(0, 10, 5))
    assert labels.dtype == np.int64 and labels.type() == "torch.LongTensor"
    assert z.type(tg.LongTensor).dtype == np.int64 and z.type("torch.DoubleTensor").dtype == np.float64
    assert z.type_as(labels).dtype == np.int64
    assert tg.Tensor(2, 3).shape == (2, 3) and tg.Tensor([1, 2]).dtype == np.float32
    if not tg.cuda.is_available():
        with pytest.raises(tg.DeviceError):
            tg.cuda.FloatTensor(2, 2)


def test_from_numpy_shares_memory_and_as_tensor_avoids_copies():
    a = np.arange(4.0)
    t = tg.from_numpy(a)
    t.add_(1)
    assert a[0] == 1.0 and t.dtype == np.float64
    assert tg.as_tensor(a, device="cpu")._data is a and tg.as_tensor(t) is t
    assert tg.as_tensor([1, 2], dtype=tg.float32).dtype == np.float32
    assert tg.empty(2, 3).shape == (2, 3)
    x = tg.randn(3)
    assert tg.autograd.Variable(x) is x and tg.autograd.Variable(x, requires_grad=True).requires_grad


def test_new_methods_and_shapes():
    x = tg.randn(2, 3, dtype=tg.float64)
    assert x.new_ones(4).dtype == np.float64 and x.new_zeros((2, 2)).shape == (2, 2)
    assert float(x.new_full((3,), 7.0).sum()) == 21.0
    assert x.view_as(tg.zeros(3, 2)).shape == (3, 2) and x.contiguous() is x
    assert x.size() == (2, 3) and x.size(1) == 3 and x.t().shape == (3, 2)
    assert x.expand(4, 2, 3).shape == (4, 2, 3) and x[:, :1].expand_as(x).shape == (2, 3)
    assert host(x.eq(x)).all() and x.argmax(dim=1, keepdim=True).shape == (2, 1)
    _, i = x.max(1)                                     # PyTorch's unpacking: (values, indices)
    assert i.dtype == np.int64 and i.shape == (2,)
    assert float(x.max()) == float(host(x).max())
    assert host(x.max(tg.zeros(2, 3, dtype=tg.float64))).min() >= 0
    assert tg.ones(3, dtype=tg.bool).sum(dtype=tg.int64).item() == 3
    assert x.tolist() == host(x).tolist() and x[0, 0].item() == host(x)[0, 0]


# --------------------------------------------------------------------------
# in-place methods, .data idioms, the version counter
# --------------------------------------------------------------------------

def test_inplace_methods_on_leaves():
    torch = torch_or_skip()
    a = np.random.default_rng(0).normal(size=(3, 4))
    ops = [lambda t: t.fill_(2.0), lambda t: t.zero_(), lambda t: t.add_(1.5),
           lambda t: t.add_(t, alpha=2.0), lambda t: t.mul_(3.0), lambda t: t.sub_(0.5),
           lambda t: t.div_(2.0), lambda t: t.clamp_(-0.3, 0.2), lambda t: t.clamp_(min=0.0),
           lambda t: t.copy_(t * 2), lambda t: t.masked_fill_(t > 0, -1.0)]
    for op in ops:
        ours, theirs = tg.tensor(a.copy()), torch.tensor(a.copy())
        out = op(ours)
        op(theirs)
        assert out is ours and ours._version == 1 or ours._version >= 1
        np.testing.assert_allclose(host(ours), theirs.numpy(), rtol=0, atol=1e-15)
    x, X = tg.tensor(a.copy()), torch.tensor(a.copy())
    x[0] = 5.0
    X[0] = 5.0
    x[:, 1:3] = tg.ones(3, 2, dtype=tg.float64)
    X[:, 1:3] = torch.ones(3, 2, dtype=torch.float64)
    mask = x > 1
    x[mask] = 0.0
    X[torch.from_numpy(host(mask))] = 0.0
    np.testing.assert_array_equal(host(x), X.numpy())
    u = tg.zeros(1000).uniform_(-2, 3)
    n = tg.zeros(1000).normal_(1.0, 0.1)
    assert -2 <= host(u).min() and host(u).max() < 3 and abs(host(n).mean() - 1) < 0.02


def test_inplace_on_a_leaf_that_requires_grad_needs_no_grad():
    w = nn.Parameter(tg.zeros(3))
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w.add_(1)
    with tg.no_grad():
        w.add_(1)
        w[0] = 7.0
    assert host(w).tolist() == [7.0, 1.0, 1.0]
    y = w * 2
    with pytest.raises(RuntimeError, match="not recorded"):
        y.mul_(2)


def test_version_counter_catches_a_change_the_graph_still_needs():
    w = nn.Parameter(tg.ones(3))
    x = tg.tensor([1.0, 2.0, 3.0])
    loss = (w * x).sum()
    x.mul_(10)                            # Mul saved x for w's gradient
    with pytest.raises(RuntimeError, match="modified by an in-place operation.*version 1; "
                                           "expected version 0"):
        loss.backward()
    # an optimizer step between forward and backward (the classic GAN-loop slip)
    w = nn.Parameter(tg.ones(3))
    opt = tg.optim.SGD([w], lr=0.1)
    w.grad = tg.ones(3)
    loss = (w * w).sum()
    opt.step()
    with pytest.raises(RuntimeError, match="in-place"):
        loss.backward()


def test_parameter_data_keeps_pytorch_idioms():
    lin = nn.Linear(4, 3, device="cpu")                     # DataArray: host arrays only
    assert type(lin.weight.data).__name__ == "DataArray"
    lin.weight.data.normal_(0.0, 0.02)                       # old-style init
    assert abs(float(lin.weight.data.std()) - 0.02) < 0.02
    nn.init.normal_(lin.weight.data, 0.0, 0.02)              # init on .data
    nn.init.constant_(lin.bias.data, 0.5)
    assert lin.bias.numpy().tolist() == [0.5] * 3
    for p in lin.parameters():                               # WGAN's clipping
        p.data.clamp_(-0.01, 0.01)
    assert np.abs(lin.weight.numpy()).max() <= 0.01
    ema = nn.Linear(4, 3, device="cpu")
    ema.weight.data.mul_(0.5).add_(lin.weight.data, alpha=0.5)
    ema.weight.data.copy_(lin.weight.data)
    np.testing.assert_array_equal(ema.weight.numpy(), lin.weight.numpy())
    assert lin.weight.data.cpu().numpy().shape == (4, 3)[::-1]
    assert type(lin.weight.data + 1) is np.ndarray           # NumPy results stay plain arrays
    assert type(np.concatenate([lin.weight.data, lin.weight.data])) is np.ndarray


def test_data_of_any_tensor_speaks_pytorch_where_numpy_would_answer_otherwise():
    x = tg.tensor(np.arange(24, dtype=np.float64).reshape(2, 3, 4), device="cpu")  # host only
    d = x.data
    assert d.size == 24 and d.size + 1 == 25 and d.size(0) == 2 and d.size() == (2, 3, 4)
    assert np.shares_memory(d, x._data) and type(d * 2) is np.ndarray
    assert d.view(6, 4).shape == (6, 4) and d.view(np.int64).dtype == np.int64   # view(dtype): NumPy's
    values, indices = d.max(1)                      # PyTorch's (values, indices), not NumPy's values
    np.testing.assert_array_equal(indices.numpy(), np.full((2, 4), 2))
    np.testing.assert_array_equal(values.numpy(), x._data.max(1))
    assert float(d.max()) == 23.0 and d.sum(dim=0, keepdim=True).shape == (1, 3, 4)
    assert d.sum(0).shape == (3, 4)                                     # the same in both
    np.testing.assert_allclose(float(d.std()), np.std(x._data))          # NumPy's, unless asked
    np.testing.assert_allclose(d.std(dim=0).numpy(), np.std(x._data, axis=0, ddof=1))
    assert d.repeat(1, 2, 1).shape == (2, 6, 4) and d.transpose(0, 2).shape == (4, 3, 2)
    assert d.flatten(1).shape == (2, 12) and d.flatten().shape == (24,)
    assert d.sort(2).indices.shape == (2, 3, 4)
    # the classic accuracy line of old PyTorch examples
    out, target = tg.tensor([[0.1, 0.9], [0.8, 0.2]], device="cpu"), tg.tensor([1, 1], device="cpu")
    pred = out.data.max(1, keepdim=True)[1]
    assert int(pred.eq(target.data.view_as(pred)).cpu().sum()) == 1
    # in place through .data writes into the tensor
    x.data.mul_(0).add_(1.0)
    assert float(x.sum()) == 24.0
    y = tg.Tensor(x.data)                                 # a tensor made from .data stores the plain array
    assert type(y._data) is np.ndarray and np.shares_memory(y._data, x._data)


# --------------------------------------------------------------------------
# utils.data
# --------------------------------------------------------------------------

def test_dataloader_over_tensor_dataset_and_a_custom_dataset():
    from tinygen.utils.data import DataLoader, Dataset, TensorDataset, random_split
    ds = TensorDataset(tg.arange(10).float(), tg.arange(10))
    loader = DataLoader(ds, batch_size=4, shuffle=True, num_workers=2, pin_memory=True)
    batches = list(loader)
    assert len(loader) == 3 and loader.dataset is ds and len(loader.dataset) == 10
    assert [b[0].shape for b in batches] == [(4,), (4,), (2,)]
    assert sorted(np.concatenate([host(b[1]) for b in batches]).tolist()) == list(range(10))
    assert len(DataLoader(ds, batch_size=4, drop_last=True)) == 2

    class Squares(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.full((2, 2), i, np.float32), i * i

    x, y = next(iter(DataLoader(Squares(), batch_size=3)))
    assert isinstance(x, tg.Tensor) and x.shape == (3, 2, 2) and host(y).tolist() == [0, 1, 4]
    a, b = random_split(Squares(), [3, 2])
    assert len(a) == 3 and len(b) == 2


# --------------------------------------------------------------------------
# optimizers and schedules against torch
# --------------------------------------------------------------------------

@pytest.mark.parametrize("make", ["StepLR", "ExponentialLR", "LambdaLR", "MultiStepLR",
                                  "CosineAnnealingLR"])
def test_lr_schedulers_match_torch(make):
    torch = torch_or_skip()
    kwargs = {"StepLR": dict(step_size=2, gamma=0.5), "ExponentialLR": dict(gamma=0.9),
              "LambdaLR": dict(lr_lambda=lambda e: 1 / (1 + e)),
              "MultiStepLR": dict(milestones=[1, 3], gamma=0.1),
              "CosineAnnealingLR": dict(T_max=5, eta_min=0.01)}[make]
    ours = tg.optim.SGD([nn.Parameter(tg.zeros(1))], lr=0.1)
    theirs = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    s = getattr(tg.optim.lr_scheduler, make)(ours, **kwargs)
    S = getattr(torch.optim.lr_scheduler, make)(theirs, **kwargs)
    for _ in range(6):
        assert math.isclose(ours.param_groups[0]["lr"], theirs.param_groups[0]["lr"],
                            rel_tol=1e-12, abs_tol=1e-15)
        assert s.get_last_lr() == pytest.approx(S.get_last_lr())
        ours.step(), theirs.step()
        s.step(), S.step()


def test_adadelta_matches_torch():
    torch = torch_or_skip()
    rng = np.random.default_rng(5)
    w0 = rng.normal(size=(3, 2))
    ours, theirs = nn.Parameter(tg.tensor(w0)), torch.nn.Parameter(torch.tensor(w0))
    o = tg.optim.Adadelta([ours], lr=1.0, rho=0.8, weight_decay=0.01)
    O = torch.optim.Adadelta([theirs], lr=1.0, rho=0.8, weight_decay=0.01)
    for _ in range(5):
        g = rng.normal(size=(3, 2))
        ours.grad, theirs.grad = tg.tensor(g), torch.tensor(g)
        o.step(), O.step()
    np.testing.assert_allclose(host(ours), theirs.detach().numpy(), rtol=0, atol=1e-14)


# --------------------------------------------------------------------------
# save / load: real .pth files, both ways
# --------------------------------------------------------------------------

def test_save_is_read_by_torch_load_weights_only(tmp_path):
    torch = torch_or_skip()
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 1))
    obj = {"model": net.state_dict(), "epoch": 3, "name": "dcgan", "losses": [0.5, 0.25],
           "scalar": tg.tensor(2.5), "ints": tg.arange(3), "f64": tg.zeros(2, dtype=tg.float64),
           "flags": tg.tensor([True, False]), "param": nn.Parameter(tg.ones(2))}
    tg.save(obj, str(tmp_path / "ckpt.pth"))
    back = torch.load(str(tmp_path / "ckpt.pth"), weights_only=True)
    assert list(back["model"]) == list(net.state_dict())
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(back["model"][k].numpy(), host(v))
        assert back["model"][k].dtype == getattr(torch, str(v.dtype))
    assert back["epoch"] == 3 and back["name"] == "dcgan" and back["losses"] == [0.5, 0.25]
    assert back["scalar"].shape == () and back["scalar"].item() == 2.5
    assert back["f64"].dtype == torch.float64 and back["flags"].dtype == torch.bool
    assert isinstance(back["param"], torch.nn.Parameter)
    mirror = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2),
                                 torch.nn.Flatten(), torch.nn.Linear(8, 1))
    mirror.load_state_dict(back["model"])                       # strict: same keys and shapes


def test_load_reads_what_torch_save_wrote(tmp_path):
    torch = torch_or_skip()
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Tanh())
    torch.save({"sd": net.state_dict(), "step": 7}, str(tmp_path / "t.pth"))
    back = tg.load(str(tmp_path / "t.pth"), map_location="cpu")
    assert back["step"] == 7 and isinstance(back["sd"], collections.OrderedDict)
    ours = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh())
    ours.load_state_dict(back["sd"])
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    ours.eval(), net.eval()
    np.testing.assert_allclose(host(ours(tg.tensor(x))), net(torch.tensor(x)).detach().numpy(),
                               atol=1e-6)
    with open(tmp_path / "t.pth", "rb") as f:                   # a file object works too
        assert tg.load(f)["step"] == 7


def test_save_load_round_trip_without_torch(tmp_path):
    sd = nn.Linear(3, 2).state_dict()
    tg.save(sd, str(tmp_path / "w.pth"))
    back = tg.load(str(tmp_path / "w.pth"))
    assert list(back) == list(sd) and all(isinstance(v, tg.Tensor) for v in back.values())
    for k in sd:
        np.testing.assert_array_equal(host(back[k]), host(sd[k]))


# --------------------------------------------------------------------------
# dtypes as PyTorch
# --------------------------------------------------------------------------

def test_linear_refuses_a_float64_input_into_float32_weights():
    lin = nn.Linear(3, 2)
    with pytest.raises(TypeError, match="input is float64.*weight is float32"):
        lin(tg.zeros(4, 3, dtype=tg.float64))
    assert lin.double()(tg.zeros(4, 3, dtype=tg.float64)).dtype == np.float64


def test_data_parallel_and_inference_mode():
    net = nn.Linear(2, 2)
    x = tg.randn(3, 2)
    np.testing.assert_array_equal(host(nn.parallel.data_parallel(net, x, range(2))), host(net(x)))
    wrapped = nn.parallel.DataParallel(net)
    assert list(wrapped.state_dict()) == ["module.weight", "module.bias"]
    with tg.inference_mode():
        assert not net(x).requires_grad

    @tg.inference_mode()
    def f():
        return net(x)
    assert not f().requires_grad
    assert tg.autograd.grad((net(x) ** 2).sum(), [net.weight], only_inputs=True)[0].shape == (2, 2)
