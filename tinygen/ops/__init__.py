"""Differentiable primitives (one ``Function`` class + one lowercase function each).

Grouped by theme:

* :mod:`~tinygen.ops.broadcast`   — broadcast_to and sum_to (each other's backward)
* :mod:`~tinygen.ops.elementwise` — arithmetic, exp/log, activations, where, cast
* :mod:`~tinygen.ops.reduction`   — sum, max/min, mean, var, logsumexp
* :mod:`~tinygen.ops.shape`       — reshape, permute, getitem, concat, pad, flip
* :mod:`~tinygen.ops.linalg`      — matmul, linear
"""
from tinygen.ops.broadcast import broadcast_to, sum_to  # noqa: F401
from tinygen.ops.shape import (  # noqa: F401
    reshape, flatten, permute, transpose, squeeze, unsqueeze, getitem,
    concat, cat, stack, split, chunk, pad, flip,
)
from tinygen.ops.reduction import (  # noqa: F401
    sum, max, min, mean, var, logsumexp,
)
from tinygen.ops.elementwise import (  # noqa: F401
    add, sub, mul, div, neg, pow, exp, log, sqrt, abs, maximum, minimum, clip, clamp,
    where, cast, to_device, clone, tanh, sigmoid, relu, leaky_relu, softplus, erf,
)
from tinygen.ops.linalg import linear, matmul  # noqa: F401
