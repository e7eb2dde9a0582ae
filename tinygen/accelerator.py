"""``torch.accelerator`` (PyTorch 2.6+): the current accelerator, or None on a CPU-only machine.

For tinygen the only accelerator is a CUDA GPU through CuPy:
``current_accelerator()`` is ``device("cuda")`` when one is available, else None.
"""
from __future__ import annotations

from typing import Optional

from tinygen import cuda
from tinygen.autograd import device

__all__ = ["is_available", "current_accelerator", "device_count"]


def is_available() -> bool:
    return cuda.is_available()


def current_accelerator(check_available: bool = False) -> Optional[device]:
    return device("cuda") if cuda.is_available() else None


def device_count() -> int:
    return cuda.device_count()
