"""The run contract shared by every method: config, output folder, logging, checkpoints.

Every ``tinygen run METHOD`` (and every ``tinygen.methods.<m>.train(Config(...))``)
writes into one output folder:

    config.json       the full configuration (the paper's defaults unless overridden)
    metrics.jsonl     one JSON object per logged step: step, time, losses, metrics
    samples_*.png     sample grids (or 2-D scatter frames) at intervals
    progress.gif      the grids as an animation, where it helps
    samples.npz       array ``x`` (final samples in data space) and ``y`` (labels, if any)
    checkpoint.npz    models + optimizers + step + RNG state; ``--resume DIR`` continues

A method module defines ``Config`` (a dataclass deriving from :class:`RunConfig`,
one comment per field, the paper's values as defaults) and ``train(config)``.
The command line is generated from the dataclass, so options and defaults can
never drift apart.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Optional

from tinygen import backend
from tinygen.io.files import atomic_write_bytes, save_npz  # noqa: F401  (re-exported for methods)

np = backend.numpy   # host arrays only: samples and RNG states for files


@dataclasses.dataclass
class RunConfig:
    """Options every method accepts (``tinygen run METHOD --help`` lists them)."""
    dataset: str = "ring8"             # built-in name, folder:PATH or npz:PATH
    data_dir: Optional[str] = None     # where pre-downloaded dataset files are
    test_dataset: Optional[str] = None  # held-out data for evaluation (default: test split)
    steps: int = 1000                  # optimisation steps (generator steps for GANs)
    batch_size: int = 64
    seed: int = 0
    device: str = "cpu"                # cpu, cuda or cuda:N
    out: Optional[str] = None          # output folder (default: runs/<method>-<time>)
    resume: Optional[str] = None       # run folder or checkpoint file to continue from
    log_every: int = 100               # steps between metrics.jsonl lines
    sample_every: int = 500            # steps between sample grids / frames
    quiet: bool = False                # no progress line


def _jsonable(value):
    if dataclasses.is_dataclass(value):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


class Run:
    """An output folder plus the bookkeeping of one training run."""

    def __init__(self, config: RunConfig, method: str):
        self.config = config
        self.method = method
        if config.resume and not config.out:
            config.out = config.resume if os.path.isdir(config.resume) else \
                os.path.dirname(os.path.abspath(config.resume))
        if not config.out:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            config.out = os.path.join("runs", f"{method}-{stamp}")
        self.dir = config.out
        os.makedirs(self.dir, exist_ok=True)
        self.start_time = time.time()
        self.time_offset = 0.0
        self.frames = []
        self._progress = None
        atomic_write_bytes(self.path("config.json"),
                           json.dumps({"method": method, **_jsonable(config)}, indent=2).encode())
        if not config.resume and os.path.exists(self.path("metrics.jsonl")):
            os.remove(self.path("metrics.jsonl"))

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    # ----- metrics -------------------------------------------------------------------
    def log(self, step: int, **metrics) -> dict:
        """Append one line to metrics.jsonl: step, wall time since start, then the metrics."""
        record = {"step": int(step), "time": round(self.time_offset + time.time() - self.start_time, 3)}
        record.update({k: _jsonable(float(v) if hasattr(v, "item") else v)
                       for k, v in metrics.items()})
        with open(self.path("metrics.jsonl"), "a") as f:
            f.write(json.dumps(record) + "\n")
        if not self.config.quiet:
            self._show(record)
        return record

    def _show(self, record):
        if self._progress is None:
            try:
                from tinygen.io.progress import Progress
                self._progress = Progress(total=self.config.steps, desc=self.method)
            except ImportError:  # pragma: no cover
                self._progress = False
        if self._progress:
            self._progress.update(record["step"], **{k: v for k, v in record.items()
                                                     if k not in ("step", "time")})
        else:  # pragma: no cover
            print(json.dumps(record), flush=True)

    def close(self):
        if self._progress:
            self._progress.close()

    # ----- pictures --------------------------------------------------------------------
    def save_grid(self, images, name: str, nrow: int = 8, value_range=(-1.0, 1.0),
                  keep_frame: bool = True) -> str:
        """Save a PNG grid of images (N, C, H, W) in ``value_range``; remember it for the GIF."""
        from tinygen.io import save_image_grid
        path = self.path(name)
        grid = save_image_grid(_host(images), path, nrow=nrow, normalize=True,
                               value_range=value_range)
        if keep_frame and grid is not None:
            self.frames.append(grid)
        return path

    def save_frame(self, image, name: Optional[str] = None) -> None:
        """Remember a rendered frame (H, W, 3 uint8 array or PIL image); optionally save it."""
        frame = np.asarray(image)
        self.frames.append(frame)
        if name:
            from PIL import Image
            import io
            buffer = io.BytesIO()
            Image.fromarray(frame).save(buffer, format="PNG")
            atomic_write_bytes(self.path(name), buffer.getvalue())

    def save_gif(self, name: str = "progress.gif", duration_ms: int = 200) -> Optional[str]:
        if len(self.frames) < 2:
            return None
        from tinygen.io import save_gif
        path = self.path(name)
        save_gif(self.frames, path, duration_ms=duration_ms)
        return path

    # ----- samples and checkpoints -------------------------------------------------------
    def save_samples(self, x, y=None, name: str = "samples.npz") -> str:
        arrays = {"x": _host(x)}
        if y is not None:
            arrays["y"] = _host(y)
        save_npz(self.path(name), **arrays)
        return self.path(name)

    def save_checkpoint(self, step: int, extra_rngs: Optional[dict] = None, **objects) -> str:
        """models, optimizers (anything with state_dict) + step + RNG states -> checkpoint.npz."""
        from tinygen.io.checkpoint import save_checkpoint
        rng_state = {"tinygen": backend.get_rng_state()}
        for name, rng in (extra_rngs or {}).items():
            rng_state[name] = rng.bit_generator.state
        path = self.path("checkpoint.npz")
        save_checkpoint(path, step=step, rng_state=rng_state,
                        elapsed=self.time_offset + time.time() - self.start_time, **objects)
        return path

    def resume(self, extra_rngs: Optional[dict] = None, **objects) -> int:
        """Load ``config.resume`` into ``objects`` (and RNGs); return the step to continue from."""
        if not self.config.resume:
            return 0
        from tinygen.io.checkpoint import restore_checkpoint
        path = checkpoint_path(self.config.resume)
        state = restore_checkpoint(path, **objects)
        rngs = state.get("rng_state") or {}
        if "tinygen" in rngs:
            backend.set_rng_state(rngs["tinygen"])
        for name, rng in (extra_rngs or {}).items():
            if name in rngs:
                rng.bit_generator.state = rngs[name]
        self.time_offset = float(state.get("elapsed", 0.0))
        return int(state["step"])


def checkpoint_path(path: str) -> str:
    """A run folder or a checkpoint file -> the checkpoint file (clear error if missing)."""
    candidate = os.path.join(path, "checkpoint.npz") if os.path.isdir(path) else path
    if not os.path.isfile(candidate):
        raise FileNotFoundError(f"no checkpoint at {candidate!r}: pass a run folder containing "
                                "checkpoint.npz (written by `tinygen run`) or the file itself")
    return candidate


def _host(x):
    data = getattr(x, "data", x)
    return backend.to_host(data)


def seed_everything(seed: int):
    """Seed tinygen's host generator and return a separate numpy Generator for data order."""
    backend.manual_seed(seed)
    return np.random.default_rng(seed + 1)
