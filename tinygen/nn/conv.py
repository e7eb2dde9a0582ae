"""Convolution layers: Conv1d/2d/3d and ConvTranspose2d/3d (PyTorch's arguments, init and keys).

Shapes:
    Conv2d           x (N, C_in, H, W) -> y (N, C_out, OH, OW)
                     weight (C_out, C_in/groups, KH, KW), bias (C_out,)
                     OH = floor((H + 2 p - d (KH - 1) - 1) / s) + 1
    ConvTranspose2d  x (N, C_in, H, W) -> y (N, C_out, OH, OW)
                     weight (C_in, C_out/groups, KH, KW), bias (C_out,)
                     OH = (H - 1) s - 2 p + d (KH - 1) + output_padding + 1

    Conv3d / ConvTranspose3d: the same with a depth axis D in front of H
                     (weight (C_out, C_in/groups, KD, KH, KW) / (C_in, C_out/groups, KD, KH, KW))

Init: PyTorch's default, kaiming_uniform(a = sqrt 5) = U(-1/sqrt(fan_in),
1/sqrt(fan_in)) with fan_in = weight.shape[1] KH KW for both layers (for
ConvTranspose2d that is C_out/groups KH KW: PyTorch reads dimension 1 as
"fan in" whatever the layout, and so do we), the same bound for the bias.
"""
from __future__ import annotations

from tinygen import backend, functional as F
from tinygen.nn import init
from tinygen.nn.module import Module, Parameter
from tinygen.ops.conv import (
    _pair, _same_padding, _tuple, conv2d, conv3d, conv_transpose2d, conv_transpose3d,
)
from tinygen.ops.im2col import conv_transpose_output_size
from tinygen.ops.resample import pad as _pad

__all__ = ["Conv1d", "Conv2d", "ConvTranspose2d", "Conv3d", "ConvTranspose3d"]


def _empty(shape, device, dtype):
    xp = backend.array_module_for(device)
    return xp.zeros(shape, dtype=dtype or backend.default_float_dtype())


def _check_channels(name, in_channels, out_channels, groups):
    if groups < 1 or in_channels % groups or out_channels % groups:
        raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) "
                         f"must both be divisible by groups ({groups})")


class _ConvBase(Module):
    """What Conv2d and ConvTranspose2d share: a weight, an optional bias, PyTorch's init."""

    def _make_parameters(self, weight_shape, out_channels, bias, device, dtype):
        self.weight = Parameter(_empty(weight_shape, device, dtype))
        if bias:
            self.bias = Parameter(_empty((out_channels,), device, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.default_linear_init_(self.weight, self.bias)

    def extra_repr(self):
        """PyTorch's repr: the channels, kernel and stride, then every setting off its default."""
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        nd = len(self.kernel_size)
        for name, default in (("padding", (0,) * nd), ("output_padding", (0,) * nd),
                              ("dilation", (1,) * nd), ("groups", 1)):
            value = getattr(self, name, default)
            if value != default:
                s += f", {name}={value}"                 # padding='same' printed bare, as PyTorch
        if self.bias is None:
            s += ", bias=False"
        if getattr(self, "padding_mode", "zeros") != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvBase):
    """2-D convolution (cross-correlation) layer, ``y = conv2d(x, weight) + bias``.

    ``padding``: int, pair, 'valid' or 'same'. ``padding_mode``: 'zeros'
    (default), 'reflect', 'replicate' or 'circular' — the non-zero modes pad
    the input with :func:`tinygen.ops.resample.pad` and then convolve with
    padding 0, as PyTorch does.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        _check_channels("Conv2d", in_channels, out_channels, groups)
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"Conv2d: padding_mode must be 'zeros', 'reflect', 'replicate' or "
                             f"'circular', got {padding_mode!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride, self.dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"Conv2d: padding must be an int, a pair, 'valid' or 'same', "
                                 f"got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"Conv2d: padding='same' needs stride 1, got stride={self.stride}")
            self.padding = padding
        else:
            self.padding = _pair(padding, "padding")
        self.groups, self.padding_mode = groups, padding_mode
        self._make_parameters((out_channels, in_channels // groups) + self.kernel_size,
                              out_channels, bias, device, dtype)

    def _explicit_padding(self):
        """(left, right, top, bottom) for F.pad when padding_mode is not 'zeros'."""
        if self.padding == "valid":
            return (0, 0, 0, 0)
        if self.padding == "same":
            before, after = _same_padding(self.kernel_size, self.dilation)
            return (before[1], after[1], before[0], after[0])
        pH, pW = self.padding
        return (pW, pW, pH, pH)

    def forward(self, x):
        if self.padding_mode == "zeros":
            return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                          self.groups)
        x = _pad(x, self._explicit_padding(), mode=self.padding_mode)
        return conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class ConvTranspose2d(_ConvBase):
    """Transposed convolution layer (the gradient of Conv2d w.r.t. its input, as a layer).

    ``forward(x, output_size=None)``: ``output_size`` (OH, OW) — or a longer
    sequence whose last two entries are used — picks the output_padding that
    gives exactly that size (PyTorch's way to undo a strided Conv2d whose
    input size was ambiguous).
    """

    _nd, _name, _function = 2, "ConvTranspose2d", staticmethod(conv_transpose2d)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        super().__init__()
        _check_channels(self._name, in_channels, out_channels, groups)
        if padding_mode != "zeros":
            raise ValueError(f"{self._name}: only padding_mode='zeros' is supported (as in "
                             f"PyTorch), got {padding_mode!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        nd = self._nd
        self.kernel_size = _tuple(kernel_size, nd, "kernel_size")
        self.stride, self.padding = _tuple(stride, nd, "stride"), _tuple(padding, nd, "padding")
        self.output_padding = _tuple(output_padding, nd, "output_padding")
        self.dilation = _tuple(dilation, nd, "dilation")
        self.groups, self.padding_mode = groups, padding_mode
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op >= s and op >= d:
                raise ValueError(f"{self._name}: output_padding {self.output_padding} must be "
                                 f"smaller than either stride {self.stride} or dilation "
                                 f"{self.dilation}")
        self._make_parameters((in_channels, out_channels // groups) + self.kernel_size,
                              out_channels, bias, device, dtype)

    def _output_padding(self, x, output_size):
        if output_size is None:
            return self.output_padding
        nd, axes = self._nd, "DHW"[-self._nd:]
        output_size = tuple(int(s) for s in output_size)[-nd:]
        if len(output_size) != nd:
            raise ValueError(f"{self._name}: output_size must end with "
                             f"({', '.join('O' + a for a in axes)}), got {output_size}")
        pads = []
        for axis in range(nd):
            smallest = conv_transpose_output_size(x.shape[-nd + axis], self.kernel_size[axis],
                                                  self.stride[axis], self.padding[axis],
                                                  self.dilation[axis], 0)
            op = output_size[axis] - smallest
            limit = max(self.stride[axis], self.dilation[axis])
            if not 0 <= op < limit:
                raise ValueError(
                    f"{self._name}: requested output_size {output_size} is not reachable from "
                    f"input {tuple(x.shape[-nd:])}: along {axes[axis]} the size must lie in "
                    f"[{smallest}, {smallest + limit - 1}]")
            pads.append(op)
        return tuple(pads)

    def forward(self, x, output_size=None):
        output_padding = self._output_padding(x, output_size)
        return self._function(x, self.weight, self.bias, self.stride, self.padding,
                              output_padding, self.groups, self.dilation)



class ConvTranspose3d(ConvTranspose2d):
    """3-D transposed convolution layer: x (N, C_in, D, H, W) -> y (N, C_out, OD, OH, OW).

    weight (C_in, C_out/groups, KD, KH, KW), bias (C_out,); each output side
    (D - 1) s - 2 p + d (KD - 1) + output_padding + 1. The up-sampling layer of
    3D-GAN's generator (Wu et al. 2016). Same arguments, init and keys as PyTorch's.
    """

    _nd, _name, _function = 3, "ConvTranspose3d", staticmethod(conv_transpose3d)


class Conv3d(_ConvBase):
    """3-D convolution layer: x (N, C_in, D, H, W) -> y (N, C_out, OD, OH, OW).

    weight (C_out, C_in/groups, KD, KH, KW), bias (C_out,); padding an int, a
    triple, 'valid' or 'same'. PyTorch's arguments, init and state-dict keys.
    Departure from PyTorch: padding_mode 'zeros' only (reflect/replicate/circular
    padding of volumes is not written).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        _check_channels("Conv3d", in_channels, out_channels, groups)
        if padding_mode != "zeros":
            raise ValueError(f"Conv3d: only padding_mode='zeros' is supported, got "
                             f"{padding_mode!r}; pad the volume yourself and use padding=0")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _tuple(kernel_size, 3, "kernel_size")
        self.stride, self.dilation = _tuple(stride, 3, "stride"), _tuple(dilation, 3, "dilation")
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"Conv3d: padding must be an int, a triple, 'valid' or 'same', "
                                 f"got {padding!r}")
            if padding == "same" and self.stride != (1, 1, 1):
                raise ValueError(f"Conv3d: padding='same' needs stride 1, got stride={self.stride}")
            self.padding = padding
        else:
            self.padding = _tuple(padding, 3, "padding")
        self.groups, self.padding_mode = groups, padding_mode
        self._make_parameters((out_channels, in_channels // groups) + self.kernel_size,
                              out_channels, bias, device, dtype)

    def forward(self, x):
        return conv3d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                      self.groups)


class Conv1d(_ConvBase):
    """1-D convolution layer (PyTorch's), computed as a Conv2d of height 1 (``F.conv1d``).

    Shapes: x (N, C_in, L) -> y (N, C_out, L_out); weight (C_out, C_in/groups, K), bias (C_out,).
    Init and state-dict keys as PyTorch's (fan_in = C_in/groups * K).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        _check_channels("Conv1d", in_channels, out_channels, groups)
        if padding_mode != "zeros":
            raise ValueError(f"Conv1d: only padding_mode='zeros' is supported, got {padding_mode!r}")
        one = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v,)     # noqa: E731
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.dilation = one(kernel_size), one(stride), one(dilation)
        self.padding = padding if isinstance(padding, str) else one(padding)
        self.groups, self.padding_mode = groups, padding_mode
        self._make_parameters((out_channels, in_channels // groups) + self.kernel_size,
                              out_channels, bias, device, dtype)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,):
            s += f", padding={self.padding}"
        return s + (", bias=False" if self.bias is None else "")

    def forward(self, x):
        padding = self.padding if isinstance(self.padding, str) else self.padding[0]
        return F.conv1d(x, self.weight, self.bias, self.stride[0], padding, self.dilation[0],
                        self.groups)
