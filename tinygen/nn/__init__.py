"""Neural-network building blocks: Module, Parameter, containers, layers, init."""
from tinygen.nn.module import Module, Parameter, Sequential, ModuleList, ModuleDict  # noqa: F401
from tinygen.nn.layers import (  # noqa: F401
    Linear, Identity, ReLU, LeakyReLU, Tanh, Sigmoid, Softplus, ELU, Softmax, LogSoftmax,
    Flatten, Unflatten,
)
from tinygen.nn.normalization import (  # noqa: F401
    BatchNorm1d, BatchNorm2d, InstanceNorm2d, LayerNorm, GroupNorm,
)
from tinygen.nn.misc import Dropout, Dropout2d, Embedding  # noqa: F401
from tinygen.nn import init  # noqa: F401
