"""What ConvNets learn: receptive fields, top-9 image patches, activation maximisation.

Three tools to look inside a trained convolutional network:

1. Receptive fields, computed exactly from the kernel sizes, strides, paddings and
   dilations of a chain of layers (Araujo, Norris & Sim 2019, "Computing Receptive
   Fields of Convolutional Neural Networks", Distill, eq. 1-2 with dilation):

       along one axis, layer l with kernel k_l, stride s_l, padding p_l, dilation d_l,
       effective kernel  k'_l = d_l (k_l - 1) + 1
       jump   J_l = J_{l-1} s_l                          (input pixels between units)
       size   r_l = r_{l-1} + (k'_l - 1) J_{l-1}         (pixels one unit sees)
       start  o_l = o_{l-1} - p_l J_{l-1}                (first pixel of unit 0)
       with J_0 = 1, r_0 = 1, o_0 = 0: unit u of layer L sees input pixels
       [o_L + u J_L,  o_L + u J_L + r_L - 1]  (part of it may lie in the padding).

   Pointwise layers (ReLU, batch norm, dropout...) leave (J, r, o) unchanged.
   The box is exact for units that read no padding *inside* the chain; a unit near the
   border of a padded intermediate layer reads constants there and sees only part of
   its box (the box is then an upper bound; the test checks both statements).

2. The top-9 patches (Zeiler & Fergus 2014, "Visualizing and Understanding
   Convolutional Networks", arXiv:1311.2901, Sec. 4 and Fig. 2, right halves): for one
   channel c of layer L, run a dataset through the network, take for every image the
   position of the strongest activation of c, keep the nine images where that maximum is
   largest, and crop the receptive field of the winning unit from each. (Zeiler & Fergus
   also project the activation back with a deconvnet, the left halves; here only the
   image patches are shown.)

3. Activation maximisation (Simonyan, Vedaldi & Zisserman 2014, "Deep Inside
   Convolutional Networks", arXiv:1312.6034, eq. 1; Yosinski et al. 2015, "Understanding
   Neural Networks Through Deep Visualization", arXiv:1506.06579, Sec. 3): gradient ascent
   on the input to

       x* = argmax_x  a_c(x) - lambda_2 ||x||^2 - lambda_TV TV(x)

   where a_c is the activation of the centre unit of channel c. Yosinski et al.'s
   regularisers used here: L2 decay, random jitter (the image is shifted by a few pixels
   before every step, so the pattern must work at every offset and high-frequency
   "adversarial" noise does not accumulate) and a total-variation penalty in place of
   their Gaussian blur (departure, flagged: TV is a smooth penalty, blur a projection).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from typing import List, Optional, Sequence

import tinygen
from tinygen import backend, nn, ops
from tinygen import losses as L
from tinygen.autograd import Tensor, no_grad
from tinygen.methods import run as R
from tinygen.nn.module import module_device

np = backend.numpy   # host arrays: datasets, patches, pictures


# --------------------------------------------------------------------------
# 1. receptive fields
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ReceptiveField:
    """Along each axis (H, W): size r, jump J and start o (see the module docstring).

    Unit (u, v) of the layer sees input rows o[0] + u J[0] ... o[0] + u J[0] + r[0] - 1
    and columns o[1] + v J[1] ... o[1] + v J[1] + r[1] - 1.
    """
    size: tuple
    jump: tuple
    start: tuple

    def box(self, u: int, v: int):
        """(top, left, bottom, right), inclusive, for unit (u, v); may exceed the image."""
        top = self.start[0] + u * self.jump[0]
        left = self.start[1] + v * self.jump[1]
        return top, left, top + self.size[0] - 1, left + self.size[1] - 1


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (int(v), int(v))


# Layers that act on each position separately (or leave the spatial grid alone).
_POINTWISE = ("ReLU", "LeakyReLU", "Tanh", "Sigmoid", "ELU", "Softplus", "Identity", "Dropout",
              "BatchNorm2d", "InstanceNorm2d", "GroupNorm", "LayerNorm", "Dropout2d", "_Branch")


def layer_geometry(module):
    """(kernel, stride, padding, dilation), each an (H, W) pair, of one layer.

    Conv2d and MaxPool2d/AvgPool2d have all four (pools: dilation 1 unless given);
    pointwise layers are (1, 1), (1, 1), (0, 0), (1, 1). Anything else (Linear, Flatten,
    adaptive pooling, upsampling) has no fixed geometry and raises an error saying so.
    """
    name = type(module).__name__
    if name in _POINTWISE:
        return (1, 1), (1, 1), (0, 0), (1, 1)
    if hasattr(module, "kernel_size") and hasattr(module, "stride") and name in (
            "Conv2d", "MaxPool2d", "AvgPool2d"):
        padding = getattr(module, "padding", 0)
        if isinstance(padding, str):
            if padding == "valid":
                padding = 0
            else:
                k, d = _pair(module.kernel_size), _pair(getattr(module, "dilation", 1))
                padding = tuple(di * (ki - 1) // 2 for ki, di in zip(k, d))
        if getattr(module, "ceil_mode", False):
            raise ValueError(f"receptive_field: {name} with ceil_mode=True is not supported "
                             "(the last window is partial); use ceil_mode=False")
        return (_pair(module.kernel_size), _pair(module.stride), _pair(padding),
                _pair(getattr(module, "dilation", 1)))
    raise ValueError(f"receptive_field: layer {name} has no fixed spatial geometry (only "
                     "Conv2d, MaxPool2d, AvgPool2d and pointwise layers are understood); "
                     "compute receptive fields of the convolutional part only")


def receptive_field(layers: Sequence, upto: Optional[int] = None) -> ReceptiveField:
    """The receptive field of the units of ``layers[upto]`` (default: the last layer).

    ``layers``: an ``nn.Sequential`` or a list of modules applied in order.
    """
    layers = list(layers)
    upto = len(layers) - 1 if upto is None else upto
    if not 0 <= upto < len(layers):
        raise IndexError(f"receptive_field: upto={upto} but there are {len(layers)} layers")
    J, r, o = [1, 1], [1, 1], [0, 0]
    for module in layers[:upto + 1]:
        k, s, p, d = layer_geometry(module)
        for a in range(2):
            k_eff = d[a] * (k[a] - 1) + 1
            r[a] = r[a] + (k_eff - 1) * J[a]
            o[a] = o[a] - p[a] * J[a]
            J[a] = J[a] * s[a]
    return ReceptiveField(tuple(r), tuple(J), tuple(o))


def crop_box(image, box):
    """Crop (top, left, bottom, right) inclusive from (C, H, W), zero-padding outside."""
    c, h, w = image.shape
    top, left, bottom, right = box
    out = np.zeros((c, bottom - top + 1, right - left + 1), dtype=image.dtype)
    t0, l0 = max(top, 0), max(left, 0)
    b0, r0 = min(bottom, h - 1), min(right, w - 1)
    if b0 >= t0 and r0 >= l0:
        out[:, t0 - top:b0 - top + 1, l0 - left:r0 - left + 1] = image[:, t0:b0 + 1, l0:r0 + 1]
    return out


# --------------------------------------------------------------------------
# 2. the top-9 patches of a unit (Zeiler & Fergus)
# --------------------------------------------------------------------------

def layer_activations(layers, images, upto: int, batch_size: int = 256, device=None):
    """Outputs of ``layers[upto]`` for every image, as one host array (computed on ``device``,
    by default the layers' own).

    Shapes: images (N, C, H, W) float host array -> (N, C_l, H_l, W_l).
    """
    chain = nn.Sequential(*list(layers)[:upto + 1])
    device = device or module_device(nn.Sequential(*layers))
    outs = []
    with no_grad():
        for i in range(0, len(images), batch_size):
            x = Tensor(backend.to_device(np.ascontiguousarray(images[i:i + batch_size]), device))
            outs.append(backend.to_host(chain(x).data))
    return np.concatenate(outs, 0)


@dataclasses.dataclass
class TopPatches:
    patches: object        # (k, C, r_H, r_W) host array: the receptive fields, zero-padded
    scores: object         # (k,) the maximal activations, descending
    images: object         # (k,) dataset indices
    positions: object      # (k, 2) the winning unit (u, v) in each image
    field: ReceptiveField


def top_patches(layers, images, upto: int, channel: int, k: int = 9,
                batch_size: int = 256, device=None) -> TopPatches:
    """The k images whose channel ``channel`` of ``layers[upto]`` responds most strongly,
    each cropped to the receptive field of its strongest unit (Zeiler & Fergus, Fig. 2).

    One patch per image (the maximum over positions), as in Zeiler & Fergus's "top 9
    activations", so that nine copies of one striking image do not fill the grid.
    Shapes: images (N, C, H, W) float -> patches (k, C, r_H, r_W).
    """
    acts = layer_activations(layers, images, upto, batch_size, device)       # (N, C_l, H_l, W_l)
    if not 0 <= channel < acts.shape[1]:
        raise IndexError(f"top_patches: channel {channel} but layer {upto} has "
                         f"{acts.shape[1]} channels")
    a = acts[:, channel].reshape(len(images), -1)                              # (N, H_l W_l)
    best_pos = a.argmax(1)                                                     # (N,)
    best = a.max(1)                                                            # (N,)
    order = np.argsort(-best, kind="stable")[:k]
    field = receptive_field(layers, upto)
    w_l = acts.shape[3]
    positions = np.stack([best_pos[order] // w_l, best_pos[order] % w_l], 1)   # (k, 2)
    patches = np.stack([crop_box(images[i], field.box(u, v))
                        for i, (u, v) in zip(order, positions)])
    return TopPatches(patches, best[order], order, positions, field)


def patch_grid(patches, nrow: int = 3, pad: int = 1, scale: int = 1):
    """(k, C, h, w) patches -> one (H, W, 3) float image in [0, 1]; each patch is
    min-max normalised on its own (they come from different images)."""
    k, c, h, w = patches.shape
    rows = -(-k // nrow)
    grid = np.ones((rows * (h + pad) + pad, nrow * (w + pad) + pad, 3), np.float32)
    for i, p in enumerate(patches):
        p = p.astype(np.float32)
        p = (p - p.min()) / max(p.max() - p.min(), 1e-8)
        p = np.repeat(p, 3, 0) if c == 1 else p[:3]
        r, col = divmod(i, nrow)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h,
             pad + col * (w + pad):pad + col * (w + pad) + w] = p.transpose(1, 2, 0)
    if scale > 1:
        grid = grid.repeat(scale, 0).repeat(scale, 1)
    return grid


# --------------------------------------------------------------------------
# 3. activation maximisation (Simonyan et al.; Yosinski et al.)
# --------------------------------------------------------------------------

def roll2d(x: Tensor, dy: int, dx: int) -> Tensor:
    """Circular shift of (N, C, H, W) by (dy, dx), composed of slices and concat
    (so its gradient is the opposite shift)."""
    h, w = x.shape[2], x.shape[3]
    dy, dx = dy % h, dx % w
    if dy:
        x = ops.concat([x[:, :, h - dy:], x[:, :, :h - dy]], 2)
    if dx:
        x = ops.concat([x[:, :, :, w - dx:], x[:, :, :, :w - dx]], 3)
    return x


@dataclasses.dataclass
class AMConfig:
    """Activation maximisation settings (Yosinski et al. 2015, Sec. 3 and Table 1 style)."""
    steps: int = 200                 # gradient-ascent steps
    lr: float = 0.05                 # step size on the normalised gradient
    l2: float = 1e-3                 # lambda_2: L2 decay (Simonyan et al., eq. 1)
    tv: float = 1e-2                 # lambda_TV: smoothness (replaces Yosinski's blur)
    jitter: int = 2                  # random shifts of up to this many pixels each step
    clip: Optional[tuple] = (-1.0, 1.0)   # pixel range of the inputs the network saw
    seed: int = 0                    # seeds the starting image and the jitter


def unit_activation(layers, x: Tensor, upto: int, channel: int, unit=None) -> Tensor:
    """a_c(x): channel ``channel`` of ``layers[upto]`` at ``unit`` (u, v), per image;
    ``unit=None`` takes the centre unit. Shapes: (N, C, H, W) -> (N,)."""
    h = x
    for module in list(layers)[:upto + 1]:
        h = module(h)                                                     # (N, C_l, H_l, W_l)
    u, v = unit if unit is not None else (h.shape[2] // 2, h.shape[3] // 2)
    return h[:, channel, u, v]                                            # (N,)


def maximize_activation(layers, upto: int, channel: int, input_shape, config: AMConfig = None,
                        unit=None, x0=None, callback=None):
    """Gradient ascent on the input:  x <- x + lr g / mean|g|,
    g = grad_x [a_c(jitter(x)) - lambda_2 ||x||^2 - lambda_TV TV(x)].

    The step is normalised by the mean absolute gradient (a common choice that makes
    ``lr`` a step in pixel units whatever the activation's scale). The image starts from
    small noise (or ``x0``) and is clipped to ``config.clip`` after every step.
    Shapes: input_shape (C, H, W); returns the (1, C, H, W) host array x*.
    """
    config = config or AMConfig()
    rng = np.random.default_rng(config.seed)
    # A ReLU unit that is off has zero gradient, and ascent from small noise would never
    # start: maximise its input instead (relu is monotone, so the argmax is the same
    # whenever the unit can be switched on).
    if type(list(layers)[upto]).__name__ in ("ReLU", "LeakyReLU") and upto > 0:
        upto = upto - 1
    dtype = next(iter(nn.Sequential(*layers).parameters())).dtype
    device = module_device(nn.Sequential(*layers))                    # x lives with the weights
    x_data = (rng.normal(0.0, 0.1, (1,) + tuple(input_shape)) if x0 is None
              else np.asarray(x0).reshape((1,) + tuple(input_shape))).astype(dtype)
    for step in range(1, config.steps + 1):
        x = Tensor(backend.to_device(x_data, device), requires_grad=True)
        dy, dx = rng.integers(-config.jitter, config.jitter + 1, 2) if config.jitter else (0, 0)
        a = unit_activation(layers, roll2d(x, int(dy), int(dx)), upto, channel, unit).sum()
        objective = a - config.l2 * (x * x).sum() - config.tv * L.total_variation_loss(x, "sum")
        objective.backward()
        g = backend.to_host(x.grad.data)                                  # (1, C, H, W)
        x_data = x_data + config.lr * g / max(float(np.abs(g).mean()), 1e-12)
        if config.clip is not None:
            x_data = np.clip(x_data, *config.clip)
        x_data = x_data.astype(dtype)
        if callback is not None:
            callback(step, x_data, float(a.item()))
    return x_data


# --------------------------------------------------------------------------
# a small conv classifier on synthetic digits (the demo's subject)
# --------------------------------------------------------------------------

def lenet_layers(model) -> List:
    """LeNet's convolutional part as a list of layers, for receptive fields and ascent:
    conv1, ReLU, MaxPool(2), conv2, ReLU, MaxPool(2)."""
    return [model.conv1, nn.ReLU(), nn.MaxPool2d(2), model.conv2, nn.ReLU(), nn.MaxPool2d(2)]


def train_digit_classifier(steps: int = 300, batch_size: int = 64, n: int = 5000, seed: int = 0,
                           lr: float = 2e-3, log=print, device="cpu"):
    """Train ``tinygen.models.LeNet`` (widths 8, 16) on the synthetic digits, offline.

    Returns (model, test_images, test_accuracy); images are float32 (N, 1, 28, 28) in
    [-1, 1] (the loader's convention).
    """
    from tinygen import functional as F
    from tinygen.data import load_dataset, to_float
    from tinygen.models import LeNet
    from tinygen.optim import Adam
    backend.manual_seed(seed)
    rng = np.random.default_rng(seed)
    train = load_dataset("digits", "train", n=n, seed=seed)
    test = load_dataset("digits", "test", n=1000, seed=seed)
    x_train, x_test = to_float(train.x), to_float(test.x)                 # (N, 1, 28, 28)
    model = LeNet(1, 10, 28, widths=(8, 16), hidden=64).to(device)
    opt = Adam(list(model.parameters()), lr=lr)
    start = time.time()
    for step in range(1, steps + 1):
        idx = rng.integers(0, len(x_train), batch_size)
        logits = model(tinygen.tensor(x_train[idx], device=device))
        loss = F.cross_entropy(logits, tinygen.tensor(train.y[idx], device=device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps:
            log(f"  classifier step {step}/{steps}  loss={loss.item():.3f}  "
                f"({time.time() - start:.1f}s)")
    with no_grad():
        logits = [model(tinygen.tensor(x_test[i:i + 500], device=device))
                  for i in range(0, len(x_test), 500)]                    # (500, 10) each
        pred = np.concatenate([backend.to_host(t.data).argmax(1) for t in logits])
    return model, x_test, float((pred == test.y).mean())


# --------------------------------------------------------------------------
# the demo: tinygen demo visualize
# --------------------------------------------------------------------------

def _save_png(path, img, title="", caption=""):
    from tinygen.methods.style_transfer import save_png
    save_png(path, img, title, caption)


def demo_main(argv=None) -> int:
    """Train a small digit classifier offline, then show what its units respond to:
    receptive fields, top-9 patches and activation-maximisation images per unit."""
    p = argparse.ArgumentParser(prog="tinygen demo visualize", description=demo_main.__doc__,
                                formatter_class=R.DefaultsHelp)
    p.add_argument("--out", default=None, help="output folder (default: a new runs/visualize-* folder)")
    p.add_argument("--steps", type=int, default=300, help="classifier training steps")
    p.add_argument("--units", type=int, default=8, help="channels shown per layer")
    p.add_argument("--am-steps", type=int, default=150, help="activation-maximisation steps")
    p.add_argument("--vgg", action="store_true",
                   help="also visualise VGG19 conv units (needs vgg19-dcbb9e9d.pth)")
    p.add_argument("--device", default=backend.get_default_device(),
                   help="cpu, cuda or cuda:N (default: $TINYGEN_DEVICE or cpu)")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    out = args.out or R.new_folder("visualize")
    os.makedirs(out, exist_ok=True)
    written = []
    from tinygen.io.plot import save_gif
    print("training a LeNet-style classifier on synthetic digits (offline)...")
    model, x_test, acc = train_digit_classifier(steps=args.steps, device=args.device)
    print(f"  test accuracy {acc:.3f}")
    layers = lenet_layers(model)
    for name, upto in (("conv1", 1), ("conv2", 4)):
        field = receptive_field(layers, upto)
        print(f"{name}: receptive field {field.size[0]}x{field.size[1]} px, jump {field.jump[0]}")
        channels = list(range(min(args.units, layers[upto - 1].out_channels)))
        tops, ams = [], []
        for c in channels:
            tp = top_patches(layers, x_test, upto, c)
            tops.append(patch_grid(tp.patches, scale=max(2, 36 // field.size[0])))
            cfg = AMConfig(steps=args.am_steps, seed=c)
            frames = []
            record = (lambda step, x, a: frames.append(x[0]) if step % 5 == 0 else None) \
                if (name, c) == ("conv2", 0) else None
            x_star = maximize_activation(layers, upto, c, (1, 28, 28), cfg, callback=record)
            if frames:   # the ascent of one unit, as an animation (printed first)
                path = os.path.join(out, "conv2_unit0_ascent.gif")
                from tinygen.io.plot import common_size, titled
                save_gif(common_size([titled(patch_grid(f[None], nrow=1, pad=0, scale=4),
                                             f"conv2 unit 0: ascent step {5 * k}")
                                      for k, f in enumerate(frames)]), path,
                         duration_ms=120, hold_last_ms=1500)
                written.insert(0, path)
            crop = crop_box(x_star[0], field.box(*_centre(layers, upto)))
            ams.append(patch_grid(crop[None], nrow=1, pad=0, scale=tops[-1].shape[0] // crop.shape[1]))
        path = os.path.join(out, f"{name}_top9.png")
        _save_png(path, _row(tops), f"{name}: the 9 test patches that excite each unit most",
                  "one block per unit, left to right; each patch is the unit's receptive field")
        written.append(path)
        path = os.path.join(out, f"{name}_maximisation.png")
        _save_png(path, _row([_fit(a, tops[0].shape[0]) for a in ams]),
                  f"{name}: activation maximisation, one image per unit",
                  "gradient ascent on the input from noise, cropped to the unit's receptive field")
        written.append(path)
    if args.vgg:
        written += _vgg_demo(out, args)
    from tinygen.io.report import write_run_report
    command = (f"tinygen demo visualize --steps {args.steps} --units {args.units} "
               f"--am-steps {args.am_steps}" + (" --vgg" if args.vgg else ""))
    written.append(write_run_report(out, title="tinygen demo visualize: what the units see",
                                    command=command))
    for path in written:
        print(path)
    return 0


def _centre(layers, upto):
    """The centre unit (u, v) of layer ``upto`` for a 28x28 input."""
    with no_grad():
        h = tinygen.zeros(1, 1, 28, 28, device=module_device(nn.Sequential(*layers)))
        for m in list(layers)[:upto + 1]:
            h = m(h)
    return h.shape[2] // 2, h.shape[3] // 2


def _fit(img, height):
    """Pad an (h, w, 3) image with white to ``height`` rows (centred)."""
    if img.shape[0] >= height:
        return img[:height]
    top = (height - img.shape[0]) // 2
    out = np.ones((height, img.shape[1], 3), np.float32)
    out[top:top + img.shape[0]] = img
    return out


def _row(images, gap: int = 4):
    """Side by side, white gaps; all (h, w, 3) with the same h."""
    h = max(i.shape[0] for i in images)
    parts = []
    for i in images:
        parts += [_fit(i, h), np.ones((h, gap, 3), np.float32)]
    return np.concatenate(parts[:-1], 1)


def _vgg_demo(out, args) -> list:
    """Top-9 patches are too slow for VGG on a CPU; show activation maximisation of a few
    conv3_1 and conv4_1 channels when the weights are available."""
    from tinygen.methods.style_transfer import find_vgg_weights
    from tinygen.models import vgg
    path, reason = find_vgg_weights(None)
    if path is None:
        print(f"NOTICE: VGG19 weights ({vgg.VGG19_WEIGHTS}) not found{reason}; skipping the "
              f"VGG19 part.\n        Get them with `tinygen weights download {vgg.VGG19_WEIGHTS}`"
              f" or place the file at the path printed by `tinygen weights path "
              f"{vgg.VGG19_WEIGHTS}`.")
        return []
    model = vgg.vgg19(weights=path).to(args.device)
    layers = [model.normalize] + list(model.features)
    written = []
    for name in ("relu3_1", "relu4_1"):
        upto = 1 + model.layer_names.index(name)
        ims = []
        for c in range(min(args.units, 6)):
            cfg = AMConfig(steps=args.am_steps, lr=0.02, clip=(0.0, 1.0), seed=c, l2=1e-4, tv=1e-3)
            x = maximize_activation(layers, upto, c, (3, 64, 64), cfg,
                                    x0=0.5 + np.random.default_rng(c).normal(0, 0.05, (3, 64, 64)))
            ims.append(np.clip(x[0].transpose(1, 2, 0), 0, 1))
        path = os.path.join(out, f"vgg19_{name}_maximisation.png")
        _save_png(path, _row(ims), f"VGG19 {name}: activation maximisation, one image per unit",
                  "64x64 inputs, L2 + total-variation regularised gradient ascent")
        written.append(path)
    return written
