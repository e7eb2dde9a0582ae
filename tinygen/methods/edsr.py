"""EDSR: enhanced deep residual networks for single-image super-resolution.

Lim, Son, Kim, Nah, Lee, "Enhanced Deep Residual Networks for Single Image Super-Resolution",
CVPRW 2017, arXiv:1707.02921. EDSR is SRResNet (tinygen.methods.srresnet, Ledig et al. 2017)
with three changes, each from the paper:

    - no batch normalisation in the residual blocks (Sec. 3.1: BN removes range flexibility
      and costs memory), and no activation outside them;
    - residual scaling: block(b) = b + 0.1 conv(ReLU(conv(b))) (Sec. 3.2, from Szegedy et al.;
      it keeps the 256-channel model stable);
    - the L1 loss instead of MSE (Sec. 4.1: better convergence), 48 x 48 LR patches.

The training protocol is SRResNet's own: this file calls :func:`srresnet.train_sr` (named
there as its EDSR use) with the EDSR network and the L1 loss. The paper's model
(``--preset paper``): 32 blocks, 256 channels; the default ``small`` preset is the same
CPU budget as srresnet's (4 blocks of 32, sub-pixel upsampler, residual over bicubic).

Shapes: x_LR (B, 3, p, p), y and x_HR (B, 3, s p, s p), images in [0, 1].
"""
from __future__ import annotations

import dataclasses
from typing import Literal

from tinygen.methods import srresnet
from tinygen.models.sr_nets import build_sr_net


@dataclasses.dataclass
class Config(srresnet.Config):
    """tinygen run edsr: EDSR super-resolution (Lim et al. 2017), L1 loss, no batch norm."""
    patch_size: int = 48               # LR patch side p (the paper: 48)
    lr: float = 1e-4                   # Adam's learning rate (the paper: 1e-4, halved every 2e5)
    loss: Literal["mse", "l1"] = "l1"   # pixel loss (the paper: L1, EDSR Sec. 4.1)
    channels: int = 256                # feature channels (the paper's EDSR: 256; baseline 64)
    blocks: int = 32                   # residual blocks (the paper's EDSR: 32; baseline 16)
    res_scale: float = 0.1             # residual scaling (the paper: 0.1; baseline 1.0)


PRESETS = {
    "paper": {},
    "small": dict(srresnet.PRESETS["small"], res_scale=1.0),   # 4 blocks: no need to damp
}
PRESET_DOCS = {"paper": "Sec. 4.1: 32 blocks of 256, residual scaling 0.1, 48-px LR patches, "
                        "Adam 1e-4",
               "small": srresnet.PRESET_DOCS["small"] + "; residual scaling 1 (as EDSR's "
                                                         "baseline at this width)"}
default_preset = srresnet.default_preset


def build_models(config):
    return build_sr_net("edsr", config.scale, config.channels, config.blocks, config.upsampler,
                        config.residual, config.res_scale, icnr=config.icnr)


def train(config: Config) -> str:
    """Train EDSR with ``config.loss`` (the paper's L1 by default); returns the run folder."""
    return srresnet.train_sr(config, "edsr", build_models)


__all__ = ["Config", "PRESETS", "build_models", "train"]
