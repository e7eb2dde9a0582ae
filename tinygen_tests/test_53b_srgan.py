"""SRGAN: the perceptual (VGG54) content loss, the discriminator, the run from an SRResNet
start (--init-from, or trained in RUN/init), exact resume, and `tinygen sr` on its run.

Tiny networks, tiny random images, a few steps each.
"""
import json
import os

import numpy as np
import pytest
from PIL import Image

import tinygen as tg
from tinygen import cli, nn
from tinygen import losses as L
from tinygen.gradcheck import check_module, gradcheck, gradgradcheck
from tinygen.io.checkpoint import load_checkpoint
from tinygen.methods import srgan, srresnet
from tinygen.methods.run import read_metrics
from tinygen.models.sr_nets import SRGANDiscriminator
from tinygen.models.vgg import RandomMultiScaleFeatures
from tinygen.ops.bicubic import imresize
from tinygen_tests.conftest import host, on_default_device

TINY = dict(channels=4, blocks=1, patch_size=6, batch_size=2, upsampler="subpixel",
            residual=True, quiet=True, sample_every=100)
TINY_D = dict(d_channels=2, d_dense=8, features="random")


def _images_npz(path, n=3, size=(32, 40), seed=0):
    rng = np.random.default_rng(seed)
    small = rng.random((n, size[0] // 4, size[1] // 4, 3))
    x = np.stack([np.clip(imresize(s, 4, method="pillow"), 0, 1) for s in small])
    np.savez(path, x=np.round(x * 255).astype(np.uint8))
    return f"npz:{path}"


class _TinyVGG(nn.Module):
    """conv-ReLU-maxpool-conv-ReLU with named outputs: VGG's layer kinds at gradcheck size."""

    def __init__(self):
        super().__init__()
        self.layer_names = ["conv1_1", "relu1_1", "pool1", "conv2_1", "relu2_1"]
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(4, 3, 3, padding=1), nn.ReLU())
        self.normalize = None

    from tinygen.models.vgg import _NamedFeatures
    extract = _NamedFeatures.extract
    _check_layers = _NamedFeatures._check_layers


# ----------------------------------------------------------------------------
# the content loss and the discriminator
# ----------------------------------------------------------------------------

def test_perceptual_loss_value_is_the_rescaled_feature_mse():
    """l_VGG = mean((phi(HR) - phi(SR))^2) / 12.75^2 (~0.006 x eq. 5, the paper's words),
    summed over layers; no gradient reaches HR."""
    rng = np.random.default_rng(0)
    phi = _TinyVGG().double()
    sr = tg.tensor(rng.random((2, 3, 8, 8)), requires_grad=True)
    hr = on_default_device(rng.random((2, 3, 8, 8)))                 # sr's device: no implicit copy
    value = L.perceptual_loss(phi, sr, hr, ("relu1_1", "relu2_1"))
    f_sr = phi.extract(sr, ["relu1_1", "relu2_1"])
    f_hr = phi.extract(tg.tensor(hr), ["relu1_1", "relu2_1"])
    want = sum(np.mean((host(f_sr[k]) - host(f_hr[k])) ** 2) for k in f_sr) / 12.75 ** 2
    assert abs(float(value.item()) - want) < 1e-12 * max(1.0, want) + 1e-15
    assert abs(1 / 12.75 ** 2 - 0.006) < 2e-4
    assert float(L.perceptual_loss(phi, tg.tensor(hr), hr, "relu2_1").item()) == 0.0


@pytest.mark.parametrize("make, layers", [
    (_TinyVGG, ("relu1_1", "relu2_1")),
    (lambda: RandomMultiScaleFeatures(scales=2, channels=3, kernel_size=3), ("scale0", "scale1")),
])
def test_perceptual_loss_gradchecks_first_and_second_order(make, layers):
    """float64, random upstream gradients, in the SR image (the loss's variable; HR and the
    feature network are constants): the VGG-like stack (conv, ReLU, max pool) and the
    fallback (blur pyramid, replicate padding)."""
    rng = np.random.default_rng(1)
    phi = make().double()
    hr = on_default_device(rng.random((1, 3, 4, 4)))                 # sr's device: no implicit copy
    sr = tg.tensor(rng.random((1, 3, 4, 4)), requires_grad=True)
    f = lambda x: L.perceptual_loss(phi, x, hr, layers) * 100.0
    assert gradcheck(f, (sr,)).passed
    assert gradgradcheck(f, (sr,)).passed


def test_discriminator_is_the_papers_and_sizes_its_dense_layer():
    D = SRGANDiscriminator(96)                        # the paper: 96 x 96 HR, 64 -> 512
    convs = [m for m in D.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.stride[0] if isinstance(c.stride, tuple) else c.stride for c in convs] == \
        [1, 2, 1, 2, 1, 2, 1, 2]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in D.features) == 7
    dense = [m for m in D.classifier if isinstance(m, nn.Linear)]
    assert (dense[0].in_features, dense[0].out_features, dense[1].out_features) == \
        (512 * 6 * 6, 1024, 1)
    small = SRGANDiscriminator(24, channels=2, dense=8)
    assert small(tg.tensor(np.zeros((3, 3, 24, 24), np.float32))).shape == (3,)
    with pytest.raises(ValueError, match="built for 24 x 24"):
        small(tg.tensor(np.zeros((1, 3, 20, 20), np.float32)))


def test_discriminator_gradchecks():
    D = SRGANDiscriminator(8, channels=1, dense=3)
    x = np.random.default_rng(2).random((2, 3, 8, 8))
    assert all(r.passed for r in check_module(D, x, second_order=False, max_full=16,
                                                  n_directions=3))


# ----------------------------------------------------------------------------
# the run
# ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("srgan")
    return _images_npz(d / "d.npz"), d


@pytest.fixture(scope="module")
def init_run(data):
    spec, d = data
    return srresnet.train(srresnet.Config(dataset=spec, test_dataset=spec, steps=2, log_every=1,
                                          lr=1e-3, out=str(d / "init"), **TINY))


def test_run_trains_its_own_start_and_writes_everything(data, capsys):
    spec, d = data
    out = srgan.train(srgan.Config(dataset=spec, test_dataset=spec, steps=2, init_steps=0,
                                   log_every=1, out=str(d / "own"),
                                   **{**TINY, "quiet": False, "sample_every": 2},
                                   **{**TINY_D, "features": "auto"}))
    err = capsys.readouterr()
    assert "NOTICE: VGG19 weights" in err.out + err.err or os.environ.get("TINYGEN_DATA")
    init = read_metrics(os.path.join(out, "init"))
    assert init[-1]["step"] == 2                                  # init_steps 0: as many as steps
    last = read_metrics(out)[-1]
    assert {"loss_d", "loss_content", "loss_gen", "test_psnr_y_sr",
            "test_psnr_y_bicubic"} <= set(last)
    with np.load(os.path.join(out, "predictions.npz")) as z:
        assert z["x"].shape == (3, 32, 40, 3) and z["x"].dtype == np.uint8
    frame = Image.open(os.path.join(out, "frames", "sr_000002.png"))
    assert frame.size[0] > 4 * 24                                 # four columns
    ev = json.load(open(os.path.join(out, "eval.json")))
    assert ev["scale"] == 4 and len(ev["images"]) == 3


def test_init_from_loads_the_srresnet_weights(data, init_run):
    spec, d = data
    out = srgan.train(srgan.Config(dataset=spec, test_dataset=spec, steps=1, log_every=1,
                                   init_from=init_run, lr=1e-30, out=str(d / "lr0"), **TINY,
                                   **TINY_D))
    a = load_checkpoint(os.path.join(init_run, "checkpoint.npz"))["model"]
    b = load_checkpoint(os.path.join(out, "checkpoint.npz"))["model"]
    for k in a:                            # lr ~0: G still is the start (BN stats move: skip)
        if "running" not in k and "num_batches" not in k:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert not os.path.exists(os.path.join(out, "init"))


def test_init_from_must_be_a_matching_srresnet_run(data, init_run, tmp_path):
    spec, d = data
    base = dict(dataset=spec, test_dataset=spec, steps=1, **TINY_D)
    with pytest.raises(ValueError, match=r"--channels 4 \(this run: 8\)"):
        srgan.train(srgan.Config(init_from=init_run, out=str(tmp_path / "a"),
                                 **{**TINY, "channels": 8}, **base))
    edsr_run = tmp_path / "e"
    edsr_run.mkdir()
    (edsr_run / "config.json").write_text(json.dumps({"method": "edsr"}))
    rc = cli.main(["run", "srgan", "--init-from", str(edsr_run), "--dataset", spec,
                   "--steps", "1", "--quiet", "--out", str(tmp_path / "b")])
    assert rc == 2                                                # one line, no traceback


def test_resume_continues_bit_identically(data, init_run, tmp_path):
    spec, d = data
    base = dict(dataset=spec, test_dataset=spec, log_every=1, init_from=init_run, **TINY,
                **TINY_D, lr_halvings=0)          # a drop at 50% of --steps would differ
    full = srgan.train(srgan.Config(steps=4, out=str(tmp_path / "full"), **base))
    srgan.train(srgan.Config(steps=2, out=str(tmp_path / "half"), **base))
    resumed = srgan.train(srgan.Config(steps=4, resume=str(tmp_path / "half"), **base))
    a, b = (load_checkpoint(os.path.join(r, "checkpoint.npz")) for r in (full, resumed))
    for part in ("model", "D"):
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            np.testing.assert_array_equal(a[part][k], b[part][k], err_msg=f"{part}.{k}")
    assert [r["loss_d"] for r in read_metrics(full)] == [r["loss_d"] for r in read_metrics(resumed)]


def test_cli_defaults_help_and_sr_on_an_srgan_run(data, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "srgan", "--help"])
    text = capsys.readouterr().out
    assert "--init-from" in text and "RUN/init" in text
    spec, d = data
    run = str(tmp_path / "run")
    assert cli.main(["run", "srgan", "--dataset", spec, "--test-dataset", spec, "--steps", "1",
                     "--channels", "4", "--blocks", "1", "--patch-size", "6", "--batch-size",
                     "2", "--d-channels", "2", "--features", "random", "--quiet",
                     "--out", run]) == 0
    config = json.load(open(os.path.join(run, "config.json")))
    assert config["residual"] is True and config["content"] == "vgg54"   # the small preset
    Image.fromarray(np.zeros((20, 24, 3), np.uint8)).save(tmp_path / "in.png")
    assert cli.main(["sr", str(tmp_path / "in.png"), "--scale", "4", "--checkpoint", run,
                     "--out", str(tmp_path / "o.png")]) == 0
    assert Image.open(tmp_path / "o.png").size == (96, 80)
