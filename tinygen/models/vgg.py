"""VGG19 with torchvision's layout, named layer outputs, and a random-feature fallback.

Simonyan & Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", arXiv:1409.1556, Table 1, configuration E (19 weight layers):

    block 1:  conv1_1  conv1_2                     64 channels    pool1
    block 2:  conv2_1  conv2_2                    128 channels    pool2
    block 3:  conv3_1  conv3_2  conv3_3  conv3_4  256 channels    pool3
    block 4:  conv4_1  conv4_2  conv4_3  conv4_4  512 channels    pool4
    block 5:  conv5_1  conv5_2  conv5_3  conv5_4  512 channels    pool5
    classifier: 25088 -> 4096 -> 4096 -> 1000  (optional here)

every conv 3x3, stride 1, padding 1, followed by a ReLU; every pool 2x2, stride 2.
torchvision numbers the modules of ``features`` 0..36 (conv at 0, 2, 5, 7, 10, ...;
max pools at 4, 9, 18, 27, 36), so its weight file ``vgg19-dcbb9e9d.pth`` has keys
``features.0.weight``, ``features.0.bias``, ..., ``classifier.0.weight``, ... and this
module has exactly the same keys (``load_state_dict`` interoperates both ways).

Named access: ``model.extract(x, ["relu4_2", "relu1_1"])`` returns a dict of those
outputs and stops after the deepest one (no wasted work on later blocks).
Names: ``conv{b}_{i}`` (before the ReLU), ``relu{b}_{i}`` (after) and ``pool{b}``.

Inputs are images in [0, 1], (N, 3, H, W); ``extract`` first applies torchvision's
ImageNet normalisation (x - mean) / std with mean (0.485, 0.456, 0.406) and std
(0.229, 0.224, 0.225), the statistics the weights were trained with.

``pool="avg"``: Gatys et al. 2016 (arXiv:1508.06576, Sec. 2) "found that replacing the
maximum pooling operation by average pooling yields slightly more appealing results";
the weights are unchanged.

Fallback (:class:`RandomMultiScaleFeatures`): without the weight file, a documented
random-weight feature extractor with the same ``extract`` interface, after
Ustyuzhaninov et al. 2016, "Texture Synthesis Using Shallow Convolutional Networks
with Random Filters", arXiv:1606.00021 — Gram matrices of random multi-scale
filters already synthesise textures.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterable, Optional

from tinygen import backend, nn, ops
from tinygen import functional as F
from tinygen.autograd import Tensor
from tinygen.creation import tensor   # constants on the default device, beside the parameters

np = backend.numpy   # host arrays for the constants and the random filters

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Configuration E of Simonyan & Zisserman, Table 1: channels, "M" = 2x2 pooling.
CFG_E = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
         512, 512, 512, 512, "M", 512, 512, 512, 512, "M")

VGG19_WEIGHTS = "vgg19-dcbb9e9d.pth"

# Gatys et al. 2016, Sec. 3: content on conv4_2; style on conv1_1, conv2_1, conv3_1,
# conv4_1, conv5_1. Their Caffe ReLUs were in place, so the responses they call
# "conv4_2" are the rectified ones, our relu4_2.
GATYS_CONTENT_LAYERS = ("relu4_2",)
GATYS_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def vgg_layer_names(cfg=CFG_E) -> list:
    """The name of every module of ``features`` in order: conv1_1, relu1_1, ..., pool5."""
    names, block, index = [], 1, 1
    for v in cfg:
        if v == "M":
            names.append(f"pool{block}")
            block, index = block + 1, 1
        else:
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
            index += 1
    return names


class ImageNetNormalize(nn.Module):
    """x -> (x - mean) / std per channel, for images in [0, 1]. Shapes: (N, 3, H, W)."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__()
        self.register_buffer("mean", tensor(np.asarray(mean, np.float32).reshape(1, 3, 1, 1)),
                             persistent=False)
        self.register_buffer("std", tensor(np.asarray(std, np.float32).reshape(1, 3, 1, 1)),
                             persistent=False)

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"ImageNetNormalize: expected RGB images (N, 3, H, W) in [0, 1], got "
                             f"shape {x.shape}; repeat a grey image over 3 channels first")
        mean = self.mean.to(x.dtype) if self.mean.dtype != x.dtype else self.mean
        std = self.std.to(x.dtype) if self.std.dtype != x.dtype else self.std
        return (x - mean) / std                                      # (N, 3, H, W)


class _NamedFeatures:
    """Mixin: ``extract(x, layers)`` over ``self.features`` with ``self.layer_names``."""

    def _check_layers(self, layers):
        layers = [layers] if isinstance(layers, str) else list(layers)
        unknown = [l for l in layers if l not in self.layer_names]
        if unknown:
            raise KeyError(f"{type(self).__name__}: unknown layer names {unknown}; known: "
                           f"{', '.join(self.layer_names)}")
        return layers

    def extract(self, x: Tensor, layers: Iterable[str]) -> "OrderedDict[str, Tensor]":
        """The outputs of the named layers, computing nothing past the deepest one.

        Shapes: x (N, 3, H, W) in [0, 1] -> {name: (N, C_l, H_l, W_l)}.
        """
        layers = self._check_layers(layers)
        wanted = set(layers)
        last = max(self.layer_names.index(l) for l in layers)
        out = {}
        h = self.normalize(x) if self.normalize is not None else x  # (N, 3, H, W)
        for i, module in enumerate(self.features):
            h = module(h)
            name = self.layer_names[i]
            if name in wanted:
                out[name] = h
            if i == last:
                break
        return OrderedDict((l, out[l]) for l in layers)


class VGG19(_NamedFeatures, nn.Module):
    """VGG19 (configuration E) with torchvision's module indices and state-dict keys.

    Args:
        pool: "max" (the original) or "avg" (Gatys et al.'s choice for style transfer).
        classifier: also build ``avgpool`` + ``classifier`` (for ImageNet logits).
        normalize_input: apply the ImageNet normalisation in ``extract``/``forward``.

    Shapes: x (N, 3, H, W) in [0, 1]; ``forward`` returns the logits (N, 1000) with the
    classifier, else the ``features`` output (N, 512, H/32, W/32).
    """

    def __init__(self, pool: str = "max", classifier: bool = False,
                 normalize_input: bool = True):
        super().__init__()
        if pool not in ("max", "avg"):
            raise ValueError(f"VGG19: pool must be 'max' or 'avg', got {pool!r}")
        self.pool = pool
        self.layer_names = vgg_layer_names(CFG_E)
        layers, c_in = [], 3
        for v in CFG_E:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2) if pool == "max" else nn.AvgPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c_in, v, 3, padding=1), nn.ReLU()]
                c_in = v
        self.features = nn.Sequential(*layers)
        self.normalize = ImageNetNormalize() if normalize_input else None
        self.has_classifier = classifier
        if classifier:
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), _dropout(),
                nn.Linear(4096, 4096), nn.ReLU(), _dropout(),
                nn.Linear(4096, 1000))

    def forward(self, x: Tensor) -> Tensor:
        h = self.normalize(x) if self.normalize is not None else x   # (N, 3, H, W)
        h = self.features(h)                                         # (N, 512, H/32, W/32)
        if not self.has_classifier:
            return h
        h = F.adaptive_avg_pool2d(h, (7, 7))                         # (N, 512, 7, 7)
        return self.classifier(h.flatten(1))                         # (N, 1000)

    def extra_repr(self):
        return f"pool={self.pool!r}"


def _dropout():
    """torchvision's Dropout(p=0.5) slots; identity at evaluation (no weights either way)."""
    return nn.Dropout(0.5) if hasattr(nn, "Dropout") else nn.Identity()


def load_vgg19_weights(model: VGG19, path: str) -> VGG19:
    """Load torchvision's ``vgg19-dcbb9e9d.pth`` (or any state dict with its keys) into ``model``.

    A model built without the classifier takes only the ``features.*`` keys; every
    features key must be present (a wrong file fails with the list of missing keys).
    """
    from tinygen.io import load_torch_state_dict
    state = load_torch_state_dict(path)
    if not model.has_classifier:
        state = {k: v for k, v in state.items() if k.startswith("features.")}
    model.load_state_dict(state, strict=True)
    return model


def vgg19(weights: Optional[str] = None, pool: str = "max", classifier: bool = False,
          normalize_input: bool = True) -> VGG19:
    """Build VGG19; ``weights`` is a .pth path, ``"DEFAULT"`` (the cached
    ``vgg19-dcbb9e9d.pth``, see ``tinygen weights path vgg19-dcbb9e9d.pth``) or None (random init).
    """
    model = VGG19(pool=pool, classifier=classifier, normalize_input=normalize_input)
    if weights is not None:
        if weights == "DEFAULT":
            from tinygen.io.weights import get_weights
            weights = get_weights(VGG19_WEIGHTS)
        load_vgg19_weights(model, weights)
    return model.eval()


# --------------------------------------------------------------------------
# The fallback: random multi-scale filters
# --------------------------------------------------------------------------

class RandomMultiScaleFeatures(_NamedFeatures, nn.Module):
    """A random-weight multi-scale feature extractor (no training, no download).

    Ustyuzhaninov, Brendel, Gatys & Bethge 2016, "Texture Synthesis Using Shallow
    Convolutional Networks with Random Filters", arXiv:1606.00021: the Gram matrices of
    a *single* layer of random filters, if the filters span several sizes, suffice to
    synthesise convincing textures (their multi-scale model, Sec. 3). Large kernels are
    expensive on a CPU, so instead of filters of 3 ... 55 pixels at full resolution we
    apply k x k random filters to a Gaussian image pyramid (departure, flagged): scale s
    sees a ~k 2^s pixel neighbourhood (5, 10, 20, 40 px for k = 5) at a quarter of the
    cost of the scale before.

        x_0 = normalise(x),   x_{s+1} = (b b^T * x_s)[::2, ::2],  b = [1, 4, 6, 4, 1] / 16
        scale{s} = relu(conv(x_s, W_s) + b_s),   W_s ~ N(0, 1/(3 k^2)),  b_s ~ N(0, 0.1^2)
        edges{c} = relu(conv(x_c, V)),  V: zero-mean filters on the channel mean (content only)

    Three choices that matter for the *pictures* (found by looking at them):
    the pyramid is blurred before subsampling (Burt & Adelson's binomial filter) because
    a 2x2 average pool sends back blocky, piecewise-constant gradients that L-BFGS paints
    into the image; the convolutions replicate edge pixels instead of zero padding, so
    no dark frame enters the statistics; and the *content* features are zero-mean
    filters on the luminance — blind to colour and to flat regions — so the content
    term keeps edges and layout while the style term is free to repaint colours (the
    role VGG's conv4_2 plays; with colour-sensitive content features the result keeps
    the photograph's colours and only gains noise).

    Layer names: ``down{s}`` (pyramid level s >= 1), ``scale{s}`` (style features) and
    ``edges{c}`` (content features at ``content_scale`` c = 2, a ~20-pixel
    neighbourhood, so fine texture can change while the layout is kept).
    The filters come from a fixed seed, so every run and machine gets the same features.
    """

    def __init__(self, scales: int = 4, channels: int = 96, kernel_size: int = 5,
                 content_scale: int = 2, seed: int = 1606):
        super().__init__()
        rng = np.random.default_rng(seed)
        k = kernel_size
        self.normalize = ImageNetNormalize()
        self.layer_names, layers = [], []
        for s in range(scales):
            if s > 0:
                layers.append(BlurDownsample())
                self.layer_names.append(f"down{s}")
            # style features: W_s ~ N(0, 1/(3 k^2)), b_s ~ N(0, 0.1^2)
            w = rng.normal(0.0, 1.0 / np.sqrt(3 * k * k), (channels, 3, k, k))
            b = rng.normal(0.0, 0.1, channels)
            layers.append(_Branch(w, b))
            self.layer_names.append(f"scale{s}")
            if s == content_scale:
                # content features: zero-mean filters on the luminance (each filter copied
                # over R, G, B / 3), blind to colour and to flat regions, so the content
                # term keeps edges and layout while the style term repaints colours
                # (the role conv4_2 plays in VGG).
                v = rng.normal(0.0, 1.0 / np.sqrt(k * k), (channels, 1, k, k))
                v = v - v.mean(axis=(2, 3), keepdims=True)
                layers.append(_Branch(np.repeat(v / 3.0, 3, axis=1), np.zeros(channels)))
                self.layer_names.append(f"edges{s}")
        self.features = nn.Sequential(*layers)
        self.scales = scales

    def extract(self, x, layers):
        # The branches do not feed the next scale: the pyramid passes the *image* down.
        layers = self._check_layers(layers)
        wanted = set(layers)
        last = max(self.layer_names.index(l) for l in layers)
        out = {}
        h = self.normalize(x)                                        # (N, 3, H, W)
        for i, module in enumerate(self.features):
            name = self.layer_names[i]
            if isinstance(module, _Branch):
                if name in wanted:
                    out[name] = module(h)                            # (N, C, H_s, W_s)
            else:
                h = module(h)                                        # (N, 3, H_s, W_s)
                if name in wanted:
                    out[name] = h
            if i == last:
                break
        return OrderedDict((l, out[l]) for l in layers)

    def forward(self, x):
        names = [f"scale{s}" for s in range(self.scales)]
        return list(self.extract(x, names).values())


class _Branch(nn.Module):
    """relu(conv(replicate_pad(x), W) + b) with fixed random W, b: one set of features.

    Shapes: x (N, 3, H, W) -> (N, C, H, W) (edge pixels replicated, so the border is
    constrained like the interior and no dark frame enters the statistics).
    """

    def __init__(self, weight, bias):
        super().__init__()
        c_out, c_in, k, _ = weight.shape
        self.pad = k // 2
        self.conv = nn.Conv2d(c_in, c_out, k)
        self.conv.load_state_dict({"weight": np.asarray(weight, np.float32),
                                   "bias": np.asarray(bias, np.float32)})

    def forward(self, x):
        return F.relu(self.conv(replicate_pad(x, self.pad)))          # (N, C, H, W)


def replicate_pad(x: Tensor, p: int) -> Tensor:
    """Pad H and W by ``p`` copies of the edge pixels (composed of slices and concat)."""
    x = ops.concat([x[:, :, :1]] * p + [x] + [x[:, :, -1:]] * p, 2)            # (N, C, H+2p, W)
    return ops.concat([x[:, :, :, :1]] * p + [x] + [x[:, :, :, -1:]] * p, 3)   # (N, C, H+2p, W+2p)


class BlurDownsample(nn.Module):
    """One level of a Gaussian pyramid: blur with the binomial b b^T, b = [1,4,6,4,1]/16,
    then keep every other pixel (Burt & Adelson 1983). Edges are replicated.

    Implemented as a stride-2 convolution whose (C, C, 5, 5) weight is b b^T on the
    diagonal (each channel blurred on its own). Shapes: (N, C, H, W) -> (N, C, ~H/2, ~W/2).
    """

    def __init__(self, channels: int = 3):
        super().__init__()
        b = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
        w = np.zeros((channels, channels, 5, 5), np.float32)
        for c in range(channels):
            w[c, c] = np.outer(b, b)
        self.register_buffer("weight", tensor(w), persistent=False)

    def forward(self, x):
        w = self.weight.to(x.dtype) if self.weight.dtype != x.dtype else self.weight
        return F.conv2d(replicate_pad(x, 2), w, None, stride=2)      # (N, C, H/2, W/2)


FALLBACK_CONTENT_LAYERS = ("edges2",)
FALLBACK_STYLE_LAYERS = ("scale0", "scale1", "scale2", "scale3")
