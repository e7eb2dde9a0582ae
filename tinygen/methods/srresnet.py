"""SRResNet: single-image super-resolution by a deep residual network trained with MSE.

Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial
Network", CVPR 2017, arXiv:1609.04802, Sec. 2.2 and 3.2 (SRResNet = the SRGAN generator
trained on the pixel-wise MSE alone). The training protocol, which EDSR and WDSR share:

    repeat for steps:
        draw B aligned patch pairs (x_LR p x p, x_HR sp x sp) from random images, each under
            a random flip / 90-degree rotation           (data.superres.SRPairs, degrade)
        y = G(x_LR)                                     (models.sr_nets.SRResNet)
        loss = mean (y - x_HR)^2        (SRResNet, eq. 3; EDSR: mean |y - x_HR|, Sec. 4.1)
        Adam step (lr 1e-4, beta = (0.9, 0.999) in both papers)
    evaluate: Y-channel PSNR / SSIM with an s-pixel border crop against bicubic and Lanczos

x_LR = bicubic(x_HR, 1/s) with MATLAB's imresize rule (tinygen.ops.bicubic), rounded to 8 bits.

The paper's sizes (``--preset paper``) are 16 blocks of 64 channels, 96 x 96 HR patches,
batch 16 and 10^6 steps: days on a GPU. The default preset ``small`` is a CPU budget of
about 15 minutes (measured in docs/super_resolution.md), with three departures that each buy
something at that budget:
    - 4 blocks of 32 channels: about 25 x fewer multiply-adds per pixel;
    - upsampler 'subpixel' (one conv to 3 s^2 channels + PixelShuffle(s), ESPCN): every
      conv runs at LR size; the paper's x2 stages at 2h and 4h cost more than the whole body;
    - residual over bicubic (VDSR, Kim et al. 2016): y = bicubic(x) + G(x), the last conv
      zero-initialised, so step 0 is already bicubic and every step can only add detail;
      with a larger lr (1e-3, halved at 50% and 75% of the steps).

EDSR and WDSR (``tinygen.methods.edsr``, ``.wdsr``) build on this file: they call
:func:`train_sr` with their own networks and the L1 loss. The commands ``tinygen sr`` and ``tinygen sr-eval`` live here too:
:func:`sr_main` and :func:`sr_eval_main`.

Notation / Shapes:
    s scale; p LR patch size; x_LR (B, 3, p, p); x_HR, y (B, 3, sp, sp); images in [0, 1]
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from typing import Literal, Optional

import tinygen
from tinygen import backend, optim
from tinygen.autograd import no_grad
from tinygen.data.superres import (SRPairs, crop_to_multiple, degrade, dihedral, rescaled,
                                   undihedral)
from tinygen.methods import run as R
from tinygen.models.sr_nets import build_sr_net
from tinygen.nn.module import module_device
from tinygen.ops.bicubic import imresize

np = backend.numpy   # host images, metrics, tiles


@dataclasses.dataclass
class Config(R.RunConfig):
    """tinygen run srresnet: SRResNet super-resolution (Ledig et al. 2017), MSE loss."""
    dataset: str = "scenes"            # training HR images: scenes (drawn offline), folder:PATH,
                                       # files:A.png,B.png or npz:PATH (array x)
    exclude: str = ""                  # comma-separated file names left out of a folder: dataset
                                       # (the held-out photos)
    test_dataset: Optional[str] = None  # HR images scored at the end (default: held-out scenes);
                                       # same forms as --dataset
    scale: int = 4                     # upscaling factor s (2, 3, 4 or 8)
    steps: int = 1000000               # Adam steps (the paper: 10^6)
    batch_size: int = 16               # patch pairs per step (the paper: 16)
    patch_size: int = 24               # LR patch side p; HR patches are s p (the paper: 96 / 4)
    lr: float = 1e-4                   # Adam's learning rate (the paper: 1e-4)
    lr_halvings: int = 0               # halve lr at 50%, 75%, ... of the steps (this many times)
    loss: Literal["mse", "l1"] = "mse"  # pixel loss (the paper: MSE, eq. 3; srgan: of its
                                       # SRResNet start)
    channels: int = 64                 # feature channels (the paper: 64)
    blocks: int = 16                   # residual blocks (the paper: 16)
    upsampler: Literal["pixelshuffle", "subpixel"] = "pixelshuffle"   # the paper's x2
                                       # conv+PixelShuffle stages, or one sub-pixel conv (ESPCN)
    residual: bool = False             # learn y - bicubic(x) (VDSR); departure of the small preset
    icnr: bool = False                 # ICNR init of every conv before a PixelShuffle (Aitken et
                                       # al. 2017): its s^2 phases start equal; departure, no SR
                                       # paper here used it (measured in docs, not adopted)
    augment: bool = True               # random flips and 90-degree rotations of every patch
    rescales: str = "1"                # also train on every HR image shrunk by these factors
                                       # (bicubic, e.g. 1,0.75,0.5: more, finer-grained content;
                                       # departure, the papers train on DIV2K as it is)
    eval_every: int = 0                # steps between held-out evaluations logged to
                                       # metrics.jsonl (0: only at the end)
    log_every: int = 100               # steps between metrics.jsonl lines
    sample_every: int = 500            # steps between picture frames (bicubic | SR | HR crops)
    checkpoint_every: int = 500        # steps between checkpoint.npz writes


PRESETS = {
    "paper": {},
    "small": dict(steps=1500, lr=1e-3, lr_halvings=2, channels=32, blocks=4,
                  upsampler="subpixel", residual=True, patch_size=24),
}
PRESET_DOCS = {"paper": "Sec. 3.2: 16 blocks of 64, x2 PixelShuffle stages, 96-px HR patches, "
                        "batch 16, Adam 1e-4, 10^6 steps",
               "small": "a ~15-minute CPU budget: 4 x 32 blocks, sub-pixel upsampler at LR "
                        "size, residual over bicubic, lr 1e-3 halved twice, 1500 steps"}


def default_preset(dataset: str) -> str:
    """``--preset auto``: the small CPU budget on every dataset (``--preset paper`` for the
    paper's sizes)."""
    return "small"


# ---------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------

def scenes(n: int, seed: int, size: int = 192):
    """n drawn landscape 'photos' (tinygen.methods.style_images.default_content), float32
    (size, size, 3): the offline default, made at run time, nothing downloaded."""
    from tinygen.methods.style_images import default_content
    return [default_content(size, seed=seed + i) for i in range(n)]


def load_hr_images(spec: str, exclude: str = "", split: str = "train"):
    """HR images of ``spec`` as float32 (H, W, 3) in [0, 1], any sizes -> (images, names).

    scenes (8 train / 2 test, different seeds), folder:PATH (every image file, sorted, less
    ``exclude``), files:A,B,... , npz:PATH (array x uint8 (N, H, W[, 3]) or float in [0, 1]).
    Grey images are read as RGB (R = G = B).
    """
    from tinygen.data.byo import load_photos
    if spec == "scenes":
        n, seed = (8, 0) if split == "train" else (2, 1000)
        return scenes(n, seed), [f"scene{seed + i}" for i in range(n)]
    if not spec.startswith(("folder:", "files:", "npz:")):
        raise ValueError(f"dataset {spec!r}: use scenes, folder:PATH, files:A,B or npz:PATH")
    return load_photos(spec, exclude)


# ---------------------------------------------------------------------------------------
# the model, the loss, one step
# ---------------------------------------------------------------------------------------

def build_models(config):
    return build_sr_net("srresnet", config.scale, config.channels, config.blocks,
                        config.upsampler, config.residual, icnr=config.icnr)


def pixel_loss(y, target, loss: str):
    """mean (y - x_HR)^2 (SRResNet, eq. 3) or mean |y - x_HR| (EDSR, Sec. 4.1)."""
    d = y - target
    return (d * d).mean() if loss == "mse" else tinygen.abs(d).mean()


def lr_at(config, step: int) -> float:
    """config.lr halved at 50%, 75%, 87.5%, ... of the steps (``lr_halvings`` times; a
    config with ``lr_factor`` multiplies by that instead of 0.5)."""
    lr, mark, factor = config.lr, 0.5, getattr(config, "lr_factor", 0.5)
    for _ in range(config.lr_halvings):
        if step > mark * config.steps:
            lr *= factor
        mark += (1 - mark) / 2
    return lr


# ---------------------------------------------------------------------------------------
# inference: whole images, tiled
# ---------------------------------------------------------------------------------------

def upscale(model, lr_image, tile: int = 128, overlap: int = 16, progress=None,
            self_ensemble: bool = False):
    """SR of one LR image (h, w, 3) float in [0, 1] -> (s h, s w, 3) float32 clipped to [0, 1].

    Large images go through in tiles of ``tile`` LR pixels with ``overlap`` pixels of context
    on each side (the context is computed and thrown away, so seams only appear where the
    receptive field reaches further than ``overlap``). ``progress(done, total)`` is called
    after each tile.

    ``self_ensemble``: EDSR's geometric self-ensemble (Lim et al. 2017, Sec. 4.2, "EDSR+"):
    the mean of T_k^-1(G(T_k(x))) over the 8 flips / quarter turns T_k, 8x the cost.
    """
    if self_ensemble:
        chw = np.ascontiguousarray(lr_image.transpose(2, 0, 1))             # (3, h, w)
        ys = []
        for k in range(8):
            step = None if progress is None else \
                (lambda done, total, k=k: progress(k * total + done, 8 * total))
            y = upscale(model, dihedral(chw, k).transpose(1, 2, 0), tile, overlap, step)
            ys.append(undihedral(y.transpose(2, 0, 1), k))                  # (3, s h, s w)
        return np.mean(ys, axis=0).transpose(1, 2, 0).astype(np.float32)    # (s h, s w, 3)
    s = model.scale
    h, w = lr_image.shape[:2]
    out = np.zeros((3, s * h, s * w), np.float32)
    x = np.ascontiguousarray(lr_image.transpose(2, 0, 1), dtype=np.float32)   # (3, h, w)
    ys, xs = range(0, h, tile), range(0, w, tile)
    total, done = len(ys) * len(xs), 0
    device = module_device(model)
    model.eval()
    with no_grad():
        for y0 in ys:
            for x0 in xs:
                y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
                a, b = max(0, y0 - overlap), max(0, x0 - overlap)            # with context
                c, d = min(h, y1 + overlap), min(w, x1 + overlap)
                t = tinygen.tensor(x[None, :, a:c, b:d], device=device)     # (1, 3, th, tw)
                sr = backend.to_host(model(t).data)[0]                      # (3, s th, s tw)
                out[:, s * y0:s * y1, s * x0:s * x1] = \
                    sr[:, s * (y0 - a):s * (y1 - a), s * (x0 - b):s * (x1 - b)]
                done += 1
                if progress is not None:
                    progress(done, total)
    return np.clip(out, 0.0, 1.0).transpose(1, 2, 0)


def baselines(lr_image, scale: int) -> dict:
    """The classical upscalings of an LR image: MATLAB bicubic and Pillow-rule Lanczos-3."""
    return {
        "bicubic": np.clip(imresize(lr_image, scale, method="matlab"), 0, 1),
        "lanczos": np.clip(imresize(lr_image, scale, method="pillow", kernel="lanczos3"), 0, 1),
    }


def evaluate(model, hr_images, names, scale: int, tile: int = 128):
    """Per image: Y-PSNR / SSIM (s-pixel border crop) of SR, bicubic and Lanczos -> (rows, SRs)."""
    from tinygen.metrics.image_quality import psnr_y, ssim_y
    rows, outputs = [], []
    for hr, name in zip(hr_images, names):
        hr = crop_to_multiple(hr, scale)
        lr = degrade(hr, scale)
        sr = upscale(model, lr, tile=tile)
        outputs.append(sr)
        row = {"image": name}
        for key, im in {"sr": sr, **baselines(lr, scale)}.items():
            row[f"psnr_y_{key}"] = psnr_y(im, hr, scale)
            row[f"ssim_y_{key}"] = ssim_y(im, hr, scale)
        rows.append(row)
    return rows, outputs


def _means(rows) -> dict:
    keys = [k for k in rows[0] if k != "image"]
    return {k: float(np.mean([r[k] for r in rows])) for k in keys}


def _frame(model, hr, scale: int, size: int = 64):
    """A picture of the centre crop: bicubic | SR | HR, (3, S, 3 S) for the run's frames."""
    hr = crop_to_multiple(hr, scale)
    H, W = hr.shape[:2]
    c = size * scale
    y0, x0 = max(0, (H - c) // 2) // scale * scale, max(0, (W - c) // 2) // scale * scale
    crop = hr[y0:y0 + c, x0:x0 + c]
    lr = degrade(crop, scale)
    row = [baselines(lr, scale)["bicubic"], upscale(model, lr), crop]
    return np.concatenate(row, axis=1).transpose(2, 0, 1)


# ---------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------

def sr_data(config):
    """-> (SRPairs of the training images, test HR images, their names) for ``config``."""
    train_images, _ = load_hr_images(config.dataset, config.exclude, "train")
    test_spec = config.test_dataset or ("scenes" if config.dataset == "scenes" else None)
    if test_spec:
        test_images, test_names = load_hr_images(test_spec, "", "test")
    else:
        test_images, test_names = train_images[-1:], ["(training image)"]
    return SRPairs(rescaled(train_images, config.rescales), config.scale), test_images, test_names


class SRMonitor:
    """What every SR run does around its update (SRResNet, EDSR, WDSR, SRGAN): frames, log
    lines with the held-out evaluation (every ``eval_every`` steps and at the end),
    predictions.npz and eval.json at the end.

    ``frame(model, hr)`` draws the picture of one test image (default: bicubic | SR | HR).
    """

    def __init__(self, run, config, model, test_images, test_names, frame=None,
                 columns: str = "bicubic | SR | HR"):
        self.run, self.config, self.model = run, config, model
        self.test_images, self.test_names = test_images, test_names
        self.frame = frame or (lambda m, hr: _frame(m, hr, config.scale))
        self.columns = columns
        self.rows = self.outputs = None

    def step_done(self, step: int, **losses) -> None:
        run, config = self.run, self.config
        run.record(step, **losses)
        if run.due(step, config.sample_every):
            run.save_grid(self.frame(self.model, self.test_images[0])[None],
                          f"sr_{step:06d}.png", nrow=1, value_range=(0.0, 1.0),
                          title=f"{run.method} x{config.scale}, step {step}: {self.columns} "
                                f"({self.test_names[0]}, centre)")
        if run.due(step, config.log_every):
            extra = {}
            if step == config.steps or (config.eval_every and step % config.eval_every == 0):
                t0 = time.time()
                self.rows, self.outputs = evaluate(self.model, self.test_images,
                                                   self.test_names, config.scale)
                extra = {f"test_{k}": v for k, v in _means(self.rows).items()}
                extra.update({f"test_psnr_y_sr[{r['image']}]": r["psnr_y_sr"] for r in self.rows})
                extra["eval_s"] = round(time.time() - t0, 3)
            run.log(step, **extra)

    def finish(self, **objects) -> str:
        """The last checkpoint (``objects``), report, predictions.npz and eval.json."""
        import json
        if self.rows is None:                 # resumed at the end: nothing left to train
            self.rows, self.outputs = evaluate(self.model, self.test_images, self.test_names,
                                               self.config.scale)
        self.run.finish(**objects)
        R.save_image_predictions(self.run.path("predictions.npz"), self.outputs, self.test_names)
        from tinygen.io.files import atomic_write_bytes
        atomic_write_bytes(self.run.path("eval.json"), json.dumps(
            {"scale": self.config.scale, "images": self.rows, "mean": _means(self.rows)},
            indent=2).encode())
        return self.run.dir


def train_sr(config, method: str, build) -> str:
    """The SR training protocol (module docstring) for the network ``build(config)`` makes
    (after the run has seeded the generator); shared with EDSR and WDSR.

    Writes metrics.jsonl (loss, lr; at the end test_psnr_y and its bicubic / Lanczos
    baselines), frames, predictions.npz (``x``: the SR test images as uint8 (N, H, W, 3),
    or ``x_0``, ``x_1``, ... when their sizes differ, with ``names``) and eval.json.
    """
    run = R.Run(config, method)
    pairs, test_images, test_names = sr_data(config)
    model = build(config).to(config.device)
    opt = optim.Adam(model.parameters(), lr=config.lr)
    monitor = SRMonitor(run, config, model, test_images, test_names)
    for step in run.steps(run.resume(model=model, optimizer=opt)):
        lr_now = set_lr(opt, lr_at(config, step))
        model.train()
        x_lr, x_hr = pairs.patches(config.batch_size, config.patch_size, run.data_rng,
                                   config.augment)          # (B, 3, p, p), (B, 3, sp, sp)
        y = model(tinygen.tensor(x_lr, device=config.device))           # (B, 3, sp, sp)
        value = pixel_loss(y, tinygen.tensor(x_hr, device=config.device), config.loss)
        R.descend(value, opt)
        monitor.step_done(step, loss=value, lr=lr_now)
        run.checkpoint(step, model=model, optimizer=opt)
    return monitor.finish(model=model, optimizer=opt)


def set_lr(optimizer, lr: float) -> float:
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


def train(config: Config) -> str:
    """Train SRResNet with ``config.loss`` (the paper's MSE by default); returns the run folder."""
    return train_sr(config, "srresnet", build_models)


# ---------------------------------------------------------------------------------------
# tinygen sr / tinygen sr-eval
# ---------------------------------------------------------------------------------------

SR_METHODS = ("srresnet", "edsr", "wdsr", "srgan")   # runs `tinygen sr` / sr-eval can load


def load_sr_model(checkpoint: str):
    """The network of an SR run (SR_METHODS; folder or checkpoint file) -> (model, config)."""
    import importlib
    from tinygen.io.checkpoint import restore_checkpoint
    from tinygen.methods import METHODS
    saved = R.read_config(checkpoint)
    method = saved.get("method")
    if method not in SR_METHODS:
        raise ValueError(f"--checkpoint {checkpoint}: a {method} run, not a super-resolution "
                         f"run ({', '.join(SR_METHODS)})")
    module = importlib.import_module(METHODS[method])
    config = module.Config(**{**R.config_options(saved, module.Config), "out": None,
                              "resume": None, "device": "cpu"})
    model = module.build_models(config)
    restore_checkpoint(R.checkpoint_path(checkpoint), model=model)
    model.eval()
    return model, config


def _read_rgb(path: str):
    from tinygen.io.images import read_image
    return read_image(path, mode="RGB").astype(np.float32) / 255.0


def sr_main(argv=None) -> int:
    """``tinygen sr INPUT --scale S --checkpoint RUN_OR_FILE --out FILE.png``."""
    p = argparse.ArgumentParser(prog="tinygen sr", formatter_class=R.DefaultsHelp,
                                description="Upscale an image file of any size with a trained "
                                            "srresnet / edsr / wdsr / srgan run (tiled, with "
                                            "progress).")
    p.add_argument("input", help="the low-resolution image file")
    p.add_argument("--scale", type=int, required=True, help="upscaling factor (the run's)")
    p.add_argument("--checkpoint", required=True, help="a run folder or its checkpoint.npz")
    p.add_argument("--out", required=True, help="the PNG to write")
    p.add_argument("--tile", type=int, default=128, help="LR tile side for large inputs")
    p.add_argument("--overlap", type=int, default=16, help="LR context pixels around each tile")
    p.add_argument("--device", default=backend.get_default_device(),
                   help="cpu, cuda or cuda:N (default: $TINYGEN_DEVICE or cpu)")
    p.add_argument("--self-ensemble", action="store_true",
                   help="EDSR's geometric self-ensemble (Lim et al. Sec. 4.2): the mean over "
                        "the 8 flips / quarter turns, 8x the cost")
    a = p.parse_args(argv)
    model, config = load_sr_model(a.checkpoint)
    if a.scale != config.scale:
        raise ValueError(f"--scale {a.scale}: the checkpoint was trained for x{config.scale}")
    model.to(a.device)
    lr = _read_rgb(a.input)
    from tinygen.io.progress import Progress
    tiles = -(-lr.shape[0] // a.tile) * -(-lr.shape[1] // a.tile) * (8 if a.self_ensemble else 1)
    bar = Progress(total=tiles, desc="sr tiles")
    t0 = time.time()
    sr = upscale(model, lr, tile=a.tile, overlap=a.overlap,
                 progress=lambda done, total: bar.update(done), self_ensemble=a.self_ensemble)
    bar.close()
    from tinygen.io import save_image
    save_image(np.round(sr * 255).astype(np.uint8), a.out)
    print(f"{a.out}: {lr.shape[1]}x{lr.shape[0]} -> {sr.shape[1]}x{sr.shape[0]} "
          f"({time.time() - t0:.1f} s)")
    return 0


def sr_eval_main(argv=None) -> int:
    """``tinygen sr-eval HR [HR ...] --scale S [--checkpoint RUN]``: degrade each HR image by
    bicubic 1/S, upscale it again, report Y-PSNR / SSIM (S-pixel border crop) of the model
    beside bicubic and Lanczos-3."""
    import json
    p = argparse.ArgumentParser(prog="tinygen sr-eval", formatter_class=R.DefaultsHelp,
                                description=sr_eval_main.__doc__.split("``: ")[1])
    p.add_argument("hr", nargs="+", help="high-resolution image files (or one folder)")
    p.add_argument("--scale", type=int, required=True, help="upscaling factor")
    p.add_argument("--checkpoint", default=None,
                   help="an srresnet / edsr / wdsr / srgan run (else the classical baselines)")
    p.add_argument("--json", default=None, help="also write the table as JSON to this file")
    p.add_argument("--self-ensemble", action="store_true",
                   help="also score the model with EDSR's geometric self-ensemble (Lim et al. "
                        "Sec. 4.2: mean over the 8 flips / quarter turns, 8x the cost)")
    a = p.parse_args(argv)
    files = a.hr
    if len(files) == 1 and os.path.isdir(files[0]):
        from tinygen.data.byo import _images_in
        files = _images_in(files[0])
    from tinygen.metrics.image_quality import psnr_y, ssim_y
    model = None
    if a.checkpoint:
        model, config = load_sr_model(a.checkpoint)
        if config.scale != a.scale:
            raise ValueError(f"--scale {a.scale}: the checkpoint was trained for x{config.scale}")
    rows = []
    for f in files:
        hr = crop_to_multiple(_read_rgb(f), a.scale)
        lr = degrade(hr, a.scale)
        outs = baselines(lr, a.scale)
        if model is not None:
            outs["sr"] = upscale(model, lr)
            if a.self_ensemble:
                outs["sr_ensemble"] = upscale(model, lr, self_ensemble=True)
        row = {"image": os.path.basename(f)}
        for key, im in outs.items():
            row[f"psnr_y_{key}"] = psnr_y(im, hr, a.scale)
            row[f"ssim_y_{key}"] = ssim_y(im, hr, a.scale)
        rows.append(row)
    keys = [k for k in rows[0] if k != "image"]
    print("image".ljust(18) + "".join(k.replace("psnr_y_", "PSNR ").replace("ssim_y_", "SSIM ")
                                      .rjust(14) for k in keys))
    for r in rows + [{"image": "mean", **_means(rows)}]:
        print(str(r["image"])[:17].ljust(18) + "".join(f"{r[k]:14.4f}" for k in keys))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"scale": a.scale, "images": rows, "mean": _means(rows)}, fh, indent=2)
    sys.stdout.flush()
    return 0


__all__ = ["Config", "PRESETS", "build_models", "pixel_loss", "train_sr", "sr_data", "SRMonitor",
           "set_lr", "lr_at", "train", "upscale",
           "evaluate", "baselines", "load_hr_images", "load_sr_model", "sr_main", "sr_eval_main"]
