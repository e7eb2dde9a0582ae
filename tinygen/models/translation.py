"""Image-to-image translation networks: the U-Net generator and PatchGAN discriminator of pix2pix
(Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks",
arXiv:1611.07004, Sec. 3.2 and Appendix 6.1) and the ResNet generator of Johnson et al. 2016
("Perceptual Losses for Real-Time Style Transfer and Super-Resolution", arXiv:1603.08155) in the
form CycleGAN uses it (Zhu et al. 2017, arXiv:1703.10593, Appendix 7.2: reflection padding,
instance norm).

Notation (the papers'): Ck = Conv 4x4 stride 2 -> norm -> activation, k filters;
CDk = the same with dropout 0.5 after the norm; c7s1-k = 7x7 conv stride 1; dk = 3x3 conv
stride 2; Rk = residual block of two 3x3 convs; uk = 3x3 transposed conv stride 1/2.

    U-Net G (pix2pix Fig. 3, App. 6.1.1), 256 px, depth 8 (every down halves the side to 1x1):
        encoder  C64 - C128 - C256 - C512 - C512 - C512 - C512 - C512         LeakyReLU(0.2)
        decoder  CD512 - CD1024 - CD1024 - C1024 - C1024 - C512 - C256 - C128  ReLU
                 (decoder widths counted after concatenating the mirrored encoder layer)
        output   4x4 transposed conv -> out_channels, tanh
        no norm on the first encoder layer (the paper) nor on the innermost one (the authors'
        code: a 1x1 map with batch size 1 would be normalised to 0)

        a (N,ca,256,256) -e1-> 128 -e2-> 64 -> 32 -> 16 -> 8 -> 4 -> 2 -e8-> (N,512,1,1)
                            |                                             |
        G(a) (N,cb,256,256) <-d1- [d2, e1] <- ... <- [d7, e7] <-d8- ------+
        Depth from the image side: one down per factor 2 until 1x1, at most 8 (the paper's):
        32 px -> 5, 64 -> 6, 256 -> 8; widths ngf * min(2^i, 8).

    PatchGAN D (pix2pix Sec. 3.2.2, App. 6.1.2), n_layers = 3 ("70x70"):
        C64 - C128 - C256 - C512(stride 1) - conv 4x4 stride 1 -> 1 channel (a logit per patch)
        no norm on C64; LeakyReLU(0.2). Conditional D(a, b) sees [a, b] concatenated on channels.
        receptive field r = 1 + sum_l (k_l - 1) prod_{m<l} s_m = 1 + 3(1+2+4+8+8) = 70.

    ResNet G (CycleGAN App. 7.2, after Johnson et al.; 9 blocks at 256 px, 6 at 128 px):
        c7s1-64 - d128 - d256 - R256 x n_blocks - u128 - u64 - c7s1-out (tanh)
        reflection padding before every 3x3/7x7 conv of stride 1, instance norm, ReLU;
        R: x + IN(conv3(pad(ReLU(IN(conv3(pad(x)))))))

Init (both papers): conv weights ~ N(0, 0.02), batch-norm scale ~ N(1, 0.02) (models/dcgan.py's
dcgan_init_). A conv has a bias only where no normalisation follows it (a bias before a norm is
cancelled by the mean subtraction).

Departures, all options with the paper's values as defaults: ``norm`` 'instance'/'none' besides
'batch'; the U-Net's depth is cut to fit smaller images; ResNetGenerator.for_size gives a small
variant below 128 px (ngf 32, 4 blocks: a tinygen choice for CPU budgets, not in a paper).

Shapes: a (N, in_channels, H, W) in [-1, 1] -> G(a) (N, out_channels, H, W) in [-1, 1];
PatchGAN: (N, C, H, W) -> (N, 1, H', W') logits, H' = H/8 - 2 for n_layers 3.
"""
from __future__ import annotations

import tinygen
from tinygen import nn
from tinygen.models.dcgan import dcgan_init_

__all__ = ["UNetGenerator", "PatchGANDiscriminator", "ResNetGenerator", "ResNetBlock",
           "unet_depth_for", "resnet_blocks_for", "receptive_field"]

NORMS = ("batch", "instance", "none")


def _norm(kind: str, channels: int) -> list:
    """[] or [the norm layer]: batch norm (pix2pix), instance norm without affine (CycleGAN)."""
    if kind == "batch":
        return [nn.BatchNorm2d(channels)]
    if kind == "instance":
        return [nn.InstanceNorm2d(channels)]
    if kind == "none":
        return []
    raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {kind!r}")


def unet_depth_for(size: int, max_depth: int = 8) -> int:
    """Number of stride-2 downs of the U-Net: halve the side until 1 (or odd), at most 8.

    256 -> 8 (the paper: 1x1 bottleneck), 64 -> 6, 32 -> 5, 28 -> 2 (7x7 bottleneck)."""
    if size < 2 or size % 2:
        raise ValueError(f"the U-Net needs an even image side (it halves it), got {size}; "
                         "resize or crop the data first")
    depth = 0
    while size % 2 == 0 and size > 1 and depth < max_depth:
        size, depth = size // 2, depth + 1
    return depth


def _check_images(x, channels: int, step: int, who: str) -> None:
    """A generator's input must be (N, channels, H, W) with H and W multiples of ``step``
    (its downsampling factor), or a one-line error naming the fix."""
    if x.ndim != 4 or x.shape[1] != channels:
        raise ValueError(f"{who}: expected (N, {channels}, H, W), got shape {tuple(x.shape)}")
    if x.shape[2] % step or x.shape[3] % step:
        raise ValueError(f"{who} needs H and W divisible by {step}, got "
                         f"{x.shape[2]}x{x.shape[3]}; pad or crop the image")


class UNetGenerator(nn.Module):
    """pix2pix's U-Net G(a): an encoder-decoder with skip connections between mirrored layers.

    Args:
        in_channels, out_channels: channels of a and of G(a).
        size: image side, picks the depth (``unet_depth_for``) unless ``depth`` is given.
        ngf: filters of the first layer (the paper: 64), doubling up to 8 ngf.
        norm: 'batch' (the paper), 'instance' or 'none'.
        dropout: p of the dropout in the innermost ``n_dropout`` decoder layers (the paper: 0.5
            in 3 layers; it is G's only noise, Sec. 3.1 -- kept on at test time by the method).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, size: int = 256,
                 ngf: int = 64, norm: str = "batch", dropout: float = 0.5, n_dropout: int = 3,
                 depth: int | None = None):
        super().__init__()
        _norm(norm, 1)                                     # validates the name
        n = unet_depth_for(size) if depth is None else int(depth)
        if n < 1:
            raise ValueError(f"the U-Net needs depth >= 1, got {n}")
        self.in_channels, self.out_channels, self.depth = in_channels, out_channels, n
        width = [ngf * min(2 ** i, 8) for i in range(n)]                 # e_i channels
        down = []
        for i in range(n):                                 # e_{i+1} = conv(act(e_i))
            c_in = in_channels if i == 0 else width[i - 1]
            has_norm = 0 < i < n - 1 and norm != "none"
            layers = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers += [nn.Conv2d(c_in, width[i], 4, 2, 1, bias=not has_norm)]
            layers += _norm(norm, width[i]) if has_norm else []
            down.append(nn.Sequential(*layers))
        up = []
        for i in reversed(range(n)):                       # d_i from [d_{i+1}, e_{i+1}]
            c_in = width[i] if i == n - 1 else 2 * width[i]
            if i == 0:
                layers = [nn.ReLU(), nn.ConvTranspose2d(c_in, out_channels, 4, 2, 1), nn.Tanh()]
            else:
                layers = [nn.ReLU(), nn.ConvTranspose2d(c_in, width[i - 1], 4, 2, 1,
                                                        bias=norm == "none")]
                layers += _norm(norm, width[i - 1])
                if n - 1 - i < n_dropout and dropout > 0:              # innermost decoders
                    layers.append(nn.Dropout(dropout))
            up.append(nn.Sequential(*layers))
        self.down = nn.ModuleList(down)                    # down[i]: e_i -> e_{i+1}
        self.up = nn.ModuleList(up)                        # up[0] innermost ... up[n-1] output
        dcgan_init_(self)

    def forward(self, a):
        _check_images(a, self.in_channels, 2 ** self.depth, f"UNetGenerator of depth {self.depth}")
        skips, h = [], a
        for layer in self.down:
            h = layer(h)                                   # (N, w_i, H / 2^(i+1), W / 2^(i+1))
            skips.append(h)
        h = self.up[0](skips.pop())                        # innermost: no skip to add
        for layer in self.up[1:]:
            h = layer(tinygen.cat([h, skips.pop()], 1))    # [d, e] mirrored concatenation
        return h                                           # (N, out_channels, H, W)


class PatchGANDiscriminator(nn.Module):
    """pix2pix's PatchGAN: a fully convolutional D giving one logit per overlapping patch.

    Conditional use (pix2pix): ``D(a, b)`` concatenates its inputs on channels, so build it with
    ``in_channels = channels(a) + channels(b)``; unconditional (CycleGAN): ``D(b)``.

    Args:
        in_channels: total channels of the (concatenated) input.
        ndf: filters of the first layer (64), doubling up to 8 ndf.
        n_layers: stride-2 layers (3 = the paper's 70x70 PatchGAN; 1 -> 16x16, 2 -> 34x34).
        norm: 'batch' (pix2pix), 'instance' (CycleGAN) or 'none'.
    """

    def __init__(self, in_channels: int = 6, ndf: int = 64, n_layers: int = 3,
                 norm: str = "batch"):
        super().__init__()
        _norm(norm, 1)
        if n_layers < 0:
            raise ValueError(f"n_layers must be >= 0, got {n_layers}")
        self.in_channels, self.n_layers = in_channels, n_layers
        has_norm = norm != "none"
        layers = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]       # C64, no norm
        width = ndf
        for i in range(1, n_layers + 1):                   # C128, C256 stride 2; C512 stride 1
            out = ndf * min(2 ** i, 8)
            layers += [nn.Conv2d(width, out, 4, 2 if i < n_layers else 1, 1, bias=not has_norm)]
            layers += _norm(norm, out) + [nn.LeakyReLU(0.2)]
            width = out
        layers += [nn.Conv2d(width, 1, 4, 1, 1)]           # one logit per patch
        self.main = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, *inputs):
        x = inputs[0] if len(inputs) == 1 else tinygen.cat(list(inputs), 1)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            shapes = ", ".join(str(tuple(t.shape)) for t in inputs)
            raise ValueError(f"PatchGANDiscriminator expects {self.in_channels} input channels "
                             f"in total, got inputs of shapes {shapes}; build it with "
                             "in_channels = the sum of the channels of what it sees (a and b)")
        return self.main(x)                                # (N, 1, H', W') logits

    def receptive_field(self) -> int:
        return receptive_field(self)


def receptive_field(net) -> int:
    """Side of the input patch one output unit sees: r = 1 + sum_l (k_l - 1) d_l prod_{m<l} s_m.

    ``net``: an n_layers value of the PatchGAN (4x4 kernels: 0 -> 10, 1 -> 16, 2 -> 34,
    3 -> 70, 4 -> 142) or any module whose Conv2d layers run in registration order.
    """
    if isinstance(net, int):
        strides = [2] * net + [1, 1] if net > 0 else [2, 1]
        layers = [(4, s, 1) for s in strides]
    else:
        layers = [(_pair(m.kernel_size)[0], _pair(m.stride)[0], _pair(m.dilation)[0])
                  for m in net.modules() if isinstance(m, nn.Conv2d)]
    r, jump = 1, 1
    for k, s, d in layers:
        r += (k - 1) * d * jump                            # each layer widens by (k-1) input jumps
        jump *= s
    return r


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def resnet_blocks_for(size: int) -> int:
    """CycleGAN's choice: 9 residual blocks at 256 px and above, 6 at 128; 4 below (tinygen's
    small variant)."""
    return 9 if size >= 256 else 6 if size >= 128 else 4


class ResNetBlock(nn.Module):
    """R_k: x + IN(conv3x3(pad(ReLU(IN(conv3x3(pad(x))))))), reflection padding of 1."""

    def __init__(self, channels: int, norm: str = "instance", dropout: float = 0.0,
                 padding: str = "reflect"):
        super().__init__()
        bias = norm == "none"
        pad = [nn.ReflectionPad2d(1)] if padding == "reflect" else []
        p = 0 if padding == "reflect" else 1
        layers = pad + [nn.Conv2d(channels, channels, 3, padding=p, bias=bias)]
        layers += _norm(norm, channels) + [nn.ReLU()]
        layers += [nn.Dropout(dropout)] if dropout > 0 else []
        layers += pad + [nn.Conv2d(channels, channels, 3, padding=p, bias=bias)]
        layers += _norm(norm, channels)
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.net(x)                             # (N, C, h, w)


class ResNetGenerator(nn.Module):
    """Johnson et al.'s transformation network as CycleGAN builds it (App. 7.2):
    c7s1-ngf, d2ngf, d4ngf, R4ngf x n_blocks, u2ngf, ungf, c7s1-out, tanh.

    Args:
        in_channels, out_channels: channels of the input and of the output image.
        ngf: filters of the first layer (64); n_down: stride-2 downs (2), mirrored by ups.
        n_blocks: residual blocks (9 at 256 px, 6 at 128: ``resnet_blocks_for``).
        norm: 'instance' (CycleGAN), 'batch' (Johnson et al.) or 'none'.
        dropout: in the residual blocks (0; CycleGAN's code offers 0.5 as an option).
        global_skip: DeblurGAN's "ResOut" (Kupyn et al. 2018, arXiv:1711.07064, Sec. 3.2):
            the network predicts the residual, G(x) = clamp(x + net(x), -1, 1) (the clamp
            as in the authors' code), so it starts near the identity; needs in = out channels.
    H and W must be divisible by 2^n_down.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64,
                 n_blocks: int = 9, n_down: int = 2, norm: str = "instance",
                 dropout: float = 0.0, global_skip: bool = False):
        super().__init__()
        _norm(norm, 1)
        if global_skip and in_channels != out_channels:
            raise ValueError(f"ResNetGenerator: the global skip x + net(x) needs as many input "
                             f"as output channels, got {in_channels} and {out_channels}")
        self.in_channels, self.n_down, self.global_skip = in_channels, n_down, global_skip
        bias = norm == "none"
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=bias)]
        layers += _norm(norm, ngf) + [nn.ReLU()]                          # c7s1-ngf
        width = ngf
        for _ in range(n_down):                                           # d_k
            layers += [nn.Conv2d(width, 2 * width, 3, 2, 1, bias=bias)]
            layers += _norm(norm, 2 * width) + [nn.ReLU()]
            width *= 2
        layers += [ResNetBlock(width, norm, dropout) for _ in range(n_blocks)]   # R_k
        for _ in range(n_down):                                           # u_k
            layers += [nn.ConvTranspose2d(width, width // 2, 3, 2, 1, output_padding=1,
                                          bias=bias)]
            layers += _norm(norm, width // 2) + [nn.ReLU()]
            width //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        dcgan_init_(self)

    @classmethod
    def for_size(cls, size: int, in_channels: int = 3, out_channels: int = 3, **kwargs):
        """The paper's network for 128/256 px; below 128 px the small variant (ngf 32, 4 blocks)."""
        kwargs.setdefault("n_blocks", resnet_blocks_for(size))
        kwargs.setdefault("ngf", 64 if size >= 128 else 32)
        return cls(in_channels, out_channels, **kwargs)

    def forward(self, x):
        _check_images(x, self.in_channels, 2 ** self.n_down,
                      f"ResNetGenerator with {self.n_down} downs")
        if self.global_skip:                               # ResOut: I_S = I_B + I_R
            return (x + self.main(x)).clamp(-1.0, 1.0)     # (N, C, H, W)
        return self.main(x)                                # (N, out_channels, H, W)
