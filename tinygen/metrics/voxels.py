"""Scoring generated voxel shapes: a small 3-D classifier of the embedded solids (3D-GAN's bar).

The question is "does each sample look like one of the solids, and are all kinds made?".
A classifier that only knows the five solids would name a class for any blob, so it is
trained with a sixth class, ``other``: volumes that are no single solid (two solids of
different kinds together, a solid with a random half cut away, smoothed random noise
thresholded, near-empty and near-full grids). A sample counts as *recognised* when the
classifier gives one of the five solids a probability >= ``threshold`` (0.9) after the sample
is binarised at 0.5.

    classifier    Conv3d(1, 16, 4, 2, 1) LReLU -> Conv3d(16, 32, 4, 2, 1) LReLU
                  -> Linear(32 4^3, 6)          (16^3 volumes; Adam 2e-3, batch 64), each
                  volume first rolled so its voxels' centre sits at the grid's centre
    solid_scores  recognised fraction, the fraction of each kind among the recognised,
                  kinds present, the classifier's accuracy on held-out solids and "other"s

Everything here works on host arrays; the classifier trains in ~30 s of one core.
"""
from __future__ import annotations

from typing import Dict, Optional

import tinygen
from tinygen import backend, functional as F, nn, optim
from tinygen.data.voxels import SOLIDS, solid, synthetic_solids

np = backend.numpy

OTHER = len(SOLIDS)                    # the label of "no single solid"
CLASSES = SOLIDS + ("other",)
_CACHE: Dict[tuple, "SolidClassifier"] = {}

__all__ = ["SolidClassifier", "other_volumes", "train_solid_classifier", "solid_scores", "CLASSES"]


class SolidClassifier(nn.Module):
    """x (N, 1, 16, 16, 16) in {0, 1} -> logits (N, 6) over the five solids and 'other'."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv3d(1, width, 4, 2, 1), nn.LeakyReLU(0.2),             # (N, w, 8, 8, 8)
            nn.Conv3d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2))     # (N, 2w, 4, 4, 4)
        self.head = nn.Linear(2 * width * 64, len(CLASSES))

    def forward(self, x):
        h = self.features(x)
        return self.head(h.reshape(h.shape[0], -1))                      # (N, 6)


def other_volumes(n: int, rng: np.random.Generator, side: int = 16) -> np.ndarray:
    """n volumes that are not one solid: uint8 (n, side, side, side) in {0, 1}."""
    out = np.zeros((n, side, side, side), np.uint8)
    for i in range(n):
        kind = i % 4
        if kind == 0:                                                    # two different solids
            a, b = rng.choice(len(SOLIDS), 2, replace=False)
            out[i] = solid(int(a), rng, side) | solid(int(b), rng, side)
        elif kind == 1:                                                  # a solid cut in half
            v = solid(int(rng.integers(len(SOLIDS))), rng, side)
            axis, cut = int(rng.integers(3)), int(rng.integers(4, side - 4))
            index = [slice(None)] * 3
            index[axis] = slice(cut, None) if rng.random() < 0.5 else slice(None, cut)
            v[tuple(index)] = 0
            out[i] = v
        elif kind == 2:                                                  # smoothed noise blobs
            noise = rng.standard_normal((side, side, side))
            for axis in range(3):                                        # a box blur, 3 passes
                for _ in range(3):
                    noise = (np.roll(noise, 1, axis) + noise + np.roll(noise, -1, axis)) / 3
            out[i] = noise > np.quantile(noise, rng.uniform(0.75, 0.95))
        else:                                                            # scattered voxels
            out[i] = rng.random((side, side, side)) < rng.uniform(0.01, 0.3)
    return out


def centred(volumes) -> np.ndarray:
    """Volumes (N, S, S, S) rolled so that each one's occupied voxels have their centroid at
    the grid's centre (integer shifts): the classifier then need not learn positions."""
    v = np.asarray(volumes)
    out = np.empty_like(v)
    for i, vol in enumerate(v):
        where = np.argwhere(vol > 0.5)                                   # (n, 3) occupied voxels
        if len(where) == 0:
            out[i] = vol
            continue
        shift = np.round(np.array(vol.shape) / 2 - (where.mean(0) + 0.5)).astype(int)
        out[i] = np.roll(vol, tuple(shift), axis=(0, 1, 2))
    return out


def train_solid_classifier(seed: int = 0, steps: int = 400, n: int = 3000,
                           batch: int = 64) -> SolidClassifier:
    """The classifier, trained on n solids + n/2 'other' volumes (seeded; cached per process)."""
    key = (seed, steps, n, batch)
    if key in _CACHE:
        return _CACHE[key]
    rng = np.random.default_rng(seed + 77)
    ds = synthetic_solids(n, seed + 99)
    x = centred(np.concatenate([ds.x, other_volumes(n // 2, rng)]))[:, None].astype(np.float32)
    y = np.concatenate([ds.y, np.full(n // 2, OTHER)])
    saved = backend.get_rng_state()              # seeded weights, the caller's stream untouched
    backend.manual_seed(seed + 5)
    model = SolidClassifier()
    backend.set_rng_state(saved)
    opt = optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(steps):
        idx = rng.integers(0, len(x), batch)
        loss = F.cross_entropy(model(tinygen.tensor(x[idx])), tinygen.tensor(y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    _CACHE[key] = model
    return model


def _probabilities(model, volumes) -> np.ndarray:
    x = centred((np.asarray(volumes) > 0.5).astype(np.float32))[:, None]
    out = []
    with tinygen.no_grad():
        for start in range(0, len(x), 256):
            out.append(F.softmax(model(tinygen.tensor(x[start:start + 256])), -1).cpu().numpy())
    return np.concatenate(out)                                           # (N, 6)


def solid_scores(volumes, model: Optional[SolidClassifier] = None, threshold: float = 0.9,
                 seed: int = 0) -> dict:
    """Scores of volumes (N, 16, 16, 16) (occupancy probabilities or 0/1):

        recognised        fraction classified as a solid with probability >= threshold
        kind_<name>       fraction of the recognised that are that kind
        kinds_present     how many of the five kinds were recognised at least once
        occupancy         mean fraction of voxels above 0.5
        clf_acc_solids / clf_acc_other   the classifier's accuracy on fresh real solids and
                          on fresh 'other' volumes (what "recognised" can be trusted to)
    """
    model = model or train_solid_classifier(seed)
    p = _probabilities(model, volumes)
    label, conf = p.argmax(1), p.max(1)
    ok = (label < OTHER) & (conf >= threshold)
    counts = np.bincount(label[ok], minlength=len(SOLIDS))[:len(SOLIDS)]
    scores = {"recognised": round(float(ok.mean()), 4),
              "kinds_present": int((counts > 0).sum()),
              "occupancy": round(float((np.asarray(volumes) > 0.5).mean()), 4)}
    for name, c in zip(SOLIDS, counts):
        scores[f"kind_{name}"] = round(float(c / max(1, ok.sum())), 4)
    test = synthetic_solids(500, seed + 12345)
    pt = _probabilities(model, test.x)
    scores["clf_acc_solids"] = round(float((pt.argmax(1) == test.y).mean()), 4)
    po = _probabilities(model, other_volumes(200, np.random.default_rng(seed + 54321)))
    scores["clf_acc_other"] = round(float((po.argmax(1) == OTHER).mean()), 4)
    return scores
