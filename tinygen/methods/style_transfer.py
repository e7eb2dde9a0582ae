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

Outputs in the run folder: ``result.png``, ``comparison.png`` (content | style | result),
``step_XXXX.png`` intermediate images, ``progress.gif``, ``config.json``, ``metrics.jsonl``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from typing import Optional

from tinygen import backend
from tinygen import losses as L
from tinygen.autograd import Tensor, no_grad
from tinygen.io.plot import save_gif
from tinygen.methods.common import atomic_write_bytes

np = backend.numpy   # host arrays: images, scipy's flat float64 vectors


@dataclasses.dataclass
class StyleConfig:
    """Gatys et al. 2016 style transfer (``tinygen style --help`` lists these)."""
    content: Optional[str] = None        # content image path (default: the bundled scene)
    style: Optional[str] = None          # style image path (default: the bundled brush strokes)
    out: Optional[str] = None            # output folder (default: runs/style-<time>)
    size: int = 128                      # longer side of the optimised image, in pixels
    steps: int = 150                     # optimiser iterations (in total over the levels)
    content_weight: Optional[float] = None   # alpha (None: the feature extractor's default)
    style_weight: Optional[float] = None     # beta  (None: the feature extractor's default)
    tv_weight: float = 0.0               # gamma, weight of the mean squared total variation
    normalisation: str = "gatys"         # style normalisation: gatys, ng, slide, none
    optimizer: str = "lbfgs"             # lbfgs (the paper) or adam
    lr: float = 0.02                     # Adam's learning rate (pixels in [0, 1])
    init: str = "content"                # noise (the paper) or content
    pool: str = "avg"                    # VGG pooling: avg (Gatys et al.) or max
    multires: int = 1                    # coarse-to-fine levels (1 = single resolution)
    preserve_colors: bool = False        # luminance-only transfer (arXiv:1606.05897)
    features: str = "auto"               # vgg19, random or auto (vgg19 if its weights exist)
    weights: Optional[str] = None        # path of vgg19-dcbb9e9d.pth (default: the cache)
    device: str = "cpu"                  # cpu, cuda or cuda:N
    seed: int = 0
    save_every: int = 10                 # steps between intermediate images / GIF frames
    quiet: bool = False                  # no progress lines


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
    from PIL import Image
    if not os.path.isfile(path):
        raise FileNotFoundError(f"tinygen style: no image file at {path!r}")
    img = Image.open(path).convert("RGB")
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


def save_png(path: str, img) -> None:
    """(H, W, 3) float in [0, 1] -> PNG, written atomically (``tinygen.io.save_image``)."""
    from tinygen.io import save_image
    save_image(to_uint8(img), path)


def image_to_tensor(img, device="cpu", dtype=np.float32) -> Tensor:
    """(H, W, 3) host image -> (1, 3, H, W) tensor on ``device``."""
    arr = np.ascontiguousarray(img.transpose(2, 0, 1)[None].astype(dtype))
    return Tensor(backend.to_device(arr, device))


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
                                    f"{VGG19_WEIGHTS})")
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


def build_features(config: StyleConfig, log=print):
    """-> (extractor, content_layers, style_layers, kind) where kind is 'vgg19' or 'random'."""
    from tinygen.models import vgg
    if config.features not in ("auto", "vgg19", "random"):
        raise ValueError(f"features must be auto, vgg19 or random, got {config.features!r}")
    path = None
    if config.features in ("auto", "vgg19"):
        path, reason = find_vgg_weights(config.weights)
        if path is None and config.features == "vgg19":
            raise FileNotFoundError(
                f"--features vgg19: VGG19 weights ({vgg.VGG19_WEIGHTS}) not found{reason}. Get "
                f"them with `tinygen weights download {vgg.VGG19_WEIGHTS}`, pass --weights PATH, "
                "or use --features random (the fallback)")
        if path is None:
            log(fallback_notice(reason))
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


def stylise(config: StyleConfig) -> str:
    """Run style transfer; returns the output folder."""
    from tinygen.methods.style_images import default_content, default_style
    for name, value, choices in (("optimizer", config.optimizer, ("lbfgs", "adam")),
                                 ("init", config.init, ("noise", "content")),
                                 ("pool", config.pool, ("max", "avg")),
                                 ("normalisation", config.normalisation, L.STYLE_NORMALISATIONS)):
        if value not in choices:
            raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    if config.size < 16 or config.steps < 1 or config.multires < 1:
        raise ValueError(f"size must be >= 16, steps >= 1 and multires >= 1; got size={config.size}, "
                         f"steps={config.steps}, multires={config.multires}")
    log = (lambda *a: None) if config.quiet else (lambda *a: print(*a, flush=True))
    out = config.out or os.path.join("runs", "style-" + time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(config.seed)

    content = load_rgb(config.content, config.size) if config.content else default_content(config.size)
    style = load_rgb(config.style, config.size) if config.style else default_style(config.size)
    original_content, original_style = content, style
    if config.preserve_colors:
        content, style = luminance_transfer_inputs(content, style)

    extractor, content_layers, style_layers, kind = build_features(config, log)
    alpha, beta = DEFAULT_WEIGHTS[kind]
    alpha = alpha if config.content_weight is None else config.content_weight
    beta = beta if config.style_weight is None else config.style_weight
    record = {"method": "style", **dataclasses.asdict(config),
              "features": kind, "alpha": alpha, "beta": beta}     # what was actually used
    atomic_write_bytes(os.path.join(out, "config.json"), json.dumps(record, indent=2).encode())
    metrics_path = os.path.join(out, "metrics.jsonl")
    if os.path.exists(metrics_path):
        os.remove(metrics_path)
    log(f"style transfer: {kind} features, {config.optimizer}, {content.shape[1]}x{content.shape[0]} "
        f"px, {config.steps} steps, alpha={alpha:g} beta={beta:g} gamma={config.tv_weight:g}")

    sizes = _level_sizes(content.shape[:2], config.multires)
    steps_per_level = _level_steps(config.steps, config.multires)
    frames, start, done = [], time.time(), 0
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

        def callback(step, x_arr, J, parts, _done=done):
            s = _done + step
            entry = {"step": s, "time": round(time.time() - start, 3), "loss": J,
                     **{f"loss_{k}": v for k, v in parts.items()}, "level": level}
            with open(metrics_path, "a") as f:
                f.write(json.dumps(entry) + "\n")
            if s % config.save_every == 0 or s == config.steps:
                img = np.asarray(x_arr, dtype=np.float32)[0].transpose(1, 2, 0)
                frames.append(img)
                save_png(os.path.join(out, f"step_{s:04d}.png"), img)
                log(f"  step {s:4d}/{config.steps}  J={J:.4g}  content={parts['content']:.4g}  "
                    f"style={parts['style']:.4g}" + (f"  tv={parts['tv']:.4g}" if "tv" in parts else "")
                    + f"  ({time.time() - start:.1f}s)")

        if config.optimizer == "lbfgs":
            x_arr = optimise_lbfgs(objective, x0, n_steps, callback)
        else:
            x_arr = optimise_adam(objective, x0, n_steps, config.lr, callback)
        x_img = np.asarray(x_arr, dtype=np.float32)[0].transpose(1, 2, 0)
        done += n_steps

    result = np.clip(x_img, 0.0, 1.0)
    if config.preserve_colors:
        result = recombine_colours(result, original_content)
    save_png(os.path.join(out, "result.png"), result)
    style_show = resize_rgb(original_style, result.shape[:2])
    save_png(os.path.join(out, "comparison.png"),
             np.concatenate([original_content, style_show, result], axis=1))
    size = result.shape[:2]           # coarse-to-fine: frames of earlier scales are smaller
    save_gif([f if f.shape[:2] == size else resize_rgb(f, size) for f in frames + [result]],
             os.path.join(out, "progress.gif"), duration_ms=120, hold_last_ms=1500)
    log(f"done in {time.time() - start:.1f}s; wrote {os.path.join(out, 'progress.gif')}, "
        f"{os.path.join(out, 'result.png')}, {os.path.join(out, 'comparison.png')}")
    return out


# --------------------------------------------------------------------------
# tinygen style CONTENT STYLE
# --------------------------------------------------------------------------

class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except None (whose meaning the help text already explains)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    d = StyleConfig()
    p = argparse.ArgumentParser(
        prog="tinygen style",
        description="Neural style transfer (Gatys, Ecker & Bethge 2016, arXiv:1508.06576). "
                    "With no images it uses two bundled procedural pictures; without VGG19's "
                    "weights it runs on random multi-scale features and says how to get them.",
        formatter_class=_HelpFormatter)
    p.add_argument("content", nargs="?", default=None, help="content image (default: bundled scene)")
    p.add_argument("style", nargs="?", default=None, help="style image (default: bundled strokes)")
    p.add_argument("--out", default=None, help="output folder (default: runs/style-<time>)")
    p.add_argument("--size", type=int, default=d.size, help="longer side in pixels")
    p.add_argument("--steps", type=int, default=d.steps, help="optimiser iterations")
    p.add_argument("--content-weight", type=float, default=None,
                   help="alpha (default: 1 for both feature extractors)")
    p.add_argument("--style-weight", type=float, default=None,
                   help=f"beta (default: {DEFAULT_WEIGHTS['vgg19'][1]:g} with VGG19, "
                        f"{DEFAULT_WEIGHTS['random'][1]:g} with the fallback)")
    p.add_argument("--tv-weight", type=float, default=d.tv_weight,
                   help="gamma, weight of the total-variation smoothness term")
    p.add_argument("--normalisation", choices=L.STYLE_NORMALISATIONS, default=d.normalisation,
                   help="style-loss constant c_l (docs/style_transfer.md)")
    p.add_argument("--optimizer", choices=("lbfgs", "adam"), default=d.optimizer,
                   help="L-BFGS is the paper's")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate")
    p.add_argument("--init", choices=("noise", "content"), default=d.init,
                   help="starting image (the paper: noise)")
    p.add_argument("--pool", choices=("max", "avg"), default=d.pool,
                   help="VGG19 pooling (Gatys et al.: avg)")
    p.add_argument("--multires", type=int, default=d.multires, help="coarse-to-fine levels")
    p.add_argument("--preserve-colors", action="store_true", help="luminance-only transfer")
    p.add_argument("--features", choices=("auto", "vgg19", "random"), default=d.features,
                   help="auto: VGG19 if its weights are found, else the random fallback")
    p.add_argument("--weights", default=None, help="path of vgg19-dcbb9e9d.pth")
    p.add_argument("--device", default=d.device, help="cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the noise initialisation")
    p.add_argument("--save-every", type=int, default=d.save_every,
                   help="steps between intermediate images and GIF frames")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    config = StyleConfig(**{k: v for k, v in vars(args).items()})
    try:
        stylise(config)
    except (FileNotFoundError, ValueError) as exc:
        print(f"tinygen style: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
