"""What ConvNets learn: exact receptive fields (against brute force), top-9 patches,
activation maximisation, and the demo's classifier.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
from tinygen import nn
from tinygen.methods import visualize as Vz
from tinygen.models import vgg as V


# ----- receptive fields ----------------------------------------------------------------

@st.composite
def conv_chains(draw):
    """Random chains of convs and pools (kernel, stride, padding, dilation all varied)."""
    layers = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "conv", "max", "avg"]))
        k = draw(st.integers(1, 4))
        s = draw(st.integers(1, 2))
        if kind == "conv":
            d = draw(st.integers(1, 2))
            p = draw(st.integers(0, (d * (k - 1)) // 2 + 1))
            conv = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)
            # positive weights: a brighter pixel never cancels out, so "changes the
            # output" is exactly "lies in the receptive field"
            conv.load_state_dict({"weight": np.full((1, 1, k, k), 0.5), "bias": np.zeros(1)})
            layers += [conv, nn.ReLU()]
        else:
            k = max(k, 2)
            p = draw(st.integers(0, k // 2))
            layers.append(nn.MaxPool2d(k, s, p) if kind == "max" else nn.AvgPool2d(k, s, p))
    return layers


def _brute_force_field(layers, size, u, v):
    """Which input pixels change output unit (u, v)? One image per pixel, in one batch."""
    base = np.full((1, 1, size, size), 1.0)
    batch = np.repeat(base, size * size, 0)
    batch[np.arange(size * size), 0, np.arange(size * size) // size, np.arange(size * size) % size] += 1e3
    seq = nn.Sequential(*layers).double()
    with tg.no_grad():
        y0 = seq(tg.tensor(base)).cpu().numpy()[0, 0, u, v]
        y = seq(tg.tensor(batch)).cpu().numpy()[:, 0, u, v]
    changed = np.abs(y - y0) > 1e-9 * max(1.0, abs(y0))
    return {(i // size, i % size) for i in np.nonzero(changed)[0]}


@settings(max_examples=40, deadline=None)
@given(layers=conv_chains(), data=st.data())
def test_receptive_field_matches_brute_force(layers, data):
    size = 20
    seq = nn.Sequential(*layers).double()
    try:
        out = seq(tg.zeros(1, 1, size, size, dtype=tg.float64))
    except ValueError:             # the chain shrank the image to nothing
        return
    h, w = out.shape[2:]
    if h == 0 or w == 0:
        return
    u = data.draw(st.integers(0, h - 1))
    v = data.draw(st.integers(0, w - 1))
    field = Vz.receptive_field(layers)
    top, left, bottom, right = field.box(u, v)
    found = _brute_force_field(layers, size, u, v)
    inside = {(i, j) for i in range(max(top, 0), min(bottom, size - 1) + 1)
              for j in range(max(left, 0), min(right, size - 1) + 1)}
    assert found <= inside, f"pixels outside the computed box {field.box(u, v)}"
    # Padding *inside* the chain is constant, not computed from pixels: a unit that reads
    # it sees less than its box. Without such padding the box is exact.
    spatial = [m for m in layers if not isinstance(m, nn.ReLU)]
    inner_padding = any(tuple(np.atleast_1d(m.padding)) != (0,) * len(np.atleast_1d(m.padding))
                        for m in spatial[1:])
    if inner_padding:
        return
    dilated = any(getattr(m, "dilation", (1, 1)) not in ((1, 1), 1) for m in layers)
    # a kernel smaller than its stride skips pixels: holes in the field, as dilation makes
    skipping = any(np.min(np.atleast_1d(m.kernel_size)) < np.max(np.atleast_1d(m.stride))
                   for m in spatial)
    if not (dilated or skipping):
        assert found == inside          # without dilation the field is the full box
    else:                               # with holes: the box is still tight at its edges
        for corner in ((top, left), (bottom, right)):
            if corner in inside:
                assert corner in found


def test_receptive_fields_of_vgg19_known_values():
    layers = list(V.VGG19().features)
    names = V.vgg_layer_names()
    rf = {n: Vz.receptive_field(layers, names.index(n)) for n in
          ("relu1_1", "pool1", "relu2_1", "relu3_1", "relu4_2", "relu5_1", "relu5_4", "pool5")}
    # hand computation: r_l = r_{l-1} + 2 J_{l-1} per 3x3 conv, +1*J per 2x2 pool
    assert rf["relu1_1"].size == (3, 3) and rf["pool1"].size == (6, 6)
    assert rf["relu2_1"].size == (10, 10) and rf["relu2_1"].jump == (2, 2)
    assert rf["relu3_1"].size == (24, 24)
    assert rf["relu4_2"].size == (84, 84)        # 52 after pool3, +2*8 twice
    assert rf["relu5_1"].size == (156, 156)
    assert rf["relu5_4"].size == (252, 252) and rf["pool5"].size == (268, 268)
    assert rf["pool5"].jump == (32, 32)
    assert rf["relu1_1"].start == (-1, -1)


def test_receptive_field_rejects_layers_without_geometry():
    with pytest.raises(ValueError, match="Flatten has no fixed spatial geometry"):
        Vz.receptive_field([nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(4, 2)])
    assert Vz.receptive_field([nn.Conv2d(1, 2, 3), nn.Flatten()], upto=0).size == (3, 3)
    with pytest.raises(IndexError, match="upto=5"):
        Vz.receptive_field([nn.ReLU()], 5)


def test_crop_box_zero_pads_outside_the_image():
    img = np.arange(1, 17, dtype=np.float32).reshape(1, 4, 4)
    patch = Vz.crop_box(img, (-1, 2, 1, 4))
    assert patch.shape == (1, 3, 3)
    np.testing.assert_array_equal(patch[0], [[0, 0, 0], [3, 4, 0], [7, 8, 0]])


# ----- top-9 patches ---------------------------------------------------------------------

def test_top_patches_find_a_planted_pattern():
    """A 3x3 'plus' detector; the plus sign is planted in 9 of 60 noise images at random
    places. The top-9 patches must be exactly those images, each centred on its plus."""
    rng = np.random.default_rng(0)
    plus = np.array([[-1, 1, -1], [1, 1, 1], [-1, 1, -1]], np.float64)
    conv = nn.Conv2d(1, 1, 3, padding=1)
    conv.load_state_dict({"weight": plus[None, None], "bias": np.zeros(1)})
    layers = [conv, nn.ReLU(), nn.MaxPool2d(2)]
    images = rng.uniform(-0.2, 0.2, (60, 1, 16, 16))
    planted = rng.choice(60, 9, replace=False)
    for i in planted:
        r, c = rng.integers(2, 13, 2)
        images[i, 0, r - 1:r + 2, c - 1:c + 2] = (plus > 0) * 1.0
    seq = nn.Sequential(*layers).double()
    tp = Vz.top_patches(list(seq), images, upto=2, channel=0)
    assert set(tp.images.tolist()) == set(planted.tolist())
    assert np.all(np.diff(tp.scores) <= 0)
    assert tp.field.size == (4, 4) and tp.patches.shape == (9, 1, 4, 4)
    for patch in tp.patches:    # the 4x4 field of a pooled unit contains the whole plus
        sums = [(patch[0, i:i + 3, j:j + 3] * plus).sum() for i in range(2) for j in range(2)]
        assert max(sums) > 4.0
    grid = Vz.patch_grid(tp.patches, scale=2)
    assert grid.shape == (2 * (3 * 5 + 1), 2 * (3 * 5 + 1), 3)
    assert grid.min() >= 0 and grid.max() <= 1


# ----- activation maximisation -----------------------------------------------------------

def test_roll2d_is_a_circular_shift_with_the_right_gradient():
    x = tg.tensor(np.arange(12.0).reshape(1, 1, 3, 4), requires_grad=True)
    y = Vz.roll2d(x, 1, -1)
    np.testing.assert_array_equal(y.cpu().numpy(), np.roll(x.cpu().numpy(), (1, -1), (2, 3)))
    g = np.random.default_rng(0).normal(size=(1, 1, 3, 4))
    y.backward(tg.tensor(g))
    np.testing.assert_array_equal(x.grad.cpu().numpy(), np.roll(g, (-1, 1), (2, 3)))


def test_activation_maximisation_beats_random_inputs():
    rng = np.random.default_rng(1)
    tg.manual_seed(1)
    layers = [nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
              nn.Conv2d(4, 6, 3, padding=1), nn.ReLU()]
    cfg = Vz.AMConfig(steps=60, lr=0.05, seed=0)
    x_star = Vz.maximize_activation(layers, 4, channel=2, input_shape=(1, 12, 12), config=cfg)
    assert x_star.shape == (1, 1, 12, 12) and np.abs(x_star).max() <= 1.0
    seq = nn.Sequential(*layers)
    with tg.no_grad():
        a_star = Vz.unit_activation(seq, tg.tensor(x_star), 4, 2).item()
        random = rng.uniform(-1, 1, (200, 1, 12, 12)).astype(np.float32)
        a_rand = Vz.unit_activation(seq, tg.tensor(random), 4, 2).cpu().numpy()
    assert a_star > a_rand.max()
    assert a_star > 3 * max(a_rand.mean(), 1e-3)


def test_activation_maximisation_regularisers_shrink_the_image():
    tg.manual_seed(2)
    layers = [nn.Conv2d(1, 3, 3, padding=1), nn.ReLU()]
    base = dict(steps=40, lr=0.05, seed=0, clip=None, jitter=0)
    loose = Vz.maximize_activation(layers, 1, 0, (1, 9, 9), Vz.AMConfig(l2=0.0, tv=0.0, **base))
    tight = Vz.maximize_activation(layers, 1, 0, (1, 9, 9), Vz.AMConfig(l2=0.5, tv=0.5, **base))
    assert np.abs(tight).sum() < np.abs(loose).sum()
    tv = lambda a: (np.diff(a, axis=2) ** 2).sum() + (np.diff(a, axis=3) ** 2).sum()  # noqa: E731
    assert tv(tight) < tv(loose)


# ----- the demo's classifier ---------------------------------------------------------------

def test_short_classifier_training_learns_and_feeds_the_tools():
    model, x_test, acc = Vz.train_digit_classifier(steps=30, batch_size=32, n=400,
                                                   log=lambda *a: None)
    assert acc > 0.3                    # 10 classes: chance is 0.1
    layers = Vz.lenet_layers(model)
    assert Vz.receptive_field(layers, 4).size == (14, 14)
    tp = Vz.top_patches(layers, x_test[:100], 4, channel=0)
    assert tp.patches.shape == (9, 1, 14, 14)


@pytest.mark.slow
def test_demo_classifier_is_accurate_and_the_demo_writes_pictures(tmp_path):
    rc = Vz.demo_main(["--out", str(tmp_path), "--steps", "300", "--am-steps", "50"])
    assert rc == 0
    for name in ("conv1_top9.png", "conv1_maximisation.png", "conv2_top9.png",
                 "conv2_maximisation.png"):
        assert (tmp_path / name).is_file()
    _, _, acc = Vz.train_digit_classifier(steps=300, log=lambda *a: None)
    assert acc > 0.9


def test_vgg_part_of_the_demo(tmp_path, monkeypatch, capsys):
    """With weights: activation maximisation of VGG19 relu3_1 / relu4_1 channels (random
    weights stand in for the 548 MB file). Without: a notice and nothing written."""
    import types
    from tinygen.methods import style_transfer as S
    args = types.SimpleNamespace(units=1, am_steps=3, device="cpu")
    monkeypatch.setattr(S, "find_vgg_weights", lambda path: (None, " (test)"))
    assert Vz._vgg_demo(str(tmp_path), args) == []
    assert "tinygen weights download vgg19-dcbb9e9d.pth" in capsys.readouterr().out
    monkeypatch.setattr(S, "find_vgg_weights", lambda path: ("vgg19.pth", None))
    monkeypatch.setattr(V, "vgg19", lambda weights=None, **kw: V.VGG19().eval())
    written = Vz._vgg_demo(str(tmp_path), args)
    assert [p.rsplit("/", 1)[-1] for p in written] == [
        "vgg19_relu3_1_maximisation.png", "vgg19_relu4_1_maximisation.png"]
