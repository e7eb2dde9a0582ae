"""Weight registry: lookup order, hash-prefix check, clear errors, CLI entry — no network."""
import hashlib
import os

import pytest

import tinygen.io.weights as weights
from tinygen.io import get_weights, weights_main


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYGEN_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path


def fake_file(tmp_path, monkeypatch, content=b"weights!"):
    """Register a fake weight file whose name embeds its real sha256 prefix."""
    prefix = hashlib.sha256(content).hexdigest()[:8]
    src = tmp_path / f"fake-{prefix}.pth"
    src.write_bytes(content)
    w = weights.WeightFile(src.name, src.as_uri(), prefix, "test", 0.0)
    monkeypatch.setitem(weights.REGISTRY, w.name, w)
    return w, src


def test_missing_file_message_names_place_and_url(cache):
    with pytest.raises(FileNotFoundError) as e:
        get_weights("vgg19")
    msg = str(e.value)
    assert "vgg19-dcbb9e9d.pth" in msg and os.path.join(str(cache), "cache", "weights") in msg
    assert "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in msg and "--path" in msg
    with pytest.raises(KeyError, match="known"):
        get_weights("resnet50")


def test_download_verify_and_lookup(cache, monkeypatch):
    w, src = fake_file(cache, monkeypatch)
    path = get_weights(w.name, download=True)
    assert path == os.path.join(str(cache), "cache", "weights", w.name)
    assert open(path, "rb").read() == b"weights!"
    assert get_weights("fake") == path                         # alias, found in the cache now
    bad = cache / "bad.pth"
    bad.write_bytes(b"something else")
    with pytest.raises(ValueError, match="not a valid"):
        get_weights(w.name, path=str(bad))
    assert get_weights(w.name, path=str(src)) == str(src)


def test_corrupt_download_is_removed(cache, monkeypatch):
    w, src = fake_file(cache, monkeypatch)
    monkeypatch.setitem(weights.REGISTRY, w.name, weights.WeightFile(w.name, w.url, "00000000", "", 0))
    with pytest.raises(Exception, match="checksum mismatch"):
        get_weights(w.name, download=True)
    assert not os.path.exists(os.path.join(str(cache), "cache", "weights", w.name))


def test_torch_hub_cache_is_reused(cache, monkeypatch):
    w, src = fake_file(cache, monkeypatch)
    hub = cache / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / w.name).write_bytes(src.read_bytes())
    assert get_weights(w.name) == str(hub / w.name)


def test_cli(cache, monkeypatch, capsys):
    w, src = fake_file(cache, monkeypatch)
    assert weights_main(["list"]) == 0
    assert "vgg19-dcbb9e9d.pth" in capsys.readouterr().out
    assert weights_main(["path", "vgg19"]) == 1
    assert "not found" in capsys.readouterr().err
    assert weights_main(["download", w.name, "--path", str(src)]) == 0
    assert weights_main(["path", w.name]) == 0
    assert capsys.readouterr().out.strip().endswith(w.name)
