"""Optimizers with PyTorch's update rules: SGD, RMSprop, Adam, AdamW."""
from tinygen.optim.optimizer import Optimizer, SGD, RMSprop, Adam, AdamW  # noqa: F401
