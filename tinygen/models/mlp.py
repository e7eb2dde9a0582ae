"""Multi-layer perceptrons for the 2-D toy GANs (generator and discriminator/critic).

Goodfellow et al., "Generative Adversarial Nets", arXiv:1406.2661, Sec. 3: "G is a
differentiable function represented by a multilayer perceptron ... We also define a
second multilayer perceptron D(x; theta_d) that outputs a single scalar."

Shapes:
    Generator      z (N, latent_dim)  ->  x (N, data_dim)
    Discriminator  x (N, data_dim)    ->  logit (N, 1)     (no sigmoid: losses take logits)

The discriminator returns a *logit* l = log D / (1 - D); D(x) = sigmoid(l). Keeping the
logit lets the losses in :mod:`tinygen.losses` use the stable softplus forms, and the same
network is a WGAN critic (whose output is an unbounded score, not a probability).
"""
from __future__ import annotations

from tinygen import nn

__all__ = ["MLP", "MLPGenerator", "MLPDiscriminator"]


def _activation(name: str, negative_slope: float = 0.2) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name in ("leaky_relu", "lrelu"):
        return nn.LeakyReLU(negative_slope)
    if name == "tanh":
        return nn.Tanh()
    raise ValueError(f"activation must be 'relu', 'leaky_relu' or 'tanh', got {name!r}")


class MLP(nn.Sequential):
    """in -> [Linear -> (LayerNorm) -> act] x n_hidden -> Linear -> out.

    Args:
        in_features, hidden, out_features: widths.
        n_hidden: number of hidden layers (each ``hidden`` wide).
        activation: 'relu', 'leaky_relu' (slope 0.2, the GAN-hacks choice) or 'tanh'.
        layer_norm: put a LayerNorm after each hidden Linear (a WGAN-GP critic option:
            Gulrajani et al. 2017, Sec. 4, recommend no *batch* norm in the critic, since
            the penalty is per-sample; layer norm keeps samples independent).
    """

    def __init__(self, in_features: int, hidden: int, out_features: int, n_hidden: int = 3,
                 activation: str = "relu", layer_norm: bool = False):
        layers = []
        width = in_features
        for _ in range(n_hidden):
            layers.append(nn.Linear(width, hidden))
            if layer_norm:
                layers.append(nn.LayerNorm(hidden))
            layers.append(_activation(activation))
            width = hidden
        layers.append(nn.Linear(width, out_features))
        super().__init__(*layers)


class MLPGenerator(MLP):
    """G(z; theta_g): noise (N, latent_dim) -> samples (N, data_dim), linear output."""

    def __init__(self, latent_dim: int = 2, data_dim: int = 2, hidden: int = 128,
                 n_hidden: int = 3, activation: str = "relu"):
        super().__init__(latent_dim, hidden, data_dim, n_hidden, activation)
        self.latent_dim, self.data_dim = latent_dim, data_dim


class MLPDiscriminator(MLP):
    """D(x; theta_d) as a logit (N, 1); also the WGAN critic f_w(x)."""

    def __init__(self, data_dim: int = 2, hidden: int = 128, n_hidden: int = 3,
                 activation: str = "leaky_relu", layer_norm: bool = False):
        super().__init__(data_dim, hidden, 1, n_hidden, activation, layer_norm)
        self.data_dim = data_dim
