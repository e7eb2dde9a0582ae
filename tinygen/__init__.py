"""tinygen: a small, readable deep-learning framework on NumPy (CuPy on GPU),
with hand-written generative models on top.

Layers (imports only point downwards; docs/architecture.md, checked by
tinygen_tests/test_51_layers.py):

    cli, demos  ->  methods  ->  metrics  ->  models  ->  losses  ->  tinygen (this package)
    ->  nn, optim  ->  functional  ->  data, io  ->  ops  ->  autograd, creation  ->  backend

This package is also PyTorch's ``torch`` namespace: the tensor API, plus ``nn``, ``optim``,
``utils.data``, ``cuda``, ``backends``, ``accelerator``, ``save``/``load``, loaded by
``import tinygen``, so that a PyTorch script runs with ``import tinygen as torch``
(docs/coming_from_pytorch.md: what maps one to one, what differs, and why).
"""
from tinygen.backend import (  # noqa: F401
    DeviceError, manual_seed, get_default_device, set_default_device, cuda_is_available,
    get_array_module,
)
from tinygen.autograd import (  # noqa: F401
    Tensor, Function, grad, no_grad, enable_grad, set_grad_enabled, is_grad_enabled,
    inference_mode, device,
)
from tinygen.creation import (  # noqa: F401
    tensor, zeros, ones, full, zeros_like, ones_like, full_like, randn, rand, randint,
    randn_like, rand_like, arange, linspace, eye, from_numpy, as_tensor, empty, empty_like,
    FloatTensor, DoubleTensor, HalfTensor, LongTensor, IntTensor, ByteTensor, BoolTensor,
)
from tinygen.ops import (  # noqa: F401
    add, sub, mul, div, neg, pow, exp, log, sqrt, abs, maximum, minimum, clip, clamp, where,
    tanh, sigmoid, relu, leaky_relu, softplus, sum, mean, var, logsumexp, matmul,
    reshape, flatten, permute, transpose, broadcast_to, sum_to, squeeze, unsqueeze, concat,
    cat, stack, split, chunk, pad, flip, erf,
)
# The PyTorch-shaped namespace: each of these is `torch.<name>` in a PyTorch script.
from tinygen import autograd, nn, optim, utils, cuda, backends, accelerator  # noqa: F401,E402
from tinygen.io.torch_save import save, load  # noqa: F401,E402
from tinygen import torchnames as _torchnames  # noqa: E402
from tinygen.backend import numpy as _np  # noqa: E402

# torch.max(x) / torch.max(x, dim) -> (values, indices) / torch.max(a, b): Tensor.max's forms,
# and the other Tensor methods PyTorch also offers as functions.
max, min, amax, amin = Tensor.max, Tensor.min, Tensor.amax, Tensor.amin
argmax, argmin, sort, argsort, topk = Tensor.argmax, Tensor.argmin, Tensor.sort, Tensor.argsort, Tensor.topk
gather, masked_fill, std, norm, numel = Tensor.gather, Tensor.masked_fill, Tensor.std, Tensor.norm, Tensor.numel
eq, ne, lt, le, gt, ge = Tensor.eq, Tensor.ne, Tensor.lt, Tensor.le, Tensor.gt, Tensor.ge
mm = bmm = matmul                                       # matmul covers both shapes
Size = tuple                                            # x.size() is a tuple


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


float32 = float = _np.float32
float64 = double = _np.float64
float16 = half = _np.float16
int64 = long = _np.int64
int32 = int = _np.int32
int16 = short = _np.int16
int8 = _np.int8
uint8 = _np.uint8
bool_ = bool = _np.bool_
del _np


def __getattr__(name):
    """A missing name: an AttributeError that names tinygen's nearest equivalent."""
    raise _torchnames.missing("tinygen", name, globals())


__version__ = "0.1.0"
