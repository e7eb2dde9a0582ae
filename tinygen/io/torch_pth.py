"""Read PyTorch ``.pth`` files into NumPy arrays without importing torch, and without trusting them.

The two containers ``torch.save`` writes
-----------------------------------------
A ``torch.save`` file is a pickle (see :mod:`tinygen.io.safe_pickle` for how pickles work) in
which every tensor is a call ``torch._utils._rebuild_tensor_v2(storage, storage_offset, size,
stride, requires_grad, hooks)`` and every storage is a *persistent id*
``("storage", storage_type, key, location, numel)``: the storage's bytes live outside the pickle,
under ``key``, and several tensors (views, a tensor and its transpose) may share one storage.

* **zip** (torch >= 1.6, the default since): a zip archive whose entries sit in one folder,
  ``<name>/data.pkl`` (the pickle), ``<name>/data/<key>`` (each storage's raw bytes, stored
  uncompressed), ``<name>/byteorder`` (``little``/``big``; absent in old files = little) and
  ``<name>/version``.
* **TorchScript** (``torch.jit.save``): the same zip layout plus ``constants.pkl`` and a
  ``code/`` folder (the program, Python-like source). Its ``data.pkl`` pickles the module tree:
  each module is an object of a class ``__torch__.<path>.<Name>`` (``NEWOBJ`` with no
  arguments), whose attributes -- child modules, tensors, numbers -- come in one ``BUILD``
  dict. :func:`load_torchscript_state_dict` reads exactly that: the classes become inert
  :class:`ScriptModule` records, every tensor attribute is collected under its dotted path
  (``net.layers.conv.weight``), and ``code/`` is never read, let alone run. An object that
  needs its class's code to rebuild (a custom ``__setstate__``: its BUILD state is not a dict
  of attributes) is refused with a message that says so.
* **legacy** (``_use_new_zipfile_serialization=False``; torchvision's ``vgg19-dcbb9e9d.pth``):
  five pickles back to back — magic number ``0x1950a86a20f9469cfc6c``, protocol version
  ``1001``, system info (byte order, type sizes), the main pickle, the list of storage keys —
  then for each key in that order an int64 element count followed by the raw bytes. The bytes
  come after the pickle, so the reader runs the main pickle twice: once to learn the storages
  (tensors are stand-ins), then, with the bytes found, to build the tensors.

What is accepted: exactly torch.load(weights_only=True)'s allow-list
------------------------------------------------------------------
The pickle runs on :class:`~tinygen.io.safe_pickle.SafeUnpickler`, which imports nothing: each
global it meets is looked up in :data:`ALLOWED_GLOBALS`, the names PyTorch's own
``torch/_weights_only_unpickler.py`` allows, each mapped to a small NumPy-side stand-in:
``collections.OrderedDict``/``Counter``, ``builtins.set``/``bytearray``/``complex``,
``_codecs.encode`` (how protocol 2 writes ``bytes``), ``torch.Size`` (a tuple), ``torch.device``
(a string such as ``"cuda:1"``), the ``torch.<dtype>`` names, the ``torch.*Storage`` classes and the
``torch._utils._rebuild_*`` functions. Tensors become NumPy arrays. Two deliberate departures,
both pure data: ``builtins.frozenset`` is accepted, and so are the data opcodes of pickle
protocols 3-5 (``torch.save(..., pickle_protocol=4)``), which torch's reader refuses.

Refusals say which of three things a file is:

* a *legitimate kind of tensor tinygen cannot represent* (quantized, sparse, nested, meta,
  float8...): torch reads it, tinygen says "not supported by tinygen's reader" and what to
  convert it to in PyTorch;
* *not a state dict*: a whole pickled ``nn.Module`` (``torch.save(model)``), a TorchScript
  archive, a user's class: torch.load(weights_only=True) refuses these too; the message says
  how to save a state dict instead;
* *unsafe*: a global that runs code or reaches the system (``os.system``, ``builtins.eval``,
  ``subprocess.Popen``...): :class:`UnsafePickleError`, "may be malicious".

In every case nothing from the file was executed, and every malformed file — truncated,
flipped bytes, a corrupt zip — raises :class:`TorchFileError` naming the file and the problem.

Memory: never more than the file holds
---------------------------------------
* Each storage's byte count (``numel`` x item size, from the pickle) is checked against its zip
  record's size, or the bytes left in a legacy file, before anything is read; a compressed zip
  record may not claim more than deflate's maximum ratio (1032:1) of its compressed size.
* Tensors are ``np.lib.stride_tricks.as_strided`` views over their storage (offset and strides
  in elements), after checking that every element they reach lies inside it. A tensor is then
  copied into its own C-contiguous, writable array — so views, transposes and shared storages
  come back independent, as before — as long as the copies made from one storage stay within
  :data:`COPY_LIMIT` times its size. Beyond that (a stride-0 ``expand`` of one element to
  16384 x 16384, a storage shared by thousands of tensors) the tensor stays a **read-only view**
  of the storage, as torch itself returns a view: a 1-KiB file cannot make the reader allocate
  a gigabyte.
"""
from __future__ import annotations

import codecs
import collections
import math
import mmap
import os
import reprlib
import struct
import zipfile
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from tinygen.io.safe_pickle import PickleError, SafeUnpickler, _a, globals_in

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
COPY_LIMIT = 4            # copies from one storage may total this many times its bytes
_DEFLATE_MAX_RATIO = 1032  # deflate never expands more than this (RFC 1951's longest match)

_short = reprlib.Repr()
_short.maxstring, _short.maxother, _short.maxlist, _short.maxdict = 60, 60, 12, 12


def _show(obj) -> str:
    """A short repr for messages (file contents can be huge, or ints too long to print)."""
    try:
        return _short.repr(obj)
    except Exception:  # noqa: BLE001 -- e.g. ValueError for an int of more than 4300 digits
        return f"<{type(obj).__name__}>"


class TorchFileError(PickleError):
    """The file is not a PyTorch file tinygen can read (truncated, corrupt, another format, or a
    kind of tensor tinygen does not support); the message says which. A ``ValueError``."""


class UnsafePickleError(TorchFileError):
    """The pickle asks for a global that could run code; nothing was executed."""


class TorchKeyError(TorchFileError, KeyError):
    """``key=`` names an entry the file does not have (a ``KeyError`` and a ``TorchFileError``)."""

    def __str__(self):                  # KeyError would print the message in quotes
        return str(self.args[0])


def _unsupported(what: str, advice: str) -> TorchFileError:
    return TorchFileError(f"{what} is not supported by tinygen's reader (torch reads it, but "
                          f"NumPy has no such array); {advice}")


# --------------------------------------------------------------------------
# dtypes: torch names -> NumPy dtypes
# --------------------------------------------------------------------------

_BFLOAT16 = "bfloat16"   # no NumPy dtype: read as uint16 and widened to float32


class TorchDType:
    """Stands in for ``torch.float32`` & co.; ``np`` is None for dtypes NumPy lacks (float8...)."""

    def __init__(self, name: str, np_dtype, itemsize: int):
        self.name, self.np, self.itemsize = name, np_dtype, itemsize

    def __repr__(self):
        return f"torch.{self.name}"

    __str__ = __repr__


def _dtypes():
    table = {}
    for names, np_dtype in [(("float64", "double"), np.float64), (("float32", "float"), np.float32),
                            (("float16", "half"), np.float16), (("bfloat16",), _BFLOAT16),
                            (("int64", "long"), np.int64), (("int32", "int"), np.int32),
                            (("int16", "short"), np.int16), (("int8",), np.int8),
                            (("uint8",), np.uint8), (("uint16",), np.uint16),
                            (("uint32",), np.uint32), (("uint64",), np.uint64),
                            (("bool",), np.bool_), (("complex64", "cfloat"), np.complex64),
                            (("complex128", "cdouble"), np.complex128)]:
        size = 2 if np_dtype is _BFLOAT16 else np.dtype(np_dtype).itemsize
        for name in names:
            table[name] = TorchDType(name, np_dtype, size)
    # torch dtypes NumPy cannot hold; the item size is still needed to check storage sizes
    others = {"qint8": 1, "quint8": 1, "qint32": 4, "quint4x2": 1, "quint2x4": 1,
              "float8_e4m3fn": 1, "float8_e4m3fnuz": 1, "float8_e5m2": 1, "float8_e5m2fnuz": 1,
              "float8_e8m0fnu": 1, "float4_e2m1fn_x2": 1, "complex32": 4, "chalf": 4,
              "bits8": 1, "bits16": 2, "bits1x8": 1, "bits2x4": 1, "bits4x2": 1}
    others.update({f"{kind}{bits}": 1 for kind in ("uint", "int") for bits in range(1, 8)})
    for name, size in others.items():
        table[name] = TorchDType(name, None, size)
    return table


DTYPES: Dict[str, TorchDType] = _dtypes()


class _StorageType:
    """Stands in for ``torch.FloatStorage`` & co. (UntypedStorage holds bytes: uint8)."""

    def __init__(self, name: str, dtype: TorchDType):
        self.name, self.dtype = name, dtype

    def __repr__(self):
        return f"torch.{self.name}"


_STORAGE_DTYPES = {
    "Double": "float64", "Float": "float32", "Half": "float16", "BFloat16": "bfloat16",
    "Long": "int64", "Int": "int32", "Short": "int16", "Char": "int8", "Byte": "uint8",
    "Bool": "bool", "ComplexFloat": "complex64", "ComplexDouble": "complex128",
    "QInt8": "qint8", "QUInt8": "quint8", "QInt32": "qint32", "QUInt4x2": "quint4x2",
    "QUInt2x4": "quint2x4",
}


def _frombuffer(data: bytes, dtype: TorchDType, big_endian: bool) -> np.ndarray:
    """The storage bytes as a 1-D array of ``dtype`` (a view of ``data`` when no conversion)."""
    count = len(data) // dtype.itemsize
    if dtype.np is _BFLOAT16:
        raw = np.frombuffer(data, dtype=">u2" if big_endian else "<u2", count=count)
        return (raw.astype(np.uint32) << 16).view(np.float32)   # bfloat16 = a float32's top half
    dt = np.dtype(dtype.np)
    if dt.itemsize > 1:
        dt = dt.newbyteorder(">" if big_endian else "<")
    return np.frombuffer(data, dtype=dt, count=count).astype(
        np.dtype(dtype.np).newbyteorder("="), copy=False)


# --------------------------------------------------------------------------
# storages and tensors
# --------------------------------------------------------------------------

def _int(x, what: str, low: int = 0) -> int:
    if not isinstance(x, int) or not low <= x < 2 ** 62:
        shown = _a(x) if not isinstance(x, int) else ("a negative number" if x < low
                                                      else "a number above 2**62")
        raise TorchFileError(f"{what} is {shown}: the file is corrupt")
    return int(x)


def _ints(seq, what: str) -> Tuple[int, ...]:
    if not isinstance(seq, (tuple, list)) or len(seq) > 32:
        raise TorchFileError(f"tensor {what} is {_show(seq)}, not a tuple of at most 32 "
                             "numbers: the file is corrupt")
    return tuple(_int(n, f"a tensor {what} entry") for n in seq)


class _Storage:
    """One storage: its element type and count, and its bytes, read when first needed.

    ``read()`` returns the bytes (None on the legacy format's first pass, when they are not
    known yet: tensors are then zero-size stand-ins of the right shape). ``copied`` counts the
    bytes copied out of it so far (see COPY_LIMIT)."""

    def __init__(self, key: str, dtype: TorchDType, numel: int,
                 read: Callable[[], Optional[bytes]], big_endian: bool):
        self.key, self.dtype, self.numel = key, dtype, numel
        self.nbytes = numel * dtype.itemsize
        self.read, self.big_endian = read, big_endian
        self.arrays: Dict[str, np.ndarray] = {}      # dtype name -> the bytes as a 1-D array
        self.copied = 0

    def array(self, dtype: TorchDType) -> Optional[np.ndarray]:
        if dtype.name not in self.arrays:
            data = self.read()
            if data is None:
                return None
            self.arrays[dtype.name] = _frombuffer(data, dtype, self.big_endian)
        return self.arrays[dtype.name]

    def tensor(self, offset, size, stride, dtype: Optional[TorchDType] = None) -> np.ndarray:
        dtype = self.dtype if dtype is None else dtype
        if dtype.np is None:
            advice = ("in PyTorch save t.dequantize()" if dtype.name.startswith(("q", "quint"))
                      else "in PyTorch save t.float() (or t.view(torch.uint8) for the raw bytes)")
            raise _unsupported(f"a tensor of dtype torch.{dtype.name}", advice)
        offset = _int(offset, "a tensor's storage offset")
        size, stride = _ints(size, "size"), _ints(stride, "stride")
        if len(size) != len(stride):
            raise TorchFileError(f"tensor size {size} and stride {stride} have different lengths: "
                                 "the file is corrupt")
        if math.prod(n for n in size if n) > 2 ** 56:     # NumPy's limit, even for empty shapes
            raise TorchFileError(f"tensor size {size} has more than 2**56 elements: the file is corrupt")
        shape_dtype = np.float32 if dtype.np is _BFLOAT16 else dtype.np
        if 0 in size:
            return np.zeros(size, dtype=shape_dtype)
        count = self.nbytes // dtype.itemsize
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= count:
            raise TorchFileError(f"a tensor (offset {offset}, size {size}, stride {stride}) reaches "
                                 f"element {last} of storage {self.key!r}, which holds {count} "
                                 f"torch.{dtype.name} elements: the file is corrupt")
        flat = self.array(dtype)
        if flat is None:                            # legacy first pass: shape only, no memory
            return np.broadcast_to(np.zeros((), shape_dtype), size)
        view = np.lib.stride_tricks.as_strided(
            flat[offset:], shape=size, strides=tuple(s * flat.itemsize for s in stride),
            writeable=False)
        need = view.size * flat.itemsize
        if self.copied + need > COPY_LIMIT * max(flat.nbytes, 1):
            return view                             # stride 0 / expand / much shared: a view
        self.copied += need
        return np.array(view, order="C")


# --------------------------------------------------------------------------
# the allow-list: torch's globals and their NumPy-side stand-ins
# --------------------------------------------------------------------------

def _rebuild_tensor(storage, storage_offset, size, stride):
    if not isinstance(storage, _Storage):
        raise TorchFileError(f"a tensor is rebuilt from {_a(storage)}, not a storage: "
                             "the file is corrupt")
    return storage.tensor(storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    return _rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                       dtype, metadata=None):
    """torch >= 2.1 for dtypes without a legacy Storage class: bytes + a dtype (uint16...)."""
    if not isinstance(storage, _Storage) or not isinstance(dtype, TorchDType):
        raise TorchFileError("_rebuild_tensor_v3 needs a storage and a dtype: the file is corrupt")
    return storage.tensor(storage_offset, size, stride, dtype)


def _as_tensor(data, what: str):
    if not isinstance(data, np.ndarray):
        raise TorchFileError(f"{what} wraps {_a(data)}, not a tensor: the file is corrupt")
    return data


def _rebuild_parameter(data, requires_grad=True, backward_hooks=None):
    return _as_tensor(data, "an nn.Parameter")


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    return _as_tensor(data, "an nn.Parameter")


def _parameter(data=None, requires_grad=True):
    """``torch.nn.Parameter(data)`` built by NEWOBJ: the tensor itself."""
    return np.zeros(0, np.float32) if data is None else _as_tensor(data, "an nn.Parameter")


def _rebuild_device_tensor_from_cpu_tensor(data, dtype, device, requires_grad):
    return _as_tensor(data, "a device tensor")


class _TensorClass:
    """Stands in for ``torch.Tensor`` / ``torch.nn.Parameter`` as *types* (``_rebuild_from_type_v2``)
    and for the legacy ``torch.FloatTensor``-style classes, which only very old pickles call."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, *args):
        raise _unsupported(f"a {self.name} object built directly (pre-0.4 PyTorch pickling)",
                           "in a current PyTorch, load it and save it again with torch.save")

    def __repr__(self):
        return self.name


_TENSOR, _PARAMETER = _TensorClass("torch.Tensor"), _TensorClass("torch.nn.parameter.Parameter")


def _rebuild_from_type_v2(func, new_type, args, state):
    """A tensor with Python attributes or of a subclass: ``func(*args)``, then its type."""
    if not any(func is f for f in _REBUILDERS) or type(args) is not tuple:
        raise TorchFileError("_rebuild_from_type_v2 needs a rebuild function and a tuple: "
                             "the file is corrupt")
    tensor = func(*args)
    if new_type is not _TENSOR and new_type is not _PARAMETER:
        raise _unsupported(f"a tensor subclass ({_show(new_type)})",
                           "in PyTorch save t.as_subclass(torch.Tensor)")
    return tensor


def _not_supported(what: str, advice: str):
    def rebuild(*args, **kwargs):
        raise _unsupported(what, advice)
    return rebuild


class _Marker:
    """A torch constant that only unsupported rebuild functions use (layouts, qschemes)."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self):
        return self.name


def _get_layout(name):
    if not isinstance(name, str):
        raise TorchFileError("torch.serialization._get_layout needs a name: the file is corrupt")
    return _Marker(name)


def _size(dims=()):
    """``torch.Size([2, 3])`` -> ``(2, 3)``."""
    return _ints(dims, "torch.Size")


def _device(kind, index=None):
    """``torch.device("cuda", 1)`` -> ``"cuda:1"`` (tinygen names devices by such strings)."""
    if not isinstance(kind, str) or not (index is None or isinstance(index, int)):
        raise TorchFileError(f"torch.device({_show(kind)}, {_show(index)}) is not a "
                             "device: the file is corrupt")
    return kind if index is None else f"{kind}:{index}"


def _encode(text, encoding="utf-8"):
    """``_codecs.encode(text, "latin1")``: how pickle protocol 2 writes a ``bytes`` object."""
    if not isinstance(text, str) or not isinstance(encoding, str):
        raise TorchFileError("_codecs.encode needs a string and an encoding: the file is corrupt")
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        name = None
    if name not in ("iso8859-1", "utf-8", "ascii"):
        raise TorchFileError(f"_codecs.encode with encoding {_show(encoding)}: pickle writes "
                             "bytes only as latin1, so the file is corrupt")
    return text.encode(name)


def _bytearray(source=b"", encoding=None):
    """``bytearray(b"...")`` or ``bytearray("...", "latin-1")``, never ``bytearray(n)``."""
    if isinstance(source, str) and encoding is not None:
        source = _encode(source, encoding)
    if not isinstance(source, (bytes, bytearray)):
        raise TorchFileError(f"bytearray of {_a(source)}: pickle writes a bytearray "
                             "from its bytes, so the file is corrupt")
    return bytearray(source)


_REBUILDERS = {_rebuild_tensor, _rebuild_tensor_v2, _rebuild_tensor_v3, _rebuild_parameter,
               _rebuild_parameter_with_state, _rebuild_device_tensor_from_cpu_tensor}


def _allowed_globals() -> Dict[str, Any]:
    rc: Dict[str, Any] = {
        "collections.OrderedDict": collections.OrderedDict,
        "collections.Counter": collections.Counter,
        "builtins.set": set,
        "builtins.frozenset": frozenset,            # not in torch's list (see the module doc)
        "builtins.complex": complex,
        "builtins.bytearray": _bytearray,
        "_codecs.encode": _encode,
        "torch.Size": _size,
        "torch.device": _device,
        "torch.Tensor": _TENSOR,
        "torch.nn.parameter.Parameter": _parameter,
        "torch.serialization._get_layout": _get_layout,
        "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
    }
    for f in _REBUILDERS:
        rc[f"torch._utils.{f.__name__}"] = f
    unsupported = {
        "_rebuild_qtensor": ("a quantized tensor", "in PyTorch save t.dequantize()"),
        "_rebuild_sparse_tensor": ("a sparse tensor", "in PyTorch save t.to_dense()"),
        "_rebuild_nested_tensor": ("a nested tensor", "in PyTorch save t.unbind() as a list"),
        "_rebuild_meta_tensor_no_storage": ("a meta tensor (a shape with no data)",
                                            "save the tensor from a real device"),
        "_rebuild_wrapper_subclass": ("a tensor subclass (DTensor, FakeTensor...)",
                                      "in PyTorch save a plain tensor (t.full_tensor() for a DTensor)"),
        "_rebuild_device_tensor_from_numpy": ("a tensor saved through NumPy (XLA/MPS)",
                                              "in PyTorch save t.cpu()"),
    }
    for name, (what, advice) in unsupported.items():
        rc[f"torch._utils.{name}"] = _not_supported(what, advice)
    for name, dtype in DTYPES.items():
        rc[f"torch.{name}"] = dtype
    for prefix, name in _STORAGE_DTYPES.items():
        storage_type = _StorageType(f"{prefix}Storage", DTYPES[name])
        rc[f"torch.{prefix}Storage"] = storage_type
        rc[f"torch.cuda.{prefix}Storage"] = storage_type       # saved from a GPU by old torch
    rc["torch.storage.UntypedStorage"] = _StorageType("UntypedStorage", DTYPES["uint8"])
    rc["torch.storage.TypedStorage"] = _not_supported("a bare torch.storage.TypedStorage", "save tensors")
    for kind in ("Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte",
                 "Bool"):
        for module in ("torch", "torch.cuda", "torch.sparse", "torch.cuda.sparse"):
            rc[f"{module}.{kind}Tensor"] = _TensorClass(f"{module}.{kind}Tensor")
    for scheme in ("per_tensor_affine", "per_tensor_symmetric", "per_channel_affine",
                   "per_channel_symmetric", "per_channel_affine_float_qparams"):
        rc[f"torch.{scheme}"] = _Marker(f"torch.{scheme}")
    return rc


ALLOWED_GLOBALS: Dict[str, Any] = _allowed_globals()

# Refused globals that can run code or reach the system: named "unsafe" in messages. (Every
# global outside ALLOWED_GLOBALS is refused anyway; this list only picks the wording.)
_UNSAFE_MODULES = {
    "os", "posix", "nt", "sys", "subprocess", "builtins", "shutil", "socket", "importlib",
    "runpy", "pickle", "_pickle", "marshal", "ctypes", "code", "codeop", "pty", "operator",
    "_operator", "functools", "types", "multiprocessing", "threading", "_thread", "signal",
    "webbrowser", "tempfile", "pathlib", "io", "_io", "codecs", "_codecs", "asyncio", "pdb",
    "bdb", "timeit", "profile", "cProfile", "trace", "platform", "posixpath", "ntpath", "glob",
    "urllib", "http", "ftplib", "smtplib", "xmlrpc", "zipimport", "pkgutil", "inspect", "gc",
    "copyreg", "imp", "commands", "popen2", "dill", "cloudpickle",
}
_UNSAFE_TORCH = ("torch.load", "torch.hub", "torch.jit", "torch.ops", "torch._C", "torch.package",
                 "torch.serialization", "torch.utils.cpp_extension", "torch._dynamo", "torch.fx")


def _is_unsafe(dotted: str) -> bool:
    return dotted.split(".", 1)[0] in _UNSAFE_MODULES or dotted.startswith(_UNSAFE_TORCH)


def _is_module_class(dotted: str) -> bool:
    return dotted.startswith(("torch.nn.modules.", "torchvision.models."))


_WHOLE_MODULE = ("this file pickles a whole module (torch.save(model)), not a state dict, and "
                 "tinygen runs no pickled Python classes (torch.load(weights_only=True) refuses "
                 "it too; nothing was executed). In PyTorch run "
                 "torch.save(model.state_dict(), path) and load that file")
_TORCHSCRIPT = ("this is a TorchScript archive (torch.jit.save), not a torch.save file: read its "
                "parameters with tinygen.io.torch_pth.load_torchscript_state_dict(path), which runs "
                "none of its code, or in PyTorch run "
                "torch.save(torch.jit.load(path).state_dict(), 'weights.pth') and load that file")


def _refusal(dotted: str, others) -> TorchFileError:
    """The error for a global outside the allow-list, worded by what the file is: ``others``
    are the pickle's other refused globals (a whole module's own class often comes first)."""
    unsafe = [g for g in [dotted, *others] if _is_unsafe(g)]
    if unsafe:
        return UnsafePickleError(
            f"refusing to load global {unsafe[0]}: it can run code or reach the system, and no "
            "weights file needs it, so this file may be malicious (nothing was executed; "
            "torch.load(weights_only=True) refuses it too)")
    if any(_is_module_class(g) for g in [dotted, *others]):
        return TorchFileError(_WHOLE_MODULE)
    if dotted.startswith("__torch__."):
        return TorchFileError(_TORCHSCRIPT)
    return TorchFileError(
        f"refusing to load global {dotted}: it is not on the allow-list of "
        "torch.load(weights_only=True), so torch refuses this file too, and tinygen reads only "
        "tensors and plain Python values (nothing was executed). If you trust the file, load it "
        "in PyTorch with weights_only=False and torch.save only its tensors (a state_dict())")


# --------------------------------------------------------------------------
# one load: persistent ids, BUILD, and running the pickle
# --------------------------------------------------------------------------

class ScriptModule:
    """An inert record of one TorchScript object: its class name and its attributes.

    Built by NEWOBJ (no arguments) and filled by BUILD with a dict of attributes; it has no
    methods from the file -- the class's code in ``code/`` is never read."""

    def __init__(self, qualified_name: str):
        self.qualified_name = qualified_name
        self.attributes: Dict[str, Any] = {}

    def __repr__(self):
        return f"ScriptModule({self.qualified_name}, {len(self.attributes)} attributes)"


class _ScriptClass:
    """The stand-in ``find_class`` returns for a ``__torch__.*`` name: calling it makes a record."""

    def __init__(self, qualified_name: str):
        self.qualified_name = qualified_name

    def __call__(self, *args):
        if args:
            raise TorchFileError(f"TorchScript class {self.qualified_name} is constructed with "
                                 f"{len(args)} argument(s): rebuilding it needs its code, which "
                                 "tinygen never runs")
        return ScriptModule(self.qualified_name)


# TorchScript's own list constructors (torch/jit/_pickle.py): pure data.
_SCRIPT_GLOBALS = {f"torch.jit._pickle.build_{kind}list": list
                   for kind in ("int", "float", "bool", "double", "tensor")}
_SCRIPT_GLOBALS["torch.jit._pickle.restore_type_tag"] = lambda value, type_str: value


def _script_build(obj, state):
    """BUILD of a TorchScript object: a dict of attributes; anything else would need code."""
    if isinstance(obj, ScriptModule):
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise TorchFileError(f"TorchScript object {obj.qualified_name} has a custom state "
                                 f"({_a(state)}, restored by a __setstate__ in code/): rebuilding "
                                 "it needs the archive's code, which tinygen never runs")
        obj.attributes.update(state)
    else:
        _build(obj, state)


class _Loader:
    """Turns persistent ids into storages for one file.

    ``open_storage(key, numel, itemsize)`` is the container's: it checks that the file holds
    that many bytes for ``key`` and returns a function reading them (None on a first pass)."""

    def __init__(self, open_storage: Callable[[str, int, int], Callable[[], Optional[bytes]]],
                 big_endian: bool):
        self.open_storage, self.big_endian = open_storage, big_endian
        self.storages: Dict[str, _Storage] = {}

    def unpickle(self, data, pos: int, what: str, script: bool = False):
        """Run the pickle at ``data[pos:]``; returns (object, position after its STOP).

        ``script``: a TorchScript ``data.pkl``: ``__torch__.*`` classes become
        :class:`ScriptModule` records (and TorchScript's list builders are allowed)."""
        def find_class(module, name):
            dotted = f"{module}.{name}"
            if dotted in ALLOWED_GLOBALS:
                return ALLOWED_GLOBALS[dotted]
            if script and dotted.startswith("__torch__."):
                return _ScriptClass(dotted)
            if script and dotted in _SCRIPT_GLOBALS:
                return _SCRIPT_GLOBALS[dotted]
            others = [g for g in globals_in(data, pos) if g not in ALLOWED_GLOBALS]
            raise _refusal(dotted, others)
        machine = SafeUnpickler(data, pos, find_class=find_class,
                                persistent_load=self.persistent_load,
                                build=_script_build if script else _build)
        try:
            return machine.load(), machine.pos
        except TorchFileError:
            raise
        except PickleError as e:
            raise TorchFileError(f"{what} is corrupt: {e}") from None

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid:
            raise TorchFileError(f"persistent id {_show(pid)} is not a storage: the file is corrupt")
        kind = pid[0].decode("ascii", "replace") if isinstance(pid[0], bytes) else pid[0]
        if isinstance(kind, str) and kind == "module":   # legacy torch.save(model): ("module", cls, ...)
            raise TorchFileError(_WHOLE_MODULE)
        if not isinstance(kind, str) or kind != "storage" or len(pid) not in (5, 6):
            raise TorchFileError(f"persistent id {_show(pid)} is not a storage: the file is corrupt")
        storage_type, key, numel = pid[1], pid[2], pid[4]
        if isinstance(storage_type, _StorageType):
            dtype = storage_type.dtype
        elif isinstance(storage_type, TorchDType):
            dtype = storage_type
        else:
            raise TorchFileError(f"storage type {_show(storage_type)} is not a torch storage "
                                 "class: the file is corrupt")
        if not isinstance(key, (str, int)):
            raise TorchFileError(f"storage key {_show(key)} is not a name: the file is corrupt")
        key, numel = str(key), _int(numel, f"the element count of storage {str(key)!r}")
        if key not in self.storages:
            read = self.open_storage(key, numel, dtype.itemsize)
            self.storages[key] = _Storage(key, dtype, numel, read, self.big_endian)
        root = self.storages[key]
        view = pid[5] if len(pid) == 6 else None
        if view is None:
            return root
        return self._storage_view(root, view)

    def _storage_view(self, root: _Storage, view) -> _Storage:
        """Very old legacy files: a storage that is a slice (key, offset, numel) of a root one."""
        if not isinstance(view, tuple) or len(view) != 3:
            raise TorchFileError(f"storage view {_show(view)} is not (key, offset, size): "
                                 "the file is corrupt")
        key = str(view[0])
        offset, numel = _int(view[1], "a storage view's offset"), _int(view[2], "a storage view's size")
        if offset + numel > root.numel:
            raise TorchFileError(f"storage view {key!r} (elements {offset}..{offset + numel}) lies "
                                 f"outside storage {root.key!r} of {root.numel}: the file is corrupt")
        if key not in self.storages:
            size = root.dtype.itemsize

            def read():
                data = root.read()
                return None if data is None else data[offset * size:(offset + numel) * size]
            self.storages[key] = _Storage(key, root.dtype, numel, read, self.big_endian)
        return self.storages[key]


def _build(obj, state):
    """BUILD as torch.load(weights_only=True) allows it: an OrderedDict's attributes (the
    ``_metadata`` of a state dict); a tensor's Python attributes are dropped."""
    if type(obj) in (collections.OrderedDict, collections.Counter):
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise TorchFileError(f"an OrderedDict's state is {_a(state)}, not a dict "
                                 "of attributes: the file is corrupt")
        obj.__dict__.update(state)
    elif not isinstance(obj, np.ndarray):
        raise TorchFileError(f"setting the state (BUILD) of {_a(obj)}: "
                             "torch.load(weights_only=True) allows it only for tensors and "
                             "OrderedDicts, so the file is corrupt")


# --------------------------------------------------------------------------
# the two containers
# --------------------------------------------------------------------------

def _check_record(info: zipfile.ZipInfo, nbytes: int):
    if info.file_size != nbytes:
        raise TorchFileError(f"record {info.filename!r} holds {info.file_size} bytes, but the "
                             f"pickle says its storage needs {nbytes}: the file is truncated or corrupt")


def _read_record(z: zipfile.ZipFile, info: zipfile.ZipInfo, nbytes: Optional[int] = None) -> bytes:
    """One zip entry's bytes, refusing sizes the archive cannot hold (a "zip bomb")."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise TorchFileError(f"record {info.filename!r} uses compression method "
                             f"{info.compress_type}; torch archives are stored or deflated only")
    if info.file_size > _DEFLATE_MAX_RATIO * info.compress_size + 64:
        raise TorchFileError(f"record {info.filename!r} claims {info.file_size} bytes from "
                             f"{info.compress_size} compressed ones, more than deflate can "
                             "produce: the file is corrupt")
    if nbytes is not None:
        _check_record(info, nbytes)
    try:
        with z.open(info) as f:
            data = f.read(info.file_size + 1)
    except Exception as e:  # noqa: BLE001 -- zipfile reports a corrupt entry in a dozen ways
        raise TorchFileError(f"record {info.filename!r} cannot be read "
                             f"({type(e).__name__}: {e}): the file is corrupt") from None
    if len(data) != info.file_size:
        raise TorchFileError(f"record {info.filename!r} holds {len(data)} bytes, not the "
                             f"{info.file_size} its header says: the file is corrupt")
    return data


def _load_zip(path: str, script: bool = False):
    """The object a zip-format file pickles (``script``: the module tree of a TorchScript
    archive, as :class:`ScriptModule` records; without it a TorchScript archive is an error)."""
    try:
        z = zipfile.ZipFile(path)
        infos = {info.filename: info for info in z.infolist()}
    except Exception as e:  # noqa: BLE001 -- BadZipFile, OSError, UnicodeDecodeError, struct.error...
        raise TorchFileError(f"a damaged zip archive ({type(e).__name__}: {e}); the file is "
                             "truncated or corrupt: download it again") from None
    with z:
        pkl = [n for n in infos if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pkl:
            raise TorchFileError("a zip file without <name>/data.pkl: not a torch.save file "
                                 "(an .npz or another archive?)")
        prefix = pkl[0][: -len("data.pkl")]
        is_script = prefix + "constants.pkl" in infos or any(
            n.startswith(prefix + "code/") for n in infos)
        if is_script != script:
            raise TorchFileError(_TORCHSCRIPT if is_script else
                                 "not a TorchScript archive (no constants.pkl or code/): a "
                                 "torch.save file; read it with load_torch_state_dict")
        byteorder = "little"
        if prefix + "byteorder" in infos:
            raw = _read_record(z, infos[prefix + "byteorder"])
            byteorder = raw.decode("ascii", "replace").strip()
        if byteorder not in ("little", "big"):
            raise TorchFileError(f"unknown byteorder {_show(byteorder)}: the file is corrupt")

        def open_storage(key, numel, itemsize):
            info = infos.get(f"{prefix}data/{key}")
            if info is None:
                raise TorchFileError(f"storage record {prefix}data/{key} is missing from the "
                                     "archive: the file is truncated or corrupt")
            _check_record(info, numel * itemsize)      # now; the bytes are read when needed
            return lambda: _read_record(z, info, numel * itemsize)

        loader = _Loader(open_storage, big_endian=(byteorder == "big"))
        obj, _ = loader.unpickle(_read_record(z, infos[pkl[0]]), 0, pkl[0], script=script)
        return obj


def is_torchscript(path: str) -> bool:
    """True for a TorchScript archive (a zip holding ``<name>/constants.pkl`` or ``code/``);
    False for anything else, including unreadable files (the loaders say what is wrong)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except Exception:  # noqa: BLE001 -- not a zip, or a broken one: not TorchScript
        return False
    return any(n.count("/") == 1 and n.endswith("/constants.pkl") for n in names) or any(
        n.split("/")[1:2] == ["code"] for n in names)


def _script_tensors(obj: ScriptModule, prefix: str, out: "collections.OrderedDict") -> None:
    for name, value in obj.attributes.items():
        if isinstance(value, ScriptModule):
            _script_tensors(value, f"{prefix}{name}.", out)
        elif isinstance(value, np.ndarray):
            out[prefix + name] = value


def load_torchscript_state_dict(path: str) -> "collections.OrderedDict[str, np.ndarray]":
    """The parameters and buffers of a TorchScript archive, by dotted name, without torch.

    Every tensor attribute of every module in ``data.pkl`` (``net.layers.conv.weight``), in the
    archive's attribute order -- the same names and values as ``torch.jit.load(path)
    .state_dict()``. Nothing in ``code/`` is read or run. Raises FileNotFoundError or
    :class:`TorchFileError` (corrupt archive, not TorchScript, an object that needs code).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no TorchScript file at {path!r}")
    try:
        root = _load_zip(path, script=True)
        if not isinstance(root, ScriptModule):
            raise TorchFileError(f"data.pkl holds {_a(root)}, not a scripted module")
    except TorchFileError as e:
        raise type(e)(f"{path}: {e}") from None
    out = collections.OrderedDict()
    _script_tensors(root, "", out)
    return out


def _load_legacy(path: str, data):
    """The five pickles and the storage bytes of a pre-1.6 file, in ``data`` (an mmap)."""
    plain = _Loader(lambda key, numel, itemsize: lambda: None, big_endian=False)
    try:
        magic, pos = plain.unpickle(data, 0, "the first pickle")
    except UnsafePickleError:
        raise
    except TorchFileError as e:
        raise TorchFileError(f"not a PyTorch .pth file: neither a zip archive nor a legacy "
                             f"torch.save stream ({e})") from None
    if type(magic) is not int or magic != LEGACY_MAGIC:
        raise TorchFileError(f"a pickle but not a torch.save file (its first object is "
                             f"{_a(magic)}, not the magic number {LEGACY_MAGIC:#x})")
    protocol, pos = plain.unpickle(data, pos, "the protocol version")
    if type(protocol) is not int or protocol != LEGACY_PROTOCOL:
        raise TorchFileError(f"unsupported legacy protocol version {_show(protocol)}")
    sys_info, pos = plain.unpickle(data, pos, "the system info")
    if not isinstance(sys_info, dict) or not isinstance(sys_info.get("little_endian", True), bool):
        raise TorchFileError(f"the system info is {_show(sys_info)}, not a dict: the file is corrupt")
    big_endian = not sys_info.get("little_endian", True)

    # pass 1: learn the storages (key -> bytes needed); tensors are shape-only stand-ins
    needed: Dict[str, Tuple[int, int]] = {}        # key -> (numel, itemsize)

    def note_storage(key, numel, itemsize):
        needed[key] = (numel, itemsize)
        return lambda: None
    main = pos
    _, pos = _Loader(note_storage, big_endian).unpickle(data, main, "the main pickle")
    keys, pos = plain.unpickle(data, pos, "the storage key list")
    if not isinstance(keys, list):
        raise TorchFileError(f"the storage key list is {_a(keys)}: the file is corrupt")

    # the bytes: for each key, an int64 element count and the bytes, checked before reading
    where: Dict[str, Tuple[int, int]] = {}
    for key in keys:
        key = str(key)
        if key not in needed or key in where:
            raise TorchFileError(f"storage {_show(key)} is listed after the pickle but "
                                 + ("twice" if key in where else "never used") + ": the file is corrupt")
        head = data[pos:pos + 8]
        if len(head) < 8:
            raise TorchFileError(f"the file ends before storage {key!r}: it is truncated")
        count = struct.unpack(">q" if big_endian else "<q", head)[0]
        numel, itemsize = needed[key]
        if count != numel:
            raise TorchFileError(f"storage {key!r} is stored with {count} elements, but the pickle "
                                 f"says it holds {numel}: the file is corrupt")
        nbytes = numel * itemsize
        if pos + 8 + nbytes > len(data):
            raise TorchFileError(f"storage {key!r} needs {nbytes} bytes, but the file has only "
                                 f"{len(data) - pos - 8} left: it is truncated")
        where[key] = (pos + 8, pos + 8 + nbytes)
        pos += 8 + nbytes
    missing = sorted(set(needed) - set(where))
    if missing:
        raise TorchFileError(f"storages {missing[:5]} are used but not stored: the file is truncated")

    # pass 2: the same pickle, now with bytes
    def open_bytes(key, numel, itemsize):
        start, stop = where[key]
        return lambda: data[start:stop]             # a copy: the mmap closes after the load
    obj, _ = _Loader(open_bytes, big_endian).unpickle(data, main, "the main pickle")
    return obj


# --------------------------------------------------------------------------
# public entry points
# --------------------------------------------------------------------------

def _load(path: str):
    with open(path, "rb") as f:
        head = f.read(512)
        if not head:
            raise TorchFileError("the file is empty")
        if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):       # as torch: zip by its first bytes
            return _load_zip(path)
        if head[257:262] == b"ustar":
            raise TorchFileError("a tar archive: PyTorch < 0.4's format, which neither tinygen nor "
                                 "torch.load(weights_only=True) reads. Load it in PyTorch "
                                 "(weights_only=False, if you trust it) and torch.save it again")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _load_legacy(path, data)


def load_torch_file(path: str):
    """Unpickle a ``torch.save`` file (zip or legacy) safely; tensors become NumPy arrays.

    Returns whatever the file holds (a state dict, a checkpoint dict...), with tensors as NumPy
    arrays, ``torch.Size`` as tuples, ``torch.device`` as strings ("cuda:1") and dtypes as
    :class:`TorchDType`. Raises FileNotFoundError, :class:`TorchFileError` (whose message
    starts with the path) or its subclass :class:`UnsafePickleError`.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no .pth file at {path!r}")
    try:
        return _load(path)
    except TorchFileError as e:
        raise type(e)(f"{path}: {e}") from None


def _is_state_dict(obj) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, np.ndarray) for k, v in obj.items())


def _select(obj, key: str):
    """Follow a dotted ``key`` ("model.state_dict") into nested dicts. At each level the whole
    rest of the path is tried first, so keys that contain dots themselves still work."""
    where, rest = None, key
    while rest:
        if not isinstance(obj, dict):
            raise TorchKeyError(f"{where!r} is {_a(obj)}, not a dict: no entry "
                                f"{rest!r} in it")
        part = rest if rest in obj else rest.split(".", 1)[0]
        if part not in obj:
            level = "at the top level" if where is None else f"in {where!r}"
            raise TorchKeyError(f"no entry {part!r} {level}; its keys: {_show(list(obj))}")
        obj, rest = obj[part], rest[len(part) + 1:]
        where = part if where is None else f"{where}.{part}"
    return obj


def load_torch_state_dict(path: str, key: Optional[str] = None) -> "collections.OrderedDict[str, np.ndarray]":
    """Read a PyTorch state dict file as ``OrderedDict[name -> np.ndarray]`` (torch not needed).

    Args:
        path: a ``.pth``/``.pt`` file written by ``torch.save`` (zip or legacy format).
        key: for checkpoints that wrap the weights, the entry holding them, as a dotted path
            into nested dicts (``"state_dict"``, ``"model.ema"``). Without it, a file whose top
            level is not a state dict but holds exactly one nested state dict is unwrapped.
    Returns:
        OrderedDict with the file's key order; arrays keep the saved dtype (float32,
        float16, float64, int64, int32, uint8, bool...; bfloat16 becomes float32) and shape.
        Each is its own writable C-contiguous copy, except stride-0 / expanded tensors, which
        are read-only views (see the module docstring). The ``_metadata`` attribute of the
        saved OrderedDict (module versions) is kept.
    Raises:
        FileNotFoundError, TorchFileError (truncated / corrupt / not a state dict),
        UnsafePickleError, TorchKeyError (a KeyError: ``key`` not found; lists the keys there).
    """
    obj = load_torch_file(path)
    try:
        if key is not None:
            obj = _select(obj, key)
        elif not _is_state_dict(obj) and isinstance(obj, dict):
            nested = [k for k, v in obj.items() if _is_state_dict(v)]
            if len(nested) == 1:
                obj = obj[nested[0]]
            elif len(nested) > 1:
                raise TorchFileError(f"it holds several state dicts {_show(nested)}: "
                                     "pass key=... to pick one")
        if not isinstance(obj, dict):
            raise TorchFileError(f"it holds {_a(obj)}, not a state dict")
        bad = [k for k, v in obj.items() if not isinstance(v, np.ndarray)]
        if bad:
            raise TorchFileError(f"entries {_show(bad[:5])} are not tensors; pass key=... to "
                                 "select the state dict inside this checkpoint")
    except TorchFileError as e:
        raise type(e)(f"{path}: {e}") from None
    out = collections.OrderedDict(obj)
    if hasattr(obj, "_metadata"):
        out._metadata = obj._metadata
    return out
