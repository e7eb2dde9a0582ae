"""StyleGAN's networks in miniature: Karras, Laine & Aila, "A Style-Based Generator Architecture
for Generative Adversarial Networks", arXiv:1812.04948 (StyleGAN), and, as an option, the weight
demodulation of Karras et al., "Analyzing and Improving the Image Quality of StyleGAN",
arXiv:1912.04958 (StyleGAN2, Sec. 2.2).

The generator (Fig. 1b of the paper) at 32 px:

    z (N, z_dim) --normalise--> 8 x FC (lr x 0.01) --> w (N, w_dim)        MappingNetwork
                                                       |  per layer l: A_l = affine(w_l)
    const (1, C4, 4, 4)                                v
      4 px   [conv 3x3]* + B*noise + bias, lrelu, AdaIN(y_0)    layer 0    (* not in StyleGAN1's
             conv 3x3    + B*noise + bias, lrelu, AdaIN(y_1)    layer 1       first layer)
      8 px   up x2, conv 3x3 ... AdaIN(y_2); conv 3x3 ... AdaIN(y_3)       layers 2, 3 "coarse"
     16 px   up x2, conv 3x3 ... AdaIN(y_4); conv 3x3 ... AdaIN(y_5)       layers 4, 5 "middle"
     32 px   up x2, conv 3x3 ... AdaIN(y_6); conv 3x3 ... AdaIN(y_7)       layers 6, 7 "fine"
             to_rgb (1 x 1 conv) --> x (N, channels, 32, 32)               SynthesisNetwork

    AdaIN(x_i, y) = y_s,i (x_i - mu(x_i)) / sigma(x_i) + y_b,i     (eq. 1; y = (y_s, y_b) = A(w))

With ``modulated=True`` (StyleGAN2, eq. 1-3) each conv + AdaIN pair becomes one modulated conv:

    w'_ijk  = s_i w_ijk                     s = A(w): one scale per input channel i
    w''_ijk = w'_ijk / sqrt(sum_{i,k} w'_ijk^2 + eps)      (demodulation, per output channel j)

and to_rgb is a modulated 1 x 1 conv without demodulation (Fig. 2d). Style mixing feeds layer l
the w of one latent for l < crossover and of another for l >= crossover (Sec. 3.1); the
truncation trick replaces w by w_avg + psi (w - w_avg) (Sec. 3.1 / App. B), with w_avg the running
mean of the mapping network's outputs, tracked during training.

The functions below (:func:`adain`, :func:`modulate`, :func:`modulated_conv2d`, :func:`add_noise`)
are the paper's equations on Tensors; the modules wire them together. Every equalised-learning-rate
layer (weights N(0, 1) scaled by the He constant at run time, ProGAN Sec. 4.1) comes from
:mod:`tinygen.models.progan_nets`, shared with ProGAN, as does the discriminator's
minibatch-stddev layer.

Shapes:
    z, w          (N, z_dim), (N, w_dim)
    ws            (N, L, w_dim): one w per style layer, L = 2 log2(resolution / 2)
    x             (N, C, H, W) feature maps; images (N, channels, R, R) in about [-1, 1]
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence

from tinygen import backend, functional as F
from tinygen import nn
from tinygen.autograd import Tensor
from tinygen.creation import randn, tensor
from tinygen.models.progan_nets import (EqualizedConv2d, EqualizedLinear, FromRGB,
                                        MinibatchStdDev, ToRGB as PlainToRGB, he_constant)
from tinygen.ops.conv import conv2d
from tinygen.ops.pool import avg_pool2d
from tinygen.ops.norm import standardize
from tinygen.ops.resample import interpolate
from tinygen.ops.shape import concat

np = backend.numpy   # host arrays: initial weights, drawn from tinygen's seeded generator

# ---------------------------------------------------------------- the paper's equations


def adain(x: Tensor, y_s: Tensor, y_b: Tensor, eps: float = 1e-8) -> Tensor:
    """Adaptive instance normalisation (StyleGAN eq. 1; Huang & Belongie 2017):

        AdaIN(x_i, y) = y_s,i * (x_i - mu(x_i)) / sigma(x_i) + y_b,i

    mu and sigma over each feature map's H x W positions (biased variance, + eps inside the
    root). Shapes: x (N, C, H, W); y_s, y_b (N, C) -> (N, C, H, W). So every output map has
    mean y_b,i and standard deviation |y_s,i| (up to eps).
    """
    if y_s.shape != x.shape[:2] or y_b.shape != x.shape[:2]:
        raise ValueError(f"adain: x has shape {x.shape}, so y_s and y_b must be "
                         f"{tuple(x.shape[:2])}, got {y_s.shape} and {y_b.shape}")
    x_hat, _, _ = standardize(x, (2, 3), eps)                        # (N, C, H, W)
    n, c = y_s.shape
    return y_s.reshape(n, c, 1, 1) * x_hat + y_b.reshape(n, c, 1, 1)


def modulate(weight: Tensor, s: Tensor, demodulate: bool = True, eps: float = 1e-8) -> Tensor:
    """StyleGAN2 eq. 1 and 3: per-sample weights from a style.

        w'_ijk  = s_i * w_ijk                                 (modulation)
        w''_ijk = w'_ijk / sqrt(sum_{i,k} w'_ijk^2 + eps)     (demodulation)

    i: input channel, j: output channel, k: kernel position. Shapes: weight (O, C, kh, kw),
    s (N, C) -> (N, O, C, kh, kw). With ``demodulate`` every sample's kernel has unit norm
    per output channel j (up to eps), so the output keeps unit variance for unit-variance
    inputs: the statistical form of AdaIN's normalisation.
    """
    o, c = weight.shape[:2]
    if s.ndim != 2 or s.shape[1] != c:
        raise ValueError(f"modulate: the weight has {c} input channels (shape {weight.shape}), "
                         f"so s must be (N, {c}), got {s.shape}")
    n = s.shape[0]
    w1 = weight.unsqueeze(0) * s.reshape(n, 1, c, 1, 1)             # (N, O, C, kh, kw)
    if not demodulate:
        return w1
    d = ((w1 * w1).sum((2, 3, 4), keepdim=True) + eps) ** -0.5       # (N, O, 1, 1, 1)
    return w1 * d


def modulated_conv2d(x: Tensor, weight: Tensor, s: Tensor, demodulate: bool = True,
                     padding: int = 1, eps: float = 1e-8) -> Tensor:
    """conv2d of each sample with its own modulated kernel (StyleGAN2 Sec. 2.2).

    Done as in the paper's code, as ONE grouped convolution: the batch is folded into the
    channels, x (N, C, H, W) -> (1, N C, H, W), the kernels (N, O, C, kh, kw) -> (N O, C, kh, kw),
    groups = N. Shapes: x (N, C, H, W), weight (O, C, kh, kw), s (N, C) -> (N, O, H', W').
    """
    n, c, h, w_ = x.shape
    if s.shape[0] != n:
        raise ValueError(f"modulated_conv2d: x holds {n} samples but s holds {s.shape[0]}")
    kernels = modulate(weight, s, demodulate, eps)                   # (N, O, C, kh, kw)
    o, kh, kw = kernels.shape[1], kernels.shape[3], kernels.shape[4]
    y = conv2d(x.reshape(1, n * c, h, w_), kernels.reshape(n * o, c, kh, kw),
               padding=padding, groups=n)                            # (1, N O, H', W')
    return y.reshape(n, o, y.shape[2], y.shape[3])


def add_noise(x: Tensor, noise: Tensor, strength: Tensor) -> Tensor:
    """Per-pixel noise input (StyleGAN Sec. 2, Fig. 1b "B"): x + B_c * noise.

    One single-channel noise image per sample, broadcast to every channel with a learned
    per-channel scale B. Shapes: x (N, C, H, W), noise (N, 1, H, W), strength (C,).
    """
    if noise.shape != (x.shape[0], 1) + tuple(x.shape[2:]):
        raise ValueError(f"add_noise: x has shape {x.shape}, so the noise must be "
                         f"{(x.shape[0], 1) + tuple(x.shape[2:])}, got {noise.shape}")
    return x + strength.reshape(1, -1, 1, 1) * noise


def leaky(x: Tensor) -> Tensor:
    """The leaky ReLU of every StyleGAN layer (alpha = 0.2)."""
    return F.leaky_relu(x, 0.2)


SQRT2 = math.sqrt(2.0)


def normalise_latent(z: Tensor, eps: float = 1e-8) -> Tensor:
    """z / sqrt(mean_j z_j^2 + eps): the mapping network's input normalisation (App. C),
    which puts every z on the sphere of radius sqrt(z_dim). Shapes: (N, z_dim) -> same."""
    return z * ((z * z).mean(1, keepdim=True) + eps) ** -0.5


# ---------------------------------------------------------------- the mapping network f: z -> w

class MappingNetwork(nn.Module):
    """w = f(z): ``n_layers`` fully connected layers with leaky ReLU on the normalised z.

    Paper (Sec. 2, App. C): 8 layers of 512, their learning rate 100 times smaller than the
    synthesis network's (``lr_mul`` = 0.01, applied through the equalised layers' run-time
    scale). Shapes: z (N, z_dim) -> w (N, w_dim).
    """

    def __init__(self, z_dim: int, w_dim: int, n_layers: int = 8, lr_mul: float = 0.01):
        super().__init__()
        dims = [z_dim] + [w_dim] * n_layers
        self.layers = nn.ModuleList([EqualizedLinear(a, b, lr_mul=lr_mul)
                                     for a, b in zip(dims[:-1], dims[1:])])

    def forward(self, z: Tensor) -> Tensor:
        h = normalise_latent(z)                                      # (N, z_dim)
        for fc in self.layers:
            h = leaky(fc(h))                                         # (N, w_dim)
        return h


# ---------------------------------------------------------------- one style layer

class StyleLayer(nn.Module):
    """One layer of the synthesis network, fed one w:

        AdaIN mode      x <- [up x2] conv3x3(x);  x + B noise + b;  lrelu;  AdaIN(x, A(w))
        modulated mode  x <- [up x2] modconv3x3(x, s = A(w));  x + B noise + b;  lrelu

    ``conv=False`` (StyleGAN1's first layer): the learned constant goes straight to the noise
    and AdaIN. The affine A is an equalised linear layer whose scale half (y_s, or s) starts
    at 1 (bias 1, as the authors' code), so training starts from the plain conv net. B (the
    per-channel noise strength) starts at 0.

    Shapes: x (N, in_channels, r, r) [r/2 with ``upsample``], w (N, w_dim),
    noise (N, 1, r, r) -> (N, out_channels, r, r).
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 conv: bool = True, upsample: bool = False, modulated: bool = False):
        super().__init__()
        self.resolution, self.upsample, self.modulated = resolution, upsample, modulated
        self.has_conv = conv
        if modulated:
            # StyleGAN2's modulated conv owns its weight: N(0, 1), scaled at run time by the
            # He constant 1/sqrt(fan_in) (equalised learning rate, ProGAN Sec. 4.1)
            self.weight = nn.Parameter(randn(out_channels, in_channels, 3, 3).data)
            self.weight_gain = he_constant(in_channels * 9, gain=1.0)
            self.affine = EqualizedLinear(w_dim, in_channels, gain=1.0, bias_init=1.0)  # s
        else:
            if conv:
                self.conv = EqualizedConv2d(in_channels, out_channels, 3, padding=1)
            self.affine = EqualizedLinear(w_dim, 2 * out_channels, gain=1.0)   # (y_s, y_b)
            self.affine.bias.data[:out_channels] = 1.0               # y_s starts at 1, y_b at 0
        self.noise_strength = nn.Parameter(tensor(np.zeros(out_channels, np.float32)))   # B
        self.bias = nn.Parameter(tensor(np.zeros(out_channels, np.float32)))     # b
        self.out_channels = out_channels
        self.register_buffer("noise_const", randn(1, 1, resolution, resolution))

    def forward(self, x: Tensor, w: Tensor, noise: Optional[Tensor] = None) -> Tensor:
        if self.upsample:
            x = interpolate(x, scale_factor=2, mode="bilinear")      # (N, C, r, r)
        if self.modulated:
            s = self.affine(w)                                       # (N, in_channels)
            x = modulated_conv2d(x, self.weight * self.weight_gain, s, demodulate=True)
        elif self.has_conv:
            x = self.conv(x)                                         # (N, out, r, r)
        if noise is not None:
            x = add_noise(x, noise, self.noise_strength)
        x = leaky(x + self.bias.reshape(1, -1, 1, 1))
        if not self.modulated:
            y = self.affine(w)                                       # (N, 2 out)
            c = self.out_channels
            x = adain(x, y[:, :c], y[:, c:])                         # (N, out, r, r)
        return x


class ToRGB(nn.Module):
    """Feature maps -> image: a 1 x 1 conv (StyleGAN1), or StyleGAN2's modulated 1 x 1 conv
    without demodulation (Fig. 2d). Shapes: (N, C, r, r), w (N, w_dim) -> (N, channels, r, r)."""

    def __init__(self, in_channels: int, channels: int, w_dim: int, modulated: bool = False):
        super().__init__()
        self.modulated = modulated
        if modulated:
            self.weight = nn.Parameter(randn(channels, in_channels, 1, 1).data)
            self.weight_gain = he_constant(in_channels, gain=1.0)
            self.affine = EqualizedLinear(w_dim, in_channels, gain=1.0, bias_init=1.0)
            self.bias = nn.Parameter(tensor(np.zeros(channels, np.float32)))
        else:
            self.rgb = PlainToRGB(in_channels, channels)             # equalised 1x1, gain 1

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        if not self.modulated:
            return self.rgb(x)
        y = modulated_conv2d(x, self.weight * self.weight_gain, self.affine(w),
                             demodulate=False, padding=0)
        return y + self.bias.reshape(1, -1, 1, 1)


# ---------------------------------------------------------------- the synthesis network g: ws -> x

def default_widths(resolution: int, fmap_base: int = 256, fmap_max: int = 64) -> dict:
    """Channels per resolution r: min(fmap_max, fmap_base / r), at least 8 (the paper's rule
    with fmap_base 8192, fmap_max 512; the defaults here give 4: 64, 8: 32, 16: 16, 32: 8)."""
    widths, r = {}, 4
    while r <= resolution:
        widths[r] = int(min(fmap_max, max(8, fmap_base // r)))
        r *= 2
    return widths


class SynthesisNetwork(nn.Module):
    """x = g(ws): the learned constant through two style layers per resolution, 4 -> R px.

    Layer l reads ws[:, l]; ``layer_resolutions[l]`` says at what size. Shapes: ws (N, L, w_dim)
    -> (N, channels, R, R), L = 2 log2(R / 2).
    """

    def __init__(self, w_dim: int, resolution: int, channels: int, widths: dict,
                 modulated: bool = False):
        super().__init__()
        if resolution < 4 or resolution & (resolution - 1):
            raise ValueError(f"stylegan: the resolution must be a power of two >= 4, "
                             f"got {resolution}")
        c4 = widths[4]
        self.const = nn.Parameter(tensor(np.ones((1, c4, 4, 4), np.float32)))   # the learned input
        layers, r, c_in = [], 4, c4
        while r <= resolution:
            c = widths[r]
            first = r == 4
            layers.append(StyleLayer(c_in, c, w_dim, r, conv=not first or modulated,
                                     upsample=not first, modulated=modulated))
            layers.append(StyleLayer(c, c, w_dim, r, modulated=modulated))
            c_in, r = c, r * 2
        self.layers = nn.ModuleList(layers)
        self.to_rgb = ToRGB(c_in, channels, w_dim, modulated)
        self.channels = channels
        self.layer_resolutions = [layer.resolution for layer in layers]

    @property
    def num_ws(self) -> int:
        return len(self.layers)

    def forward(self, ws: Tensor, noise: Optional[Sequence[Optional[Tensor]]] = None) -> Tensor:
        """``noise``: one (N, 1, r, r) tensor (or None: no noise) per layer."""
        n = ws.shape[0]
        if ws.ndim != 3 or ws.shape[1] != self.num_ws:
            raise ValueError(f"synthesis: ws must be (N, {self.num_ws}, w_dim), got {ws.shape}")
        noise = list(noise) if noise is not None else [None] * self.num_ws
        x = self.const.expand(n, *self.const.shape[1:])                # (N, C4, 4, 4)
        for l, layer in enumerate(self.layers):
            x = layer(x, ws[:, l], noise[l])
        return self.to_rgb(x, ws[:, -1])                             # (N, channels, R, R)


# ---------------------------------------------------------------- the generator

NOISE_MODES = ("random", "const", "none")


class StyleGenerator(nn.Module):
    """G(z) = g(f(z)) with style mixing, truncation and the three noise modes.

        w      = f(z)                                         mapping
        w_avg <- beta w_avg + (1 - beta) mean_n w_n           tracked in training (beta 0.995)
        w'     = w_avg + psi (w - w_avg)                      truncation (psi = 1: none)
        ws[l]  = w'_1 for l < crossover, w'_2 for l >= crossover     style mixing
        x      = g(ws, noise)

    ``noise_mode``: 'random' (fresh N(0, 1) images from tinygen's generator, as in training),
    'const' (the fixed images stored with each layer), 'none'; or pass ``noise`` per layer.
    """

    def __init__(self, z_dim: int = 64, w_dim: int = 64, resolution: int = 32,
                 channels: int = 1, mapping_layers: int = 8, widths: Optional[dict] = None,
                 modulated: bool = False, mapping_lr_mul: float = 0.01,
                 w_avg_beta: float = 0.995):
        super().__init__()
        self.z_dim, self.w_dim, self.resolution = z_dim, w_dim, resolution
        self.w_avg_beta = w_avg_beta
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, mapping_lr_mul)
        self.synthesis = SynthesisNetwork(w_dim, resolution, channels,
                                          widths or default_widths(resolution), modulated)
        self.register_buffer("w_avg", tensor(np.zeros(w_dim, np.float32)))

    @property
    def num_ws(self) -> int:
        return self.synthesis.num_ws

    @property
    def layer_resolutions(self) -> List[int]:
        return self.synthesis.layer_resolutions

    def layers_up_to(self, resolution: int) -> int:
        """How many style layers work at ``resolution`` px or below (4 and 8 px: 4): the
        crossover that gives the coarse styles to one latent and the rest to another."""
        return sum(1 for r in self.layer_resolutions if r <= resolution)

    def track_w_avg(self, w: Tensor) -> None:
        """w_avg <- beta w_avg + (1 - beta) mean(w) (not differentiated; call in training)."""
        mean = w.detach().mean(0).data                               # (w_dim,)
        self.w_avg.data[...] = mean + self.w_avg_beta * (self.w_avg.data - mean)

    def truncate(self, w: Tensor, psi: float = 1.0) -> Tensor:
        """w' = w_avg + psi (w - w_avg) (App. B). Shapes: (N, [L,] w_dim) -> same."""
        if psi == 1.0:
            return w
        return self.w_avg + psi * (w - self.w_avg)

    def broadcast(self, w: Tensor, w2: Optional[Tensor] = None, crossover: int = 0) -> Tensor:
        """ws (N, L, w_dim): w in every layer, or w for layers < crossover and w2 from there."""
        n, L = w.shape[0], self.num_ws
        ws = w.unsqueeze(1).expand(n, L, self.w_dim)                   # (N, L, w_dim)
        if w2 is None:
            return ws
        if not 0 <= crossover <= L:
            raise ValueError(f"crossover must be in 0..{L} (the number of style layers), "
                             f"got {crossover}")
        ws2 = w2.unsqueeze(1).expand(n, L, self.w_dim)
        return concat([ws[:, :crossover], ws2[:, crossover:]], dim=1)

    def make_noise(self, n: int, mode: str = "random", device=None, generator=None) -> list:
        """One noise tensor (N, 1, r, r) per layer for ``mode`` ('none': None per layer)."""
        if mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {mode!r}")
        device = device or self.w_avg.device
        if mode == "none":
            return [None] * self.num_ws
        if mode == "const":
            return [layer.noise_const.expand(n, 1, layer.resolution, layer.resolution)
                    for layer in self.synthesis.layers]
        return [randn(n, 1, r, r, device=device, generator=generator)
                for r in self.layer_resolutions]

    def forward(self, z: Tensor, psi: float = 1.0, z2: Optional[Tensor] = None,
                crossover: int = 0, noise_mode: str = "random", noise=None,
                generator=None) -> Tensor:
        """x = g(ws(z[, z2]), noise). Shapes: z, z2 (N, z_dim) -> (N, channels, R, R)."""
        w = self.truncate(self.mapping(z), psi)                      # (N, w_dim)
        w2 = None if z2 is None else self.truncate(self.mapping(z2), psi)
        if noise is None:
            noise = self.make_noise(z.shape[0], noise_mode, z.device, generator)
        return self.synthesis(self.broadcast(w, w2, crossover), noise)


# ---------------------------------------------------------------- the discriminator

class StyleDiscriminator(nn.Module):
    """D(x): ProGAN's discriminator at one fixed resolution (StyleGAN Sec. 2 keeps ProGAN's D;
    no progressive growing here), built from the equalised layers of
    :mod:`tinygen.models.progan_nets`:

        from_rgb 1x1, lrelu                                 (N, C_R, R, R)
        per resolution r = R .. 8: conv3x3, lrelu, conv3x3, lrelu, avg-pool 2x2
        4 px: minibatch stddev (+1 channel), conv3x3, lrelu, FC(16 C_4 -> C_4), lrelu,
              FC(C_4 -> 1)                                  -> logits (N, 1)

    Widths mirror the generator's (``widths[r]`` at r px). Shapes: (N, channels, R, R) -> (N, 1).
    """

    def __init__(self, resolution: int, channels: int, widths: dict, mbstd_group: int = 4):
        super().__init__()
        self.resolution = resolution
        self.from_rgb = FromRGB(channels, widths[resolution])        # 1x1 conv + lrelu
        convs, r = [], resolution
        while r > 4:
            convs += [EqualizedConv2d(widths[r], widths[r], 3, padding=1),
                      EqualizedConv2d(widths[r], widths[r // 2], 3, padding=1)]
            r //= 2
        self.convs = nn.ModuleList(convs)
        c4 = widths[4]
        self.mbstd = MinibatchStdDev(mbstd_group)
        self.conv4 = EqualizedConv2d(c4 + 1, c4, 3, padding=1)
        self.fc = EqualizedLinear(c4 * 16, c4)
        self.out = EqualizedLinear(c4, 1, gain=1.0)                  # the logit

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[2:]) != (self.resolution, self.resolution):
            raise ValueError(f"stylegan D: images must be {self.resolution} x {self.resolution} "
                             f"px, got shape {x.shape}")
        h = self.from_rgb(x)                                         # (N, C_R, R, R)
        for i in range(0, len(self.convs), 2):
            h = leaky(self.convs[i](h))
            h = avg_pool2d(leaky(self.convs[i + 1](h)), 2)           # (N, C_r/2, r/2, r/2)
        h = leaky(self.conv4(self.mbstd(h)))                         # (N, C4, 4, 4)
        h = leaky(self.fc(h.reshape(h.shape[0], -1)))                # (N, C4)
        return self.out(h)                                           # (N, 1)
