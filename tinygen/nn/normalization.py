"""Normalisation modules: BatchNorm1d/2d/3d, InstanceNorm2d, LayerNorm, GroupNorm.

Thin wrappers around :mod:`tinygen.ops.norm` that own gamma/beta
(``weight``/``bias``) and the running statistics, with PyTorch's names,
defaults, state-dict keys and train/eval behaviour:

    BatchNorm2d state_dict: weight, bias, running_mean, running_var, num_batches_tracked

Train vs eval (batch norm, Ioffe & Szegedy 2015, arXiv 1502.03167, Algorithm 2):
    training   normalise with the batch's statistics; update the running ones
    eval       normalise with the running statistics (a fixed affine map)
    track_running_stats=False: no buffers; batch statistics in both modes.

Momentum: running = (1 - momentum) running + momentum batch_stat (PyTorch's
convention; Keras/TF's "momentum" is our 1 - momentum). ``momentum=None``
gives the cumulative moving average, factor 1 / num_batches_tracked.
"""
from __future__ import annotations

import warnings

from tinygen import backend
from tinygen.autograd import Tensor
from tinygen.nn.module import Module, Parameter
from tinygen.ops import norm as N

np = backend.numpy


def _full(shape, value, device=None, dtype=None):
    xp = backend.array_module_for(device)
    return xp.full(shape, value, dtype=dtype or backend.default_float_dtype())


class _NormBase(Module):
    """Shared state of batch and instance norm: gamma, beta and running statistics.

    Shapes: weight, bias, running_mean, running_var (num_features,);
    num_batches_tracked () int64.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None):
        super().__init__()
        if not isinstance(num_features, int) or num_features <= 0:
            raise ValueError(f"{type(self).__name__}: num_features must be a positive int, "
                             f"got {num_features!r}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(_full((num_features,), 1.0, device, dtype))   # gamma
            self.bias = Parameter(_full((num_features,), 0.0, device, dtype))     # beta
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(_full((num_features,), 0.0, device, dtype)))
            self.register_buffer("running_var", Tensor(_full((num_features,), 1.0, device, dtype)))
            self.register_buffer("num_batches_tracked",
                                 Tensor(_full((), 0, device, np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean._data[...] = 0
            self.running_var._data[...] = 1
            self.num_batches_tracked._data[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            self.weight._data[...] = 1
            self.bias._data[...] = 0

    def _check_channels(self, x):
        if x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}(num_features={self.num_features}) got an "
                             f"input with {x.shape[1]} channels (shape {x.shape}): the channel "
                             f"dimension 1 must equal num_features={self.num_features}")

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    """Batch normalisation (Ioffe & Szegedy 2015, arXiv 1502.03167, Algorithms 1-2).

    y = gamma (x - mu) / sqrt(sigma^2 + eps) + beta, statistics per channel
    over the batch and spatial axes (training) or the running estimates (eval).
    """

    expected_dims = ()
    expected_text = ""

    def forward(self, x):
        if x.ndim not in self.expected_dims:
            raise ValueError(f"{type(self).__name__}: expected {self.expected_text} input, got a "
                             f"{x.ndim}-D input of shape {x.shape}")
        self._check_channels(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            with backend.device_scope(self.num_batches_tracked._data):
                self.num_batches_tracked._data += 1                  # in place, int64
            if self.momentum is None:                               # cumulative moving average
                n = self.num_batches_tracked._data                  # on a GPU: stays there
                factor = 1.0 / (float(n) if backend.device_of(n) == "cpu" else n)
        use_batch_stats = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return N.batch_norm(x, self.running_mean if track else None,
                            self.running_var if track else None, self.weight, self.bias,
                            use_batch_stats, factor, self.eps)


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L): statistics over N (and L) per channel C."""

    expected_dims = (2, 3)
    expected_text = "a 2-D (N, C) or 3-D (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W): statistics over N, H, W per channel C."""

    expected_dims = (4,)
    expected_text = "a 4-D (N, C, H, W)"


class BatchNorm3d(_BatchNorm):
    """Batch norm over volumes (N, C, D, H, W): statistics over N, D, H, W per channel C.

    The same fused standardisation as BatchNorm2d (ops.norm.batch_norm reduces
    over every axis but the channel one, whatever the rank); 3D-GAN's layers.
    """

    expected_dims = (5,)
    expected_text = "a 5-D (N, C, D, H, W)"


class InstanceNorm2d(_NormBase):
    """Instance normalisation (Ulyanov et al. 2016, arXiv 1607.08022, Eq. 2):
    per (sample, channel) statistics over H, W.

    PyTorch's defaults: affine=False, track_running_stats=False, so by default
    it has no parameters and no buffers and behaves the same in train and eval.
    Shapes: (N, C, H, W) or unbatched (C, H, W) -> same.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1, affine: bool = False,
                 track_running_stats: bool = False, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def forward(self, x):
        if x.ndim not in (3, 4):
            raise ValueError(f"InstanceNorm2d: expected a 4-D (N, C, H, W) or 3-D (C, H, W) input, "
                             f"got a {x.ndim}-D input of shape {x.shape}")
        unbatched = x.ndim == 3
        if unbatched:
            x = x.unsqueeze(0)                                       # (1, C, H, W)
        if x.shape[1] != self.num_features:
            if self.affine or self.track_running_stats:
                self._check_channels(x)
            warnings.warn(f"InstanceNorm2d(num_features={self.num_features}) got an input with "
                          f"{x.shape[1]} channels; num_features is unused because affine=False "
                          "and track_running_stats=False", stacklevel=2)
        use_input_stats = self.training or not self.track_running_stats
        y = N.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            use_input_stats, 0.0 if self.momentum is None else self.momentum,
                            self.eps)
        return y.squeeze(0) if unbatched else y


class LayerNorm(Module):
    """Layer normalisation (Ba, Kiros & Hinton 2016, arXiv 1607.06450, Eq. 4): statistics over
    the trailing ``normalized_shape`` axes of each sample; element-wise gamma, beta of that shape.
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(_full(self.normalized_shape, 1.0, device, dtype))
            if bias:
                self.bias = Parameter(_full(self.normalized_shape, 0.0, device, dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        return N.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class GroupNorm(Module):
    """Group normalisation (Wu & He 2018, arXiv 1803.08494, Eq. 1): statistics per
    (sample, group of num_channels/num_groups channels) over the group's channels and H, W;
    per-channel gamma, beta.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device=None, dtype=None):
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups != 0:
            raise ValueError(f"GroupNorm: num_channels={num_channels} must be divisible by "
                             f"num_groups={num_groups}")
        self.num_groups, self.num_channels, self.eps, self.affine = \
            num_groups, num_channels, eps, affine
        if affine:
            self.weight = Parameter(_full((num_channels,), 1.0, device, dtype))
            self.bias = Parameter(_full((num_channels,), 0.0, device, dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm(num_channels={self.num_channels}): expected input "
                             f"(N, {self.num_channels}, *), got shape {x.shape}")
        return N.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
