"""tinygen: a small, readable deep-learning framework on NumPy (CuPy on GPU),
with hand-written generative models on top.

Layers (imports only point downwards; docs/architecture.md, checked by
tinygen_tests/test_51_layers.py):

    cli, demos  ->  methods  ->  metrics  ->  models  ->  losses  ->  nn, optim
    ->  functional  ->  data, io  ->  ops  ->  autograd, creation  ->  backend
"""
from tinygen.backend import (  # noqa: F401
    DeviceError, manual_seed, get_default_device, set_default_device, cuda_is_available,
    get_array_module,
)
from tinygen.autograd import (  # noqa: F401
    Tensor, Function, grad, no_grad, enable_grad, set_grad_enabled, is_grad_enabled,
)
from tinygen.creation import (  # noqa: F401
    tensor, zeros, ones, full, zeros_like, ones_like, full_like, randn, rand, randint,
    randn_like, rand_like, arange, linspace, eye,
)
from tinygen.ops import (  # noqa: F401
    add, sub, mul, div, neg, pow, exp, log, sqrt, abs, maximum, minimum, clip, clamp, where,
    tanh, sigmoid, relu, leaky_relu, softplus, sum, mean, var, max, min, logsumexp, matmul,
    reshape, flatten, permute, transpose, broadcast_to, sum_to, squeeze, unsqueeze, concat,
    cat, stack, split, chunk, pad, flip,
)
from tinygen.backend import numpy as _np

float32 = _np.float32
float64 = _np.float64
float16 = _np.float16
int64 = _np.int64
int32 = _np.int32
bool_ = _np.bool_
del _np

__version__ = "0.1.0"
