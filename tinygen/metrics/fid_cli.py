"""``tinygen fid PATH_A [PATH_B]``: Frechet distance between two image sets, pytorch-fid style.

    tinygen fid real/ samples.npz                         Inception FID (2048-d pool_3)
    tinygen fid real/ samples.npz --dims 768              another Inception block
    tinygen fid real.npz fake.npz --features domain:digits   offline "domain FID" (LeNet)
    tinygen fid real/ --save-stats real_stats.npz         precompute statistics once
    tinygen fid real_stats.npz samples.npz                ... and reuse them

A PATH is
    * a folder of images (png, jpg, jpeg, bmp, gif, webp, tif; searched recursively, sorted;
      all of one size; converted to RGB as pytorch-fid does),
    * an ``.npz`` with images in ``x`` (uint8 (N, H, W[, C]) in 0..255, or float in [0, 1]),
    * an ``.npz`` with precomputed statistics ``mu`` (D,) and ``sigma`` (D, D) (pytorch-fid's
      format, also what ``--save-stats`` writes).

The maths is :func:`tinygen.metrics.frechet_distance` on the statistics from
:func:`tinygen.metrics.compute_statistics_of`; the network is
:class:`tinygen.models.InceptionV3FID` or a domain classifier (:mod:`tinygen.metrics.domain`).
See docs/evaluation.md for what the number means and its pitfalls.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from tinygen import backend
from tinygen.metrics.fid import compute_statistics_of, frechet_distance, load_statistics, \
    save_statistics

__all__ = ["main", "load_path", "inception_feature_fn", "path_statistics"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm",
                    ".ppm")


class FIDInputError(ValueError):
    """A PATH argument that is not an image folder, an image .npz or a statistics .npz."""


def _image_files(folder):
    files = []
    for root, _, names in os.walk(folder):
        files += [os.path.join(root, n) for n in names if n.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(files)


def load_path(path):
    """("stats", (mu, sigma)) or ("images", uint8/float array (N, H, W[, C]))."""
    from tinygen.io.images import read_image
    if os.path.isdir(path):
        files = _image_files(path)
        if not files:
            raise FIDInputError(f"{path!r} is a folder without image files (looked for "
                                f"{', '.join(IMAGE_EXTENSIONS)}, recursively)")
        images = [read_image(f, mode="RGB") for f in files]
        sizes = sorted({im.shape for im in images})
        if len(sizes) > 1:
            raise FIDInputError(f"images in {path!r} have different sizes {sizes[:4]}; resize "
                                f"them to one size first (FID compares sets of equal-size images)")
        return "images", np.stack(images)                            # (N, H, W, 3) uint8
    if not os.path.isfile(path):
        raise FIDInputError(f"no file or folder at {path!r}")
    if not path.lower().endswith(".npz"):
        raise FIDInputError(f"{path!r}: expected an image folder or an .npz file (images in "
                            f"'x', or statistics 'mu' and 'sigma')")
    with np.load(path) as data:
        keys = set(data.files)
        if {"mu", "sigma"} <= keys:
            return "stats", load_statistics(path)
        if "x" in keys:
            return "images", data["x"]
    raise FIDInputError(f"{path!r} holds arrays {sorted(keys)}; expected images in 'x' "
                        f"(uint8 (N, H, W[, C]) or float in [0, 1]) or statistics 'mu', 'sigma'")


def _as_nchw_unit(images, channels):
    """(N, H, W[, C]) uint8 or float in [0, 1] -> float32 (N, channels, H, W) in [0, 1]."""
    from tinygen.metrics.domain import to_unit_nchw
    x = np.asarray(images)
    if np.issubdtype(x.dtype, np.floating) and x.size and (x.min() < -1e-6 or x.max() > 1 + 1e-6):
        raise FIDInputError(f"float images must lie in [0, 1], got [{x.min():.3g}, {x.max():.3g}];"
                            f" save generator outputs in [-1, 1] as (x + 1) / 2 or as uint8")
    return to_unit_nchw(x, value_range=(0.0, 1.0), channels=channels)


def inception_feature_fn(model, dims=2048, device="cpu"):
    """float32 (B, 3, H, W) in [0, 1] -> (B, dims) Inception features, as pytorch-fid computes:
    the output of block BLOCK_INDEX_BY_DIM[dims], global-average-pooled if it is not 1x1."""
    import tinygen
    from tinygen import functional as F
    from tinygen.models.inception_fid import BLOCK_INDEX_BY_DIM
    if dims not in BLOCK_INDEX_BY_DIM:
        raise ValueError(f"--dims must be one of {sorted(BLOCK_INDEX_BY_DIM)}, got {dims}")
    block = BLOCK_INDEX_BY_DIM[dims]
    model.to(device)

    def feature_fn(batch):
        with tinygen.no_grad():
            x = tinygen.tensor(np.ascontiguousarray(batch, np.float32), device=device)
            (out,) = model(x, output_blocks=(block,))                # (B, dims, h, w)
            if out.shape[2:] != (1, 1):
                out = F.adaptive_avg_pool2d(out, (1, 1))             # (B, dims, 1, 1)
            return out.cpu().numpy().reshape(out.shape[0], -1)            # (B, dims)
    return feature_fn


def path_statistics(path, extractor, batch_size=50):
    """(mu, sigma) of one PATH: read from a statistics file, or computed from its images."""
    kind, value = load_path(path)
    if kind == "stats":
        return value
    feature_fn, channels = extractor()
    images = _as_nchw_unit(value, channels)                          # (N, C, H, W) in [0, 1]
    return compute_statistics_of(images, feature_fn, batch_size=batch_size)


def _parser():
    parser = argparse.ArgumentParser(
        prog="tinygen fid",
        description="Frechet Inception Distance between two image sets (folders, .npz images "
                    "or .npz statistics), with pytorch-fid's network and numerics; or an offline "
                    "domain FID with --features domain:DATASET.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("path_a", metavar="PATH_A")
    parser.add_argument("path_b", metavar="PATH_B", nargs="?", default=None)
    parser.add_argument("--dims", type=int, default=None,
                        help="Inception feature size: 64, 192, 768 or 2048 (default 2048); for "
                             "domain features the classifier's size (default)")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--device", default=backend.get_default_device(),
                        help="cpu, cuda or cuda:N (default: $TINYGEN_DEVICE or cpu)")
    parser.add_argument("--save-stats", metavar="OUT.npz", default=None,
                        help="write the statistics of PATH_A to this file (with only PATH_A "
                             "given, that is all the command does)")
    parser.add_argument("--weights", metavar="PATH", default=None,
                        help="a local copy of pt_inception-2015-12-05-6726825d.pth (pytorch-fid's "
                             "protocol) or of the TorchScript inception-2015-12-05 .pt archive "
                             "(NVlabs' / clean-fid's protocol); detected from the file (default: "
                             "pytorch-fid's file in the tinygen / torch.hub caches)")
    parser.add_argument("--resize", choices=["bilinear", "pil-bicubic"], default=None,
                        help="how images are resized to 299x299: bilinear (pytorch-fid's) or "
                             "pil-bicubic (clean-fid's); default: the one of the weights' tool")
    parser.add_argument("--features", default="inception",
                        help="'inception' or 'domain:DATASET' (a LeNet trained offline on "
                             "DATASET, e.g. domain:digits; see docs/evaluation.md)")
    return parser


def main(argv=None) -> int:
    """Entry point of ``tinygen fid``; returns the process exit code."""
    from tinygen.metrics.domain import describe, load_domain_classifier, parse_features_spec
    parser = _parser()
    args = parser.parse_args(argv)
    if args.path_b is None and args.save_stats is None:
        parser.error("give two paths to compare, or one path and --save-stats OUT.npz")
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, got {args.batch_size}")
    try:
        kind, dataset = parse_features_spec(args.features)
    except ValueError as exc:
        parser.error(str(exc))
    if kind == "inception" and args.dims is None:
        args.dims = 2048

    cache = {}

    def extractor():
        """Build the network only when some PATH actually holds images."""
        if "fn" not in cache:
            if kind == "inception":
                from tinygen.models.inception_fid import InceptionV3FID
                model = InceptionV3FID.from_pretrained(path=args.weights, resize=args.resize)
                print(f"tinygen fid: {model.protocol}", file=sys.stderr)
                cache["fn"] = (inception_feature_fn(model, args.dims, args.device), 3)
            else:
                clf = load_domain_classifier(dataset, device=args.device, verbose=True)
                print(describe(clf))
                hidden = clf.reference_features.shape[1]
                if args.dims not in (None, hidden):
                    raise FIDInputError(f"--dims {args.dims} does not match the domain "
                                        f"classifier's feature size {hidden}; leave --dims out")
                cache["fn"] = (clf.feature_fn, clf.image_shape[0])
        return cache["fn"]

    try:
        if kind == "inception" and args.dims not in (64, 192, 768, 2048):
            raise FIDInputError(f"--dims must be one of 64, 192, 768, 2048, got {args.dims}")
        mu_a, sigma_a = path_statistics(args.path_a, extractor, args.batch_size)
        if args.save_stats:
            save_statistics(args.save_stats, mu_a, sigma_a)
            print(f"saved statistics of {args.path_a} ({mu_a.shape[0]}-d) to {args.save_stats}")
        if args.path_b is None:
            return 0
        mu_b, sigma_b = path_statistics(args.path_b, extractor, args.batch_size)
        if mu_a.shape != mu_b.shape:
            raise FIDInputError(f"the two statistics have different feature sizes "
                                f"({mu_a.shape[0]} and {mu_b.shape[0]}); compute both with the "
                                f"same --features and --dims")
        if kind == "inception" and mu_a.shape[0] != args.dims:
            print(f"note: the statistics are {mu_a.shape[0]}-d, not --dims {args.dims}",
                  file=sys.stderr)
        value = frechet_distance(mu_a, sigma_a, mu_b, sigma_b)
    except FileNotFoundError as exc:
        print(f"tinygen fid: {exc}", file=sys.stderr)
        return 1
    except (FIDInputError, ValueError, KeyError) as exc:
        print(f"tinygen fid: {exc}", file=sys.stderr)
        return 2
    label = "FID" if kind == "inception" else f"domain FID ({dataset})"
    print(f"{label}: {value}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
