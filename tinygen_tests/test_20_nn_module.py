"""nn.Module: registration, dotted state-dict keys, load_state_dict, containers,
modes, dtype conversion, init statistics, and a torch state-dict round trip."""
from collections import OrderedDict

import numpy as np
import pytest

import tinygen as tg
from tinygen import nn
from tinygen.gradcheck import check_module
from tinygen.nn import init
from tinygen_tests.conftest import assert_allclose, assert_array_equal


class Block(nn.Module):
    """A module with a parameter, a child, an int64 buffer and a float buffer."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(tg.ones(3))
        self.fc = nn.Linear(3, 3)
        self.register_buffer("steps", tg.tensor(np.array(0, dtype=np.int64)))
        self.register_buffer("running", tg.zeros(3))
        self.register_buffer("cache", tg.zeros(3), persistent=False)

    def forward(self, x):
        return self.fc(x) * self.scale


def _net():
    tg.manual_seed(0)
    return nn.Sequential(
        nn.Linear(3, 4),
        nn.ModuleList([nn.Tanh(), Block()]),
        nn.ModuleDict({"head": nn.Linear(4, 2), "act": nn.ReLU()}),
    )


def test_registration_order_and_dotted_names():
    b = Block()
    assert [n for n, _ in b.named_parameters()] == ["scale", "fc.weight", "fc.bias"]
    assert [n for n, _ in b.named_buffers()] == ["steps", "running", "cache"]
    net = _net()
    # PyTorch's order: a module's own parameters, then its buffers, then its children
    assert list(net.state_dict()) == [
        "0.weight", "0.bias", "1.1.scale", "1.1.steps", "1.1.running", "1.1.fc.weight",
        "1.1.fc.bias", "2.head.weight", "2.head.bias"]
    assert [n for n, _ in net.named_modules()][:4] == ["", "0", "1", "1.0"]
    assert len(list(net.parameters())) == 7


def test_shared_parameters_are_listed_once():
    lin = nn.Linear(2, 2)
    net = nn.Sequential(lin, lin)
    assert len(list(net.parameters())) == 2


def test_state_dict_round_trip():
    a, b = _net(), _net()
    tg.manual_seed(99)
    for p in b.parameters():
        init.normal_(p)
    b.load_state_dict(a.state_dict())
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb
        assert_array_equal(va.data, vb.data)
    # loading copies: changing the source afterwards does not change the target
    a[0].weight.data[...] = 7.0
    assert not np.any(b[0].weight.data == 7.0)


def test_strict_load_lists_missing_and_unexpected_keys():
    net = _net()
    sd = net.state_dict()
    del sd["0.bias"]
    sd["extra.weight"] = tg.zeros(1)
    with pytest.raises(KeyError, match=r"missing keys \['0.bias'\].*unexpected keys \['extra.weight'\]"):
        net.load_state_dict(sd)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["0.bias"] and result.unexpected_keys == ["extra.weight"]


def test_load_shape_mismatch_names_key_and_shapes():
    net = _net()
    sd = net.state_dict()
    sd["0.weight"] = np.zeros((5, 3))
    with pytest.raises(ValueError, match=r"0.weight.*\(5, 3\).*\(4, 3\)"):
        net.load_state_dict(sd)


def test_load_casts_to_the_module_dtype():
    net = _net().double()
    sd = {k: v.cpu().numpy().astype(np.float32) for k, v in net.state_dict().items()}
    net.load_state_dict(sd)
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net[1][1].steps.dtype == np.int64


def test_sequential_len_iter_index_slice():
    net = _net()
    assert len(net) == 3 and list(net)[0] is net[0] and net[-1] is net[2]
    head = net[1:]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is net[1]
    assert head[0][1].fc.weight is net[1][1].fc.weight          # shares modules
    seq = nn.Sequential(nn.Linear(2, 3), nn.Tanh())
    seq.append(nn.Linear(3, 1))
    assert len(seq) == 3 and seq(tg.ones(4, 2)).shape == (4, 1)
    od = nn.Sequential(OrderedDict([("enc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(od.state_dict()) == ["enc.weight", "enc.bias"]


def test_train_eval_propagate():
    net = _net()
    net.eval()
    assert all(not m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_and_requires_grad_():
    net = _net()
    x = tg.randn(2, 3)
    net[0](x).sum().backward()
    assert net[0].weight.grad is not None
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not net[0](x).requires_grad
    net.requires_grad_(True)
    assert net[0](x).requires_grad


def test_zero_grad_set_to_none_false_zeroes_in_place():
    net = _net()
    x = tg.randn(2, 3)
    net[0](x).sum().backward()
    w = net[0].weight
    grad, array = w.grad, w.grad._data
    net.zero_grad(set_to_none=False)
    assert w.grad is grad and w.grad._data is array             # the same tensor and array...
    assert_array_equal(array, 0.0)                               # ...filled with zeros
    assert all(p.grad is None for p in net.parameters() if p is not w and p is not net[0].bias)
    net[0](x).sum().backward()                                  # accumulates onto the zeros
    assert_allclose(w.grad.data, np.broadcast_to(x.cpu().numpy().sum(0), (4, 3)), rtol=1e-6)
    net.zero_grad()                                             # default: set_to_none=True
    assert w.grad is None


def test_zero_grad_set_to_none_false_detaches_a_gradient_with_a_graph():
    p = nn.Parameter(tg.tensor(np.array([2.0])))
    (p ** 3).sum().backward(create_graph=True)
    assert p.grad.grad_fn is not None
    m = nn.Module()
    m.p = p
    m.zero_grad(set_to_none=False)
    assert p.grad.grad_fn is None and not p.grad.requires_grad and p.grad.item() == 0.0
    q = nn.Parameter(tg.tensor(np.array(2.0)))                 # 0-d: NumPy gives a scalar grad
    (q * q).backward()
    m.q = q
    m.zero_grad(set_to_none=False)
    assert q.grad.item() == 0.0


def test_to_rejects_unknown_keywords():
    with pytest.raises(TypeError, match="unexpected keyword argument 'non_blockin'"):
        _net().to("cpu", non_blockin=True)


def test_apply_visits_children_before_parents():
    net = _net()
    seen = []
    net.apply(lambda m: seen.append(m))
    assert seen[-1] is net and len(seen) == len(list(net.modules()))
    for m in net.modules():
        for c in m.children():
            assert seen.index(c) < seen.index(m)


def test_dtype_conversion_keeps_integer_buffers():
    b = Block()
    assert b.double() is b
    assert b.scale.dtype == np.float64 and b.running.dtype == np.float64 and b.cache.dtype == np.float64
    assert b.steps.dtype == np.int64
    b.float()
    assert b.fc.weight.dtype == np.float32 and b.steps.dtype == np.int64
    b.to(tg.float64)
    assert b.fc.bias.dtype == np.float64
    assert b.to("cpu") is b


def test_repr_shows_the_tree():
    r = repr(_net())
    assert "(0): Linear(in_features=3, out_features=4, bias=True)" in r
    assert "(head): Linear(in_features=4, out_features=2, bias=True)" in r


def test_setattr_before_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(tg.ones(1))
    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Bad()


def test_linear_forward_and_gradcheck():
    tg.manual_seed(1)
    lin = nn.Linear(3, 2)
    x = tg.randn(4, 3)
    assert_allclose(lin(x).data, x.data @ lin.weight.data.T + lin.bias.data, rtol=1e-6)
    nb = nn.Linear(3, 2, bias=False)
    assert nb.bias is None and [n for n, _ in nb.named_parameters()] == ["weight"]
    reports = check_module(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)), tg.randn(2, 3))
    assert all(r.passed for r in reports)


# ----------------------------------------------------------------------------
# initialisation
# ----------------------------------------------------------------------------

def test_linear_default_init_bounds_and_uniformity():
    tg.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / np.sqrt(400)
    w = lin.weight.data
    assert np.abs(w).max() <= bound and np.abs(lin.bias.data).max() <= bound
    assert np.abs(w).max() > 0.99 * bound                       # fills the whole interval
    assert_allclose(w.std(), bound / np.sqrt(3), rtol=0.02)   # U(-b, b) std
    assert abs(w.mean()) < 0.01 * bound


def test_manual_seed_gives_identical_weights():
    tg.manual_seed(42)
    a = nn.Linear(5, 3).weight.data.copy()
    tg.manual_seed(42)
    b = nn.Linear(5, 3).weight.data.copy()
    assert_array_equal(a, b)
    c = nn.Linear(5, 3).weight.data
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("name,expected_std", [
    ("xavier_uniform_", np.sqrt(2.0 / (200 + 300))),
    ("xavier_normal_", np.sqrt(2.0 / (200 + 300))),
    ("kaiming_uniform_", np.sqrt(2.0) / np.sqrt(300)),
    ("kaiming_normal_", np.sqrt(2.0) / np.sqrt(300)),
])
def test_init_statistics(name, expected_std):
    tg.manual_seed(0)
    w = tg.zeros(200, 300)
    kwargs = {"nonlinearity": "relu"} if name.startswith("kaiming") else {}
    getattr(init, name)(w, **kwargs)
    assert w.dtype == np.float32
    assert_allclose(w.data.std(), expected_std, rtol=0.02)
    assert abs(w.data.mean()) < 0.05 * expected_std


def test_init_fans_and_gain():
    assert init.calculate_fan_in_and_fan_out(tg.zeros(8, 3, 5, 5)) == (75, 200)
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    with pytest.raises(ValueError, match="nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="2 dimensions"):
        init.calculate_fan_in_and_fan_out(tg.zeros(3))
    w = tg.zeros(2, 2)
    init.constant_(w, 0.5)
    assert_array_equal(w.data, 0.5)


def test_torch_state_dict_loads_and_forward_matches():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tnet = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    net.load_state_dict({k: v.detach().cpu().numpy() for k, v in tnet.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 3))
    assert_allclose(net(tg.tensor(x)).data, tnet(torch.tensor(x)).detach().cpu().numpy(), rtol=1e-12)
