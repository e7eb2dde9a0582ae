"""Image grids (torchvision semantics), image loading, progress line (plots and GIFs:
test_27_io_plot.py)."""
import io

import numpy as np
import pytest
from PIL import Image

from tinygen.io import Progress, load_image, make_grid, save_image_grid


def test_make_grid_layout_and_values():
    x = np.zeros((5, 1, 2, 3), np.float32)
    x[1] = 1.0
    g = make_grid(x, nrow=3, padding=1, pad_value=0.5)
    # 2 rows x 3 columns, cells of (2+1) x (3+1) plus the outer padding
    assert g.shape == (2 * 3 + 1, 3 * 4 + 1, 3) and g.dtype == np.uint8
    assert (g[1:3, 5:8] == 255).all()            # image 1: row 0, column 1
    assert (g[1:3, 1:4] == 0).all()              # image 0
    assert g[0, 0, 0] == 128                     # pad 0.5 -> int(0.5 * 255 + 0.5)
    assert (g[4:6, 9:12] == 128).all()           # the empty 6th cell stays padding


def test_make_grid_normalize_and_layouts():
    x = np.linspace(-1, 1, 2 * 3 * 2 * 2).reshape(2, 3, 2, 2)
    g = make_grid(x, normalize=True, value_range=(-1, 1), padding=0)
    assert g.min() == 0 and g.max() == 255
    assert np.array_equal(make_grid(x, normalize=True, padding=0), g)      # min/max = the range
    clipped = make_grid(np.full((1, 1, 1, 1), 3.0), normalize=True, value_range=(0, 1), padding=0)
    assert clipped.item(0) == 255
    u = np.full((2, 4, 4, 3), 200, np.uint8)                               # channels-last uint8
    assert make_grid(u, padding=0).shape == (4, 8, 3) and make_grid(u, padding=0).max() == 200
    assert make_grid(np.zeros((3, 5, 5)), padding=0).shape == (5, 15, 3)   # (N, H, W)

    class FakeTensor:
        def numpy(self):
            return np.ones((1, 1, 2, 2), np.float32)
    assert make_grid(FakeTensor(), padding=0).min() == 255
    with pytest.raises(ValueError, match="channels"):
        make_grid(np.zeros((2, 5, 4, 4)))


def test_save_grid_and_load_image(tmp_path):
    x = np.random.default_rng(0).random((4, 3, 8, 8)).astype(np.float32)
    path = tmp_path / "sub" / "grid.png"
    grid = save_image_grid(x, str(path), nrow=2)
    assert np.array_equal(np.asarray(Image.open(path)), grid)
    assert [p.name for p in path.parent.iterdir()] == ["grid.png"]         # no temp files left
    loaded = load_image(str(path))
    assert loaded.dtype == np.float32 and loaded.shape == grid.shape
    np.testing.assert_allclose(loaded, grid / 255.0)
    assert load_image(str(path), size=(5, 7), mode="L").shape == (5, 7, 1)
    with pytest.raises(FileNotFoundError):
        load_image(str(tmp_path / "absent.png"))
    (tmp_path / "bad.png").write_bytes(path.read_bytes()[:40])
    with pytest.raises(ValueError, match="cannot decode"):
        load_image(str(tmp_path / "bad.png"))


def test_progress_tty_and_log_modes():
    t = [0.0]
    out = io.StringIO()
    p = Progress(total=100, desc="gan", stream=out, tty=False, log_every_s=10, clock=lambda: t[0])
    for step in range(1, 101):
        t[0] = step * 0.5
        p.update(step, loss_d=0.25)
    p.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[0].startswith("gan 1/100") and lines[-1].startswith("gan 100/100 100%")
    assert 5 <= len(lines) <= 8 and "2.0 it/s" in lines[-1] and "loss_d 0.2500" in lines[-1]
    tty = io.StringIO()
    p = Progress(total=10, stream=tty, tty=True, refresh_s=0, clock=lambda: t[0])
    for step in range(1, 11):
        t[0] += 1
        p.update(step)
    p.close()
    assert tty.getvalue().count("\r") == 10 and tty.getvalue().endswith("\n")
