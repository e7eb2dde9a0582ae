"""BiGAN (issue 18): the joint discriminator, the linear probe, reconstructions, the run.

Read in order: the probe on codes whose classes are known to be (not) linearly readable ->
the pair discriminator's inputs -> a short run (probe vs random encoder in metrics.jsonl,
reconstructions.png) -> exact resume -> the stand-in CUDA device -> MNIST (slow).
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tinygen as tg
from tinygen.io.checkpoint import restore_checkpoint
from tinygen.methods import bigan
from tinygen.methods import conditional as C
from tinygen.methods.run import read_metrics
from tinygen.metrics.probe import linear_probe_accuracy
from tinygen.models.cond_nets import JointDiscriminator

SHARED_MNIST = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist")


def test_linear_probe_reads_linear_classes_and_not_noise():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 400)
    h = np.eye(4)[y] * 3 + rng.normal(size=(400, 4))                 # separable codes
    assert linear_probe_accuracy(h[:300], y[:300], h[300:], y[300:]) > 0.9
    noise = rng.normal(size=(400, 6))                                # codes that say nothing
    assert linear_probe_accuracy(noise[:300], y[:300], noise[300:], y[300:]) < 0.45
    # XOR classes are not linearly readable, whatever the fit does
    s = rng.choice([-1.0, 1.0], size=(400, 2))
    xor = (s[:, 0] * s[:, 1] > 0).astype(int)
    assert linear_probe_accuracy(s[:300], xor[:300], s[300:], xor[300:]) < 0.7
    # deterministic: a convex fit from W = 0
    assert linear_probe_accuracy(h[:300], y[:300], h[300:], y[300:]) == \
        linear_probe_accuracy(h[:300], y[:300], h[300:], y[300:])


def test_joint_discriminator_sees_x_and_z():
    tg.manual_seed(0)
    D = JointDiscriminator(4, 3, hidden=8, n_hidden=1)
    x, z = tg.randn(2, 1, 2, 2), tg.randn(2, 3)
    with tg.no_grad():
        a, b = D(x, z).cpu().numpy(), D(x, z * 0).cpu().numpy()
    assert a.shape == (2, 1) and np.abs(a - b).max() > 1e-6


TINY = dict(hidden=32, n_hidden=1, latent_dim=4, batch_size=16, n_train=300, n_probe=200,
            n_samples=64, quiet=True, log_every=2, eval_every=2, sample_every=2)


def test_short_run_logs_the_probe_and_draws_reconstructions(tmp_path):
    out = bigan.train(bigan.Config(steps=4, out=str(tmp_path), **TINY))
    records = read_metrics(out)
    assert [r["step"] for r in records] == [2, 4]
    for r in records:
        assert 0 <= r["probe_accuracy"] <= 1 and 0 <= r["probe_accuracy_random"] <= 1
    # the random encoder never trains: its probe is the same at every step
    assert records[0]["probe_accuracy_random"] == records[1]["probe_accuracy_random"]
    assert os.path.exists(os.path.join(out, "reconstructions.png"))
    assert np.load(os.path.join(out, "samples.npz"))["x"].shape[1:] == (28, 28)


def test_reconstruction_rows_alternate_inputs_and_outputs():
    tg.manual_seed(0)
    config = bigan.Config(**TINY)
    from tinygen.data.arrays import LabelledSet
    data = LabelledSet(np.zeros((1, 1, 28, 28), np.float32), np.zeros(1, np.int64), 10)
    G, E, _ = bigan.build_models(config, data)
    x = np.random.default_rng(0).uniform(-1, 1, (10, 1, 28, 28)).astype(np.float32)
    grid = bigan.reconstructions(G, E, x, tg.nn.module_device(G))
    assert grid.shape == (20, 1, 28, 28)
    np.testing.assert_array_equal(grid[:8], x[:8])
    np.testing.assert_array_equal(grid[16:18], x[8:])
    with tg.no_grad():
        G.eval()       # (R.sampling keeps train mode; compare with the same mode)
    assert not np.allclose(grid[8:16], x[:8])


def test_resume_continues_bit_identically(tmp_path):
    base = dict(TINY, checkpoint_every=3)
    full = bigan.train(bigan.Config(steps=6, out=str(tmp_path / "full"), **base))
    bigan.train(bigan.Config(steps=3, out=str(tmp_path / "half"), **base))
    resumed = bigan.train(bigan.Config(steps=6, resume=str(tmp_path / "half"), **base))
    config = bigan.Config(steps=6, **base)
    data, _ = C.load_labelled_data(config)
    states = []
    for out in (full, resumed):
        G, E, D = bigan.build_models(config, data)
        restore_checkpoint(os.path.join(out, "checkpoint.npz"), G=G, E=E, D=D)
        states.append([m.state_dict() for m in (G, E, D)])
    for a, b in zip(*states):
        for k in a:
            np.testing.assert_array_equal(a[k].cpu().numpy(), b[k].cpu().numpy(), err_msg=k)
    a, b = read_metrics(full)[-1], read_metrics(resumed)[-1]       # step 6 in both
    for key in ("step", "probe_accuracy", "probe_accuracy_random"):
        assert a[key] == b[key], key


def test_runs_on_the_stand_in_cuda_device(tmp_path):
    env = dict(os.environ, TINYGEN_SIMULATE_CUDA="1")
    cmd = [sys.executable, "-m", "tinygen", "run", "bigan", "--device", "cuda", "--steps", "2",
           "--log-every", "2", "--eval-every", "2", "--hidden", "16", "--n-hidden", "1",
           "--n-train", "200", "--n-probe", "100", "--quiet", "--out", str(tmp_path / "run")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.load(open(tmp_path / "run" / "config.json"))["device"] == "cuda"
    assert "probe_accuracy" in read_metrics(str(tmp_path / "run"))[-1]


def test_paper_defaults_and_the_cpu_preset():
    c = bigan.Config()
    assert (c.latent_dim, c.hidden, c.batch_size, c.lr, c.beta1, c.weight_decay) == \
        (50, 1024, 128, 2e-4, 0.5, 2.5e-5)
    from tinygen import cli
    auto = cli.build_config(bigan, [])
    assert (auto.hidden, auto.lr) == (512, 5e-4)
    assert cli.build_config(bigan, ["--preset", "paper"]).hidden == 1024


@pytest.mark.slow
def test_mnist_probe_beats_the_random_encoder(tmp_path):
    from tinygen.data import load_mnist
    if not os.path.exists(os.path.join(SHARED_MNIST, "t10k-images-idx3-ubyte.gz")):
        pytest.skip("no MNIST test split in the shared folder")
    x, y = load_mnist(SHARED_MNIST, split="test")
    np.savez(tmp_path / "train.npz", x=x[:8000], y=y[:8000])
    np.savez(tmp_path / "test.npz", x=x[8000:], y=y[8000:])
    from tinygen import cli
    config = cli.build_config(bigan, ["--dataset", f"npz:{tmp_path / 'train.npz'}",
                                      "--test-dataset", f"npz:{tmp_path / 'test.npz'}",
                                      "--steps", "2000", "--quiet", "--out",
                                      str(tmp_path / "run")])
    last = read_metrics(bigan.train(config))[-1]
    assert last["probe_accuracy"] > last["probe_accuracy_random"] + 0.02, last
