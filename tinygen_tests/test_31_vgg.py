"""VGG19: torchvision's layout and keys, named layer access, and a PyTorch oracle.

The oracle builds torchvision's ``vgg19().features`` by hand as a torch.nn.Sequential
with the same module indices (torchvision itself need not be installed), saves its
random weights as a .pth file, loads that file through tinygen's .pth reader, and
compares the ReLU outputs.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygen as tg
from tinygen.models import vgg as V

CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
POOL_INDICES = [4, 9, 18, 27, 36]


def test_layer_names_follow_configuration_e():
    names = V.vgg_layer_names()
    assert len(names) == 37
    assert [i for i, n in enumerate(names) if n.startswith("pool")] == POOL_INDICES
    assert [i for i, n in enumerate(names) if n.startswith("conv")] == CONV_INDICES
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert names[21] == "conv4_2" and names[22] == "relu4_2" and names[28] == "conv5_1" and names[35] == "relu5_4"


def test_state_dict_has_torchvision_keys_and_shapes(monkeypatch):
    # skip drawing the classifier's 120M random weights (seconds): only names/shapes matter
    monkeypatch.setattr(tg.nn.Linear, "reset_parameters", lambda self: None)
    model = V.VGG19(classifier=True)
    sd = model.state_dict()
    expected = [f"features.{i}.{p}" for i in CONV_INDICES for p in ("weight", "bias")]
    expected += [f"classifier.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")]
    assert list(sd) == expected                       # nothing else: no mean/std buffers
    assert sd["features.0.weight"].shape == (64, 3, 3, 3)
    assert sd["features.34.weight"].shape == (512, 512, 3, 3)
    assert sd["classifier.0.weight"].shape == (4096, 25088)
    assert sd["classifier.6.weight"].shape == (1000, 4096)
    pools = [type(m).__name__ for i, m in enumerate(model.features) if i in POOL_INDICES]
    assert pools == ["MaxPool2d"] * 5
    avg = V.VGG19(pool="avg")
    assert [type(avg.features[i]).__name__ for i in POOL_INDICES] == ["AvgPool2d"] * 5
    with pytest.raises(ValueError, match="'max' or 'avg'"):
        V.VGG19(pool="min")


def test_extract_returns_named_outputs_and_stops_after_the_last():
    model = V.VGG19()

    class Boom(tg.nn.Module):
        def forward(self, x):
            raise AssertionError("extract ran a layer past the deepest one requested")

    model.features._modules["5"] = Boom()             # conv2_1: must never run below
    x = tg.rand(1, 3, 16, 16)
    out = model.extract(x, ["relu1_2", "conv1_1", "pool1"])
    assert list(out) == ["relu1_2", "conv1_1", "pool1"]
    assert out["conv1_1"].shape == (1, 64, 16, 16) and out["pool1"].shape == (1, 64, 8, 8)
    np.testing.assert_array_equal(out["relu1_2"].cpu().numpy().clip(0), out["relu1_2"].cpu().numpy())
    with pytest.raises(KeyError, match="relu9_9"):
        model.extract(x, ["relu9_9"])


def test_imagenet_normalisation_and_its_input_check():
    norm = V.ImageNetNormalize()
    x = np.full((1, 3, 2, 2), 0.5, np.float32)
    y = norm(tg.tensor(x)).cpu().numpy()
    expected = (0.5 - np.array(V.IMAGENET_MEAN)) / np.array(V.IMAGENET_STD)
    np.testing.assert_allclose(y[0, :, 0, 0], expected, rtol=1e-6)
    with pytest.raises(ValueError, match=r"RGB images \(N, 3, H, W\)"):
        norm(tg.zeros(1, 1, 4, 4))


def _torch_vgg19_features(torch, pool):
    nn = torch.nn
    layers, c = [], 3
    for v in V.CFG_E:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2) if pool == "max" else nn.AvgPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=False)]
            c = v
    return nn.Sequential(*layers)


@pytest.fixture(scope="module")
def torch_vgg_file(tmp_path_factory):
    """Random torch VGG19 features (He init keeps activations O(1) over 16 layers) saved
    as a .pth file with torchvision's keys; built once for both pooling variants."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    features = _torch_vgg19_features(torch, "max").double().eval()
    for m in features:
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight)
            torch.nn.init.normal_(m.bias, std=0.1)
    path = tmp_path_factory.mktemp("vgg") / "vgg19-features.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, str(path))
    return features, path


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_relu_outputs_match_torch_oracle(torch_vgg_file, pool):
    torch = pytest.importorskip("torch")
    features, path = torch_vgg_file
    if pool == "avg":   # Gatys et al.'s variant: same weights, average pooling
        features = torch.nn.Sequential(*[torch.nn.AvgPool2d(2, 2) if isinstance(
            m, torch.nn.MaxPool2d) else m for m in features])
    model = V.VGG19(pool=pool).double()
    V.load_vgg19_weights(model, str(path))
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (1, 3, 32, 32))
    names = ["relu1_1", "relu2_2", "relu3_4", "relu4_2", "relu5_1", "relu5_4", "pool5"]
    ours = model.extract(tg.tensor(x), names)

    mean = torch.tensor(V.IMAGENET_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(V.IMAGENET_STD, dtype=torch.float64).view(1, 3, 1, 1)
    h = (torch.tensor(x) - mean) / std
    layer_names = V.vgg_layer_names()
    with torch.no_grad():
        for i, module in enumerate(features):
            h = module(h)
            if layer_names[i] in names:
                ref = h.cpu().numpy()
                assert np.abs(ref).max() > 1e-3, "oracle activations vanished; test is vacuous"
                np.testing.assert_allclose(ours[layer_names[i]].cpu().numpy(), ref, rtol=1e-4,
                                           atol=1e-6 * np.abs(ref).max(),
                                           err_msg=f"layer {layer_names[i]}")


def test_load_rejects_a_file_with_missing_keys(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, str(path))
    with pytest.raises(KeyError, match="features.0.bias"):
        V.load_vgg19_weights(V.VGG19(), str(path))


def test_random_fallback_is_deterministic_and_multiscale():
    a, b = V.RandomMultiScaleFeatures(), V.RandomMultiScaleFeatures()
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb
        np.testing.assert_array_equal(va.cpu().numpy(), vb.cpu().numpy())
    x = tg.rand(1, 3, 32, 32)
    out = a.extract(x, list(V.FALLBACK_STYLE_LAYERS) + list(V.FALLBACK_CONTENT_LAYERS))
    sizes = [out[l].shape[2] for l in V.FALLBACK_STYLE_LAYERS]
    assert sizes == [32, 16, 8, 4]                    # one pyramid level per scale
    assert out["edges2"].shape == (1, 96, 8, 8)
    # the content features ignore colour: a global colour change leaves them unchanged
    # wherever the luminance is unchanged (here: swapping R and B of a grey ramp)
    ramp = np.linspace(0, 1, 32, dtype=np.float32)[None, None, None, :].repeat(32, 2).repeat(3, 1)
    e1 = a.extract(tg.tensor(ramp), ["edges2"])["edges2"].cpu().numpy()
    tinted = ramp.copy()
    tinted[:, 0] += 0.1
    tinted[:, 2] -= 0.1
    e2 = a.extract(tg.tensor(tinted), ["edges2"])["edges2"].cpu().numpy()
    # the ImageNet normalisation divides channels by different stds, so the luminance
    # changes slightly: compare with the change of the colour-sensitive style features
    s1 = a.extract(tg.tensor(ramp), ["scale2"])["scale2"].cpu().numpy()
    s2 = a.extract(tg.tensor(tinted), ["scale2"])["scale2"].cpu().numpy()
    assert np.abs(e2 - e1).mean() < 0.1 * np.abs(s2 - s1).mean()


def test_blur_downsample_preserves_constants_and_halves_size():
    down = V.BlurDownsample()
    x = tg.full((1, 3, 9, 8), 0.7)
    y = down(x).cpu().numpy()
    assert y.shape == (1, 3, 5, 4)
    np.testing.assert_allclose(y, 0.7, rtol=1e-6)
