"""The run contract every method uses the same way: folder, config, logging, checkpoints, samples.

Every ``tinygen run METHOD`` (and every ``tinygen.methods.<m>.train(Config(...))``)
writes into one output folder:

    config.json       the full configuration (method name, preset, every option)
    metrics.jsonl     one JSON object per logged step: step, time, losses, metrics
    frames/*.png      sample grids (or 2-D scatter frames) at intervals, e.g.
                      frames/samples_000500.png
    progress.gif      the grids as an animation, where it helps
    report.html       one self-contained page: config (departures from the paper marked),
                      curves, the frames with a step slider, final numbers, the command
                      that reproduces the run (tinygen.io.report; ``tinygen report DIR``)
    samples.npz       array ``x`` (final samples in data space) and ``y`` (labels, if any)
    checkpoint.npz    models + optimizers + step + RNG states, every ``checkpoint_every``
                      steps and at the end; ``--resume DIR`` continues bit for bit

A method module defines ``Config`` (a dataclass deriving from :class:`RunConfig`, one
comment per field that is also its ``--help`` text, the paper's values as defaults or a
flagged departure) and ``train(config) -> run folder``, its own loop, shaped like this:

    run = Run(config, "gan")                         # seeds, folder, config.json
    ... load data, build models and optimizers ...
    start = run.resume(G=G, D=D, opt_g=opt_g, opt_d=opt_d)
    for step in run.steps(start):                    # start+1 .. config.steps
        ... the paper's algorithm box ...
        run.record(step, loss_d=..., loss_g=...)     # averaged until the next log line
        if run.due(step, config.log_every):
            run.log(step, **evaluation)
        run.checkpoint(step, G=G, D=D, opt_g=opt_g, opt_d=opt_d)
    run.finish(G=G, D=D, opt_g=opt_g, opt_d=opt_d)   # last checkpoint, GIF, report.html

No method-specific option lives here. The sampling helpers at the end (noise, batches of
real data, generator samples, their metrics and the samples.npz layout) are the ones
every generative method shares.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import json
import math
import os
import signal
import sys
import time
from typing import Optional

import tinygen
from tinygen import backend, optim
from tinygen.data.arrays import to_uint8_images
from tinygen.io.files import append_line, atomic_write_bytes, save_npz
from tinygen.optim.lr_scheduler import LambdaLR, constant_then_linear

np = backend.numpy   # host arrays only: samples, metrics and RNG states for files


@dataclasses.dataclass
class RunOptions:
    """Options of every run, data-driven or not (``tinygen run METHOD --help`` lists them)."""
    steps: int = 1000                  # optimisation steps (generator steps for GANs)
    seed: int = 0                      # seeds the weights, the data order and every sample
    device: str = dataclasses.field(default_factory=backend.get_default_device)  # cpu, cuda or
                                       # cuda:N (tinygen's default device: $TINYGEN_DEVICE or cpu)
    out: Optional[str] = None          # output folder (default: a new runs/<method>-<time>)
    log_every: int = 100               # steps between metrics.jsonl lines
    sample_every: int = 500            # steps between sample grids / frames
    quiet: bool = False                # no progress line

    def __post_init__(self):
        for name in ("steps", "log_every", "sample_every"):
            _check_positive(self, name)
        _check_numbers(self)
        backend.array_module_for(self.device)        # DeviceError: no such device here


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_positive(config, name: str) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{_flag(name)} must be a whole number >= 1, got {value!r}")


def _check_numbers(config) -> None:
    """Every float option is finite, and every learning rate (``lr``, ``lr_*``) is > 0:
    a NaN learning rate would otherwise train for the whole budget on NaN losses."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if isinstance(value, bool) or not isinstance(value, float):
            continue
        if not math.isfinite(value):
            raise ValueError(f"{_flag(field.name)} must be a finite number, got {value!r}")
        if (field.name == "lr" or field.name.startswith("lr_")) and value <= 0:
            raise ValueError(f"{_flag(field.name)} is a learning rate and must be > 0, "
                             f"got {value!r}")


@dataclasses.dataclass
class RunConfig(RunOptions):
    """Options of every method that trains on a dataset."""
    dataset: str = "ring8"             # built-in name, folder:PATH or npz:PATH
    data_dir: Optional[str] = None     # where pre-downloaded dataset files are
    test_dataset: Optional[str] = None  # held-out data for evaluation (default: test split)
    batch_size: int = 64               # examples per step
    resume: Optional[str] = None       # run folder or checkpoint file to continue from
    checkpoint_every: int = 500        # steps between checkpoint.npz writes (and at the end)

    def __post_init__(self):
        super().__post_init__()
        _check_positive(self, "batch_size")
        if self.checkpoint_every < 0:
            raise ValueError(f"--checkpoint-every must be >= 0 (0: only at the end), "
                             f"got {self.checkpoint_every}")


@dataclasses.dataclass
class SamplingConfig(RunConfig):
    """Options of methods that generate samples: how many to score and to keep."""
    n_train: int = 0                   # training examples to load (0 = the dataset's default)
    n_eval: int = 2500                 # samples scored at each log step (VEEGAN's mode metrics
                                       # use 2,500)
    n_samples: int = 2500              # final samples in samples.npz (images: at least 512)
    domain_eval: int = 0               # images: steps between domain FID/IS + precision/recall of
                                       # n_eval samples (a multiple of log_every; 0 = off;
                                       # tinygen.metrics.domain)


def jsonable(value):
    """Dataclasses, tuples, NumPy scalars ... -> plain JSON values."""
    if dataclasses.is_dataclass(value):
        return {k: jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


def new_folder(prefix: str, root: str = "runs") -> str:
    """A fresh ``root/prefix-YYYYmmdd-HHMMSS[-i]`` folder (created; never an existing one)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, i = os.path.join(root, f"{prefix}-{stamp}"), 1
    while True:
        try:
            os.makedirs(path)
            return path
        except FileExistsError:
            i += 1
            path = os.path.join(root, f"{prefix}-{stamp}-{i}")


class Run:
    """An output folder plus the bookkeeping of one training run.

    Seeding happens here, first, so that every method builds its models from the same
    stream: ``data_rng`` orders the data, ``eval_rng`` draws every picture and every
    evaluation sample (so looking at a run never changes it), tinygen's own generator
    initialises weights and draws the training noise. All three are checkpointed.
    """

    def __init__(self, config: RunOptions, method: str):
        self.config = config
        self.method = method
        backend.manual_seed(config.seed)
        self.data_rng = np.random.default_rng(config.seed + 1)
        self.eval_rng = np.random.default_rng(config.seed + 2)
        resume = config.resume if isinstance(config, RunConfig) else None
        if resume and not config.out:
            config.out = run_folder(resume)
        if config.out:
            _check_out_folder(config.out, resume)
            os.makedirs(config.out, exist_ok=True)
        else:
            config.out = new_folder(method)
        self.dir = config.out
        remove_temporary_files(self.dir)             # left by a run killed mid-write
        self.start_time = time.time()
        self.time_offset = 0.0
        self.frames = []
        self._window, self._window_steps = [], []    # recorded values since the last log line
        self._progress = None
        self._t_first = None
        self._signal = None            # SIGINT / SIGTERM received: stop at the next checkpoint
        self._handlers = {}
        self._last_checkpoint = None
        if not resume:                 # a resumed run rewrites it once its checkpoint has loaded
            self._write_config()
        if not config.quiet:
            print(f"tinygen {method}: writing {self.dir}", file=sys.stderr, flush=True)

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def _write_config(self) -> None:
        atomic_write_bytes(self.path("config.json"), json.dumps(
            {"method": self.method, **jsonable(self.config)}, indent=2).encode())

    # ----- the loop ------------------------------------------------------------------
    def steps(self, start: int = 0) -> range:
        """Steps ``start + 1 .. config.steps`` (1-based: step s is the s-th update).

        From here until :meth:`close`, SIGINT (Ctrl-C) and SIGTERM do not kill the run: the
        step under way finishes, :meth:`checkpoint` writes checkpoint.npz and raises
        :class:`Interrupted`. A second signal stops at once.
        """
        self._t_first, self._first_step = time.time(), start
        self._catch_signals()
        return range(start + 1, self.config.steps + 1)

    def _catch_signals(self) -> None:
        def handler(signum, frame):
            if self._signal is not None:             # the second one: stop now
                self._restore_signals()
                raise KeyboardInterrupt
            self._signal = signum
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self._handlers[signum] = signal.signal(signum, handler)
            except ValueError:                       # not the main thread: leave them be
                return

    def _restore_signals(self) -> None:
        for signum, previous in self._handlers.items():
            signal.signal(signum, previous)
        self._handlers = {}

    def due(self, step: int, every: int) -> bool:
        """True every ``every`` steps and at the last step (``every`` <= 0: only the last)."""
        return (every > 0 and step % every == 0) or step == self.config.steps

    def record(self, step: int, **values) -> None:
        """Remember this step's losses (averaged into the next log line); update the progress.

        A value is a number or a 0-d tensor/array. Host values are read at once; a GPU's are
        kept as they are and read when the window is logged or checkpointed (reading one waits
        for the GPU: a training step on a GPU never does). A non-finite loss ends the run
        (:class:`NonFiniteLoss`), at the latest before the next checkpoint: training on would
        only overwrite the last good checkpoint with NaN weights.
        """
        values = {k: _scalar(v) for k, v in values.items()}
        self._check_finite(step, values)
        self._window.append(values)
        self._window_steps.append(step)
        if not self.config.quiet and step != self.config.steps:   # the last: its log line
            self._show(step, {k: v for k, v in values.items() if isinstance(v, float)})

    def _check_finite(self, step, values) -> None:
        bad = [k for k, v in values.items() if isinstance(v, float) and not math.isfinite(v)]
        if bad:
            self.close()
            kept = (f"the last good checkpoint is {self.path('checkpoint.npz')} (step "
                    f"{self._last_checkpoint})" if self._last_checkpoint is not None
                    else "no checkpoint was written yet")
            raise NonFiniteLoss(f"step {step}: {bad[0]} is {values[bad[0]]}, so the run stopped; "
                                f"{kept}. Lower the learning rate(s) or check the data")

    def _read_window(self) -> None:
        """Read the GPU values of the window (one wait for the device), checking each step's."""
        for i, values in enumerate(self._window):
            if any(not isinstance(v, float) for v in values.values()):
                self._window[i] = values = {k: v if isinstance(v, float) else
                                            float(backend.to_host(v)) for k, v in values.items()}
                self._check_finite(self._window_steps[i], values)

    def log(self, step: int, **metrics) -> dict:
        """Append one line to metrics.jsonl: step, time, the recorded means, then ``metrics``."""
        record = {"step": int(step),
                  "time": round(self.time_offset + time.time() - self.start_time, 3)}
        self._read_window()
        if self._window:
            keys = [k for k in self._window[-1]]
            record.update({k: float(np.mean([w[k] for w in self._window if k in w]))
                           for k in keys})
            self._window, self._window_steps = [], []
        record.update({k: jsonable(float(v) if hasattr(v, "item") else v)
                       for k, v in metrics.items()})
        if self._t_first is not None:
            record["sec_per_step"] = round((time.time() - self._t_first)
                                           / max(1, step - self._first_step), 5)
        append_line(self.path("metrics.jsonl"), json.dumps(record))
        if not self.config.quiet:
            self._show(step, record)
        return record

    def _show(self, step, values):
        if self._progress is None:
            from tinygen.io.progress import Progress
            self._progress = Progress(total=self.config.steps, desc=self.method)
        self._progress.update(step, **{k: v for k, v in values.items()
                                       if k not in ("step", "time", "sec_per_step")})

    # ----- pictures --------------------------------------------------------------------
    def save_grid(self, images, name: str, nrow: int = 8, value_range=(-1.0, 1.0),
                  keep_frame: bool = True, title: Optional[str] = None) -> str:
        """Save a PNG grid of images (N, C, H, W) in ``value_range`` as ``frames/NAME``, titled
        (``title``, or "METHOD on DATASET: samples, step S" read from a ``what_STEP.png``
        name); remember it for the GIF."""
        from tinygen.io import make_grid, save_image
        from tinygen.io.plot import titled
        grid = make_grid(to_host(images), nrow=nrow, normalize=True, value_range=value_range)
        picture = np.asarray(titled(grid, title or self._grid_title(name)))
        path = self.path(os.path.join(FRAMES, name))
        save_image(picture, path)
        if keep_frame:
            self.frames.append(picture)
        return path

    def _grid_title(self, name: str) -> str:
        what, _, step = os.path.splitext(name)[0].rpartition("_")
        where = f" on {self.config.dataset}" if isinstance(self.config, RunConfig) else ""
        if what and step.isdigit():
            return f"{self.method}{where}: {what.replace('_', ' ')}, step {int(step)}"
        return f"{self.method}{where}: {os.path.splitext(name)[0].replace('_', ' ')}"

    def save_frame(self, image, name: Optional[str] = None) -> None:
        """Remember a rendered frame (H, W, 3 uint8 array or PIL image); optionally save it
        as ``frames/NAME``."""
        frame = np.asarray(image)
        self.frames.append(frame)
        if name:
            from tinygen.io import save_image
            save_image(frame, self.path(os.path.join(FRAMES, name)))

    def save_gif(self, name: str = "progress.gif", duration_ms: int = 200) -> Optional[str]:
        """The remembered frames as an animated GIF (when there are at least two)."""
        if len(self.frames) < 2:
            return None
        from tinygen.io import save_gif
        from tinygen.io.plot import common_size
        path = self.path(name)
        save_gif(common_size(self.frames), path, duration_ms=duration_ms)
        return path

    # ----- samples and checkpoints -------------------------------------------------------
    def save_samples(self, x, y=None, name: str = "samples.npz") -> str:
        arrays = {"x": to_host(x)}
        if y is not None:
            arrays["y"] = to_host(y)
        save_npz(self.path(name), **arrays)
        return self.path(name)

    def _rngs(self) -> dict:
        return {"data": self.data_rng, "eval": self.eval_rng}

    def save_checkpoint(self, step: int, **objects) -> str:
        """models, optimizers (anything with state_dict) + step + RNG states -> checkpoint.npz."""
        from tinygen.io.checkpoint import save_checkpoint
        rng_state = {"tinygen": backend.get_rng_state()}
        rng_state.update({name: rng.bit_generator.state for name, rng in self._rngs().items()})
        path = self.path("checkpoint.npz")
        self._read_window()                          # a NaN stops the run before it is saved
        save_checkpoint(path, step=step, rng_state=rng_state, method=self.method,
                        elapsed=self.time_offset + time.time() - self.start_time,
                        log_window=self._window, **objects)   # losses since the last log line
        self._last_checkpoint = step
        return path

    def checkpoint(self, step: int, **objects) -> None:
        """Call at the end of every step: writes checkpoint.npz every ``config.checkpoint_every``
        steps (the last one: :meth:`finish`), and at once after SIGINT / SIGTERM, then raises
        :class:`Interrupted`."""
        every = self.config.checkpoint_every if isinstance(self.config, RunConfig) else 0
        if self._signal is not None:
            signum = self._signal
            resumable = isinstance(self.config, RunConfig)
            if resumable:
                self.save_checkpoint(step, **objects)
            self.close()
            raise Interrupted(signum, f"{signal.Signals(signum).name} at step {step}: "
                              + (f"checkpoint written; continue with --resume {self.dir}"
                                 if resumable else "stopped"))
        if every > 0 and step % every == 0 and step != self.config.steps:
            self.save_checkpoint(step, **objects)

    def resume(self, **objects) -> int:
        """Load ``config.resume`` into ``objects`` and the RNGs; return the step to continue from.

        metrics.jsonl keeps only the lines up to that step, so a run killed after its last
        checkpoint and resumed logs every step once.
        """
        if not isinstance(self.config, RunConfig) or not self.config.resume:
            return 0
        from tinygen.io.checkpoint import load_checkpoint, restore_state
        path = checkpoint_path(self.config.resume)
        state = load_checkpoint(path)
        if state.get("method", self.method) != self.method:
            raise ValueError(f"--resume {self.config.resume}: the checkpoint belongs to a "
                             f"{state['method']} run, not {self.method}; resume it with "
                             f"`tinygen run {state['method']} --resume ...`")
        restore_state(state, path, **objects)
        if int(state["step"]) > self.config.steps:
            raise ValueError(f"--resume {self.config.resume}: the checkpoint is at step "
                             f"{int(state['step'])} but --steps is {self.config.steps}; "
                             "pass --steps of at least the checkpoint's step")
        rngs = state.get("rng_state") or {}
        if "tinygen" in rngs:
            backend.set_rng_state(rngs["tinygen"])
        for name, rng in self._rngs().items():
            if name in rngs:
                rng.bit_generator.state = rngs[name]
        self.time_offset = float(state.get("elapsed", 0.0))
        self._window = list(state.get("log_window", []))
        self._window_steps = [None] * len(self._window)
        step = self._last_checkpoint = int(state["step"])
        self._truncate_metrics(step)
        self._write_config()
        return step

    def _truncate_metrics(self, step: int) -> None:
        path = self.path("metrics.jsonl")
        if not os.path.exists(path):
            return
        kept = []
        with open(path) as f:
            for line in f:
                try:
                    if json.loads(line)["step"] <= step:
                        kept.append(line)
                except (ValueError, KeyError):      # a line cut short by a kill
                    break
        atomic_write_bytes(path, "".join(kept).encode())

    def finish(self, gif: Optional[str] = "progress.gif", **objects) -> str:
        """The final checkpoint (step = config.steps), the GIF, the progress line closed,
        report.html."""
        self.save_checkpoint(self.config.steps, **objects)
        if gif:
            self.save_gif(gif)
        self.close()
        self.write_report()
        return self.dir

    def write_report(self, command: Optional[str] = None) -> str:
        """report.html in the run folder (:func:`write_report`)."""
        return write_report(self.dir, type(self.config), command)

    def close(self):
        self._restore_signals()
        if self._progress:
            self._progress.close()
            self._progress = None


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped a run after writing its checkpoint (``signum``: which)."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum = signum


class NonFiniteLoss(ValueError):
    """A loss became NaN or infinite; the run stopped and kept its last good checkpoint."""


def _check_out_folder(out: str, resume) -> None:
    """``--out`` must be a folder, and one that holds no run unless that run is resumed."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"--out {out}: is a file, not a folder; give a folder name")
    if not resume and any(os.path.exists(os.path.join(out, f)) for f in RUN_FILES):
        raise ValueError(f"--out {out}: already holds a run; continue it with --resume {out}, "
                         "or give a new folder")


RUN_FILES = ("config.json", "metrics.jsonl", "checkpoint.npz")
FRAMES = "frames"          # the subfolder of the sample grids and frames


def remove_temporary_files(folder: str) -> None:
    """Delete the ``.NAME.*.tmp`` files an atomic write leaves when the process is killed."""
    for where in (folder, os.path.join(folder, FRAMES)):
        for name in os.listdir(where) if os.path.isdir(where) else ():
            if name.startswith(".") and name.endswith(".tmp"):
                os.remove(os.path.join(where, name))


def remove_stub_folder(folder: Optional[str]) -> bool:
    """Remove a run folder that holds nothing but config.json (a run that failed before its
    first logged step); True if removed. Folders with a metric or a checkpoint are kept."""
    if not folder or not os.path.isdir(folder):
        return False
    if set(os.listdir(folder)) - {"config.json"}:
        return False
    for name in os.listdir(folder):
        os.remove(os.path.join(folder, name))
    os.rmdir(folder)
    return True


def run_folder(path: str) -> str:
    """A run folder, or a file inside one (its checkpoint.npz) -> the folder."""
    return path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))


def read_config(run: str) -> dict:
    """The config.json of a run folder (or of the folder of a checkpoint file) as a dict;
    FileNotFoundError naming the file when there is none."""
    if not os.path.exists(run):
        raise FileNotFoundError(f"{run!r} does not exist")
    path = os.path.join(run_folder(run), "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no config.json in {run_folder(run)!r}")
    with open(path) as f:
        return json.load(f)


def config_options(saved: dict, config_cls) -> dict:
    """The entries of a saved config.json that are fields of ``config_cls`` (lists as tuples)."""
    names = {f.name for f in dataclasses.fields(config_cls) if f.init}
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in saved.items() if k in names}


def paper_reference(config_cls) -> tuple:
    """(defaults, presets) of a method's Config class: every field's declared default (the
    paper's value, or a departure its comment flags) as JSON values, and the method's
    PRESETS (None without): what a report marks departures against."""
    import importlib
    defaults = {}
    for f in dataclasses.fields(config_cls):
        if f.default is not dataclasses.MISSING:
            defaults[f.name] = jsonable(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            defaults[f.name] = jsonable(f.default_factory())
    presets = getattr(importlib.import_module(config_cls.__module__), "PRESETS", None)
    return defaults, presets


def method_reference(method: str):
    """:func:`paper_reference` of a method by its config.json name, or None if unknown."""
    import importlib
    from tinygen.methods import METHODS
    name = method if method in METHODS else method.replace("_", "-")
    if name not in METHODS:
        return None
    return paper_reference(importlib.import_module(METHODS[name]).Config)


def write_report(folder: str, config_cls, command: Optional[str] = None) -> str:
    """report.html in a run folder (:func:`tinygen.io.report.write_run_report`), departures
    marked against ``config_cls``'s defaults; ``command``: the line that reproduces the run
    (default: the ``tinygen run`` line from config.json)."""
    from tinygen.io.report import write_run_report
    defaults, presets = paper_reference(config_cls)
    return write_run_report(folder, defaults, presets, command)


def read_metrics(folder: str) -> list:
    """metrics.jsonl of a run folder -> list of dicts (one per logged step)."""
    with open(os.path.join(folder, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def checkpoint_path(path: str) -> str:
    """A run folder or a checkpoint file -> the checkpoint file (clear error if missing)."""
    candidate = os.path.join(path, "checkpoint.npz") if os.path.isdir(path) else path
    if not os.path.isfile(candidate):
        raise FileNotFoundError(f"no checkpoint at {candidate!r}: pass a run folder containing "
                                "checkpoint.npz (written by `tinygen run`) or the file itself")
    return candidate


def to_host(x):
    """A Tensor or a backend array -> a host NumPy array."""
    return backend.to_host(getattr(x, "data", x))


# ---------------------------------------------------------------- sampling, shared by methods

def sample_noise(m: int, latent_dim: int, device, generator=None) -> tinygen.Tensor:
    """m noise samples {z_1..z_m} from the prior p_z = N(0, I) -> (m, latent_dim)."""
    return tinygen.randn(m, latent_dim, device=device, generator=generator)


def real_batch(x, m: int, rng, device) -> tinygen.Tensor:
    """m examples {x_1..x_m} drawn uniformly (with replacement) from host data x (N, ...)."""
    idx = rng.integers(0, len(x), m)
    return tinygen.tensor(x[idx], device=device)                     # (m, *shape)


@contextlib.contextmanager
def sampling(G):
    """Run G to look at it, without a graph and without changing it.

    G stays in training mode, as in the DCGAN authors' code: batch norm normalises with
    the batch's own statistics (the running averages lag far behind early in training).
    Training mode also updates those running averages, so they are put back afterwards:
    drawing a picture or scoring samples never changes the model or its checkpoint.
    """
    saved = [(b, b.clone().data) for b in G.buffers() if b is not None]    # on b's GPU
    try:
        with tinygen.no_grad():
            yield G
    finally:
        for b, data in saved:
            with backend.device_scope(data):   # CuPy: the copy runs on the buffer's GPU
                b.data[...] = data


def generate(G, n: int, nz: int, device, generator=None, batch: int = 500):
    """x = G(z), z ~ N(0, I): n samples as a host array (n, *shape), via :func:`sampling`.

    ``generator``: the numpy Generator for z (methods pass ``run.eval_rng``, so that
    logging or drawing pictures never changes the training run's random stream).
    """
    out = []
    with sampling(G):
        for start in range(0, n, batch):
            z = sample_noise(min(batch, n - start), nz, device, generator)
            out.append(backend.to_host(G(z).data))
    return np.concatenate(out, 0)


def sample_metrics(samples, data, dataset: str, device="cpu", value_range=(-1.0, 1.0)) -> dict:
    """Scores of generated samples: mode coverage on the 2-D toys with modes, else (images;
    ``data`` may be None) domain FID / IS / precision / recall (:mod:`tinygen.metrics.domain`)."""
    if data is not None and data.is_points:
        if data.centres is None or data.std is None:
            return {}
        from tinygen.metrics.modes import mode_coverage
        cov = mode_coverage(samples, data.centres, data.std)
        return {"modes": cov["modes"], "hq": round(float(cov["hq"]), 4)}
    from tinygen.metrics.domain import evaluate_samples
    return evaluate_samples(samples, dataset, value_range=value_range, device=device)


class GeneratorMonitor:
    """The run bookkeeping of a generator G: z -> x trained against a D, the same for every GAN.

        monitor = GeneratorMonitor(run, data, nz, G=G, D=D, opt_g=opt_g, opt_d=opt_d)
        for step in run.steps(monitor.resume()):
            ... the method's algorithm box ...
            monitor.step_done(step, **losses)
        return monitor.finish()

    ``step_done`` records the losses; at each ``log_every`` it writes the log line with the
    sample metrics (modes on the 2-D toys; domain FID/IS on images every ``domain_eval``
    steps); at each ``sample_every`` a frame (scatter plot, image grid, or the caller's
    ``frames(step, G, D, last_record)``); every ``checkpoint_every`` a checkpoint. ``finish``
    writes the last checkpoint, the GIF and samples.npz. Every sample is drawn from
    ``run.eval_rng``, so none of this changes the training stream.
    """

    def __init__(self, run: Run, data, nz: int, frames=None, **models):
        c = run.config
        self.run, self.data, self.nz, self.frames, self.models = run, data, nz, frames, models
        self.G = models["G"]
        self.z_fixed = sample_noise(64, nz, c.device, run.eval_rng)   # one z for every grid
        self.history = []
        self._optimizers = [m for m in models.values() if isinstance(m, optim.Optimizer)]
        self._base_lrs = initial_lrs(*self._optimizers)

    def decay_lrs(self, step: int) -> None:
        """lr <- (1 - (step - 1) / steps) * initial lr for every optimizer (``--lr-decay``)."""
        linear_decay(self._optimizers, self._base_lrs, step, self.run.config.steps)

    def resume(self) -> int:
        """The step to start from (0, or the checkpoint's step with ``--resume``)."""
        return self.run.resume(**self.models)

    def step_done(self, step: int, metrics: Optional[dict] = None, **losses) -> None:
        """``metrics``: what the method measured at this step (e.g. sgan's test accuracy),
        written with the log line; measure it only where ``run.due(step, log_every)``."""
        run, c, data, G = self.run, self.run.config, self.data, self.G
        run.record(step, **losses)
        if run.due(step, c.log_every):
            metrics = dict(metrics or {})
            if data.is_points or (c.domain_eval and run.due(step, c.domain_eval)):
                x = generate(G, c.n_eval, self.nz, c.device, run.eval_rng)
                metrics.update(sample_metrics(x, data, c.dataset, c.device))
            self.history.append(run.log(step, **metrics))
        if run.due(step, c.sample_every):
            self._picture(step)
        run.checkpoint(step, **self.models)

    def _picture(self, step: int) -> None:
        run, c, name = self.run, self.run.config, f"samples_{step:06d}.png"
        if self.frames is not None:
            last = self.history[-1] if self.history else None
            run.save_frame(self.frames(step, self.G, self.models["D"], last), name=name)
        elif self.data.is_points:
            from tinygen.io.plot import scatter_frame
            pts = generate(self.G, 1000, self.nz, c.device, run.eval_rng)
            run.save_frame(scatter_frame(self.data.x[:1000], pts, f"{run.method} step {step}"),
                           name=name)
        else:
            with sampling(self.G):
                images = self.G(self.z_fixed)
            run.save_grid(images, name)

    def finish(self, gif: Optional[str] = "progress.gif") -> str:
        """The final checkpoint (first: sampling after it never changes a resume), the GIF,
        and samples.npz (2-D points as float (N, 2), images as uint8 (N, H, W[, C]))."""
        c = self.run.config
        self.run.finish(gif=gif, **self.models)
        n = c.n_samples if self.data.is_points else max(512, c.n_samples // 5)
        x = generate(self.G, n, self.nz, c.device, self.run.eval_rng)
        self.run.save_samples(x if self.data.is_points else to_uint8_images(x, (-1.0, 1.0)))
        return self.run.dir


def load_generator_data(config):
    """(training set, dim z) for a generator method: ``config.dataset`` via
    :func:`tinygen.data.arrays.load_training_set`, z's size from the GAN arch options."""
    from tinygen.data.arrays import load_training_set
    from tinygen.models.gan_nets import latent_size
    data = load_training_set(config.dataset, config.data_dir, config.seed, config.n_train)
    return data, latent_size(config, data.is_points)


def sample_generator(config, build_models, checkpoint: str, n: int, seed: int):
    """n samples of the generator G saved in ``checkpoint`` (built as ``build_models`` builds
    it for ``config``) -> (host array (n, *shape), value range (-1, 1))."""
    from tinygen.io.checkpoint import restore_checkpoint
    data, nz = load_generator_data(config)
    G, D = build_models(config, data)
    restore_checkpoint(checkpoint, G=G, D=D)
    return generate(G, n, nz, config.device, np.random.default_rng(seed)), (-1.0, 1.0)


def save_image_predictions(path: str, outputs, names) -> None:
    """predictions.npz of whole test images (float (H, W, C) in [0, 1], in test-set order):
    ``x`` uint8 (N, H, W, C) when they share a size, else ``x_0``, ``x_1``, ...; and ``names``."""
    u8 = [np.round(np.clip(o, 0.0, 1.0) * 255).astype(np.uint8) for o in outputs]
    if len({o.shape for o in u8}) == 1:
        save_npz(path, x=np.stack(u8), names=np.array(names))
    else:
        save_npz(path, names=np.array(names), **{f"x_{i}": o for i, o in enumerate(u8)})


# ---------------------------------------------------------------- loop helpers

@contextlib.contextmanager
def frozen(*modules):
    """Hold the modules' parameters fixed inside the block (``requires_grad`` off, so the
    backward pass computes no gradient for them: a generator step through D), then give each
    parameter its flag back."""
    params = [p for m in modules for p in m.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)


def descend(loss, optimizer):
    """One gradient step on ``loss``: clear old gradients, backpropagate, update; the value
    (a 0-d tensor on the loss's device, for :meth:`Run.record`: reading it as a number here
    would make every GPU step wait for the GPU)."""
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.detach()


def _scalar(value):
    """A recorded value as a float, or, on a GPU, as its 0-d device array (read later)."""
    if isinstance(value, tinygen.Tensor):
        value = value._data
    if isinstance(value, (backend.numpy.ndarray, backend.numpy.generic, int, float)):
        return float(value)
    return value


def update_ema(averaged, model, decay: float) -> None:
    """theta_avg <- decay theta_avg + (1 - decay) theta for every parameter, in place: the
    exponential running average of a generator's weights (ProGAN, Karras et al. 2018, Sec. A.1:
    decay 0.999). ``averaged`` has ``model``'s architecture; buffers are copied as they are."""
    with tinygen.no_grad():
        for p_avg, p in zip(averaged.parameters(), model.parameters()):
            p_avg.data[...] = decay * p_avg.data + (1.0 - decay) * p.data
        for b_avg, b in zip(averaged.buffers(), model.buffers()):
            if b_avg is not None and b is not None:
                b_avg.data[...] = b.data


def initial_lrs(*optimizers) -> list:
    """Each optimizer's learning rates, per parameter group (for :func:`linear_decay`)."""
    return [[g["lr"] for g in opt.param_groups] for opt in optimizers]


def linear_decay(optimizers, base_lrs, step: int, steps: int) -> None:
    """lr <- (1 - (step - 1) / steps) * initial lr, for every parameter group."""
    fraction = 1.0 - (step - 1) / steps
    for opt, lrs in zip(optimizers, base_lrs):
        for group, lr in zip(opt.param_groups, lrs):
            group["lr"] = lr * fraction


def constant_then_linear_schedulers(decay_from: float, steps: int, *optimizers) -> tuple:
    """One ``LambdaLR`` per optimizer with CycleGAN's schedule
    (:func:`tinygen.optim.lr_scheduler.constant_then_linear`): the lr stays constant for the
    first ``round(decay_from * steps)`` scheduler steps, then falls linearly over the rest."""
    n_constant = int(round(decay_from * steps))
    rule = constant_then_linear(n_constant, steps - n_constant)
    return tuple(LambdaLR(opt, rule) for opt in optimizers)


def is_toy2d(dataset: str) -> bool:
    """True for the built-in low-dimensional toys (ring8, grid25, moons, swissroll, gmm1d)."""
    from tinygen.data import TOYS
    return dataset.lower() in TOYS


def toy_preset(dataset: str, otherwise: str) -> str:
    """The GAN methods' ``--preset auto``: 'grid25' (a longer budget for its 25 modes) on
    grid25, 'toy2d' on the other low-dimensional toys, ``otherwise`` on images."""
    if dataset == "grid25":
        return "grid25"
    return "toy2d" if is_toy2d(dataset) else otherwise


class DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """argparse formatter of the demos and small commands: shows each option's default,
    except None and False (whose meaning the help text says)."""

    def _get_help_string(self, action):
        if action.default in (None, False):
            return action.help
        return super()._get_help_string(action)


def sample_main(argv=None) -> int:
    """``tinygen sample RUN [--n N] [--out FILE] [--seed S]``: fresh samples from a run."""
    import importlib
    parser = argparse.ArgumentParser(
        prog="tinygen sample",
        description="Draw new samples from a trained run's checkpoint (its saved config "
                    "rebuilds the models) and write them as samples.npz-style arrays plus a "
                    "PNG grid (images) next to FILE.",
        formatter_class=DefaultsHelp)
    parser.add_argument("run", help="a run folder written by `tinygen run METHOD`")
    parser.add_argument("--n", type=int, default=64, help="how many samples")
    parser.add_argument("--out", default=None,
                        help="output .npz (default: RUN/sampled-<seed>.npz)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise")
    parser.add_argument("--text", action="append", default=None, metavar="CAPTION",
                        help="text-to-image runs (stackgan): a caption to draw (repeat the "
                             "flag for more; the samples take them in turn)")
    args = parser.parse_args(argv)
    if args.n <= 0:
        parser.error(f"--n must be a positive number of samples, got {args.n}")
    try:
        saved = read_config(args.run)
    except FileNotFoundError:
        print(f"tinygen sample: {args.run!r} is not a run folder (no config.json); pass the "
              "folder `tinygen run` printed", file=sys.stderr)
        return 2
    from tinygen.methods import METHODS
    method = saved.get("method")
    module_name = METHODS.get(method)
    module = importlib.import_module(module_name) if module_name else None
    if module is None or not hasattr(module, "sample_run"):
        print(f"tinygen sample: runs of method {method!r} cannot be sampled (no sample_run); "
              "sampling works for the generative methods", file=sys.stderr)
        return 2
    config = module.Config(**config_options(saved, module.Config))
    text = {"text": args.text} if args.text else {}
    if text and "text" not in inspect.signature(module.sample_run).parameters:
        print(f"tinygen sample: --text is for text-to-image runs (stackgan), not {method}",
              file=sys.stderr)
        return 2
    try:
        x, value_range, *more = module.sample_run(config, checkpoint_path(args.run), args.n,
                                                  args.seed, **text)
    except FileNotFoundError as exc:
        print(f"tinygen sample: {exc}", file=sys.stderr)
        return 2
    extra = more[0] if more else {}                          # e.g. stackgan's captions
    out = args.out or os.path.join(args.run, f"sampled-{args.seed}.npz")
    if x.ndim == 4 and value_range is not None:            # images (None: e.g. voxel grids)
        save_npz(out, x=to_uint8_images(x, value_range), **extra)
        from tinygen.io import save_image_grid
        png = os.path.splitext(out)[0] + ".png"
        save_image_grid(x[:64], png, nrow=8, normalize=True, value_range=value_range)
        print(png)
    else:
        save_npz(out, x=x, **extra)
    print(out)
    return 0


APPLY_METHODS = ("pix2pix", "tpgan", "pixeldtgan", "deblurgan")   # the ones with apply_run


def apply_main(argv=None) -> int:
    """``tinygen apply RUN INPUT --out FILE``: an image-to-image run's generator on one image
    file of any size, written as a PNG. The run's method module supplies
    ``apply_run(config, checkpoint, image uint8, seed) -> image uint8`` (:data:`APPLY_METHODS`;
    any translation method that defines it plugs in the same way)."""
    import importlib
    parser = argparse.ArgumentParser(
        prog="tinygen apply", formatter_class=DefaultsHelp,
        description="Translate one image file with a trained image-to-image run ("
                    + ", ".join(APPLY_METHODS) + ").")
    parser.add_argument("run", help="a run folder written by `tinygen run METHOD`")
    parser.add_argument("input", help="the image file to translate (any size)")
    parser.add_argument("--out", required=True, help="the PNG to write")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generator's noise")
    args = parser.parse_args(argv)
    saved = read_config(args.run)
    from tinygen.methods import METHODS
    method = saved.get("method")
    module = importlib.import_module(METHODS[method]) if method in METHODS else None
    if module is None or not hasattr(module, "apply_run"):
        raise ValueError(f"{args.run}: a {method} run, not an image-to-image one; "
                         "tinygen apply works on runs of " + ", ".join(APPLY_METHODS))
    config = module.Config(**{**config_options(saved, module.Config), "out": None,
                              "resume": None, "device": "cpu"})
    from tinygen.io import save_image
    from tinygen.io.images import read_image
    image = read_image(args.input, mode="RGB")
    if (image[..., :1] == image).all():
        image = image[..., 0]                                       # a grey picture
    out = module.apply_run(config, checkpoint_path(args.run), image, args.seed)
    save_image(out, args.out)
    print(f"{args.out}: {image.shape[1]}x{image.shape[0]} -> {out.shape[1]}x{out.shape[0]}")
    return 0
