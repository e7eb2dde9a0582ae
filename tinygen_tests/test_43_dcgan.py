"""DCGAN: architecture shapes and the paper's initialisation, a short run on synthetic digits."""
import json
import os

import numpy as np
import pytest

import tinygen as tg
from tinygen import nn
from tinygen.data.arrays import TrainingSet
from tinygen.methods import dcgan
from tinygen.models.dcgan import DCGANDiscriminator, DCGANGenerator, stages_for


@pytest.mark.parametrize("size, nc, base, stages", [(28, 1, 7, 2), (32, 3, 4, 3), (64, 3, 4, 4)])
def test_shapes_for_each_image_size(size, nc, base, stages):
    assert stages_for(size) == (base, stages)
    tg.manual_seed(0)
    G, D = DCGANGenerator(10, nc, size, ngf=4), DCGANDiscriminator(nc, size, ndf=4)
    x = G(tg.randn(3, 10))
    assert x.shape == (3, nc, size, size)
    assert float(np.abs(x.cpu().numpy()).max()) <= 1.0            # tanh output
    assert D(x).shape == (3, 1)


def test_paper_architecture_and_init():
    tg.manual_seed(0)
    G, D = DCGANGenerator(100, 1, 28, ngf=32), DCGANDiscriminator(1, 28, ndf=32)
    g_layers, d_layers = list(G.main), list(D.main)
    assert isinstance(g_layers[-1], nn.Tanh) and isinstance(g_layers[-2], nn.ConvTranspose2d)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d_layers[:2])   # none on D's input
    assert all(m.negative_slope == 0.2 for m in d_layers if isinstance(m, nn.LeakyReLU))
    assert not any(isinstance(m, nn.Linear) for m in G.modules() if m is not G)
    convs = [m for m in list(G.modules()) + list(D.modules())
             if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    w = np.concatenate([m.weight.cpu().numpy().ravel() for m in convs])
    assert abs(w.std() - 0.02) < 0.002 and abs(w.mean()) < 0.002
    bn = np.concatenate([m.weight.cpu().numpy().ravel() for m in G.modules()
                         if isinstance(m, nn.BatchNorm2d)])
    assert abs(bn.mean() - 1.0) < 0.01 and abs(bn.std() - 0.02) < 0.01
    c = dcgan.Config()
    assert (c.lr, c.beta1, c.batch_size) == (2e-4, 0.5, 128)


def test_critic_norm_options():
    D = DCGANDiscriminator(3, 32, ndf=4, norm="none")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    with pytest.raises(ValueError, match="norm must be"):
        DCGANDiscriminator(3, 32, norm="spectral")
    with pytest.raises(ValueError, match="28, 32, 64"):
        stages_for(30)


def test_short_dcgan_run_on_digits(tmp_path):
    config = dcgan.Config(dataset="digits", n_train=64, steps=4, ngf=4, ndf=4, batch_size=8, log_every=2,
                          sample_every=2, n_samples=512, quiet=True, out=str(tmp_path))
    out = dcgan.train(config)
    records = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    assert [r["step"] for r in records] == [2, 4]
    assert all(np.isfinite(r["loss_d"]) and np.isfinite(r["loss_g"]) for r in records)
    x = np.load(os.path.join(out, "samples.npz"))["x"]
    assert x.shape == (512, 28, 28) and x.dtype == np.uint8
    assert os.path.exists(os.path.join(out, "frames", "samples_000004.png"))
    with pytest.raises(ValueError, match="image data"):
        dcgan.build_models(config, TrainingSet(np.zeros((4, 2), np.float32)))


def test_tinygen_sample_writes_uint8_images_and_a_grid(tmp_path, capsys):
    from tinygen import cli
    config = dcgan.Config(dataset="digits", n_train=64, steps=2, ngf=4, ndf=4, batch_size=8,
                          log_every=2, sample_every=2, quiet=True, out=str(tmp_path))
    out = dcgan.train(config)
    assert cli.main(["sample", out, "--n", "5"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed[-1].endswith("sampled-0.npz") and printed[0].endswith("sampled-0.png")
    x = np.load(printed[-1])["x"]
    assert x.shape == (5, 28, 28) and x.dtype == np.uint8 and x.std() > 0


def test_digits_get_the_measured_cpu_preset_and_paper_keeps_sec_4(tmp_path):
    from tinygen import cli
    c = cli.build_config(dcgan, [])                                    # digits
    assert (c.ngf, c.ndf, c.batch_size, c.lr, c.steps, c.reuse_fake) == \
        (32, 16, 32, 2e-3, 14000, True)
    assert (c.beta1, c.beta2, c.d_norm, c.r1_gamma, c.r1_every) == (0.0, 0.99, "none", 0.1, 16)
    p = cli.build_config(dcgan, ["--preset", "paper"])
    assert (p.ngf, p.ndf, p.batch_size, p.lr, p.reuse_fake) == (64, 64, 128, 2e-4, False)
    assert (p.beta1, p.beta2, p.d_norm, p.r1_gamma) == (0.5, 0.999, "batch", 0.0)
    np.savez(tmp_path / "gray28.npz", x=np.zeros((4, 28, 28), np.uint8))
    np.savez(tmp_path / "rgb32.npz", x=np.zeros((4, 32, 32, 3), np.uint8))
    assert dcgan.default_preset(f"npz:{tmp_path / 'gray28.npz'}") == "digits28"
    assert dcgan.default_preset(f"npz:{tmp_path / 'rgb32.npz'}") == "paper"
    assert dcgan.default_preset("shapes") == "paper"
    assert cli.build_config(dcgan, ["--dataset", "mnist", "--ndf", "8"]).ndf == 8


def test_the_g_step_reuses_the_d_steps_fakes_only_when_asked(tmp_path, monkeypatch):
    # Algorithm 1 draws a fresh z for G's step; --reuse-fake (PyTorch's DCGAN example) backs
    # the G step through the very batch G(z) the D step saw, so G runs once a step, not twice.
    seen, calls = {"d": [], "g": []}, []
    d_step, g_step, forward = dcgan.discriminator_step, dcgan.generator_step, DCGANGenerator.forward
    monkeypatch.setattr(dcgan, "discriminator_step", lambda D, opt, x, x_fake, *r1: (
        seen["d"].append(x_fake.cpu().numpy().copy()), d_step(D, opt, x, x_fake, *r1))[1])
    monkeypatch.setattr(dcgan, "generator_step", lambda D, opt, x_fake: (
        seen["g"].append(x_fake.cpu().numpy().copy()), g_step(D, opt, x_fake))[1])
    monkeypatch.setattr(DCGANGenerator, "forward",
                        lambda self, z: (calls.append(1), forward(self, z))[1])
    n_calls = {}
    for reuse in (False, True):
        seen["d"], seen["g"], calls[:] = [], [], []
        dcgan.train(dcgan.Config(dataset="digits", n_train=64, steps=3, ngf=4, ndf=4,
                                 batch_size=8, log_every=3, sample_every=1000, n_samples=512,
                                 quiet=True, reuse_fake=reuse, out=str(tmp_path / str(reuse))))
        assert len(seen["d"]) == len(seen["g"]) == 3
        for d, g in zip(seen["d"], seen["g"]):
            assert d.shape == g.shape == (8, 1, 28, 28)
            assert np.array_equal(d, g) == reuse
        n_calls[reuse] = len(calls)
    assert n_calls[False] - n_calls[True] == 3                     # one G forward less a step


@pytest.mark.parametrize("d_options", [{}, dict(d_norm="none", r1_gamma=0.1, r1_every=1)])
def test_reuse_fake_resumes_bit_identically(tmp_path, d_options):
    base = dict(dataset="digits", n_train=64, ngf=4, ndf=4, batch_size=8, log_every=2,
                sample_every=1000, n_samples=512, quiet=True, reuse_fake=True, checkpoint_every=2,
                **d_options)
    full = dcgan.train(dcgan.Config(steps=4, out=str(tmp_path / "full"), **base))
    dcgan.train(dcgan.Config(steps=2, out=str(tmp_path / "half"), **base))
    resumed = dcgan.train(dcgan.Config(steps=4, resume=str(tmp_path / "half"), **base))
    a, b = (np.load(os.path.join(out, "checkpoint.npz")) for out in (full, resumed))
    keys = [k for k in a.files if k != "__tinygen_checkpoint__.json"]
    assert any(k.startswith("G") for k in keys) and any(k.startswith("D") for k in keys)
    for k in keys:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_the_d_step_adds_r1_on_every_kth_step_weighted_by_k(tmp_path, monkeypatch):
    # Lazy R1 (StyleGAN2 Sec. 3.1): D's loss gains k * gamma/2 E||grad_x D(x)||^2 on steps
    # k, 2k, ... and nothing in between; the value is losses.r1_penalty's exactly.
    from tinygen import losses as L
    tg.manual_seed(0)
    D = DCGANDiscriminator(1, 28, ndf=4, norm="none")
    x, x_fake = tg.randn(4, 1, 28, 28), tg.randn(4, 1, 28, 28)
    plain = float(L.d_loss_minimax(D(x), D(x_fake)).item())
    r1 = float(L.r1_penalty(D, x, 0.8).item())
    assert r1 > 0
    opt = tg.optim.SGD(D.parameters(), lr=0.0)
    assert float(dcgan.discriminator_step(D, opt, x, x_fake, 0.8)["loss_d"].item()) == \
        pytest.approx(plain + r1, rel=1e-6)
    assert float(dcgan.discriminator_step(D, opt, x, x_fake)["loss_d"].item()) == \
        pytest.approx(plain, rel=1e-6)
    weights = []
    d_step = dcgan.discriminator_step
    monkeypatch.setattr(dcgan, "discriminator_step", lambda D, opt, x, x_fake, w=0.0: (
        weights.append(w), d_step(D, opt, x, x_fake, w))[1])
    dcgan.train(dcgan.Config(dataset="digits", n_train=64, steps=6, ngf=4, ndf=4, batch_size=8,
                             d_norm="none", r1_gamma=0.25, r1_every=3, log_every=6,
                             sample_every=1000, n_samples=512, quiet=True, out=str(tmp_path)))
    assert weights == [0.0, 0.0, 0.75, 0.0, 0.0, 0.75]
    with pytest.raises(ValueError, match="r1-gamma"):
        dcgan.Config(r1_gamma=-1.0)
