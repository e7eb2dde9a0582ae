"""Shared test helpers: hypothesis strategies for shapes and (non-contiguous) float64 leaves.

Other test files may import from here; keep it small and stable:

* ``SETTINGS`` — modest hypothesis settings (few examples, no deadline);
* ``shapes(...)`` — tuples of small dimensions (size-1 dims included);
* ``leaf(draw, shape, ...)`` — a float64 leaf tensor whose data may be a transposed,
  strided or reversed *view* (non-contiguous), optionally kept away from a kink;
* ``distinct_leaf(draw, shape)`` — values pairwise far apart (no ties for max/min);
* ``check_grads(fn, inputs)`` — first- and second-order gradcheck in one call;
* ``assert_allclose`` / ``assert_array_equal`` — NumPy's, on host copies of tensors and device
  arrays (``cupy.testing``'s rule), so a test compares values whatever the default device;
* ``tinygen_cli(args)`` — ``python -m tinygen ARGS`` in a subprocess, with the stderr lines
  that say something (for the "bad input is one line" tests).

Non-contiguous leaves matter: gradcheck perturbs ``x.data`` in place, and
ops must not assume C order (``reshape`` of a transposed view copies, ``x.T``
of a view aliases...).

Leaves live on the default device (``TINYGEN_DEVICE``; the layout is made there,
with the device's own array module), so the same tests check the ops on the CPU
and, with ``TINYGEN_SIMULATE_CUDA=1 TINYGEN_DEVICE=cuda``, on the stand-in GPU.
``host(x)`` is the explicit copy to NumPy a CuPy user writes (``x.cpu().numpy()``).
"""
from __future__ import annotations

import os
import subprocess
import sys

# One BLAS thread for the test suite, set before NumPy loads. On a 2-core machine that
# is busy (shared CI runners, other jobs), OpenBLAS's spinning worker threads made some
# float32 GEMMs in the conv tests ~100x slower (0.5 s instead of 1 ms); the tests use
# small arrays where a second thread gains little. Benchmarks do not go through here.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings
from hypothesis import strategies as st

import tinygen as tg
from tinygen import autograd, backend
from tinygen.gradcheck import gradcheck, gradgradcheck

SETTINGS = settings(max_examples=12, deadline=None)

LAYOUTS = ("c", "f", "strided", "reversed")


def shapes(min_dims=0, max_dims=3, min_side=1, max_side=3):
    """Small shapes; size-1 dimensions are frequent (min_side=1)."""
    return st.lists(st.integers(min_side, max_side), min_size=min_dims,
                    max_size=max_dims).map(tuple)


def with_layout(a, kind: str):
    """The same values as ``a`` held in memory laid out as ``kind`` (a view where possible).

    ``a`` is a NumPy array or a device array; the layout is made with ``a``'s own module.
    """
    xp = backend.get_array_module(a)
    if a.ndim == 0 or kind == "c":
        return a.copy()
    if kind == "f":                       # transposed storage: a.T of a C array
        return xp.ascontiguousarray(a.T).T
    if kind == "strided":                 # every other element of a bigger buffer
        with backend.device_scope(a):
            buf = xp.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
        buf[..., ::2] = a
        return buf[..., ::2]
    if kind == "reversed":                # negative strides
        return xp.ascontiguousarray(a[..., ::-1])[..., ::-1]
    raise ValueError(kind)


def on_default_device(a):
    """A NumPy array copied to the default device (the array itself on the CPU)."""
    return backend.to_device(a, tg.get_default_device())


def host(x):
    """A host NumPy copy of a tensor or array, whatever its device (``x.cpu().numpy()``).

    Anything else (lists, scalars, NumPy arrays) comes back as it is.
    """
    if isinstance(x, tg.Tensor):
        return x.cpu().numpy()
    if backend.device_of(x) != "cpu":
        return backend.to_host(x)
    return x


def assert_allclose(actual, desired, *args, **kwargs):
    """``numpy.testing.assert_allclose`` on host copies: tensors and device arrays welcome.

    What ``cupy.testing.assert_allclose`` does (``cupy.asnumpy`` on both sides), so that a test
    compares values on any device: under ``TINYGEN_SIMULATE_CUDA=1 TINYGEN_DEVICE=cuda`` the
    values live on the stand-in GPU, which (like CuPy) refuses NumPy's implicit conversion.
    """
    np.testing.assert_allclose(host(actual), host(desired), *args, **kwargs)


def assert_array_equal(actual, desired, *args, **kwargs):
    """``numpy.testing.assert_array_equal`` on host copies (``cupy.testing.assert_array_equal``)."""
    np.testing.assert_array_equal(host(actual), host(desired), *args, **kwargs)


def tinygen_cli(args, timeout=300):
    """``python -m tinygen ARGS`` -> (the finished process, its non-blank stderr lines other
    than the "preset small" notice that ``tinygen run`` prints first)."""
    done = subprocess.run([sys.executable, "-m", "tinygen", *args], capture_output=True,
                          text=True, timeout=timeout)
    return done, [ln for ln in done.stderr.splitlines() if ln.strip() and "preset small" not in ln]


def short_translation_run(method, out, steps: int, n_train: int, n_test: int, batch: int,
                          extra=()):
    """The short form of a paired-translation method's quality bar (pix2pix, pixeldtgan):
    ``steps`` steps of 8-filter nets at lr 1e-3 on its offline task, four log lines (``extra``:
    more flags); the metrics.jsonl records (the tests assert the L1 falls and the test PSNR
    beats the input's)."""
    from tinygen import cli
    from tinygen.methods.run import read_metrics
    config = cli.build_config(method, [
        "--steps", str(steps), "--n-train", str(n_train), "--n-test", str(n_test),
        "--ngf", "8", "--ndf", "8", "--batch-size", str(batch), "--lr", "1e-3",
        "--log-every", str(steps // 4), "--sample-every", str(steps), "--quiet",
        "--out", str(out), *extra])
    return read_metrics(method.train(config))


def benchmark(name: str):
    """A script of ``benchmarks/`` imported as a module (the quality bars' slow tests and
    short forms call its functions); the folder goes on ``sys.path`` for its own imports."""
    import importlib
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)


def zoo_quality_result(method: str, out) -> dict:
    """Issue 24's MNIST bar for a paired zoo method (tpgan, pixeldtgan): its default run
    through benchmarks/zoo_quality.py into ``out``; the result record (accuracy, psnr,
    psnr_input, ...). Skips when the shared MNIST split is absent."""
    import json
    zoo_quality = benchmark("zoo_quality")
    if not os.path.exists(os.path.join(zoo_quality.MNIST, "t10k-images-idx3-ubyte.gz")):
        pytest.skip("no MNIST test split in the shared folder")
    zoo_quality.main([method, "--out", str(out)])
    with open(os.path.join(str(out), f"results-{method}.json")) as f:
        return json.load(f)["result"]


def leaf(draw, shape, low=-2.0, high=2.0, away_from=None, margin=0.1, layout=None):
    """A float64 leaf (requires_grad) with uniform values in [low, high].

    ``away_from``: a value (or list of values) every entry keeps at least
    ``margin`` away from — a kink (0 for abs/relu) or a clip bound.
    """
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    a = rng.uniform(low, high, shape)
    for k in ([] if away_from is None else np.atleast_1d(away_from)):
        near = np.abs(a - k) < margin
        a = np.where(near, k + np.where(a >= k, 1.0, -1.0) * (margin + rng.uniform(0, 0.5, shape)), a)
    kind = layout or draw(st.sampled_from(LAYOUTS))
    a = on_default_device(np.asarray(a, dtype=np.float64))
    return tg.Tensor(with_layout(a, kind), requires_grad=True)


def distinct_leaf(draw, shape, gap=0.2):
    """Entries pairwise at least ``gap`` apart, so max/min have no ties within eps."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    n = int(np.prod(shape, dtype=int))
    a = (rng.permutation(n) - n / 2) * gap + rng.uniform(0, gap / 4)
    kind = draw(st.sampled_from(LAYOUTS))
    return tg.Tensor(with_layout(on_default_device(a.reshape(shape)), kind), requires_grad=True)


def check_grads(fn, inputs, second_order=True, **kwargs):
    """gradcheck and (by default) gradgradcheck; both raise GradcheckError on failure."""
    inputs = (inputs,) if isinstance(inputs, tg.Tensor) else tuple(inputs)
    report = gradcheck(fn, inputs, **kwargs)
    assert report.passed and report.checked > 0
    if second_order:
        report2 = gradgradcheck(fn, inputs, **kwargs)
        assert report2.passed and report2.checked > 0


def t64(a, requires_grad=True):
    """A float64 leaf on the default device from anything array-like (host data); a device
    array stays on its device."""
    if backend.device_of(a) != "cpu":
        return tg.Tensor(a.astype(np.float64), requires_grad=requires_grad)
    return tg.Tensor(on_default_device(np.asarray(a, dtype=np.float64)), requires_grad=requires_grad)


@pytest.fixture(autouse=True)
def _restore_engine_state():
    """Every test starts on the CPU with grad mode on, and leaves it that way."""
    prev_device = backend._DEFAULT_DEVICE
    yield
    backend._DEFAULT_DEVICE = prev_device
    autograd._GRAD_ENABLED = True


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir(tmp_path_factory):
    """Tests never read or write the user's cache (~/.cache/tinygen or $TINYGEN_DATA).

    With pytest-xdist (``-n 2``) the workers share one cache under the run's base temp folder,
    so a classifier one worker trains and caches (written atomically) serves the other too."""
    old = os.environ.get("TINYGEN_DATA")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = tmp_path_factory.getbasetemp().parent / "tinygen-cache"
        shared.mkdir(exist_ok=True)
        os.environ["TINYGEN_DATA"] = str(shared)
    else:
        os.environ["TINYGEN_DATA"] = str(tmp_path_factory.mktemp("tinygen-cache"))
    yield
    if old is None:
        os.environ.pop("TINYGEN_DATA", None)
    else:
        os.environ["TINYGEN_DATA"] = old


# ../shared/data beside the project root: real MNIST test split and CC0 photos on developer
# machines and CI only. Tests that read it skip when it is absent.
SHARED_DATA = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
