"""Real-dataset parsers (IDX, CIFAR pickles), folder/npz loaders and the download helper.

No test uses the network: downloads come from file:// URLs.
"""
import gzip
import hashlib
import io
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest
from PIL import Image

from tinygen_tests.conftest import SHARED_DATA
import tinygen.data.real as real
from tinygen.data import (DataFileError, DataNotFoundError, load_cifar10, load_dataset, load_mnist,
                          parse_idx, read_idx)
from tinygen.io.download import DownloadError, download

SHARED = os.path.join(SHARED_DATA, "mnist")
MD5 = {"t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
       "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}


def idx_bytes(a: np.ndarray) -> bytes:
    code = {np.uint8: 0x08, np.int32: 0x0C, np.float32: 0x0D}[a.dtype.type]
    head = bytes([0, 0, code, a.ndim]) + struct.pack(">" + "I" * a.ndim, *a.shape)
    return head + a.astype(a.dtype.newbyteorder(">")).tobytes()


def test_idx_round_trip_and_big_endian():
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(parse_idx(idx_bytes(a)), a)
    b = np.array([1, -2, 70000], dtype=np.int32)
    data = idx_bytes(b)
    assert data[8:12] == b"\x00\x00\x00\x01"          # big-endian on disk
    out = parse_idx(data)
    assert out.dtype == np.int32 and out.dtype.isnative and np.array_equal(out, b)


def test_idx_errors_are_clear(tmp_path):
    a = np.zeros((3, 2, 2), np.uint8)
    with pytest.raises(DataFileError, match="truncated"):
        parse_idx(idx_bytes(a)[:-1])
    with pytest.raises(DataFileError, match="magic"):
        parse_idx(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(DataFileError, match="too short"):
        parse_idx(b"\x00")
    path = tmp_path / "t.gz"
    path.write_bytes(gzip.compress(idx_bytes(a))[:-10])          # truncated gzip stream
    with pytest.raises(DataFileError, match="truncated or corrupt"):
        read_idx(str(path))


def test_mnist_test_split_from_shared_data():
    if not os.path.isdir(SHARED):
        pytest.skip("shared MNIST not present")
    for f, md5 in MD5.items():
        assert hashlib.md5(open(os.path.join(SHARED, f), "rb").read()).hexdigest() == md5
    x, y = load_mnist(SHARED, split="test")
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (10000,) and y.dtype == np.int64
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(y).tolist()[:3] == [980, 1135, 1032]
    assert x.max() == 255 and x[:, 0].max() == 0
    ds = load_dataset("mnist", split="test", data_dir=SHARED, n=100, size=32)
    assert ds.x.shape == (100, 32, 32)


def test_missing_files_say_what_to_place_where(tmp_path):
    with pytest.raises(DataNotFoundError) as e:
        load_mnist(str(tmp_path), split="train")
    msg = str(e.value)
    assert "train-images-idx3-ubyte.gz" in msg and str(tmp_path) in msg and "--data-dir" in msg
    with pytest.raises(FileNotFoundError, match="cifar-10-python.tar.gz.*--data-dir"):
        load_cifar10(str(tmp_path))


def test_mnist_download_from_file_url_with_md5(tmp_path, monkeypatch):
    src = tmp_path / "mirror"
    src.mkdir()
    x = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    y = np.arange(5, dtype=np.uint8)
    files = {"t10k-images-idx3-ubyte.gz": gzip.compress(idx_bytes(x)),
             "t10k-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(y))}
    for name, data in files.items():
        (src / name).write_bytes(data)
    monkeypatch.setattr(real, "MNIST_MIRRORS", [src.as_uri() + "/"])
    monkeypatch.setattr(real, "MNIST_MD5", {k: hashlib.md5(v).hexdigest() for k, v in files.items()})
    root = tmp_path / "data"
    gx, gy = load_mnist(str(root), split="test", download=True)
    assert np.array_equal(gx, x) and np.array_equal(gy, y.astype(np.int64))
    assert sorted(os.listdir(root)) == sorted(files)                   # no temp files left


def test_checksum_failure_removes_the_download(tmp_path):
    src = tmp_path / "file.bin"
    src.write_bytes(b"not what you expected")
    target = tmp_path / "cache" / "file.bin"
    with pytest.raises(DownloadError, match="checksum mismatch.*removed"):
        download(src.as_uri(), str(target), md5="0" * 32, quiet=True)
    assert not target.exists() and os.listdir(target.parent) == []
    with pytest.raises(DownloadError, match="could not download"):
        download((tmp_path / "absent").as_uri(), str(target), quiet=True)
    good = hashlib.sha256(src.read_bytes()).hexdigest()
    assert download(src.as_uri(), str(target), sha256_prefix=good[:8], quiet=True) == str(target)
    assert target.read_bytes() == src.read_bytes()


def _cifar_batch(n, seed, bytes_keys=True):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, n).tolist()
    k = (lambda s: s.encode()) if bytes_keys else (lambda s: s)
    return {k("batch_label"): k("x"), k("labels"): labels, k("data"): data}, data, labels


def test_cifar_tar_parser(tmp_path):
    buf = io.BytesIO()
    expected = {}
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for i, name in enumerate([f"data_batch_{j}" for j in range(1, 6)] + ["test_batch"]):
            d, data, labels = _cifar_batch(3, i, bytes_keys=i % 2 == 0)
            expected[name] = (data, labels)
            blob = pickle.dumps(d, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(buf.getvalue())
    x, y = load_cifar10(str(tmp_path), split="test")
    data, labels = expected["test_batch"]
    assert x.shape == (3, 32, 32, 3) and x.dtype == np.uint8 and y.tolist() == labels
    # channel-major rows: pixel (0, 0) red/green/blue are entries 0, 1024, 2048
    assert x[1, 0, 0].tolist() == [data[1, 0], data[1, 1024], data[1, 2048]]
    assert x[1, 31, 31, 2] == data[1, 3071]
    xt, yt = load_cifar10(str(tmp_path), split="train")
    assert xt.shape == (15, 32, 32, 3) and yt.dtype == np.int64
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(buf.getvalue()[:200])
    with pytest.raises(DataFileError, match="truncated or corrupt"):
        load_cifar10(str(tmp_path), split="test")


def test_cifar_unpickler_refuses_other_globals():
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))
    with pytest.raises(DataFileError, match="refusing"):
        real.unpickle_cifar_batch(pickle.dumps({b"data": Evil()}))


def test_folder_and_npz(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cats", "dogs"):
        (tmp_path / "f" / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(tmp_path / "f" / cls / f"{i}.png")
    ds = load_dataset(f"folder:{tmp_path / 'f'}")
    assert ds.x.shape == (6, 10, 12, 3) and ds.y.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.classes == ["cats", "dogs"]
    assert load_dataset(f"folder:{tmp_path / 'f' / 'cats'}", size=8).x.shape == (3, 8, 8, 3)
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(tmp_path / "f" / "cats" / "odd.png")
    with pytest.raises(ValueError, match="different sizes.*size"):
        load_dataset(f"folder:{tmp_path / 'f'}")
    with pytest.raises(FileNotFoundError):
        load_dataset(f"folder:{tmp_path / 'nope'}")

    x = rng.integers(0, 256, (4, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", x=x, y=np.arange(4))
    ds = load_dataset(f"npz:{tmp_path / 'a.npz'}")
    assert np.array_equal(ds.x, x) and ds.y.dtype == np.int64
    np.savez(tmp_path / "b.npz", images=x)
    with pytest.raises(ValueError, match="no array named 'x'.*images"):
        load_dataset(f"npz:{tmp_path / 'b.npz'}")
    np.savez(tmp_path / "c.npz", x=np.zeros(5))
    with pytest.raises(ValueError, match="shape"):
        load_dataset(f"npz:{tmp_path / 'c.npz'}")
    with pytest.raises(FileNotFoundError, match="numpy.savez"):
        load_dataset(f"npz:{tmp_path / 'absent.npz'}")
