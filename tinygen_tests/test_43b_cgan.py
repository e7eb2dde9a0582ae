"""Conditional GAN (issue 18): the conditional nets, the projection discriminator, the run.

Read in order: how the label enters G and D (concatenation, channel maps, projection) -> the
conditional sampling helpers (class grids, interpolation at a fixed label) -> a short run
(samples.npz with balanced y, pictures, scores) -> exact resume -> the stand-in CUDA device
-> presets -> the quality bar on MNIST (slow).
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tinygen as tg
from tinygen import nn
from tinygen.data.arrays import LabelledSet
from tinygen.io.checkpoint import restore_checkpoint
from tinygen.methods import cgan
from tinygen.methods import conditional as C
from tinygen.methods.run import read_metrics
from tinygen.models.cond_nets import (ConcatDiscriminator, ProjectionDiscriminator,
                                      build_conditional_pair)
from tinygen.models.gan_nets import GANArch

SHARED_MNIST = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist")


def labels(*ys):
    return tg.tensor(np.array(ys, dtype=np.int64))


# ---------------------------------------------------------------- how y enters

@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
@pytest.mark.parametrize("projection", [False, True])
def test_the_label_changes_both_players(arch, projection):
    tg.manual_seed(0)
    G, D = build_conditional_pair(GANArch(arch=arch, hidden=16, ngf=8, ndf=8), (1, 28, 28), 10,
                                  6, projection)
    z = tg.randn(1, 6).expand(2, 6)                                  # the same z twice
    with tg.no_grad():
        x = G(z, labels(3, 7))
        assert x.shape == (2, 1, 28, 28)
        assert np.abs(x[0].cpu().numpy() - x[1].cpu().numpy()).max() > 1e-4      # y alone moved G
        d = D(tg.cat([x[:1], x[:1]], 0), labels(3, 7))
        assert d.shape == (2, 1) and abs(float(d[0, 0]) - float(d[1, 0])) > 1e-6


def test_concat_discriminator_lays_the_one_hot_over_every_pixel():
    seen = {}

    class Spy(nn.Module):
        def forward(self, x):
            seen["x"] = x
            return x.sum((1, 2, 3)).reshape(-1, 1)
    D = ConcatDiscriminator(Spy(), 4, maps=True)
    D(tg.zeros(2, 1, 3, 3), labels(1, 3))
    planes = seen["x"].cpu().numpy()
    assert planes.shape == (2, 5, 3, 3)
    np.testing.assert_array_equal(planes[0, 1:, 0, 0], [0, 1, 0, 0])
    np.testing.assert_array_equal(planes[1, 1:], np.eye(4)[3][:, None, None] * np.ones((4, 3, 3)))


def test_projection_is_psi_plus_the_inner_product_with_the_embedding():
    tg.manual_seed(0)
    trunk = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    D = ProjectionDiscriminator(trunk, 3, 5)
    x, y = tg.randn(2, 1, 2, 2), labels(0, 4)
    with tg.no_grad():
        phi = trunk(x).cpu().numpy()
        expected = D.psi(trunk(x)).cpu().numpy()[:, 0] + (D.embed.weight.cpu().numpy()[[0, 4]] * phi).sum(1)
        np.testing.assert_allclose(D(x, y).cpu().numpy()[:, 0], expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- sampling helpers

def test_class_grid_rows_are_classes_and_columns_share_z():
    tg.manual_seed(0)
    G, _ = build_conditional_pair(GANArch(arch="mlp", hidden=8), (1, 4, 4), 3, 2)
    rng = np.random.default_rng(0)
    grid = C.class_grid(G, 3, 2, tg.nn.module_device(G), rng, cols=4)
    assert grid.shape == (12, 1, 4, 4)
    z = np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32)
    again = C.generate_conditional(G, np.array([2, 2, 2, 2]), 2, tg.nn.module_device(G), z=z)
    np.testing.assert_allclose(grid[8:], again, atol=1e-6)          # row 2 = class 2, same z
    path = C.interpolation_grid(G, 3, 2, tg.nn.module_device(G), np.random.default_rng(1), steps=5)
    assert path.shape == (15, 1, 4, 4)
    assert np.abs(path[0] - path[4]).max() > 1e-5                   # the walk moves ...
    np.testing.assert_array_equal(C.balanced_labels(2, 3), [0, 0, 1, 1, 2, 2])


# ---------------------------------------------------------------- short runs

TINY = dict(arch="mlp", hidden=32, n_hidden=2, latent_dim=8, batch_size=16, n_train=300,
            n_samples=100, quiet=True, log_every=2, sample_every=2, final_eval=False,
            optimizer="adam", lr_d=1e-3, lr_g=1e-3)


def test_short_run_writes_balanced_samples_and_pictures(tmp_path):
    out = cgan.train(cgan.Config(steps=4, out=str(tmp_path), **TINY))
    samples = np.load(os.path.join(out, "samples.npz"))
    assert samples["x"].dtype == np.uint8 and samples["x"].shape == (1000, 28, 28)
    assert np.bincount(samples["y"]).tolist() == [100] * 10          # >= 100 per class
    for name in ("class_grid.png", "interpolation.png", "config.json", "checkpoint.npz"):
        assert os.path.exists(os.path.join(out, name)), name
    from PIL import Image
    w, h = Image.open(os.path.join(out, "class_grid.png")).size
    assert h > w * 0.9                                              # 10 rows of 10
    assert [r["step"] for r in read_metrics(out)] == [2, 4]


def test_unlabelled_images_are_refused(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((20, 28, 28), np.uint8), y=np.r_[np.arange(10), -np.ones(10, int)])
    with pytest.raises(ValueError, match="10 of 20 are -1"):
        cgan.train(cgan.Config(dataset=f"npz:{path}", steps=2, out=str(tmp_path / "r"),
                               **{**TINY, "n_train": 0}))


@pytest.mark.parametrize("extra", [dict(), dict(arch="dcgan", ngf=8, ndf=8, projection=True)])
def test_resume_continues_bit_identically(tmp_path, extra):
    base = {**TINY, **extra, "checkpoint_every": 3}
    full = cgan.train(cgan.Config(steps=6, out=str(tmp_path / "full"), **base))
    cgan.train(cgan.Config(steps=3, out=str(tmp_path / "half"), **base))
    resumed = cgan.train(cgan.Config(steps=6, resume=str(tmp_path / "half"), **base))
    config = cgan.Config(steps=6, **base)
    data = LabelledSet(np.zeros((1, 1, 28, 28), np.float32), np.zeros(1, np.int64), 10)
    states = []
    for out in (full, resumed):
        G, D = cgan.build_models(config, data)
        restore_checkpoint(os.path.join(out, "checkpoint.npz"), G=G, D=D)
        states.append({**G.state_dict(), **{"D." + k: v for k, v in D.state_dict().items()}})
    for k in states[0]:
        np.testing.assert_array_equal(states[0][k].cpu().numpy(), states[1][k].cpu().numpy(), err_msg=k)
    np.testing.assert_array_equal(np.load(os.path.join(full, "samples.npz"))["x"],
                                  np.load(os.path.join(resumed, "samples.npz"))["x"])


def test_runs_on_the_stand_in_cuda_device(tmp_path):
    env = dict(os.environ, TINYGEN_SIMULATE_CUDA="1")
    cmd = [sys.executable, "-m", "tinygen", "run", "cgan", "--device", "cuda", "--steps", "2",
           "--log-every", "2", "--sample-every", "2", "--arch", "dcgan", "--ngf", "8", "--ndf",
           "8", "--projection", "--n-train", "200", "--no-final-eval", "--n-samples", "100",
           "--quiet", "--out", str(tmp_path / "run")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.load(open(tmp_path / "run" / "config.json"))["device"] == "cuda"
    assert os.path.exists(tmp_path / "run" / "class_grid.png")


def test_the_digits28_preset_is_the_default_on_digits_and_paper_keeps_the_paper():
    from tinygen import cli
    auto = cli.build_config(cgan, ["--dataset", "digits"])
    assert (auto.arch, auto.optimizer, auto.lr_d, auto.batch_size) == ("dcgan", "adam", 5e-4, 32)
    paper = cli.build_config(cgan, ["--preset", "paper"])
    assert (paper.arch, paper.optimizer, paper.lr_d, paper.momentum, paper.batch_size) == \
        ("mlp", "sgd", 0.1, 0.5, 100)
    assert cli.build_config(cgan, ["--projection"]).projection


# ---------------------------------------------------------------- the quality bar (MNIST)

def _mnist(tmp_path):
    from tinygen.data import load_mnist
    if not os.path.exists(os.path.join(SHARED_MNIST, "t10k-images-idx3-ubyte.gz")):
        pytest.skip("no MNIST test split in the shared folder")
    x, y = load_mnist(SHARED_MNIST, split="test")
    np.savez(tmp_path / "train.npz", x=x[:8000], y=y[:8000])
    np.savez(tmp_path / "test.npz", x=x[8000:], y=y[8000:])
    return f"npz:{tmp_path / 'train.npz'}", f"npz:{tmp_path / 'test.npz'}"


@pytest.mark.slow
def test_mnist_short_form_samples_carry_their_label(tmp_path):
    # CI form: the first 2,500 steps of the default run (digits28 has no lr schedule; measured
    # there: agreement 85.7 % with the constant-lr reader, before the reader decayed its lr).
    from tinygen import cli
    train, test = _mnist(tmp_path)
    config = cli.build_config(cgan, ["--dataset", train, "--test-dataset", test, "--steps",
                                     "2500", "--quiet", "--out", str(tmp_path / "run")])
    last = read_metrics(cgan.train(config))[-1]
    assert last["label_agreement"] >= 0.80, last


@pytest.mark.slow
def test_mnist_samples_are_classified_as_their_label(tmp_path):
    # The default run, issue 18's bar (docs/cgan.md: 9,000 steps, 96.7 % agreement, the reader
    # 97.35 % on the real held-out digits, per-class domain FID reported).
    from tinygen import cli
    train, test = _mnist(tmp_path)
    config = cli.build_config(cgan, ["--dataset", train, "--test-dataset", test, "--quiet",
                                     "--out", str(tmp_path / "run")])
    last = read_metrics(cgan.train(config))[-1]
    assert last["label_agreement"] >= 0.95, last
    assert len(last["domain_fid_class"]) == 10 and last["real_agreement"] >= 0.97
