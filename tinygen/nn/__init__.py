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
from tinygen.nn.conv import Conv2d, ConvTranspose2d  # noqa: F401
from tinygen.nn.pooling import (  # noqa: F401
    MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Upsample, UpsamplingNearest2d, UpsamplingBilinear2d,
    PixelShuffle, PixelUnshuffle, ReflectionPad2d, ReplicationPad2d, ZeroPad2d, ConstantPad2d,
    CircularPad2d,
)
from tinygen.nn import init  # noqa: F401
