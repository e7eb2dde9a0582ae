"""Module, Parameter and containers (PyTorch's names, semantics and state-dict keys).

A :class:`Module` owns three ordered dictionaries, filled by attribute
assignment: ``_parameters`` (trainable :class:`Parameter`), ``_buffers``
(non-trainable state such as batch-norm running statistics) and ``_modules``
(children). Everything else — ``parameters()``, ``state_dict()``, ``to()``,
``train()`` — walks these dictionaries recursively, producing dotted names
like ``features.0.weight`` exactly as PyTorch does, so weight files of the
same architecture load both ways.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from typing import Iterator, Optional

from tinygen import backend
from tinygen.autograd import Tensor, is_floating_dtype, reset_grad

np = backend.numpy   # dtype objects and host conversion of loaded arrays


class Parameter(Tensor):
    """A tensor that a Module registers as trainable (``requires_grad=True`` by default).

    ``.data`` is its array, as for every tensor (a :class:`~tinygen.autograd.DataArray` on the
    CPU), so PyTorch's ``p.data.clamp_(...)``-style idioms work on it too.
    """

    def __init__(self, data, requires_grad: bool = True):
        if isinstance(data, Tensor):
            data = data._data
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class _HookHandle:
    def __init__(self, hooks, key):
        self.hooks, self.key = hooks, key

    def remove(self):
        self.hooks.pop(self.key, None)


class Module:
    """Base class of every layer and model: subclass it and define ``forward``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ----- registration ----------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before "
                                 f"assigning attribute {name!r}")
        for store in (self._parameters, self._buffers, self._modules):
            store.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif name in self.__dict__.get("_buffer_names", ()) and isinstance(value, Tensor):
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Optional[Parameter]) -> None:
        if param is None:
            self._parameters[name] = None
            self.__dict__.pop(name, None)
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, tensor: Optional[Tensor], persistent: bool = True) -> None:
        """Register non-trainable state (saved in state_dict unless ``persistent=False``)."""
        self.__dict__.setdefault("_buffer_names", set()).add(name)
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Optional["Module"]) -> None:
        if module is None:
            self._modules[name] = None
        else:
            setattr(self, name, module)

    # ----- calling -------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    _forward_pre_hooks = None        # name -> hook(module, args); set by register_forward_pre_hook

    def __call__(self, *args, **kwargs):
        if self._forward_pre_hooks:
            for hook in list(self._forward_pre_hooks.values()):
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        return self.forward(*args, **kwargs)

    def register_forward_pre_hook(self, hook):
        """Call ``hook(module, args)`` before every forward (PyTorch's); a non-None result
        replaces the positional arguments. Returns a handle whose ``remove()`` undoes it."""
        if self._forward_pre_hooks is None:
            object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        key = object()
        self._forward_pre_hooks[key] = hook
        return _HookHandle(self._forward_pre_hooks, key)

    # ----- traversal -----------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator:
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, m = stack.pop(0)
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            children = [(f"{name}.{n}" if name else n, c) for n, c in m._modules.items()
                        if c is not None]
            stack[0:0] = children

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named(self, store, recurse):
        seen = set()
        modules = self.named_modules() if recurse else [("", self)]
        for prefix, m in modules:
            for name, t in getattr(m, store).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield (f"{prefix}.{name}" if prefix else name), t

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        for name, p in self._named("_parameters", recurse):
            yield (f"{prefix}.{name}" if prefix else name), p

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        for name, b in self._named("_buffers", recurse):
            yield (f"{prefix}.{name}" if prefix else name), b

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # ----- state ---------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, Tensor]":
        """Every parameter and persistent buffer by dotted name (detached tensors, shared data)."""
        out = OrderedDict()
        for prefix, m in self.named_modules():
            dot = prefix + "." if prefix else ""
            for name, p in m._parameters.items():
                if p is not None:
                    out[dot + name] = p.detach()
            for name, b in m._buffers.items():
                if b is not None and name not in m._non_persistent:
                    out[dot + name] = b.detach()
        return out

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy values into the existing parameters and buffers (cast to their dtype and device).

        Values may be Tensors or NumPy/CuPy arrays. With ``strict=True``
        missing or unexpected keys raise an error listing them. Shapes must match.
        """
        own = OrderedDict()
        for prefix, m in self.named_modules():
            dot = prefix + "." if prefix else ""
            for store in (m._parameters, m._buffers):
                for name, t in store.items():
                    if t is not None and not (store is m._buffers and name in m._non_persistent):
                        own[dot + name] = t
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict for {type(self).__name__}: missing keys {missing}, "
                           f"unexpected keys {unexpected}")
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            value = value._data if isinstance(value, Tensor) else value
            if tuple(value.shape) != target.shape:
                raise ValueError(f"load_state_dict: {key} has shape {tuple(value.shape)} in the "
                                 f"state dict but {target.shape} in the model")
            value = backend.to_device(backend.to_host(value).astype(target.dtype, copy=True),
                                      target.device)
            target._data = value
        return _IncompatibleKeys(missing, unexpected)

    # ----- modes ---------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: ``.grad = None`` (default) or zeros in place."""
        for p in self.parameters():
            reset_grad(p, set_to_none)

    def apply(self, fn) -> "Module":
        """Call ``fn(m)`` on every submodule (children first) and on self."""
        for m in reversed(list(self.modules())):
            fn(m)
        return self

    # ----- device and dtype ------------------------------------------------------
    def to(self, *args, **kwargs) -> "Module":
        """Move/convert parameters and buffers in place: ``to(device)``, ``to(dtype)``.

        Integer buffers (e.g. ``num_batches_tracked``) keep their dtype.
        Optimizer state follows its parameter's device at the next step.
        """
        device = kwargs.pop("device", None)
        dtype = kwargs.pop("dtype", None)
        if kwargs:
            raise TypeError(f"Module.to() got an unexpected keyword argument "
                            f"{next(iter(kwargs))!r} (it takes device and dtype)")
        for a in args:
            if isinstance(a, str):
                device = a
            else:
                dtype = a
        if device is not None:
            device = backend.normalize_device(device)
            backend.array_module_for(device)
        for t in list(self.parameters()) + list(self.buffers()):
            data = t._data
            if dtype is not None and is_floating_dtype(data.dtype):
                data = data.astype(np.dtype(dtype))
            if device is not None:
                data = backend.to_device(data, device)
            t._data = data
            if t.grad is not None:
                t.grad = None
        return self

    def double(self) -> "Module":
        return self.to(np.float64)

    def float(self) -> "Module":
        return self.to(np.float32)

    def cpu(self) -> "Module":
        return self.to("cpu")

    def cuda(self, index: int = 0) -> "Module":
        return self.to(f"cuda:{index}")

    # ----- printing -------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ")
                 for name, m in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def module_device(module: Module) -> str:
    """The device of ``module``'s first parameter (or buffer); the default device if it has none.

    PyTorch's idiom ``next(model.parameters()).device``, as one call: code that is given a
    model and host data makes its tensors with ``tinygen.tensor(x, device=module_device(model))``
    instead of on the default device, which need not be where the model lives.
    """
    for p in module.parameters():
        return p.device
    for _, b in module.named_buffers():
        return b.device
    return backend.get_default_device()


class Sequential(Module):
    """Modules applied one after another. Supports len, iteration, indexing and slicing."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        return items[index][1]

    def append(self, module: Module) -> "Sequential":
        self.add_module(str(len(self)), module)
        return self


class ModuleList(Module):
    """A list of modules, registered under the names "0", "1", ..."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> "ModuleList":
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules) -> "ModuleList":
        for m in modules:
            self.append(m)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        values = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(values[index])
        return values[index]


class ModuleDict(Module):
    """A dict of modules, registered under their keys."""

    def __init__(self, modules=None):
        super().__init__()
        for name, m in (modules or {}).items():
            self.add_module(name, m)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __contains__(self, key):
        return key in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()
