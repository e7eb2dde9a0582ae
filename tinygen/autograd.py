"""Tensors, Functions and reverse-mode automatic differentiation.

How a graph is recorded
-----------------------
A :class:`Tensor` wraps a backend array (``tensor.data``). Calling a
:class:`Function` on tensors runs ``Function.forward`` on their *arrays* and
wraps the results in new tensors. When gradients are enabled and any input
requires a gradient, the function remembers its inputs (``self.inputs``) and
what its backward will need (``save_for_backward``), and each output
remembers the function that created it (``output.grad_fn``): this is the
graph, a DAG of functions pointing back towards the leaves. Nothing points
forwards, so the graph lives exactly as long as some output is referenced.

How backward works
------------------
``backward`` sorts the functions reachable from the outputs so that every
function comes after all functions that consume its outputs (an iterative
depth-first search, so a chain of 100,000 ops is fine), then walks them once:
gather the gradients of a function's outputs, call ``Function.backward``,
add the results into the gradients of its inputs (summed down to each
input's shape where it was broadcast: the one place that happens). Then it
frees the graph's saved tensors unless ``retain_graph=True``.

Double backward
---------------
``Function.backward`` is written with *Tensor operations*, not array code.
With ``create_graph=False`` it runs under :class:`no_grad`, so nothing is
recorded; with ``create_graph=True`` it runs with recording on, so the
gradients are themselves tensors with a graph, and differentiating them again
(the WGAN-GP penalty, the contractive autoencoder) is just another backward.
The rule that keeps this exact: a backward may use arrays computed in forward
only when they are *constants* of the input (a ReLU mask, an argmax
position). Anything that varies smoothly with an input is recomputed from
the saved tensors (inputs, or outputs, which carry their own graph).
"""
from __future__ import annotations

from collections import namedtuple
from typing import Optional

from tinygen import backend

__all__ = [
    "Tensor", "Function", "no_grad", "enable_grad", "set_grad_enabled", "inference_mode",
    "is_grad_enabled", "grad", "as_tensor", "device", "Variable",
]


# --------------------------------------------------------------------------
# gradient mode
# --------------------------------------------------------------------------

_GRAD_ENABLED = True


def is_grad_enabled() -> bool:
    return _GRAD_ENABLED


class set_grad_enabled:
    """Context manager (and decorator) switching graph recording on or off."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self.prev = None

    def __enter__(self):
        global _GRAD_ENABLED
        self.prev = _GRAD_ENABLED
        _GRAD_ENABLED = self.mode
        return self

    def __exit__(self, *exc):
        global _GRAD_ENABLED
        _GRAD_ENABLED = self.prev
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(self.mode):
                return fn(*args, **kwargs)
        return wrapper


class no_grad(set_grad_enabled):
    """``with no_grad():`` runs ops without recording a graph (evaluation, updates)."""

    def __init__(self):
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """``with enable_grad():`` records a graph even inside ``no_grad``."""

    def __init__(self):
        super().__init__(True)


class inference_mode(set_grad_enabled):
    """PyTorch's ``torch.inference_mode()``: here simply :class:`no_grad` (context or decorator).

    PyTorch's version also skips version counting for speed; tinygen has nothing to skip.
    """

    def __init__(self, mode: bool = True):
        super().__init__(not mode)


# --------------------------------------------------------------------------
# devices as PyTorch spells them
# --------------------------------------------------------------------------

class device(str):
    """PyTorch's ``torch.device``, which is also the plain device name (a ``str``).

    ``device("cpu")``, ``device("cuda")``, ``device("cuda", 1)``, ``device("cuda:1")``; ``.type``
    is ``"cpu"``/``"cuda"`` and ``.index`` the GPU number or None, as in PyTorch. Because it *is*
    a str, every tinygen function that takes a device name takes it, and ``x.device == "cpu"``
    stays true. Naming a device never touches it: ``device("cuda")`` works without a GPU.
    """

    def __new__(cls, type_or_name, index: Optional[int] = None):
        if isinstance(type_or_name, device) and index is None:
            return type_or_name
        name = str(type_or_name).strip().lower()
        if index is not None:
            name = f"{name}:{int(index)}"
        kind, colon, number = name.partition(":")
        if kind not in ("cpu", "cuda") or (colon and not number.isdigit()):
            raise backend.DeviceError(f"unknown device {name!r}: use 'cpu', 'cuda' or 'cuda:N'")
        return super().__new__(cls, name)

    @property
    def type(self) -> str:
        return self.partition(":")[0]

    @property
    def index(self) -> Optional[int]:
        number = self.partition(":")[2]
        return int(number) if number else None

    def __repr__(self):
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"


_DEVICES = {}      # name -> device, so that Tensor.device makes no new object per call


def _device(name: str) -> device:
    d = _DEVICES.get(name)
    if d is None:
        d = _DEVICES[name] = device(name)
    return d


# The (values, indices) pairs of max(dim), min(dim), sort and topk: torch.return_types.*
max_result = namedtuple("max", ["values", "indices"])
min_result = namedtuple("min", ["values", "indices"])
sort_result = namedtuple("sort", ["values", "indices"])
topk_result = namedtuple("topk", ["values", "indices"])


# --------------------------------------------------------------------------
# tensor.data: the array, speaking PyTorch's .data idioms too
# --------------------------------------------------------------------------

_ndarray = backend.numpy.ndarray


def _plain(x):
    """x with every DataArray in it (nested in tuples/lists) viewed as a plain ndarray."""
    if type(x) is DataArray:
        return x.view(_ndarray)
    if isinstance(x, (tuple, list)):
        return type(x)(_plain(v) for v in x)
    return x


class _Count(int):
    """NumPy's ``a.size`` (the element count) that also answers PyTorch's ``x.size(dim)``."""

    def __new__(cls, shape):
        count = 1
        for n in shape:
            count *= n
        self = int.__new__(cls, count)
        self.shape = shape
        return self

    def __call__(self, dim: Optional[int] = None):
        return self.shape if dim is None else self.shape[dim]


class DataArray(_ndarray):
    """What ``tensor.data`` gives for a host tensor: its NumPy array, which also speaks PyTorch.

    tinygen's ``x.data`` is the array itself, because that is what a learner should see inside
    a tensor (PyTorch's is a tensor sharing the memory). So that PyTorch scripts' idioms on
    ``.data`` keep working -- ``p.data.clamp_(-c, c)`` (WGAN's clipping), ``m.weight.data.normal_
    (0, 0.02)``, ``real.data.size(0)``, ``out.data.max(1)[1]``, ``x.data.cpu().numpy()`` -- the
    array comes as a view of this subclass, sharing the memory:

    * NumPy operations behave exactly as on a plain array and return plain arrays;
    * a name NumPy lacks is looked up on a tensor sharing the memory (so ``fill_``, ``add_``,
      ``copy_`` write into it, without a version bump: PyTorch's ``.data`` does not bump either);
    * names both have with different meanings follow PyTorch when called PyTorch's way:
      ``size`` is the element count and ``size(dim)`` the extent; ``view(*shape)`` reshapes
      (``view(dtype)`` stays NumPy's); ``max``/``min``/``sum``/``mean``/... with a ``dim`` or
      ``keepdim`` answer as Tensor methods (``max(1)`` is ``(values, indices)``, not NumPy's
      values; ``std``/``var`` stay NumPy's biased ones unless given ``unbiased``/``dim``);
      ``sort``, ``repeat``, ``flatten(start)``, ``transpose(d0, d1)`` are PyTorch's.

    The engine never sees it: ops work on the plain array (``Tensor._data``). Only host
    arrays get it; a GPU array is handed out as it is.
    """

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if "out" in kwargs:
            kwargs["out"] = _plain(kwargs["out"])
        return getattr(ufunc, method)(*_plain(inputs), **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return func(*_plain(args), **{k: _plain(v) for k, v in kwargs.items()})

    def _tensor(self) -> "Tensor":
        return Tensor(self.view(_ndarray))

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(f"'numpy.ndarray' object has no attribute '{name}'")
        return getattr(self._tensor(), name)

    def __repr__(self):
        return repr(self.view(_ndarray))

    @property
    def size(self):
        return _Count(self.shape)

    def view(self, *args, **kwargs):
        if args and (all(isinstance(a, int) for a in args) or isinstance(args[0], tuple)):
            return self._tensor().view(*args)
        return _ndarray.view(self, *args, **kwargs)

    def flatten(self, *args, **kwargs):
        if args and isinstance(args[0], int) or "start_dim" in kwargs:
            return self._tensor().flatten(*args, **kwargs)
        return _ndarray.flatten(self.view(_ndarray), *args, **kwargs)

    def transpose(self, *axes):
        if len(axes) == 2 and self.ndim != 2:
            return self._tensor().transpose(*axes)
        return _ndarray.transpose(self, *axes)


_TORCH_KEYWORDS = {"dim", "keepdim", "unbiased", "correction"}


def _numpy_or_torch(name):
    """NumPy's method, or the Tensor's when called with PyTorch's keywords (``dim``,
    ``keepdim``, ``unbiased``, ``correction``), and ``max``/``min`` with any argument (NumPy's
    ``max(1)`` would be the values alone)."""
    numpy_method = getattr(_ndarray, name)

    def method(self, *args, **kwargs):
        if _TORCH_KEYWORDS.intersection(kwargs) or (name in ("max", "min") and args):
            return getattr(self._tensor(), name)(*args, **kwargs)
        return numpy_method(self.view(_ndarray), *args, **kwargs)
    method.__name__ = name
    return method


def _torch_method(name):
    """The Tensor's method: NumPy's of that name means something else (``sort`` sorts in
    place, ``repeat`` repeats elements)."""
    def method(self, *args, **kwargs):
        return getattr(self._tensor(), name)(*args, **kwargs)
    method.__name__ = name
    return method


for _name in ("max", "min", "sum", "mean", "prod", "all", "any", "argmax", "argmin", "cumsum",
              "squeeze", "std", "var"):
    setattr(DataArray, _name, _numpy_or_torch(_name))
for _name in ("sort", "repeat"):
    setattr(DataArray, _name, _torch_method(_name))
del _name


# --------------------------------------------------------------------------
# Tensor
# --------------------------------------------------------------------------

class Tensor:
    """An n-dimensional array on a device, with an optional gradient.

    Attributes:
        data: the backend array (``numpy.ndarray`` or ``cupy.ndarray``).
        requires_grad: whether gradients flow to this tensor.
        grad: the accumulated gradient (a Tensor) of a leaf after ``backward``.
        grad_fn: the :class:`Function` that produced this tensor (``None`` for leaves).
    """

    # Make ``numpy_scalar * tensor`` call Tensor.__rmul__ instead of numpy's.
    __array_priority__ = 1000

    # How many in-place changes this tensor has seen (PyTorch's version counter). A Function
    # notes the version of each input it saves; using it in backward after a change is an
    # error instead of a silently wrong gradient. A class attribute: no cost per tensor.
    _version = 0

    def __init__(self, data, requires_grad: bool = False, *more_sizes):
        if data.__class__ in (int, float, list, tuple):
            # PyTorch's legacy constructor: Tensor(2, 3) (float32 zeros; PyTorch leaves them
            # uninitialised) or Tensor([1, 2]) (float32 data). Arrays are wrapped as they are.
            data = _legacy_tensor_data(data, requires_grad, more_sizes)
            requires_grad = False
        self._data = data.view(_ndarray) if type(data) is DataArray else data
        self.requires_grad = bool(requires_grad)
        self.grad: Optional[Tensor] = None
        self.grad_fn: Optional[Function] = None
        self._output_index = 0

    # ----- the array ------------------------------------------------------
    @property
    def data(self):
        """The backend array; on the host a :class:`DataArray` view (PyTorch's idioms work on it).

        tinygen's own code reads ``_data``, the plain array: the engine never pays for the view."""
        d = self._data
        return d.view(DataArray) if type(d) is _ndarray else d

    @data.setter
    def data(self, value):
        self._data = value.view(_ndarray) if type(value) is DataArray else value

    # ----- metadata -------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def device(self) -> device:
        return _device(backend.device_of(self._data))

    @property
    def is_cuda(self) -> bool:
        return self.device != "cpu"

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def size(self, dim: Optional[int] = None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        return int(self._data.size)

    def dim(self) -> int:
        return self.ndim

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        body = repr(backend.to_host(self._data)).replace("array(", "tensor(", 1)
        extras = []
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{type(self.grad_fn).__name__}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if extras:
            body = body[:-1] + ", " + ", ".join(extras) + ")"
        return body

    # ----- conversion -----------------------------------------------------
    def numpy(self):
        """The data as a NumPy array (a CPU tensor's own memory, as in PyTorch).

        A tensor on a GPU raises PyTorch's TypeError: copying to the host is a
        transfer (and a synchronisation) that the caller asks for with
        ``.cpu().numpy()``, never one that happens silently.
        """
        if self.device != "cpu":
            raise TypeError(f"can't convert {self.device} device type tensor to numpy. "
                            "Use Tensor.cpu() to copy the tensor to host memory first.")
        return backend.to_host(self._data)

    def item(self):
        if self._data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self._data.reshape(()).item()

    def tolist(self):
        return backend.to_host(self._data).tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        return bool(self.item())

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()           # numpy.asarray(gpu_tensor) raises as .numpy() does (PyTorch)
        return a.astype(dtype) if dtype is not None else a

    def detach(self) -> "Tensor":
        """A new leaf sharing this tensor's data, cut from the graph."""
        return Tensor(self._data, requires_grad=False)

    def type(self, dtype=None):
        """``x.type()``: the legacy type name ('torch.FloatTensor'); ``x.type(T)``: ``x`` as T.

        T may be a dtype, a legacy class (``FloatTensor``, ``cuda.LongTensor``) or its name.
        """
        from tinygen.creation import LegacyTensorType, legacy_tensor_type   # creation imports us
        if dtype is None:
            return legacy_tensor_type(self.dtype, self.device).__name__
        if isinstance(dtype, (str, LegacyTensorType)):
            kind = legacy_tensor_type(dtype)
            return self.to(kind.legacy_device, kind.dtype)
        return self.to(dtype)

    def type_as(self, other: "Tensor") -> "Tensor":
        return self.to(other.device, other.dtype)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and not is_floating_dtype(self._data.dtype):
            raise TypeError(f"only floating-point tensors can require gradients, got {self.dtype}")
        self.requires_grad = requires_grad
        return self

    def clone(self) -> "Tensor":
        return ops.clone(self)

    def to(self, *args, **kwargs) -> "Tensor":
        """``to(device)``, ``to(dtype)`` or ``to(device, dtype)``: a new tensor (differentiable)."""
        device = kwargs.pop("device", None)
        dtype = kwargs.pop("dtype", None)
        if kwargs:
            raise TypeError(f"to() got unexpected arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, str):
                device = a
            else:
                dtype = a
        out = self
        if dtype is not None and backend.numpy.dtype(dtype) != self.dtype:
            out = ops.cast(out, dtype)
        if device is not None and backend.normalize_device(device) != self.device:
            out = ops.to_device(out, device)
        return out

    def float(self) -> "Tensor":
        return self.to(backend.numpy.float32)

    def double(self) -> "Tensor":
        return self.to(backend.numpy.float64)

    def long(self) -> "Tensor":
        return self.to(backend.numpy.int64)

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self, device=None, non_blocking: bool = False) -> "Tensor":
        return self.to(f"cuda:{device}" if isinstance(device, int) else (device or "cuda:0"))

    def contiguous(self) -> "Tensor":
        """Every tinygen op accepts any memory layout, so this is the tensor itself."""
        return self

    # ----- new tensors like this one (PyTorch's new_* methods) ---------------------
    def _new(self, fill, size, dtype, device, requires_grad):
        shape = _shape_args(size)
        array = backend.array_module_for(device or self.device).full(
            shape, fill, dtype=backend.numpy.dtype(dtype or self.dtype))
        t = Tensor(array)
        return t.requires_grad_(True) if requires_grad else t

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False) -> "Tensor":
        return self._new(0, size, dtype, device, requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False) -> "Tensor":
        return self._new(1, size, dtype, device, requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False) -> "Tensor":
        return self._new(fill_value, (size,), dtype, device, requires_grad)

    new_empty = new_zeros

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False) -> "Tensor":
        from tinygen.creation import tensor
        return tensor(data, dtype=dtype or self.dtype, device=device or self.device,
                      requires_grad=requires_grad)

    # ----- in-place changes (PyTorch's trailing underscore) ------------------------
    # Each writes into this tensor's own memory, so every alias (a detach(), a state_dict
    # entry, the array from_numpy shared) sees it, and bumps the version counter. They are
    # for tensors outside any graph: leaves (labels, buffers), and parameters under no_grad.
    def _check_inplace(self, name: str) -> None:
        if _GRAD_ENABLED and self.requires_grad:
            if self.grad_fn is None:
                raise RuntimeError(
                    f"{name}: a leaf tensor that requires grad (shape {self.shape}) is being used "
                    "in an in-place operation. Do it under `with tinygen.no_grad():` (as "
                    "optimizers and nn.init do), or on `.data`")
            raise RuntimeError(
                f"{name}: in-place operations on a result of the graph (shape {self.shape}, "
                f"made by {type(self.grad_fn).__name__}) are not recorded by tinygen: write it "
                "out of place, e.g. `x = x + 1` instead of `x.add_(1)`")

    def _write(self, name: str, values, index=Ellipsis) -> "Tensor":
        """``self[index] = values`` in place (values: array, number or Tensor; broadcast)."""
        self._check_inplace(name)
        if isinstance(values, Tensor):
            values = values._data
        xp = backend.get_array_module(self._data)
        if isinstance(self._data, xp.ndarray):
            self._data[index] = values
        else:                                   # a NumPy scalar (0-d result) is immutable
            new = xp.array(self._data)
            new[index] = values
            self._data = new
        self._version += 1
        return self

    def __setitem__(self, index, value):
        """``x[idx] = v`` (in place, as ``_write``); index tensors are read as arrays."""
        if isinstance(index, Tensor):
            index = index._data
        elif isinstance(index, tuple):
            index = tuple(i._data if isinstance(i, Tensor) else i for i in index)
        self._write("__setitem__", value, index)

    def fill_(self, value) -> "Tensor":
        return self._write("fill_", value)

    def zero_(self) -> "Tensor":
        return self._write("zero_", 0)

    def copy_(self, src, non_blocking: bool = False) -> "Tensor":
        """Copy ``src`` (a Tensor or array, broadcast to this shape) into this tensor, cast to
        its dtype; a source on another device is moved (PyTorch's copy_ does that too)."""
        data = src._data if isinstance(src, Tensor) else src
        return self._write("copy_", backend.to_device(data, self.device))

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator=None) -> "Tensor":
        """Fill with N(mean, std^2) samples from the seeded host generator (tinygen.manual_seed)."""
        rng = generator if generator is not None else backend.host_rng()
        host = rng.normal(mean, std, self.shape).astype(self.dtype)
        return self._write("normal_", backend.to_device(host, self.device))

    def uniform_(self, a: float = 0.0, b: float = 1.0, generator=None) -> "Tensor":
        rng = generator if generator is not None else backend.host_rng()
        host = rng.uniform(a, b, self.shape).astype(self.dtype)
        return self._write("uniform_", backend.to_device(host, self.device))

    def _apply_(self, name, fn, *args) -> "Tensor":
        """Compute ``fn(self, *args)`` out of place without a graph, then write it back."""
        self._check_inplace(name)
        with no_grad():
            result = fn(self, *args)
        return self._write(name, result._data)

    def add_(self, other, alpha=1) -> "Tensor":
        return self._apply_("add_", lambda x, y: x + (y if alpha == 1 else y * alpha), other)

    def sub_(self, other, alpha=1) -> "Tensor":
        return self._apply_("sub_", lambda x, y: x - (y if alpha == 1 else y * alpha), other)

    def mul_(self, other) -> "Tensor":
        return self._apply_("mul_", ops.mul, other)

    def div_(self, other) -> "Tensor":
        return self._apply_("div_", ops.div, other)

    def clamp_(self, min=None, max=None) -> "Tensor":
        return self._apply_("clamp_", lambda x: ops.clip(x, min, max))

    clip_ = clamp_

    def masked_fill_(self, mask, value) -> "Tensor":
        return self._apply_("masked_fill_", lambda x: x.masked_fill(mask, value))

    # ----- autograd -------------------------------------------------------
    def backward(self, gradient=None, retain_graph: Optional[bool] = None,
                 create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        ``gradient`` is the upstream gradient (same shape as ``self``); it may
        be omitted only for a single-element tensor, where it is 1.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad: "
                               "no input of the computation had requires_grad=True")
        _run_backward([self], [gradient], retain_graph, create_graph, inputs=None,
                      accumulate=True)

    # ----- arithmetic operators (each calls one op from tinygen.ops) --------
    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.sub(self, other)

    def __rsub__(self, other):
        return ops.sub(other, self)

    def __mul__(self, other):
        return ops.mul(self, other)

    def __rmul__(self, other):
        return ops.mul(other, self)

    def __truediv__(self, other):
        return ops.div(self, other)

    def __rtruediv__(self, other):
        return ops.div(other, self)

    def __neg__(self):
        return ops.neg(self)

    def __pos__(self):
        return self

    def __pow__(self, exponent):
        return ops.pow(self, exponent)

    def __rpow__(self, base):
        return ops.pow(base, self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __abs__(self):
        return ops.abs(self)

    def __getitem__(self, index):
        return ops.getitem(self, index)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # ----- comparisons: boolean results, never differentiable --------------
    def _compare(self, other, name):
        other_data = other._data if isinstance(other, Tensor) else other
        return Tensor(getattr(self._data, name)(other_data))

    def __eq__(self, other):
        return self._compare(other, "__eq__")

    def __ne__(self, other):
        return self._compare(other, "__ne__")

    def __lt__(self, other):
        return self._compare(other, "__lt__")

    def __le__(self, other):
        return self._compare(other, "__le__")

    def __gt__(self, other):
        return self._compare(other, "__gt__")

    def __ge__(self, other):
        return self._compare(other, "__ge__")

    __hash__ = object.__hash__

    # ----- method forms of common ops ---------------------------------------
    def exp(self):
        return ops.exp(self)

    def log(self):
        return ops.log(self)

    def sqrt(self):
        return ops.sqrt(self)

    def abs(self):
        return ops.abs(self)

    def tanh(self):
        return ops.tanh(self)

    def sigmoid(self):
        return ops.sigmoid(self)

    def relu(self):
        return ops.relu(self)

    def pow(self, exponent):
        return ops.pow(self, exponent)

    def clamp(self, min=None, max=None):
        return ops.clip(self, min, max)

    clip = clamp

    def sum(self, dim=None, keepdim=False, dtype=None):
        x = self if dtype is None else self.to(dtype)       # PyTorch casts before summing
        return ops.sum(x, dim, keepdim)

    def mean(self, dim=None, keepdim=False, dtype=None):
        x = self if dtype is None else self.to(dtype)
        return ops.mean(x, dim, keepdim)

    def var(self, dim=None, keepdim=False, correction=1, unbiased=None):
        if unbiased is not None:
            correction = int(unbiased)
        return ops.var(self, dim, keepdim, correction)

    def std(self, dim=None, keepdim=False, correction=1, unbiased=None):
        return self.var(dim, keepdim, correction, unbiased).sqrt()

    def max(self, dim=None, keepdim=False):
        """PyTorch's three forms: ``x.max()`` the largest value; ``x.max(dim)`` the pair
        ``(values, indices)`` along ``dim``; ``x.max(other_tensor)`` the elementwise maximum."""
        if isinstance(dim, Tensor):
            return ops.maximum(self, dim)
        if dim is None or isinstance(dim, (tuple, list)):
            return ops.max(self, dim, keepdim)
        return max_result(ops.max(self, dim, keepdim),
                          Tensor(_argreduce(self._data, "argmax", dim, keepdim)))

    def min(self, dim=None, keepdim=False):
        """As :meth:`max`: ``x.min()``, ``(values, indices) = x.min(dim)``, ``x.min(other)``."""
        if isinstance(dim, Tensor):
            return ops.minimum(self, dim)
        if dim is None or isinstance(dim, (tuple, list)):
            return ops.min(self, dim, keepdim)
        return min_result(ops.min(self, dim, keepdim),
                          Tensor(_argreduce(self._data, "argmin", dim, keepdim)))

    def amax(self, dim=None, keepdim=False):
        """The largest values over ``dim`` (an int or a tuple), values only."""
        return ops.max(self, dim, keepdim)

    def amin(self, dim=None, keepdim=False):
        return ops.min(self, dim, keepdim)

    def gather(self, dim: int, index) -> "Tensor":
        """``out[i][j] = x[i][index[i][j]]`` for dim=1 (PyTorch's gather), differentiable.

        Built on advanced indexing: ``index`` picks along dimension ``dim`` and a broadcast
        ``arange`` along every other one, so the gradient is getitem's scatter-add.
        """
        idx = index._data if isinstance(index, Tensor) else index
        xp = backend.get_array_module(self._data)
        dim = dim % self.ndim
        grids = [xp.arange(n).reshape((-1,) + (1,) * (idx.ndim - 1 - d))
                 for d, n in enumerate(idx.shape)]
        grids[dim] = xp.asarray(idx)
        return ops.getitem(self, tuple(grids))

    def sort(self, dim: int = -1, descending: bool = False):
        """``(values, indices)`` sorted along ``dim`` (stable); values are differentiable."""
        order = backend.get_array_module(self._data).argsort(
            -self._data if descending else self._data, axis=dim, kind="stable")
        return sort_result(self.gather(dim, order), Tensor(order))

    def argsort(self, dim: int = -1, descending: bool = False) -> "Tensor":
        return self.sort(dim, descending).indices

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
        """The ``k`` largest (or smallest) entries along ``dim``: ``(values, indices)``."""
        values, indices = self.sort(dim, descending=largest)
        first_k = _along(dim, self.ndim, slice(0, k))
        return topk_result(ops.getitem(values, first_k), Tensor(indices._data[first_k]))

    def logsumexp(self, dim=None, keepdim=False):
        return ops.logsumexp(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        return Tensor(_argreduce(self._data, "argmax", dim, keepdim))

    def argmin(self, dim=None, keepdim=False):
        return Tensor(_argreduce(self._data, "argmin", dim, keepdim))

    def norm(self, p=2, dim=None, keepdim=False):
        if p != 2:
            return (self.abs() ** p).sum(dim, keepdim) ** (1.0 / p)
        return (self * self).sum(dim, keepdim).sqrt()

    def matmul(self, other):
        return ops.matmul(self, other)

    def reshape(self, *shape):
        return ops.reshape(self, _shape_args(shape))

    view = reshape

    def view_as(self, other: "Tensor") -> "Tensor":
        return ops.reshape(self, other.shape)

    reshape_as = view_as

    def t(self) -> "Tensor":
        """The transpose of a matrix (a 0-d or 1-d tensor is returned as it is)."""
        if self.ndim > 2:
            raise ValueError(f"t() expects a tensor with <= 2 dimensions, got shape {self.shape}; "
                             "use transpose(dim0, dim1)")
        return ops.transpose(self, 0, 1) if self.ndim == 2 else self

    def repeat(self, *sizes) -> "Tensor":
        """Tile the tensor ``sizes[i]`` times along dimension i (PyTorch's repeat, numpy's tile).

        Shapes: x (d_1, ..., d_n), sizes (r_1, ..., r_m), m >= n -> (r_1 d'_1, ..., r_m d'_m)
        with x first viewed as (1, ..., 1, d_1, ..., d_n). Built as broadcast + reshape, so
        the gradient is the sum over the copies.
        """
        sizes = _shape_args(sizes)
        if len(sizes) < self.ndim:
            raise ValueError(f"repeat: {len(sizes)} sizes for a {self.ndim}-d tensor "
                             f"(shape {self.shape}); give at least one per dimension")
        shape = (1,) * (len(sizes) - self.ndim) + self.shape
        x = ops.reshape(self, tuple(v for d in shape for v in (1, d)))          # (1, d_1, 1, d_2...)
        tiled = ops.broadcast_to(x, tuple(v for r, d in zip(sizes, shape) for v in (r, d)))
        return ops.reshape(tiled, tuple(r * d for r, d in zip(sizes, shape)))

    def expand_as(self, other: "Tensor") -> "Tensor":
        return ops.broadcast_to(self, other.shape)

    def masked_fill(self, mask, value) -> "Tensor":
        """``value`` where ``mask`` is true, x elsewhere (mask broadcasts against x)."""
        cond = mask._data if isinstance(mask, Tensor) else mask
        fill = ops.broadcast_to(as_tensor(value, self), self.shape)
        return ops.where(backend.get_array_module(self._data).broadcast_to(cond, self.shape),
                         fill, self)

    # comparisons in method form (PyTorch's eq, ne, lt, ...): boolean tensors
    def eq(self, other):
        return self == other

    def ne(self, other):
        return self != other

    def lt(self, other):
        return self < other

    def le(self, other):
        return self <= other

    def gt(self, other):
        return self > other

    def ge(self, other):
        return self >= other

    def flatten(self, start_dim=0, end_dim=-1):
        return ops.flatten(self, start_dim, end_dim)

    def permute(self, *dims):
        return ops.permute(self, _shape_args(dims))

    def transpose(self, dim0, dim1):
        return ops.transpose(self, dim0, dim1)

    @property
    def T(self):
        return ops.permute(self, tuple(reversed(range(self.ndim))))

    def squeeze(self, dim=None):
        return ops.squeeze(self, dim)

    def unsqueeze(self, dim):
        return ops.unsqueeze(self, dim)

    def expand(self, *shape):
        shape = _shape_args(shape)
        offset = len(shape) - self.ndim
        shape = tuple(self.shape[i - offset] if s == -1 else s for i, s in enumerate(shape))
        return ops.broadcast_to(self, shape)

    def broadcast_to(self, shape):
        return ops.broadcast_to(self, tuple(shape))

    def flip(self, dims):
        return ops.flip(self, dims)

    def split(self, split_size_or_sections, dim=0):
        return ops.split(self, split_size_or_sections, dim)

    def chunk(self, chunks, dim=0):
        return ops.chunk(self, chunks, dim)


def _along(dim, ndim, index):
    """An index tuple that applies ``index`` to dimension ``dim`` and keeps the others whole."""
    return (slice(None),) * (dim % ndim) + (index,)


def _legacy_tensor_data(data, second, more_sizes):
    """The float32 array of PyTorch's ``Tensor(2, 3)`` / ``Tensor([1, 2])`` legacy calls."""
    np = backend.numpy
    if data.__class__ in (list, tuple, float):
        return np.array(data, dtype=np.float32)
    sizes = (data,) + ((second,) if second is not False else ()) + tuple(more_sizes)
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in sizes):
        raise TypeError(f"Tensor(*sizes) takes integer sizes, got {sizes}")
    return np.zeros(sizes, dtype=np.float32)


def Variable(data, requires_grad: bool = False, volatile: bool = False):
    """PyTorch's ``torch.autograd.Variable``: since PyTorch 0.4 simply the tensor itself.

    ``Variable(x)`` returns ``x``; ``Variable(x, requires_grad=True)`` also marks it
    (``x.requires_grad_()``). Arrays and lists become tensors first.
    """
    if not isinstance(data, Tensor):
        from tinygen.creation import tensor
        data = tensor(data)
    return data.requires_grad_(True) if requires_grad else data


def _shape_args(args):
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _argreduce(data, name, dim, keepdim):
    out = getattr(data, name)(axis=dim)
    if keepdim and dim is not None:
        out = backend.get_array_module(data).expand_dims(out, dim)
    return out


def is_floating_dtype(dtype) -> bool:
    """True for float16/32/64 dtypes (what gradients need); the one such check in tinygen."""
    # dtype.kind == "f" is numpy.issubdtype(dtype, numpy.floating), about 20x cheaper
    # (this runs on every binary op; benchmarks/engine_overhead.py)
    return backend.numpy.dtype(dtype).kind == "f"


def reset_grad(t: Tensor, set_to_none: bool = True) -> None:
    """What ``Module.zero_grad`` and ``Optimizer.zero_grad`` do to each parameter (PyTorch's).

    ``set_to_none=True`` (the default): ``t.grad = None``, so the next backward
    allocates a fresh gradient and an optimizer skips ``t`` until then.
    ``False``: keep the gradient tensor and fill it with zeros in place, cut
    from any graph a ``create_graph=True`` backward gave it.
    """
    g = t.grad
    if g is None or set_to_none:
        t.grad = None
        return
    if g.grad_fn is not None or g.requires_grad:
        g = t.grad = g.detach()                   # same array, no graph
    xp = backend.get_array_module(g._data)
    with backend.device_scope(g._data):
        if isinstance(g._data, xp.ndarray):
            g._data[...] = 0
        else:                                     # a NumPy scalar (0-d results) is immutable
            g._data = xp.zeros_like(g._data)


def as_tensor(value, like: Optional[Tensor] = None) -> Tensor:
    """Wrap ``value`` as a Tensor. Python scalars are *weak*: they take ``like``'s dtype.

    ``x * 2.0`` therefore stays float32 for a float32 ``x`` (as in PyTorch).
    Arrays keep their dtype; they must already be on ``like``'s device.
    """
    if isinstance(value, Tensor):
        return value
    if like is not None and type(like._data) is _ndarray and (
            type(value) is int or type(value) is float and like._data.dtype.kind == "f"):
        return _result(_ndarray_of(value, like._data.dtype), False)   # the hot path: x * 0.5
    if isinstance(value, (bool, int, float)) and like is not None:
        dtype = like.dtype
        if isinstance(value, float) and not is_floating_dtype(dtype):
            dtype = backend.default_float_dtype()
        xp = backend.get_array_module(like._data)
        with backend.device_scope(like._data):     # on like's GPU, not CuPy's current one
            return Tensor(xp.asarray(value, dtype=dtype))
    xp = backend.get_array_module(value)
    if isinstance(value, (bool, int, float)):
        dtype = backend.default_float_dtype() if isinstance(value, float) else None
        return Tensor(xp.asarray(value, dtype=dtype))
    return Tensor(xp.asarray(value))


# --------------------------------------------------------------------------
# Function
# --------------------------------------------------------------------------

class Function:
    """A differentiable primitive.

    Subclasses implement

    * ``forward(*arrays) -> array | tuple[array, ...]`` on raw backend arrays, and
    * ``backward(*grad_outputs: Tensor) -> Tensor | None | tuple`` with Tensor ops,
      one result per input (``None`` where an input gets no gradient).

    What backward needs is said explicitly, as in PyTorch: ``forward`` calls
    ``self.save_for_backward(...)`` with some of its own argument arrays
    and/or the arrays it returns, and ``backward`` reads them back from
    ``self.saved_tensors`` as the corresponding *tensors* (an input tensor,
    or an output tensor attached to this function), so using them keeps
    double backward exact. Saving any other array is an error: an array
    computed in forward that depends on an input would be a constant to the
    next derivative. Constants of the input (a mask, argmax positions) and
    metadata (an input's shape) are kept as plain attributes instead.

    The engine keeps the saved tensors, and ``self.inputs`` (every input
    tensor: the graph's edges, which it walks back along), until backward
    frees the graph; after that, ``saved_tensors`` raises. A backward that
    reads ``self.inputs`` still works, but the saved tensors are what says
    which of them it needs.
    """

    inputs: Optional[tuple] = None      # the input tensors: the graph's edges, set when recorded
    _saved = None                       # what save_for_backward kept; None before/after use
    _versions = ()                      # the saved inputs' version counters at save time

    def __call__(self, *inputs):
        tensors = inputs
        for x in inputs:
            if not isinstance(x, Tensor):          # a Python scalar or an array: wrap them all
                tensors = _as_tensors(inputs)
                break
        arrays = [t._data for t in tensors]
        on_host = True
        for a in arrays:
            if type(a) is not _ndarray:            # a GPU array, a NumPy scalar: check them
                on_host = False
                break
        if not on_host:
            _check_same_device(tensors, type(self).__name__)
        record = False
        if _GRAD_ENABLED:
            for t in tensors:
                if t.requires_grad:
                    record = True
                    break
        if record:
            arrays = _forward_arguments(arrays, tensors)
        if on_host:
            outputs = self.forward(*arrays)
        else:
            with backend.device_scope(arrays[0] if arrays else None):   # CuPy: x's GPU
                outputs = self.forward(*arrays)
        if not isinstance(outputs, tuple):
            result = _result(outputs, record)
            if record:
                self._record(tensors, arrays, (outputs,), (result,))
            return result
        results = tuple(_result(y, record) for y in outputs)
        if record:
            self._record(tensors, arrays, outputs, results)
        return results

    def _record(self, tensors, arrays, outputs, results) -> None:
        """Attach this call to the graph: its inputs (edges), outputs and saved tensors."""
        self.inputs = tensors
        self._output_meta = tuple([(y.shape, y.dtype) for y in outputs])
        to_save = self.__dict__.pop("_to_save", ())
        if to_save:
            self._saved = _resolve_saved(self, to_save, tensors, arrays, outputs)
            self._versions = _saved_versions(self._saved)
        else:
            self._saved = ()
        for i, r in enumerate(results):
            r.grad_fn = self
            r._output_index = i

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, *gys):
        raise NotImplementedError

    def save_for_backward(self, *arrays) -> None:
        """Called in ``forward``: keep these input/output arrays, as tensors, for ``backward``."""
        self._to_save = arrays

    @property
    def saved_tensors(self) -> tuple:
        """The tensors saved in forward, in the order given to ``save_for_backward``."""
        if self._saved is None:
            raise RuntimeError(_freed_message(self))
        _check_versions(self)
        return tuple(s if isinstance(s, Tensor) else s.tensor(self) for s in self._saved)

    def output(self, i: int = 0) -> Tensor:
        """The i-th output as a tensor of the graph; it must be among the saved tensors."""
        if self._saved is None:
            raise RuntimeError(_freed_message(self))
        for s in self._saved:
            if isinstance(s, _SavedOutput) and s.index == i:
                return s.tensor(self)
        raise RuntimeError(f"{type(self).__name__}: output {i} was not saved; call "
                           f"self.save_for_backward(y) in forward to use it in backward")

    def __repr__(self):
        return f"<{type(self).__name__}>"


class _SavedOutput:
    """A saved output: its array and index, not the output Tensor itself.

    Holding the Tensor would make a cycle (output -> grad_fn -> output) that
    keeps the whole graph alive until Python's cycle collector runs, whenever
    backward never comes. The array is enough: a new Tensor attached to the
    same function at the same index is the same node of the graph.
    """

    __slots__ = ("index", "data")

    def __init__(self, index, data):
        self.index, self.data = index, data

    def tensor(self, fn) -> Tensor:
        t = Tensor(self.data, requires_grad=True)
        t.grad_fn, t._output_index = fn, self.index
        return t


def _as_tensors(inputs) -> tuple:
    """Every input as a Tensor; scalars take the dtype of the first tensor (weak scalars)."""
    like = next((x for x in inputs if isinstance(x, Tensor)), None)
    return tuple(as_tensor(x, like) for x in inputs)


def _result(array, requires_grad: bool) -> "Tensor":
    """A forward's output array as a Tensor (Tensor() without the constructor's checks)."""
    t = _new_tensor(Tensor)
    t._data, t.requires_grad, t.grad, t.grad_fn, t._output_index = array, requires_grad, None, None, 0
    return t


_new_tensor = object.__new__
_ndarray_of = backend.numpy.asarray


def _forward_arguments(arrays, tensors):
    """The arrays handed to forward: one array *object* per distinct input tensor.

    ``x * x.detach()`` passes two tensors that share one array; a view of it
    for the second lets ``save_for_backward`` tell which tensor was meant.
    """
    n = len(arrays)
    if n == 2 and arrays[0] is arrays[1] or n > 2 and len({id(a) for a in arrays}) < n:
        owner = {}
        for j, t in enumerate(tensors):
            if owner.setdefault(id(arrays[j]), t) is not t:
                arrays[j] = arrays[j].view()
    return arrays


def _resolve_saved(fn, to_save, tensors, arrays, outputs):
    """Map each array given to ``save_for_backward`` to its input tensor or output slot."""
    saved = []
    for k, a in enumerate(to_save):
        for j, x in enumerate(arrays):
            if a is x:
                saved.append(tensors[j])
                break
        else:
            for i, y in enumerate(outputs):
                if a is y:
                    saved.append(_SavedOutput(i, a))
                    break
            else:
                raise TypeError(
                    f"{type(fn).__name__}.save_for_backward: argument {k} is neither an input nor "
                    "an output array of forward. Save inputs/outputs only (backward gets them back "
                    "as tensors of the graph); keep constants such as masks as attributes, and "
                    "recompute in backward, with Tensor ops, anything that depends on an input")
    return tuple(saved)


def _saved_versions(saved) -> tuple:
    """The version counter of each saved input tensor when it was saved."""
    return tuple(s._version for s in saved if isinstance(s, Tensor))


def _check_versions(fn) -> None:
    inputs = [s for s in fn._saved if isinstance(s, Tensor)]
    for t, v in zip(inputs, fn._versions):
        if t._version != v:
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by an "
                f"in-place operation: a tensor of shape {t.shape} ({t.dtype}) saved by "
                f"{type(fn).__name__} is at version {t._version}; expected version {v} instead. "
                "Make the change out of place (x = x * 2), or after backward()")


def _freed_message(fn) -> str:
    return (f"Trying to backward through the graph a second time, or to use the saved tensors "
            f"of {fn!r} after they were freed: backward()/grad() free the graph's saved tensors "
            "once they are used. Pass retain_graph=True to the first backward()/grad() call if "
            "you need to differentiate the same graph again.")


def _check_same_device(tensors, op_name):
    if len(tensors) < 2:          # one input cannot disagree with itself (skips a per-op cost)
        return
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        a, b = sorted(devices)[:2]
        raise backend.DeviceError(
            f"{op_name}: tensors on different devices ({a} and {b}); tinygen never copies "
            f"implicitly: move one with .to('{a}') or .to('{b}') first")


# --------------------------------------------------------------------------
# backward traversal
# --------------------------------------------------------------------------

def _run_backward(outputs, grad_outputs, retain_graph, create_graph, inputs, accumulate):
    """The one backward engine behind ``Tensor.backward`` and ``tinygen.grad``.

    Topological order, then for each function (consumers first): gather the
    gradients of its outputs, call its backward, add the results into its
    inputs' gradients. Returns the dict ``key -> gradient`` (see :func:`_key`);
    with ``accumulate`` the leaves' gradients are also added into ``leaf.grad``.
    ``inputs`` (for ``grad``) limits the work to functions that lead to them.
    """
    if retain_graph is None:
        retain_graph = create_graph
    with set_grad_enabled(create_graph):      # create_graph: backward's own ops are recorded
        grads = _seed_gradients(outputs, grad_outputs)
        order = _topological_order([y.grad_fn for y in outputs if y.grad_fn is not None])
        requested = None
        if inputs is not None:
            order = _prune(order, inputs)
            requested = {_key(t) for t in inputs}
        for f in reversed(order):
            gys = _output_gradients(f, grads, requested)
            if gys is None:                       # no gradient reached this function
                continue
            gxs = _call_backward(f, gys)
            _add_input_gradients(f, gxs, grads)
        if accumulate:
            _accumulate_into_leaves(outputs, order, grads, create_graph)
        if not retain_graph:
            _free(order)
    return grads


def _key(t: Tensor):
    """Where ``t``'s gradient is kept: its (function, output index), or the leaf itself."""
    return (id(t.grad_fn), t._output_index) if t.grad_fn is not None else id(t)


def _seed_gradients(outputs, grad_outputs) -> dict:
    grads = {}
    for y, g in zip(outputs, grad_outputs):
        _add(grads, _key(y), _seed_gradient(y, g))
    return grads


def _seed_gradient(y: Tensor, g):
    if g is None:
        if y._data.size != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for single-element outputs, got shape "
                f"{y.shape}: pass the upstream gradient explicitly (gradient=/grad_outputs=)")
        return Tensor(backend.full(y.shape, 1, y.dtype, y.device))
    g = as_tensor(g, y)
    if g.shape != y.shape:
        raise RuntimeError(f"upstream gradient has shape {g.shape} but the output has shape {y.shape}")
    if g.device != y.device:
        raise backend.DeviceError(f"upstream gradient is on {g.device} but the output is on {y.device}")
    return g


def _add(grads: dict, key, g: Tensor) -> None:
    """Sum gradients arriving at one tensor along several paths (a diamond, y = x * x)."""
    grads[key] = grads[key] + g if key in grads else g


def _topological_order(roots):
    """Functions reachable from ``roots``, each after every function it feeds.

    Iterative post-order depth-first search: inputs' creators come first, so
    ``reversed(order)`` visits consumers before producers.
    """
    order, visited = [], set()
    stack = [(f, False) for f in roots]
    while stack:
        f, expanded = stack.pop()
        if expanded:
            order.append(f)
            continue
        if id(f) in visited:
            continue
        if f.inputs is None:
            raise RuntimeError(_freed_message(f))
        visited.add(id(f))
        stack.append((f, True))
        for x in f.inputs:
            if x.grad_fn is not None and id(x.grad_fn) not in visited:
                stack.append((x.grad_fn, False))
    return order


def _prune(order, inputs):
    """Keep only functions with a path to a requested input (``order`` is producers first)."""
    targets = {id(t) for t in inputs}
    needed, kept = set(), []
    for f in order:
        if any(id(x) in targets or id(x.grad_fn) in needed for x in f.inputs):
            needed.add(id(f))
            kept.append(f)
    return kept


def _output_gradients(f, grads, requested):
    """The gradient of each output of ``f`` (zeros for an output nobody used), or None.

    Each gradient is taken out of ``grads`` (it is consumed here) unless it
    is a result asked for by ``grad(..., inputs=[that intermediate])``.
    """
    fid = id(f)
    if len(f._output_meta) == 1:                  # the common case: one output
        k = (fid, 0)
        g = grads.get(k) if requested is not None and k in requested else grads.pop(k, None)
        return None if g is None else [g]
    gys = []
    for i in range(len(f._output_meta)):
        k = (fid, i)
        gys.append(grads.get(k) if requested is not None and k in requested
                   else grads.pop(k, None))
    if all(g is None for g in gys):
        return None
    device = f.inputs[0].device
    return [g if g is not None else Tensor(backend.full(shape, 0, dtype, device))
            for g, (shape, dtype) in zip(gys, f._output_meta)]


def _call_backward(f, gys) -> tuple:
    # A backward may compute on raw arrays (masks, constants) outside any op: run it with
    # its gradients' GPU current, as Function.__call__ runs forward (CuPy's current device).
    where = next(g for g in gys if g is not None)._data
    if type(where) is _ndarray:
        gxs = f.backward(*gys)
    else:
        with backend.device_scope(where):
            gxs = f.backward(*gys)
    if not isinstance(gxs, tuple):
        gxs = (gxs,)
    if len(gxs) != len(f.inputs):
        raise RuntimeError(f"{f!r}.backward returned {len(gxs)} gradients for "
                           f"{len(f.inputs)} inputs")
    return gxs


def _add_input_gradients(f, gxs, grads) -> None:
    for i, (x, gx) in enumerate(zip(f.inputs, gxs)):
        if gx is not None and x.requires_grad:
            _add(grads, _key(x), _to_input_shape(f, i, x, gx))


def _to_input_shape(f, i, x, gx):
    """Undo broadcasting, for every op at once: sum gx down to x's shape.

    The one place where broadcast gradients are reduced. A binary op's
    backward returns gradients of the *output's* shape (``gy * b`` for
    ``a * b``); when ``a`` was broadcast, its gradient is the sum over the
    broadcast axes, which is :func:`tinygen.ops.sum_to` (differentiable, so
    this also works under ``create_graph``). Any other mismatch is a bug in
    that backward.
    """
    if gx.shape == x.shape:
        return gx
    if not ops.broadcast.broadcasts_from(x.shape, gx.shape):
        raise RuntimeError(f"{type(f).__name__}.backward returned a gradient of shape {gx.shape} "
                           f"for input {i} of shape {x.shape} (not a broadcast of that shape)")
    return ops.sum_to(gx, x.shape)


def _accumulate_into_leaves(outputs, order, grads, create_graph) -> None:
    """``backward()``: add each leaf's gradient into ``leaf.grad``, once per leaf."""
    leaves = [y for y in outputs if y.grad_fn is None]
    leaves += [x for f in order for x in f.inputs if x.grad_fn is None]
    for leaf in leaves:
        g = grads.pop(id(leaf), None)
        if g is None or not leaf.requires_grad:
            continue
        if leaf.grad is not None:
            leaf.grad = leaf.grad + g          # a new array (with a graph if create_graph)
        else:
            # Always a fresh array: gy can reach several leaves unchanged (y = a + b)
            # or be the caller's own gradient, and .grad is updated in place later.
            if create_graph:
                leaf.grad = ops.clone(g)
            elif type(g._data) is _ndarray:
                leaf.grad = Tensor(g._data.copy())
            else:
                leaf.grad = Tensor(ops.clone(g)._data)


def _free(order) -> None:
    """Release what each function kept for backward (unless ``retain_graph``)."""
    for f in order:
        f.inputs = None
        f._saved = None


def grad(outputs, inputs, grad_outputs=None, retain_graph: Optional[bool] = None,
         create_graph: bool = False, only_inputs: bool = True, allow_unused: bool = False) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, returned (not accumulated).

    Computes ``sum_i  grad_outputs[i]^T  d outputs[i] / d inputs[j]`` for each j.
    With ``create_graph=True`` the results carry a graph, so they can be
    differentiated again (gradient penalties, Jacobian norms).

    Args:
        outputs: a Tensor or a sequence of Tensors.
        inputs: a Tensor or a sequence of Tensors (leaves or intermediate results).
        grad_outputs: upstream gradients, one per output; ``None`` only for
            single-element outputs.
        retain_graph: keep the graph for another backward (default: create_graph).
        create_graph: record the backward computation itself.
        only_inputs: accepted for PyTorch scripts and ignored (PyTorch deprecated it: the
            gradients only ever go to ``inputs``).
        allow_unused: return ``None`` for an input the outputs do not depend on
            (otherwise that is an error).
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single_input = isinstance(inputs, Tensor)
    inputs = [inputs] if single_input else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad_outputs has {len(grad_outputs)} entries for {len(outputs)} outputs")
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor) or not x.requires_grad:
            raise RuntimeError(f"inputs[{i}] does not require grad: call .requires_grad_() on it "
                               "before computing the outputs")
    for i, y in enumerate(outputs):
        if not y.requires_grad:
            raise RuntimeError(f"outputs[{i}] does not require grad: it does not depend on any "
                               "tensor with requires_grad=True")
    grads = _run_backward(outputs, grad_outputs, retain_graph, create_graph, inputs=inputs,
                          accumulate=False)
    result = []
    for i, x in enumerate(inputs):
        g = grads.get(_key(x))
        if g is None and not allow_unused:
            raise RuntimeError(f"inputs[{i}] (shape {x.shape}) was not used to compute the "
                               "outputs; pass allow_unused=True to get None for it")
        if g is not None and not create_graph:
            g = Tensor(g._data)
        result.append(g)
    return tuple(result)


from tinygen import ops  # noqa: E402  (ops build on Tensor/Function defined above)
