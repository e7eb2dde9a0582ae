"""StarGAN's two networks (Choi et al. 2018, arXiv:1711.09020, Sec. 3 and Appendix, Tables 4-5).

    StarGANGenerator       G(x, c): the target domain c as K one-hot label maps, spatially
                           replicated and concatenated to the image's channels; then
                           c7s1-ngf, two 4x4 stride-2 down convs, residual blocks, two 4x4
                           stride-2 transposed convs, c7s1-C, tanh. Instance norm with
                           affine parameters (the authors' code) after every conv but the
                           last; zero padding (StarGAN's, not CycleGAN's reflection). The
                           residual blocks are tinygen.models.translation.ResNetBlock with
                           zero padding, whose instance norm has no affine parameters
                           (departure: the authors' blocks have them).
    StarGANDiscriminator   the PatchGAN-like trunk of 4x4 stride-2 convs + LeakyReLU(0.01),
                           no normalisation (the WGAN-GP critic's gradient penalty is per
                           sample), with two heads (Sec. 3, "auxiliary classifier"):
                               D_src: 3x3 conv -> (N, 1, h, w) real/fake scores per patch
                               D_cls: an h x w conv over the whole map -> (N, K) domain logits

Shapes: x (N, C, H, W) in [-1, 1]; c (N,) int64 domains 0..K-1; H = W a multiple of 2^n_layers.
The paper's 128 px nets: ngf = ndf = 64, 6 residual blocks, 6 trunk layers (2048 channels at
2 x 2); smaller ones for 32 px come from the same constructors (fewer layers, channels).
"""
from __future__ import annotations

import tinygen
from tinygen import functional as F
from tinygen import nn

from tinygen.models.translation import ResNetBlock

__all__ = ["label_maps", "StarGANGenerator", "StarGANDiscriminator"]


def label_maps(c, num_domains: int, like) -> tinygen.Tensor:
    """Domains c (N,) -> one-hot maps (N, K, H, W) the size of ``like`` (N, C, H, W): label k
    is a plane of ones in channel k ("spatially replicated", Sec. 4 / Appendix)."""
    n, _, h, w = like.shape
    onehot = F.one_hot(c, num_domains, dtype=like.dtype)                 # (N, K)
    return onehot.reshape(n, num_domains, 1, 1) * tinygen.ones(
        1, 1, h, w, dtype=like.dtype, device=like.device)                # (N, K, H, W)


def _norm(c: int) -> nn.Module:
    return nn.InstanceNorm2d(c, affine=True)


class StarGANGenerator(nn.Module):
    """G(x, c) of Table 4; ``n_down`` 4x4 stride-2 stages (the paper: 2)."""

    def __init__(self, channels: int, num_domains: int, ngf: int = 64, n_blocks: int = 6,
                 n_down: int = 2):
        super().__init__()
        self.num_domains = num_domains
        layers = [nn.Conv2d(channels + num_domains, ngf, 7, 1, 3, bias=False), _norm(ngf),
                  nn.ReLU()]
        c = ngf
        for _ in range(n_down):                                          # down-sampling
            layers += [nn.Conv2d(c, 2 * c, 4, 2, 1, bias=False), _norm(2 * c), nn.ReLU()]
            c *= 2
        layers += [ResNetBlock(c, "instance", padding="zero")            # bottleneck
                   for _ in range(n_blocks)]
        for _ in range(n_down):                                          # up-sampling
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), _norm(c // 2),
                       nn.ReLU()]
            c //= 2
        layers += [nn.Conv2d(c, channels, 7, 1, 3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x, c):
        h = tinygen.cat([x, label_maps(c, self.num_domains, x)], 1)     # (N, C + K, H, W)
        return self.main(h)                                              # (N, C, H, W)


class StarGANDiscriminator(nn.Module):
    """D(x) -> (D_src (N, 1, H/2^n, W/2^n), D_cls (N, K)) of Table 5, ``n_layers`` stride-2
    convs doubling the channels from ``ndf`` (the paper: 6 at 128 px)."""

    def __init__(self, channels: int, num_domains: int, size: int, ndf: int = 64,
                 n_layers: int = 6):
        super().__init__()
        if size % 2 ** n_layers:
            raise ValueError(f"StarGANDiscriminator: image side {size} is not a multiple of "
                             f"2^{n_layers}; use fewer layers (n_layers) or resize the images")
        layers, c_in, c = [], channels, ndf
        for _ in range(n_layers):
            layers += [nn.Conv2d(c_in, c, 4, 2, 1), nn.LeakyReLU(0.01)]
            c_in, c = c, 2 * c
        self.main = nn.Sequential(*layers)
        k = size // 2 ** n_layers
        self.src = nn.Conv2d(c_in, 1, 3, 1, 1, bias=False)               # D_src
        self.cls = nn.Conv2d(c_in, num_domains, k, 1, 0, bias=False)     # D_cls

    def forward(self, x):
        h = self.main(x)                                                 # (N, C', k, k)
        logits = self.cls(h)                                             # (N, K, 1, 1)
        return self.src(h), logits.reshape(logits.shape[0], logits.shape[1])

    def critic(self, x):
        """D_src alone (the WGAN-GP critic whose gradient the penalty takes)."""
        return self.src(self.main(x))
