"""A strict stand-in for CuPy: NumPy arrays kept apart from host arrays as CuPy keeps its own.

``TINYGEN_SIMULATE_CUDA=1`` makes :mod:`tinygen.backend` use this module wherever it would use
``cupy`` (and ``cupyx``), so that the devices ``"cuda"`` / ``"cuda:N"`` exist on a machine with
no GPU and no CuPy. Only the backend imports it. Its purpose is to *fail where CuPy fails*, so
that device bugs show up in tests and CI instead of on the first GPU a user tries:

* a device array is a wrapper (:class:`ndarray`) around a private NumPy array, tagged with the
  device it lives on; it is **not** a ``numpy.ndarray``;
* a ufunc, reduction or routine given a ``numpy.ndarray`` raises ``TypeError: Unsupported type
  <class 'numpy.ndarray'>`` (CuPy's ``_kernel._preprocess_args``); Python and NumPy scalars are
  fine, as in CuPy;
* ``numpy.asarray(device_array)`` raises CuPy's ``TypeError: Implicit conversion to a NumPy
  array is not allowed. Please use `.get()` ...``; ``x[...] = host_array`` raises CuPy's
  ``ValueError: non-scalar numpy.ndarray cannot be used for fill``;
* kernels run on the *current* device (``with cuda.Device(i):``), and an array that lives on
  another device raises CuPy's ``ValueError: The device where the array resides (1) is different
  from the current device (0). Peer access is unavailable between these devices.``; new arrays
  are made on the current device;
* results are always device arrays, 0-d included (CuPy never returns NumPy scalars);
* ``asarray``/``array`` copy host data in, ``asnumpy``/``.get()`` copy it out; ``.data`` is a
  memory pointer, not an array (as CuPy's); there is no ``random`` module (tinygen draws on the
  host) and no ``errstate``/``seterr`` (CuPy has none).

The numbers are NumPy's, so a run on the stand-in is bit-identical to the same run on the CPU.
Simulated devices: ``$TINYGEN_SIMULATE_CUDA_DEVICES`` (default 2, so that ``cuda:1`` exists).

Source of the semantics: CuPy's ``cupy/_core/core.pyx`` (``__array__``, ``__array_ufunc__``,
``__array_function__``, ``fill``), ``_kernel.pyx`` (``_check_peer_access``), ``_scalar.pyx``
(``CScalar``) and ``_routines_indexing.pyx`` (host index arrays are converted; host values for
assignment are refused).
"""
from __future__ import annotations

import math
import os
import types

import numpy

__all__ = ["ndarray", "asarray", "array", "asnumpy", "scatter_add", "cuda", "lib", "ufunc",
           "scipy"]


# --------------------------------------------------------------------------
# devices: cupy.cuda.Device, cupy.cuda.runtime.getDeviceCount
# --------------------------------------------------------------------------

_CURRENT = [0]    # a stack: the last entry is the current device


def _device_count() -> int:
    return int(os.environ.get("TINYGEN_SIMULATE_CUDA_DEVICES", "2"))


def _current() -> int:
    return _CURRENT[-1]


class Device:
    """``cupy.cuda.Device``: ``with Device(1):`` makes device 1 current for new arrays and kernels."""

    def __init__(self, device=None):
        self.id = _current() if device is None else int(device)

    def _check(self):
        if not 0 <= self.id < _device_count():
            raise RuntimeError(f"cudaErrorInvalidDevice: invalid device ordinal {self.id} "
                               f"(the stand-in simulates {_device_count()} devices)")

    def __enter__(self):
        self._check()
        _CURRENT.append(self.id)
        return self

    def __exit__(self, *exc_info):
        _CURRENT.pop()

    def use(self):
        self._check()
        _CURRENT[-1] = self.id

    def synchronize(self):
        """Nothing to wait for: the stand-in computes eagerly on the host."""

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


def _get_device_count() -> int:
    return _device_count()


cuda = types.SimpleNamespace(
    Device=Device,
    runtime=types.SimpleNamespace(getDeviceCount=_get_device_count),
    get_device_id=_current,
    is_available=lambda: _device_count() > 0,
)


class MemoryPointer:
    """What CuPy's ``ndarray.data`` is: a pointer into device memory (never an array)."""

    def __init__(self, host: numpy.ndarray, device_id: int):
        self.ptr = host.__array_interface__["data"][0]
        self.device_id = device_id

    def __repr__(self):
        return f"<MemoryPointer 0x{self.ptr:x} on device {self.device_id}>"


# --------------------------------------------------------------------------
# checking operands and wrapping results
# --------------------------------------------------------------------------

def _peer_error(where: int, current: int) -> ValueError:
    return ValueError(f"The device where the array resides ({where}) is different from the "
                      f"current device ({current}). Peer access is unavailable between these "
                      "devices.")


def _operand(x, device: int):
    """The host array behind one operand of a kernel on ``device``; CuPy's checks."""
    if isinstance(x, ndarray):
        if x._device != device:
            raise _peer_error(x._device, device)
        return x._a
    if isinstance(x, numpy.ndarray):
        raise TypeError(f"Unsupported type {type(x)}")
    if isinstance(x, (list, tuple)):
        return type(x)(_operand(v, device) for v in x)
    if isinstance(x, dict):
        return {k: _operand(v, device) for k, v in x.items()}
    return x                      # Python/NumPy scalars, shapes, dtypes, None, slices, strings


def _wrap(result, device: int):
    """NumPy results back on the device: arrays and scalars become device arrays."""
    if isinstance(result, numpy.ndarray):
        return ndarray(result, device)
    if isinstance(result, numpy.generic):
        return ndarray(numpy.asarray(result), device)
    if isinstance(result, tuple):
        return tuple(_wrap(r, device) for r in result)
    if isinstance(result, list):
        return [_wrap(r, device) for r in result]
    return result


def _run(func, args, kwargs):
    """Call a NumPy function as a kernel on the current device."""
    device = _current()
    out = func(*_operand(args, device), **_operand(kwargs, device))
    return _wrap(out, device)


# --------------------------------------------------------------------------
# ufuncs (cupy.ufunc): __call__, reduce, accumulate, outer, at, reduceat
# --------------------------------------------------------------------------

class ufunc:
    """A NumPy ufunc run as a device kernel (operands checked as CuPy checks them)."""

    def __init__(self, np_ufunc):
        self._u = np_ufunc
        self.__name__ = np_ufunc.__name__
        self.nin, self.nout, self.identity = np_ufunc.nin, np_ufunc.nout, np_ufunc.identity

    def _call(self, method, args, kwargs):
        out = kwargs.get("out")
        if isinstance(out, tuple):             # NumPy's __array_ufunc__ passes out as a tuple
            kwargs["out"] = out = out[0] if len(out) == 1 else out
        result = _run(getattr(self._u, method), args, kwargs)
        return out if isinstance(out, ndarray) else result

    def __call__(self, *args, **kwargs):
        return self._call("__call__", args, kwargs)

    def reduce(self, *args, **kwargs):
        return self._call("reduce", args, kwargs)

    def accumulate(self, *args, **kwargs):
        return self._call("accumulate", args, kwargs)

    def outer(self, *args, **kwargs):
        return self._call("outer", args, kwargs)

    def reduceat(self, *args, **kwargs):
        return self._call("reduceat", args, kwargs)

    def at(self, a, indices, values=None):
        """In place, accumulating repeated indices (``cupy.add.at``, ``cupyx.scatter_add``)."""
        device = _current()
        target = _operand(a, device)
        index = _index(indices, device)
        if values is None:
            self._u.at(target, index)
        else:
            self._u.at(target, index, _operand(values, device))

    def __repr__(self):
        return f"<ufunc '{self.__name__}' (tinygen CUDA stand-in)>"


_SCATTER_ADD_DTYPES = tuple(numpy.dtype(t) for t in ("int32", "float16", "float32", "float64",
                                                      "uint32", "uint64"))


def scatter_add(a, slices, value) -> None:
    """``cupyx.scatter_add``: ``a[slices] += value``, accumulating repeated indices.

    CuPy adds with CUDA's ``atomicAdd``, which exists for a few types only
    (``_routines_indexing.pyx``: int64 and bool values are refused); so does the stand-in.
    """
    dtype = value.dtype if isinstance(value, ndarray) else None
    if dtype is not None and dtype not in _SCATTER_ADD_DTYPES:
        raise TypeError("scatter_add only supports int32, float16, float32, float64, uint32, "
                        "uint64, as data type")
    _ufunc("add").at(a, slices, value)


def _erf_kernel(a):
    """erf element by element with Python's correctly rounded ``math.erf`` (so the stand-in's
    numbers are the host's, bit for bit)."""
    return numpy.asarray(numpy.frompyfunc(math.erf, 1, 1)(a), dtype=a.dtype)


# ``cupyx.scipy.special``: the one special function tinygen needs on a device.
scipy = types.SimpleNamespace(special=types.SimpleNamespace(
    erf=lambda x: _run(_erf_kernel, (x,), {})))


def _index(key, device: int):
    """An index for ``x[key]``: device arrays must be on ``device``; host index arrays and lists
    are accepted (CuPy converts them, ``_routines_indexing._prepare_slice_list``)."""
    if isinstance(key, ndarray):
        if key._device != device:
            raise _peer_error(key._device, device)
        return key._a
    if isinstance(key, tuple):
        return tuple(_index(k, device) for k in key)
    return key


# --------------------------------------------------------------------------
# the device array
# --------------------------------------------------------------------------

def _should_use_rop(x, y) -> bool:
    """CuPy's rule (``core.pyx``) for ``x <op> y`` with x a device array: defer to ``y``'s
    reflected operator when y opts out of ufuncs (``__array_ufunc__ = None``) or, lacking
    ``__array_ufunc__``, has a higher ``__array_priority__`` (a tinygen Tensor: 1000)."""
    try:
        y_ufunc = y.__array_ufunc__
    except AttributeError:
        return getattr(x, "__array_priority__", 0) < getattr(y, "__array_priority__", 0)
    return y_ufunc is None


def _binary(name, reflected=False, inplace=False):
    def op(self, other):
        u = _ufunc(name)
        if inplace:
            return u(self, other, out=self)
        if reflected:
            return u(other, self)
        if _should_use_rop(self, other):
            return NotImplemented
        return u(self, other)
    op.__name__ = f"__{'r' if reflected else 'i' if inplace else ''}{name}__"
    return op


def _kernel_method(name):
    """An ndarray method that computes (reductions, casts, copies): runs on the current device."""
    def method(self, *args, **kwargs):
        device = _current()
        if self._device != device:
            raise _peer_error(self._device, device)
        out = getattr(self._a, name)(*_operand(args, device), **_operand(kwargs, device))
        return _wrap(out, device)
    method.__name__ = name
    return method


def _view_method(name):
    """An ndarray method that only changes the view (shape, strides): stays on the array's device."""
    def method(self, *args, **kwargs):
        return _wrap(getattr(self._a, name)(*args, **kwargs), self._device)
    method.__name__ = name
    return method


class ndarray:
    """``cupy.ndarray`` on a simulated device: a NumPy array the host may not touch implicitly."""

    __slots__ = ("_a", "_device", "__weakref__")   # CuPy arrays take weak references (cupy#1355)
    __array_priority__ = 100
    __hash__ = None                       # like numpy/cupy arrays (they define ==)

    def __init__(self, host_array: numpy.ndarray, device: int):
        # Private constructor (``cupy.ndarray(shape, dtype)`` is not needed by tinygen):
        # wrap a NumPy array that is already "on" ``device``; views share its memory.
        self._a = host_array
        self._device = device

    # ----- metadata ------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray(self._a.T, self._device))
    real = property(lambda self: ndarray(self._a.real, self._device))
    imag = property(lambda self: ndarray(self._a.imag, self._device))

    @property
    def device(self) -> Device:
        return Device(self._device)

    @property
    def data(self) -> MemoryPointer:
        return MemoryPointer(self._a, self._device)

    # ----- explicit transfers ------------------------------------------------
    def get(self, stream=None, order="C", out=None, blocking=True) -> numpy.ndarray:
        """A NumPy copy on the host (``cupy.ndarray.get``)."""
        host = numpy.array(self._a, order=order, copy=True)
        if out is not None:
            out[...] = host
            return out
        return host

    def set(self, arr, stream=None) -> None:
        """Copy a host array of the same shape and dtype in (``cupy.ndarray.set``)."""
        arr = numpy.asarray(arr)
        if arr.shape != self.shape or arr.dtype != self.dtype:
            raise ValueError(f"Shape/dtype mismatch: {arr.shape} {arr.dtype} vs "
                             f"{self.shape} {self.dtype}")
        self._a[...] = arr

    def item(self):
        if self.size != 1:
            raise ValueError("can only convert an array of size 1 to a Python scalar")
        return self._a.item()

    def tolist(self):
        return self._a.tolist()

    # ----- implicit conversions: CuPy's rules -------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def __float__(self):
        return float(self.get())

    def __int__(self):
        return int(self.get())

    def __complex__(self):
        return complex(self.get())

    def __bool__(self):
        return bool(self.get())

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self):
        return repr(self.get())

    def __str__(self):
        return str(self.get())

    def __format__(self, spec):
        return format(self.get(), spec)

    def __reduce__(self):
        return array, (self.get(),)

    # ----- NumPy's protocols: numpy.f(device_array) dispatches here, as in CuPy ----
    def __array_ufunc__(self, np_ufunc, method, *inputs, **kwargs):
        u = _ufunc(np_ufunc.__name__)
        if u is None:
            return NotImplemented
        return u._call(method, inputs, kwargs)

    def __array_function__(self, func, types_, args, kwargs):
        if func.__module__ != "numpy" or func.__name__ in _NOT_IN_CUPY:
            return NotImplemented
        return _run(func, args, kwargs)

    # ----- indexing ------------------------------------------------------------
    def __getitem__(self, key):
        return _wrap(self._a[_index(key, self._device)], self._device)

    def __setitem__(self, key, value):
        if isinstance(value, numpy.ndarray) and value.shape != ():
            # CuPy refuses host values (gh-2079): they go to fill(), which takes scalars only
            raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        device = _current()
        if self._device != device:
            raise _peer_error(self._device, device)
        self._a[_index(key, self._device)] = _operand(value, device)

    def __neg__(self):
        return _ufunc("negative")(self)

    def __pos__(self):
        return _ufunc("positive")(self)

    def __abs__(self):
        return _ufunc("absolute")(self)

    def __invert__(self):
        return _ufunc("invert")(self)


# The methods and operators, attached in loops because each is one line of meaning:
# a kernel method computes on the current device, a view method only reshapes the view,
# and every operator is a ufunc (so a host operand raises CuPy's TypeError).
for _name in ("astype", "copy", "sum", "mean", "max", "min", "argmax", "argmin", "prod", "std",
              "var", "any", "all", "clip", "cumsum", "dot", "round", "conj", "nonzero", "sort",
              "argsort", "take", "repeat", "fill", "diagonal", "trace", "flatten"):
    setattr(ndarray, _name, _kernel_method(_name))
for _name in ("reshape", "transpose", "swapaxes", "squeeze", "ravel", "view"):
    setattr(ndarray, _name, _view_method(_name))
for _name, _u in (("add", "add"), ("sub", "subtract"), ("mul", "multiply"),
                  ("truediv", "true_divide"), ("floordiv", "floor_divide"), ("mod", "remainder"),
                  ("pow", "power"), ("matmul", "matmul"), ("and", "bitwise_and"),
                  ("or", "bitwise_or"), ("xor", "bitwise_xor"), ("lshift", "left_shift"),
                  ("rshift", "right_shift")):
    setattr(ndarray, f"__{_name}__", _binary(_u))
    setattr(ndarray, f"__r{_name}__", _binary(_u, reflected=True))
    setattr(ndarray, f"__i{_name}__", _binary(_u, inplace=True))
for _name, _u in (("eq", "equal"), ("ne", "not_equal"), ("lt", "less"), ("le", "less_equal"),
                  ("gt", "greater"), ("ge", "greater_equal")):
    setattr(ndarray, f"__{_name}__", _binary(_u))
del _name, _u


# --------------------------------------------------------------------------
# the module namespace: cupy.<name>
# --------------------------------------------------------------------------

def asarray(a, dtype=None, order=None, *, copy=None, blocking=False):
    """``cupy.asarray``: a device array; host data is copied to the current device.

    A device array already of the right dtype comes back as it is, *even if it lives on
    another device* (CuPy's behaviour: it is not a cross-device copy).
    """
    if isinstance(a, ndarray):
        return a if dtype is None or numpy.dtype(dtype) == a.dtype else a.astype(dtype)
    return array(a, dtype=dtype, copy=True, order=order or "K")


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0):
    """``cupy.array``: a new device array on the current device (host data copied in)."""
    device = _current()
    if isinstance(obj, ndarray):
        if obj._device != device:
            raise _peer_error(obj._device, device)
        obj = obj._a
    elif isinstance(obj, (list, tuple)):       # a nested list may hold device arrays
        obj = _index(tuple(obj), device) if any(isinstance(v, ndarray) for v in obj) else obj
    host = numpy.array(obj, dtype=dtype, copy=True, order=order, ndmin=ndmin)
    return ndarray(host, device)


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    """``cupy.asnumpy``: a host copy of a device array (host arrays pass through)."""
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return numpy.asarray(a, order=order)


def _as_strided(x, shape=None, strides=None):
    """``cupy.lib.stride_tricks.as_strided``: a strided view of a device array."""
    if not isinstance(x, ndarray):
        raise TypeError(f"Unsupported type {type(x)}")
    view = numpy.lib.stride_tricks.as_strided(x._a, shape=shape, strides=strides)
    return ndarray(view, x._device)


lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(as_strided=_as_strided))

# NumPy names CuPy does not have (or that would bypass the host/device split here).
_NOT_IN_CUPY = {
    "random": "tinygen draws random numbers on the host (backend.host_rng()) and moves them",
    "errstate": "CuPy has no floating-point error state", "seterr": "CuPy has no seterr",
    "geterr": "CuPy has no geterr", "testing": "use numpy.testing on host copies",
    "ma": "CuPy has no masked arrays", "char": "CuPy has no string arrays",
    "rec": "CuPy has no record arrays", "ctypeslib": "no ctypes on device memory",
    "asarray_chkfinite": "not in CuPy", "asmatrix": "not in CuPy", "matrix": "not in CuPy",
    "save": "save a host copy (cupy.asnumpy)", "savez": "save a host copy (cupy.asnumpy)",
    "load": "load on the host, then cupy.asarray", "frombuffer": "build on the host first",
}

_UFUNCS: dict = {}


def _ufunc(name):
    """The stand-in ufunc called ``name`` (cached), or None when NumPy has no such ufunc."""
    if name not in _UFUNCS:
        np_u = getattr(numpy, name, None)
        _UFUNCS[name] = ufunc(np_u) if isinstance(np_u, numpy.ufunc) else None
    return _UFUNCS[name]


def _routine(func):
    def routine(*args, **kwargs):
        return _run(func, args, kwargs)
    routine.__name__ = routine.__qualname__ = func.__name__
    routine.__doc__ = f"``cupy.{func.__name__}`` on the stand-in: numpy.{func.__name__} as a kernel."
    return routine


def __getattr__(name):
    """``cupy.<name>`` for the rest of NumPy's namespace (PEP 562 module ``__getattr__``).

    Ufuncs become :class:`ufunc`, functions become kernels on the current device (host arrays
    refused), dtypes and constants pass through; names CuPy lacks raise AttributeError.
    """
    if name in _NOT_IN_CUPY:
        raise AttributeError(f"the CUDA stand-in (like cupy) has no {name!r}: {_NOT_IN_CUPY[name]}")
    if name.startswith("__"):
        raise AttributeError(name)
    value = getattr(numpy, name)                 # AttributeError for names NumPy lacks too
    if isinstance(value, numpy.ufunc):
        value = _ufunc(name)
    elif callable(value) and not isinstance(value, type) and getattr(value, "__module__", "") == "numpy":
        value = _routine(value)
    elif isinstance(value, types.ModuleType):
        raise AttributeError(f"the CUDA stand-in does not simulate cupy.{name}")
    globals()[name] = value                      # cache: __getattr__ runs once per name
    return value
