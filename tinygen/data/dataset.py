"""The one container every dataset loader returns."""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional

import numpy as np


@dataclasses.dataclass
class Dataset:
    """Host arrays plus what a method needs to know about them.

    Attributes:
        x: the data. 2-D toys: float32 (N, 2) (1-D mixtures: (N, 1)). Images: uint8
           (N, H, W) for one channel or (N, H, W, 3) for colour, values 0..255 — the
           DataLoader's ``to_float`` turns them into float32 (N, C, H, W) in [-1, 1].
        y: int64 (N,) class labels, or None.
        name: the name it was loaded by (``ring8``, ``mnist``, ``npz:/path/x.npz``...).
        meta: extra facts. Toys: ``centres`` (K, D) float64 and ``std`` (mode coverage);
           shapes: ``labels`` (dict of int64 (N,) attribute arrays) and ``attributes``
           (attribute -> value names); all labelled sets: ``classes`` (names by label).
    """
    x: np.ndarray
    y: Optional[np.ndarray] = None
    name: str = ""
    meta: Dict[str, Any] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.x)

    def __getattr__(self, key):
        # dataset.centres, dataset.std, dataset.labels... read from meta
        meta = self.__dict__.get("meta", {})
        if key in meta:
            return meta[key]
        raise AttributeError(f"{type(self).__name__} {self.__dict__.get('name', '')!r} has no "
                             f"attribute {key!r} (meta has {sorted(meta)})")

    @property
    def is_image(self) -> bool:
        return self.x.ndim >= 3

    @property
    def shape(self):
        """Shape of one item, e.g. (28, 28) or (32, 32, 3) or (2,)."""
        return self.x.shape[1:]

    def subset(self, index) -> "Dataset":
        """A Dataset of ``x[index]`` (and ``y``, and per-item label arrays in ``meta``)."""
        meta = dict(self.meta)
        if "labels" in meta:
            meta["labels"] = {k: v[index] for k, v in meta["labels"].items()}
        return Dataset(self.x[index], None if self.y is None else self.y[index], self.name, meta)

    def __repr__(self):
        y = "None" if self.y is None else f"{self.y.dtype}{tuple(self.y.shape)}"
        return (f"Dataset({self.name!r}, x={self.x.dtype}{tuple(self.x.shape)}, y={y}, "
                f"meta={sorted(self.meta)})")


def check_images(x: np.ndarray, where: str) -> np.ndarray:
    """Validate an image array (N, H, W) or (N, H, W, C) with C in {1, 3, 4}; C=1 is squeezed."""
    x = np.asarray(x)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (3, 4)):
        raise ValueError(f"{where}: images must be (N, H, W) or (N, H, W, C) with C in (1, 3, 4); "
                         f"got shape {x.shape}")
    if x.dtype != np.uint8 and not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{where}: images must be uint8 (0..255) or float; got dtype {x.dtype}")
    return x
