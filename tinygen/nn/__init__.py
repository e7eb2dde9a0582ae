"""Neural-network building blocks: Module, Parameter, containers, layers, losses, init.

PyTorch's module paths work too: ``nn.functional`` (the same module as
:mod:`tinygen.functional`), ``nn.init``, ``nn.utils`` (clip_grad_norm_, spectral_norm) and
``nn.parallel`` (data_parallel, for one device).
"""
from tinygen.nn.module import (  # noqa: F401
    Module, Parameter, Sequential, ModuleList, ModuleDict, module_device,
)
from tinygen.nn.layers import (  # noqa: F401
    Linear, Identity, ReLU, LeakyReLU, Tanh, Sigmoid, Softplus, ELU, GELU, SiLU, PReLU, Softmax,
    LogSoftmax, Flatten, Unflatten,
)
from tinygen.nn.normalization import (  # noqa: F401
    BatchNorm1d, BatchNorm2d, BatchNorm3d, InstanceNorm2d, LayerNorm, GroupNorm,
)
from tinygen.nn.misc import Dropout, Dropout2d, Embedding  # noqa: F401
from tinygen.nn.conv import Conv1d, Conv2d, Conv3d, ConvTranspose2d, ConvTranspose3d  # noqa: F401
from tinygen.nn.pooling import (  # noqa: F401
    MaxPool1d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Upsample, UpsamplingNearest2d,
    UpsamplingBilinear2d, PixelShuffle, PixelUnshuffle, ReflectionPad2d, ReplicationPad2d,
    ZeroPad2d, ConstantPad2d, CircularPad2d,
)
from tinygen.nn.loss import (  # noqa: F401
    BCELoss, BCEWithLogitsLoss, MSELoss, L1Loss, CrossEntropyLoss, NLLLoss, SmoothL1Loss,
    KLDivLoss,
)
from tinygen.nn import functional, init, parallel, utils  # noqa: F401
from tinygen import torchnames as _torchnames


def __getattr__(name):
    raise _torchnames.missing("tinygen.nn", name, globals())
