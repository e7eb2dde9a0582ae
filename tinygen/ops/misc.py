"""Dropout and embedding: two layers that are a constant mask and a gather.

Neither needs a hand-written backward:

* dropout multiplies by a random mask, which is a *constant* of the input
  (drawn once per call), so ``x * mask`` differentiates exactly to any order;
* embedding is integer-array indexing ``weight[indices]``, whose backward
  (:class:`tinygen.ops.shape.GetItemGrad`) scatter-adds, so an index that
  appears k times receives the sum of its k upstream gradients.
"""
from __future__ import annotations

from tinygen import backend
from tinygen.autograd import Tensor
from tinygen.ops.elementwise import where
from tinygen.ops.shape import getitem

np = backend.numpy   # host random numbers and dtypes only

__all__ = ["dropout", "dropout2d", "embedding"]


def _check_p(p, name):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: dropout probability p has to be between 0 and 1, got p={p}")


def _keep_mask(mask_shape, p, x):
    """The scaled keep mask m / (1 - p), m_i ~ Bernoulli(1 - p), drawn on the host.

    Drawn from ``backend.host_rng()`` and then moved to x's device, so that
    the same seed gives the same mask on CPU and GPU (at the cost of one
    host-to-device copy of the mask per call; for a (64, 128, 16, 16) batch
    that is 2M host random numbers, about 9 ms of a 20 ms dropout forward on
    a 2-core CPU). Chosen for reproducibility; a device-side generator would
    be faster on a GPU but would give different masks for the same seed.
    """
    u = backend.host_rng().random(mask_shape, dtype=np.float32)       # U[0, 1) on the host
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    mask = (u >= p).astype(x.dtype)                                    # 0 or 1
    mask *= scale                                                      # 0 or 1/(1-p)
    return Tensor(backend.to_device(mask, x.device))                   # a constant of x


def dropout(input, p=0.5, training=True):
    """Inverted dropout (Srivastava et al. 2014, "Dropout: A Simple Way to Prevent Neural
    Networks from Overfitting", JMLR 15:1929-1958, Section 4, r_j ~ Bernoulli(p)).

    Training:  y = x * m / (1 - p),  m_i ~ Bernoulli(1 - p) independently.
    Departures from the paper, both as in PyTorch: (1) here p is the
    probability of *dropping* a unit (the paper's p is the probability of
    keeping it); (2) the paper scales the weights by its p at test time,
    while "inverted" dropout scales by 1/(1 - p) at training time instead,
    so E[y] = x and evaluation is the identity. p = 1 drops everything (y = 0).

    Shapes: input (*) -> output (*).  Gradient: gx = gy * m / (1 - p).
    """
    _check_p(p, "dropout")
    if not training or p == 0.0:
        return input
    return input * _keep_mask(input.shape, p, input)


def dropout2d(input, p=0.5, training=True):
    """Channel dropout (Tompson et al. 2015, "Efficient Object Localization Using
    Convolutional Networks", arXiv 1411.4280, Section 3.2, "SpatialDropout"):
    whole feature maps are zeroed, one Bernoulli draw per (sample, channel).

    Shapes: input (N, C, H, W) or unbatched (C, H, W); mask (N, C, 1, 1) / (C, 1, 1).
    """
    _check_p(p, "dropout2d")
    if input.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected a 4-D input (N, C, H, W) or a 3-D input "
                         f"(C, H, W), got shape {input.shape}")
    if not training or p == 0.0:
        return input
    mask_shape = input.shape[:-2] + (1, 1)
    return input * _keep_mask(mask_shape, p, input)


def embedding(input, weight, padding_idx=None):
    """Look-up table: y[..., :] = weight[input[...], :] (a gather).

    Backward: gweight = zeros with gy scatter-added at the looked-up rows
    (repeated indices accumulate), via integer-array :func:`getitem`.
    ``padding_idx``: that row is returned as stored but receives no gradient
    (PyTorch's semantics), done by reading it from a detached copy of weight.

    Shapes:
        input   (*) integer indices in [0, num_embeddings)
        weight  (num_embeddings, embedding_dim)
        output  (*, embedding_dim)
    """
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), "
                         f"got shape {weight.shape}")
    V = weight.shape[0]
    xp = backend.get_array_module(weight._data)
    idx = input._data if isinstance(input, Tensor) else input
    idx = xp.asarray(idx)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers (e.g. int64), got dtype {idx.dtype}; "
                        "convert them with .long()")
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= V):
        raise IndexError(f"embedding: indices must lie in [0, {V}) for a table of {V} rows, got "
                         f"values from {int(idx.min())} to {int(idx.max())}")
    if padding_idx is not None:
        if not -V <= padding_idx < V:
            raise ValueError(f"embedding: padding_idx={padding_idx} out of range for {V} rows")
        padding_idx %= V
        trainable = xp.ones((V, 1), dtype=bool)
        trainable[padding_idx] = False
        weight = where(trainable, weight, weight.detach())          # same values, row cut off
    return getitem(weight, idx)                                       # (*, embedding_dim)
