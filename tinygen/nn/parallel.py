"""``torch.nn.parallel`` for one device: tinygen runs a module on one CPU or GPU.

``data_parallel(module, input, device_ids)`` splits a batch over GPUs in PyTorch; here it
simply calls the module, which is exactly what PyTorch does with one device. Scripts like
pytorch/examples' DCGAN (``if ngpu > 1: nn.parallel.data_parallel(...)``) run unchanged.
"""
from __future__ import annotations

from tinygen.nn.module import Module

__all__ = ["data_parallel", "DataParallel"]


def data_parallel(module, inputs, device_ids=None, output_device=None, dim=0, module_kwargs=None):
    """``module(inputs)`` (``inputs`` may be a tuple of positional arguments)."""
    args = inputs if isinstance(inputs, tuple) else (inputs,)
    return module(*args, **(module_kwargs or {}))


class DataParallel(Module):
    """Wraps ``module`` (reachable as ``.module``, state-dict keys ``module.*`` as PyTorch's)."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        self.module = module

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)
