"""Architectures as nn.Modules, one file per family (imports only point downwards)."""
from tinygen.models.mlp import MLP, MLPGenerator, MLPDiscriminator  # noqa: F401
from tinygen.models.autoencoders import (  # noqa: F401
    MLPEncoder, MLPDecoder, ConvEncoder, ConvDecoder, AutoEncoder, GaussianEncoder, VAEModel,
)
from tinygen.models.inception_fid import InceptionV3FID  # noqa: F401
from tinygen.models.lenet import LeNet  # noqa: F401
from tinygen.models.vgg import VGG19, vgg19, RandomMultiScaleFeatures  # noqa: F401
from tinygen.models.translation import (  # noqa: F401
    UNetGenerator, PatchGANDiscriminator, ResNetGenerator, receptive_field,
)
