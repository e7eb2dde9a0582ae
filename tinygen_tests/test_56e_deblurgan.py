"""DeblurGAN: the blur kernels (linear and Algorithm 1's trajectories) and the blur by value,
the ResOut generator and the perceptual loss gradchecked to second order, the training pairs
kept aligned, a tiny run (frames, predictions, scores), exact resume, ``tinygen apply`` on an
image of any size, a bad input as one line, and the stand-in CUDA device.
"""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

import tinygen as tg
from tinygen import cli
from tinygen.data import blur as B
from tinygen.io.checkpoint import load_checkpoint
from tinygen.methods import deblurgan as DB
from tinygen.methods.run import read_metrics
from tinygen.models.translation import ResNetGenerator

from conftest import assert_allclose, check_grads, t64, tinygen_cli

TINY = ["--patch-size", "16", "--batch-size", "2", "--ngf", "4", "--g-blocks", "1",
        "--ndf", "4", "--d-layers", "1", "--n-critic", "2", "--max-blur", "5",
        "--trajectory-iters", "200", "--features", "random", "--quiet", "--log-every", "2",
        "--sample-every", "2", "--checkpoint-every", "2"]


def _photos(folder, n=4, size=(40, 52), seed=0):
    """n smooth random colour 'photos' (blocks upsampled bilinearly) as PNG files."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        small = rng.uniform(0, 255, (size[0] // 4, size[1] // 4, 3))
        im = ndimage.zoom(small, (4, 4, 1), order=1)
        Image.fromarray(np.clip(im, 0, 255).astype(np.uint8)).save(
            os.path.join(folder, f"p{i}.png"))
    return str(folder)


# ----------------------------------------------------------------------------
# kernels and the blur
# ----------------------------------------------------------------------------

def _moments(k):
    """Centroid (x right, y up) and the 2x2 covariance of a kernel's mass."""
    r, c = np.mgrid[:k.shape[0], :k.shape[1]]
    x, y = c.astype(float), -r.astype(float)
    mx, my = (k * x).sum(), (k * y).sum()
    cov = np.array([[(k * (x - mx) ** 2).sum(), (k * (x - mx) * (y - my)).sum()],
                    [(k * (x - mx) * (y - my)).sum(), (k * (y - my) ** 2).sum()]])
    return (mx, my), cov


@pytest.mark.parametrize("length, angle", [(7, 0), (11, 30), (15, 90), (9.5, 135), (13, 172)])
def test_linear_kernel_is_a_line_of_that_length_and_angle(length, angle):
    k = B.linear_kernel(length, angle)
    assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert (k >= 0).all() and abs(k.sum() - 1) < 1e-12
    (mx, my), cov = _moments(k)
    c = k.shape[0] // 2
    assert abs(mx - c) < 1e-9 and abs(my + c) < 1e-9                 # centred
    evals, evecs = np.linalg.eigh(cov)
    axis = evecs[:, 1]
    found = math.degrees(math.atan2(axis[1], axis[0])) % 180
    assert min(abs(found - angle % 180), 180 - abs(found - angle % 180)) < 1.0
    # a uniform segment of length L has variance L^2 / 12 along it (+ about 1/6 from the
    # bilinear splat); across it only the splat's spread (f (1 - f) <= 1/4 px^2)
    assert abs(math.sqrt(evals[1] * 12) - length) < 0.6, math.sqrt(evals[1] * 12)
    assert evals[0] < 0.25
    # the support: every pixel with mass lies within ~1 px of the segment
    r, cc = np.nonzero(k > 0)
    d = np.array([cc - c, -(r - c)], float)
    u = np.array([math.cos(math.radians(angle)), math.sin(math.radians(angle))])
    along, across = u @ d, np.abs(np.array([-u[1], u[0]]) @ d)
    assert across.max() < 1.5 and np.abs(along).max() <= length / 2 + 1.5


def test_short_linear_kernel_is_the_identity_and_bad_length_is_refused():
    k = B.linear_kernel(0, 45)
    assert k[k.shape[0] // 2, k.shape[0] // 2] == 1.0 and k.sum() == 1.0
    with pytest.raises(ValueError, match="length must be a finite number >= 0"):
        B.linear_kernel(-3, 0)


def test_trajectory_kernels_are_paths_of_the_set_length():
    rng = np.random.default_rng(3)
    for _ in range(5):
        x = B.trajectory(rng, max_length=15.0, iters=500)
        assert x.shape == (500,) and x[0] == 0
        steps = np.abs(np.diff(x))
        np.testing.assert_allclose(steps, 15.0 / 499, rtol=1e-9)    # |v| fixed: length L_max
        k = B.rasterise(x)
        assert k.shape[0] % 2 == 1 and (k >= 0).all() and abs(k.sum() - 1) < 1e-12
        assert k.shape[0] <= 15 + 4
    a = B.trajectory_kernel(np.random.default_rng(7), 10.0, 300)
    b = B.trajectory_kernel(np.random.default_rng(7), 10.0, 300)
    np.testing.assert_array_equal(a, b)                               # seeded
    # no jitter, no pull, no shakes (p_s = 0): a straight path of length L_max
    x = B.trajectory(np.random.default_rng(1), 12.0, 400, expl=0.0)
    assert abs(abs(x[-1] - x[0]) - 12.0) < 1e-9


def test_random_kernel_kinds():
    rng = np.random.default_rng(0)
    for kind in ("mixed", "trajectory", "linear"):
        k = B.random_kernel(rng, kind, 9.0, iters=100)
        assert abs(k.sum() - 1) < 1e-12 and (k >= 0).all()
    with pytest.raises(ValueError, match="mixed, trajectory or linear"):
        B.random_kernel(rng, "gaussian")


@pytest.mark.parametrize("shape", [(23, 31), (20, 17, 3)])
def test_blur_is_the_convolution_of_scipy_ndimage(shape):
    rng = np.random.default_rng(1)
    image = rng.random(shape)
    kernel = B.trajectory_kernel(rng, 7.0, 300)
    kernel = kernel + 0.01 * rng.random(kernel.shape)                 # no symmetry to hide a flip
    kernel /= kernel.sum()
    if len(shape) == 2:
        want = ndimage.convolve(image, kernel, mode="reflect")
    else:
        want = np.stack([ndimage.convolve(image[..., c], kernel, mode="reflect")
                         for c in range(3)], -1)
    got = B.blur(image, kernel)
    assert got.shape == image.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-6)
    h = kernel.shape[0] // 2                                           # the valid part
    np.testing.assert_allclose(B.blur_valid(image, kernel), want[h:-h, h:-h], atol=1e-6)


def test_training_pairs_are_aligned():
    """A ramp is left unchanged by any centred symmetric kernel, so the blurred patch of a
    ramp photo equals its sharp patch (up to 8-bit rounding) only if the two are aligned."""
    ramp = np.linspace(0.1, 0.9, 60, dtype=np.float32)[None, :, None] * np.ones((50, 1, 3))
    pairs = B.BlurPairs([ramp.astype(np.float32)], "linear", 9.0)
    blurred, sharp = pairs.patches(6, 24, np.random.default_rng(0))
    assert blurred.shape == sharp.shape == (6, 3, 24, 24)
    assert np.abs(blurred - sharp).max() <= 0.5 / 255 + 1e-6
    assert sharp.std() > 0.05                                         # not a trivial patch
    # a checkerboard is smeared: the blurred patch differs from the sharp one
    board = (np.indices((48, 48)).sum(0) % 2).astype(np.float32)[..., None].repeat(3, -1)
    b2, s2 = B.BlurPairs([board], "trajectory", 9.0, iters=200).patches(
        2, 16, np.random.default_rng(1))
    assert np.abs(b2 - s2).mean() > 0.1
    with pytest.raises(ValueError, match="lower --patch-size"):
        pairs.patches(1, 48, np.random.default_rng(0))


# ----------------------------------------------------------------------------
# the generator's global skip and the losses
# ----------------------------------------------------------------------------

def test_resout_generator_gradchecks_and_starts_from_the_identity():
    tg.manual_seed(0)
    G = ResNetGenerator(2, 2, ngf=2, n_blocks=1, n_down=2, global_skip=True).double()
    x = t64(np.random.default_rng(0).uniform(-0.5, 0.5, (1, 2, 8, 8)))
    check_grads(lambda a: G(a), x, atol=1e-5)
    with tg.no_grad():
        last = G.main[-2]                                              # c7s1-out conv
        last.weight.data[...] = 0
        last.bias.data[...] = 0
        assert_allclose(G(x), x)                                       # x + tanh(0) = x
        last.bias.data[...] = 5.0                                      # tanh(5) ~ 1: clamped
        assert float(G(x).data.max()) == 1.0
    with pytest.raises(ValueError, match="as many input as output channels"):
        ResNetGenerator(1, 3, global_skip=True)


def test_perceptual_loss_gradchecks_and_is_zero_on_the_target():
    from tinygen.models.vgg import RandomMultiScaleFeatures
    phi = RandomMultiScaleFeatures(scales=3, channels=4).double()
    rng = np.random.default_rng(2)
    sharp_np = rng.uniform(-0.8, 0.8, (2, 3, 8, 8))
    y = t64(sharp_np + 0.3 * rng.standard_normal(sharp_np.shape))
    sharp = tg.tensor(sharp_np)                                      # the target, on y's device
    check_grads(lambda a: DB.perceptual_loss(phi, DB.FALLBACK_LAYERS, a, sharp), y, atol=1e-5)
    assert float(DB.perceptual_loss(phi, DB.FALLBACK_LAYERS, t64(sharp_np), sharp).item()) == 0.0
    assert float(DB.perceptual_loss(phi, DB.FALLBACK_LAYERS, y, sharp).item()) > 1e-3


def test_the_objective_terms_by_value():
    config = cli.build_config(DB, TINY)
    G, D = DB.build_models(config)
    opt_g, opt_d, _, _ = DB.build_optimizers(config, G, D)
    phi, layers, kind = DB.build_features(config, log=lambda *a: None)
    assert kind == "random" and layers == DB.FALLBACK_LAYERS
    rng = np.random.default_rng(0)
    sharp = tg.tensor(rng.uniform(-1, 1, (2, 3, 16, 16)).astype(np.float32), device=config.device)
    y = G(tg.tensor(rng.uniform(-1, 1, (2, 3, 16, 16)).astype(np.float32), device=config.device))
    out = {k: float(v) for k, v in DB.critic_step(config, D, opt_d, sharp, y).items()}
    assert out["loss_d"] == pytest.approx(-out["wasserstein"] + out["gp"], rel=1e-5)
    assert out["gp"] >= 0
    out = {k: float(v) for k, v in DB.generator_step(config, D, opt_g, phi, layers, y,
                                                     sharp).items()}
    assert out["loss_g"] == pytest.approx(out["loss_gan"] + 100 * out["loss_x"], rel=1e-5)
    assert all(p.requires_grad for p in D.parameters())               # D given back


# ----------------------------------------------------------------------------
# data, the run, resume, apply, errors, device
# ----------------------------------------------------------------------------

def test_held_out_photos_are_not_trained_on(tmp_path):
    folder = _photos(tmp_path / "photos", n=4)
    config = cli.build_config(DB, TINY + ["--dataset", f"folder:{folder}", "--held-out",
                                          "p1.png,p3.png"])
    train, names, test, test_names = DB.load_data(config)
    assert names == ["p0.png", "p2.png"] and test_names == ["p1.png", "p3.png"]
    assert len(train) == 2 and test[0].shape == (40, 52, 3) and test[0].dtype == np.float32
    assert DB.resolve_dataset("scenes") == "scenes"
    assert DB.resolve_dataset("photos") in ("scenes", f"folder:{DB.shared_photos()}")


def test_presets():
    auto = cli.build_config(DB, [])
    assert (auto.patch_size, auto.batch_size, auto.ngf, auto.g_blocks, auto.dropout) == \
        (64, 4, 16, 4, 0.0)
    assert (auto.n_critic, auto.steps) == (1, 4500)     # the CPU budget's departure
    paper = cli.build_config(DB, ["--preset", "paper"])
    assert (paper.patch_size, paper.batch_size, paper.ngf, paper.g_blocks, paper.dropout,
            paper.ndf, paper.d_layers) == (256, 1, 64, 9, 0.5, 64, 3)
    assert (paper.lr, paper.n_critic, paper.lambda_gp, paper.lambda_x, paper.test_mode) == \
        (1e-4, 5, 10.0, 100.0, "train")


def test_tiny_run_writes_frames_predictions_scores_and_applies(tmp_path):
    folder = _photos(tmp_path / "photos", n=3)
    config = cli.build_config(DB, TINY + ["--steps", "4", "--dataset", f"folder:{folder}",
                                          "--held-out", "p2.png", "--eval-every", "2",
                                          "--out", str(tmp_path / "run")])
    run = DB.train(config)
    frames = sorted(os.listdir(os.path.join(run, "frames")))
    assert frames == ["deblur_000000.png", "deblur_000002.png", "deblur_000004.png"]
    m = read_metrics(run)
    assert [r["step"] for r in m] == [2, 4]
    for r in m:                                                       # --eval-every 2
        assert r["test_psnr_gain"] == pytest.approx(r["test_psnr"] - r["test_psnr_blurred"])
        assert 10 < r["test_psnr_blurred"] < 60 and "test_psnr_gain[p2.png]" in r
    with np.load(os.path.join(run, "predictions.npz")) as f:
        assert f["x"].shape == (1, 40, 52, 3) and f["x"].dtype == np.uint8
        assert list(f["names"]) == ["p2.png"]
    ev = json.load(open(os.path.join(run, "eval.json")))
    assert ev["test_kernel"] == {"length": 11.0, "angle": 30.0}
    assert ev["mean"]["psnr_gain"] == pytest.approx(m[-1]["test_psnr_gain"])
    # tinygen apply on images of other sizes (not multiples of 4), grey and colour
    rng = np.random.default_rng(4)
    for shape in ((21, 30), (18, 27, 3)):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(tmp_path / "in.png")
        assert cli.main(["apply", run, str(tmp_path / "in.png"), "--out",
                         str(tmp_path / "out.png")]) == 0
        out = np.asarray(Image.open(tmp_path / "out.png"))
        assert out.shape == shape and out.dtype == np.uint8
    # apply is the run's test-time G: on the held-out photo's blurred version it gives the
    # prediction (same seed as the run's evaluation is not needed: no dropout in TINY)
    photo = np.asarray(Image.open(os.path.join(folder, "p2.png")))
    blurred = B.quantize(B.blur(photo / 255.0, B.linear_kernel(11.0, 30.0)))
    u8 = np.round(blurred * 255).astype(np.uint8)
    Image.fromarray(u8).save(tmp_path / "blurred.png")
    cli.main(["apply", run, str(tmp_path / "blurred.png"), "--out", str(tmp_path / "o.png")])
    got = np.asarray(Image.open(tmp_path / "o.png")).astype(int)
    assert np.abs(got - np.load(os.path.join(run, "predictions.npz"))["x"][0]).max() <= 1


def test_resume_continues_bit_for_bit(tmp_path):
    """4 steps in one go == 2 steps + --resume 2 more (kernels, crops, 2 critic steps with
    their penalty's random interpolations, schedulers). The decay starts after the last step:
    a schedule stretched over --steps differs between a 2- and a 4-step run by design."""
    folder = _photos(tmp_path / "photos", n=3)
    base = TINY + ["--dataset", f"folder:{folder}", "--held-out", "p2.png", "--decay-from", "1"]
    full = DB.train(cli.build_config(DB, base + ["--steps", "4", "--out", str(tmp_path / "f")]))
    half = DB.train(cli.build_config(DB, base + ["--steps", "2", "--out", str(tmp_path / "h")]))
    DB.train(cli.build_config(DB, ["--resume", half, "--steps", "4", "--quiet"]))
    one = load_checkpoint(os.path.join(full, "checkpoint.npz"))
    two = load_checkpoint(os.path.join(half, "checkpoint.npz"))
    for name in ("G", "D"):
        assert one[name].keys() == two[name].keys()
        for k, v in one[name].items():
            np.testing.assert_array_equal(v, two[name][k], err_msg=f"{name}.{k}")
    assert read_metrics(full)[-1]["loss_g"] == read_metrics(half)[-1]["loss_g"]
    assert one["sched_g"]["last_epoch"] == two["sched_g"]["last_epoch"] == 4
    np.testing.assert_array_equal(np.load(os.path.join(full, "predictions.npz"))["x"],
                                  np.load(os.path.join(half, "predictions.npz"))["x"])


def test_bad_input_is_one_line_on_the_command_line(tmp_path):
    args = ["run", "deblurgan", "--dataset", f"folder:{tmp_path / 'absent'}", "--quiet",
            "--out", str(tmp_path / "run")]
    done, lines = tinygen_cli(args)
    assert done.returncode != 0
    assert len(lines) == 1 and "no such folder" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    folder = _photos(tmp_path / "small", n=2, size=(20, 20))
    args[3] = f"folder:{folder}"
    done, lines = tinygen_cli(args + ["--held-out", ""])
    assert done.returncode != 0 and len(lines) == 1 and "lower --patch-size" in lines[0], \
        done.stderr


def test_runs_on_the_stand_in_cuda_device(tmp_path):
    folder = _photos(tmp_path / "photos", n=2)
    env = dict(os.environ, TINYGEN_SIMULATE_CUDA="1")
    cmd = [sys.executable, "-m", "tinygen", "run", "deblurgan", "--device", "cuda", "--steps",
           "2", "--dataset", f"folder:{folder}", "--held-out", "p1.png",
           "--out", str(tmp_path / "run")] + TINY
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.load(open(tmp_path / "run" / "config.json"))["device"] == "cuda"
    assert np.load(tmp_path / "run" / "predictions.npz")["x"].shape == (1, 40, 52, 3)


def test_npz_photos_and_a_separate_test_set(tmp_path):
    rng = np.random.default_rng(5)
    np.savez(tmp_path / "x.npz", x=rng.integers(0, 256, (3, 40, 44, 3), dtype=np.uint8))
    np.savez(tmp_path / "g.npz", x=rng.integers(0, 256, (2, 30, 30), dtype=np.uint8))  # grey
    config = cli.build_config(DB, TINY + ["--dataset", f"npz:{tmp_path / 'x.npz'}",
                                          "--test-dataset", f"npz:{tmp_path / 'g.npz'}"])
    train, names, test, test_names = DB.load_data(config)
    assert len(train) == 3 and train[0].shape == (40, 44, 3) and names == ["0", "1", "2"]
    assert test[0].shape == (30, 30, 3) and (test[0][..., 0] == test[0][..., 2]).all()
    np.testing.assert_allclose(train[1] * 255, np.load(tmp_path / "x.npz")["x"][1], atol=1e-4)
    np.savez(tmp_path / "bad.npz", y=np.zeros(3))
    with pytest.raises(ValueError, match="no array named 'x'"):
        DB.load_data(cli.build_config(DB, TINY + ["--dataset", f"npz:{tmp_path / 'bad.npz'}"]))
