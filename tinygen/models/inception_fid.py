"""Inception-v3 as used for FID: the TensorFlow 2015-12-05 graph, ported block by block.

References:
    Szegedy et al., "Rethinking the Inception Architecture for Computer Vision",
        arXiv:1512.00567, Sec. 5-6 and Table 1 (the architecture; Figs. 5, 6, 7 are the
        InceptionA, InceptionC and InceptionE modules).
    Heusel et al., "GANs Trained by a Two Time-Scale Update Rule ...", arXiv:1706.08500:
        FID uses the 2048-d "pool_3" output of the TF graph ``inception-2015-12-05``.
    Salimans et al., "Improved Techniques for Training GANs", arXiv:1606.03498, Sec. 4:
        the Inception Score uses the same graph's 1008-way softmax.
    pytorch-fid (mseitzer/pytorch-fid, src/pytorch_fid/inception.py) ported that graph to
        torchvision's ``Inception3`` layout; its weight file
        ``pt_inception-2015-12-05-6726825d.pth`` is what :meth:`InceptionV3FID.from_pretrained`
        loads, and our module names are torchvision's so the keys match exactly.

Where the FID graph departs from torchvision's (and the paper's) Inception-v3 -- every one of
these changes FID numbers, so we reproduce them on purpose:
    1. Average pools inside the A, C and E modules do NOT count the zero padding
       (TensorFlow's "SAME" average pool): ``count_include_pad=False``.
    2. The last module (``Mixed_7c``, pytorch-fid's FIDInceptionE_2) uses a 3x3 MAX pool in its
       pool branch, very likely a bug in the original graph, kept for comparable numbers.
    3. The classifier has 1008 outputs, not 1000: the 2015 graph kept 8 unused classes.
    4. BatchNorm eps = 1e-3 (TensorFlow's default), convolutions have no bias.

Input handling (pytorch-fid's ``resize_input`` / ``normalize_input``): images in [0, 1] of any
size are resized to 299x299 with bilinear interpolation, ``align_corners=False``, then mapped
to [-1, 1] by 2x - 1. (The original TF code resized uint8 images with its own bilinear
kernel; that small difference is one reason FIDs from different implementations disagree,
see docs/evaluation.md.)

Notation / Shapes (for a 299x299 input, batch N):
    block 0  Conv2d_1a .. Conv2d_2b + 3x3/2 max pool           (N, 64, 73, 73)
    block 1  Conv2d_3b, Conv2d_4a + 3x3/2 max pool             (N, 192, 35, 35)
    block 2  Mixed_5b .. Mixed_6e (the aux classifier's input) (N, 768, 17, 17)
    block 3  Mixed_7a .. Mixed_7c + global average pool        (N, 2048, 1, 1)   "pool_3"
    fc       2048 -> 1008 logits (only for the Inception Score)
"""
from __future__ import annotations

import os
from typing import Iterable, List, Optional

from tinygen import backend, nn
from tinygen import functional as F
from tinygen.autograd import Tensor
from tinygen.ops import cat, flatten

__all__ = ["InceptionV3FID", "BasicConv2d", "FID_WEIGHTS", "TORCHSCRIPT_FID_WEIGHTS",
           "BLOCK_INDEX_BY_DIM", "from_torchscript_names"]

FID_WEIGHTS = "pt_inception-2015-12-05-6726825d.pth"
# The same TF graph as a TorchScript archive (NVlabs' layout: StyleGAN2/3 metrics, clean-fid).
TORCHSCRIPT_FID_WEIGHTS = "inception-2015-12-05-fid-7ff4a85c.pt"

# ----- the TorchScript layout's names -> ours ---------------------------------------------
# The archive names its 94 conv + batch-norm layers after the TF graph (``net.layers.mixed_4.
# tower_1.conv_2``) and stores each batch norm without a scale, as ``beta``, ``mean``, ``var``.
# Block by block, which of its layers is which of ours (checked by shape in the tests):
TORCHSCRIPT_BLOCKS = {              # their block -> (ours, kind of module)
    "conv": ("Conv2d_1a_3x3", None), "conv_1": ("Conv2d_2a_3x3", None),
    "conv_2": ("Conv2d_2b_3x3", None), "conv_3": ("Conv2d_3b_1x1", None),
    "conv_4": ("Conv2d_4a_3x3", None),
    "mixed": ("Mixed_5b", "A"), "mixed_1": ("Mixed_5c", "A"), "mixed_2": ("Mixed_5d", "A"),
    "mixed_3": ("Mixed_6a", "B"),
    "mixed_4": ("Mixed_6b", "C"), "mixed_5": ("Mixed_6c", "C"), "mixed_6": ("Mixed_6d", "C"),
    "mixed_7": ("Mixed_6e", "C"),
    "mixed_8": ("Mixed_7a", "D"),
    "mixed_9": ("Mixed_7b", "E"), "mixed_10": ("Mixed_7c", "E"),
}
TORCHSCRIPT_BRANCHES = {            # kind -> {their layer inside the block: our branch}
    "A": {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
          "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2",
          "tower_1.conv_2": "branch3x3dbl_3", "tower_2.conv": "branch_pool"},
    "B": {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2",
          "tower.conv_2": "branch3x3dbl_3"},
    "C": {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2",
          "tower.conv_2": "branch7x7_3", **{f"tower_1.conv{'_' + str(i) if i else ''}":
                                            f"branch7x7dbl_{i + 1}" for i in range(5)},
          "tower_2.conv": "branch_pool"},
    "D": {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2",
          **{f"tower_1.conv{'_' + str(i) if i else ''}": f"branch7x7x3_{i + 1}"
             for i in range(4)}},
    "E": {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
          "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1",
          "tower_1_conv_1": "branch3x3dbl_2", "tower_1_mixed_conv": "branch3x3dbl_3a",
          "tower_1_mixed_conv_1": "branch3x3dbl_3b", "tower_2_conv": "branch_pool"},
}
TORCHSCRIPT_TENSORS = {"weight": "conv.weight", "beta": "bn.bias", "mean": "bn.running_mean",
                       "var": "bn.running_var"}


def _torchscript_layer(name: str) -> str:
    """``net.layers.mixed_4.tower_1.conv_2`` -> ``Mixed_6b.branch7x7dbl_3`` (KeyError if unknown)."""
    prefix = "net.layers."
    if not name.startswith(prefix):
        raise KeyError(name)
    block, _, inner = name[len(prefix):].partition(".")
    ours, kind = TORCHSCRIPT_BLOCKS[block]
    if kind is None:
        if inner:
            raise KeyError(name)
        return ours
    return f"{ours}.{TORCHSCRIPT_BRANCHES[kind][inner]}"


def from_torchscript_names(state_dict) -> dict:
    """The TorchScript archive's flat state dict -> ours (torchvision names), fc left out.

    Its batch norms have no scale: ``bn.weight`` becomes ones, which is what a scale-free
    batch norm computes. Unknown keys are an error naming them.
    """
    np = backend.numpy
    out, unknown = {}, []
    for key, value in state_dict.items():
        layer, _, tensor = key.rpartition(".")
        try:
            ours = f"{_torchscript_layer(layer)}.{TORCHSCRIPT_TENSORS[tensor]}"
        except KeyError:
            unknown.append(key)
            continue
        out[ours] = value
        if tensor == "beta":
            out[ours.replace("bn.bias", "bn.weight")] = np.ones_like(np.asarray(value))
    if unknown:
        raise KeyError(f"not the TorchScript FID Inception (inception-2015-12-05): unknown "
                       f"keys {unknown[:6]}{' ...' if len(unknown) > 6 else ''}")
    return out

# Feature dimension -> index of the block whose (pooled) output has that many channels.
BLOCK_INDEX_BY_DIM = {64: 0, 192: 1, 768: 2, 2048: 3}


class BasicConv2d(nn.Module):
    """conv (no bias) -> BatchNorm (eps 1e-3) -> ReLU, torchvision's ``BasicConv2d``.

    State-dict keys: ``conv.weight``, ``bn.weight``, ``bn.bias``, ``bn.running_mean``,
    ``bn.running_var``, ``bn.num_batches_tracked``.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_same(x):
    """3x3 stride-1 average pool that ignores the zero padding (TF "SAME"; departure 1)."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(nn.Module):
    """Fig. 5 module (35x35 grid): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1, concatenated.

    Shapes: (N, C_in, 35, 35) -> (N, 64 + 64 + 96 + pool_features, 35, 35).
    """

    def __init__(self, in_channels, pool_features):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x):
        b1 = self.branch1x1(x)                                              # (N, 64, H, W)
        b5 = self.branch5x5_2(self.branch5x5_1(x))                          # (N, 64, H, W)
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))  # (N, 96, H, W)
        bp = self.branch_pool(_avg_pool_same(x))                            # (N, pool, H, W)
        return cat([b1, b5, b3, bp], dim=1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17: 3x3/2 | 1x1-3x3-3x3/2 | 3x3/2 max pool (unchanged in the port).

    Shapes: (N, C_in, 35, 35) -> (N, 384 + 96 + C_in, 17, 17).
    """

    def __init__(self, in_channels):
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x):
        b3 = self.branch3x3(x)                                              # (N, 384, H', W')
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))  # (N, 96, H', W')
        bp = F.max_pool2d(x, kernel_size=3, stride=2)                       # (N, C_in, H', W')
        return cat([b3, bd, bp], dim=1)


class FIDInceptionC(nn.Module):
    """Fig. 6 module (17x17 grid) with n = 7: 7x7 convolutions factorised into 1x7 and 7x1.

    Shapes: (N, 768, 17, 17) -> (N, 4 * 192, 17, 17).
    """

    def __init__(self, in_channels, channels_7x7):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x):
        b1 = self.branch1x1(x)                                              # (N, 192, H, W)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))        # (N, 192, H, W)
        bd = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            bd = layer(bd)                                                  # (N, 192, H, W)
        bp = self.branch_pool(_avg_pool_same(x))                            # (N, 192, H, W)
        return cat([b1, b7, bd, bp], dim=1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | 3x3/2 max pool (unchanged).

    Shapes: (N, 768, 17, 17) -> (N, 320 + 192 + 768, 8, 8).
    """

    def __init__(self, in_channels):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x):
        b3 = self.branch3x3_2(self.branch3x3_1(x))                          # (N, 320, H', W')
        b7 = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = layer(b7)                                                  # (N, 192, H', W')
        bp = F.max_pool2d(x, kernel_size=3, stride=2)                       # (N, C_in, H', W')
        return cat([b3, b7, bp], dim=1)


class FIDInceptionE(nn.Module):
    """Fig. 7 module (8x8 grid): 3x3 convolutions split into parallel 1x3 and 3x1.

    ``pool="avg"`` is pytorch-fid's FIDInceptionE_1 (``Mixed_7b``, padding not counted);
    ``pool="max"`` is FIDInceptionE_2 (``Mixed_7c``, departure 2 in the module docstring).

    Shapes: (N, C_in, 8, 8) -> (N, 320 + 768 + 768 + 192 = 2048, 8, 8).
    """

    def __init__(self, in_channels, pool="avg"):
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"FIDInceptionE: pool must be 'avg' or 'max', got {pool!r}")
        self.pool = pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x):
        b1 = self.branch1x1(x)                                              # (N, 320, H, W)
        s = self.branch3x3_1(x)                                             # (N, 384, H, W)
        b3 = cat([self.branch3x3_2a(s), self.branch3x3_2b(s)], dim=1)       # (N, 768, H, W)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))                     # (N, 384, H, W)
        bd = cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], dim=1)  # (N, 768, H, W)
        if self.pool == "avg":
            pooled = _avg_pool_same(x)
        else:
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        bp = self.branch_pool(pooled)                                       # (N, 192, H, W)
        return cat([b1, b3, bd, bp], dim=1)

    def extra_repr(self):
        return f"pool={self.pool!r}"


def _pil_bicubic_299(x: Tensor, top: float) -> Tensor:
    """clean-fid's resize: each channel of each image as a 32-bit float PIL image, bicubic to
    299x299, clipped to [0, top]. Host arithmetic (PIL), without a graph. (N, 3, H, W) ->
    (N, 3, 299, 299) on x's device."""
    from PIL import Image
    from tinygen.creation import tensor
    np = backend.numpy
    host = backend.to_host(x.data).astype(np.float32)
    out = np.empty(host.shape[:2] + (299, 299), np.float32)
    for i, image in enumerate(host):
        for c, channel in enumerate(image):
            resized = Image.fromarray(channel, mode="F").resize((299, 299), Image.BICUBIC)
            out[i, c] = np.clip(np.asarray(resized), 0.0, top)
    return tensor(out.astype(host.dtype), device=x.device)


class InceptionV3FID(nn.Module):
    """The FID Inception-v3 (no auxiliary classifier), torchvision names, 1008-way ``fc``.

    ``forward(x, output_blocks=(3,))`` returns a list with the output of each requested block
    (sorted ascending), stopping after the deepest one, like pytorch-fid's ``InceptionV3``.
    ``logits(x)`` runs the whole network and the 1008-way classifier (Inception Score).

    Shapes:
        x: (N, 3, H, W), values in [0, 1], any H, W (resized to 299 unless resize_input=False).
        outputs: block 0 (N, 64, 73, 73), 1 (N, 192, 35, 35), 2 (N, 768, 17, 17),
                 3 (N, 2048, 1, 1) for a 299x299 input.
    """

    BLOCK_INDEX_BY_DIM = BLOCK_INDEX_BY_DIM
    DEFAULT_BLOCK_INDEX = 3

    INPUT_CONVENTIONS = ("pytorch-fid", "tf")
    RESIZES = ("bilinear", "pil-bicubic")

    def __init__(self, num_classes: int = 1008, resize_input: bool = True,
                 normalize_input: bool = True, input_convention: str = "pytorch-fid",
                 resize: str = "bilinear"):
        """``input_convention``: how images in [0, 1] become the network's input --
        ``"pytorch-fid"``: 2x - 1 (pytorch-fid's weights); ``"tf"``: (255 x - 128) / 128, the
        TF graph's own convention, which the TorchScript weights expect.
        ``resize`` (to 299x299, when ``resize_input``): ``"bilinear"``, pytorch-fid's
        ``F.interpolate(align_corners=False)``; ``"pil-bicubic"``, clean-fid's resize (PIL
        bicubic of each channel as 32-bit floats in 0..255, clipped), done on the host.
        ``num_classes=0``: no classifier (the TorchScript file has none: no Inception Score).
        """
        super().__init__()
        if input_convention not in self.INPUT_CONVENTIONS or resize not in self.RESIZES:
            raise ValueError(f"InceptionV3FID: input_convention must be one of "
                             f"{self.INPUT_CONVENTIONS} and resize one of {self.RESIZES}, got "
                             f"{input_convention!r}, {resize!r}")
        self.resize_input, self.normalize_input = resize_input, normalize_input
        self.input_convention, self.resize = input_convention, resize
        self.protocol = f"untrained weights: inputs {input_convention}, {resize} resize"
        # block 0
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        # block 1
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        # block 2
        self.Mixed_5b = FIDInceptionA(192, pool_features=32)
        self.Mixed_5c = FIDInceptionA(256, pool_features=64)
        self.Mixed_5d = FIDInceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        self.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        # block 3
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = FIDInceptionE(1280, pool="avg")
        self.Mixed_7c = FIDInceptionE(2048, pool="max")
        # classifier (departure 3: 1008 classes)
        self.fc = nn.Linear(2048, num_classes) if num_classes else None
        self.eval()            # a fixed feature extractor: BN always uses running statistics

    # ----- the four blocks -------------------------------------------------------------------
    def _block0(self, x):
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))   # (N, 64, 147, 147)
        return F.max_pool2d(x, kernel_size=3, stride=2)                     # (N, 64, 73, 73)

    def _block1(self, x):
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))                       # (N, 192, 71, 71)
        return F.max_pool2d(x, kernel_size=3, stride=2)                     # (N, 192, 35, 35)

    def _block2(self, x):
        for m in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d,                # (N, 288, 35, 35)
                  self.Mixed_6a, self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e):
            x = m(x)
        return x                                                            # (N, 768, 17, 17)

    def _block3(self, x):
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))                  # (N, 2048, 8, 8)
        return F.adaptive_avg_pool2d(x, (1, 1))                             # (N, 2048, 1, 1)

    def preprocess(self, x: Tensor) -> Tensor:
        """Resize to 299x299 (``self.resize``) and map [0, 1] -> [-1, 1] by the input
        convention: 2x - 1 (pytorch-fid) or (255 x - 128) / 128 (tf)."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"InceptionV3FID: expected RGB images (N, 3, H, W) in [0, 1], got "
                             f"shape {tuple(x.shape)}; repeat grey images over 3 channels "
                             f"(x.repeat or np.repeat(x, 3, axis=1)) first")
        scale = 255.0 if self.input_convention == "tf" else 1.0
        x = x * scale if scale != 1.0 else x
        if self.resize_input and tuple(x.shape[2:]) != (299, 299):
            if self.resize == "bilinear":
                x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
            else:
                x = _pil_bicubic_299(x, top=scale)                      # clipped to [0, top]
        if self.normalize_input:
            x = (x - 128.0) / 128.0 if scale != 1.0 else 2 * x - 1          # -> [-1, 1]
        return x                                                            # (N, 3, 299, 299)

    def forward(self, x: Tensor, output_blocks: Iterable[int] = (3,)) -> List[Tensor]:
        blocks = sorted(set(int(b) for b in output_blocks))
        if not blocks or blocks[0] < 0 or blocks[-1] > 3:
            raise ValueError(f"InceptionV3FID: output_blocks must be a non-empty subset of "
                             f"{{0, 1, 2, 3}} (64, 192, 768, 2048 channels), got "
                             f"{tuple(output_blocks)}")
        x = self.preprocess(x)
        outputs = []
        for index, block in enumerate((self._block0, self._block1, self._block2, self._block3)):
            x = block(x)
            if index in blocks:
                outputs.append(x)
            if index == blocks[-1]:
                break
        return outputs

    def logits(self, x: Tensor, bias: bool = False) -> Tensor:
        """1008-way logits of images, for the Inception Score. Shapes: (N, 3, H, W) -> (N, 1008).

        See :meth:`logits_from_pool3` for ``bias``.
        """
        pool3 = flatten(self.forward(x, output_blocks=(3,))[0], start_dim=1)  # (N, 2048)
        return self.logits_from_pool3(pool3, bias=bias)

    def logits_from_pool3(self, pool3: Tensor, bias: bool = False) -> Tensor:
        """pool_3 @ W^T (+ b). Shapes: (N, 2048) -> (N, 1008).

        ``bias=False`` (the default) reproduces the original IS code (Salimans et al.'s
        ``inception_score.py`` multiplies pool_3 by the ``softmax/logits/MatMul`` weights and
        never adds the bias); torch-fidelity calls this ``logits_unbiased``.
        """
        if self.fc is None:
            raise ValueError("these Inception weights have no classifier (the TorchScript FID "
                             "file): the Inception Score needs pytorch-fid's "
                             f"{FID_WEIGHTS} (`tinygen weights download pt_inception`)")
        if bias:
            return self.fc(pool3)                                           # (N, 1008)
        return pool3 @ self.fc.weight.transpose(0, 1)                       # (N, 1008)

    # ----- weights ---------------------------------------------------------------------------
    def load_pretrained_state_dict(self, state_dict):
        """Strict load, except that ``bn.num_batches_tracked`` may be absent.

        Files saved before PyTorch 0.4.1 have no ``num_batches_tracked``; PyTorch itself then
        fills it in (BatchNorm's versioned ``_load_from_state_dict``), so we accept exactly that
        omission and nothing else. It does not affect evaluation.
        """
        own = set(self.state_dict())
        given = set(state_dict)                    # (no fc in a model built with num_classes=0)
        missing = sorted(k for k in own - given if not k.endswith("num_batches_tracked"))
        unexpected = sorted(given - own)
        if missing or unexpected:
            raise KeyError(f"InceptionV3FID: the state dict does not match the FID Inception "
                           f"(pt_inception-2015-12-05): missing keys {missing[:8]}"
                           f"{' ...' if len(missing) > 8 else ''} ({len(missing)}), unexpected "
                           f"keys {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''} "
                           f"({len(unexpected)})")
        self.load_state_dict(state_dict, strict=False)
        return self

    @classmethod
    def from_pretrained(cls, path: Optional[str] = None, download: bool = False,
                        verify: Optional[bool] = None, resize: Optional[str] = None
                        ) -> "InceptionV3FID":
        """Build the network and load the FID weights: pytorch-fid's
        ``pt_inception-2015-12-05-6726825d.pth`` (the default), or, when ``path`` is a
        TorchScript archive, the TorchScript FID network (``inception-2015-12-05-fid-*.pt``,
        NVlabs' layout, see :data:`TORCHSCRIPT_BLOCKS`).

        Each file brings its tool's protocol: the .pth file pytorch-fid's (2x - 1, bilinear
        resize), the TorchScript file the TF graph's own input convention (255x - 128) / 128
        with clean-fid's resize; ``resize`` ("bilinear" or "pil-bicubic") overrides the resize.
        :attr:`protocol` says which was used.

        Args:
            path: a local copy of the weight file (default: look in the tinygen cache
                ``$TINYGEN_DATA/weights`` or ``~/.cache/tinygen/weights``, then torch.hub's).
            download: fetch it (about 91 MB, sha256-checked) if it is nowhere to be found.
            verify: check the file's sha256 prefix; default True for the cached file and False
                for an explicit ``path`` (so test files with random weights can be loaded).
        Raises:
            FileNotFoundError: saying where to put the file, the URL, and the
                ``tinygen weights download pt_inception`` command.
        """
        from tinygen.io.torch_pth import is_torchscript, load_torch_state_dict, \
            load_torchscript_state_dict
        from tinygen.io.weights import get_weights
        if path is not None and is_torchscript(path):
            model = cls(num_classes=0, input_convention="tf", resize=resize or "pil-bicubic")
            model.load_pretrained_state_dict(from_torchscript_names(
                load_torchscript_state_dict(path)))
            model.protocol = (f"TorchScript FID Inception ({os.path.basename(path)}): "
                              f"inputs (255 x - 128) / 128, {model.resize} resize to 299"
                              + (" (clean-fid's)" if model.resize == "pil-bicubic" else ""))
            return model.eval()
        if verify is None:
            verify = path is None
        try:
            found = get_weights(FID_WEIGHTS, path=path, download=download, verify=verify)
        except FileNotFoundError as exc:
            raise FileNotFoundError(
                f"{exc}\nThe FID Inception weights are not on this machine: get them once with "
                f"`tinygen weights download pt_inception` (needs internet), pass a local copy "
                f"with `tinygen fid ... --weights FILE` / InceptionV3FID.from_pretrained("
                f"path=FILE), or compute a domain FID offline with "
                f"`tinygen fid A B --features domain:digits`.") from None
        model = cls(resize=resize or "bilinear")
        model.load_pretrained_state_dict(load_torch_state_dict(found))
        model.protocol = (f"pytorch-fid ({os.path.basename(found)}): inputs 2x - 1, "
                          f"{model.resize} resize to 299"
                          + (" (pytorch-fid's)" if model.resize == "bilinear" else ""))
        return model.eval()
