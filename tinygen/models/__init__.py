"""Architectures as nn.Modules, one file per family (imports only point downwards)."""
from tinygen.models.mlp import MLP, MLPGenerator, MLPDiscriminator  # noqa: F401
