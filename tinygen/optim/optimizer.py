"""Optimizers: SGD, RMSprop, Adam, AdamW, Adadelta with PyTorch's update rules and state layout.

Each ``step()`` reads ``p.grad`` and updates ``p.data`` in place with plain
array arithmetic (no graph is recorded). Notation in the docstrings:
theta parameters, g gradient, lr learning rate, lambda weight decay, t step.

``state_dict()`` has PyTorch's structure: ``{"state": {index: {...}},
"param_groups": [{..., "params": [index, ...]}]}`` with parameters numbered
in order across groups, so optimizer state checkpoints resume exactly.
Optimizer state follows its parameter: if a module was moved with
``Module.to(device)``, the state arrays move at the next step.
"""
from __future__ import annotations

import copy
import math

from tinygen import backend
from tinygen.autograd import reset_grad


class Optimizer:
    defaults: dict = {}

    def __init__(self, params, defaults: dict):
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        self.param_groups = []
        for group in params:
            group = dict(group)
            group["params"] = list(group["params"])
            for p in group["params"]:
                if not getattr(p, "requires_grad", False):
                    raise ValueError("optimizer can only optimize tensors with requires_grad=True "
                                     f"(got one of shape {getattr(p, 'shape', None)})")
            for key, value in defaults.items():
                group.setdefault(key, value)
            self.param_groups.append(group)
        self.state = {}      # id(param) -> dict

    # ----- the update ------------------------------------------------------------
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:          # no gradient yet (or zero_grad set it to None): skip,
                    continue                # no weight decay, no momentum, no state, as PyTorch
                state = self.state.setdefault(id(p), {})
                self._follow_device(state, p)
                with backend.device_scope(p._data):    # CuPy: update on p's GPU, not the current one
                    self._update(p, p.grad._data, state, group)
                p._version += 1             # an in-place change: a graph that saved p now errs

    def _update(self, p, g, state, group):
        raise NotImplementedError

    @staticmethod
    def _follow_device(state, p):
        on_host = type(p._data) is backend.numpy.ndarray
        device = None
        for k, v in state.items():
            if on_host and (type(v) is backend.numpy.ndarray or not hasattr(v, "shape")):
                continue                        # the usual case, checked cheaply: both on the host
            device = device or p.device
            if hasattr(v, "shape") and hasattr(v, "dtype") and backend.device_of(v) != device:
                state[k] = backend.to_device(v, device)

    def zero_grad(self, set_to_none: bool = True):
        """Forget the gradients: ``.grad = None`` (default; ``step`` then skips the
        parameter) or, with ``set_to_none=False``, zeros in place (``step`` still applies
        weight decay and momentum to a zero gradient)."""
        for p in self._all_params():
            reset_grad(p, set_to_none)

    # ----- checkpoints --------------------------------------------------------------
    def _all_params(self):
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict:
        """State as host arrays and Python numbers, keyed by parameter index."""
        index = {id(p): i for i, p in enumerate(self._all_params())}
        state = {}
        for p in self._all_params():
            if id(p) in self.state:
                state[index[id(p)]] = {k: (backend.to_host(v).copy() if hasattr(v, "shape") else v)
                                       for k, v in self.state[id(p)].items()}
        groups = []
        for group in self.param_groups:
            g = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            g["params"] = [index[id(p)] for p in group["params"]]
            groups.append(g)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(g["params"]) != len(own["params"]) for g, own in zip(groups, self.param_groups)):
            raise ValueError("optimizer state_dict does not match this optimizer's parameter groups "
                             f"({[len(g['params']) for g in groups]} vs "
                             f"{[len(g['params']) for g in self.param_groups]} parameters)")
        for saved, own in zip(groups, self.param_groups):
            missing = sorted(set(own) - set(saved))
            if missing:          # e.g. SGD's state (momentum) offered to Adam (betas, eps)
                raise ValueError(
                    f"optimizer state_dict was not saved by {type(self).__name__}: it has no "
                    f"{', '.join(missing)} (its options: "
                    f"{', '.join(sorted(k for k in saved if k != 'params'))}); "
                    "load it into the optimizer that saved it")
        params = self._all_params()
        for saved, own in zip(groups, self.param_groups):
            for k, v in saved.items():
                if k != "params":
                    own[k] = copy.deepcopy(v)
        self.state = {}
        for i, s in state_dict["state"].items():
            p = params[int(i)]
            restored = {}
            for k, v in s.items():
                if hasattr(v, "shape") and getattr(v, "ndim", 0) > 0 or k in self._array_keys:
                    v = backend.to_device(backend.to_host(v).astype(p.dtype), p.device)
                elif hasattr(v, "item"):
                    v = v.item()
                restored[k] = v
            self.state[id(p)] = restored

    _array_keys = ()

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k, v in sorted(group.items()):
                if k != "params":
                    lines.append(f"    {k}: {v}")
        return "\n".join(lines) + "\n)"


def _xp(a):
    return backend.get_array_module(a)


class SGD(Optimizer):
    """Stochastic gradient descent with momentum (PyTorch's formulation).

        g <- g + lambda theta
        b <- mu b + (1 - dampening) g        (b = g at the first step)
        g <- g + mu b  (Nesterov)  or  g <- b
        theta <- theta - lr g

    Sutskever et al. 2013, "On the importance of initialization and momentum".
    """

    _array_keys = ("momentum_buffer",)

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: lr={lr}, momentum={momentum}, weight_decay={weight_decay} "
                             "must be non-negative")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _update(self, p, g, state, group):
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p._data
        mu = group["momentum"]
        if mu:
            b = state.get("momentum_buffer")
            if b is None:
                b = g.copy()
            else:
                b = mu * b + (1 - group["dampening"]) * g
            state["momentum_buffer"] = b
            g = g + mu * b if group["nesterov"] else b
        p._data -= group["lr"] * g


class RMSprop(Optimizer):
    """RMSprop (Tieleman & Hinton 2012, lecture 6.5), PyTorch's formulation.

        v <- alpha v + (1 - alpha) g^2
        centered:  m_g <- alpha m_g + (1 - alpha) g,   denom = sqrt(v - m_g^2) + eps
        otherwise: denom = sqrt(v) + eps
        momentum:  b <- mu b + g / denom,  theta <- theta - lr b
        else:      theta <- theta - lr g / denom
    """

    _array_keys = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False):
        if lr < 0 or eps < 0 or not 0 <= alpha <= 1:
            raise ValueError(f"RMSprop: invalid lr={lr}, eps={eps} or alpha={alpha}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def _update(self, p, g, state, group):
        xp = _xp(p._data)
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p._data
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p._data)
            if group["momentum"] > 0:
                state["momentum_buffer"] = xp.zeros_like(p._data)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(p._data)
        state["step"] += 1
        alpha = group["alpha"]
        v = state["square_avg"] = alpha * state["square_avg"] + (1 - alpha) * g * g
        if group["centered"]:
            m = state["grad_avg"] = alpha * state["grad_avg"] + (1 - alpha) * g
            denom = xp.sqrt(v - m * m) + group["eps"]
        else:
            denom = xp.sqrt(v) + group["eps"]
        if group["momentum"] > 0:
            b = state["momentum_buffer"] = group["momentum"] * state["momentum_buffer"] + g / denom
            p._data -= group["lr"] * b
        else:
            p._data -= group["lr"] * g / denom


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015, arXiv 1412.6980, Algorithm 1), PyTorch's formulation.

        g <- g + lambda theta                       (L2 penalty; see AdamW for decoupled decay)
        m <- beta1 m + (1 - beta1) g
        v <- beta2 v + (1 - beta2) g^2
        v_max <- max(v_max, v)                      (AMSGrad, Reddi et al. 2018)
        theta <- theta - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """

    _array_keys = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False):
        if lr < 0 or eps < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"Adam: invalid lr={lr}, eps={eps} or betas={betas} "
                             "(need 0 <= beta < 1)")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad))

    def _decay(self, p, g, group):
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p._data
        return g

    def _update(self, p, g, state, group):
        if state and not group["amsgrad"] and backend.fused_kernels_for(p._data):
            return self._update_fused(p, g, state, group)
        xp = _xp(p._data)
        g = self._decay(p, g, group)
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p._data)
            state["exp_avg_sq"] = xp.zeros_like(p._data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(p._data)
        state["step"] += 1
        t = state["step"]
        beta1, beta2 = group["betas"]
        # In place (the state's arrays are updated, not replaced): fewer temporaries, and the
        # same bits as the expressions in the docstring (each operation in the same order).
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        m += (1 - beta1) * g                             # m <- beta1 m + (1 - beta1) g
        v *= beta2
        v += (1 - beta2) * g * g                         # v <- beta2 v + (1 - beta2) g^2
        if group["amsgrad"]:
            v = xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        bias_correction1 = 1 - beta1 ** t
        bias_correction2 = 1 - beta2 ** t
        denom = xp.sqrt(v)
        denom /= math.sqrt(bias_correction2)
        denom += group["eps"]                            # sqrt(v) / sqrt(1 - beta2^t) + eps
        step = m / denom
        step *= group["lr"] / bias_correction1
        p._data -= step

    def _update_fused(self, p, g, state, group):
        """The same update as one fused kernel (``backend.fused``) on a real GPU: ~10
        element-wise kernels per parameter become 2. Same expressions in the same order, so
        on NumPy it gives the same bits as :meth:`_update` (tested on the stand-in)."""
        if not state:
            self._update(p, g, state, group)        # the first step creates the state
            return
        g = self._decay(p, g, group)
        state["step"] += 1
        t = state["step"]
        beta1, beta2 = group["betas"]
        m, v, step = backend.fused(_adam_moments_and_step)(
            state["exp_avg"], state["exp_avg_sq"], g, beta1, beta2,
            math.sqrt(1 - beta2 ** t), group["eps"], group["lr"] / (1 - beta1 ** t))
        state["exp_avg"], state["exp_avg_sq"] = m, v
        p._data -= step


def _adam_moments_and_step(m, v, g, beta1, beta2, sqrt_c2, eps, lr_over_c1):
    """Adam's element-wise part: the new moments m, v and the step
    lr / c1 * m / (sqrt(v) / sqrt(c2) + eps), with c_i = 1 - beta_i^t. Operators only
    (``v ** 0.5`` is NumPy's sqrt), so ``cupy.fuse`` compiles it as it stands."""
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    return m, v, lr_over_c1 * (m / (v ** 0.5 / sqrt_c2 + eps))


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019, arXiv 1711.05101):
    theta <- theta (1 - lr lambda) before the Adam step, instead of adding lambda theta to g."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)

    def _decay(self, p, g, group):
        if group["weight_decay"]:
            p._data *= 1 - group["lr"] * group["weight_decay"]
        return g


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012, arXiv 1212.5701, Algorithm 1), PyTorch's formulation.

        g <- g + lambda theta
        v <- rho v + (1 - rho) g^2                              (E[g^2])
        delta <- sqrt(u + eps) / sqrt(v + eps) * g
        u <- rho u + (1 - rho) delta^2                          (E[dx^2])
        theta <- theta - lr delta
    Departure, as in PyTorch: a learning rate ``lr`` (default 1.0) scales the step; the
    paper has none (lr = 1).
    """

    _array_keys = ("square_avg", "acc_delta")

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0):
        if lr < 0 or eps < 0 or not 0 <= rho <= 1:
            raise ValueError(f"Adadelta: invalid lr={lr}, eps={eps} or rho={rho}")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay))

    def _update(self, p, g, state, group):
        xp = _xp(p._data)
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p._data
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p._data)
            state["acc_delta"] = xp.zeros_like(p._data)
        state["step"] += 1
        rho, eps = group["rho"], group["eps"]
        v = state["square_avg"] = rho * state["square_avg"] + (1 - rho) * g * g
        delta = xp.sqrt(state["acc_delta"] + eps) / xp.sqrt(v + eps) * g
        state["acc_delta"] = rho * state["acc_delta"] + (1 - rho) * delta * delta
        p._data -= group["lr"] * delta
