"""DCGAN generator and discriminator: Radford, Metz & Chintala, "Unsupervised Representation
Learning with Deep Convolutional Generative Adversarial Networks", arXiv:1511.06434.

Architecture guidelines (Sec. 3), each visible below:
    * no pooling: strided convolutions in D, fractionally-strided (transposed) ones in G;
    * batch norm in both networks, except G's output layer and D's input layer;
    * no fully connected hidden layers (the first G layer is a 1x1 -> 4x4 transposed conv,
      the last D layer a 4x4 -> 1x1 conv, which is the paper's "reshape" in conv form);
    * ReLU in G (tanh on the output), LeakyReLU(0.2) in D.
Initialisation (Sec. 4): weights N(0, 0.02); batch-norm scale N(1, 0.02), shifts 0
(the values of the authors' code and PyTorch's DCGAN example).

Shapes (size 64, as the paper; 32 and 28 drop up-sampling stages):
    G:  z (N, nz) -> (N, nz, 1, 1) -> (N, 8 ngf, 4, 4) -> (N, 4 ngf, 8, 8) -> (N, 2 ngf, 16, 16)
        -> (N, ngf, 32, 32) -> (N, nc, 64, 64) in [-1, 1]
    D:  x (N, nc, 64, 64) -> (N, ndf, 32, 32) -> ... -> (N, 8 ndf, 4, 4) -> logit (N, 1)
    size 32: base 4 x 4, three stride-2 stages; size 28 (MNIST): base 7 x 7, two stages.
"""
from __future__ import annotations

from tinygen import nn

__all__ = ["DCGANGenerator", "DCGANDiscriminator", "dcgan_init_", "stages_for"]


def stages_for(size: int):
    """Image side -> (base side, number of stride-2 stages): 64 -> (4, 4), 32 -> (4, 3), 28 -> (7, 2)."""
    base, n = size, 0
    while base % 2 == 0 and base // 2 >= 4:
        base, n = base // 2, n + 1
    if n == 0 or base > 8:
        raise ValueError(f"DCGAN needs an image side of the form b * 2^k with b <= 8 and k >= 1 "
                         f"(e.g. 28, 32, 64), got {size}; resize the data (--size) first")
    return base, n


def dcgan_init_(module: nn.Module) -> nn.Module:
    """[DCGAN] Sec. 4: conv weights ~ N(0, 0.02), BN weight ~ N(1, 0.02), biases 0."""
    for m in module.modules():
        name = type(m).__name__
        if name.startswith("Conv"):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif name.startswith("BatchNorm"):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


class DCGANGenerator(nn.Module):
    """G(z): transposed convs 4x4 stride 2, BN + ReLU, tanh output.

    Args:
        nz: latent size; nc: image channels; size: image side (28, 32, 64...);
        ngf: channels of the last hidden layer (doubling towards the input).
    """

    def __init__(self, nz: int = 100, nc: int = 3, size: int = 64, ngf: int = 64):
        super().__init__()
        base, n = stages_for(size)
        self.nz, self.nc, self.size = nz, nc, size
        width = ngf * 2 ** (n - 1)
        layers = [nn.ConvTranspose2d(nz, width, base, 1, 0, bias=False),   # (N, width, b, b)
                  nn.BatchNorm2d(width), nn.ReLU()]
        for _ in range(n - 1):                                           # doubles the side
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width // 2), nn.ReLU()]
            width //= 2
        layers += [nn.ConvTranspose2d(width, nc, 4, 2, 1, bias=False), nn.Tanh()]   # (N, nc, s, s)
        self.main = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, z):
        return self.main(z.reshape(z.shape[0], self.nz, 1, 1))          # (N, nc, size, size)


class DCGANDiscriminator(nn.Module):
    """D(x) as a logit: strided convs 4x4, LeakyReLU(0.2), BN from the 2nd layer on.

    ``norm``: 'batch' (the paper), or for a WGAN-GP critic 'none' / 'layer' (layer norm
    over (C, H, W) per sample, Gulrajani et al. 2017, Sec. 4) / 'instance'.
    """

    def __init__(self, nc: int = 3, size: int = 64, ndf: int = 64, norm: str = "batch"):
        super().__init__()
        base, n = stages_for(size)
        if norm not in ("batch", "none", "layer", "instance"):
            raise ValueError(f"norm must be 'batch', 'none', 'layer' or 'instance', got {norm!r}")
        layers = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]   # no BN on input
        width, side = ndf, size // 2
        for _ in range(n - 1):
            layers.append(nn.Conv2d(width, width * 2, 4, 2, 1, bias=False))
            width, side = width * 2, side // 2
            if norm == "batch":
                layers.append(nn.BatchNorm2d(width))
            elif norm == "layer":
                layers.append(nn.LayerNorm([width, side, side]))
            elif norm == "instance":
                layers.append(nn.InstanceNorm2d(width, affine=True))
            layers.append(nn.LeakyReLU(0.2))
        layers += [nn.Conv2d(width, 1, base, 1, 0, bias=False), nn.Flatten()]   # (N, 1)
        self.main = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, x):
        return self.main(x)                                               # (N, 1) logits
