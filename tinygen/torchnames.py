"""PyTorch names tinygen does not have: an AttributeError that says so and points to the nearest.

Used by the module ``__getattr__`` of ``tinygen``, ``tinygen.nn`` and ``tinygen.functional``
(``torch``, ``torch.nn``, ``torch.nn.functional`` when a script runs with ``import tinygen as
torch``), so that ``torch.bmm`` or ``nn.LSTM`` fails with a sentence a learner can act on
instead of a bare "module has no attribute".
"""
from __future__ import annotations

import difflib

# PyTorch name -> what to use in tinygen instead (only where a close equivalent exists).
NEAREST = {
    "addmm": "tinygen.matmul(a, b) + c",
    "baddbmm": "tinygen.matmul(a, b) + c",
    "einsum": "tinygen.matmul with reshape/permute",
    "erf": "tinygen.functional.gelu (uses erf inside)",
    "hstack": "tinygen.cat(tensors, dim=1)",
    "vstack": "tinygen.cat(tensors, dim=0)",
    "multinomial": "tinygen.backend.host_rng().choice on the probabilities' numpy()",
    "normal": "tinygen.randn(*shape) * std + mean",
    "square": "x * x or x ** 2",
    "set_default_dtype": "dtype= on each constructor (tinygen's default is float32)",
    "compile": "nothing: tinygen runs eagerly, the script works without it",
    "LSTM": "tinygen.nn.Linear steps in a Python loop (tinygen has no recurrent layers)",
    "GRU": "tinygen.nn.Linear steps in a Python loop (tinygen has no recurrent layers)",
    "RNN": "tinygen.nn.Linear steps in a Python loop (tinygen has no recurrent layers)",
    "ConvTranspose1d": "tinygen.nn.ConvTranspose2d on a (N, C, 1, L) view",
    "InstanceNorm1d": "tinygen.nn.InstanceNorm2d on a (N, C, 1, L) view",
    "MultiheadAttention": "tinygen.functional.softmax(q @ k.transpose(-2, -1) / d ** 0.5, -1) @ v",
    "Transformer": "tinygen.nn.Linear, LayerNorm and softmax attention written out",
    "AdaptiveMaxPool2d": "tinygen.nn.AdaptiveAvgPool2d or nn.MaxPool2d",
    "adaptive_max_pool2d": "tinygen.functional.adaptive_avg_pool2d or max_pool2d",
    "Hardtanh": "tinygen.clamp(x, -1, 1)",
    "hardtanh": "tinygen.clamp(x, -1, 1)",
    "Adagrad": "tinygen.optim.RMSprop or Adam",
    "LBFGS": "tinygen.optim.Adam",
    "Adamax": "tinygen.optim.Adam",
}


def missing(module: str, name: str, namespace) -> AttributeError:
    """The error for ``module.name`` missing, naming tinygen's nearest equivalent."""
    hint = NEAREST.get(name)
    if hint is None:
        close = difflib.get_close_matches(name, [n for n in namespace if not n.startswith("_")],
                                          n=3, cutoff=0.75)
        hint = ", ".join(f"{module}.{c}" for c in close) if close else None
    if name.startswith("__"):              # Python's own probes (__path__, __wrapped__...)
        return AttributeError(f"module '{module}' has no attribute '{name}'")
    where = f"; nearest in tinygen: {hint}" if hint else ""
    return AttributeError(f"module '{module}' has no attribute '{name}' (if it is a PyTorch name, "
                          f"tinygen does not provide it{where}; docs/coming_from_pytorch.md "
                          "lists what maps one to one)")
