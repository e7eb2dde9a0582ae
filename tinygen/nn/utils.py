"""``torch.nn.utils``: gradient clipping and spectral normalisation.

* :func:`clip_grad_norm_` / :func:`clip_grad_value_` rescale or clamp the ``.grad`` of
  parameters in place, after ``backward()`` and before ``optimizer.step()``.
* :func:`spectral_norm` reparametrises a layer's weight as W / sigma(W), sigma the largest
  singular value estimated by power iteration (Miyato et al. 2018, "Spectral Normalization for
  Generative Adversarial Networks", arXiv:1802.05957, Algorithm 1), with PyTorch's state-dict
  keys ``weight_orig``, ``weight_u``, ``weight_v``.
"""
from __future__ import annotations

import math

from tinygen import backend
from tinygen.autograd import Tensor, no_grad
from tinygen.nn.module import Module, Parameter

__all__ = ["clip_grad_norm_", "clip_grad_value_", "spectral_norm", "remove_spectral_norm",
           "weight_norm", "remove_weight_norm"]


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """Scale all gradients by min(1, max_norm / (||g|| + 1e-6)), ||g|| the norm of all of them
    concatenated (PyTorch's rule, its 1e-6 included). Returns that total norm (a 0-d tensor).

    As PyTorch does: the norm of each gradient, then the norm of those norms, all on the
    gradients' device, so a GPU step does not wait for the host (``error_if_nonfinite`` reads
    the total back, and so waits).
    """
    grads = _grads(parameters)
    if not grads:
        return Tensor(backend.numpy.asarray(0.0, dtype=backend.default_float_dtype()))
    xp = backend.get_array_module(grads[0]._data)
    with backend.device_scope(grads[0]._data):
        if norm_type == math.inf:
            total = xp.stack([xp.abs(g._data).max() for g in grads]).max()
        else:
            norms = xp.stack([(xp.abs(g._data) ** norm_type).sum() ** (1.0 / norm_type)
                              for g in grads])
            total = (norms ** norm_type).sum() ** (1.0 / norm_type)
        if error_if_nonfinite and not bool(xp.isfinite(total)):
            raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                               f"gradients is {float(total)}; set error_if_nonfinite=False to "
                               "clip anyway")
        coef = xp.minimum(max_norm / (total + 1e-6), 1.0)
    with no_grad():
        for g in grads:
            g.mul_(Tensor(coef.astype(g.dtype)))
    return Tensor(total)


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient entry into [-clip_value, clip_value], in place."""
    with no_grad():
        for g in _grads(parameters):
            g.clamp_(-clip_value, clip_value)


def _normalize(v, eps):
    """v / max(||v||, eps), the normalisation of PyTorch's power iteration (an array)."""
    xp = backend.get_array_module(v)
    return v / xp.maximum(xp.sqrt((v * v).sum()), eps)


class SpectralNorm:
    """The forward pre-hook behind :func:`spectral_norm`.

    Notation (Miyato et al. 2018, Algorithm 1): W the weight viewed as a matrix (out, in);
    u (out,), v (in,) the running singular-vector estimates (buffers, no gradient).
    Each training forward does ``n_power_iterations`` of
        v <- W^T u / ||W^T u||,   u <- W v / ||W v||
    and then sets  weight = W / sigma,  sigma = u^T W v,  differentiable in W (u, v constants).
    In eval mode u and v stay as they are.
    """

    def __init__(self, name, n_power_iterations, dim, eps):
        self.name, self.n_power_iterations, self.dim, self.eps = name, n_power_iterations, dim, eps

    def weight_matrix(self, w: Tensor) -> Tensor:
        """(out, in) view of the weight: dimension ``dim`` first, the rest flattened."""
        if self.dim != 0:
            order = (self.dim,) + tuple(d for d in range(w.ndim) if d != self.dim)
            w = w.permute(*order)
        return w.reshape(w.shape[0], -1)

    def compute_weight(self, module: Module) -> Tensor:
        w = getattr(module, self.name + "_orig")
        u, v = getattr(module, self.name + "_u"), getattr(module, self.name + "_v")
        W = self.weight_matrix(w)                                  # (out, in)
        if module.training:
            with no_grad():
                for _ in range(self.n_power_iterations):
                    v._data[...] = _normalize(W._data.T @ u._data, self.eps)   # (in,)
                    u._data[...] = _normalize(W._data @ v._data, self.eps)     # (out,)
        sigma = (Tensor(u._data) * (W @ Tensor(v._data))).sum()      # u^T W v, a 0-d tensor
        return w / sigma

    def __call__(self, module, inputs):
        object.__setattr__(module, self.name, self.compute_weight(module))


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim=None) -> Module:
    """Make ``module.<name>`` spectrally normalised (see :class:`SpectralNorm`); returns module.

    ``dim`` defaults to 0, or 1 for ConvTranspose layers (their output channels), as PyTorch.
    u and v start as normalised N(0, 1) draws from the seeded host generator.
    """
    if n_power_iterations < 1:
        raise ValueError(f"spectral_norm: n_power_iterations must be >= 1, got {n_power_iterations}")
    if dim is None:
        dim = 1 if type(module).__name__.startswith("ConvTranspose") else 0
    weight = getattr(module, name)
    fn = SpectralNorm(name, n_power_iterations, dim, eps)
    W = fn.weight_matrix(weight)
    rng = backend.host_rng()
    h, w = W.shape
    u = _normalize(rng.standard_normal(h).astype(weight.dtype), eps)
    v = _normalize(rng.standard_normal(w).astype(weight.dtype), eps)
    delattr(module, name)
    module.register_parameter(name + "_orig", Parameter(weight._data, weight.requires_grad))
    object.__setattr__(module, name, weight.detach())        # a plain attribute, as PyTorch's
    module.register_buffer(name + "_u", Tensor(backend.to_device(u, weight.device)))
    module.register_buffer(name + "_v", Tensor(backend.to_device(v, weight.device)))
    module._spectral_norm = fn
    module.register_forward_pre_hook(fn)
    return module


def remove_spectral_norm(module: Module, name: str = "weight") -> Module:
    """Undo :func:`spectral_norm`: ``<name>`` becomes a Parameter holding W / sigma again."""
    fn = module.__dict__.get("_spectral_norm")
    if fn is None:
        raise ValueError(f"spectral_norm of '{name}' not found in {type(module).__name__}")
    with no_grad():
        weight = fn.compute_weight(module)
    for key in (name + "_orig", name + "_u", name + "_v"):
        delattr(module, key)
    module._forward_pre_hooks.clear()
    object.__delattr__(module, name)
    setattr(module, name, Parameter(weight._data))
    return module


# ----------------------------------------------------------------------------
# weight normalisation
# ----------------------------------------------------------------------------

class WeightNorm:
    """The forward pre-hook behind :func:`weight_norm` (Salimans & Kingma 2016,
    arXiv:1602.07868, eq. 2), PyTorch's ``torch.nn.utils.weight_norm`` semantics:

        weight = g * v / ||v||,   the norm over every dimension but ``dim``

    with parameters ``<name>_g`` (the norms, shape 1 except along ``dim``) and ``<name>_v``
    (the direction, the weight's shape); composed of Tensor ops, so every derivative of the
    weight in g and v comes from the engine. ``dim=None``: one norm over the whole tensor.
    """

    def __init__(self, name, dim):
        self.name, self.dim = name, dim

    def norm(self, v: Tensor) -> Tensor:
        if self.dim is None:
            return (v * v).sum().sqrt()
        axes = tuple(d for d in range(v.ndim) if d != self.dim)
        return (v * v).sum(axes, keepdim=True).sqrt()

    def compute_weight(self, module: Module) -> Tensor:
        g, v = getattr(module, self.name + "_g"), getattr(module, self.name + "_v")
        return v * (g / self.norm(v))

    def __call__(self, module, inputs):
        object.__setattr__(module, self.name, self.compute_weight(module))


def weight_norm(module: Module, name: str = "weight", dim=0) -> Module:
    """Reparametrise ``module.<name>`` as g v / ||v|| (see :class:`WeightNorm`); returns module.
    At the start g = ||weight|| and v = weight, so the layer computes what it did."""
    weight = getattr(module, name)
    fn = WeightNorm(name, None if dim is None else dim % weight.ndim)
    with no_grad():
        g = fn.norm(weight)
    delattr(module, name)
    xp = backend.get_array_module(weight._data)
    module.register_parameter(name + "_g", Parameter(xp.asarray(g._data, dtype=weight.dtype)))
    module.register_parameter(name + "_v", Parameter(weight._data))
    object.__setattr__(module, name, weight.detach())        # a plain attribute, as PyTorch's
    module._weight_norm = fn
    module.register_forward_pre_hook(fn)
    return module


def remove_weight_norm(module: Module, name: str = "weight") -> Module:
    """Undo :func:`weight_norm`: ``<name>`` becomes a Parameter holding g v / ||v|| again."""
    fn = module.__dict__.get("_weight_norm")
    if fn is None:
        raise ValueError(f"weight_norm of '{name}' not found in {type(module).__name__}")
    with no_grad():
        weight = fn.compute_weight(module)
    for key in (name + "_g", name + "_v"):
        delattr(module, key)
    module._forward_pre_hooks.clear()
    object.__delattr__(module, name)
    setattr(module, name, Parameter(weight._data))
    return module
