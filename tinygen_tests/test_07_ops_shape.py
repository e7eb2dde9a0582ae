"""Shape ops: reshape, flatten, permute/transpose, squeeze/unsqueeze, broadcast_to,
concat/stack/split/chunk, pad, getitem (every index kind), flip.

They only move values, so the forward is compared exactly with NumPy and the
gradients (first and second order) by gradcheck on hypothesis-drawn shapes
with non-contiguous leaves.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
from tinygen import ops
from tinygen_tests.conftest import SETTINGS, assert_array_equal, check_grads, leaf, shapes, t64


@SETTINGS
@given(data=st.data(), shape=shapes(min_dims=0, max_dims=4))
def test_reshape_and_flatten(data, shape):
    x = leaf(data.draw, shape)
    n = int(np.prod(shape, dtype=int))
    new = data.draw(st.sampled_from([(n,), (1, n), (n, 1, 1)]))
    assert_array_equal(ops.reshape(x, new).data, np.reshape(x.data, new))
    check_grads(lambda t: ops.reshape(t, new), x)
    if len(shape) >= 1:
        s = data.draw(st.integers(0, len(shape) - 1))
        e = data.draw(st.integers(s, len(shape) - 1))
        expect = shape[:s] + (int(np.prod(shape[s:e + 1], dtype=int)),) + shape[e + 1:]
        assert ops.flatten(x, s, e).shape == expect
        check_grads(lambda t: ops.flatten(t, s, e), x)
    assert x.reshape(-1).shape == (n,)


def test_reshape_error_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        ops.reshape(tg.zeros(2, 3), (4,))


@SETTINGS
@given(data=st.data(), shape=shapes(min_dims=1, max_dims=4))
def test_permute_and_transpose(data, shape):
    x = leaf(data.draw, shape)
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    assert_array_equal(ops.permute(x, perm).data, np.transpose(x.data, perm))
    check_grads(lambda t: ops.permute(t, perm), x)
    d0 = data.draw(st.integers(-len(shape), len(shape) - 1))
    d1 = data.draw(st.integers(-len(shape), len(shape) - 1))
    assert_array_equal(ops.transpose(x, d0, d1).data, np.swapaxes(x.data, d0, d1))
    check_grads(lambda t: ops.transpose(t, d0, d1), x)
    assert_array_equal(x.T.data, x.data.T)


def test_permute_rejects_a_non_permutation():
    with pytest.raises(ValueError, match="not a permutation"):
        ops.permute(tg.zeros(2, 3), (0, 0))


@SETTINGS
@given(data=st.data(), shape=shapes(min_dims=0, max_dims=4))
def test_squeeze_unsqueeze(data, shape):
    x = leaf(data.draw, shape)
    assert_array_equal(ops.squeeze(x).data, np.squeeze(x.data))
    check_grads(ops.squeeze, x)
    d = data.draw(st.integers(-len(shape) - 1, len(shape)))
    assert_array_equal(ops.unsqueeze(x, d).data, np.expand_dims(x.data, d))
    check_grads(lambda t: ops.unsqueeze(t, d), x)
    if shape:
        d = data.draw(st.integers(0, len(shape) - 1))
        expect = shape if shape[d] != 1 else shape[:d] + shape[d + 1:]
        assert ops.squeeze(x, d).shape == expect        # squeezing a non-1 dim is a no-op (PyTorch)


def test_expand_with_minus_one():
    x = t64([[1.0], [2.0]])
    y = x.expand(3, -1, 4)
    assert y.shape == (3, 2, 4)
    check_grads(lambda t: t.expand(3, -1, 4), x)
    with pytest.raises(ValueError, match=r"\(2, 1\).*\(3, 4\)"):
        ops.broadcast_to(x, (3, 4))


@SETTINGS
@given(data=st.data(), shape=shapes(min_dims=1), n=st.integers(1, 3))
def test_concat_and_stack(data, shape, n):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    parts = []
    for _ in range(n):
        s = list(shape)
        s[dim] = data.draw(st.integers(1, 3))
        parts.append(leaf(data.draw, tuple(s)))
    assert_array_equal(ops.concat(parts, dim).data, np.concatenate([p.data for p in parts], dim))
    check_grads(lambda *ts: ops.concat(ts, dim), parts)
    same = [leaf(data.draw, shape) for _ in range(n)]
    sdim = data.draw(st.integers(-len(shape) - 1, len(shape)))
    assert_array_equal(ops.stack(same, sdim).data, np.stack([p.data for p in same], sdim))
    check_grads(lambda *ts: ops.stack(ts, sdim), same)


def test_concat_and_stack_errors_name_the_shapes():
    with pytest.raises(ValueError, match="dimensions"):
        ops.concat([tg.zeros(2, 3), tg.zeros(3)])
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        ops.stack([tg.zeros(2, 3), tg.zeros(3, 2)])


@SETTINGS
@given(data=st.data(), shape=shapes(min_dims=1, max_side=5))
def test_split_and_chunk(data, shape):
    x = leaf(data.draw, shape)
    dim = data.draw(st.integers(0, len(shape) - 1))
    size = data.draw(st.integers(1, shape[dim]))
    pieces = ops.split(x, size, dim)
    ref = np.split(x.data, list(range(size, shape[dim], size)), axis=dim)
    assert len(pieces) == len(ref)
    for p, r in zip(pieces, ref):
        assert_array_equal(p.data, r)
    check_grads(lambda t: ops.split(t, size, dim), x)
    chunks = data.draw(st.integers(1, 3))
    got = ops.chunk(x, chunks, dim)
    assert sum(p.shape[dim] for p in got) == shape[dim] and len(got) <= chunks
    check_grads(lambda t: ops.chunk(t, chunks, dim), x)
    # sections, and a gradient that reaches only some pieces (the others get zeros)
    check_grads(lambda t: ops.split(t, [shape[dim] - 1, 1], dim)[-1], x)


def test_split_sections_must_add_up():
    with pytest.raises(ValueError, match=r"\[1, 1\].*size 3"):
        ops.split(tg.zeros(3), [1, 1])


@SETTINGS
@given(data=st.data(), shape=shapes(min_dims=1), value=st.sampled_from([0.0, -1.5]))
def test_pad(data, shape, value):
    x = leaf(data.draw, shape)
    widths = [(data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))) for _ in shape]
    assert_array_equal(ops.pad(x, widths, value).data,
                                  np.pad(x.data, widths, constant_values=value))
    check_grads(lambda t: ops.pad(t, widths, value), x)


def test_pad_errors():
    with pytest.raises(ValueError, match="2 entries for 1 dimensions"):
        ops.pad(tg.zeros(3), [(1, 1), (1, 1)])
    with pytest.raises(ValueError, match="negative"):
        ops.pad(tg.zeros(3), [(-1, 1)])


@SETTINGS
@given(data=st.data(), shape=shapes(min_dims=1, max_dims=4))
def test_flip(data, shape):
    x = leaf(data.draw, shape)
    dims = tuple(data.draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True)))
    assert_array_equal(ops.flip(x, dims).data, np.flip(x.data, dims))
    check_grads(lambda t: ops.flip(t, dims), x)


# ----------------------------------------------------------------------------
# getitem: every kind of index
# ----------------------------------------------------------------------------

@st.composite
def basic_index(draw, shape):
    """A tuple of ints, slices (negative steps too), None and at most one Ellipsis."""
    items, d = [], 0
    used_ellipsis = False
    while d < len(shape):
        kind = draw(st.sampled_from(["int", "slice", "slice", "none", "ellipsis"]))
        if kind == "int":
            items.append(draw(st.integers(-shape[d], shape[d] - 1)))
            d += 1
        elif kind == "slice":
            start = draw(st.none() | st.integers(-shape[d] - 1, shape[d]))
            stop = draw(st.none() | st.integers(-shape[d] - 1, shape[d]))
            step = draw(st.sampled_from([None, 1, 2, -1, -2]))
            items.append(slice(start, stop, step))
            d += 1
        elif kind == "none":
            items.append(None)
        elif not used_ellipsis:
            items.append(Ellipsis)
            used_ellipsis = True
            break
    return tuple(items)


@SETTINGS
@given(data=st.data(), shape=shapes(min_dims=1, max_dims=3, max_side=4))
def test_getitem_basic(data, shape):
    x = leaf(data.draw, shape)
    index = data.draw(basic_index(shape))
    ref = x.data[index]
    assert_array_equal(x[index].data, ref)
    if ref.size == 0:
        return
    check_grads(lambda t: t[index], x)


@SETTINGS
@given(data=st.data(), shape=shapes(min_dims=1, max_dims=3, max_side=4))
def test_getitem_integer_arrays_with_repeats(data, shape):
    x = leaf(data.draw, shape)
    idx = data.draw(st.lists(st.integers(-shape[0], shape[0] - 1), min_size=1, max_size=6))
    assert_array_equal(x[idx].data, x.data[np.array(idx)])
    check_grads(lambda t: t[idx], x)
    # a repeated index accumulates: x[[0, 0, 0]].sum() has gradient 3 at 0
    y = t64(np.zeros(shape))
    y[[0, 0, 0]].sum().backward()
    assert np.all(y.grad.data[0] == 3.0)
    if len(shape) >= 2:                      # mixed with a slice, and a Tensor index
        t_idx = tg.tensor(np.array(idx) % shape[0])
        cols = np.array(idx) % shape[1]
        assert_array_equal(x[1:, cols].data, x.data[1:, cols])
        check_grads(lambda t: t[1:, cols], x)
        check_grads(lambda t: t[:, np.array(idx) % shape[1]], x)
        check_grads(lambda t: t[t_idx], x)


@SETTINGS
@given(data=st.data(), shape=shapes(min_dims=1, max_dims=3, max_side=4))
def test_getitem_boolean_mask(data, shape):
    x = leaf(data.draw, shape)
    mask = np.random.default_rng(data.draw(st.integers(0, 99))).random(shape) > 0.4
    assert_array_equal(x[mask].data, x.data[mask])
    check_grads(lambda t: t[mask], x)
    check_grads(lambda t: t[tg.Tensor(mask)], x)
    row_mask = mask.reshape(-1)[: shape[0]] if mask.size >= shape[0] else np.ones(shape[0], bool)
    check_grads(lambda t: t[row_mask], x)


def test_getitem_gradient_values():
    x = t64(np.arange(6.0).reshape(2, 3))
    x[::-1, [2, 2, 0]].backward(tg.tensor(np.arange(6.0).reshape(2, 3)))
    assert_array_equal(x.grad.data, [[5.0, 0.0, 7.0], [2.0, 0.0, 1.0]])


def test_iterating_a_tensor_differentiates():
    x = t64([[1.0, 2.0], [3.0, 4.0]])
    rows = list(x)
    (rows[0] * rows[1]).sum().backward()
    assert_array_equal(x.grad.data, [[3.0, 4.0], [1.0, 2.0]])
