"""The layers of ProGAN (Karras et al. 2018, arXiv:1710.10196, Sec. 3-4), shared with StyleGAN.

    EqualizedLinear, EqualizedConv2d   equalised learning rate (Sec. 4.1)
    PixelNorm                          pixelwise feature vector normalisation (Sec. 4.2)
    MinibatchStdDev                    minibatch standard deviation (Sec. 3)
    ToRGB, FromRGB                     the 1x1 convolutions between features and images (Sec. 2)
    upsample2x, downsample2x           nearest-neighbour doubling, 2x2 average pooling (Sec. 2)
    ProGANGenerator, ProGANDiscriminator   the growing pair of Table 2, with the fade-in blend

Equalised learning rate (Sec. 4.1). The weights are *stored* as w_hat ~ N(0, 1) and scaled at
run time by the per-layer constant from He et al.'s initialiser,

    w = c w_hat,    c = gain / sqrt(fan_in),    gain = sqrt(2) (before a (leaky) ReLU),

so Adam, whose step is invariant to the scale of a parameter's gradient, moves every layer
at the same *relative* speed whatever its fan-in. The layers' effective weights therefore
have std c at initialisation, and the stored ones std 1.

StyleGAN's mapping network (Karras et al. 2019, arXiv:1812.04948, Appendix C) adds a learning
rate multiplier lambda' (``lr_mul``, 0.01 there): w_hat ~ N(0, 1 / lr_mul), w = (c lr_mul) w_hat,
b = lr_mul b_hat: the same initial function, with every Adam step shrunk by lr_mul.

Shapes:
    EqualizedLinear   x (*, in_features) -> (*, out_features); weight (out, in), bias (out,)
    EqualizedConv2d   x (N, C_in, H, W) -> (N, C_out, OH, OW); weight (C_out, C_in, k, k)
    PixelNorm         x (N, C, ...) -> same shape
    MinibatchStdDev   x (N, C, H, W) -> (N, C + num_channels, H, W)
    ToRGB             (N, C, H, W) -> (N, channels, H, W), linear (gain 1)
    FromRGB           (N, channels, H, W) -> (N, C, H, W), then LeakyReLU(0.2)

The growing networks (Sec. 2, Fig. 2, Table 2), both built for the final resolution R = 2^L and
run at a *level* l (output side 4 * 2^l) with the fade-in weight alpha of the newest block:

    G: z -> PixelNorm -> [4x4 block] -> [8x8 block] -> ... -> [level l block] -> ToRGB_l -> x
       fade-in: x = (1 - alpha) upsample2x(ToRGB_{l-1}(h_{l-1})) + alpha ToRGB_l(block_l(h_{l-1}))
    D: x -> FromRGB_l -> [level l block] -> ... -> [8x8 block] -> [4x4 block: MinibatchStdDev,
       conv 3x3, dense 4x4 -> C, dense C -> 1] -> score
       fade-in: h = (1 - alpha) FromRGB_{l-1}(downsample2x(x)) + alpha block_l(FromRGB_l(x))

Channels per level follow the authors' nf(stage) = min(fmap_base / 2^stage, fmap_max), stage =
level + 1 (paper: fmap_base 8192, fmap_max 512).
"""
from __future__ import annotations

import math

from tinygen import backend, functional as F
from tinygen.autograd import Tensor
from tinygen.nn import init
from tinygen.nn.module import Module, ModuleList, Parameter
from tinygen.ops.shape import concat

__all__ = ["EqualizedLinear", "EqualizedConv2d", "PixelNorm", "pixel_norm", "MinibatchStdDev",
           "minibatch_stddev", "ToRGB", "FromRGB", "he_constant", "upsample2x", "downsample2x",
           "ProGANGenerator", "ProGANDiscriminator", "feature_maps", "levels_for"]

SQRT2 = math.sqrt(2.0)


def he_constant(fan_in: int, gain: float = SQRT2) -> float:
    """c = gain / sqrt(fan_in): He et al.'s (2015) init std, applied at run time (Sec. 4.1)."""
    return gain / math.sqrt(fan_in)


def _stored_weight(shape, lr_mul, device, dtype) -> Parameter:
    """w_hat ~ N(0, (1 / lr_mul)^2), drawn on the host from tinygen's seeded generator."""
    xp = backend.array_module_for(device)
    weight = Parameter(xp.zeros(shape, dtype=dtype or backend.default_float_dtype()))
    init.normal_(weight, 0.0, 1.0 / lr_mul)
    return weight


def _stored_bias(n, bias_init, lr_mul, device, dtype):
    xp = backend.array_module_for(device)
    bias = Parameter(xp.full((n,), bias_init / lr_mul,
                             dtype=dtype or backend.default_float_dtype()))
    return bias


class EqualizedLinear(Module):
    """y = x (c lr_mul w_hat)^T + lr_mul b_hat, with c = gain / sqrt(in_features) (Sec. 4.1).

    ``gain``: sqrt(2) before a (leaky) ReLU, 1 for a linear output. ``lr_mul``: StyleGAN's
    learning-rate multiplier (1 = ProGAN). ``bias_init``: the initial *effective* bias.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 gain: float = SQRT2, lr_mul: float = 1.0, bias_init: float = 0.0,
                 device=None, dtype=None):
        super().__init__()
        if in_features < 1 or out_features < 1 or lr_mul <= 0:
            raise ValueError(f"EqualizedLinear: need in_features, out_features >= 1 and "
                             f"lr_mul > 0, got {in_features}, {out_features}, {lr_mul}")
        self.in_features, self.out_features = in_features, out_features
        self.gain, self.lr_mul = gain, lr_mul
        self.weight_scale = he_constant(in_features, gain) * lr_mul     # c lr_mul
        self.weight = _stored_weight((out_features, in_features), lr_mul, device, dtype)
        if bias:
            self.bias = _stored_bias(out_features, bias_init, lr_mul, device, dtype)
        else:
            self.register_parameter("bias", None)

    def effective_weight(self) -> Tensor:
        """w = c lr_mul w_hat, (out_features, in_features)."""
        return self.weight * self.weight_scale

    def forward(self, x):
        bias = None if self.bias is None else self.bias * self.lr_mul
        return F.linear(x, self.effective_weight(), bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, gain={self.gain:.4g}, lr_mul={self.lr_mul}")


class EqualizedConv2d(Module):
    """y = conv2d(x, c w_hat) + b, with c = gain / sqrt(C_in k k) (Sec. 4.1).

    ``padding`` defaults to k // 2 ('same' for odd k), as every conv of the paper's Table 2
    but the 4x4 one.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding=None, bias: bool = True, gain: float = SQRT2, lr_mul: float = 1.0,
                 device=None, dtype=None):
        super().__init__()
        if in_channels < 1 or out_channels < 1 or kernel_size < 1:
            raise ValueError(f"EqualizedConv2d: need channels and kernel_size >= 1, got "
                             f"{in_channels}, {out_channels}, {kernel_size}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = kernel_size, stride
        self.padding = kernel_size // 2 if padding is None else padding
        self.gain, self.lr_mul = gain, lr_mul
        fan_in = in_channels * kernel_size * kernel_size
        self.weight_scale = he_constant(fan_in, gain) * lr_mul
        self.weight = _stored_weight((out_channels, in_channels, kernel_size, kernel_size),
                                     lr_mul, device, dtype)
        if bias:
            self.bias = _stored_bias(out_channels, 0.0, lr_mul, device, dtype)
        else:
            self.register_parameter("bias", None)

    def effective_weight(self) -> Tensor:
        """w = c lr_mul w_hat, (C_out, C_in, k, k)."""
        return self.weight * self.weight_scale

    def forward(self, x):
        bias = None if self.bias is None else self.bias * self.lr_mul
        return F.conv2d(x, self.effective_weight(), bias, self.stride, self.padding)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, gain={self.gain:.4g}")


def pixel_norm(x, eps: float = 1e-8):
    """b_{x,y} = a_{x,y} / sqrt( 1/N sum_j (a^j_{x,y})^2 + eps ), over the channels (Sec. 4.2, eq. in
    the text: N feature maps, eps = 1e-8). x (N, C, ...) -> same shape."""
    return x / ((x * x).mean(1, keepdim=True) + eps).sqrt()


class PixelNorm(Module):
    """Pixelwise feature vector normalisation in G (Sec. 4.2), after each conv layer."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x):
        return pixel_norm(x, self.eps)

    def extra_repr(self):
        return f"eps={self.eps}"


def minibatch_stddev(x, group_size: int = 4, num_channels: int = 1, eps: float = 1e-8):
    """Minibatch standard deviation (Sec. 3), as the authors' code does it.

    The batch is split into groups of G = min(group_size, N) samples; sample i belongs to group
    i mod (N / G). For each group, the standard deviation over its G samples of every feature
    and pixel is averaged over the features and pixels (of each of ``num_channels`` slices of
    the channels), and the resulting scalar is appended as a constant feature map to every
    sample of the group:

        s_f = sqrt( 1/G sum_g (x_{g,f} - mean_g x_{g,f})^2 + eps ),   f = (c, h, w)
        y   = mean_f s_f                                  -> one map (H, W) filled with y

    x (N, C, H, W) -> (N, C + num_channels, H, W). N must be a multiple of G.
    """
    n, c, h, w = x.shape
    group = min(group_size, n)
    if n % group:
        raise ValueError(f"minibatch_stddev: batch {n} is not a multiple of the group size "
                         f"{group}; use a batch size divisible by {group} (or --mbstd-group 1..{n})")
    if c % num_channels:
        raise ValueError(f"minibatch_stddev: {c} channels do not split into {num_channels} slices")
    m = n // group
    y = x.reshape(group, m, num_channels, c // num_channels, h, w)   # (G, M, F, C/F, H, W)
    y = y - y.mean(0, keepdim=True)                                  # centre over the group
    y = ((y * y).mean(0) + eps).sqrt()                               # (M, F, C/F, H, W) std
    y = y.mean((2, 3, 4)).reshape(1, m, num_channels, 1, 1)          # (1, M, F, 1, 1)
    y = y.expand(group, m, num_channels, h, w).reshape(n, num_channels, h, w)   # (N, F, H, W)
    return concat([x, y], 1)                                         # (N, C + F, H, W)


class MinibatchStdDev(Module):
    """The minibatch-stddev layer at the start of D's last (4x4) block (Sec. 3, Table 2)."""

    def __init__(self, group_size: int = 4, num_channels: int = 1, eps: float = 1e-8):
        super().__init__()
        self.group_size, self.num_channels, self.eps = group_size, num_channels, eps

    def forward(self, x):
        return minibatch_stddev(x, self.group_size, self.num_channels, self.eps)

    def extra_repr(self):
        return f"group_size={self.group_size}, num_channels={self.num_channels}"


class ToRGB(Module):
    """Features -> image: an equalised 1x1 convolution with a linear output (gain 1, Sec. 2)."""

    def __init__(self, in_channels: int, channels: int = 3, device=None, dtype=None):
        super().__init__()
        self.conv = EqualizedConv2d(in_channels, channels, 1, gain=1.0, device=device,
                                    dtype=dtype)

    def forward(self, x):
        return self.conv(x)


class FromRGB(Module):
    """Image -> features: an equalised 1x1 convolution, LeakyReLU(0.2) (Sec. 2, Table 2)."""

    def __init__(self, channels: int, out_channels: int, negative_slope: float = 0.2,
                 device=None, dtype=None):
        super().__init__()
        self.conv = EqualizedConv2d(channels, out_channels, 1, device=device, dtype=dtype)
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(self.conv(x), self.negative_slope)


# ----------------------------------------------------------------------------
# resampling between levels (Sec. 2: "nearest neighbor filtering", "average pooling")
# ----------------------------------------------------------------------------

def upsample2x(x):
    """Nearest-neighbour doubling, (N, C, H, W) -> (N, C, 2H, 2W); each pixel becomes a 2x2
    block (written with expand + reshape, so its gradient is a 2x2 sum)."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h, 1, w, 1).expand(n, c, h, 2, w, 2).reshape(n, c, 2 * h, 2 * w)


def downsample2x(x):
    """2x2 average pooling, (N, C, H, W) -> (N, C, H/2, W/2) (H, W even)."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).mean((3, 5))


def _lerp(a, b, alpha: float):
    """(1 - alpha) a + alpha b: the fade-in blend of Fig. 2 (alpha = 1 skips the old path)."""
    return b if alpha >= 1.0 else a * (1.0 - alpha) + b * alpha


def levels_for(resolution: int) -> int:
    """Number of levels 4, 8, ..., resolution (resolution a power of two >= 4)."""
    if resolution < 4 or resolution & (resolution - 1):
        raise ValueError(f"resolution must be a power of two >= 4 (4, 8, 16, 32, 64 ...), "
                         f"got {resolution}")
    return int(math.log2(resolution)) - 1


def feature_maps(stage: int, fmap_base: int, fmap_max: int) -> int:
    """nf(stage) = min(fmap_base / 2^stage, fmap_max), at least 1 (the authors' code)."""
    return max(1, min(fmap_base // (2 ** stage), fmap_max))


class _Stage:
    """The level / alpha state shared by G and D: which blocks run, and the fade-in weight."""

    def set_stage(self, level: int, alpha: float = 1.0):
        if not 0 <= level < self.num_levels:
            raise ValueError(f"{type(self).__name__}: level must be in 0..{self.num_levels - 1} "
                             f"(4 .. {4 * 2 ** (self.num_levels - 1)} px), got {level}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"{type(self).__name__}: alpha must be in [0, 1], got {alpha}")
        self.level, self.alpha = int(level), float(alpha)
        return self

    @property
    def current_resolution(self) -> int:
        return 4 * 2 ** self.level


def _act(x):
    return F.leaky_relu(x, 0.2)                     # LeakyReLU(0.2) everywhere (Sec. A.1)


class _GFirstBlock(Module):
    """z (N, nz) -> (N, C, 4, 4): dense (the 4x4 'conv' on a 1x1 latent), conv 3x3; each followed
    by LeakyReLU and PixelNorm. Gain sqrt(2)/4 on the dense layer as in the authors' code."""

    def __init__(self, latent_dim: int, out_channels: int):
        super().__init__()
        self.out_channels = out_channels
        self.dense = EqualizedLinear(latent_dim, out_channels * 16, gain=SQRT2 / 4)
        self.conv = EqualizedConv2d(out_channels, out_channels, 3)

    def forward(self, z):
        h = self.dense(z).reshape(z.shape[0], self.out_channels, 4, 4)    # (N, C, 4, 4)
        h = pixel_norm(_act(h))
        return pixel_norm(_act(self.conv(h)))


class _GBlock(Module):
    """(N, C_in, H, W) -> (N, C_out, 2H, 2W): upsample, two conv 3x3 + LeakyReLU + PixelNorm."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv0 = EqualizedConv2d(in_channels, out_channels, 3)
        self.conv1 = EqualizedConv2d(out_channels, out_channels, 3)

    def forward(self, h):
        h = pixel_norm(_act(self.conv0(upsample2x(h))))
        return pixel_norm(_act(self.conv1(h)))


class ProGANGenerator(_Stage, Module):
    """G of Table 2 (left), for images (channels, R, R); runs at ``level`` with ``alpha``.

    Built at the final level with alpha = 1 (what sampling a finished run wants); training sets
    the stage each step with :meth:`set_stage`. No tanh: the output is linear (as the paper).
    """

    def __init__(self, latent_dim: int = 128, channels: int = 1, resolution: int = 32,
                 fmap_base: int = 512, fmap_max: int = 64, normalize_latents: bool = True):
        super().__init__()
        self.num_levels = levels_for(resolution)
        self.latent_dim, self.channels, self.resolution = latent_dim, channels, resolution
        self.normalize_latents = normalize_latents
        nf = [feature_maps(level + 1, fmap_base, fmap_max) for level in range(self.num_levels)]
        self.blocks = ModuleList([_GFirstBlock(latent_dim, nf[0])] +
                                 [_GBlock(nf[k - 1], nf[k]) for k in range(1, self.num_levels)])
        self.to_rgb = ModuleList([ToRGB(nf[k], channels) for k in range(self.num_levels)])
        self.set_stage(self.num_levels - 1, 1.0)

    def forward(self, z):
        """z (N, latent_dim) -> x (N, channels, 4 * 2^level, 4 * 2^level)."""
        h = pixel_norm(z) if self.normalize_latents else z           # (N, nz) on the unit sphere
        h = self.blocks[0](h)                                        # (N, nf0, 4, 4)
        h_prev = h
        for k in range(1, self.level + 1):
            h_prev, h = h, self.blocks[k](h)                         # (N, nf_k, 4 2^k, 4 2^k)
        x = self.to_rgb[self.level](h)
        if self.level > 0 and self.alpha < 1.0:                      # fade-in (Fig. 2 b)
            x = _lerp(upsample2x(self.to_rgb[self.level - 1](h_prev)), x, self.alpha)
        return x


class _DLastBlock(Module):
    """(N, C, 4, 4) -> (N, 1): minibatch stddev, conv 3x3, dense 4x4 -> C, dense C -> 1 (gain 1).
    The paper's 'conv 4x4' on a 4x4 input with no padding is this dense layer."""

    def __init__(self, in_channels: int, mbstd_group: int = 4, mbstd_channels: int = 1):
        super().__init__()
        self.mbstd = MinibatchStdDev(mbstd_group, mbstd_channels)
        self.conv = EqualizedConv2d(in_channels + mbstd_channels, in_channels, 3)
        self.dense0 = EqualizedLinear(in_channels * 16, in_channels)
        self.dense1 = EqualizedLinear(in_channels, 1, gain=1.0)

    def forward(self, h):
        h = _act(self.conv(self.mbstd(h)))                           # (N, C, 4, 4)
        h = _act(self.dense0(h.reshape(h.shape[0], -1)))             # (N, C)
        return self.dense1(h)                                        # (N, 1)


class _DBlock(Module):
    """(N, C_in, H, W) -> (N, C_out, H/2, W/2): two conv 3x3 + LeakyReLU, average-pool."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv0 = EqualizedConv2d(in_channels, in_channels, 3)
        self.conv1 = EqualizedConv2d(in_channels, out_channels, 3)

    def forward(self, h):
        h = _act(self.conv1(_act(self.conv0(h))))
        return downsample2x(h)


class ProGANDiscriminator(_Stage, Module):
    """D of Table 2 (right), the mirror of G: image (N, channels, r, r) at the current level ->
    score (N, 1). No batch norm (the WGAN-GP penalty is per sample); minibatch stddev instead."""

    def __init__(self, channels: int = 1, resolution: int = 32, fmap_base: int = 512,
                 fmap_max: int = 64, mbstd_group: int = 4, mbstd_channels: int = 1):
        super().__init__()
        self.num_levels = levels_for(resolution)
        self.channels, self.resolution = channels, resolution
        nf = [feature_maps(level + 1, fmap_base, fmap_max) for level in range(self.num_levels)]
        self.from_rgb = ModuleList([FromRGB(channels, nf[k]) for k in range(self.num_levels)])
        self.blocks = ModuleList([_DLastBlock(nf[0], mbstd_group, mbstd_channels)] +
                                 [_DBlock(nf[k], nf[k - 1]) for k in range(1, self.num_levels)])
        self.set_stage(self.num_levels - 1, 1.0)

    def forward(self, x):
        """x (N, channels, 4 * 2^level, 4 * 2^level) -> (N, 1)."""
        side = self.current_resolution
        if tuple(x.shape[1:]) != (self.channels, side, side):
            raise ValueError(f"ProGANDiscriminator at level {self.level} takes images "
                             f"{(self.channels, side, side)}, got {tuple(x.shape[1:])}")
        h = self.from_rgb[self.level](x)                             # (N, nf_l, r, r)
        if self.level > 0:
            h = self.blocks[self.level](h)                           # (N, nf_{l-1}, r/2, r/2)
            if self.alpha < 1.0:                                     # fade-in (Fig. 2 b)
                h = _lerp(self.from_rgb[self.level - 1](downsample2x(x)), h, self.alpha)
        for k in range(self.level - 1, 0, -1):
            h = self.blocks[k](h)
        return self.blocks[0](h)                                     # (N, 1)
