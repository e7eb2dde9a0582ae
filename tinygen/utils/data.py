"""``torch.utils.data``: map-style datasets and the DataLoader that batches them.

    dataset = TensorDataset(images, labels)          # or your own Dataset subclass
    loader = DataLoader(dataset, batch_size=64, shuffle=True)
    for x, y in loader:                              # x (64, ...), y (64,) Tensors
        ...
    len(loader.dataset)                              # items, as in PyTorch

This is PyTorch's interface: a dataset answers ``len(ds)`` and ``ds[i]`` (one item), the
loader draws an order (a permutation from the seeded host generator, ``tinygen.manual_seed``,
when ``shuffle``), fetches the items of each batch and *collates* them (``default_collate``:
tensors, arrays and numbers are stacked along a new first dimension; tuples, lists and dicts
are collated field by field). A :class:`TensorDataset` is sliced with one index array per
batch instead of item by item.

tinygen's own :class:`tinygen.data.DataLoader` is the course's loader over whole host arrays,
with an order that resumes exactly from a checkpoint; the methods use that one. This module is
for PyTorch scripts. ``num_workers`` and ``pin_memory`` are accepted and change nothing:
batches are made in the main process (tinygen has no worker processes).
"""
from __future__ import annotations

from typing import Iterator, List, Sequence

from tinygen import backend
from tinygen.autograd import Tensor
from tinygen.creation import tensor
from tinygen.ops import stack

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "DataLoader", "default_collate"]

np = backend.numpy


class Dataset:
    """Base class of map-style datasets: define ``__len__`` and ``__getitem__(i)``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


class TensorDataset(Dataset):
    """Item i is ``tuple(t[i] for t in tensors)``; all tensors share their first dimension."""

    def __init__(self, *tensors: Tensor):
        lengths = [t.shape[0] for t in tensors]
        if len(set(lengths)) != 1:
            raise ValueError(f"TensorDataset: tensors must have the same first dimension, "
                             f"got {lengths}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The items ``indices`` of ``dataset``, renumbered 0..len(indices)-1."""

    def __init__(self, dataset, indices: Sequence[int]):
        self.dataset, self.indices = dataset, list(indices)

    def __getitem__(self, index):
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)


def random_split(dataset, lengths, generator=None) -> List[Subset]:
    """Split into non-overlapping Subsets of the given lengths (or fractions summing to 1)."""
    n = len(dataset)
    if all(isinstance(v, float) for v in lengths) and abs(sum(lengths) - 1) < 1e-9:
        counts = [int(v * n) for v in lengths]
        for i in range(n - sum(counts)):          # the remainder, round-robin (PyTorch's)
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError(f"random_split: lengths {list(lengths)} sum to {sum(lengths)}, "
                         f"but the dataset has {n} items")
    order = (generator or backend.host_rng()).permutation(n)
    out, start = [], 0
    for length in lengths:
        out.append(Subset(dataset, order[start:start + length].tolist()))
        start += length
    return out


def default_collate(items: list):
    """Stack a list of items into a batch, field by field (PyTorch's default_collate)."""
    first = items[0]
    if isinstance(first, Tensor):
        return stack(items, 0)
    if isinstance(first, np.ndarray):
        return tensor(np.stack(items))
    if isinstance(first, (bool, int, float, np.number)):
        return tensor(np.asarray(items))
    if isinstance(first, dict):
        return {k: default_collate([it[k] for it in items]) for k in first}
    if isinstance(first, (tuple, list)):
        return [default_collate(list(field)) for field in zip(*items)]
    return items                                   # strings and other objects: a plain list


class DataLoader:
    """Batches of a map-style dataset (PyTorch's arguments; see the module docstring).

    Args:
        dataset: has ``len(dataset)`` and ``dataset[i]``.
        batch_size: items per batch (the last one smaller unless ``drop_last``).
        shuffle: a new permutation each epoch, drawn from ``generator`` (a
            ``numpy.random.Generator``) or tinygen's seeded host generator.
        collate_fn: list of items -> batch (default :func:`default_collate`).
        num_workers, pin_memory, ...: accepted; batches are made in this process.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, sampler=None,
                 batch_sampler=None, num_workers: int = 0, collate_fn=None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn=None, generator=None, prefetch_factor=None,
                 persistent_workers: bool = False, **unused):
        if batch_size is None or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.sampler, self.drop_last, self.generator = sampler, drop_last, generator
        self.collate_fn = collate_fn
        self.num_workers, self.pin_memory = num_workers, pin_memory

    def __len__(self) -> int:
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self):
        if self.sampler is not None:
            return np.asarray(list(iter(self.sampler)), dtype=np.int64)
        if self.shuffle:
            return (self.generator or backend.host_rng()).permutation(len(self.dataset))
        return np.arange(len(self.dataset))

    def _batch(self, index):
        if isinstance(self.dataset, TensorDataset) and self.collate_fn is None:
            return [Tensor(t.data[backend.to_device(index, t.device)])
                    for t in self.dataset.tensors]
        items = [self.dataset[int(i)] for i in index]
        return (self.collate_fn or default_collate)(items)

    def __iter__(self) -> Iterator:
        order = self._order()
        for b in range(len(self)):
            yield self._batch(order[b * self.batch_size:(b + 1) * self.batch_size])
