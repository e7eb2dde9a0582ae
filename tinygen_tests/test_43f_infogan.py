"""InfoGAN (issue 18): the information bound, Q on D's trunk, traversals, the run.

Read in order: the loss (values, properties, first- and second-order gradchecks) -> the models
-> a short run with its traversal picture -> exact resume -> the stand-in CUDA device.
"""
import copy
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygen as tg
from tinygen import losses as L
from tinygen.data.arrays import TrainingSet
from tinygen.gradcheck import gradcheck, gradgradcheck
from tinygen.io.checkpoint import restore_checkpoint
from tinygen.methods import infogan
from tinygen_tests.conftest import assert_array_equal, host

HYP = settings(max_examples=20, deadline=None)
DATA = TrainingSet(np.zeros((1, 1, 28, 28), np.float32))
TINY = dict(ngf=8, ndf=8, latent_dim=6, q_hidden=8, batch_size=16, n_train=200, n_samples=64,
            quiet=True, log_every=2, sample_every=2)


def T(a):
    return tg.tensor(np.asarray(a, dtype=np.float64))


@HYP
@given(st.integers(1, 5), st.integers(2, 4), st.integers(1, 3), st.integers(0, 10 ** 6),
       st.booleans())
def test_information_loss_is_the_codes_negative_log_likelihood(n, k, l, seed, learn_var):
    rng = np.random.default_rng(seed)
    logits, cat = rng.normal(size=(n, k)) * 3, rng.integers(0, k, n)
    mu, c, logvar = rng.normal(size=(n, l)), rng.uniform(-1, 1, (n, l)), rng.normal(size=(n, l))
    value = float(L.infogan_information_loss(T(logits), tg.tensor(cat), T(mu), T(c),
                                             T(logvar) if learn_var else None))
    log_q_cat = logits[np.arange(n), cat] - np.logaddexp.reduce(logits, axis=1)
    var = np.exp(logvar) if learn_var else np.ones_like(mu)
    log_q_cont = -0.5 * ((c - mu) ** 2 / var + np.log(var) + math.log(2 * math.pi))
    expected = -np.mean(log_q_cat) - np.mean(log_q_cont.sum(1))
    assert value == pytest.approx(expected, rel=1e-9, abs=1e-9)
    # a perfect Q (mean = code, all mass on the category) bounds the loss by the Gaussian's
    # normaliser alone: the bound L_I is then H(c), i.e. I(c; x) is maximal
    sure = np.full((n, k), -50.0)
    sure[np.arange(n), cat] = 50.0
    best = float(L.infogan_information_loss(T(sure), tg.tensor(cat), T(c), T(c)))
    assert best == pytest.approx(l * 0.5 * math.log(2 * math.pi), rel=1e-9)
    assert value >= best - 1e-9 or learn_var


def test_information_loss_gradchecks_and_codes_are_targets():
    rng = np.random.default_rng(0)
    logits = tg.tensor(rng.normal(size=(4, 3))).requires_grad_()
    mu, logvar = (tg.tensor(rng.normal(size=(4, 2))).requires_grad_() for _ in range(2))
    cat, c = tg.tensor(rng.integers(0, 3, 4)), tg.tensor(rng.uniform(-1, 1, (4, 2)))
    fn = lambda a, m, v: L.infogan_information_loss(a, cat, m, c, v)   # noqa: E731
    gradcheck(fn, (logits, mu, logvar))
    gradgradcheck(fn, (logits, mu, logvar))
    fixed = lambda a, m: L.infogan_information_loss(a, cat, m, c)      # noqa: E731
    gradcheck(fixed, (logits, mu))
    gradgradcheck(fixed, (logits, mu))
    with pytest.raises(ValueError, match="shape of cont_mean"):
        L.infogan_information_loss(logits, cat, mu, c[:, :1])


def test_q_shares_the_trunk_and_reads_k_plus_l_numbers():
    tg.manual_seed(0)
    G, D = infogan.build_models(infogan.Config(**TINY), DATA)
    c_cat, c_cont = infogan.sample_codes(infogan.Config(**TINY), 3, tg.get_default_device())
    assert c_cat.shape == (3,) and c_cont.shape == (3, 2)
    assert float(c_cont.abs().max()) <= 1.0
    x = G(tg.randn(3, 6), c_cat, c_cont)
    s, q, _ = D(x)
    assert x.shape == (3, 1, 28, 28) and s.shape == (3, 1) and q.shape == (3, 12)


def test_traversal_rows_hold_one_category_and_sweep_the_first_code():
    tg.manual_seed(0)
    config = infogan.Config(**TINY)
    G, _ = infogan.build_models(config, DATA)
    grid = infogan.traversals(config, G, config.device, np.random.default_rng(0), steps=5)
    assert grid.shape == (50, 1, 28, 28)
    assert np.abs(grid[0] - grid[4]).max() > 1e-4                   # c_1 moves the image
    assert np.abs(grid[0] - grid[5]).max() > 1e-4                   # and so does the category


def test_the_g_step_moves_q_and_the_trunk_by_the_information_term_alone():
    # G's step: G descends adversarial + lambda info; D's trunk and Q descend lambda info only
    # (D's source head not at all). Checked against the gradients taken term by term: with
    # SGD (lr 1) each parameter moves by exactly minus its gradient.
    from tinygen import optim
    config = infogan.Config(**TINY, info_weight=0.7)
    nz, k = config.latent_dim, config.categories
    G, D = infogan.build_models(config, DATA)
    G.train(), D.train()
    opt_g, opt_d = optim.SGD(G.parameters(), lr=1.0), optim.SGD(D.parameters(), lr=1.0)
    dev = config.device
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)          # the parameters before the step
    before = {n: np.array(host(p), copy=True) for n, p in D.named_parameters()}
    tg.manual_seed(3)
    infogan.generator_step(config, G, D, opt_g, opt_d, 16, nz, dev)
    tg.manual_seed(3)                                   # the same z and codes again
    z, (c_cat, c_cont) = tg.randn(16, nz, device=dev), infogan.sample_codes(config, 16, dev)
    G2.train(), D2.train()
    s, q, _ = D2(G2(z, c_cat, c_cont))
    info = L.infogan_information_loss(q[:, :k], c_cat, q[:, k:], c_cont)
    grads = tg.grad(config.info_weight * info, [p for _, p in D2.named_parameters()], allow_unused=True)
    for (n, p), g in zip(D.named_parameters(), grads):
        moved = before[n] - host(p)
        if n.startswith("source."):
            assert np.all(moved == 0), n                # the source head: untouched
        else:
            assert np.allclose(moved, host(g), atol=1e-5), n


def test_short_run_and_bit_exact_resume(tmp_path):
    base = dict(TINY, checkpoint_every=3)
    full = infogan.train(infogan.Config(steps=6, out=str(tmp_path / "full"), **base))
    infogan.train(infogan.Config(steps=3, out=str(tmp_path / "half"), **base))
    resumed = infogan.train(infogan.Config(steps=6, resume=str(tmp_path / "half"), **base))
    states = []
    for out in (full, resumed):
        G, D = infogan.build_models(infogan.Config(**base), DATA)
        restore_checkpoint(os.path.join(out, "checkpoint.npz"), G=G, D=D)
        states.append({**G.state_dict(), **{"D." + k: v for k, v in D.state_dict().items()}})
    for k in states[0]:
        assert_array_equal(states[0][k], states[1][k], err_msg=k)
    assert os.path.exists(os.path.join(full, "traversals.png"))
    samples = np.load(os.path.join(full, "samples.npz"))
    assert samples["x"].shape == (64, 28, 28) and samples["y"].max() < 10


def test_runs_on_the_stand_in_cuda_device(tmp_path):
    env = dict(os.environ, TINYGEN_SIMULATE_CUDA="1")
    cmd = [sys.executable, "-m", "tinygen", "run", "infogan", "--device", "cuda", "--steps", "2",
           "--log-every", "2", "--sample-every", "2", "--ngf", "8", "--ndf", "8", "--n-train",
           "200", "--n-samples", "16", "--quiet", "--out", str(tmp_path / "run")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.load(open(tmp_path / "run" / "config.json"))["device"] == "cuda"


def test_paper_defaults():
    c = infogan.Config()
    assert (c.latent_dim, c.categories, c.continuous, c.info_weight, c.lr_d, c.lr_g) == \
        (62, 10, 2, 1.0, 2e-4, 1e-3)
