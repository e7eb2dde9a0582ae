"""``torch.backends``: switches that tune PyTorch's kernel libraries (cuDNN, MPS).

tinygen has no such libraries, so the switches exist for scripts to set and change nothing:
``cudnn.benchmark = True`` is fine, and ``mps.is_available()`` is False.
"""
from tinygen.backends import cudnn, mps  # noqa: F401
