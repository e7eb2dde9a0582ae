"""AC-GAN (issue 18): D predicts the class beside real / fake; the cGAN's pictures and scores.

Read in order: the two heads of D -> the losses each player descends -> a short run -> exact
resume -> the stand-in CUDA device -> presets.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tinygen as tg
from tinygen import functional as F
from tinygen import losses as L
from tinygen.data.arrays import LabelledSet
from tinygen.io.checkpoint import restore_checkpoint
from tinygen.methods import acgan
from tinygen.methods.run import read_metrics
from tinygen_tests.conftest import assert_array_equal

DATA = LabelledSet(np.zeros((1, 1, 28, 28), np.float32), np.zeros(1, np.int64), 10)
TINY = dict(ngf=8, ndf=8, latent_dim=8, batch_size=16, n_train=300, n_samples=100, quiet=True,
            log_every=2, sample_every=2, final_eval=False)


def test_d_has_a_source_logit_and_k_class_logits():
    tg.manual_seed(0)
    G, D = acgan.build_models(acgan.Config(**TINY), DATA)
    x = G(tg.randn(3, 8), tg.tensor(np.array([0, 5, 9])))
    s, k, phi = D(x)
    assert x.shape == (3, 1, 28, 28) and s.shape == (3, 1) and k.shape == (3, 10)
    assert phi.ndim == 2


def test_the_discriminator_loss_is_source_plus_class_terms():
    tg.manual_seed(0)
    config = acgan.Config(**TINY)
    G, D = acgan.build_models(config, DATA)
    x, c = tg.randn(4, 1, 28, 28), tg.tensor(np.array([1, 2, 3, 4]))
    from tinygen import backend, optim
    rng = backend.get_rng_state()
    opt = optim.SGD(D.parameters(), lr=0.0)                         # lr 0: D is unchanged
    out = acgan.discriminator_step(config, G, D, opt, x, c, 8)
    backend.set_rng_state(rng)
    z = tg.randn(4, 8)
    with tg.no_grad():
        s_r, k_r, _ = D(x)
        s_f, k_f, _ = D(G(z, c))
        classes = float(F.cross_entropy(k_r, c) + F.cross_entropy(k_f, c))
        total = float(L.d_loss_minimax(s_r, s_f)) + classes
    assert float(out["loss_class"]) == pytest.approx(classes, rel=1e-4)
    assert float(out["loss_d"]) == pytest.approx(total, rel=1e-4)


def test_short_run_and_bit_exact_resume(tmp_path):
    base = dict(TINY, checkpoint_every=3)
    full = acgan.train(acgan.Config(steps=6, out=str(tmp_path / "full"), **base))
    acgan.train(acgan.Config(steps=3, out=str(tmp_path / "half"), **base))
    resumed = acgan.train(acgan.Config(steps=6, resume=str(tmp_path / "half"), **base))
    config = acgan.Config(steps=6, **base)
    states = []
    for out in (full, resumed):
        G, D = acgan.build_models(config, DATA)
        restore_checkpoint(os.path.join(out, "checkpoint.npz"), G=G, D=D)
        states.append({**G.state_dict(), **{"D." + k: v for k, v in D.state_dict().items()}})
    for k in states[0]:
        assert_array_equal(states[0][k], states[1][k], err_msg=k)
    samples = np.load(os.path.join(full, "samples.npz"))
    assert np.bincount(samples["y"]).tolist() == [100] * 10
    assert os.path.exists(os.path.join(full, "class_grid.png"))
    assert {"loss_d", "loss_class", "loss_g"} <= set(read_metrics(full)[-1])


def test_runs_on_the_stand_in_cuda_device(tmp_path):
    env = dict(os.environ, TINYGEN_SIMULATE_CUDA="1")
    cmd = [sys.executable, "-m", "tinygen", "run", "acgan", "--device", "cuda", "--steps", "2",
           "--log-every", "2", "--sample-every", "2", "--ngf", "8", "--ndf", "8", "--n-train",
           "200", "--no-final-eval", "--n-samples", "100", "--quiet", "--out",
           str(tmp_path / "run")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.load(open(tmp_path / "run" / "config.json"))["device"] == "cuda"


def test_presets():
    from tinygen import cli
    auto = cli.build_config(acgan, ["--dataset", "digits"])
    assert (auto.ngf, auto.lr_d, auto.batch_size) == (32, 5e-4, 32)
    paper = cli.build_config(acgan, ["--preset", "paper"])
    assert (paper.lr_d, paper.beta1, paper.batch_size) == (2e-4, 0.5, 100)
