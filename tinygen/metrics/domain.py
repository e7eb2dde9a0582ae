"""Domain FID, domain IS and k-NN precision/recall with a small classifier trained offline.

Why: the FID Inception weights cannot be downloaded everywhere, and ImageNet features say little
about 28x28 digits anyway. Following common practice for MNIST-like data (e.g. the "MNIST FID"
of many GAN papers), we train a LeNet (:class:`tinygen.models.LeNet`) on the dataset at hand and
use it exactly where Inception-v3 is used:

    domain FID  = frechet_distance of the penultimate features phi(x)   (Inception: pool_3)
    domain IS   = inception_score of the softmax p(y|x) over its K classes (Inception: 1008-way)
    precision / recall (Kynkaanniemi et al. 2019, arXiv:1904.06991) on phi(x)

through the SAME code paths (:func:`tinygen.metrics.compute_statistics_of`,
:func:`tinygen.metrics.compute_features`, :func:`tinygen.metrics.inception_score`,
:func:`tinygen.metrics.precision_recall`); only the ``feature_fn`` differs.

Numbers from different classifiers are not comparable with each other nor with Inception FID;
that is why every classifier carries its own calibration, measured on held-out data:
    real_vs_real_fid    two disjoint halves of the held-out real images (the noise floor:
                        a perfect generator scores about this with that many samples)
    real_vs_noise_fid   held-out real images vs uniform noise images (a useless generator)
    real_is / noise_is  domain IS of the held-out real images (close to K for a confident,
                        balanced classifier) and of noise
    test_accuracy       held-out accuracy of the classifier (aim > 97% on synthetic digits)

Classifiers are trained once per (dataset, config) and cached as
``$TINYGEN_DATA/domain/<dataset>-<hash>.npz`` (or ``~/.cache/tinygen/domain``), written atomically.
The file also stores the held-out features, so evaluation never has to re-render real data.

Image conventions (Shapes): images are (N, H, W), (N, H, W, C) or (N, C, H, W), uint8 in 0..255
or float; floats are read in ``value_range`` (default: [0, 1], or [-1, 1] when the data has
negative values, the tanh output of GAN generators). The classifier sees float32 (N, C, H, W)
in [0, 1], the same convention as the Inception feature functions.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
import warnings
from typing import Dict, Optional, Tuple

import numpy as np

from tinygen import backend
from tinygen.metrics.fid import (
    compute_features, compute_statistics_of, feature_statistics, frechet_distance,
)
from tinygen.metrics.inception_score import inception_score
from tinygen.metrics.precision_recall import precision_recall

__all__ = [
    "DomainConfig", "DomainClassifier", "train_domain_classifier", "load_domain_classifier",
    "domain_cache_path", "evaluate_samples", "fit_classifier", "evaluate_conditional_samples",
    "load_label_reader", "to_unit_nchw", "parse_features_spec",
]

CACHE_VERSION = 1        # bump when the training recipe changes, to invalidate old caches


@dataclasses.dataclass
class DomainConfig:
    """How a domain classifier is trained (every field enters the cache key)."""
    dataset: str = "digits"           # dataset name as on the command line
    split: str = "train"              # split to draw from ("test" for MNIST's t10k-only folder)
    n_train: int = 4000               # training images (synthetic sets are rendered on the fly)
    n_test: int = 1000                # held-out images: accuracy, calibration, reference features
    steps: int = 300                  # Adam steps (about 5 passes over n_train at batch 64)
    batch_size: int = 64
    lr: float = 2e-3                  # Adam learning rate (Kingma & Ba defaults otherwise)
    lr_decay: bool = False            # decay the lr linearly to 0 over the steps (the label
                                      # reader: at a constant lr its last step can land on a
                                      # loss spike, 98 % -> 96 % on held-out MNIST digits)
    widths: Tuple[int, int] = (16, 32)  # LeNet conv channels
    hidden: int = 128                 # penultimate feature size D
    seed: int = 0
    data_dir: Optional[str] = None    # pre-downloaded files for real datasets (MNIST)

    def key(self) -> str:
        """12 hex digits of the sha256 of the config (plus the data file's stamp for paths)."""
        fields = dataclasses.asdict(self)
        fields["widths"] = list(self.widths)
        if not self.lr_decay:
            del fields["lr_decay"]                # the recipe before the field: same keys
        fields["version"] = CACHE_VERSION
        _, _, path = self.dataset.partition(":")
        if path and os.path.exists(path):
            stat = os.stat(path)
            fields["data_stamp"] = [stat.st_size, int(stat.st_mtime)]
        blob = json.dumps(fields, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


# ----------------------------------------------------------------------------------------------
# images -> float32 (N, C, H, W) in [0, 1]
# ----------------------------------------------------------------------------------------------

def to_unit_nchw(images, value_range=None, channels: Optional[int] = None) -> np.ndarray:
    """Images in any of the usual layouts -> float32 (N, C, H, W) in [0, 1].

    Args:
        images: uint8 or float, (N, H, W), (N, H, W, C) or (N, C, H, W) with C in {1, 3, 4};
            a tinygen Tensor or CuPy array is brought to the host first.
        value_range: (low, high) of float images; default (0, 1), or (-1, 1) when any value is
            negative. uint8 images are always divided by 255.
        channels: if given, convert to that many channels (grey -> RGB repeats the channel,
            RGB -> grey uses ITU-R BT.601 luma); alpha is dropped.
    """
    if not isinstance(images, np.ndarray):                           # Tensor / CuPy -> host
        images = backend.to_host(getattr(images, "data", images))
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[:, None]                                               # (N, 1, H, W)
    elif x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        x = x.transpose(0, 3, 1, 2)                                  # NHWC -> NCHW
    if x.ndim != 4 or x.shape[1] not in (1, 3, 4):
        raise ValueError(f"images must be (N, H, W), (N, H, W, C) or (N, C, H, W) with C in "
                         f"(1, 3, 4), got shape {x.shape}")
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    elif np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
        if value_range is None:
            value_range = (-1.0, 1.0) if x.size and x.min() < 0 else (0.0, 1.0)
        low, high = value_range
        x = np.clip((x - low) / (high - low), 0.0, 1.0)
    else:
        raise ValueError(f"images must be uint8 or float, got dtype {x.dtype}")
    if x.shape[1] == 4:
        x = x[:, :3]                                                 # drop alpha
    if channels is not None and x.shape[1] != channels:
        if channels == 3 and x.shape[1] == 1:
            x = np.repeat(x, 3, axis=1)
        elif channels == 1 and x.shape[1] == 3:
            weights = np.array([0.299, 0.587, 0.114], np.float32).reshape(1, 3, 1, 1)
            x = (x * weights).sum(axis=1, keepdims=True)
        else:
            raise ValueError(f"cannot convert {x.shape[1]}-channel images to {channels} channels")
    return np.ascontiguousarray(x)                                   # (N, C, H, W)


# ----------------------------------------------------------------------------------------------
# labelled data
# ----------------------------------------------------------------------------------------------

def _load_labelled(dataset: str, n: int, seed: int, data_dir=None, split: str = "train"):
    """(x, y) host arrays of a labelled image dataset: x uint8/float images, y int64 (N,)."""
    from tinygen.data import load_dataset
    ds = load_dataset(dataset, split=split, data_dir=data_dir, seed=seed, n=n)
    x, y = ds.x, getattr(ds, "y", None)
    if y is None:
        raise ValueError(f"dataset {dataset!r} has no class labels; a domain classifier needs "
                         f"labelled data (digits, mnist, shapes, or npz:PATH with an array 'y')")
    if np.ndim(x) < 3:
        raise ValueError(f"dataset {dataset!r} is not an image dataset (x has shape {x.shape})")
    return x, np.asarray(y, dtype=np.int64)


def _frechet(mu1, sigma1, mu2, sigma2):
    """frechet_distance without SciPy's "Matrix is singular" LinAlgWarning: ReLU units that never
    fire give zero-variance feature dimensions, so singular covariances are the normal case for
    these small feature vectors; sqrtm still returns the right root (non-finite results are
    handled, with their own warning, inside frechet_distance)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Matrix is singular")
        return frechet_distance(mu1, sigma1, mu2, sigma2)


# ----------------------------------------------------------------------------------------------
# the classifier wrapper
# ----------------------------------------------------------------------------------------------

class DomainClassifier:
    """A trained LeNet plus its calibration; ``feature_fn``/``prob_fn`` plug into the metrics.

    Attributes:
        model: the :class:`tinygen.models.LeNet` (eval mode).
        config: the :class:`DomainConfig` it was trained with.
        info: test_accuracy, real_vs_real_fid, real_vs_noise_fid, real_is, noise_is,
              train_seconds, num_classes, image_shape (C, H, W).
        reference_features: (n_test, D) float64 penultimate features of held-out real images.
    """

    def __init__(self, model, config: DomainConfig, info: dict, reference_features,
                 device: str = "cpu"):
        self.model, self.config, self.info = model.eval(), config, dict(info)
        self.reference_features = np.asarray(reference_features, np.float64)
        self.device = device
        self.model.to(device)

    @property
    def image_shape(self):
        return tuple(self.info["image_shape"])

    def _forward(self, batch, head):
        import tinygen
        with tinygen.no_grad():
            x = tinygen.tensor(np.ascontiguousarray(batch, dtype=np.float32), device=self.device)
            out = self.model.features(x) if head == "features" else self.model(x)
            return out.cpu().numpy().astype(np.float64)

    def feature_fn(self, batch):
        """float32 (B, C, H, W) in [0, 1] -> (B, D) penultimate features phi(x)."""
        return self._forward(batch, "features")

    def prob_fn(self, batch):
        """float32 (B, C, H, W) in [0, 1] -> (B, K) class probabilities p(y|x)."""
        logits = self._forward(batch, "logits")
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def prepare(self, images, value_range=None) -> np.ndarray:
        """Any image layout -> float32 (N, C, H, W) in [0, 1] with this classifier's shape."""
        x = to_unit_nchw(images, value_range, channels=self.image_shape[0])
        if x.shape[1:] != self.image_shape:
            raise ValueError(f"the {self.config.dataset!r} domain classifier takes images of "
                             f"shape (C, H, W) = {self.image_shape}, got {x.shape[1:]}; generate "
                             f"at the dataset's resolution")
        return x

    def features(self, images, value_range=None, batch_size=200):
        return compute_features(self.prepare(images, value_range), self.feature_fn, batch_size)

    def probabilities(self, images, value_range=None, batch_size=200):
        return compute_features(self.prepare(images, value_range), self.prob_fn, batch_size)

    def statistics(self, images, value_range=None, batch_size=200):
        """(mu, sigma) of phi(x), via :func:`compute_statistics_of` (the Inception code path)."""
        return compute_statistics_of(self.prepare(images, value_range), self.feature_fn,
                                     batch_size)

    def accuracy(self, images, labels, value_range=None) -> float:
        probs = self.probabilities(images, value_range)
        return float(np.mean(probs.argmax(axis=1) == np.asarray(labels)))


# ----------------------------------------------------------------------------------------------
# training and caching
# ----------------------------------------------------------------------------------------------

def _build_model(config: DomainConfig, image_shape, num_classes, seed):
    """A LeNet initialised from its own seed, leaving the caller's global RNG untouched
    (so evaluating inside a training loop never changes that run's random stream)."""
    from tinygen.models.lenet import LeNet
    saved = backend.get_rng_state()
    backend.manual_seed(seed)
    try:
        return LeNet(image_shape[0], num_classes, image_shape[1], config.widths, config.hidden)
    finally:
        backend.set_rng_state(saved)


def _calibrate(clf: DomainClassifier, x_test, y_test, seed) -> dict:
    """Accuracy, real-vs-real and real-vs-noise FID, IS of real and noise (see module doc)."""
    feats = clf.reference_features                                   # (n_test, D)
    half = len(feats) // 2
    probs = compute_features(x_test, clf.prob_fn, 200)               # (n_test, K)
    noise = np.random.default_rng(seed + 12345).random(x_test.shape).astype(np.float32)
    noise_feats = compute_features(noise, clf.feature_fn, 200)
    noise_probs = compute_features(noise, clf.prob_fn, 200)
    splits = max(1, min(10, len(probs) // 100))
    mu1, s1 = feature_statistics(feats[:half])
    mu2, s2 = feature_statistics(feats[half:2 * half])
    mu_r, s_r = feature_statistics(feats)
    mu_n, s_n = feature_statistics(noise_feats)
    return {
        "test_accuracy": float(np.mean(probs.argmax(axis=1) == y_test)),
        "real_vs_real_fid": _frechet(mu1, s1, mu2, s2),
        "real_vs_noise_fid": _frechet(mu_r, s_r, mu_n, s_n),
        "real_is": inception_score(probs, splits=splits)[0],
        "noise_is": inception_score(noise_probs, splits=splits)[0],
        "calibration_samples": int(len(feats)),
    }


def fit_classifier(model, x_train, y_train, config: DomainConfig, device: str = "cpu",
                   name: Optional[str] = None):
    """Train ``model`` (logits (B, K)) by Adam on cross-entropy for ``config.steps`` batches of
    ``config.batch_size`` drawn without replacement per pass (seed ``config.seed + 1``), the lr
    decayed linearly to 0 when ``config.lr_decay``; x_train float32 (N, C, H, W), y_train
    int64 (N,) host arrays. Leaves it in eval mode; prints the loss every 100 steps when
    ``name`` is given."""
    import tinygen
    from tinygen import functional as F
    from tinygen import optim

    optimizer = optim.Adam(model.parameters(), lr=config.lr)
    schedule = optim.lr_scheduler.LambdaLR(optimizer, lambda t: 1.0 - t / config.steps) \
        if config.lr_decay else None
    rng = np.random.default_rng(config.seed + 1)
    order, cursor = rng.permutation(len(x_train)), 0
    model.train()
    for step in range(config.steps):
        if cursor + config.batch_size > len(order):
            order, cursor = rng.permutation(len(x_train)), 0
        index = order[cursor:cursor + config.batch_size]
        cursor += config.batch_size
        xb = tinygen.tensor(x_train[index], device=device)            # (B, C, H, W)
        yb = tinygen.tensor(y_train[index], device=device)            # (B,)
        loss = F.cross_entropy(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if schedule is not None:
            schedule.step()
        if name and (step % 100 == 0 or step == config.steps - 1):
            print(f"{name}: step {step} loss {loss.item():.4f}", flush=True)
    return model.eval()


def train_domain_classifier(config: DomainConfig = None, device: str = "cpu",
                            verbose: bool = False) -> DomainClassifier:
    """Train a LeNet with Adam on ``config.dataset`` and measure its calibration (not cached)."""
    config = config or DomainConfig()
    start = time.time()
    x_all, y_all = _load_labelled(config.dataset, config.n_train + config.n_test, config.seed,
                                  config.data_dir, config.split)
    x_all = to_unit_nchw(x_all)                                      # (N, C, H, W) in [0, 1]
    if x_all.shape[1] == 3 and np.allclose(x_all[:, 0], x_all[:, 1]) \
            and np.allclose(x_all[:, 1], x_all[:, 2]):
        x_all = x_all[:, :1]                                         # grey stored as RGB
    if len(x_all) < config.n_train + 2:
        raise ValueError(f"dataset {config.dataset!r} has only {len(x_all)} images; need more "
                         f"than n_train={config.n_train}")
    x_train, y_train = x_all[:config.n_train], y_all[:config.n_train]
    x_test, y_test = x_all[config.n_train:], y_all[config.n_train:]
    num_classes = int(y_all.max()) + 1
    image_shape = tuple(int(s) for s in x_all.shape[1:])

    model = _build_model(config, image_shape, num_classes, config.seed).to(device)
    fit_classifier(model, x_train, y_train, config, device,
                   f"domain classifier {config.dataset}" if verbose else None)
    train_seconds = time.time() - start

    probe = DomainClassifier(model, config, {"image_shape": image_shape}, np.zeros((0, 1)),
                             device)
    reference = compute_features(x_test, probe.feature_fn, 200)      # (n_test, D)
    clf = DomainClassifier(model, config, {"image_shape": image_shape}, reference, device)
    info = {"num_classes": num_classes, "image_shape": list(image_shape),
            "train_seconds": round(train_seconds, 2), "dataset": config.dataset}
    info.update(_calibrate(clf, x_test, y_test, config.seed))
    clf.info = info
    return clf


def domain_cache_path(config: DomainConfig) -> str:
    from tinygen.io.files import cache_dir
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in config.dataset)[:40]
    return os.path.join(cache_dir("domain"), f"{safe}-{config.key()}.npz")


def _save(clf: DomainClassifier, path: str) -> None:
    from tinygen.io.files import save_npz
    arrays = {"state." + k: backend.to_host(v.data) for k, v in clf.model.state_dict().items()}
    meta = {"config": dataclasses.asdict(clf.config), "info": clf.info}
    arrays["meta_json"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    arrays["reference_features"] = clf.reference_features
    save_npz(path, **arrays)


def _load(path: str, device: str) -> DomainClassifier:
    with np.load(path) as data:
        meta = json.loads(data["meta_json"].tobytes().decode())
        state = {k[len("state."):]: data[k] for k in data.files if k.startswith("state.")}
        reference = data["reference_features"]
    cfg = dict(meta["config"])
    cfg["widths"] = tuple(cfg["widths"])
    config = DomainConfig(**cfg)
    info = meta["info"]
    model = _build_model(config, info["image_shape"], info["num_classes"], config.seed)
    model.load_state_dict(state)
    return DomainClassifier(model, config, info, reference, device)


_MEMORY: Dict[Tuple[str, str], DomainClassifier] = {}


def load_domain_classifier(dataset: str = "digits", config: Optional[DomainConfig] = None,
                           device: str = "cpu", retrain: bool = False,
                           verbose: bool = False) -> DomainClassifier:
    """The cached classifier for ``dataset`` (trained and cached on first use).

    Looks in memory, then in the cache file :func:`domain_cache_path`; otherwise trains
    (about a minute on a CPU for the default config) and writes the file atomically.
    """
    config = config or DomainConfig(dataset=dataset)
    if config.dataset != dataset:
        config = dataclasses.replace(config, dataset=dataset)
    path = domain_cache_path(config)
    key = (path, device)
    if not retrain and key in _MEMORY:
        return _MEMORY[key]
    clf = None
    if not retrain and os.path.isfile(path):
        try:
            clf = _load(path, device)
        except (OSError, ValueError, KeyError) as exc:      # corrupt/old file: train again
            if verbose:
                print(f"ignoring unreadable domain classifier cache {path}: {exc}")
    if clf is None:
        if verbose:
            print(f"training the {dataset!r} domain classifier (cached at {path})", flush=True)
        clf = train_domain_classifier(config, device=device, verbose=verbose)
        _save(clf, path)
    _MEMORY[key] = clf
    return clf


# ----------------------------------------------------------------------------------------------
# the hook for training loops
# ----------------------------------------------------------------------------------------------

def evaluate_samples(images, dataset_name: str, value_range=None, k: int = 3,
                     splits: Optional[int] = None, device: str = "cpu",
                     config: Optional[DomainConfig] = None) -> dict:
    """Domain FID / IS and k-NN precision / recall of generated ``images`` for a dataset.

    Returns a dict ready for ``Run.log``:
        domain_fid     Frechet distance between phi(generated) and phi(held-out real)
        domain_is      domain Inception Score (mean over ``splits``) of the generated images
        precision      fraction of generated samples inside the real k-NN manifold
        recall         fraction of real samples inside the generated k-NN manifold
    Compare with the classifier's calibration (``load_domain_classifier(name).info``):
    ``real_vs_real_fid`` is the floor, ``real_vs_noise_fid`` the ceiling.

    Args:
        images: N generated images, any layout accepted by :func:`to_unit_nchw`; use as many
            as the held-out set (``DomainConfig.n_test`` = 1000) for comparable numbers, and
            never fewer than D = 128 (the covariance would be singular).
        dataset_name: the dataset the generator was trained on (``digits``, ``mnist``...).
        value_range: range of float images, e.g. (-1, 1) for tanh generators (default: guess).
        splits: IS splits (default: 10, fewer when N < 1000 so each split has >= 100 images).
    """
    clf = load_domain_classifier(dataset_name, config=config, device=device)
    x = clf.prepare(images, value_range)                             # (N, C, H, W) in [0, 1]
    if len(x) < 2 * k + 2:
        raise ValueError(f"evaluate_samples needs more than {2 * k + 2} images, got {len(x)}")
    feats = compute_features(x, clf.feature_fn, 200)                 # (N, D)
    probs = compute_features(x, clf.prob_fn, 200)                    # (N, K)
    mu_g, sigma_g = feature_statistics(feats)
    mu_r, sigma_r = feature_statistics(clf.reference_features)
    if splits is None:
        splits = max(1, min(10, len(x) // 100))
    precision, recall = precision_recall(clf.reference_features, feats, k=k)
    return {
        "domain_fid": _frechet(mu_r, sigma_r, mu_g, sigma_g),
        "domain_is": inception_score(probs, splits=splits)[0],
        "precision": precision,
        "recall": recall,
    }


def parse_features_spec(spec: str) -> Tuple[str, Optional[str]]:
    """``inception`` -> ("inception", None); ``domain:digits`` -> ("domain", "digits")."""
    kind, _, dataset = spec.partition(":")
    if kind == "inception" and not dataset:
        return "inception", None
    if kind == "domain" and dataset:
        return "domain", dataset
    raise ValueError(f"--features must be 'inception' or 'domain:DATASET' (e.g. domain:digits), "
                     f"got {spec!r}")


def describe(clf: DomainClassifier) -> str:
    """One line with the classifier's accuracy and calibration values."""
    i = clf.info
    return (f"domain classifier {i.get('dataset')!r}: held-out accuracy "
            f"{100 * i['test_accuracy']:.2f}%, real-vs-real FID {i['real_vs_real_fid']:.3f}, "
            f"real-vs-noise FID {i['real_vs_noise_fid']:.1f}, real IS {i['real_is']:.2f}, "
            f"noise IS {i['noise_is']:.2f} ({i['calibration_samples']} held-out images)")



# ----------------------------------------------------------------------------------------------
# class-conditional samples (cgan, acgan)
# ----------------------------------------------------------------------------------------------

AGREEMENT_STEPS = 1500   # the label reader: 5x the domain classifier's 300 Adam steps, with
                         # the lr decayed to 0 (measured on MNIST, t10k[8000:]: 97.4 % at the
                         # end; at a constant lr 98.2 % at step 900 but 96.0 % at step 1,500)


def load_label_reader(config: DomainConfig, device: str = "cpu") -> DomainClassifier:
    """The classifier that reads a sample's class (``label_agreement``, InfoGAN's code
    matching): ``config``'s domain LeNet trained for ``AGREEMENT_STEPS`` with its lr decayed to
    0 (cached like the domain classifier)."""
    return load_domain_classifier(config.dataset, device=device, config=dataclasses.replace(
        config, steps=AGREEMENT_STEPS, lr_decay=True))


def evaluate_conditional_samples(images, labels, dataset_name: str, reference=None,
                                 value_range=None, device: str = "cpu",
                                 data_dir: Optional[str] = None,
                                 config: Optional[DomainConfig] = None) -> dict:
    """Scores of class-conditional samples x_i = G(z_i, y_i) with the domain classifier.

    Returns (for ``Run.log``):
        label_agreement      fraction of samples assigned to their label y_i by the
                             agreement classifier: the domain LeNet trained 5x longer
                             (``AGREEMENT_STEPS``, lr decayed to 0), since a reader of labels
                             should be as accurate as it can be
        domain_fid, domain_is, precision, recall   of all samples (:func:`evaluate_samples`)
        domain_fid_class     per-class domain FID, a list over k: samples of class k vs the
                             held-out real images of class k (``reference``)
        domain_fid_class_mean  their mean
        real_agreement       the agreement classifier's accuracy on ``reference`` (what a
                             perfect conditional sampler would score)
    ``reference``: held-out labelled real images (x, y) (e.g. the method's test set); without
    it only the agreement and the overall scores are returned. Per-class FIDs use about
    N / K images per class and so sit higher than the all-class FID: compare them at equal N.
    Shapes: images (N, ...) any layout of :func:`to_unit_nchw`, labels (N,) int.
    """
    config = config or DomainConfig(dataset=dataset_name, data_dir=data_dir)
    clf = load_domain_classifier(dataset_name, config=config, device=device)
    reader = load_label_reader(config, device)
    labels = np.asarray(labels, dtype=np.int64)
    x = clf.prepare(images, value_range)                             # (N, C, H, W) in [0, 1]
    probs = compute_features(x, reader.prob_fn, 200)                 # (N, K)
    out = {"label_agreement": float(np.mean(probs.argmax(axis=1) == labels))}
    # IS splits take consecutive samples: shuffle, or a split would hold one class only
    order = np.random.default_rng(0).permutation(len(x))
    out.update(evaluate_samples(x[order], dataset_name, value_range=(0.0, 1.0), device=device,
                                config=config))
    if reference is None or reference[1] is None:
        return out
    x_ref = clf.prepare(reference[0], value_range)
    y_ref = np.asarray(reference[1], dtype=np.int64)
    out["real_agreement"] = float(np.mean(
        compute_features(x_ref, reader.prob_fn, 200).argmax(axis=1) == y_ref))
    f_gen = compute_features(x, clf.feature_fn, 200)                 # (N, D)
    f_ref = compute_features(x_ref, clf.feature_fn, 200)             # (N_ref, D)
    per_class = []
    for k in np.unique(labels):
        a, b = f_ref[y_ref == k], f_gen[labels == k]
        if len(a) < 2 or len(b) < 2:
            per_class.append(float("nan"))
            continue
        with warnings.catch_warnings():          # ~N/K images per class: biased, as said
            warnings.filterwarnings("ignore", message="feature_statistics: only")
            per_class.append(_frechet(*feature_statistics(a), *feature_statistics(b)))
    out["domain_fid_class"] = [round(v, 3) for v in per_class]
    out["domain_fid_class_mean"] = float(np.nanmean(per_class))
    return out
