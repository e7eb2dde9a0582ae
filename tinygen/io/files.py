"""Atomic file writes and the cache directory shared by datasets and weight files.

Every file tinygen writes (images, GIFs, checkpoints, downloads) goes through
:func:`atomic_write_bytes` or :func:`atomic_path`: the bytes are written to a
temporary file *in the same directory* and then moved over the target with
``os.replace``, which is atomic on POSIX and Windows. A reader therefore sees
either the old file or the complete new one, never half of it, even if the
process is killed mid-write.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterator, Optional


def cache_dir(subdir: Optional[str] = None) -> str:
    """The tinygen cache folder: ``$TINYGEN_DATA`` if set, else ``~/.cache/tinygen``.

    ``subdir`` (e.g. ``"mnist"``, ``"weights"``) is appended. The folder is not created here;
    writers create it when they need it.
    """
    root = os.environ.get("TINYGEN_DATA") or os.path.join(os.path.expanduser("~"), ".cache", "tinygen")
    return os.path.join(root, subdir) if subdir else root


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary file name beside ``path``; on success move it onto ``path``.

    Parent folders are created. If the body raises, the temporary file is removed and
    ``path`` is left untouched::

        with atomic_path("out/grid.png") as tmp:
            image.save(tmp, format="PNG")
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())    # mkstemp makes 0600; a new file gets the umask's
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)                        # the only way to read it: set and restore
    os.umask(mask)
    return mask


def append_line(path: str, line: str) -> None:
    """Append ``line`` + newline to a log file as one whole line or not at all.

    On a failed write (a full disk, a quota) the file is cut back to its old length, so a
    reader never meets half a JSON line, and the error is raised.
    """
    data = (line + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        size = os.fstat(fd).st_size
        try:
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
        except OSError:
            os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)


def save_npz(path: str, **arrays) -> None:
    """``numpy.savez(path, **arrays)`` written atomically, streamed straight into the temporary
    file (no second copy of a large checkpoint in memory)."""
    import numpy as np
    with _atomic_file(path) as f:
        np.savez(f, **arrays)


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder + ``os.replace``)."""
    with _atomic_file(path) as f:
        f.write(data)


@contextlib.contextmanager
def _atomic_file(path: str):
    """An open binary file beside ``path``, flushed to disk and moved onto ``path`` on success."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
