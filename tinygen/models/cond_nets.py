"""Networks of the GANs that take a label or a code beside x or z (cgan, sgan, acgan, bigan).

Each is an existing GAN network (models/mlp.py, models/dcgan.py) with the extra input wired
in the way its paper wires it; the trunks are reused, never re-written:

    ConditionalGenerator     G(z, y) = G'([z, onehot(y)])              Mirza & Osindero 2014
    ConcatDiscriminator      D(x, y) = D'([x, onehot(y)])  MLP: concatenated to flatten(x);
                             DCGAN: broadcast to K channel maps beside the image's channels
    ProjectionDiscriminator  D(x, y) = psi(phi(x)) + embed(y)^T phi(x)  Miyato & Koyama 2018
    TrunkDiscriminator       phi(x) -> (one logit, K class logits, features): ACGAN's D with
                             its auxiliary classifier, InfoGAN's D with its Q head
    SGANDiscriminator        the K-logit classifier of Salimans et al. 2016's MNIST model
    BNMLPGenerator           their generator: softplus + batch-norm MLP
    JointDiscriminator       D(x, z) of BiGAN / ALI: an MLP on [flatten(x), z]
    MLPEncoder               E(x) of BiGAN: an MLP x -> z

Shapes: x (N, C, H, W) images in [-1, 1] (or (N, D) points), y (N,) int64 labels 0..K-1,
z (N, nz); every D returns logits (N, 1) (no sigmoid: the losses take logits).
"""
from __future__ import annotations

from typing import Sequence

import tinygen
from tinygen import backend
from tinygen import functional as F
from tinygen import nn
from tinygen.models.dcgan import DCGANDiscriminator, DCGANGenerator, stages_for
from tinygen.models.mlp import MLP, MLPGenerator, _activation

__all__ = ["ConditionalGenerator", "ConcatDiscriminator", "ProjectionDiscriminator",
           "TrunkDiscriminator", "SGANDiscriminator", "WeightNormLinear", "BNMLPGenerator",
           "GaussianNoise", "JointDiscriminator", "MLPEncoder", "build_conditional_pair",
           "build_trunk", "generator_net", "one_hot"]


def one_hot(y, num_classes: int, like) -> tinygen.Tensor:
    """Labels (N,) -> one-hot rows (N, K) with ``like``'s dtype and device (a constant)."""
    return F.one_hot(y, num_classes, dtype=like.dtype)


def _flat_size(shape) -> int:
    size = 1
    for s in shape:
        size *= s
    return size


class ConditionalGenerator(nn.Module):
    """G(z, y) = net([z, onehot(y)]): Mirza & Osindero 2014, Sec. 3.2 (y "fed into both the
    discriminator and generator as additional input layer"). ``net`` takes nz + K inputs."""

    def __init__(self, net: nn.Module, num_classes: int):
        super().__init__()
        self.net, self.num_classes = net, num_classes

    def forward(self, z, y):
        return self.net(tinygen.cat([z, one_hot(y, self.num_classes, z)], 1))   # (N, *shape)


class ConcatDiscriminator(nn.Module):
    """D(x, y) on the label concatenated to the input.

    ``maps`` False (MLP): [flatten(x), onehot(y)] (N, D + K) into ``net``. ``maps`` True
    (DCGAN): onehot(y) broadcast to K constant H x W channel maps, concatenated to the
    image's channels (N, C + K, H, W) -- a one-hot "embedding" laid over every pixel, so the
    first convolution sees the label everywhere.
    """

    def __init__(self, net: nn.Module, num_classes: int, maps: bool):
        super().__init__()
        self.net, self.num_classes, self.maps = net, num_classes, maps

    def forward(self, x, y):
        code = one_hot(y, self.num_classes, x)                           # (N, K)
        if self.maps:
            n, _, h, w = x.shape
            planes = code.reshape(n, self.num_classes, 1, 1).expand(n, self.num_classes, h, w)
            return self.net(tinygen.cat([x, planes], 1))                 # (N, 1)
        return self.net(tinygen.cat([x.reshape(x.shape[0], -1), code], 1))   # (N, 1)


class ProjectionDiscriminator(nn.Module):
    """D(x, y) = psi(phi(x)) + <embed(y), phi(x)>: Miyato & Koyama 2018, "cGANs with
    Projection Discriminator" (arXiv:1802.05637), eq. (3).

    The label enters by an inner product with the features instead of as an input: the
    log-ratio log p(y|x) / q(y|x) of two softmax models is exactly this projection.
    ``trunk``: x -> phi(x) (N, d); psi: Linear(d, 1); embed: (K, d).
    """

    def __init__(self, trunk: nn.Module, feature_dim: int, num_classes: int):
        super().__init__()
        self.trunk = trunk
        self.psi = nn.Linear(feature_dim, 1)
        self.embed = nn.Embedding(num_classes, feature_dim)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)   # start as an unconditional D

    def forward(self, x, y):
        phi = self.trunk(x)                                              # (N, d)
        return self.psi(phi) + (self.embed(y) * phi).sum(1, keepdim=True)   # (N, 1)


class TrunkDiscriminator(nn.Module):
    """A shared trunk phi(x) with two heads: ``forward(x) -> (logit (N, 1), head (N, H),
    phi (N, d))``. ACGAN: the head is the auxiliary classifier's K logits (Odena et al.
    2017, Sec. 3); InfoGAN: Q's code parameters (Chen et al. 2016, Sec. 6)."""

    def __init__(self, trunk: nn.Module, feature_dim: int, head_size: int, head_hidden: int = 0):
        super().__init__()
        self.trunk = trunk
        self.source = nn.Linear(feature_dim, 1)
        if head_hidden:                 # InfoGAN's Q: one more hidden layer before its codes
            self.head = nn.Sequential(nn.Linear(feature_dim, head_hidden), nn.LeakyReLU(0.2),
                                      nn.Linear(head_hidden, head_size))
        else:
            self.head = nn.Linear(feature_dim, head_size)

    def forward(self, x):
        phi = self.trunk(x)                                              # (N, d)
        return self.source(phi), self.head(phi), phi


def build_trunk(options, data_shape, name: str, in_extra: int = 0, d_norm: str = "batch"):
    """phi(x) and its size d: the GAN discriminator of architecture ``name`` ('mlp' or
    'dcgan'; ``options`` a GANArch) without its last layer. DCGAN: the strided convs with
    ``d_norm`` ('batch', 'none', 'layer'), flattened; MLP: flatten + the hidden layers.
    ``in_extra``: channels (DCGAN) or features (MLP) added to the input."""
    if name == "dcgan":
        channels, size = data_shape[0], data_shape[-1]
        D = DCGANDiscriminator(channels + in_extra, size, options.ndf, norm=d_norm)
        base, n = stages_for(size)
        width = options.ndf * 2 ** (n - 1)
        return nn.Sequential(*list(D.main)[:-2], nn.Flatten()), width * base * base  # (N, d)
    dim = _flat_size(data_shape) + in_extra
    layers = [nn.Flatten(), MLP(dim, options.hidden, options.hidden, options.n_hidden - 1,
                                options.d_activation), _activation(options.d_activation)]
    return nn.Sequential(*layers), options.hidden


def generator_net(options, data_shape, name: str, nz_in: int):
    """G' for ``nz_in`` inputs: DCGAN's generator, or an MLP ending in tanh + reshape."""
    if name == "dcgan":
        return DCGANGenerator(nz_in, data_shape[0], data_shape[-1], options.ngf)
    G = MLPGenerator(nz_in, _flat_size(data_shape), options.hidden, options.n_hidden,
                     options.g_activation)
    if len(data_shape) == 1:
        return G
    return nn.Sequential(G, nn.Tanh(), nn.Unflatten(1, tuple(data_shape)))


def build_conditional_pair(options, data_shape, num_classes: int, nz: int,
                           projection: bool = False, d_norm: str = "batch", device=None):
    """(G(z, y), D(x, y)) of a cGAN for ``options`` (a GANArch: arch, widths, activations), on
    ``device`` (None: the default device).

    D: the label concatenated to its input (:class:`ConcatDiscriminator`; DCGAN's D on
    C + K channels), or with ``projection`` the projection discriminator. ``d_norm``: the
    DCGAN D's normalisation ('batch' as DCGAN: real and fake batches are normalised apart,
    so the labels of one batch never mix with the other's; or 'none').
    """
    is_points = len(data_shape) == 1
    name = options.arch if options.arch != "auto" else ("mlp" if is_points else "dcgan")
    if name == "dcgan" and is_points:
        raise ValueError(f"arch 'dcgan' needs image data, got points of shape {data_shape}")
    G = ConditionalGenerator(generator_net(options, data_shape, name, nz + num_classes),
                             num_classes)
    if projection:
        trunk, d = build_trunk(options, data_shape, name, d_norm=d_norm)
        D = ProjectionDiscriminator(trunk, d, num_classes)
    elif name == "dcgan":
        D = ConcatDiscriminator(DCGANDiscriminator(data_shape[0] + num_classes, data_shape[-1],
                                                   options.ndf, norm=d_norm), num_classes, True)
    else:
        trunk, d = build_trunk(options, data_shape, name, in_extra=num_classes)
        D = ConcatDiscriminator(nn.Sequential(trunk, nn.Linear(d, 1)), num_classes, False)
    return G.to(device), D.to(device)


# ---------------------------------------------------------------- the semi-supervised GAN

class GaussianNoise(nn.Module):
    """x + N(0, std^2) in training mode, x in eval mode (Salimans et al.'s MNIST D adds it
    to the input and to every hidden layer, a regulariser of the classifier)."""

    def __init__(self, std: float):
        super().__init__()
        self.std = float(std)

    def forward(self, x):
        if not self.training or self.std <= 0:
            return x
        # Drawn in x's dtype and scaled in place on the host: no float64 draw, cast and
        # multiply node (~15 % of the draw's cost). tinygen.randn keeps its float64 draw, so
        # other methods' seeded streams are unchanged.
        np = backend.numpy
        wide = np.dtype(x.dtype) == np.float64
        eps = backend.host_rng().standard_normal(x.shape, np.float64 if wide else np.float32)
        eps *= self.std
        return x + tinygen.tensor(eps.astype(x.dtype, copy=False), device=x.device)

    def extra_repr(self):
        return f"std={self.std}"


class WeightNormLinear(nn.Module):
    """y = x (g * v / ||v||)^T + b: a Linear layer with weight normalisation (Salimans &
    Kingma 2016, arXiv:1602.07868, eq. 2), each output unit's weight row v_j rescaled to the
    learnt length g_j; composed of Tensor ops, so every derivative comes from the engine.

    With unit rows, a unit's pre-activation has about the scale of the input's entries,
    whatever the width (the role of the paper's data-dependent init). ``train_scale`` False
    keeps g fixed at ``scale`` (the SGAN generator's output layer: its rows stay of length 1,
    so tanh cannot saturate pixel by pixel).
    Shapes: x (N, in) -> (N, out); v (out, in), g (out,), b (out,).
    """

    def __init__(self, in_features: int, out_features: int, scale: float = 1.0,
                 train_scale: bool = True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.v = nn.Parameter(tinygen.randn(out_features, in_features).data * 0.05)
        g = tinygen.full((out_features,), float(scale)).data
        if train_scale:
            self.g = nn.Parameter(g)
        else:
            self.register_buffer("g", tinygen.tensor(g))
        self.bias = nn.Parameter(tinygen.zeros(out_features).data)

    def forward(self, x):
        norm = (self.v * self.v).sum(1, keepdim=True).sqrt()              # (out, 1)
        weight = self.v * (self.g.reshape(-1, 1) / norm)                   # (out, in)
        return F.linear(x, weight, self.bias)                              # (N, out)

    def init_from_data(self, x) -> None:
        """Salimans & Kingma 2016, Sec. 3's data-dependent init: with t = x v^T / ||v|| the
        unit-row pre-activations of a batch x (N, in), set g = 1 / std(t) and b = -mean(t) /
        std(t), so this layer's pre-activations start with mean 0 and variance 1 per unit
        (a fixed g, ``train_scale`` False, is set too and then stays)."""
        with tinygen.no_grad():
            norm = (self.v * self.v).sum(1, keepdim=True).sqrt()          # (out, 1)
            t = F.linear(x, self.v / norm).data                           # (N, out)
            mean, std = t.mean(0), t.std(0) + 1e-6
            self.g.data[...] = 1.0 / std
            self.bias.data[...] = -mean / std

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}"


class SGANDiscriminator(nn.Module):
    """The classifier-discriminator of Salimans et al. 2016 (arXiv:1606.03498), Sec. 5, MNIST:

        x -> noise(0.3) -> [Linear -> ReLU -> noise(0.5)] x len(widths) -> Linear -> K logits

    (widths 1000, 500, 250, 250, 250 in the paper), every layer weight-normalised
    (:class:`WeightNormLinear`; the paper's data-dependent init is not done: unit rows give
    pre-activations of about the input's scale anyway -- the scale the noise stds are
    relative to). ``weight_norm`` False: plain Linear layers with He initialisation
    (N(0, 2 / fan_in)), which keeps that scale through ReLU layers; PyTorch's default init
    shrinks it ~6x per layer and the 0.5 noise would drown the deeper layers.
    ``train_hidden_scale`` False keeps the hidden layers' g at its (data-dependent) initial
    value, as the authors' code does (``train_scale=False``): D cannot then grow its
    pre-activations to outscale the noise; only the output layer's g is learnt.
    ``forward(x) -> (class logits (N, K), features (N, widths[-1]))``: the features are the
    last hidden layer, the one the generator's feature matching uses.
    """

    def __init__(self, in_features: int, num_classes: int = 10,
                 widths: Sequence[int] = (1000, 500, 250, 250, 250),
                 input_noise: float = 0.3, hidden_noise: float = 0.5, weight_norm: bool = True,
                 train_hidden_scale: bool = True):
        super().__init__()
        linear = WeightNormLinear if weight_norm else nn.Linear
        hidden = ((lambda i, o: WeightNormLinear(i, o, train_scale=train_hidden_scale))
                  if weight_norm else nn.Linear)
        layers, width = [nn.Flatten(), GaussianNoise(input_noise)], in_features
        for w in widths:
            layers += [hidden(width, w), nn.ReLU(), GaussianNoise(hidden_noise)]
            width = w
        self.body = nn.Sequential(*layers[:-1])          # features: before the last noise
        self.noise = GaussianNoise(hidden_noise)
        self.classes = linear(width, num_classes)
        self.num_classes = num_classes
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x):
        features = self.body(x)                                          # (N, widths[-1])
        return self.classes(self.noise(features)), features              # (N, K), (N, d)

    def init_from_data(self, x) -> None:
        """The data-dependent init of every weight-normalised layer, first to last, on a
        batch x (N, in) passed through the layers as initialised so far (noise on, as in the
        authors' init pass): each layer's pre-activations start at mean 0, variance 1, the
        scale the paper's noise stds are relative to. No-op without weight norm."""
        h = x
        with tinygen.no_grad():
            for layer in list(self.body) + [self.noise, self.classes]:
                if isinstance(layer, WeightNormLinear):
                    layer.init_from_data(h)
                h = layer(h)


class BNMLPGenerator(nn.Module):
    """z -> [Linear -> BatchNorm -> softplus] x len(widths) -> Linear -> tanh -> data shape.

    ``weight_norm_output``: the output layer weight-normalised with rows of fixed length 1,
    as in the authors' SGAN code (``nn.l2normalize``), so single pixels cannot saturate.
    (``activation`` 'relu' / 'leaky_relu': BiGAN's MNIST generator, the same MLP with ReLU.)

    Salimans et al. 2016's MNIST generator (widths 500, 500; z ~ U(0, 1)^100; sigmoid output
    for images in [0, 1]; here tanh, for the [-1, 1] range every tinygen GAN uses).
    """

    def __init__(self, nz: int, data_shape, widths: Sequence[int] = (500, 500),
                 activation: str = "softplus", weight_norm_output: bool = False):
        super().__init__()
        layers, width = [], nz
        for w in widths:
            act = nn.Softplus() if activation == "softplus" else _activation(activation)
            layers += [nn.Linear(width, w), nn.BatchNorm1d(w), act]
            width = w
        out = _flat_size(data_shape)
        layers += [WeightNormLinear(width, out, 1.0, train_scale=False) if weight_norm_output
                   else nn.Linear(width, out), nn.Tanh()]
        if len(data_shape) > 1:
            layers.append(nn.Unflatten(1, tuple(data_shape)))
        self.main = nn.Sequential(*layers)

    def forward(self, z):
        return self.main(z)                                              # (N, *data_shape)


# ---------------------------------------------------------------- BiGAN / ALI

class JointDiscriminator(nn.Module):
    """D(x, z) on the pair: an MLP on [flatten(x), z] (Donahue et al. 2017, Sec. 3; their
    MNIST D, like ALI's, joins the x and z pathways and classifies the joint (x, z))."""

    def __init__(self, x_features: int, nz: int, hidden: int = 512, n_hidden: int = 2,
                 activation: str = "leaky_relu"):
        super().__init__()
        self.net = MLP(x_features + nz, hidden, 1, n_hidden, activation)

    def forward(self, x, z):
        return self.net(tinygen.cat([x.reshape(x.shape[0], -1), z], 1))  # (N, 1)


class MLPEncoder(nn.Module):
    """E(x): flatten -> MLP -> z (N, nz), a linear last layer (BiGAN's encoder on MNIST)."""

    def __init__(self, x_features: int, nz: int, hidden: int = 512, n_hidden: int = 2,
                 activation: str = "leaky_relu"):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), MLP(x_features, hidden, nz, n_hidden, activation))

    def forward(self, x):
        return self.net(x)                                               # (N, nz)
