"""Backend: device names, the default device, CuPy errors, device mixing, and
(when a GPU and CuPy exist) a few ops and an MLP training step on cuda vs cpu."""
import sys

import numpy as np
import pytest

import tinygen as tg
from tinygen import backend, nn
from tinygen.backend import DeviceError
from tinygen_tests.conftest import assert_allclose, assert_array_equal


@pytest.fixture
def no_cupy(monkeypatch):
    """Make ``import cupy`` fail, even on a machine that has it (deterministic errors),
    and switch the stand-in device (TINYGEN_SIMULATE_CUDA) off."""
    monkeypatch.setitem(sys.modules, "cupy", None)          # import -> ImportError
    monkeypatch.delenv("TINYGEN_SIMULATE_CUDA", raising=False)
    monkeypatch.setattr(backend, "_CUPY", None)
    monkeypatch.setattr(backend, "_CUPYX", None)
    monkeypatch.setattr(backend, "_CUPY_ERROR", None)


def test_normalize_device():
    assert backend.normalize_device("cpu") == "cpu"
    assert backend.normalize_device(" CUDA ") == "cuda:0"
    assert backend.normalize_device("cuda:1") == "cuda:1"
    for bad in ("gpu", "cuda:x", "cuda:", "tpu:0"):
        with pytest.raises(DeviceError, match="'cpu', 'cuda' or 'cuda:N'"):
            backend.normalize_device(bad)


def test_default_device_from_code_and_environment(monkeypatch):
    monkeypatch.delenv("TINYGEN_DEVICE", raising=False)
    tg.set_default_device(None)
    assert tg.get_default_device() == "cpu"
    monkeypatch.setenv("TINYGEN_DEVICE", "cuda")
    assert tg.get_default_device() == "cuda:0"          # parsed, not yet used
    monkeypatch.setenv("TINYGEN_DEVICE", "Cpu")
    assert tg.get_default_device() == "cpu"
    monkeypatch.setenv("TINYGEN_DEVICE", "npu")
    with pytest.raises(DeviceError, match="npu"):
        tg.get_default_device()
    monkeypatch.setenv("TINYGEN_DEVICE", "cuda:3")
    tg.set_default_device("cpu")                         # code wins over the environment
    assert tg.get_default_device() == "cpu" and tg.zeros(1).device == "cpu"


def test_cuda_without_cupy_says_why_and_how_to_install(no_cupy, monkeypatch):
    monkeypatch.delenv("TINYGEN_DEVICE", raising=False)   # (the stand-in pass sets it)
    with pytest.raises(DeviceError) as info:
        tg.set_default_device("cuda")
    msg = str(info.value)
    assert "CuPy" in msg and "pip install cupy-cuda12x" in msg and "could not be imported" in msg
    assert tg.get_default_device() == "cpu"              # nothing was changed
    with pytest.raises(DeviceError, match="CuPy"):
        tg.zeros(2, device="cuda")
    with pytest.raises(DeviceError, match="CuPy"):
        tg.ones(2).to("cuda")
    with pytest.raises(DeviceError, match="CuPy"):
        nn.Linear(2, 2).to("cuda")
    assert not tg.cuda_is_available()


def test_importing_tinygen_does_not_import_cupy():
    import subprocess
    code = "import sys, tinygen, tinygen.nn, tinygen.functional; print('cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_mixing_devices_names_both_and_the_fix(monkeypatch):
    # A stand-in for a GPU array: any array that is not a plain host ndarray takes the
    # engine's checked path (plain ndarrays are known to be on the host, and skip it).
    class FakeGPUArray(np.ndarray):
        pass
    fake_gpu_array = np.ones((2, 2)).view(FakeGPUArray)
    real = backend.device_of
    monkeypatch.setattr(backend, "device_of",
                        lambda a: "cuda:0" if a is fake_gpu_array else real(a))
    on_gpu, on_cpu = tg.Tensor(fake_gpu_array), tg.ones(2, 2, device="cpu")
    assert on_gpu.device == "cuda:0"
    with pytest.raises(DeviceError) as info:
        on_gpu + on_cpu
    msg = str(info.value)
    assert "cpu" in msg and "cuda:0" in msg and ".to(" in msg and "Add" in msg
    with pytest.raises(DeviceError, match="cuda:0"):
        tg.matmul(on_cpu, on_gpu)


def test_to_cpu_is_identity_and_get_array_module():
    x = tg.randn(3, device="cpu")
    assert x.to("cpu") is x and x.cpu() is x
    assert backend.get_array_module(x) is np and backend.get_array_module(x.data, 1.0) is np
    assert backend.device_of(x.data) == "cpu" and backend.to_host(x._data) is x._data
    assert backend.to_device(x._data, "cpu") is x._data


def test_scatter_add_accumulates_repeats():
    t = np.zeros(3)
    backend.scatter_add(t, np.array([0, 0, 2]), np.array([1.0, 2.0, 3.0]))
    assert_array_equal(t, [3.0, 0.0, 3.0])


def test_rng_state_round_trip():
    tg.manual_seed(5)
    state = backend.get_rng_state()
    a = tg.randn(4).cpu().numpy()
    backend.set_rng_state(state)
    assert_array_equal(tg.randn(4).cpu().numpy(), a)


def test_blas_threads_sets_and_restores_or_does_nothing(monkeypatch):
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)   # (conftest sets it to 1)
    get, set_ = backend._openblas_threads_api()
    if get is not None:
        before = get()
        with backend.blas_threads(2) as changed:
            assert changed and get() == 2
        assert get() == before
    # The user's OPENBLAS_NUM_THREADS wins; a missing library or symbol is not an error.
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    with backend.blas_threads(1) as changed:
        assert changed is False
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    monkeypatch.setattr(backend, "_openblas_threads_api", lambda: (None, None))
    with backend.blas_threads(1) as changed:
        assert changed is False


# ----------------------------------------------------------------------------
# real GPU (skipped without CuPy and a CUDA device)
# ----------------------------------------------------------------------------

gpu = pytest.mark.skipif(not backend.cuda_is_available(), reason="needs CuPy and a CUDA device")


@gpu
def test_ops_on_cuda_match_cpu():
    rng = np.random.default_rng(0)
    a_np, b_np = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    results = {}
    for dev in ("cpu", "cuda"):
        a = tg.tensor(a_np, device=dev, requires_grad=True)
        b = tg.tensor(b_np, device=dev, requires_grad=True)
        y = (a @ b).tanh().logsumexp(1) + a[[0, 0, 2]].sum() + tg.relu(a).max()
        y.sum().backward()
        assert a.grad.device == a.device
        results[dev] = [backend.to_host(t.data) for t in (y, a.grad, b.grad)]
    for c, g in zip(results["cpu"], results["cuda"]):
        assert_allclose(g, c, rtol=1e-10)


@gpu
def test_mlp_step_on_cuda_matches_cpu():
    from tinygen import functional as F
    out = {}
    x_np = np.random.default_rng(1).standard_normal((8, 3)).astype(np.float32)
    y_np = np.random.default_rng(2).integers(0, 2, 8)
    for dev in ("cpu", "cuda"):
        tg.manual_seed(0)                   # same seed -> same weights on both devices
        net = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 2)).to(dev)
        loss = F.cross_entropy(net(tg.tensor(x_np, device=dev)), tg.tensor(y_np, device=dev))
        loss.backward()
        with tg.no_grad():
            for p in net.parameters():
                p.data -= 0.1 * p.grad.data
        out[dev] = [backend.to_host(p.data) for p in net.parameters()] + [loss.item()]
    for c, g in zip(out["cpu"], out["cuda"]):
        assert_allclose(g, c, rtol=1e-4, atol=1e-6)
