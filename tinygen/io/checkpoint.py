"""Checkpoints: nested state dicts of arrays and Python values in ONE ``.npz`` file.

Format (see docs/data.md):

* every array is one ``.npz`` entry whose name is its path in the nested structure
  joined with ``/`` — ``model/0.weight``, ``optimizer/state/0/exp_avg``,
  ``rng_state/data/state/state`` (made unique with a ``~N`` suffix if two paths collide);
* the entry ``__tinygen_checkpoint__.json`` (a uint8 array of UTF-8 JSON) records the
  structure: every dict (with its key types: ``int`` keys stay ints and key order is
  kept; OrderedDicts come back as OrderedDicts), list, tuple, ``None``, bool, int
  (any size, e.g. the 128-bit PCG64 state), float (``nan``/``inf`` included), str,
  NumPy scalars (dtype kept) and a reference to each array entry.

So ``load_checkpoint(save_checkpoint(...))`` gives back exactly what was saved, types
included, except that tensors (anything with ``.numpy()``) and CuPy arrays come back as
host NumPy arrays. Files are written atomically and read with ``allow_pickle=False``:
loading a checkpoint never executes code.
"""
from __future__ import annotations

import collections
import json
import math
import zipfile
from typing import Any, Dict

import numpy as np

from tinygen import backend
from tinygen.io.files import save_npz
from tinygen.io.images import to_numpy

META_KEY = "__tinygen_checkpoint__.json"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, or does not fit the objects it is loaded into."""


def _is_array(v) -> bool:
    return isinstance(v, np.ndarray) or hasattr(v, "numpy") or backend.get_array_module(v) is not np \
        or type(v).__module__.startswith("cupy")


def _host_array(v) -> np.ndarray:
    a = to_numpy(v)                         # the one explicit host copy of io
    if a.dtype == object:
        raise CheckpointError("object arrays cannot be stored in a checkpoint (they would need pickle)")
    return a


def _encode(value, path: str, arrays: Dict[str, np.ndarray]):
    """value -> JSON node, filling ``arrays`` with the array leaves."""
    if value is None:
        return {"t": "none"}
    if isinstance(value, (bool, np.bool_)) and not isinstance(value, np.ndarray):
        if isinstance(value, np.bool_):
            return {"t": "npscalar", "dtype": "bool", "v": bool(value)}
        return {"t": "bool", "v": value}
    if isinstance(value, np.generic):      # NumPy scalar: keep its dtype
        return {"t": "npscalar", "dtype": value.dtype.str, "v": _encode(value.item(), path, arrays)}
    if isinstance(value, int):
        return {"t": "int", "v": value}
    if isinstance(value, float):
        return {"t": "float", "v": value if math.isfinite(value) else repr(value)}
    if isinstance(value, str):
        return {"t": "str", "v": value}
    if isinstance(value, bytes):
        return {"t": "bytes", "v": value.hex()}
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            if isinstance(k, (bool, np.bool_)) or not isinstance(k, (str, int, np.integer)):
                raise CheckpointError(f"checkpoint dict keys must be str or int; got {k!r} at {path!r}")
            kind = "str" if isinstance(k, str) else "int"
            k = k if kind == "str" else int(k)
            items.append([kind, k, _encode(v, f"{path}/{k}" if path else str(k), arrays)])
        return {"t": "odict" if isinstance(value, collections.OrderedDict) else "dict", "items": items}
    if isinstance(value, (list, tuple)):
        return {"t": "list" if isinstance(value, list) else "tuple",
                "items": [_encode(v, f"{path}/{i}", arrays) for i, v in enumerate(value)]}
    if _is_array(value):
        name, n = path or "array", 1
        while name in arrays or name == META_KEY:
            name, n = f"{path}~{n}", n + 1
        arrays[name] = _host_array(value)
        return {"t": "array", "key": name}
    raise CheckpointError(f"cannot store a {type(value).__name__} at {path!r} in a checkpoint: "
                          "use arrays, numbers, strings, None, lists, tuples and dicts")


def _decode(node, arrays):
    t = node["t"]
    if t == "none":
        return None
    if t in ("bool", "int", "str"):
        return node["v"]
    if t == "float":
        return float(node["v"])
    if t == "bytes":
        return bytes.fromhex(node["v"])
    if t == "npscalar":
        v = node["v"] if node["dtype"] == "bool" else _decode(node["v"], arrays)
        return np.dtype(node["dtype"]).type(v)
    if t in ("dict", "odict"):
        out = collections.OrderedDict() if t == "odict" else {}
        for _kind, k, v in node["items"]:
            out[k] = _decode(v, arrays)
        return out
    if t == "list":
        return [_decode(v, arrays) for v in node["items"]]
    if t == "tuple":
        return tuple(_decode(v, arrays) for v in node["items"])
    if t == "array":
        return arrays[node["key"]]
    raise CheckpointError(f"unknown node type {t!r} in checkpoint metadata")


def state_of(obj):
    """``obj.state_dict()`` if it has one, else ``obj`` itself (numbers, dicts, arrays...)."""
    return obj.state_dict() if hasattr(obj, "state_dict") else obj


def save_checkpoint(path: str, *, step: int, rng_state: Any = None, **objects) -> str:
    """Save ``step``, ``rng_state`` and each object's ``state_dict()`` to one ``.npz`` file.

    Args:
        path: destination (``.npz``); written atomically, parent folders created.
        step: the training step the checkpoint belongs to.
        rng_state: e.g. ``{"tinygen": backend.get_rng_state(), "data": gen.bit_generator.state}``
            — NumPy ``bit_generator.state`` dicts round-trip exactly.
        objects: name -> object with ``state_dict()`` (modules, optimizers, data loaders) or a
            plain value (a float such as elapsed time, a dict, an array).
    Returns:
        ``path``.
    """
    tree = {"step": step, "rng_state": rng_state}
    for name, obj in objects.items():
        if name in tree:
            raise CheckpointError(f"{name!r} is reserved in checkpoints; rename the object")
        tree[name] = state_of(obj)
    arrays: Dict[str, np.ndarray] = {}
    meta = {"format": "tinygen-checkpoint", "version": FORMAT_VERSION, "tree": _encode(tree, "", arrays)}
    arrays[META_KEY] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    save_npz(path, **arrays)
    return path


def load_checkpoint(path: str) -> dict:
    """Read a checkpoint back into the nested structure that was saved.

    Returns a dict with ``step``, ``rng_state`` and one entry per saved object (its state dict).
    Raises :class:`CheckpointError` (or FileNotFoundError) naming the problem for missing,
    truncated or foreign files.
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            if META_KEY not in f.files:
                raise CheckpointError(f"{path!r} is an .npz file but not a tinygen checkpoint "
                                      f"(no {META_KEY!r} entry; it has {f.files[:8]})")
            arrays = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise FileNotFoundError(f"no checkpoint file at {path!r}") from None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"cannot read checkpoint {path!r}: {e} (truncated or not an .npz "
                              "file written by tinygen.io.save_checkpoint)") from e
    meta = json.loads(arrays.pop(META_KEY).tobytes().decode("utf-8"))
    if meta.get("format") != "tinygen-checkpoint" or meta.get("version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path!r}: unsupported checkpoint format {meta.get('format')!r} "
                              f"version {meta.get('version')!r}")
    return _decode(meta["tree"], arrays)


def restore_checkpoint(path: str, **objects) -> dict:
    """Load ``path`` and call ``obj.load_state_dict(state[name])`` for each named object.

    Returns the whole loaded dict (``step``, ``rng_state``, plain values such as ``elapsed``)
    so the caller can restore RNGs and the step counter. A name not in the file is an error
    listing the names it does contain.
    """
    return restore_state(load_checkpoint(path), path, **objects)


def restore_state(state: dict, path: str, **objects) -> dict:
    """:func:`restore_checkpoint` for a checkpoint already read (``path``: for messages)."""
    for name, obj in objects.items():
        if name not in state:
            saved = sorted(k for k in state if k not in ("step", "rng_state"))
            raise CheckpointError(f"checkpoint {path!r} has no entry {name!r}; it contains {saved}")
        if not hasattr(obj, "load_state_dict"):
            raise CheckpointError(f"cannot restore {name!r}: {type(obj).__name__} has no load_state_dict")
        try:
            obj.load_state_dict(state[name])
        except (KeyError, ValueError) as exc:          # another architecture or optimizer
            raise CheckpointError(f"checkpoint {path!r} does not fit {name!r} "
                                  f"({type(obj).__name__}): {exc.args[0] if exc.args else exc}"
                                  ) from exc
    return state
