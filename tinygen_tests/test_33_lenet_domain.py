"""LeNet and the offline domain metrics: image conversion, training, caching, calibration,
and domain FID / IS / precision / recall telling good, collapsed and useless generators apart.

One tiny classifier is trained once for the module (synthetic digits, a few hundred steps) and
shared; the full-size recipe is exercised by the slow test at the end.
"""
import os
import time

import numpy as np
import pytest

import tinygen
from tinygen import backend
from tinygen.gradcheck import check_module
from tinygen.metrics import domain
from tinygen.metrics import compute_statistics_of, inception_score
from tinygen.models import LeNet

TINY = dict(n_train=600, n_test=300, steps=150, batch_size=32, lr=3e-3, widths=(8, 16),
            hidden=32)


# ----------------------------------------------------------------------------------------------
# LeNet
# ----------------------------------------------------------------------------------------------

def test_lenet_shapes_and_state_dict_keys():
    model = LeNet(in_channels=3, num_classes=5, image_size=32, widths=(4, 6), hidden=7)
    x = tinygen.rand(2, 3, 32, 32)
    assert model.features(x).shape == (2, 7)
    assert model(x).shape == (2, 5)
    assert list(model.state_dict()) == ["conv1.weight", "conv1.bias", "conv2.weight",
                                        "conv2.bias", "fc1.weight", "fc1.bias", "fc2.weight",
                                        "fc2.bias"]
    assert model.fc1.weight.shape == (7, 6 * 8 * 8)        # c2 * (H/4) * (W/4)
    assert (model.features(x).cpu().numpy() >= 0).all()          # ReLU features


def test_lenet_rejects_bad_sizes():
    with pytest.raises(ValueError, match="divisible by 4"):
        LeNet(image_size=30)
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        LeNet()(tinygen.rand(2, 1, 32, 32))


def test_lenet_gradients_first_and_second_order():
    tinygen.manual_seed(0)
    model = LeNet(in_channels=1, num_classes=3, image_size=4, widths=(2, 2), hidden=3).double()
    x = tinygen.randn(2, 1, 4, 4, dtype=tinygen.float64)
    reports = check_module(model, x, second_order=True, raise_exception=False)
    assert all(r.passed for r in reports), "\n".join(str(r) for r in reports)


# ----------------------------------------------------------------------------------------------
# image conversion
# ----------------------------------------------------------------------------------------------

def test_to_unit_nchw_layouts_and_ranges():
    u8 = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4) * 7
    x = domain.to_unit_nchw(u8)
    assert x.shape == (2, 1, 4, 4) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0], u8 / 255.0, rtol=1e-6)
    nhwc = np.random.default_rng(0).random((3, 8, 8, 3)).astype(np.float32)
    np.testing.assert_array_equal(domain.to_unit_nchw(nhwc), nhwc.transpose(0, 3, 1, 2))
    tanh_out = nhwc * 2 - 1                                  # negative values: read as [-1, 1]
    np.testing.assert_allclose(domain.to_unit_nchw(tanh_out), nhwc.transpose(0, 3, 1, 2),
                               atol=1e-6)
    np.testing.assert_allclose(domain.to_unit_nchw(nhwc * 4, value_range=(0, 4)),
                               nhwc.transpose(0, 3, 1, 2), atol=1e-6)
    grey = domain.to_unit_nchw(nhwc, channels=1)             # BT.601 luma
    expected = 0.299 * nhwc[..., 0] + 0.587 * nhwc[..., 1] + 0.114 * nhwc[..., 2]
    np.testing.assert_allclose(grey[:, 0], expected, rtol=1e-5)
    rgb = domain.to_unit_nchw(u8, channels=3)
    assert rgb.shape == (2, 3, 4, 4) and (rgb[:, 0] == rgb[:, 2]).all()
    tensor = domain.to_unit_nchw(tinygen.tensor(nhwc.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_array_equal(tensor, nhwc.transpose(0, 3, 1, 2))
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        domain.to_unit_nchw(np.zeros((2, 5, 4, 4, 4)))
    with pytest.raises(ValueError, match="uint8 or float"):
        domain.to_unit_nchw(np.zeros((2, 4, 4), np.int32))


def test_features_spec_parsing():
    assert domain.parse_features_spec("inception") == ("inception", None)
    assert domain.parse_features_spec("domain:digits") == ("domain", "digits")
    with pytest.raises(ValueError, match="domain:DATASET"):
        domain.parse_features_spec("domain")


def test_cache_key_depends_on_the_config():
    a = domain.DomainConfig()
    assert a.key() == domain.DomainConfig().key()
    assert a.key() != domain.DomainConfig(steps=601).key()
    assert a.key() != domain.DomainConfig(dataset="mnist").key()
    assert domain.domain_cache_path(a).endswith(f"digits-{a.key()}.npz")


def test_cache_key_of_the_constant_lr_recipe_is_unchanged_and_decay_changes_it():
    # The key hashes the config's fields; lr_decay=False leaves its field out, so the caches
    # written before the field existed stay valid (this is their key, computed then).
    import dataclasses
    import hashlib
    import json
    a = domain.DomainConfig()
    fields = {k: v for k, v in dataclasses.asdict(a).items() if k != "lr_decay"}
    fields.update(widths=list(a.widths), version=domain.CACHE_VERSION)
    old = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]
    assert a.key() == old
    assert domain.DomainConfig(lr_decay=True).key() != old


def test_fit_classifier_decays_the_lr_linearly_to_zero(monkeypatch):
    from tinygen import optim
    seen = []
    step = optim.Adam.step

    def recording_step(self):
        seen.append(self.param_groups[0]["lr"])
        return step(self)

    monkeypatch.setattr(optim.Adam, "step", recording_step)
    rng = np.random.default_rng(0)
    x = rng.random((40, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    for decay, expected in ((True, [2e-3 * (1 - k / 8) for k in range(8)]), (False, [2e-3] * 8)):
        seen.clear()
        config = domain.DomainConfig(steps=8, batch_size=16, lr_decay=decay)
        domain.fit_classifier(LeNet(1, 3, 28), x, y, config, backend.get_default_device())
        np.testing.assert_allclose(seen, expected, rtol=1e-12)


def test_bring_your_own_npz_dataset_and_colour_shapes(tmp_path):
    """npz:PATH with labels trains a classifier (RGB, 16x16); the cache key sees the file."""
    rng = np.random.default_rng(0)
    y = np.arange(240) % 2
    x = (rng.random((240, 16, 16, 3)) * 60).astype(np.uint8)
    x[y == 1, 4:12, 4:12, 0] = 250                                   # class 1: a red square
    path = tmp_path / "two.npz"
    np.savez(path, x=x, y=y)
    config = domain.DomainConfig(dataset=f"npz:{path}", n_train=200, n_test=40, steps=40,
                                 batch_size=20, widths=(2, 4), hidden=8)
    key = config.key()
    clf = domain.train_domain_classifier(config)
    assert clf.image_shape == (3, 16, 16) and clf.info["num_classes"] == 2
    assert clf.info["test_accuracy"] == 1.0
    np.savez(path, x=x[::-1], y=y[::-1])                             # same path, new content
    os.utime(path, (1, 1))
    assert config.key() != key
    xs, ys = domain._load_labelled("shapes", 12, seed=0)
    assert xs.shape == (12, 32, 32, 3) and ys.shape == (12,)
    assert domain.to_unit_nchw(xs).shape == (12, 3, 32, 32)


# ----------------------------------------------------------------------------------------------
# one tiny trained classifier for the rest of the module
# ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    from tinygen.data.digits import synthetic_digits
    ds = synthetic_digits(TINY["n_train"] + TINY["n_test"] + 300, seed=0)
    return ds.x, ds.y


@pytest.fixture(scope="module")
def tiny(digits, tmp_path_factory):
    """(classifier, extra real images and labels never seen by it, training CPU seconds)."""
    x, y = digits
    n = TINY["n_train"] + TINY["n_test"]
    config = domain.DomainConfig(**TINY)
    original = domain._load_labelled
    domain._load_labelled = lambda *args, **kwargs: (x[:n], y[:n])   # no second rendering
    try:
        start = time.process_time()            # CPU time: robust to a busy shared machine
        clf = domain.train_domain_classifier(config)
        seconds = time.process_time() - start
    finally:
        domain._load_labelled = original
    print(f"tiny domain classifier: {seconds:.1f} CPU s, {domain.describe(clf)}")
    return clf, x[n:], y[n:], seconds


def test_tiny_classifier_is_accurate_and_calibrated(tiny):
    clf, x_extra, y_extra, seconds = tiny
    info = clf.info
    assert info["test_accuracy"] > 0.90
    assert clf.accuracy(x_extra, y_extra) > 0.90            # on images it never saw at all
    assert info["num_classes"] == 10 and tuple(info["image_shape"]) == (1, 28, 28)
    assert clf.reference_features.shape == (TINY["n_test"], TINY["hidden"])
    # the calibration brackets: real-vs-real is far below real-vs-noise
    assert 0 < info["real_vs_real_fid"] < info["real_vs_noise_fid"] / 10
    assert info["real_is"] > 6 and info["noise_is"] < 3
    assert seconds < 60


def test_domain_metrics_use_the_inception_code_paths(tiny):
    clf, x_extra, _, _ = tiny
    x = clf.prepare(x_extra)
    mu, sigma = compute_statistics_of(x, clf.feature_fn, batch_size=37)
    feats = clf.features(x_extra)
    # same numbers up to float32 GEMM rounding (batches of 37 vs 200)
    np.testing.assert_allclose(mu, feats.mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(sigma, np.cov(feats, rowvar=False), rtol=1e-4, atol=1e-4)
    probs = clf.probabilities(x_extra)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert inception_score(probs, splits=3)[0] > 6


def test_evaluate_samples_orders_good_collapsed_and_noise(tiny, monkeypatch):
    clf, x_extra, y_extra, _ = tiny
    monkeypatch.setattr(domain, "load_domain_classifier", lambda *a, **k: clf)
    good = domain.evaluate_samples(x_extra, "digits")
    one_class = np.concatenate([x_extra[y_extra == 3]] * 10)[:300]      # mode collapse
    collapsed = domain.evaluate_samples(one_class, "digits")
    noise = domain.evaluate_samples(
        np.random.default_rng(0).random((300, 28, 28)).astype(np.float32) * 2 - 1, "digits",
        value_range=(-1, 1))
    assert set(good) == {"domain_fid", "domain_is", "precision", "recall"}
    assert good["domain_fid"] < collapsed["domain_fid"] < noise["domain_fid"]
    assert good["domain_fid"] < 3 * clf.info["real_vs_real_fid"]
    assert good["domain_is"] > 6 and collapsed["domain_is"] < 2
    assert good["precision"] > 0.6 and good["recall"] > 0.6
    assert collapsed["recall"] < 0.3 < collapsed["precision"]          # quality kept, coverage lost
    assert noise["precision"] < 0.05
    # float images in [-1, 1] give the same numbers as the uint8 originals
    as_tanh = x_extra.astype(np.float32) / 127.5 - 1
    again = domain.evaluate_samples(as_tanh, "digits", value_range=(-1, 1))
    assert again["domain_fid"] == pytest.approx(good["domain_fid"], rel=1e-4)


def test_cache_roundtrip_is_exact_atomic_and_leaves_rng_alone(tiny, tmp_path, monkeypatch):
    clf, x_extra, _, _ = tiny
    monkeypatch.setenv("TINYGEN_DATA", str(tmp_path))
    monkeypatch.setattr(domain, "_MEMORY", {})
    config = clf.config
    calls = []

    def fake_train(cfg, device="cpu", verbose=False):
        calls.append(cfg)
        return clf
    monkeypatch.setattr(domain, "train_domain_classifier", fake_train)
    first = domain.load_domain_classifier("digits", config=config)
    path = domain.domain_cache_path(config)
    assert calls == [config] and os.path.isfile(path)
    assert os.listdir(os.path.dirname(path)) == [os.path.basename(path)]   # no temp files left
    domain._MEMORY.clear()
    tinygen.manual_seed(123)
    before = backend.get_rng_state()
    loaded = domain.load_domain_classifier("digits", config=config)       # from the file
    assert backend.get_rng_state() == before                # building LeNet drew no numbers
    assert len(calls) == 1                                  # not trained again
    assert loaded is not first
    np.testing.assert_array_equal(loaded.features(x_extra[:50]), first.features(x_extra[:50]))
    np.testing.assert_array_equal(loaded.reference_features, first.reference_features)
    assert loaded.info == first.info
    assert domain.load_domain_classifier("digits", config=config) is loaded  # memory cache


def test_prepare_names_the_expected_shape(tiny):
    clf, _, _, _ = tiny
    with pytest.raises(ValueError, match=r"\(1, 28, 28\)"):
        clf.prepare(np.zeros((4, 32, 32), np.uint8))


@pytest.mark.slow
def test_default_recipe_reaches_97_percent(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYGEN_DATA", str(tmp_path))
    monkeypatch.setattr(domain, "_MEMORY", {})
    start = time.process_time()
    clf = domain.load_domain_classifier("digits")
    seconds = time.process_time() - start
    print(f"default digits classifier: {seconds:.1f} CPU s, {domain.describe(clf)}")
    assert clf.info["test_accuracy"] > 0.97
    assert clf.info["real_vs_real_fid"] < clf.info["real_vs_noise_fid"] / 50


# ----------------------------------------------------------------------------------------------
# the hook inside the GAN and VAE training loops (config flag domain_eval)
# ----------------------------------------------------------------------------------------------

def _jsonl(path):
    import json
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_gan_and_vae_runs_log_domain_metrics(tiny, digits, tmp_path, monkeypatch):
    clf, _, _, _ = tiny
    seen = []

    def fake_load(dataset, config=None, device="cpu", **kwargs):
        seen.append(dataset)
        return clf
    monkeypatch.setattr(domain, "load_domain_classifier", fake_load)
    from tinygen.methods import gan, vae
    x, y = digits
    config = gan.Config(dataset="digits", n_train=64, steps=2, batch_size=8, optimizer="adam", lr_d=2e-4,
                        lr_g=2e-4, ngf=8, ndf=8, latent_dim=8, n_eval=60, n_samples=10,
                        log_every=1, sample_every=2, domain_eval=2, out=str(tmp_path / "gan"),
                        quiet=True)
    gan.train(config)
    lines = _jsonl(tmp_path / "gan" / "metrics.jsonl")
    assert "domain_fid" not in lines[0]                     # step 1: not a multiple of 2
    assert {"domain_fid", "domain_is", "precision", "recall"} <= set(lines[1])
    assert lines[1]["domain_fid"] > 0 and 1 <= lines[1]["domain_is"] <= 10

    images = x[:120].astype(np.float32)[:, None] / 255.0
    vconfig = vae.Config(dataset="digits", steps=3, batch_size=16, latent_dim=2, hidden=16,
                         iwae_k=0, log_every=3, eval_every=3, sample_every=3, domain_eval=True,
                         out=str(tmp_path / "vae"), quiet=True)
    vae.train(vconfig, data=(images[:80], images[80:], y[80:120]))
    last = _jsonl(tmp_path / "vae" / "metrics.jsonl")[-1]
    assert {"domain_fid", "domain_is", "precision", "recall"} <= set(last)
    assert last["domain_fid"] > 0
    assert seen == ["digits", "digits"]
