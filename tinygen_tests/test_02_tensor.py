"""Tensors: creation, metadata, conversion, and the dtype rules.

dtype rules (PyTorch's): float32 by default; ops preserve dtype (float64 in,
float64 out, float64 gradients); Python scalars are *weak* (``x * 2.0`` stays
float32); integer tensors meeting floats become float; true division of
integers gives float32.
"""
import numpy as np
import pytest

import tinygen as tg
from tinygen import functional as F, ops
from tinygen_tests.conftest import assert_allclose, assert_array_equal

# ----------------------------------------------------------------------------
# creation and metadata
# ----------------------------------------------------------------------------


def test_tensor_from_python_and_numpy_dtypes():
    assert tg.tensor([1.0]).dtype == np.float32
    assert tg.tensor([1]).dtype == np.int64
    assert tg.tensor([True, False]).dtype == np.bool_
    assert tg.tensor(np.zeros(2)).dtype == np.float64          # NumPy float64 is kept
    assert tg.tensor(np.zeros(2, np.float16)).dtype == np.float16
    assert tg.tensor([1, 2], dtype=tg.float64).dtype == np.float64
    assert tg.tensor(3.5).shape == ()


def test_tensor_copies_its_data():
    a = np.zeros(3)
    t = tg.tensor(a)
    a[0] = 1.0
    assert t.data[0] == 0.0


def test_creation_functions():
    assert tg.zeros(2, 3).shape == (2, 3) and tg.zeros(2, 3).dtype == np.float32
    assert tg.ones((2,), dtype=tg.float64).dtype == np.float64
    assert_array_equal(tg.full((2,), 7.0).data, [7.0, 7.0])
    assert tg.arange(5).dtype == np.int64 and tg.arange(0.0, 1.0, 0.25).dtype == np.float32
    assert_allclose(tg.linspace(0, 1, 5).data, [0, 0.25, 0.5, 0.75, 1])
    assert_array_equal(tg.eye(2).data, np.eye(2))
    x = tg.randn(3, dtype=tg.float64)
    assert tg.zeros_like(x).dtype == np.float64 and tg.ones_like(x).shape == (3,)
    assert tg.randint(0, 5, (100,)).dtype == np.int64
    r = tg.rand(1000)
    assert 0.0 <= r.data.min() and r.data.max() < 1.0
    assert tg.ones(2, requires_grad=True).requires_grad


def test_manual_seed_makes_random_tensors_reproducible():
    tg.manual_seed(123)
    a = tg.randn(5).data.copy()
    tg.manual_seed(123)
    assert_array_equal(tg.randn(5).data, a)
    assert not np.array_equal(tg.randn(5).data, a)


def test_metadata_and_python_conversions():
    x = tg.tensor(np.arange(6.0).reshape(2, 3), device="cpu")   # np.asarray(x): the host path
    assert x.shape == (2, 3) and x.ndim == 2 and x.dim() == 2 and x.numel() == 6
    assert x.size() == (2, 3) and x.size(1) == 3 and len(x) == 2
    assert x.device == "cpu" and x.is_leaf
    assert x.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert float(x[1, 2]) == 5.0 and int(x[1, 2]) == 5 and x.sum().item() == 15.0
    assert isinstance(x.cpu().numpy(), np.ndarray)
    assert_array_equal(np.asarray(x), x.data)
    with pytest.raises(ValueError, match=r"one element.*\(2, 3\)"):
        x.item()
    with pytest.raises(TypeError, match="0-d"):
        len(tg.tensor(1.0))


def test_repr_shows_grad_state():
    assert repr(tg.tensor([1.0])).startswith("tensor(")
    assert "requires_grad=True" in repr(tg.ones(1, requires_grad=True))
    assert "grad_fn=<Mul>" in repr(tg.ones(1, requires_grad=True) * 2.0)


def test_comparisons_give_boolean_tensors_without_graph():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    m = x > 1.5
    assert m.dtype == np.bool_ and not m.requires_grad
    assert_array_equal(m.data, [False, True, True])
    assert_array_equal((x == 2.0).data, [False, True, False])
    assert_array_equal(x.argmax().data, 2)


# ----------------------------------------------------------------------------
# dtype rules
# ----------------------------------------------------------------------------

def test_python_scalars_are_weak():
    x = tg.randn(3)
    for y in (x * 2.0, 2.0 * x, x + 1, x - 1.5, 1.5 - x, x / 3, 3 / x, x ** 2.0, 2 ** x,
              2.0 ** x, tg.maximum(x, 0.0), tg.minimum(x, 0.0), tg.where(x.data > 0, x, 0.0),
              x * np.float64(2.0)):
        assert y.dtype == np.float32, y


def test_integer_tensors_and_floats():
    i = tg.tensor([1, 2, 3])
    assert (i + 1).dtype == np.int64 and (i * 2).dtype == np.int64
    assert (i / 2).dtype == np.float32 and (i / i).dtype == np.float32
    assert_allclose((i / 2).data, [0.5, 1.0, 1.5])
    assert (i * 2.5).dtype == np.float32 and (i + tg.randn(3)).dtype == np.float32
    assert (i + tg.randn(3, dtype=tg.float64)).dtype == np.float64
    assert (2 ** i).dtype == np.float32 and i.float().mean().dtype == np.float32


FLOAT64_OPS = {
    "add": lambda x: x + 0.5, "sub": lambda x: 1.0 - x, "mul": lambda x: x * 3.0,
    "div": lambda x: x / 3, "rdiv": lambda x: 2 / (x * x + 1), "neg": lambda x: -x,
    "pow": lambda x: (x * x + 1) ** 1.5, "pow_t": lambda x: (x * x + 1) ** x, "rpow": lambda x: 2 ** x,
    "exp": ops.exp, "log": lambda x: ops.log(x * x + 1), "sqrt": lambda x: ops.sqrt(x * x + 1),
    "abs": ops.abs, "max2": lambda x: ops.maximum(x, 0.1), "min2": lambda x: ops.minimum(x, 0.1),
    "clip": lambda x: ops.clip(x, -0.5, 0.5), "where": lambda x: ops.where(x.data > 0, x, 0.0),
    "tanh": ops.tanh, "sigmoid": ops.sigmoid, "relu": ops.relu, "leaky": ops.leaky_relu,
    "softplus": ops.softplus, "sum": lambda x: x.sum(1), "mean": lambda x: x.mean(0),
    "var": lambda x: x.var(1), "max": lambda x: x.max(1).values, "min": lambda x: x.min(),
    "logsumexp": lambda x: x.logsumexp(1), "matmul": lambda x: x @ x.T, "reshape": lambda x: x.reshape(6),
    "flatten": lambda x: x.flatten(), "permute": lambda x: x.permute(1, 0),
    "transpose": lambda x: x.transpose(0, 1), "squeeze": lambda x: x[None].squeeze(0),
    "unsqueeze": lambda x: x.unsqueeze(1), "broadcast": lambda x: x.broadcast_to((4, 2, 3)),
    "sum_to": lambda x: ops.sum_to(x, (1, 3)), "concat": lambda x: ops.concat([x, x], 1),
    "stack": lambda x: ops.stack([x, x]), "split": lambda x: x.split(1, 1)[1],
    "chunk": lambda x: x.chunk(2, 0)[0], "pad": lambda x: ops.pad(x, [(1, 0), (0, 2)]),
    "getitem": lambda x: x[::-1, [0, 0]], "mask": lambda x: x[x.data > 0], "flip": lambda x: x.flip(1),
    "softmax": lambda x: F.softmax(x), "log_softmax": lambda x: F.log_softmax(x, 0),
    "elu": F.elu, "norm": lambda x: x.norm(dim=1),
}


@pytest.mark.parametrize("name", sorted(FLOAT64_OPS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_op_preserves_dtype_in_output_and_gradient(name, dtype):
    x = tg.Tensor(np.array([[0.3, -1.2, 2.0], [0.7, 1.1, -0.4]], dtype=dtype), requires_grad=True)
    y = FLOAT64_OPS[name](x)
    assert y.dtype == dtype, f"{name}: output {y.dtype}"
    y.backward(tg.Tensor(np.ones(y.shape, dtype=dtype)))
    assert x.grad.dtype == dtype, f"{name}: gradient {x.grad.dtype}"


def test_to_float_double_long():
    x = tg.tensor([1.5, -2.5], device="cpu")
    assert x.double().dtype == np.float64 and x.double().double().dtype == np.float64
    assert x.to(tg.float64).dtype == np.float64 and x.to(dtype=tg.float16).dtype == np.float16
    assert x.double().float().dtype == np.float32
    assert x.long().dtype == np.int64 and x.long().tolist() == [1, -2]
    assert x.to("cpu") is x and x.to(tg.float32) is x and x.cpu() is x
    d = tg.tensor([1.5], requires_grad=True)
    (d.double() * 2.0).sum().backward()
    assert d.grad.dtype == np.float32 and d.grad.item() == 2.0
    with pytest.raises(TypeError, match="unexpected"):
        x.to(bad=1)
