"""Pooling, resampling and padding layers: thin Modules around tinygen.ops.pool / ops.resample.

All take PyTorch's argument names and defaults and have no parameters.
Shapes: x (N, C, H, W) -> y (N, C', OH, OW) (see each functional for the sizes).
"""
from __future__ import annotations

from tinygen import functional as F
from tinygen.nn.module import Module
from tinygen.ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from tinygen.ops.resample import interpolate, pad, pixel_shuffle, pixel_unshuffle

__all__ = ["MaxPool1d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Upsample", "UpsamplingNearest2d",
           "UpsamplingBilinear2d", "PixelShuffle", "PixelUnshuffle", "ReflectionPad2d",
           "ReplicationPad2d", "ZeroPad2d", "ConstantPad2d", "CircularPad2d"]


class MaxPool2d(Module):
    """Max over each KH x KW window (stride defaults to kernel_size)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x):
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.ceil_mode, self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(MaxPool2d):
    """Max over each window of ``kernel_size`` along L: (N, C, L) -> (N, C, L_out) (``F.max_pool1d``)."""

    def forward(self, x):
        return F.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)


class AvgPool2d(Module):
    """Mean over each KH x KW window; count_include_pad / divisor_override as in PyTorch."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x):
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average into a fixed output_size grid of PyTorch's floor/ceil bins."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class Upsample(Module):
    """interpolate(x, size, scale_factor, mode, align_corners) as a layer."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.size, self.mode, self.align_corners = size, mode, align_corners
        self.scale_factor = float(scale_factor) if isinstance(scale_factor, (int, float)) \
            else scale_factor
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, x):
        return interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                           self.recompute_scale_factor)

    def extra_repr(self):
        what = f"scale_factor={self.scale_factor}" if self.scale_factor is not None \
            else f"size={self.size}"
        return f"{what}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear with align_corners=True (PyTorch's legacy layer)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class PixelShuffle(Module):
    """(N, C r^2, H, W) -> (N, C, H r, W r) (Shi et al. 2016, arXiv 1609.05158)."""

    def __init__(self, upscale_factor):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, x):
        return pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(N, C, H r, W r) -> (N, C r^2, H, W), the inverse of PixelShuffle."""

    def __init__(self, downscale_factor):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, x):
        return pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self):
        return f"downscale_factor={self.downscale_factor}"


class _Pad2d(Module):
    mode = "constant"

    def __init__(self, padding, value=0.0):
        super().__init__()
        if isinstance(padding, int):
            padding = (padding,) * 4
        padding = tuple(padding)
        if len(padding) != 4:
            raise ValueError(f"{type(self).__name__}: padding must be an int or a 4-tuple "
                             f"(left, right, top, bottom), got {padding}")
        self.padding, self.value = padding, value

    def forward(self, x):
        return pad(x, self.padding, self.mode, self.value)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad2d(_Pad2d):
    """Zero padding by (left, right, top, bottom) (negative values crop)."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)


class ConstantPad2d(_Pad2d):
    """Padding with a constant ``value``."""

    def __init__(self, padding, value):
        super().__init__(padding, value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ReflectionPad2d(_Pad2d):
    """Mirror padding without repeating the edge (CycleGAN's ResNet generator uses it)."""
    mode = "reflect"

    def __init__(self, padding):
        super().__init__(padding)


class ReplicationPad2d(_Pad2d):
    """Edge-repeating padding."""
    mode = "replicate"

    def __init__(self, padding):
        super().__init__(padding)


class CircularPad2d(_Pad2d):
    """Wrap-around padding."""
    mode = "circular"

    def __init__(self, padding):
        super().__init__(padding)
