"""The stand-in CUDA device (TINYGEN_SIMULATE_CUDA=1): strict where CuPy is strict, and
bit-identical to the CPU, so device bugs show up without a GPU.

Every test switches the stand-in on for itself (``sim`` fixture), so this file runs in the
plain CPU pass of the suite too, and on a machine with a real GPU it still tests the stand-in.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import tinygen as tg
from tinygen import backend, cli, nn, optim
from tinygen import methods as tg_methods
from tinygen.backend import DeviceError
from tinygen_tests.conftest import assert_array_equal

PYTORCH_MESSAGE = ("can't convert cuda:0 device type tensor to numpy. "
                   "Use Tensor.cpu() to copy the tensor to host memory first.")


@pytest.fixture
def sim(monkeypatch):
    """The stand-in instead of CuPy, for this test only (its module, for raw-array checks)."""
    monkeypatch.setenv("TINYGEN_SIMULATE_CUDA", "1")
    monkeypatch.setattr(backend, "_CUPY", None)
    monkeypatch.setattr(backend, "_CUPYX", None)
    monkeypatch.setattr(backend, "_CUPY_ERROR", None)
    return backend.array_module_for("cuda")


def test_cuda_is_available_and_named(sim):
    assert backend.cuda_is_available() and backend.simulating_cuda()
    x = tg.ones(2, 3, device="cuda")
    assert x.device == "cuda:0" and tg.ones(1, device="cuda:1").device == "cuda:1"
    assert backend.get_array_module(x) is sim and backend.get_array_module(x.data) is sim
    assert not isinstance(x.data, np.ndarray) and "device='cuda:0'" in repr(x)


def test_host_arrays_in_device_kernels_raise_as_in_cupy(sim):
    a = tg.ones(3, device="cuda").data
    for op in (lambda: a + np.ones(3), lambda: np.ones(3) * a, lambda: sim.maximum(a, np.ones(3)),
               lambda: sim.concatenate([a, np.ones(3)]), lambda: sim.where(a > 0, a, np.ones(3))):
        with pytest.raises(TypeError, match="Unsupported type <class 'numpy.ndarray'>"):
            op()
    # Python and NumPy scalars are fine, and results stay on the device (0-d included).
    b = a * 2.0 + np.float32(1) - 3
    assert isinstance(b, sim.ndarray) and isinstance(b.sum(), sim.ndarray)
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray cannot be used for fill"):
        a[...] = np.zeros(3)
    a[np.array([0, 2])] = 5.0                                # host index arrays are fine (CuPy too)
    assert_array_equal(a.get(), [5.0, 1.0, 5.0])


def test_implicit_conversions_behave_as_cupy(sim):
    a = tg.arange(4, dtype=tg.float32, device="cuda").data
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        np.asarray(a)
    with pytest.raises(TypeError):
        float(a)                                             # size 4
    assert float(a[1]) == 1.0 and int(a.sum()) == 6 and bool(a[3])
    assert_array_equal(sim.asnumpy(a), [0, 1, 2, 3])
    assert_array_equal(backend.to_host(a), a.get())
    with pytest.raises(AttributeError, match="draws random numbers on the host"):
        sim.random


def test_raw_arrays_defer_to_tensors_and_take_weak_references_as_in_cupy(sim):
    # CuPy's _should_use_rop: an operand with a higher __array_priority__ (a Tensor) gets the
    # reflected operator, so `raw_array @ tensor` is the Tensor's __rmatmul__ (a tensor).
    import weakref
    t = tg.ones(3, 2, dtype=tg.float64, device="cuda", requires_grad=True)
    w = tg.full((2, 3), 2.0, dtype=tg.float64, device="cuda").data
    y = w @ t
    assert isinstance(y, tg.Tensor) and y.requires_grad and y.device == "cuda:0"
    assert isinstance(w.T + t, tg.Tensor) and isinstance(w.T < t, tg.Tensor)
    with pytest.raises(TypeError, match="scatter_add only supports"):   # atomicAdd's types
        sim.scatter_add(sim.zeros(3, dtype=np.int64), sim.asarray([0, 0]), sim.ones(2, dtype=np.int64))
    v = w * 1.0
    ref = weakref.ref(v)                                     # cupy#1355: weak references work
    del v
    assert ref() is None


def test_numpy_of_a_device_tensor_raises_pytorchs_error(sim):
    x = tg.randn(2, 2, device="cuda")
    with pytest.raises(TypeError) as info:
        x.numpy()
    assert str(info.value) == PYTORCH_MESSAGE
    with pytest.raises(TypeError, match="Use Tensor.cpu"):
        np.asarray(x)
    assert x.cpu().numpy().shape == (2, 2) and x.tolist() == x.cpu().tolist()


def test_mixing_cpu_and_cuda_tensors_names_both(sim):
    with pytest.raises(DeviceError, match="cpu and cuda:0"):
        tg.ones(2, device="cpu") + tg.ones(2, device="cuda")
    with pytest.raises(DeviceError, match="cuda:0"):
        tg.matmul(tg.ones(2, 2, device="cuda"), tg.ones(2, 2, device="cpu"))


def test_cuda0_and_cuda1_are_kept_apart(sim):
    a, b = tg.ones(2, device="cuda:0"), tg.ones(2, device="cuda:1")
    with pytest.raises(DeviceError, match="cuda:0 and cuda:1"):
        a + b
    with pytest.raises(ValueError, match="Peer access is unavailable"):
        a.data + b.data                                      # raw arrays: CuPy's own error
    moved = b.to("cuda:0")
    assert moved.device == "cuda:0" and (a + moved).device == "cuda:0"


def test_training_on_cuda1_stays_on_cuda1(sim):
    tg.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1)).to("cuda:1")
    opt = optim.Adam(net.parameters(), lr=1e-2)
    x = tg.randn(8, 3, device="cuda:1")
    for _ in range(2):
        loss = (net(x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert {p.device for p in net.parameters()} == {"cuda:1"}
    assert {b.device for b in net.buffers()} == {"cuda:1"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_to_cuda_and_back_is_exact(sim, dtype):
    host = (np.random.default_rng(0).standard_normal((3, 5)) * 100).astype(dtype)[:, ::2]  # a view
    x = tg.tensor(host)
    for dev in ("cuda", "cuda:1"):
        y = x.to(dev)
        assert y.device.startswith("cuda") and y.dtype == host.dtype
        back = y.to("cpu").numpy()
        assert back.dtype == host.dtype and np.array_equal(back, host)
    assert np.array_equal(x.to("cuda:0").to("cuda:1").cpu().numpy(), host)


def test_scatter_add_accumulates_on_the_device(sim):
    t = tg.zeros(4, dtype=tg.float64, device="cuda").data
    backend.scatter_add(t, np.array([1, 1, 3]), sim.asarray(np.array([1.0, 2.0, 3.0])))
    assert_array_equal(t.get(), [0.0, 3.0, 0.0, 3.0])
    with pytest.raises(TypeError):
        backend.scatter_add(t, np.array([0]), np.array([1.0]))   # host values: refused


def _conv_bn_adam_step(device):
    """One DCGAN-like training step; returns every parameter, buffer and the loss on the host."""
    tg.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(3, 8, 4, 2, 1), nn.BatchNorm2d(8), nn.LeakyReLU(0.2),
                        nn.ConvTranspose2d(8, 3, 4, 2, 1), nn.Tanh()).to(device)
    opt = optim.Adam(net.parameters(), lr=2e-4, betas=(0.5, 0.999))
    x = tg.tensor(np.random.default_rng(1).standard_normal((4, 3, 8, 8)).astype(np.float32),
                  device=device)
    for _ in range(2):
        loss = ((net(x) - x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = [p.cpu().numpy() for p in net.parameters()] + [b.cpu().numpy() for b in net.buffers()]
    return out + [np.asarray(loss.item())]


def test_conv_bn_adam_step_is_bit_identical_on_cpu_and_simulated_cuda(sim):
    for c, g in zip(_conv_bn_adam_step("cpu"), _conv_bn_adam_step("cuda")):
        assert c.dtype == g.dtype and np.array_equal(c, g)


def test_losses_and_norms_do_not_read_the_device_back_and_match_the_cpu(sim, monkeypatch):
    """nll_loss / cross_entropy (label smoothing, class weights), BatchNorm's momentum=None,
    erf, clip_grad_norm_ and spectral_norm run without a single device -> host copy, and give
    the CPU's bits; a target on the device outside [0, C) makes the loss NaN (the range is
    checked on the host only for host targets, which raise)."""
    import tinygen.nn.functional as F
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((6, 4)).astype(np.float32)
    target = np.array([0, 3, 1, -100, 2, 3])
    weight = np.array([0.5, 1.0, 2.0, 1.5], dtype=np.float32)
    x = rng.standard_normal((3, 2, 4, 4)).astype(np.float32)

    def compute(device):
        tg.manual_seed(0)
        lg = tg.tensor(logits, device=device, requires_grad=True)
        t = tg.tensor(target, device=device)
        loss = (F.cross_entropy(lg, t, weight=tg.tensor(weight, device=device),
                                label_smoothing=0.1)
                + F.cross_entropy(lg, t, label_smoothing=0.2) + F.nll_loss(lg, t))
        loss.backward()
        bn = nn.BatchNorm2d(2, momentum=None).to(device)
        for k in range(3):
            bn(tg.tensor(x + k, device=device))
        lin = nn.utils.spectral_norm(nn.Linear(4, 3)).to(device)
        y = tg.erf(lin(lg)).sum()
        y.backward()
        total = nn.utils.clip_grad_norm_(list(lin.parameters()) + [lg], 0.1)
        return [loss, lg.grad, bn.running_mean, bn.running_var, y, total,
                *[p.grad for p in lin.parameters()]]

    on_cpu = [v.numpy().copy() for v in compute("cpu")]
    reads = []

    def counted(name):
        real = getattr(sim.ndarray, name)
        return lambda self, *a, **k: reads.append(name) or real(self, *a, **k)
    for name in ("get", "item", "tolist", "__float__", "__int__", "__bool__"):
        monkeypatch.setattr(sim.ndarray, name, counted(name))   # every way CuPy reads back
    on_gpu = compute("cuda")
    assert reads == []
    for c, g in zip(on_cpu, on_gpu):
        assert g.device == "cuda:0" and np.array_equal(c, g.cpu().numpy())
    bad = tg.tensor(np.array([0, 4]), device="cuda")
    assert np.isnan(F.nll_loss(tg.zeros(2, 4, device="cuda"), bad).item())
    with pytest.raises(IndexError, match=r"must lie in \[0, 4\)"):
        F.nll_loss(tg.zeros(2, 4, device="cuda"), np.array([0, 4]))


def test_a_run_reads_gpu_losses_only_when_it_logs_and_still_stops_on_nan(sim, tmp_path,
                                                                         monkeypatch):
    """No host synchronisation per step: Run.record keeps a GPU's 0-d losses unread (reading
    one is a backend.to_host of a device array, counted here) until a log line or a
    checkpoint; a NaN recorded at step 7 still stops the run at step 8's checkpoint, before it
    is written, naming step 7 and the last good checkpoint (step 4)."""
    from tinygen.methods import run as R
    reads = []
    real_to_host = backend.to_host
    monkeypatch.setattr(backend, "to_host", lambda a: reads.append(1) or real_to_host(a))
    run = R.Run(R.RunConfig(steps=10, log_every=3, checkpoint_every=4, quiet=True,
                            out=str(tmp_path / "run")), "test")
    read_after = {}
    for step in run.steps():
        value = float("nan") if step == 7 else float(step)
        run.record(step, loss=tg.tensor(np.float32(value), device="cuda"), lr=0.1)
        if run.due(step, 3):
            assert run.log(step)["loss"] == pytest.approx(step - 1.0)   # mean of 3 steps
        if step == 8:
            with pytest.raises(R.NonFiniteLoss, match="step 7: loss is nan"):
                run.checkpoint(step)
            break
        run.checkpoint(step)
        read_after[step] = len(reads)
    # steps 1-2 read nothing; the log at 3 reads 3 values, the checkpoint at 4 one, the log
    # at 6 two (5 and 6); step 7's NaN waits, unread, for the checkpoint of step 8
    assert read_after == {1: 0, 2: 0, 3: 3, 4: 4, 5: 4, 6: 6, 7: 6}
    assert run._last_checkpoint == 4
    assert [r["step"] for r in R.read_metrics(run.dir)] == [3, 6]


# ----------------------------------------------------------------------------
# every method and demo end to end on the stand-in, as a user runs them
# ----------------------------------------------------------------------------

def _cli(args, tmp_path, device="cuda"):
    # TINYGEN_DATA stays the suite's private cache: the domain classifier the GAN metrics
    # use is trained once, not once per run.
    env = dict(os.environ, TINYGEN_SIMULATE_CUDA="1", TINYGEN_DEBUG="1", OPENBLAS_NUM_THREADS="1")
    env.pop("TINYGEN_DEVICE", None)                          # --device alone decides
    cmd = [sys.executable, "-m", "tinygen", *args, "--device", device]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


METHODS = list(tg_methods.METHODS)          # what `tinygen run --help` lists
DEMO_STEPS = {"visualize": ["--steps", "3", "--am-steps", "2"]}   # others: --steps 3


# cgan / acgan score their final samples with a label classifier trained 5x longer than the
# domain one (minutes on 2 cores, once per cache): the default run leaves that out, a slow
# test keeps it (the classifier's device path is also run by the sgan/bigan domain metrics).
NO_LABEL_CLASSIFIER = {"cgan": ["--no-final-eval"], "acgan": ["--no-final-eval"]}


def _run_method(method, tmp_path, extra=()):
    out = tmp_path / "run"
    res = _cli(["run", method, "--steps", "2", "--log-every", "1", "--sample-every", "1",
                "--quiet", "--out", str(out), *extra], tmp_path,
               device="cuda:1" if method == "dcgan" else "cuda")
    assert res.returncode == 0, res.stderr[-3000:]
    assert (out / "config.json").exists()


@pytest.mark.parametrize("method", METHODS)
def test_every_method_runs_on_the_stand_in(method, tmp_path):
    _run_method(method, tmp_path, NO_LABEL_CLASSIFIER.get(method, ()))


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(NO_LABEL_CLASSIFIER))
def test_label_classifier_scoring_runs_on_the_stand_in(method, tmp_path):
    _run_method(method, tmp_path)


@pytest.mark.parametrize("demo", list(cli.DEMOS))       # what `tinygen demo --help` lists
def test_every_demo_runs_on_the_stand_in(demo, tmp_path):
    extra = DEMO_STEPS.get(demo, ["--steps", "3"])
    res = _cli(["demo", demo, *extra, "--out", str(tmp_path / "demo")], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]


def test_style_command_runs_on_the_stand_in(tmp_path):
    res = _cli(["style", "--size", "32", "--steps", "2", "--out", str(tmp_path / "style")], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]


# ----------------------------------------------------------------------------
# the prepared GPU check (benchmarks/gpu_check.sh + gpu_timing.py): it runs without a GPU
# ----------------------------------------------------------------------------

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")


def test_gpu_check_script_parses_and_its_timing_runs_dry_on_the_stand_in():
    subprocess.run(["bash", "-n", os.path.join(BENCH, "gpu_check.sh")], check=True)
    env = dict(os.environ, TINYGEN_SIMULATE_CUDA="1", PYTHONPATH=os.path.dirname(BENCH))
    out = subprocess.run([sys.executable, os.path.join(BENCH, "gpu_timing.py"), "--dry",
                          "--no-torch"], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "tinygen on cuda:0 (CuPy stand-in)" in out.stdout
    for name in ("conv 1->64", "DCGAN step", "WGAN-GP critic step"):
        assert name in out.stdout


@pytest.mark.slow
def test_gpu_check_script_runs_dry(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path))
    subprocess.run(["bash", os.path.join(BENCH, "gpu_check.sh"), "--dry"], env=env, check=True,
                   timeout=900)
    assert "passed" in (tmp_path / "tests.txt").read_text()
    assert "DCGAN step" in (tmp_path / "timing.txt").read_text()
