"""Issue 16: PyTorch training scripts run unmodified with ``torch`` -> ``tinygen``.

Each script in tinygen_tests/torch_scripts/ is written as its original is (pytorch/examples'
DCGAN, VAE and MNIST classifier; PyTorch-GAN's GAN, DCGAN, WGAN, WGAN-GP and cGAN) and run
through tinygen_tests/torch_alias.py for a few iterations: every loss must be finite and the
files the script writes must exist. None is edited: each reads as its original does.

With PyTorch installed the oracle checks the numbers: the same script run under real torch
builds the same networks; tinygen's checkpoint (written by tinygen.save) loads into them with
``torch.load(weights_only=True)``, and torch's checkpoint loads back into tinygen's
networks; both then give the same outputs and parameter gradients on the same batch.
"""
from __future__ import annotations

import math
import os
import runpy
import sys

import numpy as np
import pytest

from tinygen_tests.conftest import host
from tinygen_tests.torch_alias import torch_is_tinygen, torchvision_stub

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_scripts")

RUNS = {
    "dcgan_examples": ["--dataset", "fake", "--batchSize", "8", "--ngf", "8", "--ndf", "8",
                       "--nz", "16", "--niter", "1", "--manualSeed", "1", "--outf", "out"],
    "vae_examples": ["--epochs", "1", "--batch-size", "32"],
    "mnist_examples": ["--epochs", "1", "--batch-size", "32", "--test-batch-size", "32",
                       "--save-model"],
    "gan_zoo": ["--n_epochs", "1", "--batch_size", "32"],
    "dcgan_zoo": ["--n_epochs", "1", "--batch_size", "32"],
    "wgan_zoo": ["--n_epochs", "1", "--batch_size", "16", "--n_critic", "2"],
    "wgan_gp_zoo": ["--n_epochs", "1", "--batch_size", "16", "--n_critic", "2"],
    "cgan_zoo": ["--n_epochs", "1", "--batch_size", "32"],
}
# What each run must leave in its folder (beside the losses the script collects).
WRITES = {
    "dcgan_examples": ["out/netG_epoch_0.pth", "out/netD_epoch_0.pth", "out/fake_samples_epoch_000.png"],
    "vae_examples": ["results/reconstruction_1.png", "results/sample_1.png"],
    "mnist_examples": ["mnist_cnn.pt"],
    "gan_zoo": ["images/0.png"], "dcgan_zoo": ["images/0.png"], "wgan_zoo": ["images/0.png"],
    "wgan_gp_zoo": ["images/0.png"], "cgan_zoo": ["images/0.png"],
}


def run_script(name, folder, monkeypatch, real_torch=False):
    """Run torch_scripts/<name>.py as __main__ in ``folder``/a/b (the zoo writes ../../data)."""
    where = folder / "a" / "b"
    where.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(where)
    monkeypatch.setattr(sys, "argv", [name + ".py"] + RUNS[name])
    context = torchvision_stub() if real_torch else torch_is_tinygen()
    with context:
        return runpy.run_path(os.path.join(SCRIPTS, name + ".py"), run_name="__main__"), where


def all_losses(g):
    values = g.get("losses") or g.get("train_losses")
    return [v for item in values for v in (item if isinstance(item, tuple) else (item,))]


# On a GPU, PyTorch's `.data` is a tensor; tinygen's is the raw array, which has PyTorch's
# methods (DataArray: `p.data.clamp_`, `x.data.size(0)`) on the host only. The two WGAN scripts
# use them, so on a CUDA default device they stop there: a known gap, kept visible (strict).
DATA_IDIOMS_ON_HOST_ONLY = {"wgan_zoo", "wgan_gp_zoo"}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_script_runs_unmodified_with_finite_losses(name, tmp_path, monkeypatch, request):
    import tinygen
    if name in DATA_IDIOMS_ON_HOST_ONLY and tinygen.get_default_device() != "cpu":
        request.applymarker(pytest.mark.xfail(strict=True, raises=(AttributeError, TypeError),
                                              reason="Tensor.data's PyTorch methods are host-only"))
    g, where = run_script(name, tmp_path, monkeypatch)
    losses = all_losses(g)
    assert losses, f"{name} recorded no loss"
    assert all(math.isfinite(v) for v in losses), f"{name}: non-finite losses {losses}"
    for path in WRITES[name]:
        assert (where / path).is_file(), f"{name} did not write {path}"
    assert "torch" not in sys.modules or sys.modules["torch"] is not tinygen, \
        "the alias must be removed after the block"


def test_the_alias_gives_tinygen_modules_and_restores_torch():
    before = {k: v for k, v in sys.modules.items() if k == "torch" or k.startswith("torch.")}
    import tinygen
    import tinygen.functional
    with torch_is_tinygen():
        import torch
        import torch.nn.functional as F
        from torch.optim.lr_scheduler import StepLR
        from torch.utils.data import DataLoader
        assert torch is tinygen and F is tinygen.functional
        assert StepLR is tinygen.optim.lr_scheduler.StepLR
        assert DataLoader is tinygen.utils.data.DataLoader
        assert tinygen.functional.__spec__.name == "tinygen.functional"   # not relabelled
        with pytest.raises(ModuleNotFoundError, match="tinygen has no 'tinygen.distributions'"):
            import torch.distributions  # noqa: F401
    after = {k: v for k, v in sys.modules.items() if k == "torch" or k.startswith("torch.")}
    assert after == before


# --------------------------------------------------------------------------
# the oracle: same networks under real torch, weights exchanged both ways
# --------------------------------------------------------------------------

def _exchange_and_compare(ours, theirs, inputs, tmp_path, loss_of=None, atol=2e-5):
    """Load ours' weights into theirs (tinygen.save -> torch.load(weights_only=True)), compare
    eval-mode outputs (and, with ``loss_of``, every parameter gradient); then the way back
    (torch.save -> tinygen.load -> load_state_dict). Returns the largest difference seen."""
    import torch

    import tinygen
    tinygen.save(ours.state_dict(), str(tmp_path / "ours.pth"))
    theirs.load_state_dict(torch.load(str(tmp_path / "ours.pth"), weights_only=True))
    ours.eval(), theirs.eval()
    device = next(ours.parameters()).device                       # where the script put the model
    xs = [tinygen.from_numpy(x).to(device) for x in inputs]
    Xs = [torch.from_numpy(x) for x in inputs]
    y, Y = ours(*xs), theirs(*Xs)
    worst = float(np.abs(host(y.detach()) - Y.detach().numpy()).max())
    if loss_of is not None:
        ours.zero_grad(), theirs.zero_grad()
        loss_of(y, tinygen).backward()
        loss_of(Y, torch).backward()
        for (k, p), (K, P) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert k == K
            worst = max(worst, float(np.abs(host(p.grad) - P.grad.numpy()).max()))
    # the way back: torch's file into tinygen's module
    with torch.no_grad():
        for P in theirs.parameters():
            P.mul_(1.5)
    torch.save(theirs.state_dict(), str(tmp_path / "theirs.pth"))
    ours.load_state_dict(tinygen.load(str(tmp_path / "theirs.pth")))
    worst = max(worst, float(np.abs(host(ours(*xs).detach()) - theirs(*Xs).detach().numpy()).max()))
    assert worst <= atol, f"max abs diff {worst:.3g}"
    return worst


def _both(name, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    ours, _ = run_script(name, tmp_path / "tinygen", monkeypatch)
    theirs, _ = run_script(name, tmp_path / "torch", monkeypatch, real_torch=True)
    return ours, theirs


def test_dcgan_examples_numerics_match_torch(tmp_path, monkeypatch):
    ours, theirs = _both("dcgan_examples", tmp_path, monkeypatch)
    noise = np.random.default_rng(0).normal(size=(4, 16, 1, 1)).astype(np.float32)
    _exchange_and_compare(ours["netG"], theirs["netG"], [noise], tmp_path,
                          loss_of=lambda y, t: (y * y).mean())
    images = np.random.default_rng(1).uniform(-1, 1, size=(4, 3, 64, 64)).astype(np.float32)
    _exchange_and_compare(ours["netD"], theirs["netD"], [images], tmp_path,
                          loss_of=lambda y, t: t.nn.BCELoss()(y, t.ones(4, device=y.device)))


def test_mnist_examples_numerics_match_torch(tmp_path, monkeypatch):
    ours, theirs = _both("mnist_examples", tmp_path, monkeypatch)
    images = np.random.default_rng(2).normal(size=(5, 1, 28, 28)).astype(np.float32)
    target = np.array([0, 3, 9, 3, 1])
    _exchange_and_compare(
        ours["Net"](), theirs["Net"](), [images], tmp_path,
        loss_of=lambda y, t: t.nn.functional.nll_loss(y, t.from_numpy(target).to(y.device)))


def test_vae_examples_numerics_match_torch(tmp_path, monkeypatch):
    ours, theirs = _both("vae_examples", tmp_path, monkeypatch)
    z = np.random.default_rng(3).normal(size=(6, 20)).astype(np.float32)

    class Decode:                  # the decoder alone: no sampling, so both sides agree exactly
        def __init__(self, vae):
            self.vae = vae

        def __getattr__(self, name):
            return getattr(self.vae, name)

        def __call__(self, z):
            return self.vae.decode(z)

    worst = _exchange_and_compare(Decode(ours["model"]), Decode(theirs["model"]), [z], tmp_path)
    assert worst < 2e-5
    import torch

    import tinygen
    x = np.random.default_rng(4).uniform(size=(6, 784)).astype(np.float32)
    mu, logvar = z * 0.5, z * 0.1
    a = ours["loss_function"](*(tinygen.from_numpy(v) for v in (x.clip(0.01, 0.99), x, mu, logvar)))
    b = theirs["loss_function"](*(torch.from_numpy(v) for v in (x.clip(0.01, 0.99), x, mu, logvar)))
    assert abs(a.item() - b.item()) <= 1e-6 * abs(b.item())
