"""Encoders and decoders for the autoencoder family (MLP and convolutional).

References:
    Hinton & Salakhutdinov 2006, "Reducing the Dimensionality of Data with Neural
        Networks" (Science 313): the deep (undercomplete) autoencoder.
    Kingma & Welling 2014, "Auto-Encoding Variational Bayes", arXiv:1312.6114,
        Appendix C.2: the Gaussian MLP encoder  h = tanh(W x + b),
        mu = W_mu h + b_mu,  log sigma^2 = W_s h + b_s  (we use ReLU hidden units,
        a common modern departure that trains faster).

Shapes:
    x     (N, C, H, W) images in [0, 1], or (N, D) vectors
    h, z  (N, J) codes / latents
    MLP decoders return (N, D) flattened outputs, reshaped by ``out_shape`` when given.
    Decoders return *logits* (Bernoulli / BCE) or means (Gaussian / MSE): no output
    activation here, the loss decides (the stable BCE needs the logits).
"""
from __future__ import annotations

from typing import Optional, Sequence

from tinygen import nn

__all__ = ["MLPEncoder", "MLPDecoder", "ConvEncoder", "ConvDecoder", "AutoEncoder",
           "GaussianEncoder", "VAEModel", "activation"]


def activation(name: str) -> nn.Module:
    """'relu' | 'sigmoid' | 'tanh' | 'linear' (identity) -> a module."""
    table = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "linear": nn.Identity,
             "leaky_relu": lambda: nn.LeakyReLU(0.2)}
    if name not in table:
        raise ValueError(f"activation must be one of {sorted(table)}, got {name!r}")
    return table[name]()


def _mlp(sizes: Sequence[int], hidden_act: str, out_act: str) -> list:
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        layers.append(activation(hidden_act if i < len(sizes) - 2 else out_act))
    return layers


class MLPEncoder(nn.Module):
    """h = f(x): flatten -> [Linear -> act] per hidden width -> Linear -> code_act.

    ``hidden=()`` gives a single layer h = code_act(W x + b) (the linear autoencoder
    with code_act='linear', the one-layer sigmoid encoder of the contractive AE).
    Shapes: x (N, *in_shape) -> h (N, code_dim).
    """

    def __init__(self, in_dim: int, code_dim: int, hidden: Sequence[int] = (256,),
                 act: str = "relu", code_act: str = "linear"):
        super().__init__()
        self.in_dim, self.code_dim = in_dim, code_dim
        self.net = nn.Sequential(nn.Flatten(), *_mlp([in_dim, *hidden, code_dim], act, code_act))

    def forward(self, x):
        return self.net(x)                                   # (N, code_dim)


class MLPDecoder(nn.Module):
    """x_hat = g(h): [Linear -> act] per hidden width -> Linear (logits or means).

    Shapes: h (N, code_dim) -> (N, *out_shape) (out_shape = (D,) by default).
    """

    def __init__(self, code_dim: int, out_dim: int, hidden: Sequence[int] = (256,),
                 act: str = "relu", out_shape: Optional[Sequence[int]] = None):
        super().__init__()
        self.out_shape = tuple(out_shape) if out_shape else (out_dim,)
        self.net = nn.Sequential(*_mlp([code_dim, *hidden, out_dim], act, "linear"))

    def forward(self, h):
        y = self.net(h)                                      # (N, D)
        return y.reshape(y.shape[0], *self.out_shape)        # (N, *out_shape)


class ConvEncoder(nn.Module):
    """Two stride-2 convolutions then a Linear to the code (28x28 -> 14 -> 7).

    Shapes: x (N, C, H, W), H and W divisible by 4 -> h (N, code_dim).
    """

    def __init__(self, in_channels: int, image_size: int, code_dim: int, width: int = 32,
                 act: str = "relu", code_act: str = "linear"):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"ConvEncoder: image_size must be divisible by 4, got {image_size}")
        s = image_size // 4
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, 4, stride=2, padding=1), activation(act),   # (N, w, H/2, W/2)
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), activation(act),     # (N, 2w, H/4, W/4)
            nn.Flatten(),                                                              # (N, 2w s s)
            nn.Linear(2 * width * s * s, code_dim), activation(code_act))             # (N, code_dim)

    def forward(self, x):
        return self.net(x)


class ConvDecoder(nn.Module):
    """Mirror of :class:`ConvEncoder`: Linear, then two stride-2 transposed convolutions.

    Shapes: h (N, code_dim) -> (N, C, H, W) logits or means.
    """

    def __init__(self, code_dim: int, out_channels: int, image_size: int, width: int = 32,
                 act: str = "relu"):
        super().__init__()
        s = image_size // 4
        self.net = nn.Sequential(
            nn.Linear(code_dim, 2 * width * s * s), activation(act),
            nn.Unflatten(1, (2 * width, s, s)),                                        # (N, 2w, s, s)
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), activation(act),  # 2s
            nn.ConvTranspose2d(width, out_channels, 4, stride=2, padding=1))               # 4s

    def forward(self, h):
        return self.net(h)


class AutoEncoder(nn.Module):
    """x -> h = f(x) -> x_hat = g(h); ``forward`` returns (h, x_hat)."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, x):
        h = self.encoder(x)                                  # (N, J)
        return h, self.decoder(h)                            # (N, J), (N, *x.shape[1:])


class GaussianEncoder(nn.Module):
    """q(z|x) = N(mu(x), diag(exp(logvar(x)))): a body, then two Linear heads.

    Kingma & Welling 2014, Appendix C.2 (the heads mu and log sigma^2 share the body).
    Shapes: x (N, *) -> mu, logvar (N, latent_dim).
    """

    def __init__(self, body: nn.Module, body_dim: int, latent_dim: int):
        super().__init__()
        self.body = body
        self.mu = nn.Linear(body_dim, latent_dim)
        self.logvar = nn.Linear(body_dim, latent_dim)

    def forward(self, x):
        e = self.body(x)                                     # (N, body_dim)
        return self.mu(e), self.logvar(e)                    # (N, L), (N, L)


class VAEModel(nn.Module):
    """Encoder q(z|x) and decoder p(x|z) of a VAE (the training maths is in methods/vae.py).

    ``arch='mlp'``: the paper's one-hidden-layer MLPs (``hidden`` units each side).
    ``arch='conv'``: the convolutional encoder/decoder above.
    """

    def __init__(self, image_shape: Sequence[int], latent_dim: int = 20, hidden: int = 400,
                 arch: str = "mlp", width: int = 32):
        super().__init__()
        C, H, W = image_shape
        D = C * H * W
        self.image_shape, self.latent_dim = tuple(image_shape), latent_dim
        if arch == "mlp":
            body = nn.Sequential(nn.Flatten(), nn.Linear(D, hidden), nn.ReLU())
            self.encoder = GaussianEncoder(body, hidden, latent_dim)
            self.decoder = MLPDecoder(latent_dim, D, (hidden,), "relu", out_shape=image_shape)
        elif arch == "conv":
            body = nn.Sequential(ConvEncoder(C, H, hidden, width, code_act="relu"))
            self.encoder = GaussianEncoder(body, hidden, latent_dim)
            self.decoder = ConvDecoder(latent_dim, C, H, width)
        else:
            raise ValueError(f"VAEModel: arch must be 'mlp' or 'conv', got {arch!r}")

    def forward(self, x):
        return self.encoder(x)
