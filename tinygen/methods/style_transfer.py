"""Neural style transfer by optimising the image (Gatys, Ecker & Bethge 2016).

Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks",
CVPR 2016 (arXiv:1508.06576), Sec. 2-3. Given a content photograph p and a style
image a, find the image x that minimises

    L_total(p, a, x) = alpha L_content(p, x) + beta L_style(a, x)  [+ gamma TV(x)]   (eq. 7)

    L_content = 1/2 sum_ij (F^l_ij - P^l_ij)^2,        l = conv4_2               (eq. 1)
    L_style   = sum_l w_l E_l,  E_l = 1/(4 N_l^2 M_l^2) sum_ij (G^l_ij - A^l_ij)^2 (eq. 4-5)

over the *pixels of x* (the network's weights stay fixed), with F^l the features of x,
P^l those of p, G^l / A^l the Gram matrices of x / a (``tinygen.losses``). In the
course's notation J(G) = alpha J_content(C, G) + beta J_style(S, G).

The algorithm, as in the paper's Fig. 2:

    1. P^l  = features of the content image at the content layer(s)     (once)
    2. A^l  = Gram matrices of the style image at the style layers       (once)
    3. x_0  = white noise (the paper) or the content image
    4. repeat: J, dJ/dx = one forward + one backward pass; update x with L-BFGS
       (the paper's optimiser) or Adam; keep pixels in [0, 1]

Options beyond the paper, each flagged where used:
  * ``init="content"`` (faster convergence, used by most implementations);
  * ``multires`` levels: optimise at size/2^k first, upsample, continue (coarse-to-fine,
    as in Gatys et al. 2017 "Controlling Perceptual Factors", arXiv:1611.07865, Sec. 5);
  * ``preserve_colors``: luminance-only transfer (Gatys, Bethge, Hertzmann & Shechtman
    2016, "Preserving Color in Neural Artistic Style Transfer", arXiv:1606.05897, Sec. 2.2):
    transfer on the YIQ luminance, then put back the content's I and Q;
  * a total-variation term (Mahendran & Vedaldi 2015, arXiv:1412.0035);
  * the fallback features when VGG19's weights are absent (``tinygen.models.vgg``).

Commands: ``tinygen run style [options]`` (the run contract of :mod:`tinygen.methods.run`,
options from :class:`Config`) and its short form ``tinygen style [CONTENT [STYLE]]
[options]``, which turns the two positional images into ``--content`` / ``--style``.

Outputs in the run folder: ``result.png``, ``comparison.png`` (content | style | result),
``frames/step_XXXX.png`` every ``sample_every`` steps (also the frames of ``progress.gif``),
``config.json`` (the values actually used: ``features`` as found, ``content_weight`` /
``style_weight`` = alpha / beta as applied) and ``metrics.jsonl`` (one line per
``log_every`` steps: J, its parts, the resolution level), and ``report.html`` (all of it on
one page, :mod:`tinygen.io.report`).
"""
from __future__ import annotations

import dataclasses
import os
import sys
import time
import typing
from typing import ClassVar, Literal, Optional

from tinygen import backend
from tinygen import losses as L
from tinygen.autograd import Tensor, no_grad
from tinygen.io.plot import save_gif
from tinygen.methods import run as R

np = backend.numpy   # host arrays: images, scipy's flat float64 vectors


@dataclasses.dataclass
class Config(R.RunOptions):
    """Gatys, Ecker & Bethge 2016 neural style transfer: optimise the pixels (arXiv:1508.06576)."""
    content: Optional[str] = None      # content image p (default: the bundled procedural scene)
    style: Optional[str] = None        # style image a (default: the bundled brush strokes)
    size: int = 128                    # longer side of the optimised image x, in pixels (departure
                                       # for CPU speed: Sec. 4 of the paper speaks of 512 x 512)
    steps: int = 150                   # optimiser iterations, over all levels together (not in
                                       # the paper; enough for the bundled images at 128 px)
    content_weight: Optional[float] = None   # alpha, eq. 7 (default: the feature extractor's,
                                             # 1 for both; config.json records the value used)
    style_weight: Optional[float] = None     # beta, eq. 7 (default: the feature extractor's:
                                             # 3e6 for VGG19, Fig. 3's alpha/beta ~1e-3 rescaled
                                             # to torchvision's inputs; 5e3 for the fallback)
    tv_weight: float = 0.0             # gamma, weight of the mean squared total variation (not in
                                       # the paper: 0; Mahendran & Vedaldi 2015, arXiv:1412.0035)
    normalisation: Literal["gatys", "ng", "slide", "none"] = "gatys"   # style-loss constant c_l:
                                       # gatys = 1/(4 N^2 M^2), eq. 4 (docs/style_transfer.md)
    optimizer: Literal["lbfgs", "adam"] = "lbfgs"   # lbfgs: the paper's L-BFGS (Sec. 2);
                                       # adam: departure, projected onto [0, 1], more steps
    lr: float = 0.02                   # Adam's learning rate on pixels in [0, 1] (not in the paper)
    init: Literal["noise", "content"] = "content"   # the starting image x_0: noise is the paper's
                                       # white noise (Fig. 2); content is a flagged departure
                                       # (converges in fewer steps; Sec. 3.3 compares the two)
    pool: Literal["avg", "max"] = "avg"   # VGG19 pooling: avg replaces max, as in the paper
                                          # (Sec. 2)
    multires: int = 1                  # coarse-to-fine levels: 1 = the paper's single resolution;
                                       # K > 1 starts at size/2^(K-1) (Gatys et al. 2017,
                                       # arXiv:1611.07865, Sec. 5), half the steps at the finest
    preserve_colors: bool = False      # luminance-only transfer, the content's colours kept
                                       # (not in the paper; Gatys et al. 2016, arXiv:1606.05897,
                                       # Sec. 2.2)
    features: Literal["auto", "vgg19", "random"] = "auto"   # vgg19: the paper's network
                                       # (Sec. 2); random: the fallback, random multi-scale filters
                                       # (Ustyuzhaninov et al. 2016, arXiv:1606.00021); auto:
                                       # vgg19 if its weights are found, else random with a notice
    weights: Optional[str] = None      # path of torchvision's vgg19-dcbb9e9d.pth (default: the
                                       # weight cache: `tinygen weights path vgg19-dcbb9e9d.pth`)
    seed: int = 0                      # seeds the white-noise start (--init noise); nothing else
                                       # here is random (the fallback's filters have a fixed seed)
    log_every: int = 1                 # steps between metrics.jsonl lines (1: every iteration)
    sample_every: int = 10             # steps between step_XXXX.png images / GIF frames (and at
                                       # the last step)
    ALIASES: ClassVar[dict] = {"save_every": "sample_every"}


StyleConfig = Config        # the name before the run contract (tinygen <= issue 13)

CHOICES = {name: typing.get_args(typing.get_type_hints(Config)[name])
           for name in ("normalisation", "optimizer", "init", "pool", "features")}


# Default weights per feature extractor. VGG19: alpha/beta = 1e-3 on Caffe's 0..255 input
# scale (Gatys et al., Fig. 3) becomes ~1e-6.5 after torchvision's /std normalisation
# (features scale by ~1/58, the content loss by 58^-2 and the style loss by 58^-4), hence
# beta = 3e6 for alpha = 1. The random fallback was tuned by eye on the bundled images.
DEFAULT_WEIGHTS = {"vgg19": (1.0, 3e6), "random": (1.0, 5e3)}


# --------------------------------------------------------------------------
# images on the host: load, resize, colour spaces, save
# --------------------------------------------------------------------------

def load_rgb(path: str, size: int):
    """An image file -> (H, W, 3) float32 in [0, 1], the longer side resized to ``size``."""
    from PIL import Image, UnidentifiedImageError
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no image file at {path!r}: give the path of an existing image "
                                "(PNG, JPEG, ...), or leave the image out to use the bundled one")
    try:
        img = Image.open(path).convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{path!r} is not an image Pillow can read ({exc}); give a PNG or JPEG "
                         "file") from None
    w, h = img.size
    scale = size / max(w, h)
    img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)
    return np.asarray(img, dtype=np.float32) / 255.0


def resize_rgb(img, shape):
    """Resize an (H, W, 3) float image to ``shape`` = (H', W') (bicubic, on the host)."""
    from PIL import Image
    chans = [np.asarray(Image.fromarray(img[..., c].astype(np.float32), mode="F")
                        .resize((shape[1], shape[0]), Image.BICUBIC)) for c in range(3)]
    return np.clip(np.stack(chans, -1), 0.0, 1.0).astype(np.float32)


# YIQ (NTSC) as in Gatys et al., arXiv:1606.05897, Sec. 2.2: Y is the luminance.
_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114],
                        [0.596, -0.274, -0.322],
                        [0.211, -0.523, 0.312]], dtype=np.float64)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


def rgb_to_yiq(img):
    return img.astype(np.float64) @ _RGB_TO_YIQ.T                   # (H, W, 3)


def yiq_to_rgb(img):
    return np.clip(img @ _YIQ_TO_RGB.T, 0.0, 1.0).astype(np.float32)


def luminance_transfer_inputs(content, style):
    """Luminance-only transfer, step 1 (arXiv:1606.05897, eq. 1): grey versions of both,
    the style's luminance matched in mean and standard deviation to the content's.

        L_s' = sigma_c / sigma_s (L_s - mu_s) + mu_c
    """
    Yc = rgb_to_yiq(content)[..., 0]
    Ys = rgb_to_yiq(style)[..., 0]
    Ys = (Ys - Ys.mean()) * (Yc.std() / max(Ys.std(), 1e-8)) + Yc.mean()
    grey = lambda y: np.repeat(np.clip(y, 0, 1)[..., None], 3, -1).astype(np.float32)  # noqa: E731
    return grey(Yc), grey(Ys)


def recombine_colours(result, content):
    """Luminance-only transfer, step 2: Y from the result, I and Q from the content."""
    yiq = rgb_to_yiq(content)
    yiq[..., 0] = rgb_to_yiq(result)[..., 0]
    return yiq_to_rgb(yiq)


def to_uint8(img):
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def save_png(path: str, img, title: str = "", caption: str = "") -> None:
    """(H, W, 3) float in [0, 1] -> PNG, written atomically (``tinygen.io.save_image``), with
    ``title`` (and ``caption``) above the picture when given (:func:`tinygen.io.plot.titled`)."""
    from tinygen.io import save_image
    from tinygen.io.plot import titled
    save_image(titled(to_uint8(img), title, caption) if title else to_uint8(img), path)


def image_to_tensor(img, device=None, dtype=np.float32) -> Tensor:
    """(H, W, 3) host image -> (1, 3, H, W) tensor on ``device`` (None: the default device)."""
    arr = np.ascontiguousarray(img.transpose(2, 0, 1)[None].astype(dtype))
    return Tensor(backend.to_device(arr, device or backend.get_default_device()))


def tensor_to_image(x: Tensor):
    """(1, 3, H, W) tensor -> (H, W, 3) float32 host image."""
    return backend.to_host(x.data)[0].transpose(1, 2, 0).astype(np.float32)


# --------------------------------------------------------------------------
# feature extractors
# --------------------------------------------------------------------------

FALLBACK_NOTICE = """\
NOTICE: VGG19 weights ({name}) not found{where}.
        Using the fallback: random multi-scale conv features (Ustyuzhaninov et al. 2016,
        arXiv:1606.00021). They synthesise textures, but the results are not Gatys et al.'s.
        For the real VGG19 features, get torchvision's weight file (548 MB) with
            tinygen weights download {name}
        or place it at {target}, or pass --weights PATH."""


def _cache_target(name: str) -> str:
    """Where the weight manager looks first (for the notice)."""
    try:
        from tinygen.io.weights import candidates
        return candidates(name)[0]
    except Exception:   # the notice must never fail: fall back to the command that tells
        return f"the cache path printed by `tinygen weights path {name}`"


def fallback_notice(reason: str = "") -> str:
    from tinygen.models.vgg import VGG19_WEIGHTS
    return FALLBACK_NOTICE.format(name=VGG19_WEIGHTS, where=reason,
                                  target=_cache_target(VGG19_WEIGHTS))


def find_vgg_weights(path: Optional[str] = None):
    """(path of vgg19-dcbb9e9d.pth, None), or (None, reason) when it cannot be found."""
    from tinygen.models.vgg import VGG19_WEIGHTS
    if path is not None:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"--weights {path!r}: no such file (expected torchvision's "
                                    f"{VGG19_WEIGHTS}; `tinygen weights download {VGG19_WEIGHTS}` "
                                    "gets it, or leave --weights out)")
        return path, None
    try:
        from tinygen.io.weights import get_weights
        found = get_weights(VGG19_WEIGHTS, download=False)
    except ImportError as exc:
        return None, f" (weight manager unavailable: {exc})"
    except FileNotFoundError:
        return None, " in the cache"
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        return None, f" ({exc})"
    if found is None or not os.path.isfile(str(found)):
        return None, ""
    return str(found), None


def vgg_weights_or_fallback(features: str, weights, log=print, notice=None):
    """The VGG19 weight file to use, or None for the random multi-scale fallback.

    ``features``: "auto" (the weights when found, else the fallback, with ``notice(reason)``
    logged: style transfer's by default), "vgg19" (the weights or a FileNotFoundError saying
    how to get them) or "random"."""
    from tinygen.models import vgg
    if features not in ("auto", "vgg19"):
        return None
    path, reason = find_vgg_weights(weights)
    if path is None and features == "vgg19":
        raise FileNotFoundError(
            f"--features vgg19: VGG19 weights ({vgg.VGG19_WEIGHTS}) not found{reason}. Get "
            f"them with `tinygen weights download {vgg.VGG19_WEIGHTS}`, pass --weights PATH, "
            "or use --features random (the fallback)")
    if path is None:
        log((notice or fallback_notice)(reason))
    return path


def build_features(config: Config, log=print):
    """-> (extractor, content_layers, style_layers, kind) where kind is 'vgg19' or 'random'."""
    from tinygen.models import vgg
    _check_choice(config, "features")
    path = vgg_weights_or_fallback(config.features, config.weights, log)
    if path is not None:
        model = vgg.vgg19(weights=path, pool=config.pool)
        content_layers, style_layers, kind = vgg.GATYS_CONTENT_LAYERS, vgg.GATYS_STYLE_LAYERS, "vgg19"
    else:
        model = vgg.RandomMultiScaleFeatures()
        content_layers, style_layers, kind = (vgg.FALLBACK_CONTENT_LAYERS,
                                              vgg.FALLBACK_STYLE_LAYERS, "random")
    model.requires_grad_(False)
    model.to(config.device)
    return model, tuple(content_layers), tuple(style_layers), kind


# --------------------------------------------------------------------------
# the objective
# --------------------------------------------------------------------------

class StyleObjective:
    """J(x) = alpha L_content + beta L_style + gamma TV, with the targets P^l, A^l fixed.

    Shapes: content, style (1, 3, H, W) / (1, 3, H', W') in [0, 1]; x (1, 3, H, W).
    The style image may have any size: Gram matrices are C_l x C_l whatever H', W'
    (with the "gatys" normalisation E_l compares sums over M_l positions of x, so the
    style target is rescaled by M_l(x) / M_l(a): departure, flagged — the paper uses
    equal sizes, where the factor is 1).
    """

    def __init__(self, extractor, content_layers, style_layers, content, style,
                 alpha, beta, gamma=0.0, normalisation="gatys", style_layer_weights=None):
        self.extractor = extractor
        self.content_layers, self.style_layers = tuple(content_layers), tuple(style_layers)
        self.alpha, self.beta, self.gamma = float(alpha), float(beta), float(gamma)
        self.normalisation = normalisation
        self.weights = style_layer_weights or {l: 1.0 / len(self.style_layers)
                                               for l in self.style_layers}
        self.layers = list(dict.fromkeys(self.content_layers + self.style_layers))
        with no_grad():
            P = extractor.extract(content, self.layers)     # content layers + sizes M_l(x)
            A = extractor.extract(style, self.style_layers)
        self.P = {l: P[l].detach() for l in self.content_layers}           # (1, C, H_l, W_l)
        self.A = {}
        for l in self.style_layers:
            M_x = P[l].shape[2] * P[l].shape[3]                             # M_l of x
            per_position = L.gram_matrix(A[l], normalize=True)              # (1, C, C)
            self.A[l] = (per_position * float(M_x)).detach()                # (1, C, C)

    def __call__(self, x: Tensor):
        """-> (J, parts) with parts = {"content": float, "style": float, "tv": float}."""
        feats = self.extractor.extract(x, self.layers)
        J_content = None
        for l in self.content_layers:
            term = L.content_loss(feats[l], self.P[l])
            J_content = term if J_content is None else J_content + term
        J_style = L.style_loss({l: feats[l] for l in self.style_layers}, self.A,
                               self.weights, self.normalisation)
        J = self.alpha * J_content + self.beta * J_style                # (), eq. 7
        parts = {"content": float(J_content.item()), "style": float(J_style.item())}
        if self.gamma > 0:
            tv = L.total_variation_loss(x)
            J = J + self.gamma * tv
            parts["tv"] = float(tv.item())
        return J, parts

    def value_and_grad(self, x_data):
        """J and dJ/dx for a raw array ``x_data`` (1, 3, H, W): one forward, one backward."""
        x = Tensor(x_data, requires_grad=True)
        J, parts = self(x)
        J.backward()
        return float(J.item()), x.grad.data, parts


# --------------------------------------------------------------------------
# optimisers: L-BFGS (scipy) and Adam (tinygen.optim)
# --------------------------------------------------------------------------

def optimise_lbfgs(objective: StyleObjective, x0: Tensor, steps: int, callback=None):
    """Minimise J over pixels in [0, 1] with L-BFGS-B (Byrd, Lu, Nocedal & Zhu 1995),
    the optimiser of Gatys et al. (Sec. 2: "we used L-BFGS").

    scipy works on a flat float64 vector; each evaluation converts it to the device and
    dtype of ``x0``, runs the tinygen forward/backward, and returns (J, grad) in float64.
    The box bounds [0, 1] replace clipping. ``callback(step, x_array, J, parts)`` runs
    once per iteration. If the line search stalls before ``steps`` (float32 gradients
    are slightly noisy), L-BFGS restarts from the current point until ``steps`` are used
    or two restarts in a row make no progress.
    """
    from scipy.optimize import minimize
    shape, dtype, device = x0.shape, x0.dtype, x0.device
    state = {"step": 0, "J": None, "parts": None}

    def fun(v):
        x_data = backend.to_device(v.reshape(shape).astype(dtype), device)
        J, g, parts = objective.value_and_grad(x_data)
        state["J"], state["parts"] = J, parts
        return J, backend.to_host(g).astype(np.float64).ravel()

    def on_iteration(v):
        state["step"] += 1
        if callback is not None:
            callback(state["step"], v.reshape(shape), state["J"], state["parts"])
        if state["step"] >= steps:
            raise StopIteration

    v = backend.to_host(x0.data).astype(np.float64).ravel()
    bounds = [(0.0, 1.0)] * v.size
    stalls = 0
    while state["step"] < steps and stalls < 2:
        before = state["step"]
        try:
            res = minimize(fun, v, jac=True, method="L-BFGS-B", bounds=bounds, callback=on_iteration,
                           options={"maxiter": steps - state["step"], "maxfun": 4 * steps,
                                    "ftol": 0.0, "gtol": 0.0, "maxcor": 20})
            v = res.x
        except StopIteration:
            break
        stalls = stalls + 1 if state["step"] == before else 0
    # scipy >= 1.11 turns a StopIteration raised in the callback into a normal stop
    # (res.x is the last accepted iterate); older versions let it propagate.
    return v.reshape(shape)


def optimise_adam(objective: StyleObjective, x0: Tensor, steps: int, lr: float, callback=None):
    """Minimise J with Adam (Kingma & Ba 2015) on the pixels, projecting onto [0, 1]
    after every step (departure: Gatys et al. use L-BFGS; Adam is the course's default
    for everything else and needs more steps)."""
    from tinygen.nn import Parameter
    from tinygen.optim import Adam
    x = Parameter(x0.data.copy())
    opt = Adam([x], lr=lr)
    xp = backend.get_array_module(x.data)
    for step in range(1, steps + 1):
        opt.zero_grad()
        J, parts = objective(x)
        J.backward()
        opt.step()
        x.data = xp.clip(x.data, 0.0, 1.0)                          # projection onto the box
        if callback is not None:
            callback(step, backend.to_host(x.data), float(J.item()), parts)
    return backend.to_host(x.data)


# --------------------------------------------------------------------------
# the whole procedure
# --------------------------------------------------------------------------

def _level_sizes(shape, levels):
    """Coarse-to-fine sizes: the full (H, W) halved (levels - 1) times, smallest first."""
    h, w = shape
    return [(max(8, h >> k), max(8, w >> k)) for k in reversed(range(levels))]


def _level_steps(total, levels):
    """Split the steps over levels: half at the finest, the rest equally over the coarser."""
    if levels == 1:
        return [total]
    fine = total // 2
    coarse = [(total - fine) // (levels - 1)] * (levels - 1)
    coarse[-1] += total - fine - sum(coarse)
    return coarse + [fine]


def _check_choice(config: Config, name: str) -> None:
    value, choices = getattr(config, name), CHOICES[name]
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r} "
                         f"(--{name.replace('_', '-')})")


def validate(config: Config) -> None:
    """ValueError naming the option and the allowed values, before anything is written."""
    for name in CHOICES:
        _check_choice(config, name)
    for name, least, unit in (("size", 16, " pixels"), ("steps", 1, ""),
                              ("multires", 1, " (1 = a single resolution)")):
        value = getattr(config, name)
        if value < least:
            raise ValueError(f"{name} must be >= {least}{unit}, got --{name} {value}")


# Peak memory of one objective + gradient evaluation, per pixel of x (float32, CPU): measured
# as the growth of peak RSS at 128 x 128 px (VGG19 7.6 kB, the random features 6 kB), rounded
# up. The activations of every layer up to conv5_1 are kept for the backward pass.
BYTES_PER_PIXEL = {"vgg19": 10_000, "random": 8_000}


def planned_shape(config: Config) -> tuple:
    """(H, W) of x at the finest level, read from the content file's header (no decoding)."""
    if not config.content or not os.path.isfile(config.content):
        return (config.size, config.size)          # the bundled scene is square
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(config.content) as img:
            w, h = img.size
    except (UnidentifiedImageError, OSError):
        return (config.size, config.size)          # load_rgb says what is wrong with it
    scale = config.size / max(w, h)
    return (max(1, round(h * scale)), max(1, round(w * scale)))


def available_memory() -> Optional[int]:
    """Bytes of memory available to a new allocation (Linux MemAvailable), None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(config: Config, available: Optional[int] = None) -> None:
    """Refuse, with the figures, a --size whose optimisation would not fit in memory
    (instead of allocating until the machine kills the process)."""
    available = available_memory() if available is None else available
    if available is None:
        return
    h, w = planned_shape(config)
    per_pixel = BYTES_PER_PIXEL["random" if config.features == "random" else "vgg19"]
    need = h * w * per_pixel
    if need > available:
        fits = int(config.size * (available / need) ** 0.5)
        raise ValueError(f"--size {config.size}: optimising a {w}x{h} image needs about "
                         f"{need / 2**30:.1f} GiB (~{per_pixel / 1000:.0f} kB per pixel), but "
                         f"{available / 2**30:.1f} GiB are available; use --size {fits} or less")


def resolve_weights(config: Config, kind: str):
    """(alpha, beta): the options given, else the feature extractor's defaults."""
    alpha, beta = DEFAULT_WEIGHTS[kind]
    return (alpha if config.content_weight is None else config.content_weight,
            beta if config.style_weight is None else config.style_weight)


def train(config: Config) -> str:
    """``tinygen run style`` (``tinygen style``): Gatys et al.'s procedure; the run folder.

    Loads the images and the features first, so that a missing file or weight file fails
    before a run folder exists; config.json then records the values actually used
    (``features`` as found, alpha and beta as ``content_weight`` / ``style_weight``).
    """
    from tinygen.methods.style_images import default_content, default_style
    validate(config)
    check_memory(config)
    log = (lambda *a: None) if config.quiet else (lambda *a: print(*a, flush=True))
    rng = np.random.default_rng(config.seed)                 # the white-noise start only

    content = load_rgb(config.content, config.size) if config.content else default_content(config.size)
    style = load_rgb(config.style, config.size) if config.style else default_style(config.size)
    original_content, original_style = content, style
    if config.preserve_colors:
        content, style = luminance_transfer_inputs(content, style)

    extractor, content_layers, style_layers, kind = build_features(config, log)
    alpha, beta = resolve_weights(config, kind)
    used = dataclasses.replace(config, features=kind, content_weight=alpha, style_weight=beta)
    run = R.Run(used, "style")                               # folder, config.json
    log(f"style transfer: {kind} features, {config.optimizer}, {content.shape[1]}x{content.shape[0]} "
        f"px, {config.steps} steps, alpha={alpha:g} beta={beta:g} gamma={config.tv_weight:g}")

    sizes = _level_sizes(content.shape[:2], config.multires)
    steps_per_level = _level_steps(config.steps, config.multires)
    run.steps()                                              # steps 1 .. config.steps, counted
    frame_steps = []                                         # the step of each GIF frame
    start, done = time.time(), 0                             # by the optimiser's callbacks
    x_img = None
    for level, (hw, n_steps) in enumerate(zip(sizes, steps_per_level)):
        c_img = resize_rgb(content, hw) if hw != content.shape[:2] else content
        s_shape = (max(8, round(style.shape[0] * hw[0] / content.shape[0])),
                   max(8, round(style.shape[1] * hw[1] / content.shape[1])))
        s_img = resize_rgb(style, s_shape) if s_shape != style.shape[:2] else style
        c_t = image_to_tensor(c_img, config.device)
        s_t = image_to_tensor(s_img, config.device)
        objective = StyleObjective(extractor, content_layers, style_layers, c_t, s_t,
                                   alpha, beta, config.tv_weight, config.normalisation)
        if x_img is None:       # step 3: white noise (the paper) or the content image
            x_img = (rng.uniform(0.0, 1.0, c_img.shape).astype(np.float32)
                     if config.init == "noise" else c_img)
        else:                   # coarse-to-fine: upsample the previous level's result
            x_img = resize_rgb(x_img, hw)
        x0 = image_to_tensor(x_img, config.device)

        def callback(step, x_arr, J, parts, _done=done, _level=level):
            s = _done + step
            run.record(s, loss=J, **{f"loss_{k}": v for k, v in parts.items()})
            if run.due(s, config.log_every):
                run.log(s, level=_level)
            if run.due(s, config.sample_every):
                img = np.asarray(x_arr, dtype=np.float32)[0].transpose(1, 2, 0)
                save_png(run.path(os.path.join(R.FRAMES, f"step_{s:04d}.png")), img)
                run.save_frame(img)            # kept in float: resized for the GIF below
                frame_steps.append(s)
            run.checkpoint(s)                  # Ctrl-C / SIGTERM: stop here, cleanly

        if config.optimizer == "lbfgs":
            x_arr = optimise_lbfgs(objective, x0, n_steps, callback)
        else:
            x_arr = optimise_adam(objective, x0, n_steps, config.lr, callback)
        x_img = np.asarray(x_arr, dtype=np.float32)[0].transpose(1, 2, 0)
        done += n_steps

    result = np.clip(x_img, 0.0, 1.0)
    if config.preserve_colors:
        result = recombine_colours(result, original_content)
    save_png(run.path("result.png"), result)
    style_show = resize_rgb(original_style, result.shape[:2])
    save_png(run.path("comparison.png"),
             np.concatenate([original_content, style_show, result], axis=1),
             f"style transfer ({kind} features, {config.steps} {config.optimizer} steps)",
             "content p  |  style a  |  result x")
    size = result.shape[:2]           # coarse-to-fine: frames of earlier levels are smaller
    from tinygen.io.plot import common_size, titled
    frames = [titled(to_uint8(f if f.shape[:2] == size else resize_rgb(f, size)),
                     f"style transfer, step {s} of {config.steps}")
              for f, s in zip(run.frames, frame_steps)]
    save_gif(common_size(frames + [titled(to_uint8(result), "style transfer: the result")]),
             run.path("progress.gif"), duration_ms=120, hold_last_ms=1500)
    run.close()
    run.write_report()
    log(f"done in {time.time() - start:.1f}s; wrote {run.path('progress.gif')}, "
        f"{run.path('result.png')}, {run.path('comparison.png')}")
    return run.dir


stylise = train             # the name before the run contract


# --------------------------------------------------------------------------
# tinygen style [CONTENT [STYLE]] [options]: the short form of tinygen run style
# --------------------------------------------------------------------------

SHORT_FORM = ("tinygen style [CONTENT [STYLE]] [options] is the short form of "
              "tinygen run style [--content CONTENT] [--style STYLE] [options]")


def run_arguments(argv, parser) -> list:
    """``tinygen style`` arguments -> ``tinygen run style`` arguments.

    Up to two positional arguments (anywhere, or after ``--``) become ``--content=PATH``
    and ``--style=PATH``; every option passes through unchanged. Which tokens are option
    values is read off ``parser``, the ``tinygen run style`` parser the arguments go to
    (every option here takes one value, or none: the flags), abbreviations included.
    ValueError for a third image or an image given both ways.
    """
    arity = {flag: (action.dest, 0 if action.nargs == 0 else 1)
             for action in parser._actions for flag in action.option_strings}

    def lookup(token):
        flag = token.split("=", 1)[0]
        if flag in arity:
            return arity[flag]
        hits = {arity[f] for f in arity if flag.startswith("--") and f.startswith(flag)}
        return hits.pop() if len(hits) == 1 else None

    images, options, given, unknown, i = [], [], set(), False, 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            images += argv[i + 1:]
            break
        if token.startswith("-") and token != "-":
            known = lookup(token)
            unknown |= known is None
            n = known[1] if known and "=" not in token else 0
            options += argv[i:i + 1 + n]
            given |= {known[0]} if known else set()
            i += 1 + n
        else:
            images.append(token)
            i += 1
    if len(images) > 2 and not unknown:       # (an unknown option: argparse names it)
        raise ValueError(f"at most two images, CONTENT and STYLE; got {len(images)}: "
                         f"{' '.join(images)}")
    for name, path in zip(("content", "style"), images[:2]):
        if name in given:
            raise ValueError(f"the {name} image is given twice, as {name.upper()} ({path!r}) "
                             f"and with --{name}; give it once")
    return ([f"--{name}={path}" for name, path in zip(("content", "style"), images[:2])]
            + options + images[2:])


def short_form(argv, parser, run_main) -> int:
    """``tinygen style [CONTENT [STYLE]] [options]``: the exit code of ``tinygen run style``.

    ``parser`` is the ``tinygen run style`` parser and ``run_main`` the function behind
    ``tinygen run`` (both from the command line's module, passed in: methods never import
    it). A missing or unreadable file, or a bad value, prints one line and returns 2.
    """
    try:
        args = run_arguments(argv, parser)
        if any(a in ("-h", "--help") for a in args):
            print(SHORT_FORM + "\n")
        return run_main(["style", *args])
    except (FileNotFoundError, ValueError) as exc:
        print(f"tinygen style: {exc}", file=sys.stderr)
        return 2
