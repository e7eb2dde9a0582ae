"""Full-reference image quality: PSNR and SSIM, plus the super-resolution Y-channel convention.

The definitions, defaults and data-range rules match scikit-image's
``skimage.metrics.peak_signal_noise_ratio`` and ``structural_similarity`` (written afresh here,
computed in float64), so numbers can be compared with papers that use it.

References:
    Wang, Bovik, Sheikh, Simoncelli, "Image Quality Assessment: From Error Visibility to
        Structural Similarity", IEEE TIP 13(4), 2004, Eq. (13) (SSIM) and Sec. III-C (11x11
        Gaussian window, sigma = 1.5, K1 = 0.01, K2 = 0.03).
    ITU-R Recommendation BT.601 (luma from R'G'B'), as used for super-resolution evaluation in
        Dong et al., "Image Super-Resolution Using Deep Convolutional Networks" (SRCNN),
        arXiv:1501.00092, and Ledig et al. (SRGAN), arXiv:1609.04802, Sec. 3.

Notation:
    x, y     images of the same shape;  L = data_range (max minus min possible value)
    MSE      = mean (x - y)^2
    PSNR     = 10 log10(L^2 / MSE)   [dB]; +inf for identical images
    In every window w:  mu_x, mu_y (means), s_x^2, s_y^2 (variances), s_xy (covariance)
    SSIM_w   = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2)),
               C1 = (K1 L)^2, C2 = (K2 L)^2;   SSIM = mean over windows fully inside the image.
"""
import warnings

import numpy as np
from scipy.ndimage import gaussian_filter, uniform_filter

__all__ = ["mse", "psnr", "ssim", "rgb_to_y", "psnr_y", "ssim_y"]


def _check_pair(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"images must have the same shape, got {a.shape} and {b.shape}")
    return a, b


def _dtype_limits(dtype):
    """(min, max) of the nominal intensity range of a dtype, as scikit-image's ``dtype_range``:
    the full integer range for integers, (0, 1) for bool, (-1, 1) for floats."""
    if dtype == np.bool_:
        return 0.0, 1.0
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return float(info.min), float(info.max)
    return -1.0, 1.0


def mse(a, b):
    """Mean squared error, computed in float64."""
    a, b = _check_pair(a, b)
    diff = a.astype(np.float64) - b.astype(np.float64)
    return float(np.mean(diff * diff))


def psnr(a, b, data_range=None):
    """Peak signal-to-noise ratio 10 log10(L^2 / MSE(a, b)) in dB (+inf when a == b).

    ``a`` is the reference image. Without ``data_range`` it is inferred like scikit-image:
    from the dtype's range, L = max for a reference with no negative values (255 for uint8, 1 for
    floats in [0, 1]) and L = max - min otherwise (2 for floats in [-1, 1]); a float reference
    outside [-1, 1] is an error. Pass ``data_range`` explicitly whenever you can.

    Shapes:
        a, b: any equal shapes. Returns a Python float.
    """
    a, b = _check_pair(a, b)
    if data_range is None:
        if a.dtype != b.dtype:
            warnings.warn(f"psnr: dtypes differ ({a.dtype} vs {b.dtype}); inferring data_range "
                          f"from the reference a", UserWarning, stacklevel=2)
        dmin, dmax = _dtype_limits(a.dtype)
        true_min, true_max = float(np.min(a)), float(np.max(a))
        if true_min < dmin or true_max > dmax:
            raise ValueError(f"psnr: reference values [{true_min:.3g}, {true_max:.3g}] lie "
                             f"outside the nominal range [{dmin}, {dmax}] of {a.dtype}; pass "
                             f"data_range explicitly (e.g. data_range=255.0)")
        data_range = dmax if true_min >= 0 else dmax - dmin
    error = mse(a, b)
    if error == 0:
        return float("inf")
    return float(10 * np.log10(float(data_range) ** 2 / error))


def _crop(image, pad):
    return image[tuple(slice(pad, dim - pad) for dim in image.shape)] if pad else image


def ssim(a, b, data_range=None, win_size=None, gaussian_weights=False, sigma=1.5, K1=0.01,
         K2=0.03, use_sample_covariance=True, channel_axis=None, full=False):
    """Mean structural similarity (Wang et al. 2004, Eq. 13) with scikit-image's conventions.

    Window statistics come from ``scipy.ndimage.uniform_filter`` (a win_size^ndim box) or, with
    ``gaussian_weights=True``, ``gaussian_filter(sigma, truncate=3.5)`` (11 taps for sigma=1.5).
    Variances/covariance are scaled by NP / (NP - 1), NP = win_size^ndim, when
    ``use_sample_covariance`` (the scikit-image default; Wang et al. use False). The SSIM map is
    cropped by (win_size - 1) // 2 on every side before averaging, so only windows lying fully
    inside the image count. To reproduce Wang et al. exactly: gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False and an explicit data_range.

    Shapes:
        a, b: (H, W) or any n-D grey image; with ``channel_axis`` one axis holds channels, each is
        scored separately and the channel SSIMs are averaged.

    Args:
        data_range: L; required for float images (a float image says nothing about its range),
            inferred from the integer dtype otherwise (255 for uint8).
        win_size: odd side of the window; default 7, or 2 * int(3.5 sigma + 0.5) + 1 (= 11)
            with Gaussian weights, as scikit-image.
        full: also return the (cropped) SSIM map.

    Returns:
        mean SSIM (Python float), and the SSIM map when ``full``.
    """
    a, b = _check_pair(a, b)
    truncate = 3.5
    if win_size is None:
        win_size = 2 * int(truncate * sigma + 0.5) + 1 if gaussian_weights else 7

    if channel_axis is not None:
        axis = channel_axis % a.ndim
        results = [ssim(np.take(a, c, axis=axis), np.take(b, c, axis=axis), data_range,
                        win_size, gaussian_weights, sigma, K1, K2, use_sample_covariance,
                        None, full)
                   for c in range(a.shape[axis])]
        if full:
            return (float(np.mean([r[0] for r in results])),
                    np.stack([r[1] for r in results], axis=axis))
        return float(np.mean(results))

    if K1 < 0 or K2 < 0 or sigma < 0:
        raise ValueError(f"K1, K2 and sigma must be non-negative, got {K1}, {K2}, {sigma}")
    if win_size % 2 != 1:
        raise ValueError(f"win_size must be odd, got {win_size}")
    if any(dim < win_size for dim in a.shape):
        raise ValueError(f"win_size={win_size} exceeds the image shape {a.shape}; pass a smaller "
                         f"odd win_size, or channel_axis if one axis holds colour channels")
    if data_range is None:
        if np.issubdtype(a.dtype, np.floating) or np.issubdtype(b.dtype, np.floating):
            raise ValueError("ssim: the images are floating point, so data_range cannot be "
                             "inferred; pass it, e.g. data_range=1.0 for images in [0, 1] or "
                             "2.0 for [-1, 1]")
        if a.dtype != b.dtype:
            warnings.warn(f"ssim: dtypes differ ({a.dtype} vs {b.dtype}); inferring data_range "
                          f"from a", UserWarning, stacklevel=2)
        dmin, dmax = _dtype_limits(a.dtype)
        data_range = dmax - dmin

    x = a.astype(np.float64)
    y = b.astype(np.float64)
    if gaussian_weights:
        def window_mean(image):
            # mode="nearest" as scikit-image's gaussian; the border it affects is cropped below.
            return gaussian_filter(image, sigma=sigma, truncate=truncate, mode="nearest")
    else:
        def window_mean(image):
            return uniform_filter(image, size=win_size)

    n_window = win_size ** x.ndim
    cov_norm = n_window / (n_window - 1) if use_sample_covariance else 1.0

    mu_x, mu_y = window_mean(x), window_mean(y)
    var_x = cov_norm * (window_mean(x * x) - mu_x * mu_x)
    var_y = cov_norm * (window_mean(y * y) - mu_y * mu_y)
    cov_xy = cov_norm * (window_mean(x * y) - mu_x * mu_y)

    c1 = (K1 * data_range) ** 2
    c2 = (K2 * data_range) ** 2
    numerator = (2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)
    denominator = (mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2)
    ssim_map = _crop(numerator / denominator, (win_size - 1) // 2)
    mean_ssim = float(ssim_map.mean())
    return (mean_ssim, ssim_map) if full else mean_ssim


# ----------------------------------------------------------------------------------------------
# super-resolution convention: luma only, border cropped
# ----------------------------------------------------------------------------------------------

BT601_Y = np.array([65.481, 128.553, 24.966])   # R, G, B weights for RGB in [0, 1]


def rgb_to_y(img, channel_axis=-1):
    """ITU-R BT.601 luma, the super-resolution convention (SRCNN, SRGAN, EDSR, BasicSR):

        Y = 16 + 65.481 R + 128.553 G + 24.966 B     for R, G, B in [0, 1],  Y in [16, 235],

    returned divided by 255, i.e. on the [0, 1] scale: Y / 255 in [16/255, 235/255]. Compare
    with data_range = 1. No rounding to 8 bits is applied.

    Shapes:
        img: (..., 3) by default (``channel_axis`` selects another axis, e.g. 1 for (N, 3, H, W)).
        uint8 input is divided by 255 first; float input must be RGB in [0, 1].
        Returns float64 with the channel axis removed.
    """
    img = np.asarray(img)
    axis = channel_axis % img.ndim
    if img.shape[axis] != 3:
        raise ValueError(f"rgb_to_y needs 3 colour channels on axis {channel_axis}, got shape "
                         f"{img.shape}; pass channel_axis for channel-first images")
    rgb = img.astype(np.float64) / 255.0 if img.dtype == np.uint8 else img.astype(np.float64)
    rgb = np.moveaxis(rgb, axis, -1)                       # (..., 3)
    return (16.0 + rgb @ BT601_Y) / 255.0


def _y_and_crop(a, b, scale, channel_axis):
    a, b = _check_pair(a, b)
    if a.shape[channel_axis] == 3:
        a, b = rgb_to_y(a, channel_axis), rgb_to_y(b, channel_axis)
    else:
        raise ValueError(f"psnr_y/ssim_y expect RGB images with 3 channels on axis "
                         f"{channel_axis}, got shape {a.shape}")
    if scale < 0:
        raise ValueError(f"scale (border to crop) must be >= 0, got {scale}")
    if scale:
        a, b = a[..., scale:-scale, scale:-scale], b[..., scale:-scale, scale:-scale]
    if a.shape[-1] == 0 or a.shape[-2] == 0:
        raise ValueError(f"cropping scale={scale} pixels leaves no image")
    return a.reshape((-1,) + a.shape[-2:]), b.reshape((-1,) + b.shape[-2:])   # (N, H, W)


def psnr_y(a, b, scale, channel_axis=-1):
    """PSNR on the BT.601 Y channel after cropping ``scale`` pixels from each border (the
    super-resolution benchmark convention; the upscaling factor is usually cropped).

    Shapes:
        a, b: (H, W, 3) or (N, H, W, 3) RGB (uint8 or float in [0, 1]); channel_axis for others.
        For a batch the per-image PSNRs are averaged. Returns a Python float (dB).
    """
    ys_a, ys_b = _y_and_crop(a, b, scale, channel_axis)
    return float(np.mean([psnr(ya, yb, data_range=1.0) for ya, yb in zip(ys_a, ys_b)]))


def ssim_y(a, b, scale, channel_axis=-1):
    """SSIM on the BT.601 Y channel after cropping ``scale`` border pixels, with the settings of
    Wang et al. used by super-resolution papers: 11x11 Gaussian window (sigma = 1.5), population
    covariance, data_range = 1 on the Y / 255 scale. Batch: per-image SSIMs averaged.
    """
    ys_a, ys_b = _y_and_crop(a, b, scale, channel_axis)
    return float(np.mean([ssim(ya, yb, data_range=1.0, gaussian_weights=True, sigma=1.5,
                               use_sample_covariance=False) for ya, yb in zip(ys_a, ys_b)]))
