"""Bicubic resampling by hand (tinygen.ops.bicubic), the SR degradation, PixelShuffle for SR.

Oracles: Keys' kernel properties (hypothesis), Pillow's BICUBIC / LANCZOS on constructed
images (float 'F' mode: the same rule to float32 rounding; 8-bit mode: within its fixed-point
rounding), PyTorch's F.interpolate(mode='bicubic') with and without antialias (optional).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import tinygen as tg
from tinygen.data.superres import SRPairs, crop_to_multiple, degrade, dihedral
from tinygen.ops import bicubic as B
from tinygen.ops import resample as R
from tinygen_tests.conftest import assert_allclose, assert_array_equal, check_grads, t64

FAST = settings(max_examples=25, deadline=None)


def _img(h, w, seed=0):
    return np.random.default_rng(seed).random((h, w))


def _pil(x, out, filt):
    """Pillow's resize of a float image to out = (H', W'), in float32 'F' mode."""
    return np.asarray(Image.fromarray(x.astype(np.float32), "F").resize((out[1], out[0]), filt),
                      dtype=np.float64)


# ----------------------------------------------------------------------------
# the kernel
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("a", [-0.5, -0.75])
def test_keys_kernel_values(a):
    """W(0) = 1, W(+-1) = W(+-2) = 0 (interpolating), continuous slope at 1, zero beyond 2."""
    assert B.cubic(0.0, a) == 1.0
    np.testing.assert_allclose(B.cubic([1.0, -1.0, 2.0, -2.0, 2.5], a), 0.0, atol=1e-15)
    eps = 1e-7
    left = (B.cubic(1.0, a) - B.cubic(1.0 - eps, a)) / eps
    right = (B.cubic(1.0 + eps, a) - B.cubic(1.0, a)) / eps
    np.testing.assert_allclose(left, right, atol=1e-5)          # C1 at |x| = 1 (Keys' condition)
    np.testing.assert_allclose(left, a, atol=1e-5)              # W'(1) = a


@FAST
@given(t=st.floats(0.0, 1.0), a=st.sampled_from([-0.5, -0.75, -1.0, -0.25]))
def test_keys_partition_of_unity_and_linear_exactness(t, a):
    """For every a: sum_j W(t - j) = 1 (taps j = -1..2), so constants are reproduced. Only
    a = -0.5 gives sum_j j W(t - j) = t (linear ramps exact) and sum_j j^2 W(t - j) = t^2:
    Keys' third-order choice. a = -0.75 (PyTorch, OpenCV) bends ramps by
    -(2a + 1) t (1 - t)(1 - 2t) (checked here), which is why SR protocols use MATLAB's -0.5."""
    j = np.arange(-1, 3)
    w = B.cubic(t - j, a)
    assert abs(w.sum() - 1.0) < 1e-12
    first = (w * j).sum()
    assert abs(first - (t - (2 * a + 1) * t * (1 - t) * (1 - 2 * t))) < 1e-12
    if a == -0.5:
        assert abs(first - t) < 1e-12
        assert abs((w * j * j).sum() - t * t) < 1e-12


@FAST
@given(n_in=st.integers(1, 40), n_out=st.integers(1, 40),
       border=st.sampled_from(B.BORDERS), antialias=st.booleans(),
       kernel=st.sampled_from(list(B.KERNELS)))
def test_matrix_rows_sum_to_one(n_in, n_out, border, antialias, kernel):
    M = B.resize_matrix(n_in, n_out, -0.5, antialias, border, kernel=kernel)
    assert M.shape == (n_out, n_in)
    np.testing.assert_allclose(M.sum(1), 1.0, atol=1e-12)


@FAST
@given(n_in=st.integers(8, 40), scale=st.sampled_from([2, 3, 4, 1.5, 0.5, 0.25]),
       slope=st.floats(-3, 3), offset=st.floats(-2, 2))
def test_exact_on_linear_ramps(n_in, scale, slope, offset):
    """a = -0.5: a linear ramp x_j = slope j + offset resamples to slope u_i + offset wherever
    every tap is inside the image (the borders clamp or mirror, so they bend the ramp). When
    shrinking by 1/2 or 1/4 the stretched taps sit symmetrically around u_i, so this holds
    there too (not for a factor like 0.75, where the taps are lopsided)."""
    a = -0.5
    x = slope * np.arange(n_in) + offset
    n_out = B.output_size(n_in, scale)
    M = B.resize_matrix(n_in, n_out, a, True, "replicate", scale=scale)
    u = (np.arange(n_out) + 0.5) / scale - 0.5
    reach = 2.0 / min(scale, 1.0)
    inside = (u - reach > -1) & (u + reach < n_in)
    np.testing.assert_allclose((M @ x)[inside], (slope * u + offset)[inside], atol=1e-9)


def test_identity_at_scale_one_and_upsampling_interpolates():
    x = _img(9, 7)
    np.testing.assert_allclose(B.imresize(x, 1.0), x, atol=1e-14)
    # x3 with odd factor: output pixel 3i + 1 sits on input pixel i (u = i): exact copy
    y = B.imresize(x, 3)
    np.testing.assert_allclose(y[1::3, 1::3], x, atol=1e-14)


# ----------------------------------------------------------------------------
# against Pillow
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("out", [(74, 58), (111, 87), (12, 9), (9, 7), (20, 50), (37, 29)])
@pytest.mark.parametrize("filt, kernel", [(Image.BICUBIC, "cubic"), (Image.LANCZOS, "lanczos3")])
def test_matches_pillow_float_mode(out, filt, kernel):
    """Pillow = a = -0.5, antialiased when shrinking, taps outside the image dropped and the rest
    renormalised ('renormalize'): equal to float32 rounding, up and down, on a random image."""
    x = _img(37, 29)
    mine = B.imresize(x, size=out, method="pillow", kernel=kernel)
    np.testing.assert_allclose(mine, _pil(x, out, filt), atol=2e-6)


def test_pillow_and_matlab_differ_only_at_the_border():
    """MATLAB mirrors the image at its border, Pillow renormalises the kernel: the interior
    (further than the kernel's reach from the border) is identical, the border rows are not."""
    x = _img(40, 40, seed=3)
    for scale in (4, 0.25, 2, 0.5):
        m = B.imresize(x, scale, method="matlab")
        p = B.imresize(x, scale, method="pillow")
        b = int(np.ceil(2 * max(1, scale) / min(1, scale))) + 1        # border width in output px
        np.testing.assert_allclose(m[b:-b, b:-b], p[b:-b, b:-b], atol=1e-12)
        assert np.abs(m - p).max() > 1e-3


def test_pillow_8_bit_within_its_rounding():
    """On uint8 images Pillow resizes horizontally first and stores that pass as uint8 (rounded
    and *clipped*: the cubic's overshoot at a 0/255 edge is cut before the vertical pass), with
    weights in 22-bit fixed point. Doing the same two passes in float, each rounded and clipped,
    is within 1 grey level; the one-pass float result differs by up to ~20 levels next to hard
    edges (constructed image: a smooth gradient, a flat square and a 0/255 checkerboard)."""
    yy, xx = np.mgrid[0:48, 0:64]
    img = (yy * 2 + xx * 3) % 256
    img[10:30, 20:40] = 250
    img[32:40, 0:16] = 255 * ((yy[32:40, 0:16] + xx[32:40, 0:16]) % 2)
    img = img.astype(np.uint8)
    for out in [(96, 128), (12, 16), (24, 32), (36, 20)]:
        pil = np.asarray(Image.fromarray(img).resize((out[1], out[0]), Image.BICUBIC), np.int64)
        rows = np.clip(np.round(B.imresize(img, size=(48, out[1]), method="pillow")), 0, 255)
        mine = np.clip(np.round(B.imresize(rows, size=out, method="pillow")), 0, 255)
        assert np.abs(mine - pil).max() <= 1, out


# ----------------------------------------------------------------------------
# the Tensor op: gradients and PyTorch
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [dict(scale=2), dict(scale=0.5), dict(size=(3, 5), method="torch"),
                                dict(scale=4, method="pillow", kernel="lanczos3")])
def test_resize_gradcheck_first_and_second_order(kw):
    x = t64(np.random.default_rng(0).standard_normal((2, 2, 4, 5)))
    check_grads(lambda x: B.resize(x, **kw) ** 2, x)      # squared: a non-constant 2nd order


@pytest.mark.parametrize("kwargs", [dict(size=(9, 13)), dict(size=(3, 2)), dict(scale_factor=2),
                                    dict(scale_factor=0.5), dict(scale_factor=3, align_corners=True),
                                    dict(size=(4, 3), antialias=True),
                                    dict(size=(14, 3), antialias=True)])
def test_interpolate_bicubic_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(1).standard_normal((2, 3, 7, 6))
    g = np.random.default_rng(2)
    x = t64(a)
    y = R.interpolate(x, mode="bicubic", **kwargs)
    xt = torch.tensor(a, requires_grad=True)
    yt = torch.nn.functional.interpolate(xt, mode="bicubic", **{"align_corners": False, **kwargs})
    assert_allclose(y.data, yt.detach().numpy(), atol=1e-12)
    cot = g.standard_normal(y.shape)                                     # random upstream grad
    (gx,) = tg.grad([y], [x], [t64(cot, requires_grad=False)])
    (gxt,) = torch.autograd.grad(yt, xt, torch.tensor(cot))
    assert_allclose(gx.data, gxt.numpy(), atol=1e-12)


def test_pixel_shuffle_gradchecks_and_torch_oracle():
    """PixelShuffle (Shi et al. 2016) at the SR factors 2, 3 and 4: first and second order, and
    PyTorch's values and input gradients under a random cotangent."""
    rng = np.random.default_rng(4)
    for r in (2, 3):
        x = t64(rng.standard_normal((1, 2 * r * r, 2, 3)))
        check_grads(lambda x: R.pixel_shuffle(x, r) ** 2, x)
    torch = pytest.importorskip("torch")
    a = rng.standard_normal((2, 3 * 16, 3, 2))
    x, xt = t64(a), torch.tensor(a, requires_grad=True)
    y, yt = R.pixel_shuffle(x, 4), torch.nn.functional.pixel_shuffle(xt, 4)
    assert_array_equal(y.data, yt.detach().numpy())
    cot = rng.standard_normal(y.shape)
    (gx,) = tg.grad([y], [x], [t64(cot, requires_grad=False)])
    assert_array_equal(gx.data, torch.autograd.grad(yt, xt, torch.tensor(cot))[0].numpy())


# ----------------------------------------------------------------------------
# degradation and augmentation
# ----------------------------------------------------------------------------

def test_degrade_is_bicubic_x4_of_a_crop_and_quantized():
    hr = np.random.default_rng(0).random((33, 41, 3)).astype(np.float32)
    hr = crop_to_multiple(hr, 4)
    assert hr.shape == (32, 40, 3)
    lr = degrade(hr, 4)
    assert lr.shape == (8, 10, 3) and lr.dtype == np.float32
    np.testing.assert_allclose(lr * 255, np.round(lr * 255), atol=1e-4)       # 8-bit levels
    ref = np.clip(B.imresize(hr, 0.25, method="matlab"), 0, 1)
    assert np.abs(lr - ref).max() <= 0.5 / 255 + 1e-6
    with pytest.raises(ValueError, match="multiple"):
        degrade(np.zeros((10, 10, 3)), 4)
    # a constant image stays constant, a ramp stays a ramp in the interior
    np.testing.assert_allclose(degrade(np.full((16, 16, 3), 0.6), 2, quantize=False), 0.6, atol=1e-6)


def test_dihedral_group_and_aligned_patches():
    x = np.arange(12.0).reshape(1, 3, 4)
    seen = {dihedral(x, k).tobytes() + bytes(dihedral(x, k).shape) for k in range(8)}
    assert len(seen) == 8                                                    # 8 distinct symmetries
    rng = np.random.default_rng(0)
    hr = [rng.random((40, 48, 3)).astype(np.float32), rng.random((32, 36, 3)).astype(np.float32)]
    pairs = SRPairs(hr, 4)
    lr_p, hr_p = pairs.patches(6, 7, np.random.default_rng(1))
    assert lr_p.shape == (6, 3, 7, 7) and hr_p.shape == (6, 3, 28, 28)
    # aligned: the degraded HR patch equals the LR patch in every orientation, 2 LR pixels
    # (the x4 antialiased kernel's reach) away from the patch border
    for lo, hi in zip(lr_p, hr_p):
        d = degrade(hi.transpose(1, 2, 0), 4).transpose(2, 0, 1)
        assert np.abs(d[:, 2:-2, 2:-2] - lo[:, 2:-2, 2:-2]).max() <= 1.5 / 255
    with pytest.raises(ValueError, match="patch"):
        pairs.patches(1, 20, rng)
