"""Checkpoints: one .npz, nested structure and Python types restored exactly."""
import collections
import math
import os

import numpy as np
import pytest

from tinygen.io import CheckpointError, load_checkpoint, restore_checkpoint, save_checkpoint


class Fake:
    """A dict-based stand-in for a module or an optimizer."""

    def __init__(self, state):
        self.state = state
        self.loaded = None

    def state_dict(self):
        return self.state

    def load_state_dict(self, state):
        self.loaded = state


def assert_same(a, b):
    assert type(a) is type(b), (a, b)
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            assert_same(u, v)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


def test_round_trip_exact(tmp_path):
    rng = np.random.default_rng(5)
    model = Fake(collections.OrderedDict([("0.weight", rng.standard_normal((3, 2)).astype(np.float32)),
                                          ("0.bias", np.zeros(3, np.float64)),
                                          ("bn.num_batches_tracked", np.array(7, np.int64))]))
    optim = Fake({"state": {0: {"step": 3, "exp_avg": np.ones((3, 2), np.float32)}, 1: {}},
                  "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1],
                                    "amsgrad": False, "weight_decay": 0, "name": None,
                                    "eps": float("inf"), "x": float("nan"), "s": np.float32(0.5)}]})
    gen = np.random.default_rng(123)
    gen.random(7)
    rng_state = {"data": gen.bit_generator.state, "empty": []}
    path = tmp_path / "run" / "checkpoint.npz"
    save_checkpoint(str(path), step=42, rng_state=rng_state, model=model, optimizer=optim, elapsed=1.5)
    assert os.listdir(path.parent) == ["checkpoint.npz"]
    with np.load(path) as f:                       # readable flattened names
        assert {"model/0.weight", "optimizer/state/0/exp_avg"} <= set(f.files)
    state = load_checkpoint(str(path))
    assert state["step"] == 42 and type(state["step"]) is int and state["elapsed"] == 1.5
    assert_same(state["model"], model.state)
    assert_same(state["optimizer"], optim.state)
    assert_same(state["rng_state"], rng_state)
    restored = np.random.default_rng()
    restored.bit_generator.state = state["rng_state"]["data"]
    assert np.array_equal(restored.random(5), gen.random(5))

    m2, o2 = Fake(None), Fake(None)
    out = restore_checkpoint(str(path), model=m2, optimizer=o2)
    assert out["step"] == 42
    assert_same(m2.loaded, model.state)
    assert_same(o2.loaded, optim.state)
    with pytest.raises(CheckpointError, match="no entry 'critic'.*model"):
        restore_checkpoint(str(path), critic=Fake(None))


def test_tensor_like_values_become_arrays(tmp_path):
    class T:
        def numpy(self):
            return np.arange(3, dtype=np.float32)
    save_checkpoint(str(tmp_path / "c.npz"), step=0, model=Fake({"w": T()}))
    w = load_checkpoint(str(tmp_path / "c.npz"))["model"]["w"]
    assert isinstance(w, np.ndarray) and w.tolist() == [0, 1, 2]


def test_errors(tmp_path):
    with pytest.raises(CheckpointError, match="cannot store a object"):
        save_checkpoint(str(tmp_path / "x.npz"), step=0, thing={"a": object()})
    assert not (tmp_path / "x.npz").exists()
    with pytest.raises(FileNotFoundError):
        load_checkpoint(str(tmp_path / "absent.npz"))
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(CheckpointError, match="not a tinygen checkpoint"):
        load_checkpoint(str(tmp_path / "other.npz"))
    save_checkpoint(str(tmp_path / "ok.npz"), step=1, model=Fake({"w": np.zeros(1000)}))
    data = (tmp_path / "ok.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(str(tmp_path / "cut.npz"))


def test_save_npz_failing_mid_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    from tinygen.io.files import atomic_write_bytes, save_npz
    path = tmp_path / "sub" / "a.npz"
    save_npz(str(path), x=np.arange(3))                 # creates the folder too

    class Broken:
        def __array__(self, *args, **kwargs):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        save_npz(str(path), x=np.arange(5), y=Broken())
    assert os.listdir(path.parent) == ["a.npz"]
    np.testing.assert_array_equal(np.load(path)["x"], [0, 1, 2])
    atomic_write_bytes(str(path), b"raw")
    assert path.read_bytes() == b"raw"
