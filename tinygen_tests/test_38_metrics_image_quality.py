"""PSNR / SSIM (tinygen.metrics.image_quality): analytic cases, a hand-computed SSIM, and a slow
reference that loops over every window explicitly."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinygen.metrics import psnr, ssim, rgb_to_y, psnr_y, ssim_y

FAST = settings(max_examples=20, deadline=None)


# ---- slow reference -----------------------------------------------------------------------

def reference_ssim(x, y, data_range, win_size=7, gaussian_weights=False, sigma=1.5,
                   use_sample_covariance=True, K1=0.01, K2=0.03):
    """SSIM by explicit loops over every window lying fully inside a 2-D image."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    r = win_size // 2
    if gaussian_weights:
        t = np.arange(-r, r + 1)
        g = np.exp(-t ** 2 / (2 * sigma ** 2))
        w = np.outer(g, g) / np.outer(g, g).sum()
    else:
        w = np.full((win_size, win_size), 1.0 / win_size ** 2)
    n_window = win_size ** 2
    cov_norm = n_window / (n_window - 1) if use_sample_covariance else 1.0
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    values = []
    for i in range(r, x.shape[0] - r):
        for j in range(r, x.shape[1] - r):
            px = x[i - r:i + r + 1, j - r:j + r + 1]
            py = y[i - r:i + r + 1, j - r:j + r + 1]
            mx, my = np.sum(w * px), np.sum(w * py)
            vx = cov_norm * np.sum(w * (px - mx) ** 2)
            vy = cov_norm * np.sum(w * (py - my) ** 2)
            vxy = cov_norm * np.sum(w * (px - mx) * (py - my))
            values.append((2 * mx * my + c1) * (2 * vxy + c2)
                          / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2)))
    return float(np.mean(values))


# ---- PSNR ---------------------------------------------------------------------------------

def test_psnr_identical_is_infinite():
    img = np.random.default_rng(0).random((8, 8))
    assert psnr(img, img, data_range=1.0) == math.inf


@pytest.mark.parametrize("offset", [0.01, 0.1, 0.25])
def test_psnr_constant_offset_is_analytic(offset):
    img = np.full((6, 7), 0.5)
    # MSE = offset^2  ->  PSNR = 10 log10(1 / offset^2) = -20 log10(offset)
    assert psnr(img, img + offset, data_range=1.0) == pytest.approx(-20 * math.log10(offset))


def test_psnr_data_range_inference():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 250, size=(5, 5), dtype=np.uint8)
    b = a + np.uint8(3)
    assert psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / 9))          # uint8 -> 255
    f = rng.random((5, 5))
    assert psnr(f, f + 0.1) == pytest.approx(20.0)                             # [0, 1] -> 1
    g = 2 * f - 1
    assert psnr(g, g + 0.1) == pytest.approx(10 * math.log10(4 / 0.01))        # [-1, 1] -> 2
    with pytest.raises(ValueError, match="pass data_range explicitly"):
        psnr(f * 10, f)
    with pytest.raises(ValueError, match="same shape"):
        psnr(f, f[:4])


# ---- SSIM ---------------------------------------------------------------------------------

def test_ssim_identical_is_one():
    img = np.random.default_rng(2).random((12, 13))
    assert ssim(img, img, data_range=1.0) == pytest.approx(1.0, abs=1e-12)
    assert ssim(img, img, data_range=1.0, gaussian_weights=True) == pytest.approx(1.0)


def test_ssim_hand_computed_single_window():
    # one 3x3 window: x = 0..8, y = 2x.  mu_x = 4, mu_y = 8; with N - 1 = 8:
    # s_x^2 = 60/8 = 7.5, s_y^2 = 30, s_xy = 15.
    x = np.arange(9.0).reshape(3, 3)
    y = 2 * x
    c1, c2 = 0.01 ** 2, 0.03 ** 2                                   # data_range = 1
    expected = (2 * 4 * 8 + c1) * (2 * 15 + c2) / ((4 ** 2 + 8 ** 2 + c1) * (7.5 + 30 + c2))
    assert ssim(x, y, data_range=1.0, win_size=3) == pytest.approx(expected, rel=1e-12)
    # population covariance: s_x^2 = 60/9, s_y^2 = 240/9, s_xy = 120/9
    expected_pop = ((2 * 4 * 8 + c1) * (2 * 120 / 9 + c2)
                    / ((80 + c1) * (300 / 9 + c2)))
    assert ssim(x, y, data_range=1.0, win_size=3, use_sample_covariance=False) == pytest.approx(
        expected_pop, rel=1e-12)


@FAST
@given(st.integers(7, 14), st.integers(7, 14), st.sampled_from([3, 5, 7]),
       st.booleans(), st.integers(0, 2**31 - 1))
def test_ssim_uniform_matches_window_loops(h, w, win_size, sample_cov, seed):
    rng = np.random.default_rng(seed)
    x = rng.random((h, w))
    y = np.clip(x + 0.2 * rng.normal(size=(h, w)), 0, 1)
    assert ssim(x, y, data_range=1.0, win_size=win_size, use_sample_covariance=sample_cov) == \
        pytest.approx(reference_ssim(x, y, 1.0, win_size, use_sample_covariance=sample_cov),
                      rel=1e-9)


@FAST
@given(st.integers(11, 15), st.integers(11, 15), st.integers(0, 2**31 - 1))
def test_ssim_gaussian_matches_window_loops(h, w, seed):
    rng = np.random.default_rng(seed)
    x = rng.random((h, w))
    y = np.clip(0.7 * x + 0.3 * rng.random((h, w)), 0, 1)
    # Wang et al. settings: 11x11 Gaussian (sigma 1.5, truncate 3.5), population covariance
    ours = ssim(x, y, data_range=1.0, gaussian_weights=True, use_sample_covariance=False)
    assert ours == pytest.approx(reference_ssim(x, y, 1.0, 11, gaussian_weights=True,
                                                use_sample_covariance=False), rel=1e-9)


def test_ssim_channels_dtype_and_errors():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, size=(10, 11, 3), dtype=np.uint8)
    b = rng.integers(0, 256, size=(10, 11, 3), dtype=np.uint8)
    per_channel = [ssim(a[..., c], b[..., c]) for c in range(3)]
    assert ssim(a, b, channel_axis=-1) == pytest.approx(np.mean(per_channel))
    # uint8 infers data_range = 255
    assert ssim(a[..., 0], b[..., 0]) == pytest.approx(
        ssim(a[..., 0].astype(float), b[..., 0].astype(float), data_range=255))
    mean, ssim_map = ssim(a, b, channel_axis=-1, full=True)
    assert ssim_map.shape == (4, 5, 3) and mean == pytest.approx(ssim_map.mean())
    with pytest.raises(ValueError, match="data_range cannot be inferred"):
        ssim(a[..., 0] / 255.0, b[..., 0] / 255.0)
    with pytest.raises(ValueError, match="must be odd"):
        ssim(a[..., 0], b[..., 0], win_size=4)
    with pytest.raises(ValueError, match="exceeds the image shape"):
        ssim(a[:5, :5, 0], b[:5, :5, 0])


# ---- super-resolution Y channel -----------------------------------------------------------

def test_rgb_to_y_range_and_layouts():
    black, white = np.zeros((1, 1, 3)), np.ones((1, 1, 3))
    assert rgb_to_y(black)[0, 0] == pytest.approx(16 / 255)
    assert rgb_to_y(white)[0, 0] == pytest.approx(235 / 255)
    rgb8 = np.random.default_rng(4).integers(0, 256, size=(2, 4, 5, 3), dtype=np.uint8)
    np.testing.assert_allclose(rgb_to_y(rgb8), rgb_to_y(rgb8 / 255.0))
    np.testing.assert_allclose(rgb_to_y(rgb8.transpose(0, 3, 1, 2), channel_axis=1),
                               rgb_to_y(rgb8))
    with pytest.raises(ValueError, match="3 colour channels"):
        rgb_to_y(np.zeros((4, 4, 2)))


def test_psnr_y_crops_border_and_is_analytic():
    rng = np.random.default_rng(5)
    a = rng.random((12, 12, 3)) * 0.5
    b = a.copy()
    b[:2] = 0.0                                       # damage only the 2-pixel border...
    assert psnr_y(a, b, scale=2) == math.inf          # ...which the SR convention crops
    assert psnr_y(a, b, scale=0) < 40
    # an RGB offset d moves Y by d * (65.481 + 128.553 + 24.966) / 255 = d * 219 / 255
    d = 0.1
    assert psnr_y(a, a + d, scale=2) == pytest.approx(-20 * math.log10(d * 219 / 255))


def test_ssim_y_is_wang_ssim_on_cropped_luma():
    rng = np.random.default_rng(6)
    a = rng.random((2, 18, 19, 3))
    b = np.clip(a + 0.05 * rng.normal(size=a.shape), 0, 1)
    ya, yb = rgb_to_y(a)[:, 3:-3, 3:-3], rgb_to_y(b)[:, 3:-3, 3:-3]
    expected = np.mean([reference_ssim(ya[i], yb[i], 1.0, 11, gaussian_weights=True,
                                       use_sample_covariance=False) for i in range(2)])
    assert ssim_y(a, b, scale=3) == pytest.approx(expected, rel=1e-9)
    assert ssim_y(a, a, scale=3) == pytest.approx(1.0)
