"""Real image datasets: MNIST, Fashion-MNIST (IDX files) and CIFAR-10 (python pickles).

Files are read from a folder (``root``, the ``--data-dir`` option; default the cache
``$TINYGEN_DATA/<name>`` or ``~/.cache/tinygen/<name>``). They are downloaded only when
asked (``download=True``), from the official URLs, checked against their MD5, and written
atomically. When a file is missing the error names the file, the folder to put it in and
the URL to fetch it from.

IDX (LeCun et al., http://yann.lecun.com/exdb/mnist/): a 4-byte magic number
``00 00 <type> <ndim>`` (type 0x08 = uint8), then ``ndim`` big-endian uint32 sizes, then the
values big-endian, row-major. Images are idx3 (N, 28, 28), labels idx1 (N,). The files are
gzip-compressed; uncompressed copies (same name without ``.gz``) are accepted too.

CIFAR-10 (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html): a tar.gz holding
``cifar-10-batches-py/data_batch_1..5`` and ``test_batch``, each a pickled dict with
``b"data"`` uint8 (10000, 3072) — 1024 red, then green, then blue values of a 32x32 image
in row-major order — and ``b"labels"`` (list of 10000 ints). The pickles are read with a
restricted Unpickler that only allows NumPy's array reconstruction globals.
"""
from __future__ import annotations

import gzip
import io as _io
import os
import pickle
import tarfile
from typing import List, Optional, Tuple

import numpy as np

from tinygen.io.download import check_file, download as _download
from tinygen.io.files import cache_dir

MNIST_MIRRORS = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
FASHION_MIRRORS = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
FASHION_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_FILE = "cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class DataFileError(ValueError):
    """A dataset file exists but is truncated, corrupt or of the wrong kind."""


class DataNotFoundError(FileNotFoundError):
    """A dataset file is missing and was not downloaded; the message says how to get it."""


# --------------------------------------------------------------------------
# IDX
# --------------------------------------------------------------------------

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.int16, 0x0C: np.int32, 0x0D: np.float32,
              0x0E: np.float64}


def parse_idx(data: bytes, where: str = "IDX data") -> np.ndarray:
    """Decode the bytes of one (uncompressed) IDX file into an array of its dtype and shape."""
    if len(data) < 4:
        raise DataFileError(f"{where}: {len(data)} bytes is too short for an IDX header (truncated?)")
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0 or code not in _IDX_TYPES or not 1 <= ndim <= 4:
        raise DataFileError(f"{where}: bad IDX magic number {data[:4].hex()} (expected 0000 then a "
                            "type code 08/09/0b/0c/0d/0e and 1-4 dimensions): not an IDX file")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataFileError(f"{where}: truncated IDX header ({len(data)} of {header} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[code]).newbyteorder(">")
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        kind = "truncated" if len(data) < expected else "longer than its header says"
        raise DataFileError(f"{where}: {kind}: header says shape {dims} of {dtype.name} = "
                            f"{expected} bytes, file has {len(data)}. Delete it and download again")
    a = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return a.astype(dtype.newbyteorder("="))


def read_idx(path: str) -> np.ndarray:
    """Read an IDX file, gzip-compressed (``.gz``) or not."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise DataNotFoundError(f"no IDX file at {path!r}") from None
    except (EOFError, OSError, gzip.BadGzipFile) as e:
        raise DataFileError(f"{path!r}: cannot decompress ({e}); the download is truncated or "
                            "corrupt. Delete it and download again") from None
    return parse_idx(raw, where=repr(path))


# --------------------------------------------------------------------------
# locating / downloading files
# --------------------------------------------------------------------------

def _search_dirs(root: Optional[str], name: str) -> List[str]:
    base = root if root is not None else cache_dir(name)
    dirs = [base, os.path.join(base, name)]
    if root is not None:
        dirs += [os.path.join(base, name.upper(), "raw"), os.path.join(base, name.replace("-", "_"))]
    return dirs


def _find_file(root, name, filename, urls, md5, download, dataset_title) -> str:
    dirs = _search_dirs(root, name)
    for d in dirs:
        for candidate in (filename, filename[:-3] if filename.endswith(".gz") else None):
            if candidate and os.path.isfile(os.path.join(d, candidate)):
                return os.path.join(d, candidate)
    target = os.path.join(dirs[0], filename)
    if download:
        return _download([u + filename if u.endswith("/") else u for u in urls], target, md5=md5)
    url = urls[0] + filename if urls[0].endswith("/") else urls[0]
    raise DataNotFoundError(
        f"{dataset_title} file {filename!r} not found in {dirs[0]!r}. Download it from {url} "
        f"(md5 {md5}) and place it in that folder, or pass --data-dir DIR (data_dir=/root=) "
        f"pointing at the folder that holds it, or pass --download (download=True) to fetch it.")


def _load_idx_pair(root, name, title, mirrors, md5s, split, download) -> Tuple[np.ndarray, np.ndarray]:
    if split not in ("train", "test"):
        raise ValueError(f"{title} split must be 'train' or 'test'; got {split!r}")
    prefix = "train" if split == "train" else "t10k"
    files = [f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"]
    paths = [_find_file(root, name, f, mirrors, md5s[f], download, title) for f in files]
    x, y = read_idx(paths[0]), read_idx(paths[1])
    if x.ndim != 3 or x.dtype != np.uint8:
        raise DataFileError(f"{paths[0]!r}: expected uint8 images (N, H, W); got {x.dtype} {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise DataFileError(f"{paths[1]!r}: expected {len(x)} labels (N,); got shape {y.shape}")
    return x, y.astype(np.int64)


def load_mnist(root: Optional[str] = None, split: str = "train", download: bool = False):
    """MNIST: x uint8 (N, 28, 28) 0..255 white on black, y int64 (N,) in 0..9.

    N = 60000 (train) or 10000 (test). ``root``: folder with the four ``*-idx?-ubyte.gz``
    files (default the cache ``mnist`` folder).
    """
    return _load_idx_pair(root, "mnist", "MNIST", MNIST_MIRRORS, MNIST_MD5, split, download)


def load_fashion_mnist(root: Optional[str] = None, split: str = "train", download: bool = False):
    """Fashion-MNIST (Xiao et al. 2017): same format and shapes as MNIST, 10 clothing classes."""
    return _load_idx_pair(root, "fashion-mnist", "Fashion-MNIST", FASHION_MIRRORS, FASHION_MD5,
                          split, download)


# --------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------

def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:       # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class _RestrictedUnpickler(pickle.Unpickler):
    """Only NumPy array reconstruction; any other global is refused (nothing executes)."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"),
               # protocol-2 pickles written by Python 3 spell bytes as _codecs.encode(str, "latin1")
               ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise DataFileError(f"refusing to unpickle global {module}.{name}: CIFAR batches only "
                                "contain lists, bytes and NumPy arrays (is this file tampered with?)")
        if name == "_reconstruct":
            return _numpy_reconstruct()
        if module == "_codecs":
            import codecs
            return codecs.encode
        return getattr(np, name)


def unpickle_cifar_batch(data: bytes, where: str = "CIFAR batch") -> Tuple[np.ndarray, np.ndarray]:
    """One pickled batch -> (x uint8 (N, 32, 32, 3), y int64 (N,))."""
    try:
        d = _RestrictedUnpickler(_io.BytesIO(data), encoding="bytes").load()
    except DataFileError:
        raise
    except Exception as e:
        raise DataFileError(f"{where}: cannot unpickle ({type(e).__name__}: {e}); corrupt file") from None
    if not isinstance(d, dict):
        raise DataFileError(f"{where}: expected a dict, got {type(d).__name__}")
    d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}
    if "data" not in d or "labels" not in d:
        raise DataFileError(f"{where}: missing 'data'/'labels' entries (has {sorted(d)})")
    x = np.asarray(d["data"])
    y = np.asarray(d["labels"], dtype=np.int64)
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072 or len(y) != len(x):
        raise DataFileError(f"{where}: expected data uint8 (N, 3072) and N labels; got "
                            f"{x.dtype} {x.shape} and {y.shape}")
    return x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), y


def load_cifar10(root: Optional[str] = None, split: str = "train", download: bool = False):
    """CIFAR-10: x uint8 (N, 32, 32, 3) RGB 0..255, y int64 (N,) in 0..9; N = 50000 / 10000.

    ``root`` holds ``cifar-10-python.tar.gz`` (read without extracting) or the extracted
    ``cifar-10-batches-py/`` folder.
    """
    if split not in ("train", "test"):
        raise ValueError(f"CIFAR-10 split must be 'train' or 'test'; got {split!r}")
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    for d in _search_dirs(root, "cifar10"):
        folder = os.path.join(d, "cifar-10-batches-py")
        if os.path.isdir(folder):
            batches = []
            for n in names:
                p = os.path.join(folder, n)
                if not os.path.isfile(p):
                    raise DataNotFoundError(f"CIFAR-10 folder {folder!r} lacks {n!r}; re-extract "
                                            f"{CIFAR10_FILE} there")
                with open(p, "rb") as f:
                    batches.append(unpickle_cifar_batch(f.read(), p))
            return _concat(batches)
    path = _find_file(root, "cifar10", CIFAR10_FILE, [CIFAR10_URL], CIFAR10_MD5, download, "CIFAR-10")
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = {m.name.rsplit("/", 1)[-1]: m for m in tar.getmembers() if m.isfile()}
            batches = []
            for n in names:
                if n not in members:
                    raise DataFileError(f"{path!r} has no member {n!r}: not the CIFAR-10 python archive")
                batches.append(unpickle_cifar_batch(tar.extractfile(members[n]).read(), f"{path}:{n}"))
    except (tarfile.TarError, EOFError, OSError) as e:
        problem = check_file(path, md5=CIFAR10_MD5)
        raise DataFileError(f"{path!r}: cannot read the archive ({e}); {problem or 'checksum ok'}. "
                            "The file is truncated or corrupt: delete it and download again") from None
    return _concat(batches)


def _concat(batches):
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
