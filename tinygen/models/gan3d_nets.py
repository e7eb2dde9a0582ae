"""3D-GAN's volumetric generator and discriminator: Wu, Zhang, Xue, Freeman & Tenenbaum,
"Learning a Probabilistic Latent Space of Object Shapes via 3D Generative-Adversarial
Modeling", NIPS 2016, arXiv:1610.07584, Sec. 3.1 and Fig. 1.

The DCGAN recipe (models/dcgan.py) with every 2-D layer replaced by its 3-D version:

    G:  z (N, 200) -> (N, 200, 1, 1, 1)
        -> ConvT3d 4^3, stride 1       (N, 512, 4, 4, 4)       BN, ReLU
        -> ConvT3d 4^3, stride 2, p 1  (N, 256, 8, 8, 8)       BN, ReLU
        -> ...                         (N, 128, 16^3), (N, 64, 32^3)
        -> ConvT3d 4^3, stride 2, p 1  (N, 1, 64, 64, 64)      sigmoid: occupancy probability
    D:  x (N, 1, 64, 64, 64) -> Conv3d 4^3 stride 2 (N, 64, 32^3) LeakyReLU(0.2)
        -> (N, 128, 16^3) -> (N, 256, 8^3) -> (N, 512, 4^3)  BN, LeakyReLU(0.2)
        -> Conv3d 4^3, stride 1 -> (N, 1, 1, 1, 1): a logit (the paper's sigmoid is in the loss)

``side`` 16 (the miniature) keeps the first and the last layer and drops the middle
stride-2 stages: G (N, 2 ngf, 4^3) -> (N, ngf, 8^3) -> (N, 1, 16^3); D the mirror image.
The paper's widths are ngf = ndf = 64 at side 64 (512 channels at 4^3).
Batch norm is left out of D's first layer, as in DCGAN (the paper does not say); weights are
DCGAN's N(0, 0.02) (the paper does not give an initialisation).
"""
from __future__ import annotations

from tinygen import nn
from tinygen.models.dcgan import dcgan_init_

__all__ = ["VoxelGenerator", "VoxelDiscriminator", "voxel_stages"]


def voxel_stages(side: int) -> int:
    """Grid side -> number of stride-2 stages from the 4^3 base: 16 -> 2, 32 -> 3, 64 -> 4."""
    n, s = 0, side
    while s > 4 and s % 2 == 0:
        s, n = s // 2, n + 1
    if s != 4 or n == 0:
        raise ValueError(f"3D-GAN's nets make cubic grids of side 4 * 2^k (8, 16, 32, 64), got "
                         f"side {side}")
    return n


class VoxelGenerator(nn.Module):
    """G(z) -> occupancy probabilities (N, 1, side, side, side) in (0, 1).

    Args: nz latent size (200 in the paper); side 16 / 32 / 64; ngf the width of the last
    hidden layer (doubling towards z; 64 in the paper).
    """

    def __init__(self, nz: int = 200, side: int = 64, ngf: int = 64):
        super().__init__()
        n = voxel_stages(side)
        self.nz, self.side = nz, side
        width = ngf * 2 ** (n - 1)
        layers = [nn.ConvTranspose3d(nz, width, 4, 1, 0, bias=False),      # (N, width, 4, 4, 4)
                  nn.BatchNorm3d(width), nn.ReLU()]
        for _ in range(n - 1):                                             # doubles the side
            layers += [nn.ConvTranspose3d(width, width // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm3d(width // 2), nn.ReLU()]
            width //= 2
        layers += [nn.ConvTranspose3d(width, 1, 4, 2, 1, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, z):
        return self.main(z.reshape(z.shape[0], self.nz, 1, 1, 1))        # (N, 1, S, S, S)


class VoxelDiscriminator(nn.Module):
    """D(x) as a logit (N, 1) for volumes x (N, 1, side, side, side) in [0, 1].

    Args: side 16 / 32 / 64; ndf the width of the first layer (doubling; 64 in the paper).
    """

    def __init__(self, side: int = 64, ndf: int = 64):
        super().__init__()
        n = voxel_stages(side)
        layers = [nn.Conv3d(1, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]   # (N, ndf, S/2^3)
        width = ndf
        for _ in range(n - 1):                                             # halves the side
            layers += [nn.Conv3d(width, width * 2, 4, 2, 1, bias=False),
                       nn.BatchNorm3d(width * 2), nn.LeakyReLU(0.2)]
            width *= 2
        layers += [nn.Conv3d(width, 1, 4, 1, 0, bias=False)]               # (N, 1, 1, 1, 1)
        self.main = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, x):
        return self.main(x).reshape(x.shape[0], 1)                        # (N, 1) logits
