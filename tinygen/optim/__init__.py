"""Optimizers with PyTorch's update rules: SGD, RMSprop, Adam, AdamW, Adadelta; and
``optim.lr_scheduler`` (StepLR, MultiStepLR, ExponentialLR, LambdaLR, CosineAnnealingLR)."""
from tinygen.optim.optimizer import Optimizer, SGD, RMSprop, Adam, AdamW, Adadelta  # noqa: F401
from tinygen.optim import lr_scheduler  # noqa: F401
