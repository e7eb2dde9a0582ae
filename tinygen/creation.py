"""Creating tensors: from data, filled, random, ranges.

Every function takes ``device=`` (default: the default device, ``TINYGEN_DEVICE``)
and makes its array there, under :func:`tinygen.backend.device_scope` (CuPy
allocates on the *current* GPU). This is the one place where tensors are made
for a device: code that knows where its data lives (a method's
``config.device``, a batch's ``x.device``) passes it on, and never relies on the
default device.

Random tensors are drawn on the host from the seeded generator of
:mod:`tinygen.backend` (``tinygen.manual_seed``) and then moved to the
device, so the same seed gives the same numbers on CPU and GPU.
"""
from __future__ import annotations

from tinygen import backend
from tinygen.autograd import Tensor, is_floating_dtype

np = backend.numpy   # dtype objects only; arrays are made by the device's module


def _dtype(dtype, default=None):
    if dtype is None:
        return np.dtype(default or backend.default_float_dtype())
    return np.dtype(dtype)


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding ``data`` (copied).

    dtype: kept from a NumPy/CuPy array; Python floats give float32, Python
    ints int64 and bools bool (PyTorch's rules), unless ``dtype`` is given.
    """
    if isinstance(data, Tensor):
        data = data._data
    xp_src = backend.get_array_module(data)
    if dtype is None and not hasattr(data, "dtype"):
        probe = np.asarray(data)
        if is_floating_dtype(probe.dtype):
            dtype = backend.default_float_dtype()
        elif probe.dtype.kind in "iu":
            dtype = np.int64
        data = probe
    with backend.device_scope(data):
        array = xp_src.array(data, dtype=dtype, copy=True)
    if array.dtype.kind not in "biufc":       # strings, objects, dates: not numbers
        raise TypeError(f"tinygen.tensor: cannot hold data of dtype {array.dtype} (from "
                        f"{type(data).__name__}); tensors hold bool, integer or float numbers")
    device = backend.normalize_device(device) if device is not None else (
        backend.device_of(array) if xp_src is not np else backend.get_default_device())
    array = backend.to_device(array, device)
    t = Tensor(array)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _filled(fill, shape, dtype, device, requires_grad):
    t = Tensor(backend.full(_shape(shape), fill, _dtype(dtype), device))
    return t.requires_grad_(True) if requires_grad else t


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def zeros(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _filled(0, shape, dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _filled(1, shape, dtype, device, requires_grad)


def full(shape, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _filled(fill_value, (shape,), dtype, device, requires_grad)


def _like(x, dtype, device):
    return (dtype if dtype is not None else x.dtype), (device if device is not None else x.device)


def zeros_like(x, dtype=None, device=None, requires_grad=False) -> Tensor:
    dtype, device = _like(x, dtype, device)
    return zeros(x.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(x, dtype=None, device=None, requires_grad=False) -> Tensor:
    dtype, device = _like(x, dtype, device)
    return ones(x.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(x, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    dtype, device = _like(x, dtype, device)
    return full(x.shape, fill_value, dtype=dtype, device=device, requires_grad=requires_grad)


def _random(draw, shape, dtype, device, requires_grad, generator):
    rng = generator if generator is not None else backend.host_rng()
    host = draw(rng, _shape(shape)).astype(_dtype(dtype), copy=False)
    t = Tensor(backend.to_device(host, backend.normalize_device(device)))
    return t.requires_grad_(True) if requires_grad else t


def randn(*shape, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    """Standard normal samples N(0, 1) of the given shape."""
    return _random(lambda r, s: r.standard_normal(s), shape, dtype, device, requires_grad, generator)


def rand(*shape, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    """Uniform samples on [0, 1) of the given shape."""
    return _random(lambda r, s: r.random(s), shape, dtype, device, requires_grad, generator)


def randint(low, high, size, device=None, generator=None) -> Tensor:
    """Integers uniform on [low, high), int64."""
    return _random(lambda r, s: r.integers(low, high, s), (size,), np.int64, device, False, generator)


def randn_like(x, dtype=None, device=None, generator=None) -> Tensor:
    dtype, device = _like(x, dtype, device)
    return randn(x.shape, dtype=dtype, device=device, generator=generator)


def rand_like(x, dtype=None, device=None, generator=None) -> Tensor:
    dtype, device = _like(x, dtype, device)
    return rand(x.shape, dtype=dtype, device=device, generator=generator)


def arange(start, end=None, step=1, dtype=None, device=None) -> Tensor:
    """Evenly spaced values in [start, end); int64 for integer arguments, else float32."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_int = all(isinstance(v, int) for v in (start, end, step))
        dtype = np.int64 if is_int else backend.default_float_dtype()
    xp = backend.array_module_for(device)
    with backend.device_scope(backend.normalize_device(device)):
        return Tensor(xp.arange(start, end, step, dtype=np.dtype(dtype)))


def linspace(start, end, steps, dtype=None, device=None) -> Tensor:
    xp = backend.array_module_for(device)
    with backend.device_scope(backend.normalize_device(device)):
        return Tensor(xp.linspace(start, end, steps, dtype=_dtype(dtype)))


def eye(n, m=None, dtype=None, device=None) -> Tensor:
    xp = backend.array_module_for(device)
    with backend.device_scope(backend.normalize_device(device)):
        return Tensor(xp.eye(n, m, dtype=_dtype(dtype)))


# --------------------------------------------------------------------------
# PyTorch's spellings: sharing memory, uninitialised, and the legacy typed classes
# --------------------------------------------------------------------------

def from_numpy(array) -> Tensor:
    """A CPU tensor that *shares* ``array``'s memory and keeps its dtype (PyTorch's from_numpy).

    Writing into one (``t.add_(1)``, ``array[0] = 5``) changes the other.
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """PyTorch's ``torch.as_tensor``: ``data`` itself when it already is a tensor of that
    dtype and device, an array's memory shared when no conversion is needed, else a copy."""
    if isinstance(data, Tensor):
        return data.to(*[a for a in (device, dtype) if a is not None])
    if isinstance(data, np.ndarray) and (dtype is None or np.dtype(dtype) == data.dtype) \
            and backend.normalize_device(device) == "cpu":
        return Tensor(data)
    return tensor(data, dtype=dtype, device=device)


def empty(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """PyTorch leaves ``empty`` uninitialised; tinygen gives zeros (same shapes, no surprises)."""
    return zeros(*shape, dtype=dtype, device=device, requires_grad=requires_grad)


def empty_like(x, dtype=None, device=None, requires_grad=False) -> Tensor:
    return zeros_like(x, dtype=dtype, device=device, requires_grad=requires_grad)


class LegacyTensorType(type):
    """The type of PyTorch's legacy classes ``FloatTensor``, ``cuda.LongTensor``, ...

    Calling one builds a tensor of its dtype on its device: ``FloatTensor(2, 3)`` (zeros),
    ``FloatTensor([1, 2])`` or ``FloatTensor(numpy_array)`` (converted, as PyTorch converts).
    ``isinstance(x, FloatTensor)`` asks for x's dtype and device; ``x.type(FloatTensor)``
    converts. Scripts in the style ``Tensor = torch.cuda.FloatTensor if cuda else
    torch.FloatTensor`` therefore run unchanged.
    """

    def __call__(cls, *args) -> Tensor:
        if len(args) == 1 and not isinstance(args[0], int):
            data = args[0]._data if isinstance(args[0], Tensor) else args[0]
            return tensor(data, dtype=cls.dtype, device=cls.legacy_device)
        if not all(isinstance(s, int) for s in args):
            raise TypeError(f"{cls.__name__}(*sizes) takes integer sizes or one array, got {args}")
        return zeros(*args, dtype=cls.dtype, device=cls.legacy_device)

    def __instancecheck__(cls, x) -> bool:
        return isinstance(x, Tensor) and x.dtype == cls.dtype and \
            (x.device == "cpu") == (cls.legacy_device == "cpu")


# (class name, dtype) as in PyTorch; each exists as torch.X (cpu) and torch.cuda.X.
_LEGACY = [("FloatTensor", np.float32), ("DoubleTensor", np.float64), ("HalfTensor", np.float16),
           ("LongTensor", np.int64), ("IntTensor", np.int32), ("ShortTensor", np.int16),
           ("CharTensor", np.int8), ("ByteTensor", np.uint8), ("BoolTensor", np.bool_)]


def _legacy_class(name, dtype, device):
    prefix = "torch." if device == "cpu" else "torch.cuda."
    return LegacyTensorType(prefix + name, (), {"dtype": np.dtype(dtype), "legacy_device": device,
                                                "__doc__": f"{prefix}{name}: {np.dtype(dtype)} "
                                                           f"tensors on {device} (legacy)"})


LEGACY_CPU = {name: _legacy_class(name, dt, "cpu") for name, dt in _LEGACY}
LEGACY_CUDA = {name: _legacy_class(name, dt, "cuda") for name, dt in _LEGACY}
FloatTensor, DoubleTensor, LongTensor = (LEGACY_CPU[k] for k in ("FloatTensor", "DoubleTensor",
                                                                 "LongTensor"))
IntTensor, ByteTensor, BoolTensor, HalfTensor = (LEGACY_CPU[k] for k in ("IntTensor", "ByteTensor",
                                                                         "BoolTensor", "HalfTensor"))


def legacy_tensor_type(dtype_or_name, device="cpu") -> LegacyTensorType:
    """The legacy class for a dtype and device, a class itself, or a name like 'torch.FloatTensor'."""
    if isinstance(dtype_or_name, LegacyTensorType):
        return dtype_or_name
    if isinstance(dtype_or_name, str):
        table = LEGACY_CUDA if dtype_or_name.startswith("torch.cuda.") else LEGACY_CPU
        name = dtype_or_name.rpartition(".")[2]
        if name not in table:
            raise TypeError(f"unknown tensor type {dtype_or_name!r}; known: {sorted(table)}")
        return table[name]
    table = LEGACY_CPU if str(device) == "cpu" else LEGACY_CUDA
    for cls in table.values():
        if cls.dtype == np.dtype(dtype_or_name):
            return cls
    raise TypeError(f"no legacy tensor type for dtype {dtype_or_name}")
