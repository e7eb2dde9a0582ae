"""WDSR: wide activation for efficient and accurate image super-resolution.

Yu, Fan, Yang, Xu, Wang, Wang, Huang, "Wide Activation for Efficient and Accurate Image
Super-Resolution", 2018, arXiv:1808.08718. WDSR builds on EDSR (tinygen.methods.edsr), with
the changes of its Sec. 3, each in ``tinygen/models/sr_nets.py``'s ``WDSR``:

    - wide activation: the features are widened (x6 in WDSR-B) before the ReLU and narrowed
      after it, so more information passes the non-linearity at the same cost;
    - WDSR-B's low-rank convolutions: 1x1 (C -> 6C), ReLU, 1x1 (6C -> 0.8C), 3x3 (0.8C -> C);
    - weight normalisation of every conv (nn.utils.weight_norm, PyTorch's semantics) instead of
      no normalisation, which lets it train with lr 1e-3 (Sec. 3.3);
    - the upsampler at the end (sub-pixel conv) and a 5x5 conv + PixelShuffle skip branch from
      the input: every conv runs at LR size.

The training protocol is SRResNet's (:func:`tinygen.methods.srresnet.train_sr`) with EDSR's
L1 loss. ``--preset paper``: 16 blocks of 32 channels, 48-pixel LR patches, lr 1e-3; the
default ``small`` preset: 4 blocks, 24-pixel patches, 1500 steps, residual over bicubic.

Shapes: x_LR (B, 3, p, p), y and x_HR (B, 3, s p, s p), images in [0, 1].
"""
from __future__ import annotations

import dataclasses
from typing import Literal

from tinygen.methods import srresnet
from tinygen.models.sr_nets import build_sr_net


@dataclasses.dataclass
class Config(srresnet.Config):
    """tinygen run wdsr: WDSR-B super-resolution (Yu et al. 2018), wide activation, weight norm."""
    patch_size: int = 48               # LR patch side p (the paper: 48)
    lr: float = 1e-3                   # Adam's learning rate (the paper: 1e-3, with weight norm)
    loss: Literal["mse", "l1"] = "l1"   # pixel loss (the paper: L1, WDSR Sec. 4, after EDSR)
    channels: int = 32                 # feature channels (the paper's WDSR-B: 32)
    blocks: int = 16                   # residual blocks (the paper's WDSR-B: 16)
    expand: int = 6                    # widening before the ReLU (the paper's WDSR-B: 6)
    linear: float = 0.8                # low-rank width after the ReLU, times channels (paper: 0.8)
    res_scale: float = 1.0             # residual scaling (the paper: 1)
    upsampler: str = "subpixel"        # WDSR always upsamples at the end (sub-pixel conv)


PRESETS = {
    "paper": {},
    "small": dict(steps=1500, blocks=4, patch_size=24, residual=True, lr_halvings=2),
}
PRESET_DOCS = {"paper": "Sec. 4 (WDSR-B): 16 blocks of 32, expansion 6, low-rank 0.8, "
                        "48-px LR patches, lr 1e-3",
               "small": "a ~15-minute CPU budget: 4 wide-activation blocks, 24-pixel patches, "
                        "residual over bicubic, lr 1e-3 halved twice, 1500 steps"}
default_preset = srresnet.default_preset


def build_models(config):
    return build_sr_net("wdsr", config.scale, config.channels, config.blocks, config.upsampler,
                        config.residual, config.res_scale, config.expand, config.linear,
                        icnr=config.icnr)


def train(config: Config) -> str:
    """Train WDSR-B with ``config.loss`` (the paper's L1 by default); returns the run folder."""
    return srresnet.train_sr(config, "wdsr", build_models)


__all__ = ["Config", "PRESETS", "build_models", "train"]
