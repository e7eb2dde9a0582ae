"""Run PyTorch scripts on tinygen: ``torch`` and every ``torch.X`` resolve to ``tinygen`` /
``tinygen.X`` (issue 16), and ``torchvision`` to a small test stand-in.

    with torch_is_tinygen():
        runpy.run_path("tinygen_tests/torch_scripts/dcgan_examples.py", run_name="__main__")

Inside the block ``import torch`` gives the ``tinygen`` package itself and ``import
torch.nn.functional as F`` gives ``tinygen.functional``: the same module objects, so nothing is
copied or wrapped. On exit every ``torch*`` / ``torchvision*`` entry of ``sys.modules`` is put
back as it was (the real torch, when the oracle tests imported it first), and the finder is
removed.

torchvision is not part of tinygen. The scripts read their data through it as the originals do
(``datasets.MNIST``, ``transforms.Compose``, ``utils.save_image``), so ``_torchvision`` gives
just those names: MNIST from tinygen's synthetic digits (64 images by default, so a few
iterations make an epoch), FakeData, the four transforms the scripts use, and save_image.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import os
import sys

STUB = "tinygen_tests.torch_scripts._torchvision"
_STUB_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_scripts", "_torchvision")


ALIASES = (("torchvision", STUB), ("torch", "tinygen"))


def _target(fullname: str, aliases=ALIASES):
    """The module that should answer the import of ``fullname``, or None if it is not ours."""
    for prefix, real in aliases:
        if fullname == prefix or fullname.startswith(prefix + "."):
            return real + fullname[len(prefix):]
    return None


class TorchAsTinygen(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """A meta-path finder + loader that hands out existing tinygen modules under torch's names."""

    def __init__(self, aliases=ALIASES):
        self.aliases = aliases

    def find_spec(self, fullname, path=None, target=None):
        name = _target(fullname, self.aliases)
        if name is None:
            return None
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: tinygen has no {name!r} (see "
                "docs/coming_from_pytorch.md for what tinygen provides)", name=fullname) from e
        spec = importlib.machinery.ModuleSpec(fullname, self)
        spec._module, spec._own_spec = module, module.__spec__
        return spec

    def create_module(self, spec):
        return spec._module

    def exec_module(self, module):
        # The import system has just set module.__spec__ to torch's spec: give it back its own.
        module.__spec__ = module.__spec__._own_spec


@contextlib.contextmanager
def _aliased(aliases, torch_module=None):
    prefixes = tuple(prefix for prefix, _ in aliases)
    ours = lambda name: any(name == p or name.startswith(p + ".") for p in prefixes)  # noqa: E731
    saved = {k: v for k, v in sys.modules.items() if ours(k)}
    for k in saved:
        del sys.modules[k]
    finder = TorchAsTinygen(aliases)
    sys.meta_path.insert(0, finder)
    if torch_module is not None:
        sys.modules["torch"] = torch_module
    try:
        yield torch_module
    finally:
        sys.meta_path.remove(finder)
        for k in [k for k in sys.modules if ours(k)]:
            del sys.modules[k]
        sys.modules.update(saved)


def torch_is_tinygen():
    """``sys.modules`` maps torch -> tinygen (torch.X -> tinygen.X) inside the block, and
    torchvision -> the stand-in."""
    import tinygen
    return _aliased(ALIASES, tinygen)


def torchvision_stub():
    """Only torchvision -> the stand-in (the real torch stays): for the oracle's runs."""
    return _aliased(ALIASES[:1])
