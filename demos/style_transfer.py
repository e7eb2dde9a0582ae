"""Neural style transfer (Gatys, Ecker & Bethge 2016, arXiv:1508.06576), offline.

    python demos/style_transfer.py                       # bundled images, fallback features
    python demos/style_transfer.py CONTENT STYLE --size 256 --steps 300
    (the same as `tinygen style ...`, the short form of `tinygen run style --content CONTENT
    --style STYLE ...`; `tinygen run style --help` lists every option and its source)

Without VGG19's weights (vgg19-dcbb9e9d.pth, 548 MB) it runs on random multi-scale
features (Ustyuzhaninov et al. 2016, arXiv:1606.00021) and prints how to get the
weights: `tinygen weights download vgg19-dcbb9e9d.pth`.

Writes result.png, comparison.png (content | style | result), step_XXXX.png,
progress.gif, config.json and metrics.jsonl into the output folder (--out, default
runs/style-<time>).
See docs/style_transfer.md for the derivation of the Gram matrix as a style statistic.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tinygen import cli  # noqa: E402

if __name__ == "__main__":
    sys.exit(cli.main(["style", *sys.argv[1:]]))
