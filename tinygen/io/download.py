"""The one download helper used by datasets and weight files.

``download(url, path, md5=..., sha256=..., sha256_prefix=...)`` streams ``url`` into a
temporary file beside ``path``, hashes the bytes while they arrive, and only moves the
file into place when every given checksum matches. A failed or corrupt download leaves
nothing behind and raises :class:`DownloadError` naming the URL, the expected and the
actual hash. ``file://`` URLs work too (tests use them; no test touches the network).
"""
from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from typing import Optional, Sequence, Union

from tinygen.io.files import atomic_path

CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download failed (network error or checksum mismatch); no partial file was kept."""


def file_hash(path: str, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def check_file(path: str, md5: Optional[str] = None, sha256: Optional[str] = None,
               sha256_prefix: Optional[str] = None) -> Optional[str]:
    """Return ``None`` if ``path`` matches every given checksum, else a message saying which not."""
    problems = []
    if md5 is not None:
        got = file_hash(path, "md5")
        if got != md5.lower():
            problems.append(f"md5 {got} (expected {md5})")
    if sha256 is not None or sha256_prefix is not None:
        got = file_hash(path, "sha256")
        if sha256 is not None and got != sha256.lower():
            problems.append(f"sha256 {got} (expected {sha256})")
        if sha256_prefix is not None and not got.startswith(sha256_prefix.lower()):
            problems.append(f"sha256 {got} (expected it to start with {sha256_prefix})")
    return "; ".join(problems) or None


def download(urls: Union[str, Sequence[str]], path: str, md5: Optional[str] = None,
             sha256: Optional[str] = None, sha256_prefix: Optional[str] = None,
             quiet: bool = False, timeout: float = 60.0) -> str:
    """Download the first URL of ``urls`` that works to ``path``, verifying its checksums.

    Args:
        urls: one URL or mirrors tried in order (``http(s)://`` or ``file://``).
        path: destination file; its folder is created.
        md5, sha256: full hex digests to check (either, both or none).
        sha256_prefix: the leading hex digits of the sha256 (torch.hub's convention of
            embedding them in the file name, e.g. ``vgg19-dcbb9e9d.pth``).
        quiet: no progress on stderr.
    Returns:
        ``path``.
    Raises:
        DownloadError: every mirror failed or a checksum did not match. The temporary
        file is removed; ``path`` is never left half-written or corrupt.
    """
    urls = [urls] if isinstance(urls, str) else list(urls)
    errors = []
    for url in urls:
        try:
            with atomic_path(path) as tmp:
                _fetch(url, tmp, os.path.basename(path), quiet=quiet, timeout=timeout)
                problem = check_file(tmp, md5=md5, sha256=sha256, sha256_prefix=sha256_prefix)
                if problem:
                    # raising inside atomic_path removes the temporary file
                    raise DownloadError(f"checksum mismatch for {url}: got {problem}; the corrupt "
                                        "download was removed. Try again, or fetch the file by "
                                        f"hand and place it at {path!r}")
            return path
        except DownloadError as e:
            errors.append(str(e))
        except (urllib.error.URLError, OSError, ValueError) as e:
            errors.append(f"{url}: {e}")
    raise DownloadError(f"could not download {os.path.basename(path)!r} to {path!r}:\n  "
                        + "\n  ".join(errors))


def _fetch(url: str, dest: str, name: str, quiet: bool, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "tinygen"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        done = 0
        show = not quiet and sys.stderr.isatty()
        for chunk in iter(lambda: response.read(CHUNK), b""):
            out.write(chunk)
            done += len(chunk)
            if show:
                pct = f" {100 * done / total:5.1f}%" if total else ""
                sys.stderr.write(f"\rdownloading {name}: "
                                 f"{done / 1e6:.1f} MB{pct}")
                sys.stderr.flush()
        if show:
            sys.stderr.write("\n")
        if total and done != total:
            raise DownloadError(f"{url}: connection closed after {done} of {total} bytes")
