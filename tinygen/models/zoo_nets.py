"""Generators of two applications of the GAN zoo, composed from the translation and DCGAN nets.

TP-GAN (Huang, Zhang, Li & He, "Beyond Face Rotation: Global and Local Perception GAN for
Photorealistic and Identity Preserving Frontal View Synthesis", ICCV 2017, arXiv:1704.04086,
Sec. 3.1, Fig. 2): a two-pathway generator G_theta,

    global pathway   G^g: encoder-decoder over the whole profile image I^P (the paper: a 128 px
                     encoder to a 256-d bottleneck plus noise, a decoder with skip connections)
    local pathway    G^l_i, i = 1..4: one small encoder-decoder per landmark patch (both eyes,
                     nose, mouth), each on its own crop of I^P; their outputs are put back at
                     the landmarks' frontal places into one feature tensor
    fusion           [global features, local tensor, I^P] -> convs -> the frontal view I^pred

    Miniature departures (flagged): the four "landmark patches" are the four quadrants of the
    image (digits have no landmarks) and each local output goes back into its own quadrant;
    the global pathway is pix2pix's U-Net (models/translation.py: its 1x1 bottleneck lets it
    move strokes across the image, which a rotation needs) emitting ``features`` tanh maps
    instead of the image; no noise input z (the paper concatenates a 100-d z at the bottleneck:
    a digit has one upright view, so nothing is left for z to vary); no multi-scale outputs
    of the global decoder.

PixelDTGAN (Yoo, Kim, Park, Paek & Kweon, "Pixel-Level Domain Transfer", ECCV 2016,
arXiv:1603.07442, Sec. 3 and 4): the converter C is "a unified network of an encoder and a
decoder": the encoder is a discriminator-like stack of 4x4 stride-2 convolutions down to a
64-d code (the paper: 64 px, five layers), the decoder DCGAN's generator from that code.
Here both halves are models/dcgan.py's nets (the encoder is DCGANDiscriminator's convolutions
with the last layer emitting the code instead of one logit): no skip connections, because the
target is not aligned with the source (a small off-centre digit -> the centred one).

Shapes: TwoPathwayGenerator (N, C_in, H, W) -> (N, C_out, H, W), H and W multiples of
``multiple`` (32 at 32 px); Converter (N, C_in, S, S) -> (N, C_out, S, S), S the built side.
"""
from __future__ import annotations

import tinygen
from tinygen import nn
from tinygen.models.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_init_, stages_for
from tinygen.models.translation import UNetGenerator, _check_images, unet_depth_for

__all__ = ["TwoPathwayGenerator", "Converter", "quadrants", "tile_quadrants"]


def quadrants(x):
    """(N, C, H, W) -> [top-left, top-right, bottom-left, bottom-right], each (N, C, H/2, W/2)."""
    h, w = x.shape[2] // 2, x.shape[3] // 2
    return [x[:, :, :h, :w], x[:, :, :h, w:], x[:, :, h:, :w], x[:, :, h:, w:]]


def tile_quadrants(parts):
    """The inverse of :func:`quadrants`: four (N, C, h, w) -> (N, C, 2h, 2w)."""
    top = tinygen.cat([parts[0], parts[1]], 3)
    bottom = tinygen.cat([parts[2], parts[3]], 3)
    return tinygen.cat([top, bottom], 2)


class TwoPathwayGenerator(nn.Module):
    """TP-GAN's G: a global U-Net plus four local U-Nets on the quadrants, fused by two convs.

    Args:
        in_channels, out_channels: channels of the input (profile) and output (frontal) image.
        size: the training image side (picks the U-Nets' depths: 32 px -> global 5, local 4).
        ngf: first-layer filters of the global pathway.
        nlf: first-layer filters of each local pathway.
        features: channels each pathway hands to the fusion convs, and their width.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, size: int = 32,
                 ngf: int = 32, nlf: int = 16, features: int = 16, depth: int | None = None,
                 local_depth: int | None = None):
        super().__init__()
        depth = unet_depth_for(size) if depth is None else depth
        local_depth = unet_depth_for(size // 2) if local_depth is None else local_depth
        self.in_channels, self.out_channels = in_channels, out_channels
        self.depth, self.local_depth = depth, local_depth
        self.multiple = max(2 ** depth, 2 ** (local_depth + 1))
        self.global_path = UNetGenerator(in_channels, features, ngf=ngf, dropout=0.0,
                                         depth=depth)
        self.local_paths = nn.ModuleList([
            UNetGenerator(in_channels, features, ngf=nlf, dropout=0.0, depth=local_depth)
            for _ in range(4)])
        self.fuse = nn.Sequential(                               # the paper: a few convs
            nn.Conv2d(2 * features + in_channels, features, 3, 1, 1, bias=False),
            nn.BatchNorm2d(features), nn.ReLU(),
            nn.Conv2d(features, out_channels, 3, 1, 1), nn.Tanh())
        dcgan_init_(self.fuse)

    def forward(self, a):
        _check_images(a, self.in_channels, self.multiple, "TwoPathwayGenerator")
        g = self.global_path(a)                                   # (N, F, H, W)
        l = tile_quadrants([net(part) for net, part in             # (N, F, H, W)
                            zip(self.local_paths, quadrants(a))])
        return self.fuse(tinygen.cat([g, l, a], 1))               # (N, C_out, H, W)


class Converter(nn.Module):
    """PixelDTGAN's converter C(I_S): conv encoder to an ``nz``-d code, DCGAN decoder back.

    Args:
        in_channels, out_channels: channels of the source and of the target image.
        size: the image side (28, 32, 64...; DCGAN's stages_for).
        ndf, ngf: first encoder / last decoder layer filters; nz: the code size (the paper: 64).
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, size: int = 32,
                 ndf: int = 32, ngf: int = 32, nz: int = 64):
        super().__init__()
        base, n = stages_for(size)
        self.in_channels, self.size, self.nz = in_channels, size, nz
        convs = list(DCGANDiscriminator(in_channels, size, ndf).main)[:-2]   # to (N, w, b, b)
        width = ndf * 2 ** (n - 1)
        self.encoder = nn.Sequential(*convs, nn.Conv2d(width, nz, base, 1, 0, bias=False),
                                     nn.BatchNorm2d(nz), nn.LeakyReLU(0.2))  # (N, nz, 1, 1)
        self.decoder = DCGANGenerator(nz, out_channels, size, ngf)
        dcgan_init_(self.encoder)

    def forward(self, source):
        if source.ndim != 4 or tuple(source.shape[1:]) != (self.in_channels, self.size,
                                                          self.size):
            raise ValueError(f"Converter: expected (N, {self.in_channels}, {self.size}, "
                             f"{self.size}), got shape {tuple(source.shape)}; resize the "
                             "images to the side it was built for")
        code = self.encoder(source)                               # (N, nz, 1, 1)
        return self.decoder(code.reshape(code.shape[0], self.nz))  # (N, C_out, S, S)
