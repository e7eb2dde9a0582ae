"""The generator / discriminator pair of the GAN family, for 2-D points or images.

Every GAN method (gan, dcgan, wgan, wgan-gp) trains one of two pairs:

    mlp     G: z -> x and D: x -> logit, multilayer perceptrons (Goodfellow et al. 2014,
            Sec. 3); on images D flattens its input and G ends with tanh + reshape
    dcgan   the convolutional pair of Radford et al. 2015 (models/dcgan.py)

``GANArch`` declares the architecture options once (they become ``--arch``, ``--hidden``,
... of every GAN method's command line); :func:`build_gan_pair` builds the pair.
"""
from __future__ import annotations

import dataclasses
from typing import Literal

from tinygen import nn
from tinygen.models.dcgan import DCGANDiscriminator, DCGANGenerator
from tinygen.models.mlp import MLPDiscriminator, MLPGenerator

__all__ = ["GANArch", "build_gan_pair", "latent_size"]


@dataclasses.dataclass
class GANArch:
    """Architecture options shared by gan, dcgan, wgan and wgan-gp."""
    arch: Literal["auto", "mlp", "dcgan"] = "auto"   # auto: mlp for 2-D points, dcgan for images
    latent_dim: int = 0                # dim of z; 0 = auto (2 for 2-D points, 100 for images)
    hidden: int = 128                  # MLP width
    n_hidden: int = 3                  # MLP hidden layers
    g_activation: Literal["relu", "leaky_relu", "tanh"] = "relu"   # MLP generator activation
    d_activation: Literal["relu", "leaky_relu", "tanh"] = "leaky_relu"   # MLP D activation
                                       # (paper: maxout; LeakyReLU(0.2) is a GAN hack)
    ngf: int = 64                      # DCGAN generator width (channels of the last hidden layer)
    ndf: int = 64                      # DCGAN discriminator width (channels of the first layer)


def latent_size(arch: GANArch, is_points: bool) -> int:
    """dim z: ``latent_dim``, or 2 for 2-D points and 100 for images (DCGAN's z in R^100)."""
    return arch.latent_dim or (2 if is_points else 100)


def build_gan_pair(arch: GANArch, data_shape: tuple, d_norm: str = "batch", device=None):
    """(G, D) for data of ``data_shape`` ((2,) for points, (C, H, W) for images), on ``device``
    (None: the default device, where layers are made, as PyTorch's factories do).

    ``d_norm``: normalisation in D: 'batch' (DCGAN), 'none' or 'layer' (a WGAN-GP critic,
    whose penalty is per sample and must not mix the batch).
    """
    is_points = len(data_shape) == 1
    name = arch.arch if arch.arch != "auto" else ("mlp" if is_points else "dcgan")
    nz = latent_size(arch, is_points)
    if name == "dcgan":
        if is_points:
            raise ValueError(f"arch 'dcgan' needs image data, got points of shape {data_shape}; "
                             "use --arch mlp (or auto) for 2-D toys")
        channels, size = data_shape[0], data_shape[-1]
        return (DCGANGenerator(nz, channels, size, arch.ngf).to(device),
                DCGANDiscriminator(channels, size, arch.ndf, norm=d_norm).to(device))
    if name != "mlp":
        raise ValueError(f"arch must be 'mlp', 'dcgan' or 'auto', got {arch.arch!r}")
    if d_norm not in ("batch", "none", "layer"):
        raise ValueError(f"d_norm must be 'batch', 'none' or 'layer', got {d_norm!r}")
    dim = 1
    for s in data_shape:
        dim *= s
    G = MLPGenerator(nz, dim, arch.hidden, arch.n_hidden, arch.g_activation)
    D = MLPDiscriminator(dim, arch.hidden, arch.n_hidden, arch.d_activation, d_norm == "layer")
    if not is_points:                  # images: flatten for D, tanh + reshape for G
        G = nn.Sequential(G, nn.Tanh(), nn.Unflatten(1, tuple(data_shape)))
        D = nn.Sequential(nn.Flatten(), D)
    return G.to(device), D.to(device)
