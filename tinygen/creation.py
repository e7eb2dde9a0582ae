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
        data = data.data
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
