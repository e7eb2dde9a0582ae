"""InceptionV3FID: structure, strict loading, clear errors, and a PyTorch oracle.

The oracle is the FID Inception written out by hand in torch below (torchvision may be absent),
mirroring pytorch-fid's ``FIDInceptionA/C/E_1/E_2`` on torchvision's ``Inception3`` layout. It is
given random weights and random BatchNorm running statistics, saved with ``torch.save``, read
back through tinygen's own .pth reader and loaded strictly; every block output must agree.
"""
import time

import numpy as np
import pytest

import tinygen
from tinygen.models.inception_fid import InceptionV3FID, FID_WEIGHTS


# ----------------------------------------------------------------------------------------------
# the torch reference (built only when torch is importable)
# ----------------------------------------------------------------------------------------------

def _torch_reference():
    torch = pytest.importorskip("torch")
    tnn, TF = torch.nn, torch.nn.functional

    class BasicConv2d(tnn.Module):
        def __init__(self, cin, cout, **kw):
            super().__init__()
            self.conv = tnn.Conv2d(cin, cout, bias=False, **kw)
            self.bn = tnn.BatchNorm2d(cout, eps=0.001)

        def forward(self, x):
            return TF.relu(self.bn(self.conv(x)))

    def avg_same(x):
        return TF.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)

    class A(tnn.Module):
        def __init__(self, cin, pool_features):
            super().__init__()
            self.branch1x1 = BasicConv2d(cin, 64, kernel_size=1)
            self.branch5x5_1 = BasicConv2d(cin, 48, kernel_size=1)
            self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
            self.branch3x3dbl_1 = BasicConv2d(cin, 64, kernel_size=1)
            self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
            self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
            self.branch_pool = BasicConv2d(cin, pool_features, kernel_size=1)

        def forward(self, x):
            return torch.cat([
                self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                self.branch_pool(avg_same(x))], 1)

    class B(tnn.Module):
        def __init__(self, cin):
            super().__init__()
            self.branch3x3 = BasicConv2d(cin, 384, kernel_size=3, stride=2)
            self.branch3x3dbl_1 = BasicConv2d(cin, 64, kernel_size=1)
            self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
            self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

        def forward(self, x):
            return torch.cat([
                self.branch3x3(x),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                TF.max_pool2d(x, kernel_size=3, stride=2)], 1)

    class C(tnn.Module):
        def __init__(self, cin, c7):
            super().__init__()
            self.branch1x1 = BasicConv2d(cin, 192, kernel_size=1)
            self.branch7x7_1 = BasicConv2d(cin, c7, kernel_size=1)
            self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
            self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
            self.branch7x7dbl_1 = BasicConv2d(cin, c7, kernel_size=1)
            self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
            self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
            self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
            self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
            self.branch_pool = BasicConv2d(cin, 192, kernel_size=1)

        def forward(self, x):
            d = self.branch7x7dbl_1(x)
            d = self.branch7x7dbl_5(self.branch7x7dbl_4(self.branch7x7dbl_3(self.branch7x7dbl_2(d))))
            return torch.cat([
                self.branch1x1(x), self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))), d,
                self.branch_pool(avg_same(x))], 1)

    class D(tnn.Module):
        def __init__(self, cin):
            super().__init__()
            self.branch3x3_1 = BasicConv2d(cin, 192, kernel_size=1)
            self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
            self.branch7x7x3_1 = BasicConv2d(cin, 192, kernel_size=1)
            self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
            self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
            self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

        def forward(self, x):
            b = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
            return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b,
                              TF.max_pool2d(x, kernel_size=3, stride=2)], 1)

    class E(tnn.Module):
        def __init__(self, cin, use_max):
            super().__init__()
            self.use_max = use_max
            self.branch1x1 = BasicConv2d(cin, 320, kernel_size=1)
            self.branch3x3_1 = BasicConv2d(cin, 384, kernel_size=1)
            self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
            self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
            self.branch3x3dbl_1 = BasicConv2d(cin, 448, kernel_size=1)
            self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
            self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
            self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
            self.branch_pool = BasicConv2d(cin, 192, kernel_size=1)

        def forward(self, x):
            s = self.branch3x3_1(x)
            d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
            pooled = (TF.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.use_max
                      else avg_same(x))
            return torch.cat([
                self.branch1x1(x),
                torch.cat([self.branch3x3_2a(s), self.branch3x3_2b(s)], 1),
                torch.cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], 1),
                self.branch_pool(pooled)], 1)

    class Reference(tnn.Module):
        def __init__(self):
            super().__init__()
            self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
            self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
            self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
            self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
            self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
            self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = A(192, 32), A(256, 64), A(288, 64)
            self.Mixed_6a = B(288)
            self.Mixed_6b, self.Mixed_6c = C(768, 128), C(768, 160)
            self.Mixed_6d, self.Mixed_6e = C(768, 160), C(768, 192)
            self.Mixed_7a = D(768)
            self.Mixed_7b, self.Mixed_7c = E(1280, False), E(2048, True)
            self.fc = tnn.Linear(2048, 1008)

        def forward(self, x, last=3):  # pytorch-fid's InceptionV3.forward, blocks 0..last
            x = TF.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
            x = 2 * x - 1
            out = []
            x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
            x = TF.max_pool2d(x, kernel_size=3, stride=2)
            out.append(x)
            if last == 0:
                return out
            x = TF.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), kernel_size=3, stride=2)
            out.append(x)
            for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e"):
                x = getattr(self, "Mixed_" + name)(x)
            out.append(x)
            x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
            out.append(TF.adaptive_avg_pool2d(x, (1, 1)))
            return out

    return torch, Reference


def _randomize(torch, model, seed=0):
    """He-normal conv weights and random BN affine/running statistics (keep signals O(1))."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            elif isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(0.5 + torch.rand(c, generator=g))
                m.bias.copy_(0.1 * torch.randn(c, generator=g))
                m.running_mean.copy_(0.2 * torch.randn(c, generator=g))
                m.running_var.copy_(0.5 + torch.rand(c, generator=g))
                m.num_batches_tracked.fill_(7)
            elif isinstance(m, torch.nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.02)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return model.eval()


@pytest.fixture(scope="module")
def torch_pair(tmp_path_factory):
    """(torch, reference model, tinygen model loaded from the reference's .pth file)."""
    torch, Reference = _torch_reference()
    torch.manual_seed(0)
    reference = _randomize(torch, Reference())
    path = str(tmp_path_factory.mktemp("inception") / "random_inception.pth")
    torch.save(reference.state_dict(), path)
    model = InceptionV3FID.from_pretrained(path=path)      # strict load through the .pth reader
    return torch, reference, model, path


# ----------------------------------------------------------------------------------------------
# structure and loading
# ----------------------------------------------------------------------------------------------

def test_state_dict_keys_and_shapes_match_reference(torch_pair):
    torch, reference, model, _ = torch_pair
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert list(ours) == list(theirs)                       # same names, same order
    assert ours == theirs
    assert ours["fc.weight"] == (1008, 2048)
    assert ours["Mixed_7c.branch_pool.conv.weight"] == (192, 2048, 1, 1)
    assert "Conv2d_1a_3x3.conv.bias" not in ours            # convolutions have no bias
    n_params = sum(int(np.prod(s)) for k, s in ours.items()
                   if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    assert n_params == sum(p.numel() for p in reference.parameters())


def test_bn_eps_and_pool_kinds():
    model = InceptionV3FID()
    assert model.Conv2d_1a_3x3.bn.eps == pytest.approx(1e-3)
    assert model.Mixed_7b.pool == "avg" and model.Mixed_7c.pool == "max"
    assert not model.training                               # built in eval mode


def test_loaded_values_are_exact(torch_pair):
    torch, reference, model, _ = torch_pair
    ours = model.state_dict()
    for key, value in reference.state_dict().items():
        np.testing.assert_array_equal(ours[key].cpu().numpy(), value.cpu().numpy(), err_msg=key)


def test_strict_loading_names_the_bad_keys(torch_pair):
    _, _, model, path = torch_pair
    from tinygen.io.torch_pth import load_torch_state_dict
    sd = load_torch_state_dict(path)
    extra = dict(sd, **{"AuxLogits.fc.weight": np.zeros((1000, 768), np.float32)})
    with pytest.raises(KeyError, match="AuxLogits.fc.weight"):
        InceptionV3FID().load_pretrained_state_dict(extra)
    missing = {k: v for k, v in sd.items() if k != "Mixed_6e.branch_pool.bn.running_var"}
    with pytest.raises(KeyError, match="Mixed_6e.branch_pool.bn.running_var"):
        InceptionV3FID().load_pretrained_state_dict(missing)
    # only num_batches_tracked may be absent (files older than PyTorch 0.4.1)
    old = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    InceptionV3FID().load_pretrained_state_dict(old)


def test_missing_weight_file_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYGEN_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(FileNotFoundError) as info:
        InceptionV3FID.from_pretrained()
    message = str(info.value)
    assert FID_WEIGHTS in message
    assert "https://github.com/mseitzer/pytorch-fid/releases" in message
    assert "tinygen weights download pt_inception" in message
    assert "--features domain:digits" in message


def test_bad_inputs_raise_clear_errors():
    model = InceptionV3FID()
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        model(tinygen.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="output_blocks"):
        model(tinygen.zeros(1, 3, 32, 32), output_blocks=(4,))


# ----------------------------------------------------------------------------------------------
# the oracle: every block output, float32, batch 2
# ----------------------------------------------------------------------------------------------

def _assert_close(ours, theirs, name, rtol=1e-4):
    """rtol 1e-4 elementwise, with an absolute floor of rtol * RMS(reference) for the entries
    that float32 cancellation leaves near zero (ReLU outputs, averages of signed values)."""
    scale = float(np.sqrt(np.mean(theirs.astype(np.float64) ** 2)))
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * scale, err_msg=name)


def test_every_block_and_the_logits_match_torch_reference(torch_pair):
    torch, reference, model, _ = torch_pair
    rng = np.random.default_rng(1)
    x = rng.random((2, 3, 37, 53)).astype(np.float32)      # odd size: exercises the resize
    with torch.no_grad():
        expected = reference(torch.from_numpy(x))
        pool3 = expected[3].flatten(1)
        logits_unbiased = (pool3 @ reference.fc.weight.T).cpu().numpy()
        logits_biased = reference.fc(pool3).cpu().numpy()
        expected = [t.cpu().numpy() for t in expected]
    start = time.perf_counter()
    with tinygen.no_grad():
        got = model(tinygen.tensor(x), output_blocks=(3, 0, 2, 1))   # any order -> ascending
    elapsed = time.perf_counter() - start
    shapes = [(2, 64, 73, 73), (2, 192, 35, 35), (2, 768, 17, 17), (2, 2048, 1, 1)]
    assert [tuple(g.shape) for g in got] == shapes
    for index, (g, e) in enumerate(zip(got, expected)):
        assert g.dtype == np.float32
        _assert_close(g.cpu().numpy(), e, f"block {index}")
    assert np.std(expected[3]) > 1e-2                      # the signal did not vanish
    with tinygen.no_grad():
        ours_pool3 = tinygen.ops.flatten(got[3], start_dim=1)
        _assert_close(model.logits_from_pool3(ours_pool3).cpu().numpy(), logits_unbiased, "logits")
        _assert_close(model.logits_from_pool3(ours_pool3, bias=True).cpu().numpy(), logits_biased,
                      "biased logits")
    print(f"tinygen InceptionV3FID forward, batch 2, all blocks: {elapsed:.2f} s")


def test_forward_stops_after_the_last_requested_block(torch_pair):
    torch, reference, model, _ = torch_pair
    x = np.random.default_rng(2).random((1, 3, 299, 299)).astype(np.float32)  # no resize
    with torch.no_grad():
        (expected,) = reference(torch.from_numpy(x), last=0)
    calls = []
    original = model._block1
    model._block1 = lambda h: calls.append(1) or original(h)
    try:
        with tinygen.no_grad():
            out = model(tinygen.tensor(x), output_blocks=(0,))
    finally:
        del model._block1
    assert len(out) == 1 and not calls                     # block 1 never ran
    _assert_close(out[0].cpu().numpy(), expected.cpu().numpy(), "block 0")


@pytest.mark.slow
def test_larger_batch_matches_torch_reference(torch_pair):
    torch, reference, model, _ = torch_pair
    x = np.random.default_rng(3).random((8, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x))
    with tinygen.no_grad():
        got = model(tinygen.tensor(x), output_blocks=(0, 1, 2, 3))
    for index, (g, e) in enumerate(zip(got, expected)):
        _assert_close(g.cpu().numpy(), e.cpu().numpy(), f"block {index}")
