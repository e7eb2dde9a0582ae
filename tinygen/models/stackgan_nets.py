"""StackGAN's networks (Zhang et al. 2017, arXiv:1612.03242, Sec. 3, "Implementation details",
Fig. 2).

    TextEncoder          phi_t = mean of the caption's word embeddings = bow @ E, bow the
                         normalised bag of words (N, V), E (V, t_dim) learned. Departure: the
                         paper's phi_t is a pretrained, fixed char-CNN-RNN embedding (Reed et
                         al. 2016, 1024-D); here every net learns its own table with its own
                         loss (as cGANs learn their label embeddings), word order is dropped.
    ConditioningAugmentation
                         (mu, log sigma^2) = FC(phi_t); c_hat = mu + sigma * eps, eps ~ N(0, I)
                         (Sec. "Conditioning Augmentation"): the N_g-D condition, a
                         sample of N(mu(phi_t), Sigma(phi_t)).
                         Its KL(N(mu, Sigma) || N(0, I)) is the regulariser in G's losses.
    Stage1Generator      G0(z, c_hat0): FC of [c_hat0, z] to (8 ngf', 4, 4), then "nearest-
                         neighbour upsampling + 3 x 3 conv" blocks with batch norm and ReLU
                         ("Implementation details") to the Stage-I side (the paper: 64;
                         here 16), tanh.
    Stage2Generator      G1(s0, c_hat): the Stage-I image s0 encoded by down-sampling to
                         M_g x M_g (Sec. "Stage-II GAN"; the paper 64 -> 16, here 16 -> 8),
                         c_hat spatially replicated and concatenated, a 3 x 3 conv joining
                         them, residual blocks (conv-BN-ReLU-conv-BN + x, then ReLU, as the
                         authors' code), and
                         up-sampling blocks to the Stage-II side (the paper 256, here 32), tanh.
    StageDiscriminator   D(I, phi_t): 4 x 4 stride-2 convs (batch norm and LeakyReLU 0.2, none
                         on the first) down to M_d x M_d = 4 x 4; phi_t compressed to N_d by a
                         fully connected layer (+ LeakyReLU) and spatially replicated; the two
                         concatenated, a 1 x 1 conv, and a 4 x 4 conv to one logit
                         ("Implementation details"). Stage-I's and Stage-II's D differ only in the
                         number of down-sampling convs.

Shapes: bow (N, V) float, rows summing to 1; z (N, nz); images (N, C, S, S) in [-1, 1]; logits
(N, 1). The paper: N_g = 128, N_z = 100, N_d = 128, M_d = 4, M_g = 16, 1024-D phi_t.
"""
from __future__ import annotations

import tinygen
from tinygen import nn

from tinygen.models.translation import ResNetBlock

__all__ = ["replicate", "TextEncoder", "ConditioningAugmentation", "Stage1Generator",
           "Stage2Generator", "StageDiscriminator", "check_side"]


def replicate(v, h: int, w: int) -> tinygen.Tensor:
    """A vector per image (N, K) spatially replicated to maps (N, K, h, w)."""
    n, k = v.shape
    return v.reshape(n, k, 1, 1) * tinygen.ones(1, 1, h, w, dtype=v.dtype, device=v.device)


def check_side(side: int, where: str) -> int:
    """Stage-I works at side / 2 from a 4 x 4 start: side must be 16 * 2^k (16, 32, 64, ...)."""
    s = side
    while s > 16 and s % 2 == 0:
        s //= 2
    if s != 16:
        raise ValueError(f"{where}: the images are {side} x {side}; StackGAN here needs a side "
                         "of 16 * 2^k (16, 32, 64, ...): Stage-I draws side/2 from 4 x 4, Stage-II "
                         "doubles it twice from side/4. Pad or resize the images (e.g. to 32)")
    return side


def _log2(n: int) -> int:
    return n.bit_length() - 1


def _up_block(c_in: int, c_out: int) -> list:
    """Nearest-neighbour x2 upsampling + 3 x 3 conv + BN + ReLU ("Implementation details")."""
    return [nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class TextEncoder(nn.Module):
    """phi_t = bow @ E: the mean of the caption's word embeddings (rows of E, N(0, 1) init)."""

    def __init__(self, vocab_size: int, t_dim: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, t_dim)                     # E (V, t_dim)

    def forward(self, bow):
        return bow @ self.embed.weight                                   # (N, t_dim)


class ConditioningAugmentation(nn.Module):
    """c_hat = mu(phi_t) + sigma(phi_t) * eps (Sec. "Conditioning Augmentation");
    forward -> (c_hat, mu, logvar).

    One fully connected layer gives mu and log sigma^2 (the authors' code puts a ReLU on both;
    the paper names only the FC layer, which is what this is). ``eps``: N(0, I) drawn on
    phi_t's device unless given (tests pass it to differentiate a fixed sample)."""

    def __init__(self, t_dim: int, c_dim: int):
        super().__init__()
        self.c_dim = c_dim
        self.fc = nn.Linear(t_dim, 2 * c_dim)

    def forward(self, phi, eps=None):
        h = self.fc(phi)                                                 # (N, 2 c_dim)
        mu, logvar = h[:, :self.c_dim], h[:, self.c_dim:]                # (N, c_dim) each
        if eps is None:
            eps = tinygen.randn(phi.shape[0], self.c_dim, dtype=phi.dtype, device=phi.device)
        return mu + (0.5 * logvar).exp() * eps, mu, logvar               # c_hat (N, c_dim)


class Stage1Generator(nn.Module):
    """G0(z, caption) -> (s0 (N, C, side, side), mu, logvar); side = 4 * 2^k (the paper: 64)."""

    def __init__(self, vocab_size: int, channels: int = 3, side: int = 16, nz: int = 100,
                 t_dim: int = 64, c_dim: int = 128, ngf: int = 32):
        super().__init__()
        n_up = _log2(side // 4)
        if side < 8 or 4 * 2 ** n_up != side:
            raise ValueError(f"Stage1Generator: side {side} must be 4 * 2^k with k >= 1")
        self.nz, c = nz, ngf * 2 ** n_up                                 # channels at 4 x 4
        self.encoder = TextEncoder(vocab_size, t_dim)
        self.ca = ConditioningAugmentation(t_dim, c_dim)
        self.fc = nn.Sequential(nn.Linear(c_dim + nz, c * 16, bias=False),
                                nn.BatchNorm1d(c * 16), nn.ReLU())
        layers = []
        for _ in range(n_up):
            layers += _up_block(c, c // 2)
            c //= 2
        layers += [nn.Conv2d(c, channels, 3, 1, 1), nn.Tanh()]
        self.up = nn.Sequential(*layers)
        self.c4 = ngf * 2 ** n_up

    def forward(self, z, bow, eps=None):
        c_hat, mu, logvar = self.ca(self.encoder(bow), eps)              # (N, c_dim)
        h = self.fc(tinygen.cat([c_hat, z], 1))                          # (N, 16 c4)
        h = h.reshape(h.shape[0], self.c4, 4, 4)                         # (N, c4, 4, 4)
        return self.up(h), mu, logvar                                    # (N, C, side, side)


class Stage2Generator(nn.Module):
    """G1(s0, caption) -> (I (N, C, 2 s, 2 s), mu, logvar) for Stage-I images s0 (N, C, s, s):
    one stride-2 conv down to M_g = s / 2, residual blocks, two up-sampling blocks."""

    def __init__(self, vocab_size: int, channels: int = 3, t_dim: int = 64, c_dim: int = 128,
                 ngf: int = 32, n_res: int = 2):
        super().__init__()
        g = 2 * ngf                                                      # channels at M_g
        self.encoder = TextEncoder(vocab_size, t_dim)
        self.ca = ConditioningAugmentation(t_dim, c_dim)
        self.down = nn.Sequential(nn.Conv2d(channels, ngf, 3, 1, 1), nn.ReLU(),
                                  nn.Conv2d(ngf, g, 4, 2, 1, bias=False), nn.BatchNorm2d(g),
                                  nn.ReLU())
        layers = [nn.Conv2d(g + c_dim, g, 3, 1, 1, bias=False), nn.BatchNorm2d(g), nn.ReLU()]
        for _ in range(n_res):
            layers += [ResNetBlock(g, "batch", padding="zero"), nn.ReLU()]
        self.joint = nn.Sequential(*layers)
        self.up = nn.Sequential(*_up_block(g, ngf), *_up_block(ngf, ngf // 2),
                                nn.Conv2d(ngf // 2, channels, 3, 1, 1), nn.Tanh())

    def forward(self, s0, bow, eps=None):
        c_hat, mu, logvar = self.ca(self.encoder(bow), eps)              # (N, c_dim)
        h = self.down(s0)                                                # (N, 2 ngf, M_g, M_g)
        h = tinygen.cat([h, replicate(c_hat, h.shape[2], h.shape[3])], 1)
        return self.up(self.joint(h)), mu, logvar                        # (N, C, 4 M_g, 4 M_g)


class StageDiscriminator(nn.Module):
    """D(I, caption) -> logit (N, 1) for images (N, C, side, side), side = 4 * 2^k."""

    def __init__(self, vocab_size: int, channels: int = 3, side: int = 16, t_dim: int = 64,
                 n_d: int = 128, ndf: int = 32):
        super().__init__()
        n_down = _log2(side // 4)
        if side < 8 or 4 * 2 ** n_down != side:
            raise ValueError(f"StageDiscriminator: side {side} must be 4 * 2^k with k >= 1")
        self.encoder = TextEncoder(vocab_size, t_dim)
        self.compress = nn.Sequential(nn.Linear(t_dim, n_d), nn.LeakyReLU(0.2))
        layers, c = [nn.Conv2d(channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2)], ndf
        for _ in range(n_down - 1):
            layers += [nn.Conv2d(c, 2 * c, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * c),
                       nn.LeakyReLU(0.2)]
            c *= 2
        self.image = nn.Sequential(*layers)
        self.logit = nn.Sequential(nn.Conv2d(c + n_d, c, 1, bias=False), nn.BatchNorm2d(c),
                                   nn.LeakyReLU(0.2), nn.Conv2d(c, 1, 4, 1, 0))

    def forward(self, x, bow):
        h = self.image(x)                                                # (N, c, 4, 4)
        t = self.compress(self.encoder(bow))                             # (N, N_d)
        out = self.logit(tinygen.cat([h, replicate(t, 4, 4)], 1))        # (N, 1, 1, 1)
        return out.reshape(out.shape[0], 1)
