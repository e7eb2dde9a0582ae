"""The array backend: the only module that imports NumPy or CuPy by name.

tinygen keeps every tensor's data in an *array* from an array module ``xp``:
``numpy`` for the device ``"cpu"`` and ``cupy`` for ``"cuda"`` / ``"cuda:N"``.
Operations never ask "am I on the GPU?"; they ask the arrays they were given
(:func:`get_array_module`) and call the same functions on whichever module
comes back. CuPy is optional: importing tinygen never imports it, and asking
for a CUDA device without it raises :class:`DeviceError` saying why and how
to fix it. ``TINYGEN_SIMULATE_CUDA=1`` puts a strict NumPy-backed stand-in
(:mod:`tinygen._simcuda`) where CuPy would be, so the CUDA code paths run, and
fail where CuPy would, on machines without a GPU; nothing outside this module
knows about it. What each call below maps to in CuPy: ``docs/gpu.md``.

Also here:

* the default device (``set_default_device`` / ``TINYGEN_DEVICE``),
* the host random generator used for parameter initialisation and sampling
  helpers (``manual_seed``), so that CPU and GPU runs with the same seed start
  from identical weights (draw on the host, then move),
* ``device_scope`` (CuPy's current device around kernels and new arrays) and
  ``full`` (a new array on a given device: the one array constructor for code
  that knows the device but holds no array of it),
* ``scatter_add``, the one place where NumPy's and CuPy's spellings differ,
* ``blas_threads``, a best-effort limit on the threads of NumPy's bundled OpenBLAS.
"""
from __future__ import annotations

import contextlib
import math
import os

import numpy

__all__ = [
    "DeviceError", "numpy", "get_array_module", "array_module_for", "device_of",
    "normalize_device", "to_device", "to_host", "get_default_device",
    "set_default_device", "device_scope", "full", "manual_seed", "host_rng", "scatter_add",
    "cuda_is_available", "simulating_cuda", "default_float_dtype", "blas_threads",
    "fused", "fused_kernels_for",
]


class DeviceError(RuntimeError):
    """A device was asked for that cannot be used, or two devices were mixed."""


_CUPY = None          # the cupy module (or the stand-in) once imported
_CUPYX = None         # cupyx (or the stand-in, which also plays cupyx)
_CUPY_ERROR = None    # the ImportError if importing it failed


def simulating_cuda() -> bool:
    """True when ``$TINYGEN_SIMULATE_CUDA`` asks for the NumPy-backed stand-in CUDA device."""
    return os.environ.get("TINYGEN_SIMULATE_CUDA", "").strip().lower() not in ("", "0", "false", "no")


def _cupy():
    """Import CuPy (or, under ``TINYGEN_SIMULATE_CUDA=1``, the stand-in) on first use,
    with an error that says how to get it."""
    global _CUPY, _CUPYX, _CUPY_ERROR
    if _CUPY is None and _CUPY_ERROR is None:
        if simulating_cuda():
            from tinygen import _simcuda  # noqa: PLC0415 (the stand-in is cupy and cupyx at once)
            _CUPY = _CUPYX = _simcuda
            return _CUPY
        try:
            import cupy  # noqa: PLC0415 (optional dependency, imported lazily)
            import cupyx  # noqa: PLC0415
            import cupyx.scipy.special  # noqa: PLC0415, F401 (erf; a subpackage, not loaded by cupyx)
            _CUPY, _CUPYX = cupy, cupyx
        except Exception as exc:  # ImportError, or a broken CUDA install
            _CUPY_ERROR = exc
    if _CUPY is None:
        raise DeviceError(
            f"device 'cuda' needs CuPy, which could not be imported ({_CUPY_ERROR!r}). "
            "Install the GPU extra matching your CUDA version, e.g. "
            "`pip install cupy-cuda12x` (or `pip install tinygen[gpu]`), "
            "or use device='cpu' (or TINYGEN_SIMULATE_CUDA=1 for a stand-in device in tests).")
    return _CUPY


def cuda_is_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device (always, on the stand-in)."""
    try:
        return _cupy().cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def default_float_dtype():
    return numpy.float32


# --------------------------------------------------------------------------
# devices
# --------------------------------------------------------------------------

def normalize_device(device) -> str:
    """``None`` -> default device; ``"cuda"`` -> ``"cuda:0"``; validates the name."""
    if device is None:
        return get_default_device()
    if not isinstance(device, str):
        device = str(device)
    device = device.strip().lower()
    if device == "cpu":
        return "cpu"
    if device == "cuda":
        return "cuda:0"
    if device.startswith("cuda:") and device[5:].isdigit():
        return device
    raise DeviceError(f"unknown device {device!r}: use 'cpu', 'cuda' or 'cuda:N'")


def array_module_for(device):
    """The array module (numpy or cupy) that holds arrays for ``device``."""
    device = normalize_device(device)
    if device == "cpu":
        return numpy
    cp = _cupy()
    index = int(device.split(":")[1])
    try:
        count = cp.cuda.runtime.getDeviceCount()
    except Exception as exc:
        raise DeviceError(f"device {device!r} asked for but CUDA reports no device ({exc}); "
                          "check the driver with `nvidia-smi`, or use device='cpu'") from exc
    if index >= count:
        raise DeviceError(f"device {device!r} asked for but only {count} CUDA device(s) exist")
    return cp


def _is_cupy_array(a) -> bool:
    return _CUPY is not None and isinstance(a, _CUPY.ndarray)


def get_array_module(*xs):
    """The array module of the given arrays or tensors: cupy if any lives on a GPU."""
    for x in xs:
        # A cupy array is checked before a Tensor's array (``_data``; a cupy array's own
        # ``.data`` is a MemoryPointer).
        if _is_cupy_array(x) or _is_cupy_array(getattr(x, "_data", None)):
            return _CUPY
    return numpy


def device_of(array) -> str:
    """``"cpu"`` for NumPy arrays and scalars, ``"cuda:N"`` for CuPy arrays."""
    if _is_cupy_array(array):
        return f"cuda:{array.device.id}"
    return "cpu"


def to_device(array, device):
    """Return ``array`` on ``device`` (the same object when already there).

    host -> GPU is ``cupy.asarray`` under the target device; GPU -> host is
    ``cupy.asnumpy``; GPU i -> GPU j goes through the host, because
    ``cupy.asarray`` returns an array of another GPU unchanged and a direct
    device-to-device copy needs peer access, which not every machine has.
    """
    device = normalize_device(device)
    source = device_of(array)
    if source == device:
        return array
    if device == "cpu":
        return _CUPY.asnumpy(array)
    cp = array_module_for(device)
    if source != "cpu":
        array = cp.asnumpy(array)
    with cp.cuda.Device(_index(device)):
        return cp.asarray(array)


def _index(device: str) -> int:
    """``"cuda:N"`` -> N."""
    return int(device.split(":")[1])


_NO_SCOPE = contextlib.nullcontext()


def device_scope(where):
    """``with device_scope(x):`` -- make ``x``'s device CuPy's current device.

    ``where`` is an array, a Tensor or a device name. CuPy runs every kernel,
    and allocates every new array, on the *current* device, and refuses arrays
    of another device (no peer access); so anything that computes on arrays of
    ``cuda:1``, or makes new arrays for it, runs inside this scope.
    ``Function.__call__`` wraps every ``forward`` in it. On the CPU it does nothing.
    """
    if type(where) is numpy.ndarray:           # the hot path: host arrays, no cost
        return _NO_SCOPE
    if isinstance(where, str):
        device = normalize_device(where)
        return _NO_SCOPE if device == "cpu" else array_module_for(device).cuda.Device(_index(device))
    array = getattr(where, "_data", where) if not _is_cupy_array(where) else where
    if _is_cupy_array(array):
        return _CUPY.cuda.Device(array.device.id)
    return _NO_SCOPE


def full(shape, fill_value, dtype=None, device=None):
    """A new array of ``shape`` filled with ``fill_value``, on ``device`` (default: the default device).

    The one array constructor for code that knows a device but holds no array
    of it (layers' parameters and buffers): ``xp.full`` under the right
    :func:`device_scope`, so ``cuda:1`` gets its array on GPU 1.
    """
    device = normalize_device(device)
    xp = array_module_for(device)
    with device_scope(device):
        return xp.full(shape, fill_value, dtype=default_float_dtype() if dtype is None else dtype)


def to_host(array):
    """A NumPy copy-or-view of any backend array (for saving, printing, metrics).

    ``cupy.asnumpy`` for a GPU array (also one made by CuPy before tinygen imported it);
    ``numpy.asarray`` for host data.
    """
    if _is_cupy_array(array):
        return _CUPY.asnumpy(array)
    if type(array).__module__.startswith("cupy") and hasattr(array, "get"):
        return array.get()
    return numpy.asarray(array)


_DEFAULT_DEVICE = None


def get_default_device() -> str:
    """The device new tensors go to: set in code, else ``$TINYGEN_DEVICE``, else cpu."""
    if _DEFAULT_DEVICE is not None:
        return _DEFAULT_DEVICE
    env = os.environ.get("TINYGEN_DEVICE")
    return normalize_device(env) if env else "cpu"


def set_default_device(device) -> None:
    """Set the device for new tensors and modules (``None`` goes back to the env/cpu)."""
    global _DEFAULT_DEVICE
    if device is None:
        _DEFAULT_DEVICE = None
        return
    device = normalize_device(device)
    array_module_for(device)   # fail now, with the clear error, if it is unusable
    _DEFAULT_DEVICE = device


# --------------------------------------------------------------------------
# randomness: one seeded host generator
# --------------------------------------------------------------------------

_HOST_RNG = numpy.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Seed the host generator used for initialisation and random tensors."""
    global _HOST_RNG
    _HOST_RNG = numpy.random.default_rng(seed)


def host_rng() -> numpy.random.Generator:
    """The seeded host ``numpy.random.Generator`` (draw on the host, then move)."""
    return _HOST_RNG


def get_rng_state() -> dict:
    return _HOST_RNG.bit_generator.state


def set_rng_state(state: dict) -> None:
    _HOST_RNG.bit_generator.state = state


# --------------------------------------------------------------------------
# array helpers whose spelling differs between numpy and cupy
# --------------------------------------------------------------------------

def scatter_add(target, index, values) -> None:
    """In place: ``target[index] += values``, accumulating repeated indices.

    ``numpy.add.at`` on the host, ``cupyx.scatter_add`` on a GPU (``target[index] += values``
    would keep only one of the repeated indices' contributions on both).
    """
    if _is_cupy_array(target):
        with device_scope(target):
            _CUPYX.scatter_add(target, index, values)
    else:
        numpy.add.at(target, index, values)


def erf(x):
    """erf of every entry: Python's correctly rounded ``math.erf`` on the host (NumPy has no
    erf), ``cupyx.scipy.special.erf`` on a GPU (a CUDA kernel: no copy to the host and back)."""
    if _is_cupy_array(x):
        with device_scope(x):
            return _CUPYX.scipy.special.erf(x)
    return numpy.asarray(numpy.frompyfunc(math.erf, 1, 1)(x), dtype=x.dtype)


# --------------------------------------------------------------------------
# fused element-wise kernels (a real GPU only)
# --------------------------------------------------------------------------

_FUSED: dict = {}


def fused_kernels_for(array) -> bool:
    """True when ``array`` lives on a real CuPy GPU, where :func:`fused` pays: one kernel
    launch instead of one per operation. False on the host and on the stand-in device, which
    run the plain (readable) code."""
    return _is_cupy_array(array) and not simulating_cuda()


def fused(fn):
    """``cupy.fuse(fn)`` (one CUDA kernel for an element-wise function of arrays and
    scalars), compiled once per function; ``fn`` itself where there is no real CuPy, so the
    same Python function runs with NumPy on the stand-in and is tested there."""
    if _CUPY is None or simulating_cuda():
        return fn
    if fn not in _FUSED:
        _FUSED[fn] = _CUPY.fuse()(fn)
    return _FUSED[fn]


# --------------------------------------------------------------------------
# host BLAS threads
# --------------------------------------------------------------------------

@contextlib.contextmanager
def blas_threads(n: int = 1):
    """``with blas_threads(1): ...`` -- run the block with NumPy's OpenBLAS on ``n`` threads.

    Why: small models (the 2-D demo's matrices are 256 x 128) gain nothing from extra BLAS
    threads, and on a busy 2-core machine those threads spend most of their time waiting for
    cores (measured: a 2-layer MLP step took 358 ms with the default threads, 40 ms with one).

    How: NumPy's wheels bundle OpenBLAS as ``numpy.libs/libscipy_openblas*.so``, which exports
    ``scipy_openblas_{get,set}_num_threads64_`` (older builds: ``openblas_*``). We read the
    current count, set ``n``, and restore the old count on exit. Best effort, never an error:
    if ``OPENBLAS_NUM_THREADS`` is set (the user chose), or the library or either symbol is
    missing (MKL, Accelerate, a system BLAS), the block simply runs unchanged. Yields whether
    the count was changed. CuPy arrays are unaffected (cuBLAS has no such threads).
    """
    get, set_ = (None, None) if os.environ.get("OPENBLAS_NUM_THREADS") else _openblas_threads_api()
    if set_ is None:
        yield False
        return
    old = get()
    set_(n)
    try:
        yield True
    finally:
        set_(old)


def _openblas_threads_api():
    """(get_num_threads, set_num_threads) of NumPy's bundled OpenBLAS, or (None, None)."""
    import ctypes
    import glob
    libdir = os.path.join(os.path.dirname(os.path.dirname(numpy.__file__)), "numpy.libs")
    for path in glob.glob(os.path.join(libdir, "*openblas*")):
        try:
            lib = ctypes.CDLL(path)                 # already loaded by NumPy: same handle
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""),
                               ("openblas", "64_"), ("openblas", "")):
            get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
            if get is not None and set_ is not None:
                get.restype, get.argtypes = ctypes.c_int, []
                set_.restype, set_.argtypes = None, [ctypes.c_int]
                return get, set_
    return None, None
