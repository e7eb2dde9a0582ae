"""``torch.nn.functional`` as PyTorch spells it: this *is* :mod:`tinygen.functional`.

tinygen keeps its composites in one module, ``tinygen.functional`` (conv2d, softmax, the
losses...). PyTorch scripts import it as ``torch.nn.functional`` (``import torch.nn.functional
as F``); so that both spellings name one module, importing this one hands back
``tinygen.functional`` itself (``tinygen.nn.functional is tinygen.functional``).
"""
import sys

from tinygen import functional as _functional

sys.modules[__name__] = _functional
