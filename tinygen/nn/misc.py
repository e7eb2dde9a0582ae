"""Dropout, Dropout2d and Embedding modules (PyTorch's names, defaults and keys)."""
from __future__ import annotations

from tinygen import backend
from tinygen.nn import init
from tinygen.nn.module import Module, Parameter
from tinygen.ops import misc as M


class Dropout(Module):
    """Inverted dropout: y = x * m / (1 - p), m ~ Bernoulli(1 - p), in training; identity in eval.

    Srivastava et al. 2014, JMLR 15:1929-1958 (their p keeps a unit; ours drops it, as PyTorch).
    Masks come from the seeded host generator (``tinygen.manual_seed``).
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability p has to be between 0 and 1, got p={p}")
        self.p = p

    def forward(self, x):
        return M.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class Dropout2d(Dropout):
    """Channel dropout: whole (H, W) feature maps zeroed with probability p (Tompson et al. 2015,
    arXiv 1411.4280, Section 3.2). Shapes: (N, C, H, W) or (C, H, W)."""

    def forward(self, x):
        return M.dropout2d(x, self.p, self.training)


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``: y = weight[indices].

    Init: N(0, 1) (PyTorch's default); the ``padding_idx`` row is zeroed and
    receives no gradient.
    Shapes: indices (*) int -> output (*, embedding_dim); weight (num_embeddings, embedding_dim).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None,
                 device=None, dtype=None):
        super().__init__()
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx={padding_idx} must be within "
                                 f"[-{num_embeddings}, {num_embeddings})")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = \
            num_embeddings, embedding_dim, padding_idx
        xp = backend.array_module_for(device)
        self.weight = Parameter(xp.zeros((num_embeddings, embedding_dim),
                                         dtype=dtype or backend.default_float_dtype()))
        self.reset_parameters()

    def reset_parameters(self):
        init.normal_(self.weight, 0.0, 1.0)
        if self.padding_idx is not None:
            self.weight._data[self.padding_idx] = 0

    def forward(self, indices):
        return M.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self):
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"
