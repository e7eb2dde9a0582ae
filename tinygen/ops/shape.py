"""Shape primitives: reshape, permute, indexing, concatenation, padding, flipping.

None of these change values, only where they sit, so each backward is the
"opposite" movement of the upstream gradient: reshape back, permute by the
inverse permutation, scatter into a zero array, slice. (Broadcasting and its
adjoint, ``broadcast_to`` and ``sum_to``, are in :mod:`tinygen.ops.broadcast`.)
"""
from __future__ import annotations

import builtins

from tinygen import backend
from tinygen.autograd import Function, Tensor, as_tensor

xp_of = backend.get_array_module


class Reshape(Function):
    """y = x viewed with another shape (same number of elements);  gx = gy reshaped back."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.input_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError as exc:
            raise ValueError(f"reshape: cannot view a tensor of shape {x.shape} "
                             f"({x.size} elements) as {self.shape}") from exc

    def backward(self, gy):
        return reshape(gy, self.input_shape)


class Permute(Function):
    """y = x with axes reordered by ``axes``;  gx = gy permuted by the inverse order."""

    def __init__(self, axes):
        self.axes = tuple(axes)

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        inverse = tuple(sorted(range(len(self.axes)), key=lambda i: self.axes[i]))
        return permute(gy, inverse)


def _is_basic_index(index) -> bool:
    """True for indices made only of ints, slices, None and Ellipsis (no repeats possible)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, slice, type(None), type(Ellipsis))) and not isinstance(i, bool)
               for i in items)


def _normalize_index(index, xp):
    """Replace Tensors and lists in an index by backend arrays."""
    def one(i):
        if isinstance(i, Tensor):
            return i._data
        if isinstance(i, list):
            return xp.asarray(i)
        return i
    if isinstance(index, tuple):
        return tuple(one(i) for i in index)
    return one(index)


class GetItem(Function):
    """y = x[index] (basic or integer-array indexing);  gx = zeros with gy scattered to index."""

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.input_shape = x.shape
        return x[self.index]

    def backward(self, gy):
        return GetItemGrad(self.index, self.input_shape)(gy)


class GetItemGrad(Function):
    """The adjoint of indexing: y = zeros(shape); y[index] += x (repeated indices accumulate).

    Its own backward is indexing again, so gradients of gradients work.
    """

    def __init__(self, index, shape):
        self.index, self.shape = index, tuple(shape)

    def forward(self, gy):
        gx = xp_of(gy).zeros(self.shape, dtype=gy.dtype)
        if _is_basic_index(self.index):
            gx[self.index] = gy
        else:
            backend.scatter_add(gx, self.index, gy)
        return gx

    def backward(self, ggx):
        return getitem(ggx, self.index)


class Concat(Function):
    """y = [x_1, ..., x_n] joined along ``axis``;  g x_i = the matching slice of gy."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return xp_of(xs[0]).concatenate(xs, axis=self.axis)

    def backward(self, gy):
        grads, start = [], 0
        for size in self.sizes:
            index = (slice(None),) * (self.axis % gy.ndim) + (slice(start, start + size),)
            grads.append(getitem(gy, index))
            start += size
        return tuple(grads)


class Pad(Function):
    """y = x with ``value`` added around it: ``pad_width`` = ((before, after) per axis).

    gx = the central slice of gy. Negative widths are not supported (use slicing).
    """

    def __init__(self, pad_width, value=0.0):
        self.pad_width, self.value = tuple(tuple(p) for p in pad_width), value

    def forward(self, x):
        return xp_of(x).pad(x, self.pad_width, mode="constant", constant_values=self.value)

    def backward(self, gy):
        index = tuple(slice(lo, gy.shape[i] - hi) for i, (lo, hi) in enumerate(self.pad_width))
        return getitem(gy, index)


class Flip(Function):
    """y = x reversed along ``axes``;  gx = gy reversed along the same axes."""

    def __init__(self, axes):
        self.axes = tuple(axes)

    def forward(self, x):
        return xp_of(x).flip(x, self.axes)

    def backward(self, gy):
        return flip(gy, self.axes)


# ============================================================================
# lowercase functional forms (composites are built from the primitives above)
# ============================================================================

def _axis(axis, ndim):
    if not -ndim <= axis < builtins.max(ndim, 1):
        raise IndexError(f"dimension {axis} out of range for a tensor with {ndim} dimensions")
    return axis % builtins.max(ndim, 1)


def reshape(x, shape):
    shape = tuple(shape)
    if isinstance(x, Tensor) and x.shape == shape:
        return x
    return Reshape(shape)(x)


def flatten(x, start_dim=0, end_dim=-1):
    """Merge dimensions start_dim..end_dim into one (PyTorch's flatten)."""
    if x.ndim == 0:
        return reshape(x, (1,))
    s, e = _axis(start_dim, x.ndim), _axis(end_dim, x.ndim)
    n = 1
    for d in x.shape[s:e + 1]:
        n *= d
    return reshape(x, x.shape[:s] + (n,) + x.shape[e + 1:])


def permute(x, axes):
    axes = tuple(_axis(a, x.ndim) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"permute: {axes} is not a permutation of the {x.ndim} dimensions")
    return Permute(axes)(x)


def transpose(x, dim0=-2, dim1=-1):
    """Swap two dimensions (default: the last two, i.e. matrix transpose)."""
    axes = list(range(x.ndim))
    d0, d1 = _axis(dim0, x.ndim), _axis(dim1, x.ndim)
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return Permute(tuple(axes))(x)


def squeeze(x, dim=None):
    """Remove size-1 dimensions (all, or only ``dim``: an int or a tuple)."""
    if dim is None:
        dims = [i for i, s in enumerate(x.shape) if s == 1]
    else:
        dims = [_axis(d, x.ndim) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))]
        dims = [d for d in dims if x.shape[d] == 1]
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if i not in dims))


def unsqueeze(x, dim):
    """Insert a size-1 dimension at ``dim`` (negative counts from the new end)."""
    dim = dim if dim >= 0 else dim + x.ndim + 1
    if not 0 <= dim <= x.ndim:
        raise IndexError(f"unsqueeze: dim {dim} out of range for {x.ndim} dimensions")
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


def getitem(x, index):
    xp = xp_of(x._data)
    return GetItem(_normalize_index(index, xp))(x)


def concat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concat needs at least one tensor")
    like = next((t for t in tensors if isinstance(t, Tensor)), None)
    tensors = [as_tensor(t, like) for t in tensors]
    ndim = tensors[0].ndim
    for i, t in enumerate(tensors):
        if t.ndim != ndim:
            raise ValueError(f"concat: tensor {i} has {t.ndim} dimensions, tensor 0 has {ndim}")
    return Concat(_axis(dim, ndim))(*tensors)


cat = concat


def stack(tensors, dim=0):
    """Join tensors of equal shape along a new dimension ``dim``."""
    tensors = list(tensors)
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack needs tensors of one shape, got {sorted(shapes)}")
    return concat([unsqueeze(t, dim) for t in tensors], dim)


def split(x, split_size_or_sections, dim=0):
    """Split into pieces of ``split_size`` (last may be smaller) or of the listed sizes."""
    dim = _axis(dim, x.ndim)
    size = x.shape[dim]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        sizes = [builtins.min(step, size - s) for s in range(0, size, step)]
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != size:
            raise ValueError(f"split: sections {sizes} do not add up to dimension {dim} of size {size}")
    pieces, start = [], 0
    for s in sizes:
        pieces.append(getitem(x, (slice(None),) * dim + (slice(start, start + s),)))
        start += s
    return tuple(pieces)


def chunk(x, chunks, dim=0):
    size = x.shape[_axis(dim, x.ndim)]
    return split(x, -(-size // chunks), dim)


def pad(x, pad_width, value=0.0):
    """Constant padding, NumPy-style ``pad_width`` ((before, after) for every axis).

    For PyTorch-style last-axis-first tuples and reflect/replicate modes see
    :func:`tinygen.functional.pad`.
    """
    pad_width = [tuple(p) for p in pad_width]
    if len(pad_width) != x.ndim:
        raise ValueError(f"pad: pad_width has {len(pad_width)} entries for {x.ndim} dimensions")
    if builtins.any(p < 0 for pair in pad_width for p in pair):
        raise ValueError(f"pad: negative widths {pad_width} are not supported")
    return Pad(pad_width, value)(x)


def flip(x, dims):
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    return Flip(tuple(_axis(d, x.ndim) for d in dims))(x)
