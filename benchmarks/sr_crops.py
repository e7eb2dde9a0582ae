"""Side-by-side crops of held-out photos: bicubic | run 1 | run 2 | ... | HR, each column
titled with its Y-PSNR on the whole photo (docs/super_resolution.md, SRGAN section).

    python benchmarks/sr_crops.py --runs RUN_SRRESNET,RUN_SRGAN --labels SRResNet,SRGAN \
        --out docs/img/sr_srgan_crops.png [--scale 4] [--crop chelsea.png:120,150]

A crop is ``NAME:Y,X`` (HR pixels, top-left) of a 64 / scale-LR-pixel square shown at HR
size, enlarged 2x with nearest neighbours so the texture is visible.
"""
from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

PHOTOS = "/work/shared/data/images"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", required=True, help="comma-separated SR run folders")
    p.add_argument("--labels", required=True, help="comma-separated column names")
    p.add_argument("--out", required=True)
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--size", type=int, default=96, help="crop side in HR pixels")
    p.add_argument("--crop", action="append", default=None,
                   help="NAME:Y,X of a held-out photo in --photos (repeatable)")
    p.add_argument("--photos", default=PHOTOS)
    a = p.parse_args(argv)
    import numpy as np
    from tinygen.data.superres import crop_to_multiple, degrade
    from tinygen.io import save_image
    from tinygen.io.plot import titled
    from tinygen.methods.srresnet import baselines, load_sr_model, upscale, _read_rgb
    from tinygen.metrics.image_quality import psnr_y
    crops = a.crop or ["chelsea.png:96,200", "camera.png:60,200"]
    models = [load_sr_model(r)[0] for r in a.runs.split(",")]
    labels = ["bicubic"] + a.labels.split(",") + ["HR"]
    rows = []
    for spec in crops:
        name, yx = spec.split(":")
        y, x = (int(v) for v in yx.split(","))
        hr = crop_to_multiple(_read_rgb(os.path.join(a.photos, name)), a.scale)
        lr = degrade(hr, a.scale)
        outs = [baselines(lr, a.scale)["bicubic"]] + [upscale(m, lr) for m in models] + [hr]
        cells = []
        for label, im in zip(labels, outs):
            c = np.repeat(np.repeat(im[y:y + a.size, x:x + a.size], 2, 0), 2, 1)
            u8 = np.round(np.clip(c, 0, 1) * 255).astype(np.uint8)
            note = "" if label == "HR" else f" {psnr_y(im, hr, a.scale):.2f} dB"
            cells.append(np.asarray(titled(u8, f"{label}{note}")))
            cells.append(np.full((cells[-1].shape[0], 4, 3), 255, np.uint8))
        rows.append(np.concatenate(cells[:-1], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    picture = titled(np.concatenate(rows, axis=0),
                     f"x{a.scale} on held-out photos: crops, Y-PSNR of the whole photo")
    save_image(np.asarray(picture), a.out)
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
