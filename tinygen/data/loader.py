"""Mini-batches from host arrays, with seeded shuffling that resumes exactly.

    loader = DataLoader(ds.x, ds.y, batch_size=64, transform=Compose([ToFloat(), RandomHorizontalFlip()]))
    for x, y in loader:              # one epoch; x float32 (B, C, H, W) in [-1, 1], y int64 (B,)
        ...
    batches = loader.forever()       # endless, epoch after epoch (training by steps)

Randomness without hidden state: the order of epoch ``e`` is the permutation drawn by
``numpy.random.default_rng([seed, e])`` and the random transforms of batch ``b`` use
``default_rng([seed, e, b, 1])``. So the loader's whole RNG state is ``(seed, epoch, batch)``:
``state_dict()`` / ``load_state_dict()`` save and restore it, and a resumed run sees exactly
the batches (and flips and crops) the uninterrupted run would have seen.
"""
from __future__ import annotations

import inspect
from typing import Callable, Iterator, Optional, Sequence

import numpy as np


# --------------------------------------------------------------------------
# transforms: callables (x, rng) -> x on a whole batch
# --------------------------------------------------------------------------

def to_float(x: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W) / (N, H, W, C) -> float32 (N, C, H, W) in [-1, 1] (x / 127.5 - 1).

    4-D uint8 arrays are always read as channels-last (the Dataset convention). Float images
    are transposed only when clearly channels-last (last axis 1/3/4, axis 1 not), without
    rescaling; (N, C, H, W) floats and (N, D) points are only cast to float32.
    """
    x = np.asarray(x)
    channels_last = x.ndim == 4 and (x.dtype == np.uint8 or (x.shape[-1] in (1, 3, 4)
                                                             and x.shape[1] not in (1, 3, 4)))
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 127.5 - 1.0
    else:
        x = x.astype(np.float32, copy=False)
    if x.ndim == 3:
        x = x[:, None]                                   # (N, 1, H, W)
    elif channels_last:
        x = x.transpose(0, 3, 1, 2)                      # NHWC -> NCHW
    return np.ascontiguousarray(x)


def _call(t, x, rng):
    if getattr(t, "_takes_rng", None) is None:
        try:
            n = len([p for p in inspect.signature(t).parameters.values()
                     if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY,
                                                                          p.POSITIONAL_OR_KEYWORD)])
        except (TypeError, ValueError):
            n = 2
        takes = n >= 2
        try:
            t._takes_rng = takes
        except AttributeError:
            return t(x, rng) if takes else t(x)
    return t(x, rng) if t._takes_rng else t(x)


class ToFloat:
    """Transform form of :func:`to_float`."""

    def __call__(self, x, rng=None):
        return to_float(x)


class RandomHorizontalFlip:
    """Flip each image left-right with probability ``p``; x is (N, C, H, W) or (N, H, W)."""

    def __init__(self, p: float = 0.5):
        self.p = p

    def __call__(self, x, rng):
        flip = rng.random(len(x)) < self.p
        out = x.copy()
        out[flip] = x[flip][..., ::-1]
        return out


class RandomCrop:
    """Pad by ``padding`` (value ``fill``) on each side of H and W, then crop a random ``size``.

    x is (N, C, H, W) or (N, H, W); every image gets its own offset (CIFAR-style augmentation).
    """

    def __init__(self, size: int, padding: int = 0, fill: float = 0.0):
        self.size, self.padding, self.fill = size, padding, fill

    def __call__(self, x, rng):
        p, s = self.padding, self.size
        pad = [(0, 0)] * (x.ndim - 2) + [(p, p), (p, p)]
        padded = np.pad(x, pad, constant_values=self.fill) if p else x
        h, w = padded.shape[-2:]
        if s > h or s > w:
            raise ValueError(f"RandomCrop size {s} exceeds the padded image {h}x{w}")
        tops = rng.integers(0, h - s + 1, size=len(x))
        lefts = rng.integers(0, w - s + 1, size=len(x))
        return np.stack([padded[i, ..., t:t + s, l:l + s] for i, (t, l) in enumerate(zip(tops, lefts))])


class Compose:
    """Apply transforms in order, passing the batch's RNG to each that takes one."""

    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def __call__(self, x, rng):
        for t in self.transforms:
            x = _call(t, x, rng)
        return x


# --------------------------------------------------------------------------
# the loader
# --------------------------------------------------------------------------

class DataLoader:
    """Iterate mini-batches over equally long arrays.

    Args:
        arrays: one or more arrays with the same first dimension N (or one Dataset: its
            ``x`` and, if present, ``y``).
        batch_size: items per batch; the last batch is smaller unless ``drop_last``.
        shuffle: a new seeded permutation every epoch (else the stored order).
        seed: seed of the order and of the random transforms.
        transform: callable ``(x_batch, rng) -> x_batch`` (or ``x_batch -> x_batch``) applied
            to the FIRST array only (labels are left alone), e.g. ``Compose([ToFloat(), ...])``.
        device: if given (``"cpu"``, ``"cuda"``), every array of the batch becomes
            ``tinygen.tensor(array, device=device)``.
        as_tensor: make tensors on the default device even without ``device``.
    Yields:
        the batch array when there is one array, else a tuple of batch arrays (or tensors).
    """

    def __init__(self, *arrays, batch_size: int = 64, shuffle: bool = True, drop_last: bool = False,
                 seed: int = 0, transform: Optional[Callable] = None, device=None, as_tensor: bool = False):
        if len(arrays) == 1 and hasattr(arrays[0], "x") and not isinstance(arrays[0], np.ndarray):
            ds = arrays[0]
            arrays = (ds.x,) if getattr(ds, "y", None) is None else (ds.x, ds.y)
        if not arrays:
            raise ValueError("DataLoader needs at least one array")
        arrays = tuple(np.asarray(a) for a in arrays)
        lengths = [len(a) for a in arrays]
        if len(set(lengths)) != 1:
            raise ValueError(f"DataLoader arrays must have the same length; got {lengths}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}")
        if drop_last and lengths[0] < batch_size:
            raise ValueError(f"drop_last with {lengths[0]} items and batch_size {batch_size} "
                             "gives no batch at all")
        self.arrays = arrays
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.seed, self.transform = seed, transform
        self.device, self.as_tensor = device, as_tensor
        self.epoch, self.batch = 0, 0

    def __len__(self) -> int:
        """Batches per epoch."""
        n = len(self.arrays[0])
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        """Item indices of ``epoch`` in visiting order."""
        n = len(self.arrays[0])
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, epoch]).permutation(n)

    def _make_batch(self, index: np.ndarray, epoch: int, b: int):
        parts = [a[index] for a in self.arrays]
        if self.transform is not None:
            rng = np.random.default_rng([self.seed, epoch, b, 1])
            parts[0] = _call(self.transform, parts[0], rng)
        if self.device is not None or self.as_tensor:
            from tinygen.creation import tensor   # lazily: host-only use needs no engine
            parts = [tensor(p, device=self.device) for p in parts]
        return parts[0] if len(parts) == 1 else tuple(parts)

    def __iter__(self) -> Iterator:
        """The rest of the current epoch (all of it on a fresh loader); then the epoch advances."""
        epoch, order = self.epoch, self.order(self.epoch)
        while self.batch < len(self):
            b = self.batch
            index = order[b * self.batch_size:(b + 1) * self.batch_size]
            self.batch = b + 1                 # state now points at the next batch
            if self.batch == len(self):
                self.epoch, self.batch = epoch + 1, 0
                yield self._make_batch(index, epoch, b)
                return
            yield self._make_batch(index, epoch, b)

    def forever(self) -> Iterator:
        """Batches without end, epoch after epoch."""
        while True:
            yield from self

    def state_dict(self) -> dict:
        """Everything needed to continue exactly: seed, epoch and next batch index."""
        return {"seed": self.seed, "epoch": self.epoch, "batch": self.batch,
                "num_items": len(self.arrays[0]), "batch_size": self.batch_size}

    def load_state_dict(self, state: dict) -> None:
        if int(state["num_items"]) != len(self.arrays[0]) or int(state["batch_size"]) != self.batch_size:
            raise ValueError(f"loader state for {state['num_items']} items in batches of "
                             f"{state['batch_size']} does not fit this loader ({len(self.arrays[0])} "
                             f"items, batch_size {self.batch_size})")
        self.seed, self.epoch, self.batch = int(state["seed"]), int(state["epoch"]), int(state["batch"])
