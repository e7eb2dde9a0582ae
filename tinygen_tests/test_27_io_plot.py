"""tinygen.io.plot, the one plotting module: the 2-D canvas, curves, panels and GIFs."""
import numpy as np
import pytest
from PIL import Image

from tinygen import io as tio
from tinygen.io.plot import (REAL, Canvas, line_plot, nice_ticks, save_gif, scatter_frame,
                             side_by_side)


def test_canvas_draws_in_data_coordinates():
    c = Canvas(xlim=(0, 10), ylim=(0, 10), size=101)
    np.testing.assert_allclose(c.to_pixels([[0, 0], [10, 10], [5, 5]]), [[0, 100], [100, 0], [50, 50]])
    assert c.to_pixels(np.zeros((4, 3, 2))).shape == (4, 3, 2)
    c.scatter([[5, 5]], color=(255, 0, 0), radius=2)
    a = c.to_array()
    assert tuple(a[50, 50]) == (255, 0, 0) and tuple(a[10, 10]) == (255, 255, 255)
    square = Canvas.around(np.array([[0.0, -1.0], [4.0, 1.0]]), size=50, margin=0.5)
    np.testing.assert_allclose(square.xlim, (-1, 5), atol=1e-5)     # 4 wide, + 50 %
    np.testing.assert_allclose(square.ylim, (-3, 3), atol=1e-5)     # square, same centre
    assert square.blank().xlim == square.xlim and square.blank().width == 50


def test_heatmap_of_grid_values_has_row_zero_at_the_bottom():
    # f(x, y) = y on the canvas's own grid: high values (red) at the top, low (blue) below,
    # whatever the orientation convention, as long as grid() and heatmap() agree.
    c = Canvas(xlim=(-1, 1), ylim=(-1, 1), size=40)
    pts = c.grid(8)
    assert pts.shape == (64, 2) and np.allclose(pts[0], [-0.875, -0.875])
    hm = c.heatmap(pts[:, 1].reshape(8, 8)).to_array()
    assert hm[2, 20, 0] > hm[2, 20, 2] and hm[-3, 20, 2] > hm[-3, 20, 0]   # top red, bottom blue
    stops = ((0, 0, 0), (128, 128, 128), (255, 255, 255))
    grey = Canvas(size=10).heatmap(np.full((2, 2), 0.5), vmin=0, vmax=1, stops=stops).to_array()
    assert tuple(grey[5, 5]) == (128, 128, 128)
    with pytest.raises(ValueError, match="2-D"):
        c.heatmap(np.zeros(4))


def test_polyline_arrows_title_legend_and_scatter_frame():
    c = Canvas(xlim=(0, 10), ylim=(0, 10), size=101)
    c.polyline([[0, 5], [10, 5]], color=(0, 0, 255))
    c.arrows([[5, 0]], [[0, 1]], scale=2.0, color=(255, 0, 0))      # from (5, 0) to (5, 2)
    a = c.to_array()
    assert tuple(a[50, 30]) == (0, 0, 255) and tuple(a[95, 50]) == (255, 0, 0)
    c.arrows([[1, 1]], [[np.nan, 0]]).polyline([[0, 0], [np.inf, 1]])   # non-finite: skipped
    c.title("step 1", "", "modes 8/8").legend([("real", REAL)], corner="bottom-right")
    a = c.to_array()
    assert (a[:36] != 255).any() and tuple(a[0, 100]) == (255, 255, 255)
    with pytest.raises(ValueError, match="corner"):
        c.legend([("real", REAL)], corner="middle")
    # "best": the corner hiding the fewest dots -- here all are top-right, top-left and
    # bottom-right, so the legend goes bottom-left.
    busy = Canvas(xlim=(0, 10), ylim=(0, 10), size=100).title("t")
    busy.scatter([[8.5, 7.0], [1.5, 7.0], [8.5, 1.0]], color=(255, 0, 0))
    a = busy.legend([("real", (0, 0, 255))]).to_array()
    assert (a[60:, :50] == (0, 0, 255)).all(-1).any() and not (a[:, 50:] == (0, 0, 255)).all(-1).any()
    f = scatter_frame(np.zeros((3, 2)), np.ones((3, 2)), "step 1", size=120)
    assert f.shape == (120, 120, 3) and f.dtype == np.uint8
    again = scatter_frame(np.zeros((3, 2)), np.ones((3, 2)), canvas=Canvas(size=120))
    assert again.shape == (120, 120, 3)


def test_nice_ticks_are_round_and_cover_the_range():
    np.testing.assert_allclose(nice_ticks(0, 1), [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(nice_ticks(0, 200), [0, 50, 100, 150, 200])
    t = nice_ticks(0.695, 1.78)
    assert t[0] <= 0.695 and t[-1] >= 1.78 and np.allclose(np.diff(t), 0.5)
    with pytest.raises(ValueError, match="lo < hi"):
        nice_ticks(1, 1)


def test_line_plot_and_side_by_side():
    im = line_plot({"loss_d": [1, 0.5, 0.3], "modes": [0, np.nan, 8]}, steps=[0, 10, 20], title="t",
                   xlabel="step")
    assert im.size == (480, 320) and len(np.unique(np.asarray(im).reshape(-1, 3), axis=0)) > 3
    def red_below_legend(**kw):    # the legend row (a red square) is the top 22 pixels
        a = np.asarray(line_plot({"a": [0.2, 0.4, 0.6]}, size=(200, 150), ylim=(0, 1),
                                 colors=[(255, 0, 0)], **kw))
        return ((a[24:] == (255, 0, 0)).all(-1)).sum()
    assert red_below_legend() > 150                          # a 2-pixel line across the plot
    assert 0 < red_below_legend(dots=True) < 80              # 3 dots and no line
    assert line_plot({"l": [1e-3, 1e-1, 10]}, logy=True).size == (480, 320)
    row = side_by_side([im, np.zeros((100, 50, 3), np.uint8)], gap=4)
    assert row.size == (480 + 4 + 50, 320) and row.getpixel((500, 200)) == (255, 255, 255)


def test_save_gif_frames_first_atomic_and_last_frame_held(tmp_path):
    grid = np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    path = tmp_path / "sub" / "a.gif"
    assert save_gif([grid, 255 - grid, grid / 255.0], str(path), duration_ms=50,
                    hold_last_ms=700) == str(path)
    assert [p.name for p in path.parent.iterdir()] == ["a.gif"]        # no temporary left
    with Image.open(path) as im:
        assert im.n_frames == 3 and im.info["duration"] == 50 and im.info.get("loop") == 0
        im.seek(2)
        assert im.info["duration"] == 700
    assert tio.save_gif is save_gif                                     # one save_gif
    with pytest.raises(ValueError, match="one size"):
        save_gif([grid, grid[:4]], str(tmp_path / "b.gif"))
    with pytest.raises(ValueError, match="at least one"):
        save_gif([], str(tmp_path / "c.gif"))


def test_titled_puts_the_title_above_an_unchanged_picture():
    from tinygen.io.plot import titled
    picture = np.random.default_rng(0).integers(0, 256, (20, 300, 3), dtype=np.uint8)
    out = np.asarray(titled(picture, "a title", "how to read it"))
    band = out.shape[0] - 20
    assert out.shape[1] == 300 and 16 <= band <= 50
    np.testing.assert_array_equal(out[band:], picture)              # the picture, intact
    assert (out[:band] < 128).any() and (out[:band] == 255).mean() > 0.5   # dark text on white
    narrow = np.asarray(titled(np.zeros((8, 8, 3), np.uint8), "a title wider than the picture"))
    assert narrow.shape[1] > 8                                      # the band fits the text
    assert (narrow[-8:, (narrow.shape[1] - 8) // 2:][:, :8] == 0).all()  # centred below it
