"""Weight initialisation (PyTorch's ``torch.nn.init``), drawn on the host then moved.

Every function fills a tensor *in place* and returns it. Values come from the
seeded host generator (``tinygen.manual_seed``), so a model built after the
same seed has the same weights on CPU and GPU.

fan_in / fan_out of a weight of shape (out, in, *kernel) are in * prod(kernel)
and out * prod(kernel) (for ConvTranspose2d's (in, out, *kernel) layout the
names swap, exactly as in PyTorch, which reads dimension 1 as "fan in").
"""
from __future__ import annotations

import math

from tinygen import backend
from tinygen.autograd import Tensor

np = backend.numpy


def calculate_fan_in_and_fan_out(tensor):
    if tensor.ndim < 2:
        raise ValueError(f"fan in/out need a tensor with at least 2 dimensions, got {tensor.shape}")
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended std multiplier for a nonlinearity (He et al. 2015, Glorot & Bengio 2010)."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose2d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def _fill(tensor, host_values):
    """Put the values into ``tensor``: a Tensor gets a new array; an *array* (PyTorch scripts'
    ``init.normal_(m.weight.data, ...)``, where ``.data`` is the array) is written in place."""
    if not isinstance(tensor, Tensor):
        tensor[...] = backend.to_device(np.asarray(host_values, dtype=tensor.dtype),
                                        backend.device_of(tensor))
        return tensor
    tensor._data = backend.to_device(np.asarray(host_values, dtype=tensor.dtype), tensor.device)
    return tensor


def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None):
    rng = generator or backend.host_rng()
    return _fill(tensor, rng.uniform(a, b, tensor.shape))


def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None):
    rng = generator or backend.host_rng()
    return _fill(tensor, rng.normal(mean, std, tensor.shape))


def constant_(tensor, value: float):
    return _fill(tensor, np.full(tensor.shape, value))


def zeros_(tensor):
    return constant_(tensor, 0.0)


def eye_(tensor):
    """The identity matrix (a 2-d tensor), PyTorch's ``nn.init.eye_``."""
    if tensor.ndim != 2:
        raise ValueError(f"eye_ needs a 2-d tensor, got shape {tensor.shape}")
    return _fill(tensor, np.eye(*tensor.shape))


def ones_(tensor):
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain: float = 1.0, generator=None):
    """U(-a, a), a = gain sqrt(6 / (fan_in + fan_out))  (Glorot & Bengio 2010, eq. 16)."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain: float = 1.0, generator=None):
    """N(0, std^2), std = gain sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def _fan(tensor, mode):
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fan_in if mode == "fan_in" else fan_out


def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator=None):
    """U(-b, b), b = gain sqrt(3 / fan)  (He et al. 2015)."""
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode))
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator=None):
    """N(0, std^2), std = gain / sqrt(fan)  (He et al. 2015)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)


def default_linear_init_(weight, bias=None):
    """PyTorch's default for Linear and Conv layers: kaiming_uniform(a=sqrt 5), which is
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the weight, and the same bound for the bias."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound)


def icnr_(tensor, scale: int, init=None, bias=None):
    """ICNR (Aitken et al. 2017, "Checkerboard artifact free sub-pixel convolution",
    arXiv:1707.02937, Sec. 4): initialise the conv in front of ``PixelShuffle(scale)`` so that
    its s^2 output phases start identical, i.e. the pair conv + PixelShuffle starts as
    conv0 followed by nearest-neighbour upsampling, free of the s x s checkerboard.

        weight (C s^2, C_in, k, k):  weight[c s^2 + p] = w0[c]  for every phase p < s^2
        w0 (C, C_in, k, k) drawn by ``init`` (default: kaiming_normal_, as the paper)

    ``bias`` (C s^2,), if given, is made phase-constant the same way (its first C values,
    repeated). PixelShuffle's channel order is c s^2 + i s + j (``ops.resample.pixel_shuffle``).
    """
    r2 = int(scale) ** 2
    if tensor.ndim < 2 or tensor.shape[0] % r2:
        raise ValueError(f"icnr_: the weight's output channels ({tensor.shape[0]}) must be a "
                         f"multiple of scale^2 = {r2}")
    sub = np.zeros((tensor.shape[0] // r2,) + tuple(tensor.shape[1:]), dtype=tensor.dtype)
    (init or kaiming_normal_)(sub)                               # fills the array in place
    _fill(tensor, np.repeat(sub, r2, axis=0))                    # (C s^2, C_in, k, k)
    if bias is not None:
        b = backend.to_host(bias.data if isinstance(bias, Tensor) else bias)
        _fill(bias, np.repeat(np.asarray(b).reshape(-1)[::r2], r2))
    return tensor
