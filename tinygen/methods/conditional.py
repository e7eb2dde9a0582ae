"""The run contract's labelled half: what cgan, sgan, acgan, bigan and infogan share.

:mod:`tinygen.methods.run` is the floor of every method; this module adds, once, the pieces
of the GANs that use labels or codes (none of them is a method; each method imports it the
same way, and it imports no method):

    load_labelled_data(config)        training images with labels (-1 = unlabelled) + test set
    labelled_batch(...)               m labelled examples (x, y) drawn from the labelled pool
    balanced_labels(n, K)             n labels per class, class by class (samples.npz's y)
    generate_conditional(G, y, ...)   x = G(z, y) as host arrays, z from the evaluation RNG
    class_grid / interpolation_grid   one row per class; a z -> z' path at a fixed label
    ConditionalMonitor                GeneratorMonitor for G(z, y): class grids as frames,
                                      samples.npz with x and y, the classifier scores
    write_predictions(run, y_pred)    predictions.npz (``y_pred`` int64, test-set order)
    probe_accuracy(...)               linear-probe accuracy of codes (tinygen.metrics.probe)

Every picture and evaluation draws from ``run.eval_rng``, so looking never changes a run.
"""
from __future__ import annotations

from typing import Optional

import tinygen
from tinygen import backend
from tinygen.data.arrays import LabelledSet, labelled_subset, load_labelled_set, load_test_set
from tinygen.methods import run as R

np = backend.numpy   # host arrays: labels, indices, samples


# ---------------------------------------------------------------- data

def load_labelled_data(config, labels_per_class: int = 0):
    """(LabelledSet, test set (x, y) or None) for ``config`` (dataset, data_dir, seed,
    n_train, test_dataset, num_classes).

    ``labels_per_class`` > 0 keeps that many labels per class (drawn with the seed, from the
    images whose y is not -1) and marks the others -1: the semi-supervised setting.
    """
    data = load_labelled_set(config.dataset, config.data_dir, config.seed, config.n_train,
                             getattr(config, "num_classes", 0))
    if labels_per_class > 0:
        data.y = labelled_subset(data.y, labels_per_class, np.random.default_rng(config.seed))
    test = load_test_set(config.dataset, config.test_dataset, config.data_dir, config.seed)
    return data, test


def require_all_labels(data: LabelledSet, method: str) -> None:
    """A conditional generator needs every training image's label."""
    missing = int(np.sum(data.y < 0))
    if missing:
        raise ValueError(f"{method} conditions on the label of every training image, but "
                         f"{missing} of {len(data.y)} are -1 (unlabelled); use `tinygen run "
                         "sgan` for partly labelled data")


def labelled_batch(data: LabelledSet, pool, m: int, rng, device):
    """m examples (x (m, *shape), y (m,)) drawn uniformly with replacement from ``pool``
    (indices into data; e.g. ``data.labelled``)."""
    idx = pool[rng.integers(0, len(pool), m)]
    return (tinygen.tensor(data.x[idx], device=device),
            tinygen.tensor(data.y[idx], device=device))


def balanced_labels(n_per_class: int, num_classes: int) -> np.ndarray:
    """[0]*n, [1]*n, ..., [K-1]*n as int64 (K n,): class by class."""
    return np.repeat(np.arange(num_classes, dtype=np.int64), n_per_class)


# ---------------------------------------------------------------- sampling G(z, y)

def generate_conditional(G, y, nz: int, device, generator=None, batch: int = 500, z=None):
    """x = G(z, y) for host labels y (N,), z ~ N(0, I) from ``generator`` (or the given z
    (N, nz) host array) -> host array (N, *shape); via :func:`run.sampling`."""
    out = []
    with R.sampling(G):
        for start in range(0, len(y), batch):
            yb = tinygen.tensor(np.asarray(y[start:start + batch], np.int64), device=device)
            if z is None:
                zb = R.sample_noise(len(yb), nz, device, generator)
            else:
                zb = tinygen.tensor(np.asarray(z[start:start + batch], np.float32), device=device)
            out.append(backend.to_host(G(zb, yb).data))
    return np.concatenate(out, 0)


def class_grid(G, num_classes: int, nz: int, device, rng, cols: int = 10, z=None):
    """(K cols, *shape) host images: row k is class k, column j the same z_j in every row,
    so a column shows one "style" written as each class."""
    if z is None:
        z = rng.standard_normal((cols, nz)).astype(np.float32)              # (cols, nz)
    zs = np.tile(z, (num_classes, 1))                                        # (K cols, nz)
    return generate_conditional(G, balanced_labels(len(z), num_classes), nz, device, z=zs)


def interpolation_grid(G, num_classes: int, nz: int, device, rng, steps: int = 10):
    """(K steps, *shape): row k walks z_0 -> z_1 linearly at the fixed label k (the same two
    z in every row): the label holds the class, z moves the style."""
    z0, z1 = rng.standard_normal((2, nz)).astype(np.float32)
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]             # (steps, 1)
    return class_grid(G, num_classes, nz, device, rng, z=(1 - t) * z0 + t * z1)


# ---------------------------------------------------------------- the monitor

class ConditionalMonitor(R.GeneratorMonitor):
    """:class:`run.GeneratorMonitor` for a conditional generator G(z, y).

    Frames are class grids (one row per class, fixed z per column); at ``domain_eval`` log
    steps the sample scores (domain FID / IS) and the held-out classifier's agreement with
    the conditioning labels; ``finish`` writes samples.npz with ``x`` and ``y`` (an equal
    number per class, ``n_samples // K`` but at least 100), class_grid.png and
    interpolation.png, and logs the final conditional scores (:meth:`scores`).
    """

    def __init__(self, run, data: LabelledSet, nz: int, test=None, final_scores: bool = True,
                 **models):
        super().__init__(run, data, nz, **models)
        self.K, self.test, self.final_scores = data.num_classes, test, final_scores
        self.z_grid = run.eval_rng.standard_normal((10, nz)).astype(np.float32)

    def step_done(self, step: int, **losses) -> None:
        run, c = self.run, self.run.config
        run.record(step, **losses)
        if run.due(step, c.log_every):
            metrics = {}
            if c.domain_eval and run.due(step, c.domain_eval):
                metrics = self.scores(max(10, c.n_eval // self.K))
            self.history.append(run.log(step, **metrics))
        if run.due(step, c.sample_every):
            run.save_grid(class_grid(self.G, self.K, self.nz, c.device, None, z=self.z_grid),
                          f"samples_{step:06d}.png", nrow=len(self.z_grid))
        run.checkpoint(step, **self.models)

    def scores(self, per_class: int, x=None, y=None) -> dict:
        """Label agreement, domain FID / IS and per-class domain FID of n per class samples
        (:func:`tinygen.metrics.domain.evaluate_conditional_samples`)."""
        from tinygen.metrics.domain import evaluate_conditional_samples
        c = self.run.config
        if x is None:
            y = balanced_labels(per_class, self.K)
            x = generate_conditional(self.G, y, self.nz, c.device, self.run.eval_rng)
        return evaluate_conditional_samples(x, y, c.dataset, reference=self.test,
                                            value_range=(-1.0, 1.0), device=c.device,
                                            data_dir=c.data_dir)

    def finish(self, gif: Optional[str] = "progress.gif") -> str:
        run, c = self.run, self.run.config
        run.finish(gif=gif, **self.models)
        per_class = max(100, c.n_samples // self.K)
        y = balanced_labels(per_class, self.K)
        x = generate_conditional(self.G, y, self.nz, c.device, run.eval_rng)
        run.save_samples(R.to_uint8_images(x, (-1.0, 1.0)), y)
        save_picture(run, class_grid(self.G, self.K, self.nz, c.device, None, z=self.z_grid),
                     "class_grid.png", nrow=len(self.z_grid))
        save_picture(run, interpolation_grid(self.G, self.K, self.nz, c.device, run.eval_rng),
                     "interpolation.png", nrow=10)
        if self.final_scores:
            try:
                run.log(c.steps, **self.scores(per_class, x, y))
            except ValueError as exc:            # a dataset the domain classifier cannot learn
                print(f"tinygen {run.method}: no conditional scores ({exc})")
        return run.dir


def save_picture(run, images, name: str, nrow: int, value_range=(-1.0, 1.0)) -> str:
    """A final picture (not a frame of the GIF) as NAME in the run folder itself."""
    from tinygen.io import save_image_grid
    save_image_grid(R.to_host(images), run.path(name), nrow=nrow, normalize=True,
                    value_range=value_range)
    return run.path(name)


# ---------------------------------------------------------------- scores of classifiers

def write_predictions(run, y_pred, **more) -> str:
    """predictions.npz in the run folder: ``y_pred`` int64, one per test item, in order
    (``more``: other int64 arrays of the same length, e.g. a baseline's predictions)."""
    path = run.path("predictions.npz")
    R.save_npz(path, y_pred=np.asarray(y_pred, dtype=np.int64),
               **{k: np.asarray(v, dtype=np.int64) for k, v in more.items()})
    return path


def predict_classes(logits_fn, x, device, batch: int = 500) -> np.ndarray:
    """argmax_k of ``logits_fn(x)`` (N, K) over host images x, without a graph -> int64 (N,)."""
    out = []
    with tinygen.no_grad():
        for start in range(0, len(x), batch):
            logits = logits_fn(tinygen.tensor(x[start:start + batch], device=device))
            out.append(backend.to_host(logits.data).argmax(1))
    return np.concatenate(out).astype(np.int64)


def encode_all(E, x, device, batch: int = 500) -> np.ndarray:
    """E(x) for host images x, without a graph (E in eval mode, then restored) -> host."""
    was_training = E.training
    E.eval()
    try:
        out = []
        with tinygen.no_grad():
            for start in range(0, len(x), batch):
                out.append(backend.to_host(E(tinygen.tensor(x[start:start + batch],
                                                            device=device)).data))
        return np.concatenate(out, 0)
    finally:
        E.train(was_training)
