"""Semi-supervised GAN (issue 18): the K+1-class losses, feature matching, labels, the run.

Read in order: the losses (values, properties drawn by hypothesis, first- and second-order
gradchecks in float64 with random upstream gradients) -> the labelled-data helpers (-1 =
unlabelled, balanced subsets) -> a short run (files, predictions.npz, the baseline) -> exact
resume -> the stand-in CUDA device -> the quality bar on MNIST (slow).
"""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

import tinygen as tg
from tinygen import losses as L
from tinygen.data.arrays import labelled_subset, load_labelled_set
from tinygen.gradcheck import gradcheck, gradgradcheck
from tinygen.io.checkpoint import restore_checkpoint
from tinygen.methods import sgan
from tinygen.methods.run import read_metrics

SHARED_MNIST = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist")
HYP = settings(max_examples=20, deadline=None)


def T(a):
    return tg.tensor(np.asarray(a, dtype=np.float64))


def logit_matrix(max_rows=5, max_k=4, bound=20.0):
    return st.tuples(st.integers(1, max_rows), st.integers(2, max_k)).flatmap(
        lambda s: arrays(np.float64, s, elements=st.floats(-bound, bound, allow_nan=False)))


def lse(a):
    return np.logaddexp.reduce(a, axis=1)


# ---------------------------------------------------------------- the losses

def test_kplus1_logit_is_the_logit_of_z_over_z_plus_one():
    l = np.array([[0.0, 0.0], [1.0, -2.0], [-30.0, -31.0]])
    z = np.exp(l).sum(1)
    d = 1 / (1 + np.exp(-L.kplus1_logit(T(l)).cpu().numpy()))
    np.testing.assert_allclose(d, z / (z + 1), rtol=1e-12)
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        L.kplus1_logit(T([1.0, 2.0]))


@HYP
@given(logit_matrix(), logit_matrix())
def test_unsupervised_loss_matches_the_papers_code_form(r, f):
    # Salimans et al.'s code: -mean(lse_r) + mean(softplus(lse_r)) + mean(softplus(lse_f)).
    k = min(r.shape[1], f.shape[1])
    r, f = r[:, :k], f[:, :k]
    expected = (-lse(r).mean() + np.logaddexp(0, lse(r)).mean() + np.logaddexp(0, lse(f)).mean())
    value = float(L.sgan_unsupervised_loss(T(r), T(f)))
    # softplus(x) is x above PyTorch's threshold 20, off by log1p(exp(-x)) <= 2.1e-9 per term
    # (hypothesis found r = [[0, 20]]: lse = 20.000000002), hence abs 1e-8
    assert value == pytest.approx(expected, rel=1e-9, abs=1e-8)
    assert value >= 0


@HYP
@given(logit_matrix(), st.floats(-5, 5))
def test_supervised_loss_ignores_a_shift_of_all_logits_the_unsupervised_one_does_not(l, c):
    # p(y | x, real) is a K-way softmax: shifting every logit changes nothing; but the shift
    # moves the "fake" logit (fixed at 0) relative to them, so D(x) changes.
    y = np.arange(len(l)) % l.shape[1]
    a = float(L.sgan_supervised_loss(T(l), tg.tensor(y)))
    b = float(L.sgan_supervised_loss(T(l + c), tg.tensor(y)))
    assert a == pytest.approx(b, rel=1e-9, abs=1e-9)
    fake = T(np.full_like(l, -30.0))     # D(G(z)) ~ 0: the loss is its real half alone
    u0 = float(L.sgan_unsupervised_loss(T(l), fake))
    u1 = float(L.sgan_unsupervised_loss(T(l + 1.0), fake))
    assert u1 <= u0           # reals look more real: the real half of the loss falls ...
    if lse(l).max() < 10:     # ... strictly, where softplus(-lse) is not below round-off
        assert u1 < u0


def test_a_confident_discriminator_has_a_small_unsupervised_loss():
    real = T(np.full((3, 4), 15.0))      # Z huge: D(x) -> 1
    fake = T(np.full((3, 4), -15.0))     # Z tiny: D(G(z)) -> 0
    assert float(L.sgan_unsupervised_loss(real, fake)) < 1e-5
    zeros = T(np.full((3, 4), -1e3))     # Z = 0 everywhere: D = 0 for reals: loss large, finite
    assert math.isfinite(float(L.sgan_unsupervised_loss(zeros, zeros)))


@HYP
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 4), st.integers(0, 10 ** 6))
def test_feature_matching_is_the_mean_squared_difference_of_means(n, m, d, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, d)), rng.normal(size=(m, d))
    value = float(L.feature_matching_loss(T(a), T(b)))
    assert value == pytest.approx(np.mean((a.mean(0) - b.mean(0)) ** 2), rel=1e-12)
    assert float(L.feature_matching_loss(T(a), T(a[::-1]))) == pytest.approx(0.0, abs=1e-24)


def test_feature_matching_sends_no_gradient_to_the_real_features():
    real, fake = T(np.ones((3, 2))).requires_grad_(), T(np.zeros((4, 2))).requires_grad_()
    L.feature_matching_loss(real, fake).backward()
    assert real.grad is None or not np.any(real.grad.cpu().numpy())
    np.testing.assert_allclose(fake.grad.cpu().numpy(), np.full((4, 2), -2 * 1 / 2 / 4))
    with pytest.raises(ValueError, match="same d"):
        L.feature_matching_loss(T(np.ones((3, 2))), T(np.ones((3, 3))))


def _leaf(rng, *shape):
    return tg.tensor(rng.normal(size=shape) * 2.0).requires_grad_()


@pytest.mark.parametrize("seed", [0, 1])
def test_gradchecks_of_the_sgan_losses(seed):
    rng = np.random.default_rng(seed)
    r, f = _leaf(rng, 4, 3), _leaf(rng, 5, 3)
    y = tg.tensor(rng.integers(0, 3, 4))
    for fn, inputs in [(lambda a, b: L.sgan_unsupervised_loss(a, b), (r, f)),
                       (lambda a: L.sgan_supervised_loss(a, y), (r,)),
                       (lambda a: L.kplus1_logit(a), (r,)),
                       # the real features are a constant target (no gradient by design)
                       (lambda b: L.feature_matching_loss(r.detach(), b), (f,))]:
        gradcheck(fn, inputs, seed=seed)
        gradgradcheck(fn, inputs, seed=seed)


def test_weight_norm_linear_rows_have_length_g_and_gradchecks():
    from tinygen.models.cond_nets import WeightNormLinear
    tg.manual_seed(0)
    layer = WeightNormLinear(3, 2, scale=1.5).double()
    x = tg.tensor(np.random.default_rng(0).normal(size=(4, 3))).requires_grad_()
    v = layer.v.cpu().numpy()
    w = 1.5 * v / np.linalg.norm(v, axis=1, keepdims=True)
    np.testing.assert_allclose(layer(x).cpu().numpy(), x.cpu().numpy() @ w.T, rtol=1e-12)
    fn = lambda x, v, g, b: layer(x)                                  # noqa: E731
    inputs = (x, layer.v, layer.g, layer.bias)
    gradcheck(fn, inputs)
    gradgradcheck(fn, inputs)
    fixed = WeightNormLinear(3, 2, train_scale=False)
    assert [n for n, _ in fixed.named_parameters()] == ["v", "bias"]


def test_data_dependent_init_standardises_every_pre_activation():
    # Salimans & Kingma 2016, Sec. 3: after the init, each unit's pre-activation on the init
    # batch has mean 0 and variance 1 (a fixed g, train_scale=False, is set as well).
    from tinygen.models.cond_nets import SGANDiscriminator, WeightNormLinear
    tg.manual_seed(0)
    x = tg.tensor(np.random.default_rng(1).normal(2.0, 3.0, size=(200, 6)).astype(np.float32))
    layer = WeightNormLinear(6, 4, train_scale=False)
    layer.init_from_data(x)
    t = layer(x).cpu().numpy()
    np.testing.assert_allclose(t.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(t.std(0), 1.0, rtol=1e-4)
    assert [n for n, _ in layer.named_parameters()] == ["v", "bias"]
    D = SGANDiscriminator(6, 3, (5, 4), input_noise=0.0, hidden_noise=0.0,
                          train_hidden_scale=False)
    D.init_from_data(x)
    h = x
    for module in list(D.body) + [D.classes]:
        if isinstance(module, WeightNormLinear):
            t = module(h).cpu().numpy()
            np.testing.assert_allclose(t.mean(0), 0.0, atol=1e-4)
            np.testing.assert_allclose(t.std(0), 1.0, rtol=1e-3)
        h = module(h)
    learnt = [n for n, _ in D.named_parameters() if n.endswith(".g")]
    assert learnt == ["classes.g"], learnt          # only the output layer's scale is learnt


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gaussian_noise_has_its_std_keeps_the_dtype_and_is_off_in_eval(dtype):
    from tinygen.models.cond_nets import GaussianNoise
    layer = GaussianNoise(0.6)
    x = tg.tensor(np.full((400, 500), 2.0, dtype)).requires_grad_()
    tg.manual_seed(3)
    y = layer(x)
    tg.manual_seed(3)
    assert np.array_equal(layer(x).cpu().numpy(), y.cpu().numpy())   # seeded host stream
    eps = y.detach().cpu().numpy() - 2.0
    assert y.dtype == x.dtype and abs(eps.mean()) < 0.005 and abs(eps.std() - 0.6) < 0.003
    g = np.random.default_rng(0).normal(size=x.shape).astype(dtype)
    y.backward(tg.tensor(g))
    assert np.array_equal(x.grad.cpu().numpy(), g)       # d(x + eps)/dx = I
    layer.eval()
    assert layer(x) is x


def test_generator_step_leaves_the_discriminators_gradients_alone():
    # G's step descends in G's parameters only: D is frozen for it (no wasted dL/dW_D) and
    # trainable again afterwards.
    tg.manual_seed(0)
    config = sgan.Config(d_widths=(8,), g_widths=(8,), latent_dim=4)
    data = type("Data", (), {"shape": (1, 4, 4), "num_classes": 3})()
    G, D = sgan.build_models(config, data)
    opt_g = sgan.adam(config, G)
    x_u = tg.randn(5, 1, 4, 4)
    sgan.generator_step(config, G, D, opt_g, x_u, tg.randn(5, 4))
    assert all(p.grad is None and p.requires_grad for p in D.parameters())
    assert all(p.grad is not None for p in G.parameters())


# ---------------------------------------------------------------- labelled data

def test_labelled_subset_is_balanced_seeded_and_keeps_minus_one():
    y = np.repeat(np.arange(3), 20)
    y[::7] = -1
    a = labelled_subset(y, 4, np.random.default_rng(0))
    assert np.bincount(a[a >= 0]).tolist() == [4, 4, 4]
    assert np.all(a[y < 0] == -1) and np.all((a == y) | (a == -1))
    np.testing.assert_array_equal(a, labelled_subset(y, 4, np.random.default_rng(0)))
    assert not np.array_equal(a, labelled_subset(y, 4, np.random.default_rng(1)))
    np.testing.assert_array_equal(labelled_subset(y, 0, np.random.default_rng(0)), y)


def _npz(path, n=120, labelled_per_class=3, seed=0):
    """A tiny digits-like npz: images (n, 28, 28) uint8, labels -1 except a few per class."""
    from tinygen.data import synthetic_digits
    ds = synthetic_digits(n=n, seed=seed)
    y = labelled_subset(ds.y, labelled_per_class, np.random.default_rng(seed))
    np.savez(path, x=ds.x, y=y)
    return path, ds.y


def test_npz_minus_one_labels_are_unlabelled(tmp_path):
    path, _ = _npz(tmp_path / "d.npz")
    data = load_labelled_set(f"npz:{path}")
    assert data.num_classes == 10 and len(data.labelled) == 30
    assert data.x.shape == (120, 1, 28, 28) and data.x.min() >= -1 and data.x.max() <= 1
    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 28, 28), np.uint8), y=np.array([0, -2, 1]))
    with pytest.raises(ValueError, match="label >= -1"):
        load_labelled_set(f"npz:{tmp_path / 'bad.npz'}")


# ---------------------------------------------------------------- short runs

TINY = dict(d_widths=(32, 16), g_widths=(32,), latent_dim=8, batch_size=16, labelled_batch=10,
            n_samples=64, quiet=True, log_every=2, eval_every=2, sample_every=4)


def test_short_run_writes_predictions_and_both_accuracies(tmp_path):
    path, _ = _npz(tmp_path / "train.npz")
    test_path, y_test = _npz(tmp_path / "test.npz", n=40, labelled_per_class=100, seed=5)
    out = sgan.train(sgan.Config(dataset=f"npz:{path}", test_dataset=f"npz:{test_path}",
                                 labels_per_class=0, steps=6, out=str(tmp_path / "run"), **TINY))
    records = read_metrics(out)
    assert [r["step"] for r in records] == [2, 4, 6]
    for r in records:
        assert 0 <= r["test_accuracy"] <= 1 and 0 <= r["baseline_test_accuracy"] <= 1
        assert r["loss_d"] == pytest.approx(r["loss_sup"] + r["loss_unsup"], rel=1e-5)
    pred = np.load(os.path.join(out, "predictions.npz"))
    assert pred["y_pred"].dtype == np.int64 and pred["y_pred"].shape == (40,)
    assert pred["y_pred_baseline"].shape == (40,)
    assert records[-1]["test_accuracy"] == pytest.approx(np.mean(pred["y_pred"] == y_test))
    x = np.load(os.path.join(out, "samples.npz"))["x"]
    assert x.dtype == np.uint8 and x.shape[1:] == (28, 28)


def test_labels_per_class_draws_the_labelled_set(tmp_path):
    path, _ = _npz(tmp_path / "train.npz", labelled_per_class=100)       # every image labelled
    config = sgan.Config(dataset=f"npz:{path}", labels_per_class=2, steps=2, **TINY)
    from tinygen.methods import conditional as C
    data, test = C.load_labelled_data(config, config.labels_per_class)
    assert len(data.labelled) == 20 and test is None                     # npz: no test split


@pytest.mark.parametrize("paper_parts", [{}, dict(data_init=True, train_hidden_scale=False,
                                                   average=0.9)])
def test_resume_continues_bit_identically(tmp_path, paper_parts):
    path, _ = _npz(tmp_path / "train.npz")
    # (--lr-decay anneals over config.steps, so a 3-step run is not the first half of a
    #  6-step one: compared without it, as test_42_gan does). The second case: the authors'
    # data-dependent init, fixed hidden scales and the tested parameter average.
    base = dict(dataset=f"npz:{path}", labels_per_class=0, checkpoint_every=3, lr_decay=False,
                **paper_parts, **TINY)
    full = sgan.train(sgan.Config(steps=6, out=str(tmp_path / "full"), **base))
    sgan.train(sgan.Config(steps=3, out=str(tmp_path / "half"), **base))
    resumed = sgan.train(sgan.Config(steps=6, resume=str(tmp_path / "half"), **base))
    config = sgan.Config(steps=6, **base)
    from tinygen.methods import conditional as C
    data, _ = C.load_labelled_data(config)
    nets = []
    for out in (full, resumed):
        G, D = sgan.build_models(config, data)
        restore_checkpoint(os.path.join(out, "checkpoint.npz"), G=G, D=D)
        nets.append((G.state_dict(), D.state_dict()))
    for a, b in zip(*nets):
        for k in a:
            np.testing.assert_array_equal(a[k].cpu().numpy(), b[k].cpu().numpy(), err_msg=k)
    np.testing.assert_array_equal(np.load(os.path.join(full, "samples.npz"))["x"],
                                  np.load(os.path.join(resumed, "samples.npz"))["x"])
    if paper_parts:                 # the averaged D is checkpointed and restored too
        avg = []
        for out in (full, resumed):
            _, D = sgan.build_models(config, data)
            restore_checkpoint(os.path.join(out, "checkpoint.npz"), D_avg=D)
            avg.append(D.state_dict())
        for k in avg[0]:
            np.testing.assert_array_equal(avg[0][k].cpu().numpy(), avg[1][k].cpu().numpy(), err_msg=k)
        assert not np.array_equal(avg[0]["classes.v"].cpu().numpy(), nets[0][1]["classes.v"].cpu().numpy())


def test_runs_on_the_stand_in_cuda_device(tmp_path):
    path, _ = _npz(tmp_path / "train.npz")
    env = dict(os.environ, TINYGEN_SIMULATE_CUDA="1")
    cmd = [sys.executable, "-m", "tinygen", "run", "sgan", "--device", "cuda",
           "--dataset", f"npz:{path}", "--test-dataset", f"npz:{path}", "--labels-per-class",
           "0", "--steps", "2", "--log-every", "2", "--eval-every", "2", "--d-widths", "16",
           "--g-widths", "16", "--batch-size", "8", "--labelled-batch", "8", "--quiet",
           "--out", str(tmp_path / "run")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.load(open(tmp_path / "run" / "config.json"))["device"] == "cuda"
    assert "test_accuracy" in read_metrics(str(tmp_path / "run"))[-1]


def test_defaults_and_paper_preset():
    c = sgan.Config()
    assert (c.labels_per_class, c.batch_size, c.feature_matching, c.baseline,
            c.weight_norm) == (10, 100, True, True, True)
    assert c.d_widths == (1000, 500, 250, 250, 250) and c.g_widths == (500, 500)   # paper
    assert (c.steps, c.input_noise, c.hidden_noise) == (10000, 0.6, 0.5)   # docs/sgan.md
    from tinygen import cli
    paper = cli.build_config(sgan, ["--preset", "paper"])
    assert paper.lr == 3e-3 and paper.d_widths == (1000, 500, 250, 250, 250)
    assert (paper.data_init, paper.train_hidden_scale, paper.input_noise,
            paper.unsupervised_weight, paper.average) == (True, False, 0.6, 0.5, 0.9999)
    assert (c.data_init, c.train_hidden_scale, c.average) == (False, True, 0.0)
    with pytest.raises(ValueError, match="multiple of --log-every"):
        sgan.Config(eval_every=150, log_every=100)


# ---------------------------------------------------------------- the quality bar (MNIST)

def _mnist_npz(tmp_path, labels_per_class=10):
    from tinygen.data import load_mnist
    if not os.path.exists(os.path.join(SHARED_MNIST, "t10k-images-idx3-ubyte.gz")):
        pytest.skip("no MNIST test split in the shared folder")
    x, y = load_mnist(SHARED_MNIST, split="test")
    train, test = tmp_path / "mnist8k.npz", tmp_path / "mnist_test2k.npz"
    np.savez(train, x=x[:8000], y=labelled_subset(y[:8000], labels_per_class,
                                                    np.random.default_rng(0)))
    np.savez(test, x=x[8000:], y=y[8000:])
    return f"npz:{train}", f"npz:{test}"


@pytest.mark.slow
def test_mnist_100_labels_short_form(tmp_path):
    # 3,000 steps, the lr decayed over them (docs/sgan.md measured SGAN 87.65 %, baseline
    # 80.8 %, ~9 minutes on one core): the unlabelled images put SGAN ahead.
    train, test = _mnist_npz(tmp_path)
    out = sgan.train(sgan.Config(dataset=train, test_dataset=test, steps=3000, quiet=True,
                                 out=str(tmp_path / "run")))
    last = read_metrics(out)[-1]
    assert last["test_accuracy"] >= 0.84 and last["test_accuracy"] > \
        last["baseline_test_accuracy"] + 0.03, last


@pytest.mark.slow
def test_mnist_100_labels_default_run(tmp_path):
    # Issue 18's bar: >= 97 % with 100 labels at the default budget (the paper's D, 10,000
    # steps, ~28 minutes on one core of the 2026-12-04 machine). docs/sgan.md: 97.05 % at seed 0
    # (this run), baseline 80.3 %; seeds 1-3 reach 97.75 / 98.35 / 97.85 %.
    train, test = _mnist_npz(tmp_path)
    out = sgan.train(sgan.Config(dataset=train, test_dataset=test, quiet=True,
                                 out=str(tmp_path / "run")))
    last = read_metrics(out)[-1]
    assert last["test_accuracy"] >= 0.97, last
    assert last["test_accuracy"] > last["baseline_test_accuracy"] + 0.1, last
