"""Unpaired (CycleGAN) and domain-labelled (StarGAN) image sets: npz / folder layouts, the
built-in tasks made from the embedded digits, one-line errors on bad input."""
import numpy as np
import pytest
from PIL import Image

from tinygen.data import unpaired as U


def _imgs(n, shape=(8, 8), seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n,) + shape).astype(np.uint8)


def test_npz_unpaired_any_lengths(tmp_path):
    np.savez(tmp_path / "d.npz", a=_imgs(5), b=_imgs(3, (8, 8, 3)))
    d = U.load_unpaired(f"npz:{tmp_path / 'd.npz'}")
    assert d.a.shape == (5, 8, 8) and d.b.shape == (3, 8, 8, 3) and d.a.dtype == np.uint8
    assert U.load_unpaired(f"npz:{tmp_path / 'd.npz'}", n=2).a.shape == (2, 8, 8)


def test_npz_single_channel_last_axis_is_squeezed(tmp_path):
    np.savez(tmp_path / "d.npz", a=_imgs(2, (8, 8, 1)), b=_imgs(2))
    assert U.load_unpaired(f"npz:{tmp_path / 'd.npz'}").a.shape == (2, 8, 8)


@pytest.mark.parametrize("arrays, message", [
    (dict(a=_imgs(2)), "no array named 'b'"),
    (dict(a=_imgs(2).astype(np.float32), b=_imgs(2)), "must be uint8"),
    (dict(a=_imgs(2, (8, 8, 4)), b=_imgs(2)), "C 1 or 3"),
    (dict(a=_imgs(2), b=_imgs(2, (4, 4))), "one image size"),
    (dict(a=_imgs(0), b=_imgs(2)), "holds no images"),
])
def test_npz_unpaired_errors_name_the_problem(tmp_path, arrays, message):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(ValueError, match=message) as e:
        U.load_unpaired(f"npz:{tmp_path / 'd.npz'}")
    assert "\n" not in str(e.value)


def test_missing_file_and_unknown_name():
    with pytest.raises(FileNotFoundError, match="numpy.savez"):
        U.load_unpaired("npz:/no/such.npz")
    with pytest.raises(ValueError, match="trainA"):
        U.load_unpaired("horses")


def test_folder_in_cyclegans_layout(tmp_path):
    for part, n, colour in (("trainA", 3, False), ("trainB", 2, True), ("testA", 1, False)):
        (tmp_path / part).mkdir()
        for i in range(n):
            x = _imgs(1, (6, 6, 3) if colour else (6, 6), seed=i)[0]
            Image.fromarray(x).save(tmp_path / part / f"{i}.png")
    d = U.load_unpaired(f"folder:{tmp_path}")
    assert d.a.shape == (3, 6, 6) and d.b.shape == (2, 6, 6, 3)     # grey read back as grey
    assert U.has_test_split(f"folder:{tmp_path}")
    with pytest.raises(FileNotFoundError, match="testB"):
        U.load_unpaired(f"folder:{tmp_path}", "test")


def test_strokes_builtin_is_thin_to_thick_from_disjoint_digits():
    d = U.load_unpaired("strokes", n=6)
    assert d.a.shape == d.b.shape == (6, 32, 32) and len(d.a_labels) == 6
    ink_a, ink_b = (d.a > 127).mean(), (d.b > 127).mean()
    assert ink_b > 1.5 * ink_a                                       # dilated strokes
    # B is the dilation of other images than A's: no b is the dilation of an a
    assert not any(np.array_equal(U.thicken(d.a[i:i + 1])[0], d.b[i]) for i in range(6))


def test_thicken_is_grey_dilation():
    x = np.zeros((1, 5, 5), np.uint8)
    x[0, 2, 2] = 200
    y = U.thicken(x)
    assert (y[0, 1:4, 1:4] == 200).all() and y.sum() == 9 * 200


def test_style_domains_colour_and_width():
    grey = np.zeros((12, 28, 28), np.uint8)
    grey[:, 10:18, 13:15] = 255
    d = U.style_domains(grey, labels=np.arange(12), seed=0)
    assert d.x.shape == (12, 32, 32, 3) and d.num_domains == 6 and len(d.names) == 6
    for img, y in zip(d.x, d.y):
        channel = y // 2                                             # red, green, blue
        assert img[..., channel].sum() > 0 and img.sum() == img[..., channel].sum()
        width = (img[..., channel][16] > 127).sum()
        assert width == (4 if y % 2 else 2)                          # thick = dilated by 3x3


def test_domains_npz_k_from_the_data(tmp_path):
    np.savez(tmp_path / "d.npz", x=_imgs(6, (8, 8, 3)), y=np.array([0, 1, 2, 2, 1, 0]))
    d = U.load_domains(f"npz:{tmp_path / 'd.npz'}")
    assert d.num_domains == 3 and d.y.dtype == np.int64
    np.savez(tmp_path / "t.npz", x=_imgs(2, (8, 8, 3)))               # a test set: y optional
    assert U.load_domains(f"npz:{tmp_path / 't.npz'}", "test").x.shape == (2, 8, 8, 3)


@pytest.mark.parametrize("y, message", [
    (np.array([0, 0, 0]), "at least 2 domains"),
    (np.array([0, -1, 1]), "0..K-1"),
    (np.array([0.0, 1.0, 1.0]), "integer domain label"),
    (np.array([0, 1]), r"shape \(3,\)"),
])
def test_domains_errors(tmp_path, y, message):
    np.savez(tmp_path / "d.npz", x=_imgs(3), y=y)
    with pytest.raises(ValueError, match=message):
        U.load_domains(f"npz:{tmp_path / 'd.npz'}")


def test_domain_builtins():
    d = U.load_domains("digit-styles", n=12)
    assert d.x.shape == (12, 32, 32, 3) and d.num_domains == 6 and d.content.shape == (12,)
    s = U.load_domains("shape-colours", n=5)
    assert s.x.shape == (5, 32, 32, 3) and s.num_domains == 7
