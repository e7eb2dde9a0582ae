"""Reliability of runs: kills and signals, exact resume, refusals, one-line errors (issue 14).

The kill tests really run ``python -m tinygen run gan`` in a subprocess, kill it mid-run
(SIGKILL: no chance to clean up; SIGTERM / SIGINT: the run writes a checkpoint and exits),
resume it, and compare the result array by array with a run that was never interrupted.
"""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import tinygen as tg
from tinygen import cli, nn, optim
from tinygen.io.checkpoint import CheckpointError, load_checkpoint, restore_checkpoint
from tinygen.io.files import append_line, atomic_write_bytes
from tinygen.methods import gan, run as R, wgan

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A small 2-D GAN run that takes several seconds: long enough to be killed in the middle.
KILL_RUN = ["--dataset", "ring8", "--steps", "400", "--hidden", "32", "--n-hidden", "2",
            "--log-every", "20", "--sample-every", "1000", "--checkpoint-every", "40",
            "--n-eval", "200", "--n-samples", "300", "--quiet"]


def tinygen_process(*argv):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "tinygen", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def run_to_end(*argv):
    p = tinygen_process(*argv)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    return out, err


def checkpoint_step(folder):
    try:
        return int(load_checkpoint(os.path.join(folder, "checkpoint.npz"))["step"])
    except (FileNotFoundError, CheckpointError):
        return 0


def wait_for_checkpoint(p, folder, step):
    deadline = time.time() + 300
    while checkpoint_step(folder) < step:
        assert p.poll() is None, "the run ended before it could be interrupted"
        assert time.time() < deadline
        time.sleep(0.05)


def without_times(folder):
    lines = [json.loads(line) for line in open(os.path.join(folder, "metrics.jsonl"))]
    return [{k: v for k, v in r.items() if k not in ("time", "sec_per_step")} for r in lines]


def assert_same_run(a, b):
    """Two run folders hold the same results: every checkpoint array, samples.npz and every
    metrics line (but wall times)."""
    ca, cb = (np.load(os.path.join(f, "checkpoint.npz")) for f in (a, b))
    assert sorted(ca.files) == sorted(cb.files)
    for k in ca.files:
        if k != "__tinygen_checkpoint__.json":
            np.testing.assert_array_equal(ca[k], cb[k], err_msg=k)
    meta = [json.loads(c["__tinygen_checkpoint__.json"].tobytes()) for c in (ca, cb)]
    for m in meta:                                  # the wall time differs, nothing else
        m["tree"]["items"] = [i for i in m["tree"]["items"] if i[1] != "elapsed"]
    assert meta[0] == meta[1]
    np.testing.assert_array_equal(np.load(os.path.join(a, "samples.npz"))["x"],
                                  np.load(os.path.join(b, "samples.npz"))["x"])
    ma, mb = without_times(a), without_times(b)
    assert [r["step"] for r in ma] == list(range(20, 401, 20))
    assert ma == mb


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("full") / "run")
    run_to_end("run", "gan", *KILL_RUN, "--out", folder)
    return folder


def test_sigkill_mid_run_then_resume_is_bit_identical(tmp_path, uninterrupted):
    folder = str(tmp_path / "killed")
    p = tinygen_process("run", "gan", *KILL_RUN, "--out", folder)
    wait_for_checkpoint(p, folder, 120)
    p.send_signal(signal.SIGKILL)
    p.communicate()
    assert p.returncode == -signal.SIGKILL
    assert checkpoint_step(folder) < 400
    with open(os.path.join(folder, ".checkpoint.npz.kill.tmp"), "wb") as f:
        f.write(b"half a checkpoint")              # as a kill inside an atomic write leaves
    run_to_end("run", "gan", "--resume", folder)
    assert not [n for n in os.listdir(folder) if n.endswith(".tmp")]
    assert_same_run(uninterrupted, folder)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_write_a_checkpoint_and_exit_cleanly(tmp_path, uninterrupted, signum):
    folder = str(tmp_path / "stopped")
    p = tinygen_process("run", "gan", *KILL_RUN, "--out", folder)
    wait_for_checkpoint(p, folder, 40)
    p.send_signal(signum)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 128 + signum
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    step = checkpoint_step(folder)
    assert 40 <= step < 400
    assert f"at step {step}: checkpoint written; continue with --resume {folder}" in line
    run_to_end("run", "gan", "--resume", folder)
    assert_same_run(uninterrupted, folder)


# ---------------------------------------------------------------- what --resume refuses

SHORT = ["--dataset", "ring8", "--hidden", "16", "--n-eval", "100", "--n-samples", "100",
         "--log-every", "2", "--sample-every", "100", "--quiet"]


def test_resume_refuses_options_that_change_the_run(tmp_path, capsys):
    out = str(tmp_path / "a")
    assert cli.main(["run", "gan", "--steps", "4", "--optimizer", "adam", "--lr-d", "0.001",
                     "--out", out, *SHORT]) == 0
    capsys.readouterr()
    assert cli.main(["run", "gan", "--resume", out, "--lr-d", "0.002"]) == 2
    err = capsys.readouterr().err
    assert "--lr-d 0.002 differs from the run's 0.001" in err and "Traceback" not in err
    assert cli.main(["run", "gan", "--resume", out, "--steps", "3"]) == 2
    assert "--steps may only extend it" in capsys.readouterr().err
    assert cli.main(["run", "gan", "--resume", out, "--preset", "paper"]) == 2
    assert "--preset cannot be given with --resume" in capsys.readouterr().err
    # the same value, a longer budget, another log interval: fine
    assert cli.main(["run", "gan", "--resume", out, "--lr-d", "0.001", "--steps", "6",
                     "--log-every", "3"]) == 0
    assert [r["step"] for r in R.read_metrics(out)] == [2, 4, 6]


def test_resume_refuses_another_methods_checkpoint(tmp_path, capsys):
    out = str(tmp_path / "w")
    wgan.train(wgan.Config(dataset="ring8", steps=2, hidden=16, n_eval=100, n_samples=100,
                           quiet=True, out=out))
    with pytest.raises(ValueError, match="belongs to a wgan run, not gan"):
        gan.train(gan.Config(dataset="ring8", steps=4, hidden=16, quiet=True, resume=out))


def test_a_checkpoint_of_another_shape_or_optimizer_is_refused(tmp_path):
    net, other = nn.Linear(3, 4), nn.Linear(3, 5)
    adam, sgd = optim.Adam(net.parameters()), optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    path = str(tmp_path / "c.npz")
    from tinygen.io.checkpoint import save_checkpoint
    save_checkpoint(path, step=1, model=net, optimizer=sgd)
    with pytest.raises(CheckpointError, match=r"does not fit 'model' \(Linear\).*weight has shape"):
        restore_checkpoint(path, model=other)
    with pytest.raises(CheckpointError, match="not saved by Adam: it has no amsgrad, betas, eps"):
        restore_checkpoint(path, model=net, optimizer=adam)
    with pytest.raises(ValueError, match="not saved by SGD: it has no dampening, momentum"):
        sgd.load_state_dict(adam.state_dict())


# ---------------------------------------------------------------- one clear line, nothing written

def nan_data(tmp_path):
    x = np.random.default_rng(0).normal(size=(50, 2))
    x[7, 1] = np.nan
    np.savez(tmp_path / "nan.npz", x=x)
    return f"npz:{tmp_path / 'nan.npz'}"


BAD_INPUT = [
    (["--steps", "-5"], "--steps must be a whole number >= 1, got -5"),
    (["--steps", "0"], "--steps must be a whole number >= 1, got 0"),
    (["--batch-size", "-4"], "--batch-size must be a whole number >= 1, got -4"),
    (["--lr-d", "nan"], "--lr-d must be a finite number, got nan"),
    (["--lr-g", "0"], "--lr-g is a learning rate and must be > 0"),
    (["--dataset", "npz:/no/such.npz"], "npz:/no/such.npz: no such file"),
    (["--dataset", "NAN"], "x has NaN or infinite values in 1 example(s) (first: index 7)"),
    (["--out", "FILE"], "is a file, not a folder"),
]


@pytest.mark.parametrize("argv, message", BAD_INPUT)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, monkeypatch,
                                                          argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("not a folder")
    argv = [nan_data(tmp_path) if a == "NAN" else a for a in argv]
    before = set(os.listdir(tmp_path))
    assert cli.main(["run", "gan", "--steps", "3", *SHORT, *argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("tinygen run gan: ")
    assert message in err.strip().splitlines()[-1]
    assert set(os.listdir(tmp_path)) == before             # no runs/ stub folder
    assert not os.path.exists(tmp_path / "runs")


def test_no_gpu_is_one_line(tmp_path, capsys, monkeypatch):
    from tinygen import backend
    if backend.cuda_is_available():
        pytest.skip("a CUDA device is usable here")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "gan", "--steps", "3", *SHORT, "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "device 'cuda'" in err and "use device='cpu'" in err
    assert os.listdir(tmp_path) == []


def test_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="--steps must be"):
        cli.main(["run", "gan", "--steps", "0", "--debug"])
    monkeypatch.setenv("TINYGEN_DEBUG", "1")
    with pytest.raises(ValueError, match="--batch-size must be"):
        cli.main(["run", "gan", "--batch-size", "0"])


def test_demo_steps_0_is_refused(capsys, tmp_path):
    assert cli.main(["demo", "gan2d", "--steps", "0", "--out", str(tmp_path / "d")]) == 2
    assert "--steps must be a whole number >= 1, got 0" in capsys.readouterr().err


def test_an_out_folder_holding_a_run_is_not_reused_without_resume(tmp_path, capsys):
    out = str(tmp_path / "a")
    assert cli.main(["run", "gan", "--steps", "2", "--out", out, *SHORT]) == 0
    metrics = open(os.path.join(out, "metrics.jsonl")).read()
    assert cli.main(["run", "gan", "--steps", "2", "--out", out, *SHORT]) == 2
    assert f"--out {out}: already holds a run; continue it with --resume {out}" in \
        capsys.readouterr().err
    assert open(os.path.join(out, "metrics.jsonl")).read() == metrics


# ---------------------------------------------------------------- during a run

def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(
        tmp_path, capsys, monkeypatch):
    real_step, calls = gan.generator_step, []

    def nan_at_step_5(*args):
        calls.append(1)
        out = real_step(*args)
        return {**out, "loss_g": float("nan")} if len(calls) == 5 else out
    monkeypatch.setattr(gan, "generator_step", nan_at_step_5)
    out = str(tmp_path / "a")
    assert cli.main(["run", "gan", "--steps", "10", "--checkpoint-every", "2", "--out", out,
                     *SHORT]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "step 5: loss_g is nan, so the run stopped" in err
    assert f"the last good checkpoint is {out}/checkpoint.npz (step 4)" in err
    assert checkpoint_step(out) == 4
    assert [r["step"] for r in R.read_metrics(out)] == [2, 4]


def test_metrics_lines_are_whole_even_when_the_disk_fills(tmp_path, monkeypatch):
    path = str(tmp_path / "metrics.jsonl")
    append_line(path, json.dumps({"step": 1}))
    real_write = os.write

    def disk_full(fd, data):
        real_write(fd, data[:5])                         # part of the line, then ENOSPC
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(OSError, match="No space left"):
        append_line(path, json.dumps({"step": 2, "loss": 0.5}))
    monkeypatch.setattr(os, "write", real_write)
    assert open(path).read() == '{"step": 1}\n'


def test_looking_at_a_dcgan_run_never_changes_it(tmp_path):
    # Sample grids run G in training mode (batch statistics); the running averages they
    # would update are put back, so a run drawing a grid every step ends where one that
    # never draws does: every weight and every batch-norm buffer equal.
    from tinygen.methods import dcgan
    base = dict(dataset="shapes", steps=3, ngf=4, ndf=4, batch_size=8, n_eval=16,
                n_samples=16, log_every=1, quiet=True, n_train=64)
    a = dcgan.train(dcgan.Config(out=str(tmp_path / "a"), sample_every=1, **base))
    b = dcgan.train(dcgan.Config(out=str(tmp_path / "b"), sample_every=1000, **base))
    ca, cb = np.load(os.path.join(a, "checkpoint.npz")), np.load(os.path.join(b, "checkpoint.npz"))
    assert any("running_mean" in k for k in ca.files)
    for k in ca.files:
        if k != "__tinygen_checkpoint__.json":
            np.testing.assert_array_equal(ca[k], cb[k], err_msg=k)


def test_sampling_puts_the_batch_norm_buffers_back():
    G = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    before = [b.cpu().numpy().copy() for b in G.buffers()]
    x = R.generate(G, 10, 2, nn.module_device(G), np.random.default_rng(0))
    assert x.shape == (10, 3) and G.training
    for b, old in zip(G.buffers(), before):
        np.testing.assert_array_equal(b.cpu().numpy(), old)


# ---------------------------------------------------------------- files and values

def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_bytes(str(tmp_path / "f.bin"), b"x")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "f.bin").st_mode & 0o777 == 0o640


def test_tensor_refuses_strings():
    with pytest.raises(TypeError, match="cannot hold data of dtype <U1"):
        tg.tensor(["a", "b"])


def test_16_bit_and_palette_pngs_are_read_scaled_not_clipped(tmp_path):
    from PIL import Image
    from tinygen.io.images import read_image
    ramp = (np.arange(32 * 32).reshape(32, 32) * 64).astype(np.uint16)     # 0 .. 65472
    Image.fromarray(ramp).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode.startswith("I")
    got = read_image(str(tmp_path / "grey16.png"), mode="L")[..., 0]
    np.testing.assert_array_equal(got, np.round(ramp * (255 / 65535)).astype(np.uint8))
    assert read_image(str(tmp_path / "grey16.png"))[..., 0].max() == 255
    assert (got < 128).mean() == pytest.approx(0.5, abs=0.01)       # not clipped to white
    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    palette = Image.fromarray(rgb).quantize(64)
    palette.save(tmp_path / "palette.png")
    assert Image.open(tmp_path / "palette.png").mode == "P"
    np.testing.assert_array_equal(read_image(str(tmp_path / "palette.png")),
                                  np.asarray(palette.convert("RGB")))


def test_style_refuses_a_size_that_cannot_fit_in_memory(tmp_path, capsys, monkeypatch):
    from tinygen.methods import style_transfer as S
    monkeypatch.chdir(tmp_path)
    assert cli.main(["style", "--size", "100000", "--quiet"]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("tinygen style: --size 100000: optimising a 100000x100000 image "
                           "needs about 93132.3 GiB (~10 kB per pixel)")
    assert "use --size" in line and os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match=r"512x512 image needs about 2.0 GiB \(~8 kB per pixel\), "
                                         r"but 0.1 GiB are available; use --size 115 or less"):
        S.check_memory(S.Config(size=512, features="random"), available=2**30 // 10)
    S.check_memory(S.Config(size=115, features="random"), available=2**30 // 10)
    S.check_memory(S.Config(size=128), available=2**30)             # 0.15 GiB: fine


# Every `tinygen run` flag of the first tinygen (c301626), method by method: a renamed
# option keeps its old spelling (shared/INTERFACES.md, Stability).
FIRST_FLAGS = {
    "gan": ["--layer-norm", "--no-layer-norm", "--lr-decay", "--k", "--loss", "--resume"],
    "dcgan": ["--layer-norm", "--no-layer-norm", "--lr-decay", "--no-lr-decay"],
    "wgan": ["--layer-norm", "--no-layer-norm"],
    "wgan-gp": ["--layer-norm", "--no-layer-norm", "--lambda-", "--k"],
}


@pytest.mark.parametrize("method", sorted(FIRST_FLAGS))
def test_flags_of_the_first_tinygen_are_still_accepted(method):
    import importlib
    from tinygen.methods import METHODS
    module = importlib.import_module(METHODS[method])
    parser = cli.method_parser(module)
    known = {o for a in parser._actions for o in a.option_strings}
    assert set(FIRST_FLAGS[method]) <= known


@pytest.mark.parametrize("module, field, off", [("gan", "layer_norm", False),
                                                ("dcgan", "d_norm", "batch"),
                                                ("wgan", "layer_norm", False),
                                                ("wgan_gp", "critic_norm", "none")])
def test_layer_norm_puts_layer_norm_in_the_discriminator(module, field, off):
    import importlib
    from tinygen.data.arrays import TrainingSet
    m = importlib.import_module(f"tinygen.methods.{module}")
    config = cli.build_config(m, ["--layer-norm"])
    on = True if off is False else "layer"          # a bool field, or a choice of norms
    assert getattr(config, field) == on and type(getattr(config, field)) is type(on)
    # --no-layer-norm is the field's declared default (DCGAN's batch norm, Sec. 3, even where
    # a dataset preset would choose "none": a flag given is never overridden by a preset)
    assert getattr(cli.build_config(m, ["--layer-norm", "--no-layer-norm"]), field) == off
    assert getattr(cli.build_config(m, ["--no-layer-norm"]), field) == off
    shape = (1, 28, 28) if module == "dcgan" else (2,)
    _, D = m.build_models(config, TrainingSet(x=np.zeros((4, *shape), np.float32)))
    kinds = {type(x).__name__ for x in D.modules()}
    assert "LayerNorm" in kinds or "GroupNorm" in kinds, kinds
    assert not any("BatchNorm" in k for k in kinds)


def test_ctrl_c_stops_style_transfer_cleanly(tmp_path):
    folder = str(tmp_path / "style")
    p = tinygen_process("style", "--size", "32", "--steps", "2000", "--features", "random",
                        "--quiet", "--out", folder)
    deadline = time.time() + 120
    while not (os.path.exists(os.path.join(folder, "metrics.jsonl"))
               and os.path.getsize(os.path.join(folder, "metrics.jsonl")) > 0):
        assert p.poll() is None and time.time() < deadline
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "Traceback" not in err
    assert "tinygen style: SIGINT at step" in err and err.strip().endswith("stopped")
