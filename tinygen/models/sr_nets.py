"""Super-resolution networks: SRResNet (Ledig et al. 2017), EDSR (Lim et al. 2017), WDSR-B
(Yu et al. 2018), and SRGAN's discriminator (Ledig et al. 2017, :class:`SRGANDiscriminator`).

Both map an LR image x (N, 3, h, w) in [0, 1] to an SR image (N, 3, s h, s w):

    SRResNet (arXiv:1609.04802, Fig. 4, generator G):
        f0 = PReLU(conv9x9(x))                                           64 channels
        f  = f0 + BN(conv3x3( B residual blocks(f0) ))                   global skip
             block: b + BN(conv3x3(PReLU(BN(conv3x3(b)))))
        up = [conv3x3 (64 -> 256), PixelShuffle(2), PReLU] x log2(s)
        y  = conv9x9(up(f))                                              3 channels
    EDSR (arXiv:1707.02921, Fig. 3, Sec. 3.2): SRResNet without batch norm and without the
        activations outside the blocks, 3x3 head and tail, ReLU, and residual scaling:
        block: b + 0.1 conv3x3(ReLU(conv3x3(b)))      (0.1 from the paper, for 256 channels)
        up = [conv3x3 (C -> 4C), PixelShuffle(2)] x log2(s) (x3: one PixelShuffle(3))

    WDSR-B (Yu et al. 2018, arXiv:1808.08718, Fig. 2 and Sec. 3): wide activation and
        weight normalisation, no batch norm, everything at LR size:
        block: b + res_scale conv3x3(conv1x1(ReLU(conv1x1(b))))   C -> e C -> 0.8 C -> C
        y = PixelShuffle(s)(conv3x3(body(conv3x3(x))))  +  PixelShuffle(s)(conv5x5(x))
        every conv weight-normalised (nn.utils.weight_norm); the 5x5 branch is the global skip

Options that are departures, for the small CPU preset (flagged in the methods' Configs):
    upsampler='subpixel'   one conv3x3 (C -> 3 s^2) + PixelShuffle(s) at the end, ESPCN's
                           (Shi et al. 2016, arXiv:1609.05158): everything runs at LR size.
    residual=True          y = bicubic(x) + net(x) (VDSR, Kim et al. 2016, arXiv:1511.04587):
                           the net learns only the high frequencies bicubic misses; its last
                           conv starts at zero, so training starts at bicubic quality.
    icnr=True              every conv in front of a PixelShuffle(r) starts with its r^2
                           phases equal (ICNR, Aitken et al. 2017, arXiv:1707.02937,
                           ``nn.init.icnr_``): conv + shuffle starts as nearest-neighbour
                           upsampling, no checkerboard. None of the three papers used it. A
                           zero-initialised residual tail is phase-constant already.

Shapes: x (N, 3, h, w), features (N, C, h, w), y (N, 3, s h, s w).
"""
from __future__ import annotations

import math

from tinygen import nn
from tinygen.autograd import no_grad
from tinygen.nn import init
from tinygen.ops.bicubic import resize

__all__ = ["SRResNet", "EDSR", "WDSR", "SRGANDiscriminator", "build_sr_net"]


def _upsampler(channels: int, scale: int, act) -> list:
    """The papers' stages: [conv3x3 C -> C r^2, PixelShuffle(r), act?] for r = 2 (or 3)."""
    if scale == 3:
        factors = [3]
    elif scale >= 1 and scale & (scale - 1) == 0:
        factors = [2] * int(math.log2(scale))
    else:
        raise ValueError(f"scale must be 1, 2, 3, 4 or 8, got {scale}")
    layers = []
    for r in factors:
        layers += [nn.Conv2d(channels, channels * r * r, 3, padding=1), nn.PixelShuffle(r)]
        if act is not None:
            layers.append(act())
    return layers


class _SRNet(nn.Module):
    """head -> body (+ skip) -> upsampler -> tail, optionally as a residual over bicubic."""

    def __init__(self, scale: int, residual: bool):
        super().__init__()
        self.scale = int(scale)
        self.residual = bool(residual)

    def _icnr(self):
        """ICNR (``nn.init.icnr_``) for every conv directly in front of a PixelShuffle(r); a
        weight-normalised conv gets it on v, with g = ||v|| (so w = v, as ``weight_norm``)."""
        for seq in self.modules():
            if not isinstance(seq, nn.Sequential):
                continue
            layers = list(seq.children())
            for conv, shuffle in zip(layers, layers[1:]):
                if isinstance(conv, nn.Conv2d) and isinstance(shuffle, nn.PixelShuffle):
                    wn = conv.__dict__.get("_weight_norm")
                    init.icnr_(conv.weight_v if wn else conv.weight, shuffle.upscale_factor,
                               bias=conv.bias)
                    if wn:
                        with no_grad():
                            conv.weight_g._data = wn.norm(conv.weight_v)._data

    def _zero_last(self, conv):
        # residual over bicubic: the correction starts at exactly 0, the output at bicubic
        init.zeros_(conv.weight)
        init.zeros_(conv.bias)

    def features(self, x):
        raise NotImplementedError

    def forward(self, x):
        y = self.features(x - 0.5)                                       # (N, 3, s h, s w)
        if self.residual:
            return y + resize(x, scale=self.scale, method="matlab")      # bicubic x s + correction
        return y + 0.5


class SRResNet(_SRNet):
    """SRResNet (Ledig et al. 2017, Fig. 4): BN + PReLU residual blocks, global skip,
    PixelShuffle x2 stages, 9x9 head and tail. Paper: channels=64, blocks=16."""

    def __init__(self, scale: int = 4, channels: int = 64, blocks: int = 16,
                 upsampler: str = "pixelshuffle", residual: bool = False, icnr: bool = False):
        super().__init__(scale, residual)
        C = channels
        self.head = nn.Sequential(nn.Conv2d(3, C, 9, padding=4), nn.PReLU())
        self.body = nn.Sequential(*[_SRResBlock(C) for _ in range(blocks)])
        self.body_end = nn.Sequential(nn.Conv2d(C, C, 3, padding=1), nn.BatchNorm2d(C))
        if upsampler == "pixelshuffle":
            self.up = nn.Sequential(*_upsampler(C, scale, nn.PReLU))
            self.tail = nn.Conv2d(C, 3, 9, padding=4)
        elif upsampler == "subpixel":
            self.up = nn.Identity()
            self.tail = nn.Sequential(nn.Conv2d(C, 3 * scale * scale, 3, padding=1),
                                      nn.PixelShuffle(scale))
        else:
            raise ValueError(f"upsampler must be 'pixelshuffle' or 'subpixel', got {upsampler!r}")
        if icnr:
            self._icnr()
        if residual:
            self._zero_last(self.tail if upsampler == "pixelshuffle" else self.tail[0])

    def features(self, x):
        f0 = self.head(x)                                                # (N, C, h, w)
        f = f0 + self.body_end(self.body(f0))                            # global skip
        return self.tail(self.up(f))                                     # (N, 3, s h, s w)


class _SRResBlock(nn.Module):
    """b + BN(conv(PReLU(BN(conv(b)))))  (SRGAN Fig. 4)."""

    def __init__(self, C: int):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(C, C, 3, padding=1), nn.BatchNorm2d(C), nn.PReLU(),
                                 nn.Conv2d(C, C, 3, padding=1), nn.BatchNorm2d(C))

    def forward(self, b):
        return b + self.net(b)


class _EDSRBlock(nn.Module):
    """b + res_scale conv(ReLU(conv(b)))  (EDSR Fig. 2c, residual scaling Sec. 3.2)."""

    def __init__(self, C: int, res_scale: float):
        super().__init__()
        self.res_scale = float(res_scale)
        self.net = nn.Sequential(nn.Conv2d(C, C, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(C, C, 3, padding=1))

    def forward(self, b):
        return b + self.net(b) * self.res_scale


class EDSR(_SRNet):
    """EDSR (Lim et al. 2017): no batch norm, residual scaling, 3x3 convs throughout.
    Paper: channels=256, blocks=32, res_scale=0.1 (the baseline: 64, 16, 1.0)."""

    def __init__(self, scale: int = 4, channels: int = 256, blocks: int = 32,
                 res_scale: float = 0.1, upsampler: str = "pixelshuffle", residual: bool = False,
                 icnr: bool = False):
        super().__init__(scale, residual)
        C = channels
        self.head = nn.Conv2d(3, C, 3, padding=1)
        self.body = nn.Sequential(*[_EDSRBlock(C, res_scale) for _ in range(blocks)],
                                  nn.Conv2d(C, C, 3, padding=1))
        if upsampler == "pixelshuffle":
            self.up = nn.Sequential(*_upsampler(C, scale, None))
            self.tail = nn.Conv2d(C, 3, 3, padding=1)
        elif upsampler == "subpixel":
            self.up = nn.Identity()
            self.tail = nn.Sequential(nn.Conv2d(C, 3 * scale * scale, 3, padding=1),
                                      nn.PixelShuffle(scale))
        else:
            raise ValueError(f"upsampler must be 'pixelshuffle' or 'subpixel', got {upsampler!r}")
        if icnr:
            self._icnr()
        if residual:
            self._zero_last(self.tail if upsampler == "pixelshuffle" else self.tail[0])

    def features(self, x):
        f0 = self.head(x)                                                # (N, C, h, w)
        f = f0 + self.body(f0)                                           # global skip
        return self.tail(self.up(f))                                     # (N, 3, s h, s w)


def _wn_conv(cin: int, cout: int, k: int):
    return nn.utils.weight_norm(nn.Conv2d(cin, cout, k, padding=k // 2))


class _WDSRBlock(nn.Module):
    """WDSR-B (Yu et al. 2018, Fig. 2): b + res_scale conv3x3(conv1x1(ReLU(conv1x1(b)))),
    widened to ``expand`` C before the ReLU, then the low-rank ``linear`` C x 1x1 conv."""

    def __init__(self, C: int, expand: int, linear: float, res_scale: float):
        super().__init__()
        self.res_scale = float(res_scale)
        wide, low = C * expand, max(1, int(C * linear))
        self.net = nn.Sequential(_wn_conv(C, wide, 1), nn.ReLU(), _wn_conv(wide, low, 1),
                                 _wn_conv(low, C, 3))

    def forward(self, b):
        return b + self.net(b) * self.res_scale


class WDSR(_SRNet):
    """WDSR-B (Yu et al. 2018): wide-activation blocks, weight normalisation, sub-pixel tail
    and a 5x5 global skip branch. Paper (x4, Table 3): 16 blocks of 32 channels, expansion 6,
    low-rank 0.8, residual scaling 1."""

    def __init__(self, scale: int = 4, channels: int = 32, blocks: int = 16, expand: int = 6,
                 linear: float = 0.8, res_scale: float = 1.0, residual: bool = False,
                 icnr: bool = False):
        super().__init__(scale, residual)
        C, r2 = channels, 3 * scale * scale
        self.head = _wn_conv(3, C, 3)
        self.body = nn.Sequential(*[_WDSRBlock(C, expand, linear, res_scale)
                                    for _ in range(blocks)])
        self.tail = nn.Sequential(_wn_conv(C, r2, 3), nn.PixelShuffle(scale))
        self.skip = nn.Sequential(_wn_conv(3, r2, 5), nn.PixelShuffle(scale))
        if icnr:
            self._icnr()
        if residual:                       # both branches start at 0: y = bicubic(x) at step 0
            for conv in (self.tail[0], self.skip[0]):
                init.zeros_(conv.weight_g)
                init.zeros_(conv.bias)

    def features(self, x):
        return self.tail(self.body(self.head(x))) + self.skip(x)         # (N, 3, s h, s w)


class SRGANDiscriminator(nn.Module):
    """The SRGAN discriminator (Ledig et al. 2017, Fig. 4, bottom; after Radford et al.'s
    guidelines): LeakyReLU(0.2), no max pooling, strided convs halve the size.

        conv3x3 C, LReLU                                           (no BN on the first layer)
        [conv3x3, BN, LReLU] x 7 with (C, s2) (2C, s1) (2C, s2) (4C, s1) (4C, s2) (8C, s1) (8C, s2)
        flatten -> Dense(dense) -> LReLU -> Dense(1)               a logit; the paper's sigmoid
                                                                   sits in the loss here
    Paper: C = 64 (64 -> 512 channels), dense = 1024, 96 x 96 HR patches (a 6 x 6 x 512 map
    before the dense layer). The dense layer's input is sized from ``hr_size`` (the HR patch
    side), so smaller patches work (x2 at 48 px: a 3 x 3 map); inputs in [0, 1] are mapped to
    the paper's [-1, 1].

    Shapes: x (N, 3, hr_size, hr_size) -> logits (N,).
    """

    def __init__(self, hr_size: int = 96, channels: int = 64, dense: int = 1024):
        super().__init__()
        C = channels
        plan = [(C, 2), (2 * C, 1), (2 * C, 2), (4 * C, 1), (4 * C, 2), (8 * C, 1), (8 * C, 2)]
        layers, cin, side = [nn.Conv2d(3, C, 3, padding=1), nn.LeakyReLU(0.2)], C, int(hr_size)
        for cout, stride in plan:
            layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.BatchNorm2d(cout),
                       nn.LeakyReLU(0.2)]
            cin, side = cout, (side - 1) // stride + 1            # 3x3, padding 1
        self.hr_size = int(hr_size)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(cin * side * side, dense),
                                        nn.LeakyReLU(0.2), nn.Linear(dense, 1))

    def forward(self, x):
        if x.shape[-1] != self.hr_size or x.shape[-2] != self.hr_size:
            raise ValueError(f"SRGANDiscriminator: built for {self.hr_size} x {self.hr_size} "
                             f"patches, got {tuple(x.shape)}")
        h = self.features(x * 2.0 - 1.0)                                 # (N, 8C, side, side)
        return self.classifier(h).reshape(x.shape[0])                    # (N,)


def build_sr_net(arch: str, scale: int, channels: int, blocks: int, upsampler: str,
                 residual: bool, res_scale: float = 0.1, expand: int = 6,
                 linear: float = 0.8, icnr: bool = False) -> nn.Module:
    """'srresnet', 'edsr' or 'wdsr' with the given sizes (the methods' Configs choose them)."""
    if arch == "wdsr":
        return WDSR(scale, channels, blocks, expand, linear, res_scale, residual, icnr)
    if arch == "srresnet":
        return SRResNet(scale, channels, blocks, upsampler, residual, icnr)
    if arch == "edsr":
        return EDSR(scale, channels, blocks, res_scale, upsampler, residual, icnr)
    raise ValueError(f"arch must be 'srresnet', 'edsr' or 'wdsr', got {arch!r}")
