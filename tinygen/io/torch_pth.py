"""Read PyTorch ``.pth`` state dicts into NumPy arrays without importing torch.

A ``torch.save`` file is a pickle in which every tensor is reduced to a call
``torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, ...)`` and every
storage is a *persistent id* ``("storage", storage_type, key, location, numel)`` whose bytes
live outside the pickle. Two containers exist:

* **zip** (torch >= 1.6, the default since): a zip archive ``<name>/data.pkl`` (the pickle),
  ``<name>/data/<key>`` (one raw little-endian storage per file), ``<name>/byteorder``
  (``little``/``big``, absent in old files = little) and ``<name>/version``.
* **legacy** (``_use_new_zipfile_serialization=False``, e.g. torchvision's
  ``vgg19-dcbb9e9d.pth``): five things back to back in one stream —
  pickle(magic number 0x1950a86a20f9469cfc6c), pickle(protocol version 1001),
  pickle(sys info: byte order, type sizes), the main pickle, pickle(list of storage keys),
  then for each key in that order an int64 element count followed by the raw bytes.

We unpickle with a *restricted* Unpickler: ``find_class`` answers only a fixed allow-list
(``collections.OrderedDict``, the ``torch._utils._rebuild_*`` tensor functions, the
``torch.*Storage`` classes, ``torch.storage.UntypedStorage`` and ``torch.<dtype>`` names),
and maps each to a small NumPy replacement defined here. Anything else — ``os.system``,
``builtins.eval``, ``subprocess.Popen`` — raises :class:`UnsafePickleError` before it can be
called, so a malicious file is refused without executing.

Tensors are rebuilt with ``np.lib.stride_tricks.as_strided`` over the storage (offset and
strides in elements) and then copied, so views, transposed (non-contiguous) tensors and
tensors sharing one storage all come back as independent C-contiguous arrays.
"""
from __future__ import annotations

import collections
import io as _io
import os
import pickle
import struct
import zipfile
from typing import Any, Dict, Optional

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


class TorchFileError(ValueError):
    """The file is not a readable PyTorch ``.pth`` file (truncated, corrupt or another format)."""


class UnsafePickleError(TorchFileError):
    """The pickle asks for a global outside the allow-list; nothing was executed."""


# --------------------------------------------------------------------------
# dtypes: storage class names and torch dtype names -> NumPy dtypes
# --------------------------------------------------------------------------

_BFLOAT16 = "bfloat16"   # no NumPy dtype: read as uint16 and widened to float32

_STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "BFloat16Storage": _BFLOAT16, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_, "ComplexFloatStorage": np.complex64,
    "ComplexDoubleStorage": np.complex128,
}

_TORCH_DTYPES = {
    "float64": np.float64, "double": np.float64, "float32": np.float32, "float": np.float32,
    "float16": np.float16, "half": np.float16, "bfloat16": _BFLOAT16,
    "int64": np.int64, "long": np.int64, "int32": np.int32, "int": np.int32,
    "int16": np.int16, "short": np.int16, "int8": np.int8, "uint8": np.uint8,
    "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64, "bool": np.bool_,
    "complex64": np.complex64, "complex128": np.complex128,
}


class _DType:
    """Stands in for ``torch.float32`` & co. inside the pickle."""

    def __init__(self, name):
        self.name = name
        self.np = _TORCH_DTYPES[name]

    def __repr__(self):
        return f"torch.{self.name}"


class _StorageType:
    """Stands in for ``torch.FloatStorage`` & co. (``np`` is None for UntypedStorage: bytes)."""

    def __init__(self, name, dtype):
        self.name = name
        self.np = dtype

    def __repr__(self):
        return f"torch.{self.name}"


_UNTYPED = _StorageType("UntypedStorage", np.uint8)


class _Storage:
    """Raw bytes of one storage plus the element dtype it was saved with."""

    def __init__(self, data: bytes, dtype, key: str):
        self.data = data
        self.dtype = dtype
        self.key = key


def _itemsize(dtype) -> int:
    return 2 if dtype is _BFLOAT16 else np.dtype(dtype).itemsize


def _frombuffer(data: bytes, dtype, big_endian: bool) -> np.ndarray:
    if dtype is _BFLOAT16:
        raw = np.frombuffer(data, dtype=">u2" if big_endian else "<u2").astype(np.uint32)
        return (raw << 16).view(np.float32)       # bfloat16 = the top 16 bits of a float32
    dt = np.dtype(dtype)
    if dt.itemsize > 1:
        dt = dt.newbyteorder(">" if big_endian else "<")
    return np.frombuffer(data, dtype=dt).astype(np.dtype(dtype).newbyteorder("="), copy=False)


# --------------------------------------------------------------------------
# rebuild functions: the NumPy versions of torch._utils._rebuild_*
# --------------------------------------------------------------------------

class _Loader:
    """State shared by one load: storage bytes by key and the byte order."""

    def __init__(self, read_storage, big_endian: bool):
        self.read_storage = read_storage     # (key, storage_type, numel) -> bytes
        self.big_endian = big_endian
        self.storages: Dict[str, _Storage] = {}

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise TorchFileError(f"unsupported persistent id {pid!r} (only tensor storages are known)")
        storage_type, key, _location, numel = pid[1], str(pid[2]), pid[3], pid[4]
        if isinstance(storage_type, _DType):            # dtype given directly
            dtype = storage_type.np
        elif isinstance(storage_type, _StorageType):
            dtype = storage_type.np
        else:
            raise TorchFileError(f"unknown storage type {storage_type!r} in persistent id {pid!r}")
        if key not in self.storages:
            self.storages[key] = _Storage(self.read_storage(key, dtype, int(numel)), dtype, key)
        view = pid[5] if len(pid) > 5 else None
        if view is not None:             # very old legacy files: a storage slice of a root storage
            view_key, offset, view_numel = str(view[0]), int(view[1]), int(view[2])
            if view_key not in self.storages:
                size = _itemsize(dtype)
                root = self.storages[key].data
                self.storages[view_key] = _Storage(root[offset * size:(offset + view_numel) * size],
                                                   dtype, view_key)
            return self.storages[view_key]
        return self.storages[key]

    def rebuild(self, storage, storage_offset, size, stride, dtype=None) -> np.ndarray:
        if not isinstance(storage, _Storage):
            raise TorchFileError(f"tensor rebuilt from {type(storage).__name__}, expected a storage")
        dtype = storage.dtype if dtype is None else dtype
        flat = _frombuffer(storage.data, dtype, self.big_endian)
        size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
        if len(size) != len(stride):
            raise TorchFileError(f"tensor size {size} and stride {stride} have different lengths")
        if any(s < 0 for s in stride) or any(n < 0 for n in size):
            raise TorchFileError(f"negative size {size} or stride {stride} in tensor")
        if 0 in size:
            return np.zeros(size, dtype=flat.dtype)
        last = int(storage_offset) + sum((n - 1) * s for n, s in zip(size, stride))
        if storage_offset < 0 or last >= flat.size:
            raise TorchFileError(f"tensor (offset {storage_offset}, size {size}, stride {stride}) "
                                 f"reaches element {last} of a storage with {flat.size} elements: "
                                 "the file is corrupt")
        base = flat[int(storage_offset):]
        view = np.lib.stride_tricks.as_strided(
            base, shape=size, strides=tuple(s * base.itemsize for s in stride), writeable=False)
        return np.array(view, copy=True, order="C")


def _make_find_class(loader: _Loader):
    def rebuild_tensor(storage, storage_offset, size, stride):
        return loader.rebuild(storage, storage_offset, size, stride)

    def rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                          backward_hooks=None, metadata=None):
        return loader.rebuild(storage, storage_offset, size, stride)

    def rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                          dtype, metadata=None):
        return loader.rebuild(storage, storage_offset, size, stride,
                              dtype=dtype.np if isinstance(dtype, _DType) else None)

    def rebuild_parameter(data, requires_grad=True, backward_hooks=None):
        return data

    def rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
        return data

    allowed = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor"): rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor_v2,
        ("torch._utils", "_rebuild_tensor_v3"): rebuild_tensor_v3,
        ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): rebuild_parameter_with_state,
        ("torch.storage", "UntypedStorage"): _UNTYPED,
        ("torch", "UntypedStorage"): _UNTYPED,
    }
    for name, dtype in _STORAGE_DTYPES.items():
        allowed[("torch", name)] = _StorageType(name, dtype)
    for name in _TORCH_DTYPES:
        allowed[("torch", name)] = _DType(name)

    def find_class(module, name):
        try:
            return allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load global {module}.{name}: a state-dict file only needs tensors, "
                "storages and OrderedDicts, so this file may be malicious (nothing was executed). "
                "Load it with torch.load(..., weights_only=True) if you trust it.") from None
    return find_class


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, loader: _Loader):
        super().__init__(file, encoding="utf-8")
        self._find = _make_find_class(loader)
        self._loader = loader

    def find_class(self, module, name):
        return self._find(module, name)

    def persistent_load(self, pid):
        return self._loader.persistent_load(pid)


def _unpickle(data_or_file, loader: _Loader):
    f = _io.BytesIO(data_or_file) if isinstance(data_or_file, bytes) else data_or_file
    return _Unpickler(f, loader).load()


# --------------------------------------------------------------------------
# the two containers
# --------------------------------------------------------------------------

def _load_zip(path: str):
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
        if not pkl:
            raise TorchFileError(f"{path!r} is a zip file but has no <name>/data.pkl: not a "
                                 "torch.save file (an .npz or other archive?)")
        prefix = pkl[0][: -len("data.pkl")]
        byteorder = "little"
        if prefix + "byteorder" in names:
            byteorder = z.read(prefix + "byteorder").decode("ascii").strip()
        if byteorder not in ("little", "big"):
            raise TorchFileError(f"{path!r}: unknown byteorder {byteorder!r}")

        def read_storage(key, dtype, numel):
            name = f"{prefix}data/{key}"
            if name not in names:
                raise TorchFileError(f"{path!r}: storage {name!r} is missing from the archive")
            data = z.read(name)
            if len(data) < numel * _itemsize(dtype):
                raise TorchFileError(f"{path!r}: storage {key} has {len(data)} bytes, expected "
                                     f"{numel * _itemsize(dtype)}; the file is truncated")
            return data

        loader = _Loader(read_storage, big_endian=(byteorder == "big"))
        return _unpickle(z.read(pkl[0]), loader)


def _load_legacy(path: str):
    with open(path, "rb") as f:
        plain = _Loader(lambda *a: b"", big_endian=False)
        try:
            magic = _unpickle(f, plain)
        except UnsafePickleError:
            raise
        except Exception as e:
            raise TorchFileError(f"{path!r} is not a PyTorch .pth file (neither a zip archive "
                                 f"nor a legacy torch.save stream: {type(e).__name__}: {e})") from None
        if magic != LEGACY_MAGIC:
            raise TorchFileError(f"{path!r} is a pickle but not a torch.save file (first object is "
                                 f"{type(magic).__name__}, not the magic number {LEGACY_MAGIC:#x})")
        try:
            protocol = _unpickle(f, plain)
            if protocol != LEGACY_PROTOCOL:
                raise TorchFileError(f"{path!r}: unsupported legacy protocol version {protocol!r}")
            sys_info = _unpickle(f, plain)
            big_endian = not sys_info.get("little_endian", True)

            # Storages are read after the main pickle: collect them first, fill bytes later.
            pending: Dict[str, Any] = {}

            def read_storage(key, dtype, numel):
                pending[key] = (dtype, numel)
                return b""

            loader = _Loader(read_storage, big_endian=big_endian)
            # Tensors need storage bytes at rebuild time, which come after the pickle in a
            # legacy file: unpickle once to learn the storages, read them, unpickle again.
            start = f.tell()
            _RecordingUnpickler(f, loader).load()
            keys = _unpickle(f, plain)
            blobs = {}
            for key in keys:
                head = f.read(8)
                if len(head) < 8:
                    raise EOFError
                count = struct.unpack(">q" if big_endian else "<q", head)[0]
                dtype = pending.get(str(key), (np.uint8, count))[0]
                nbytes = count * _itemsize(dtype)
                data = f.read(nbytes)
                if len(data) < nbytes:
                    raise EOFError
                blobs[str(key)] = data
            f.seek(start)
            missing = sorted(set(pending) - set(blobs))
            if missing:
                raise TorchFileError(f"{path!r}: storages {missing[:5]} are referenced but not stored")
            final = _Loader(lambda key, dtype, numel: blobs[key], big_endian=big_endian)
            return _unpickle(f, final)
        except (EOFError, pickle.UnpicklingError, struct.error) as e:
            raise TorchFileError(f"{path!r} ends early or is corrupt ({type(e).__name__}: {e}); "
                                 "the file is truncated: download it again") from None


class _RecordingUnpickler(_Unpickler):
    """First pass over a legacy pickle: learn storages without rebuilding tensors."""

    def __init__(self, file, loader):
        super().__init__(file, loader)
        real = self._find

        def find(module, name):
            obj = real(module, name)
            if module == "torch._utils" and callable(obj):
                return lambda *args, **kwargs: None      # tensors are rebuilt in pass two
            return obj
        self._find = find


# --------------------------------------------------------------------------
# public entry point
# --------------------------------------------------------------------------

def load_torch_file(path: str):
    """Unpickle a ``torch.save`` file (zip or legacy) safely; tensors become NumPy arrays."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no .pth file at {path!r}")
    with open(path, "rb") as f:
        head = f.read(4)
    if head == b"PK\x03\x04" and not zipfile.is_zipfile(path):
        raise TorchFileError(f"{path!r} starts like a zip archive but has no central directory: "
                             "the file is truncated (download it again)")
    if zipfile.is_zipfile(path):
        try:
            return _load_zip(path)
        except (zipfile.BadZipFile, EOFError, pickle.UnpicklingError) as e:
            raise TorchFileError(f"{path!r}: corrupt torch zip archive ({type(e).__name__}: {e})") from None
    return _load_legacy(path)


def _is_state_dict(obj) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, np.ndarray) for k, v in obj.items())


def load_torch_state_dict(path: str, key: Optional[str] = None) -> "collections.OrderedDict[str, np.ndarray]":
    """Read a PyTorch state dict file as ``OrderedDict[name -> np.ndarray]`` (torch not needed).

    Args:
        path: a ``.pth``/``.pt`` file written by ``torch.save`` (zip or legacy format).
        key: for checkpoints that wrap the weights, the entry holding them
            (e.g. ``"state_dict"`` or ``"model"``). Without it, a file whose top level is
            not a state dict but holds exactly one nested state dict is unwrapped.
    Returns:
        OrderedDict with the file's key order; arrays keep the saved dtype (float32,
        float16, float64, int64, int32, uint8, bool...; bfloat16 becomes float32) and shape.
        The ``_metadata`` attribute of the saved OrderedDict (module versions) is kept.
    Raises:
        FileNotFoundError, TorchFileError (truncated / not a .pth), UnsafePickleError.
    """
    obj = load_torch_file(path)
    if key is not None:
        if not isinstance(obj, dict) or key not in obj:
            keys = list(obj)[:10] if isinstance(obj, dict) else type(obj).__name__
            raise KeyError(f"{path!r} has no entry {key!r}; top-level keys: {keys}")
        obj = obj[key]
    elif not _is_state_dict(obj) and isinstance(obj, dict):
        nested = [k for k, v in obj.items() if _is_state_dict(v)]
        if len(nested) == 1:
            obj = obj[nested[0]]
        elif len(nested) > 1:
            raise TorchFileError(f"{path!r} holds several state dicts {nested}: pass key=... to pick one")
    if not isinstance(obj, dict):
        raise TorchFileError(f"{path!r} holds a {type(obj).__name__}, not a state dict")
    bad = [k for k, v in obj.items() if not isinstance(v, np.ndarray)]
    if bad:
        raise TorchFileError(f"{path!r}: entries {bad[:5]} are not tensors; pass key=... to select "
                             "the state dict inside this checkpoint")
    out = collections.OrderedDict(obj)
    if hasattr(obj, "_metadata"):
        out._metadata = obj._metadata
    return out
