"""Write PyTorch ``.pth`` files without importing torch, and ``tinygen.save`` / ``tinygen.load``.

The file is what ``torch.save`` writes since PyTorch 1.6 (the reader's docstring,
:mod:`tinygen.io.torch_pth`, describes the format): a zip archive, stored uncompressed, with

    archive/data.pkl              the object, pickled (protocol 2) with every tensor reduced to
                                  torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
                                  requires_grad, OrderedDict()) and every storage a persistent id
                                  ("storage", torch.FloatStorage, key, "cpu", numel)
    archive/.format_version       "1"
    archive/.storage_alignment    "64"
    archive/byteorder             "little"
    archive/data/<key>            the raw little-endian bytes of storage <key> (one per tensor)
    archive/version               "3"

So ``torch.load(path, weights_only=True)`` reads it: it only uses globals on PyTorch's allow-list
(``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2`` / ``_rebuild_parameter``, the
storage classes). The torch names are written as GLOBAL opcodes by name (:class:`_TorchName`),
so torch is never imported.
"""
from __future__ import annotations

import collections
import io as _io
import os
import pickle
import tempfile
import zipfile

import numpy as np

from tinygen.autograd import Tensor
from tinygen.creation import tensor as _tensor
from tinygen.io.files import atomic_path
from tinygen.io.torch_pth import load_torch_file

__all__ = ["save", "load", "save_torch_file"]

# NumPy dtype -> the storage class torch.save names for it
_STORAGE_OF = {np.dtype(np.float32): "FloatStorage", np.dtype(np.float64): "DoubleStorage",
               np.dtype(np.float16): "HalfStorage", np.dtype(np.int64): "LongStorage",
               np.dtype(np.int32): "IntStorage", np.dtype(np.int16): "ShortStorage",
               np.dtype(np.int8): "CharStorage", np.dtype(np.uint8): "ByteStorage",
               np.dtype(np.bool_): "BoolStorage"}


class _TorchName:
    """A global of torch's namespace (``torch._utils._rebuild_tensor_v2``), pickled by name."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __reduce__(self):
        return self.name            # a string: the pickler calls save_global(self, name)

    def __call__(self, *args):      # save_reduce insists on a callable
        raise TypeError(f"{self.module}.{self.name} is a name in a torch file, not callable here")


_REBUILD_TENSOR = _TorchName("torch._utils", "_rebuild_tensor_v2")
_REBUILD_PARAMETER = _TorchName("torch._utils", "_rebuild_parameter")
_STORAGE_CLASS = {dt: _TorchName("torch", name) for dt, name in _STORAGE_OF.items()}


class _Storage:
    """One tensor's bytes, written to ``data/<key>`` and referenced by a persistent id."""

    def __init__(self, key: str, array: np.ndarray):
        self.key, self.array = key, array


class _Pickler(pickle._Pickler):
    """The pure-Python pickler (the C one cannot write a GLOBAL for an object it cannot
    import), turning tensors and arrays into torch's rebuild calls."""

    def __init__(self, file):
        super().__init__(file, protocol=2)
        self.storages = []

    def save_global(self, obj, name=None):
        if isinstance(obj, _TorchName):
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode("utf-8"))
            self.memoize(obj)
            return
        super().save_global(obj, name)

    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", _STORAGE_CLASS[obj.array.dtype], obj.key, "cpu", obj.array.size)
        return None

    def reducer_override(self, obj):
        if isinstance(obj, Tensor):
            rebuilt = self._tensor(obj.numpy() if obj.device == "cpu" else obj.cpu().numpy(),
                                   obj.requires_grad and obj.grad_fn is None)
            if type(obj).__name__ == "Parameter":
                return _REBUILD_PARAMETER, (_Reduced(rebuilt), obj.requires_grad,
                                            collections.OrderedDict())
            return rebuilt
        if isinstance(obj, np.ndarray) and obj.dtype in _STORAGE_OF:
            return self._tensor(obj, False)
        if isinstance(obj, _Reduced):
            return obj.reduction
        return NotImplemented

    def _tensor(self, array, requires_grad):
        if array.dtype not in _STORAGE_OF:
            raise TypeError(f"tinygen.save: no torch storage type for dtype {array.dtype}")
        a = np.array(array, dtype=array.dtype.newbyteorder("<"), order="C")   # 0-d stays 0-d
        storage = _Storage(str(len(self.storages)), a)
        self.storages.append(storage)
        stride = tuple(s // a.itemsize for s in a.strides) if a.size else (1,) * a.ndim
        return _REBUILD_TENSOR, (storage, 0, tuple(a.shape), stride, bool(requires_grad),
                                 collections.OrderedDict())


class _Reduced:
    """Carries a ready reduction (the tensor inside a Parameter) through the pickler."""

    def __init__(self, reduction):
        self.reduction = reduction


def _write_archive(obj, file) -> None:
    body = _io.BytesIO()
    pickler = _Pickler(body)
    pickler.dump(obj)
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", body.getvalue())
        z.writestr("archive/.format_version", "1")
        z.writestr("archive/.storage_alignment", "64")
        z.writestr("archive/byteorder", "little")
        for s in pickler.storages:
            z.writestr(f"archive/data/{s.key}", s.array.tobytes())
        z.writestr("archive/version", "3\n")


def save_torch_file(obj, f) -> None:
    """Write ``obj`` (tensors, arrays, numbers, strings, dicts, lists...) as a torch zip file.

    ``f`` is a path (written atomically: a temporary file, then renamed) or a binary file object.
    """
    if isinstance(f, (str, os.PathLike)):
        with atomic_path(os.fspath(f)) as tmp:
            with open(tmp, "wb") as out:
                _write_archive(obj, out)
    else:
        _write_archive(obj, f)


save = save_torch_file


def _to_tensors(obj, device):
    """Arrays -> Tensors (on ``device``), through dicts (OrderedDict kept), lists and tuples."""
    if isinstance(obj, np.ndarray):
        return _tensor(obj, device=device)
    if isinstance(obj, dict):
        out = type(obj)((k, _to_tensors(v, device)) for k, v in obj.items())
        if hasattr(obj, "_metadata"):
            out._metadata = obj._metadata
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_tensors(v, device) for v in obj)
    return obj


def load(f, map_location=None, weights_only=None, mmap=None, **pickle_load_args):
    """Read a ``torch.save`` file (zip or legacy) as tinygen Tensors (PyTorch's ``torch.load``).

    Always the safe reader: like ``weights_only=True``, only tensors, numbers, strings and
    containers are rebuilt, and any other global in the pickle is refused unexecuted.
    ``map_location``: None or 'cpu' (CPU tensors) or a device such as 'cuda'.
    """
    device = "cpu" if map_location is None or callable(map_location) or \
        isinstance(map_location, dict) else str(map_location)
    if isinstance(f, (str, os.PathLike)):
        return _to_tensors(load_torch_file(os.fspath(f)), device)
    with tempfile.TemporaryDirectory() as tmp:        # the reader takes a path
        path = os.path.join(tmp, "file.pth")
        with open(path, "wb") as out:
            out.write(f.read())
        return _to_tensors(load_torch_file(path), device)
