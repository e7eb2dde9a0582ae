"""A pickle reader that cannot run code: the stack machine of ``pickle``, minus imports and calls.

How a pickle works
------------------
A pickle is a program for a small stack machine (``python -m pickletools FILE`` prints one).
Each instruction is a one-byte *opcode*, some followed by an argument: a 1-, 4- or 8-byte
little-endian length and that many bytes, or a fixed-size number. ``{"w": 1.5}`` at protocol 2::

    PROTO 2  EMPTY_DICT  BINPUT 0  BINUNICODE 'w'  BINFLOAT 1.5  SETITEM  STOP

* *Data opcodes* push values: ints (``BININT*``, ``LONG1``), floats (``BINFLOAT``), strings
  (``BINUNICODE``), bytes, ``None``/``True``/``False``, empty containers.
* ``MARK`` starts a group; ``TUPLE``, ``APPENDS``, ``SETITEMS``, ``ADDITEMS``, ``FROZENSET``
  consume everything pushed since the last mark.
* The *memo*: ``BINPUT i`` (or ``MEMOIZE``) stores the top of the stack under ``i`` and
  ``BINGET i`` pushes it again, which is how one object (a storage shared by several
  tensors) appears in several places.
* Four opcodes make ``pickle.load`` dangerous: ``GLOBAL 'os system'`` (and ``STACK_GLOBAL``)
  *imports any name*, ``REDUCE`` *calls* it with a tuple of arguments, ``NEWOBJ`` calls
  ``cls.__new__(cls, *args)``, and ``BUILD`` calls ``obj.__setstate__`` or updates
  ``obj.__dict__``. ``GLOBAL 'os system'`` + ``('rm -rf ~',)`` + ``REDUCE`` is a whole exploit.
* ``BINPERSID`` pops a *persistent id* and asks the loader for the object it names: the
  object lives outside the pickle (``torch.save`` stores every tensor's bytes so).

What this reader does instead
-----------------------------
* ``GLOBAL`` imports nothing: it asks the caller's ``find_class(module, name)``, which returns
  a stand-in from an allow-list or raises.
* ``REDUCE``/``NEWOBJ`` call only objects that ``find_class`` returned; ``BUILD`` goes to the
  caller's ``build(obj, state)``, which decides.
* ``SETITEMS`` fills only real dicts, ``APPENDS`` only real lists, ``ADDITEMS`` only real sets
  (on anything else they would call an arbitrary ``__setitem__``/``append``/``add``).
* Every length is checked against the bytes that are left before anything is read, so a
  corrupt length can never make it allocate more than the file holds.
* Protocol-0 text opcodes (``INT``, ``STRING``, ``GET``, ``INST``...), the extension
  registry (``EXT*``) and out-of-band buffers are refused: ``torch.save`` never writes them.

Anything wrong with the bytes raises :class:`PickleError` naming the opcode and its byte offset;
errors the caller's hooks raise (subclasses of :class:`PickleError`) pass through unchanged.
"""
from __future__ import annotations

import collections
import io
import pickletools
import struct
from typing import Any, Callable, Dict, List

# one name per opcode byte, for messages ("BINUNICODE at byte 57")
_NAMES = {op.code.encode("latin-1")[0]: op.name for op in pickletools.opcodes}

_DICTS = (dict, collections.OrderedDict, collections.Counter)


def _a(obj) -> str:
    """ "a list", "an int": the type of ``obj`` with its article, for messages."""
    name = type(obj).__name__
    return ("an " if name[0] in "aeiou" else "a ") + name


class PickleError(ValueError):
    """The bytes are not a pickle this reader accepts (corrupt, or asking for more than data)."""


class SafeUnpickler:
    """Run one pickle program over ``data`` (bytes or an mmap) from byte ``pos`` to its STOP.

    Args:
        data: the buffer holding the pickle (it may go on past the pickle's end).
        pos: where the pickle starts.
        find_class: ``(module, name) -> stand-in`` for GLOBAL; raises to refuse.
        persistent_load: ``pid -> object`` for BINPERSID.
        build: ``(obj, state) -> None`` for BUILD; raises to refuse.
    After :meth:`load`, ``self.pos`` is the byte after the STOP opcode.
    """

    def __init__(self, data, pos: int, *, find_class: Callable[[str, str], Any],
                 persistent_load: Callable[[Any], Any], build: Callable[[Any, Any], None]):
        self.data, self.pos, self.end = data, pos, len(data)
        self.find_class, self.persistent_load, self.build = find_class, persistent_load, build
        self.stack: List[Any] = []
        self.metastack: List[List[Any]] = []       # the stacks interrupted by MARK
        self.memo: Dict[int, Any] = {}
        self.callables: Dict[int, Any] = {}         # id -> each object find_class returned

    def load(self):
        while True:
            at = self.pos
            if at >= self.end:
                raise PickleError(f"the pickle stops at byte {at} without its STOP opcode: "
                                  "the file is truncated")
            code = self.data[at]
            self.pos = at + 1
            op = _OPS.get(code)
            if op is None:
                what = _NAMES.get(code)
                raise PickleError(f"byte {at}: {bytes([code])!r} is "
                                  + (f"the opcode {what}, which this reader refuses (torch.save "
                                     "never writes it)" if what else "not a pickle opcode"))
            try:
                if op(self):                        # STOP
                    return self.stack.pop()
            except PickleError:
                raise
            except Exception as e:                  # stack underflow, unhashable key, bad arguments...
                raise PickleError(f"opcode {_NAMES[code]} at byte {at} fails on these bytes "
                                  f"({type(e).__name__}: {e})") from None

    # -- reading arguments: every length is checked against what is left --------------------

    def take(self, n: int) -> bytes:
        if n < 0 or n > self.end - self.pos:
            raise PickleError(f"byte {self.pos}: an argument of {n} bytes, but only "
                              f"{self.end - self.pos} are left: the file is truncated or corrupt")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return bytes(out)

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "little")

    def line(self) -> str:
        """A newline-terminated name (GLOBAL's arguments), at most 1000 bytes."""
        stop = self.data.find(b"\n", self.pos, min(self.end, self.pos + 1000))
        if stop < 0:
            raise PickleError(f"byte {self.pos}: GLOBAL's name has no end of line")
        return self.take(stop - self.pos + 1)[:-1].decode("utf-8")

    def pop_mark(self) -> List[Any]:
        items = self.stack
        if not self.metastack:
            raise PickleError(f"byte {self.pos - 1}: {_NAMES[self.data[self.pos - 1]]} without a MARK")
        self.stack = self.metastack.pop()
        return items

    def global_(self, module: str, name: str):
        if module == "__builtin__":                 # Python 2's name, as pickle's fix_imports
            module = "builtins"
        obj = self.find_class(module, name)
        self.callables[id(obj)] = obj
        self.stack.append(obj)

    def callable(self, obj, opcode: str):
        if id(obj) not in self.callables:
            raise PickleError(f"{opcode} on {_a(obj)}: only globals can be called")
        return obj


# --------------------------------------------------------------------------
# the opcodes, one small function each, registered in _OPS under their byte
# --------------------------------------------------------------------------

_BYTE = {op.name: op.code.encode("latin-1")[0] for op in pickletools.opcodes}
_OPS: Dict[int, Callable[[SafeUnpickler], Any]] = {}


def _op(*names: str):
    def register(fn):
        for name in names:
            _OPS[_BYTE[name]] = fn
        return fn
    return register


def _signed4(m) -> int:
    return struct.unpack("<i", m.take(4))[0]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogatepass")     # as pickle: lone surrogates survive


# Opcodes that push one value, by how they read it. Python 2 ``str`` (the *BINSTRING ones)
# is decoded as UTF-8, torch.load's default ``encoding``.
_VALUES: Dict[str, Callable[[SafeUnpickler], Any]] = {
    "BININT": _signed4,
    "BININT1": lambda m: m.uint(1),
    "BININT2": lambda m: m.uint(2),
    "LONG1": lambda m: int.from_bytes(m.take(m.uint(1)), "little", signed=True),
    "LONG4": lambda m: int.from_bytes(m.take(_signed4(m)), "little", signed=True),
    "BINFLOAT": lambda m: struct.unpack(">d", m.take(8))[0],
    "SHORT_BINUNICODE": lambda m: _text(m.take(m.uint(1))),
    "BINUNICODE": lambda m: _text(m.take(m.uint(4))),
    "BINUNICODE8": lambda m: _text(m.take(m.uint(8))),
    "SHORT_BINSTRING": lambda m: m.take(m.uint(1)).decode("utf-8"),
    "BINSTRING": lambda m: m.take(_signed4(m)).decode("utf-8"),
    "SHORT_BINBYTES": lambda m: m.take(m.uint(1)),
    "BINBYTES": lambda m: m.take(m.uint(4)),
    "BINBYTES8": lambda m: m.take(m.uint(8)),
    "BYTEARRAY8": lambda m: bytearray(m.take(m.uint(8))),
    "NONE": lambda m: None,
    "NEWTRUE": lambda m: True,
    "NEWFALSE": lambda m: False,
    "EMPTY_TUPLE": lambda m: (),
    "EMPTY_LIST": lambda m: [],
    "EMPTY_DICT": lambda m: {},
    "EMPTY_SET": lambda m: set(),
}
for _name, _read in _VALUES.items():
    _OPS[_BYTE[_name]] = lambda m, read=_read: m.stack.append(read(m))


@_op("PROTO")
def _proto(m):
    version = m.uint(1)
    if version > 5:
        raise PickleError(f"pickle protocol {version} is newer than any Python writes (5)")


@_op("FRAME")
def _frame(m):
    m.take(8)                   # a frame's length only helps streaming readers; ours has it all


@_op("STOP")
def _stop(m):
    return True


# containers built from everything since the last MARK
@_op("MARK")
def _mark(m):
    m.metastack.append(m.stack)
    m.stack = []


# (pop the mark first: ``m.stack.append(tuple(m.pop_mark()))`` would append to the old stack)
@_op("TUPLE")
def _tuple(m):
    items = m.pop_mark()
    m.stack.append(tuple(items))


@_op("LIST")
def _list(m):
    items = m.pop_mark()
    m.stack.append(items)


@_op("FROZENSET")
def _frozenset(m):
    items = m.pop_mark()
    m.stack.append(frozenset(items))


@_op("DICT")
def _dict(m):
    items = m.pop_mark()
    m.stack.append(dict(zip(items[::2], items[1::2])))


def _tuple_of_last(m, n: int):
    if len(m.stack) < n:
        raise PickleError(f"byte {m.pos - 1}: TUPLE{n} needs {n} items on the stack")
    items = tuple(m.stack[len(m.stack) - n:])
    del m.stack[len(m.stack) - n:]
    m.stack.append(items)


_op("TUPLE1")(lambda m: _tuple_of_last(m, 1))
_op("TUPLE2")(lambda m: _tuple_of_last(m, 2))
_op("TUPLE3")(lambda m: _tuple_of_last(m, 3))


# filling a container that is already on the stack
def _target(m, kinds, opcode):
    target = m.stack[-1]
    if type(target) not in kinds:
        raise PickleError(f"{opcode} on {_a(target)}: only "
                          + "/".join(k.__name__ for k in kinds) + " can be filled")
    return target


@_op("APPEND")
def _append(m):
    item = m.stack.pop()
    _target(m, (list,), "APPEND").append(item)


@_op("APPENDS")
def _appends(m):
    items = m.pop_mark()
    _target(m, (list,), "APPENDS").extend(items)


@_op("SETITEM")
def _setitem(m):
    value, key = m.stack.pop(), m.stack.pop()
    _target(m, _DICTS, "SETITEM")[key] = value


@_op("SETITEMS")
def _setitems(m):
    items = m.pop_mark()
    if len(items) % 2:
        raise PickleError(f"byte {m.pos - 1}: SETITEMS with an odd number of items")
    target = _target(m, _DICTS, "SETITEMS")
    for key, value in zip(items[::2], items[1::2]):
        target[key] = value


@_op("ADDITEMS")
def _additems(m):
    items = m.pop_mark()
    _target(m, (set,), "ADDITEMS").update(items)


# the stack and the memo
@_op("POP")
def _pop(m):
    if m.stack:
        m.stack.pop()
    else:                       # as pickle: POP right after a MARK discards the mark
        m.pop_mark()


@_op("POP_MARK")
def _pop_mark(m):
    m.pop_mark()


@_op("DUP")
def _dup(m):
    m.stack.append(m.stack[-1])


def _put(m, index: int):
    if not m.stack:
        raise PickleError(f"byte {m.pos}: memo store with an empty stack")
    m.memo[index] = m.stack[-1]


def _get(m, index: int):
    if index not in m.memo:
        raise PickleError(f"byte {m.pos}: memo entry {index} is read before it is stored")
    m.stack.append(m.memo[index])


_op("BINPUT")(lambda m: _put(m, m.uint(1)))
_op("LONG_BINPUT")(lambda m: _put(m, m.uint(4)))
_op("MEMOIZE")(lambda m: _put(m, len(m.memo)))
_op("BINGET")(lambda m: _get(m, m.uint(1)))
_op("LONG_BINGET")(lambda m: _get(m, m.uint(4)))


# the four risky opcodes, and persistent ids
@_op("GLOBAL")
def _global(m):
    module = m.line()
    m.global_(module, m.line())


@_op("STACK_GLOBAL")
def _stack_global(m):
    name, module = m.stack.pop(), m.stack.pop()
    if type(module) is not str or type(name) is not str:
        raise PickleError("STACK_GLOBAL needs two strings on the stack")
    m.global_(module, name)


@_op("REDUCE")
def _reduce(m):
    args = m.stack.pop()
    func = m.callable(m.stack[-1], "REDUCE")
    if type(args) is not tuple:
        raise PickleError(f"REDUCE with {_a(args)} of arguments, not a tuple")
    m.stack[-1] = func(*args)


def _new(cls, args):
    """NEWOBJ: ``cls.__new__(cls, *args)`` for a real class, a plain call for a stand-in."""
    if type(args) is not tuple:
        raise PickleError(f"NEWOBJ with {_a(args)} of arguments, not a tuple")
    return cls.__new__(cls, *args) if isinstance(cls, type) else cls(*args)


@_op("NEWOBJ")
def _newobj(m):
    args = m.stack.pop()
    m.stack.append(_new(m.callable(m.stack.pop(), "NEWOBJ"), args))


@_op("NEWOBJ_EX")
def _newobj_ex(m):
    kwargs, args = m.stack.pop(), m.stack.pop()
    if kwargs != {}:
        raise PickleError("NEWOBJ_EX with keyword arguments")
    m.stack.append(_new(m.callable(m.stack.pop(), "NEWOBJ_EX"), args))


@_op("BUILD")
def _build(m):
    state = m.stack.pop()
    m.build(m.stack[-1], state)


@_op("BINPERSID")
def _binpersid(m):
    m.stack.append(m.persistent_load(m.stack.pop()))


# --------------------------------------------------------------------------
# listing globals without running anything (for refusal messages)
# --------------------------------------------------------------------------

class _Cursor(io.RawIOBase):
    """A read-only file over ``data[pos:]`` that copies nothing up front (for pickletools)."""

    def __init__(self, data, pos):
        self.data, self.pos = data, pos

    def read(self, n=-1):
        stop = len(self.data) if n is None or n < 0 else min(len(self.data), self.pos + n)
        out = bytes(self.data[self.pos:stop])
        self.pos = stop
        return out

    def readline(self, limit=-1):
        stop = self.data.find(b"\n", self.pos, self.pos + 1000)
        return self.read(1000 if stop < 0 else stop - self.pos + 1)

    def tell(self):
        return self.pos


def globals_in(data, pos: int = 0) -> List[str]:
    """The ``module.name`` of every GLOBAL in the pickle at ``data[pos:]``, read without running
    it (as far as the bytes can be parsed; a corrupt tail just ends the list)."""
    found, strings = [], []
    try:
        for op, arg, _ in pickletools.genops(_Cursor(data, pos)):
            if op.name in ("GLOBAL", "INST"):
                found.append(arg.replace(" ", ".", 1))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(arg, str):
                strings.append(arg)
    except Exception:        # noqa: BLE001 -- a best-effort listing; the load itself reports
        pass
    return [g.replace("__builtin__.", "builtins.", 1) for g in found]
