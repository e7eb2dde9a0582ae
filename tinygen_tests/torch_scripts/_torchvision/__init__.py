"""A test stand-in for the few torchvision names the scripts use (not part of tinygen)."""
from . import datasets, transforms, utils  # noqa: F401
