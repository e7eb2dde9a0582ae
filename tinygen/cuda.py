"""``torch.cuda`` as far as scripts ask it: is there a GPU, how many, and the legacy classes.

tinygen's GPU arrays come from CuPy (``tinygen.backend``); ``is_available()`` is True when
CuPy imports and sees a device. Every random number is drawn on the host from one seeded
generator (``tinygen.manual_seed``), so ``cuda.manual_seed`` has nothing to seed and does
nothing; ``synchronize`` and ``empty_cache`` have nothing to do either.
"""
from __future__ import annotations

from tinygen import backend
from tinygen.creation import LEGACY_CUDA

__all__ = ["is_available", "device_count", "current_device", "manual_seed", "manual_seed_all",
           "synchronize", "empty_cache"] + sorted(LEGACY_CUDA)

FloatTensor, DoubleTensor, HalfTensor = (LEGACY_CUDA[k] for k in ("FloatTensor", "DoubleTensor",
                                                                  "HalfTensor"))
LongTensor, IntTensor, ShortTensor = (LEGACY_CUDA[k] for k in ("LongTensor", "IntTensor",
                                                               "ShortTensor"))
CharTensor, ByteTensor, BoolTensor = (LEGACY_CUDA[k] for k in ("CharTensor", "ByteTensor",
                                                               "BoolTensor"))


def is_available() -> bool:
    return backend.cuda_is_available()


def device_count() -> int:
    """How many CUDA devices tinygen can use (0 without CuPy or a GPU)."""
    if not is_available():
        return 0
    count = 0
    while count < 64:
        try:
            backend.array_module_for(f"cuda:{count}")
        except backend.DeviceError:
            break
        count += 1
    return count


def current_device() -> int:
    return 0


def manual_seed(seed: int) -> None:
    """Nothing to seed: tinygen draws on the host (``tinygen.manual_seed`` seeds that)."""


manual_seed_all = manual_seed


def synchronize(device=None) -> None:
    """Nothing to wait for in tinygen's eager CPU view (CuPy syncs on every host read)."""


def empty_cache() -> None:
    """Nothing cached to release."""
