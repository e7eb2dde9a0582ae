"""TP-GAN (Huang et al. 2017): the rotation pairs, the two-pathway generator (quadrants, float64
gradchecks), the symmetry loss (by value, gradchecks), the five loss terms, the identity
network, a short run's files with `tinygen apply`, exact resume, the stand-in CUDA device and
the command line's one-line errors; the quality bar: a short form, and the MNIST measurement
(benchmarks/zoo_quality.py, slow).
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import tinygen as tg
from tinygen import cli
from tinygen import losses as L
from tinygen.data.paired import load_paired, rotation_pairs
from tinygen.gradcheck import check_module, gradcheck, gradgradcheck
from tinygen.io.checkpoint import load_checkpoint
from tinygen.methods import tpgan as T
from tinygen.methods.run import read_metrics
from tinygen.models.zoo_nets import TwoPathwayGenerator, quadrants, tile_quadrants
from tinygen_tests.conftest import (on_default_device, short_translation_run,
                                    zoo_quality_result)

TINY = ["--ngf", "4", "--nlf", "2", "--features", "2", "--ndf", "4", "--batch-size", "4",
        "--identity-steps", "5", "--quiet", "--log-every", "2", "--sample-every", "2"]


def _pairs_npz(path, n=12, labels=True):
    """32 px rotated / upright bars: b a vertical bar whose x-position is the label."""
    y = np.arange(n) % 3
    b = np.zeros((n, 32, 32), np.uint8)
    for i, k in enumerate(y):
        b[i, 6:26, 8 + 6 * k:11 + 6 * k] = 255
    a, _ = rotation_pairs(b, seed=1)
    np.savez(path, a=a, b=b, **({"y": y} if labels else {}))
    return f"npz:{path}"


# ----------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------

def test_rotation_pairs_turn_by_the_asked_angles():
    b = np.zeros((40, 32, 32), np.uint8)
    b[:, 4:28, 15:17] = 255                                        # a vertical bar
    a, same = rotation_pairs(b, seed=0)
    assert same is b or np.array_equal(same, b)
    assert a.shape == b.shape and a.dtype == np.uint8
    for im in a:                                                   # the bar's angle from vertical
        ys, xs = np.nonzero(im > 127)
        angle = abs(np.degrees(np.arctan2(np.polyfit(ys, xs, 1)[0], 1)))
        assert 27 <= angle <= 78, angle
    signs = [np.sign(np.polyfit(*np.nonzero(im > 127), 1)[0]) for im in a]
    assert 0 < np.mean(np.array(signs) > 0) < 1                    # both directions drawn
    np.testing.assert_array_equal(a, rotation_pairs(b, seed=0)[0])
    with pytest.raises(ValueError, match="grey images"):
        rotation_pairs(np.zeros((2, 8, 8, 3), np.uint8))


def test_rotdigits_is_the_offline_default_with_labels():
    p = load_paired("rotdigits", "train", n=6)
    assert p.a.shape == p.b.shape == (6, 32, 32) and p.y.shape == (6,)
    assert p.b[:, :2].max() == 0                                   # padded 28 -> 32
    test = load_paired("rotdigits", "test", n=6)
    assert not np.array_equal(test.b, p.b)
    np.testing.assert_array_equal(load_paired("rotdigits", "train", n=6).a, p.a)


# ----------------------------------------------------------------------------
# the generator and the new loss
# ----------------------------------------------------------------------------

def test_quadrants_tile_back_and_each_local_path_sees_only_its_own():
    x = tg.tensor(np.arange(2 * 3 * 8 * 8, dtype=np.float32).reshape(2, 3, 8, 8))
    parts = quadrants(x)
    assert [tuple(p.shape) for p in parts] == [(2, 3, 4, 4)] * 4
    np.testing.assert_array_equal(tile_quadrants(parts).cpu().numpy(), x.cpu().numpy())
    G = TwoPathwayGenerator(1, 1, size=8, ngf=2, nlf=2, features=2).eval()
    assert (G.depth, G.local_depth, G.multiple) == (3, 2, 8)
    a = np.random.default_rng(0).standard_normal((1, 1, 8, 8)).astype(np.float32)
    h = tg.tensor(a, requires_grad=True)
    out = G.local_paths[0](quadrants(h)[0])
    out.sum().backward()
    g = np.abs(h.grad.cpu().numpy()[0, 0])
    assert g[:4, :4].sum() > 0 and g[4:].sum() == 0 and g[:, 4:].sum() == 0


def test_two_pathway_generator_gradcheck():
    """float64, first and second order, wrt the input and every weight (batch norm training)."""
    G = TwoPathwayGenerator(1, 1, size=4, ngf=1, nlf=1, features=1)
    rng = np.random.default_rng(3)
    for p in G.parameters():
        p.data[...] = on_default_device(rng.standard_normal(p.shape) * 0.5)
    x = rng.standard_normal((2, 1, 4, 4))
    assert all(r.passed for r in check_module(G, x))


def test_symmetry_loss_by_value_and_gradchecks():
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 5))
    expected = np.abs(x - x[..., ::-1]).mean()
    assert np.isclose(L.symmetry_loss(tg.tensor(x)).item(), expected)
    assert L.symmetry_loss(tg.tensor(x + x[..., ::-1])).item() == 0.0
    # away from the |.| kink: x - mirror(x) bounded away from 0
    ramp = np.linspace(-1, 1, 5)[None, None, None] * np.ones((2, 3, 4, 1)) + 0.05 * x
    t = tg.tensor(ramp, requires_grad=True)
    up = np.random.default_rng(2).standard_normal(())
    gradcheck(L.symmetry_loss, [t], grad_outputs=[tg.tensor(up)])
    gradgradcheck(L.symmetry_loss, [t], grad_outputs=[tg.tensor(up)])
    with pytest.raises(ValueError):
        L.symmetry_loss(tg.tensor(np.zeros((3, 4))))


def test_generator_step_terms_by_value(tmp_path):
    config = T.Config(lambda_sym=0.3, quiet=True, out=str(tmp_path / "unused"))
    G, D = T.build_models(config, 1, 1, 32)
    rng = np.random.default_rng(0)
    b = tg.tensor(rng.uniform(-1, 1, (2, 1, 32, 32)).astype(np.float32), device=config.device)
    y = tg.tensor(rng.uniform(-1, 1, (2, 1, 32, 32)).astype(np.float32), device=config.device,
                  requires_grad=True)
    phi = T.build_identity_net(config, np.zeros((1, 1, 32, 32), np.float32), np.arange(10))
    opt = tg.optim.SGD([y], lr=0.0)
    out = {k: float(v) for k, v in T.generator_step(config, D, phi, opt, b, y).items()}
    yn, bn = y.cpu().numpy(), b.cpu().numpy()
    assert np.isclose(out["loss_pixel"], np.abs(yn - bn).mean(), rtol=1e-5)
    assert np.isclose(out["loss_sym"], np.abs(yn - yn[..., ::-1]).mean(), rtol=1e-5)
    tv = ((yn[:, :, 1:] - yn[:, :, :-1]) ** 2).sum() + ((yn[..., 1:] - yn[..., :-1]) ** 2).sum()
    assert np.isclose(out["loss_tv"], tv / yn.size, rtol=1e-5)
    with tg.no_grad():
        f = np.abs(phi.features(tg.tensor((yn + 1) / 2)).cpu().numpy()
                   - phi.features(tg.tensor((bn + 1) / 2)).cpu().numpy()).mean()
    assert np.isclose(out["loss_ip"], f, rtol=1e-5)
    total = (out["loss_pixel"] + 0.3 * out["loss_sym"] + 1e-3 * out["loss_adv"]
             + 3e-3 * out["loss_ip"] + 1e-4 * out["loss_tv"])
    assert np.isclose(out["loss_g"], total, rtol=1e-5)
    assert all(p.grad is None for p in phi.parameters())           # phi stays frozen
    off = T.generator_step(T.Config(quiet=True), D, phi, opt, b, y)
    assert "loss_sym" not in off                                   # the default: no L_sym


def test_identity_net_learns_the_labels_and_needs_them(tmp_path):
    pairs = load_paired(_pairs_npz(tmp_path / "p.npz", n=30))
    config = T.Config(identity_steps=60, quiet=True)
    x, y = T.identity_data(config, pairs, 32)
    phi = T.build_identity_net(config, x, y)
    T.train_identity_net(config, phi, x, y)
    b = (x * 2 - 1).astype(np.float32)
    assert T.identity_accuracy(config, phi, b, y) == 1.0           # three easy classes
    assert all(not p.requires_grad for p in phi.parameters())
    bare = load_paired(_pairs_npz(tmp_path / "q.npz", labels=False))
    with pytest.raises(ValueError, match="no labels y"):
        T.identity_data(config, bare, 32)


# ----------------------------------------------------------------------------
# runs
# ----------------------------------------------------------------------------

def test_default_run_writes_grids_predictions_scores_and_applies(tmp_path):
    config = cli.build_config(T, TINY + ["--steps", "2", "--n-train", "8", "--n-test", "5",
                                         "--out", str(tmp_path / "run")])
    assert config.dataset == "rotdigits" and config.lambda_sym == 0.0
    run = T.train(config)
    assert sorted(os.listdir(os.path.join(run, "frames"))) == [
        "translations_000000.png", "translations_000002.png"]
    with np.load(os.path.join(run, "predictions.npz")) as f:
        assert f["x"].shape == (5, 32, 32) and f["x"].dtype == np.uint8
    last = read_metrics(run)[-1]
    assert {"loss_d", "loss_g", "loss_pixel", "loss_adv", "loss_ip", "loss_tv", "test_psnr",
            "test_psnr_input", "test_identity_accuracy"} <= set(last)
    assert "phi" in load_checkpoint(os.path.join(run, "checkpoint.npz"))
    Image.fromarray(np.random.default_rng(4).integers(0, 256, (20, 40), dtype=np.uint8)).save(
        tmp_path / "in.png")
    assert cli.main(["apply", run, str(tmp_path / "in.png"), "--out",
                     str(tmp_path / "out.png")]) == 0
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert out.shape == (20, 40) and out.dtype == np.uint8


def test_resume_continues_bit_for_bit(tmp_path):
    """4 steps in one go == 2 steps + --resume 2 more (G, D, phi, optimisers, data order)."""
    spec = _pairs_npz(tmp_path / "p.npz")
    base = TINY + ["--dataset", spec, "--test-dataset", spec, "--lambda-sym", "0.3"]
    full = T.train(cli.build_config(T, base + ["--steps", "4", "--out", str(tmp_path / "full")]))
    half = T.train(cli.build_config(T, base + ["--steps", "2", "--out", str(tmp_path / "half")]))
    T.train(cli.build_config(T, ["--resume", half, "--steps", "4", "--quiet"]))
    one, two = (load_checkpoint(os.path.join(r, "checkpoint.npz")) for r in (full, half))
    for name in ("G", "D", "phi"):
        assert one[name].keys() == two[name].keys()
        for k, v in one[name].items():
            np.testing.assert_array_equal(v, two[name][k], err_msg=f"{name}.{k}")
    np.testing.assert_array_equal(np.load(os.path.join(full, "predictions.npz"))["x"],
                                  np.load(os.path.join(half, "predictions.npz"))["x"])
    assert [m["step"] for m in read_metrics(half)] == [2, 4]


def test_runs_on_the_stand_in_cuda_device(tmp_path):
    spec = _pairs_npz(tmp_path / "p.npz")
    env = dict(os.environ, TINYGEN_SIMULATE_CUDA="1")
    cmd = [sys.executable, "-m", "tinygen", "run", "tpgan", "--device", "cuda", "--steps",
           "2", "--dataset", spec, "--test-dataset", spec, "--out", str(tmp_path / "run")] + TINY
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.load(open(tmp_path / "run" / "config.json"))["device"] == "cuda"
    assert np.load(tmp_path / "run" / "predictions.npz")["x"].shape == (12, 32, 32)


@pytest.mark.parametrize("args, message", [
    (["--lambda-sym", "-1"], "--lambda-sym must be >= 0"),
    (["--dataset", "NOLABELS"], "no labels y to train the identity network"),
])
def test_bad_input_is_one_line_on_the_command_line(tmp_path, args, message):
    spec = _pairs_npz(tmp_path / "bare.npz", labels=False)
    args = [spec if x == "NOLABELS" else x for x in args]
    cmd = [sys.executable, "-m", "tinygen", "run", "tpgan", "--quiet", "--steps", "1",
           "--out", str(tmp_path / "run")] + args
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    lines = [ln for ln in done.stderr.splitlines() if ln.strip() and "preset" not in ln]
    assert len(lines) == 1 and message in lines[0], done.stderr


def test_presets():
    auto = cli.build_config(T, [])
    assert (auto.steps, auto.batch_size, auto.lambda_sym) == (1000, 16, 0.0)
    paper = cli.build_config(T, ["--preset", "paper"])
    assert (paper.lambda_sym, paper.lambda_adv, paper.lambda_ip, paper.lambda_tv) == \
        (0.3, 1e-3, 3e-3, 1e-4)


# ----------------------------------------------------------------------------
# the quality bar: short form here, the MNIST measurement (slow) below
# ----------------------------------------------------------------------------

def test_short_form_outputs_read_as_their_digit_and_psnr_rises_over_the_input(tmp_path):
    # 100 steps on the offline rotdigits (measured: pixel loss 0.68 -> 0.13, PSNR 16.4 dB
    # against the rotated input's 10.7, phi reads 84 % of the outputs as their digit)
    m = short_translation_run(T, tmp_path / "run", steps=100, n_train=256, n_test=32, batch=16,
                              extra=["--nlf", "4", "--features", "8", "--identity-steps", "100"])
    assert m[-1]["loss_pixel"] < 0.4 * m[0]["loss_pixel"], [r["loss_pixel"] for r in m]
    assert m[-1]["test_psnr"] > m[-1]["test_psnr_input"] + 3.0, m[-1]
    assert m[-1]["test_identity_accuracy"] >= 0.6, m[-1]


@pytest.mark.slow
def test_mnist_rotated_to_upright_digit_quality_bar(tmp_path):
    """Issue 24: frontalised held-out digits read as the right digit (the bar: >= 90 %) and
    PSNR well above the input's, with the default budget (docs/tpgan.md)."""
    r = zoo_quality_result("tpgan", tmp_path)
    assert r["psnr"] > r["psnr_input"] + 3.0, r
    assert r["accuracy"] >= 0.90, r                  # measured 0.910 (docs/tpgan.md)
