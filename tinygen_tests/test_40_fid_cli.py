"""``tinygen fid``: folders, image .npz and statistics .npz; domain and Inception features;
--save-stats round trips; errors that say what to do. All fixtures are written by the tests.

The domain classifier used here is a small *untrained* LeNet placed in the classifier cache, so
no training happens: the CLI must give exactly the Frechet distance of its features.
"""
import os
import re

import numpy as np
import pytest
from PIL import Image

import tinygen
from tinygen.cli import main as tinygen_main
from tinygen.metrics import compute_statistics_of, frechet_distance, load_statistics
from tinygen.metrics import domain
from tinygen.metrics.fid_cli import main
from tinygen.models import InceptionV3FID


def _blobs(n, seed, size=28, radius=(3, 6)):
    """uint8 (n, size, size) images of one bright disc each at a random place."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        cy, cx = rng.uniform(6, size - 6, 2)
        r = rng.uniform(*radius)
        out[i] = np.where((yy - cy) ** 2 + (xx - cx) ** 2 < r * r, 255, 0)
    return out


@pytest.fixture()
def fake_domain(monkeypatch):
    """An untrained LeNet registered as the 'digits' domain classifier (no training, no I/O)."""
    config = domain.DomainConfig(dataset="digits", widths=(4, 8), hidden=16)
    model = domain._build_model(config, (1, 28, 28), 10, seed=0)
    info = {"dataset": "digits", "image_shape": [1, 28, 28], "num_classes": 10,
            "test_accuracy": 0.1, "real_vs_real_fid": 0.0, "real_vs_noise_fid": 1.0,
            "real_is": 1.0, "noise_is": 1.0, "calibration_samples": 0}
    clf = domain.DomainClassifier(model, config, info, np.zeros((4, 16)))
    monkeypatch.setattr(domain, "_MEMORY", {})
    # keyed by the device `tinygen fid` uses by default (--device: the default device)
    key = (domain.domain_cache_path(domain.DomainConfig(dataset="digits")),
           tinygen.get_default_device())
    domain._MEMORY[key] = clf
    return clf


@pytest.fixture()
def sets(tmp_path):
    a, b = _blobs(120, seed=1), _blobs(120, seed=2, radius=(5, 9))
    paths = {"a": tmp_path / "a.npz", "b": tmp_path / "b.npz", "folder": tmp_path / "a_png"}
    np.savez(paths["a"], x=a)
    np.savez(paths["b"], x=b[..., None])                    # (N, H, W, 1) is accepted too
    os.makedirs(paths["folder"] / "sub")
    for i, img in enumerate(a):                             # recursive, sorted file names
        where = paths["folder"] / ("sub" if i % 2 else "") / f"{i:04d}.png"
        Image.fromarray(img, mode="L").save(where)
    return a, b, {k: str(v) for k, v in paths.items()}


def _value(out):
    match = re.search(r"FID[^:]*: ([0-9.eE+-]+)", out)
    assert match, out
    return float(match.group(1))


def test_domain_fid_equals_the_frechet_distance_of_the_features(fake_domain, sets, capsys):
    a, b, p = sets
    assert main([p["a"], p["b"], "--features", "domain:digits", "--batch-size", "17"]) == 0
    got = _value(capsys.readouterr().out)
    mu_a, s_a = compute_statistics_of(fake_domain.prepare(a), fake_domain.feature_fn)
    mu_b, s_b = compute_statistics_of(fake_domain.prepare(b), fake_domain.feature_fn)
    expected = frechet_distance(mu_a, s_a, mu_b, s_b)
    assert expected > 1e-3
    assert got == pytest.approx(expected, rel=1e-5)
    # the same through the top-level ``tinygen`` command
    assert tinygen_main(["fid", p["a"], p["b"], "--features", "domain:digits"]) == 0
    assert _value(capsys.readouterr().out) == pytest.approx(expected, rel=1e-5)


def test_folder_float_npz_and_uint8_npz_agree(fake_domain, sets, tmp_path, capsys):
    a, b, p = sets
    main([p["a"], p["b"], "--features", "domain:digits"])
    from_npz = _value(capsys.readouterr().out)
    main([p["folder"], p["b"], "--features", "domain:digits"])
    from_folder = _value(capsys.readouterr().out)
    floats = tmp_path / "a_float.npz"
    np.savez(floats, x=a.astype(np.float32) / 255.0)
    main([str(floats), p["b"], "--features", "domain:digits"])
    from_floats = _value(capsys.readouterr().out)
    assert from_folder == pytest.approx(from_npz, rel=1e-5)
    assert from_floats == pytest.approx(from_npz, rel=1e-5)
    main([p["a"], p["a"], "--features", "domain:digits"])
    assert abs(_value(capsys.readouterr().out)) < 1e-6   # FID(x, x) = 0


def test_save_stats_then_reuse(fake_domain, sets, tmp_path, capsys, monkeypatch):
    a, b, p = sets
    main([p["a"], p["b"], "--features", "domain:digits"])
    direct = _value(capsys.readouterr().out)
    stats_a, stats_b = str(tmp_path / "sa.npz"), str(tmp_path / "sb.npz")
    assert main([p["a"], "--features", "domain:digits", "--save-stats", stats_a]) == 0
    assert main([p["b"], "--features", "domain:digits", "--save-stats", stats_b]) == 0
    capsys.readouterr()
    mu, sigma = load_statistics(stats_a)
    assert mu.shape == (16,) and sigma.shape == (16, 16)
    np.testing.assert_allclose(mu, fake_domain.features(a).mean(axis=0), rtol=1e-5, atol=1e-8)
    assert main([stats_a, p["b"], "--features", "domain:digits"]) == 0
    assert _value(capsys.readouterr().out) == pytest.approx(direct, rel=1e-6)
    # statistics against statistics needs no network at all, not even the Inception weights
    monkeypatch.setenv("TINYGEN_DATA", str(tmp_path / "empty_cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch"))
    assert main([stats_a, stats_b]) == 0
    assert _value(capsys.readouterr().out) == pytest.approx(direct, rel=1e-9)


def test_missing_inception_weights_say_how_to_get_them(sets, tmp_path, monkeypatch, capsys):
    _, _, p = sets
    monkeypatch.setenv("TINYGEN_DATA", str(tmp_path / "empty_cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch"))
    assert main([p["a"], p["b"]]) == 1
    err = capsys.readouterr().err
    assert "pt_inception-2015-12-05-6726825d.pth" in err
    assert "tinygen weights download pt_inception" in err
    assert "https://github.com/mseitzer/pytorch-fid/releases" in err
    assert "--features domain:digits" in err


@pytest.mark.parametrize("make, message", [
    (lambda d: np.savez(d / "bad.npz", x=np.full((5, 8, 8), 2.0, np.float32)), r"\[0, 1\]"),
    (lambda d: np.savez(d / "bad.npz", images=np.zeros((5, 8, 8), np.uint8)), "'images'"),
    (lambda d: np.savez(d / "bad.npz", mu=np.zeros(3), sigma=np.eye(3)), "different feature"),
    (lambda d: os.makedirs(d / "bad.npz"), "without image files"),
])
def test_bad_inputs_give_clear_errors(make, message, fake_domain, sets, tmp_path, capsys):
    _, _, p = sets
    make(tmp_path)
    assert main([str(tmp_path / "bad.npz"), p["b"], "--features", "domain:digits"]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_argument_errors(fake_domain, sets, tmp_path, capsys):
    _, _, p = sets
    with pytest.raises(SystemExit):                         # one path needs --save-stats
        main([p["a"]])
    with pytest.raises(SystemExit):
        main([p["a"], p["b"], "--features", "vgg"])
    assert main([p["a"], p["b"], "--features", "domain:digits", "--dims", "64"]) == 2
    assert "leave --dims out" in capsys.readouterr().err
    assert main([p["a"], p["b"], "--dims", "100"]) == 2
    assert "64, 192, 768, 2048" in capsys.readouterr().err
    assert main([str(tmp_path / "nowhere.npz"), p["b"], "--features", "domain:digits"]) == 2
    assert "no file or folder" in capsys.readouterr().err
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.new("L", (8, 8)).save(mixed / "a.png")
    Image.new("L", (9, 8)).save(mixed / "b.png")
    assert main([str(mixed), p["b"], "--features", "domain:digits"]) == 2
    assert "different sizes" in capsys.readouterr().err


def test_inception_path_with_random_weights(tmp_path, capsys):
    """The Inception wiring (grey -> RGB, resize to 299, block choice, spatial mean) against a
    direct call of the model, with tinygen's random init saved as a .pth file by torch."""
    torch = pytest.importorskip("torch")
    tinygen.manual_seed(0)
    model = InceptionV3FID()
    weights = tmp_path / "random_inception.pth"
    torch.save({k: torch.from_numpy(v.cpu().numpy().copy()) for k, v in model.state_dict().items()},
               weights)
    images = _blobs(3, seed=5, size=16)
    np.savez(tmp_path / "tiny.npz", x=images)
    out = str(tmp_path / "stats64.npz")
    with pytest.warns(RuntimeWarning, match="samples"):     # 3 samples for 64 dimensions
        assert main([str(tmp_path / "tiny.npz"), "--save-stats", out, "--weights", str(weights),
                     "--dims", "64", "--batch-size", "2"]) == 0
    mu, sigma = load_statistics(out)
    x = np.repeat(images[:, None].astype(np.float32) / 255.0, 3, axis=1)  # (3, 3, 16, 16)
    with tinygen.no_grad():
        (block0,) = model(tinygen.tensor(x), output_blocks=(0,))          # (3, 64, 73, 73)
    features = block0.cpu().numpy().mean(axis=(2, 3))                           # (3, 64)
    np.testing.assert_allclose(mu, features.mean(axis=0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(sigma, np.cov(features, rowvar=False), rtol=1e-3, atol=1e-7)
