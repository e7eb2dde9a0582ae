"""Translation networks (models/translation.py): U-Net, PatchGAN and its receptive field, ResNet G.

Shapes at 32/64/256 px, the receptive field by formula and by brute force (which input pixels
get a non-zero gradient from one output logit), float64 first- and second-order gradchecks of
tiny instances, and PyTorch oracles: the same architecture written in torch, weights copied
through the state dict (the key names must match), outputs compared in float64.
"""
import numpy as np
import pytest

import tinygen as tg
from tinygen.gradcheck import check_module
from tinygen.models import PatchGANDiscriminator, ResNetGenerator, UNetGenerator, receptive_field
from tinygen.models.translation import ResNetBlock, resnet_blocks_for, unet_depth_for
from tinygen_tests.conftest import assert_array_equal, host, on_default_device


def _x(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(dtype)


# ----------------------------------------------------------------------------
# shapes and sizes
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("size, depth", [(32, 5), (64, 6), (256, 8)])
def test_unet_depth_from_size_and_shapes(size, depth):
    assert unet_depth_for(size) == depth
    g = UNetGenerator(3, 1, size=size, ngf=4)
    assert g.depth == depth and len(g.down) == depth and len(g.up) == depth
    y = g(tg.tensor(_x((2, 3, size, size))))
    assert y.shape == (2, 1, size, size)
    assert float(abs(y).max().item()) <= 1.0                          # tanh output


def test_unet_paper_widths_dropout_and_norms():
    """256 px: encoder C64-C128-C256-C512x5, decoder CD512-CD1024-CD1024-C1024-C1024-C512-C256-
    C128 (its inputs, after concatenation); dropout in the three innermost decoder layers; no
    norm on e1 and e8. Built with ngf 8 (the paper's 64 / 8, to keep the test light)."""
    g = UNetGenerator(3, 3, size=256, ngf=8)
    outs = [blk[-1 if i == 0 else 1].out_channels * 8 for i, blk in enumerate(g.down)]
    assert outs == [64, 128, 256, 512, 512, 512, 512, 512]
    ins = [next(m for m in blk if isinstance(m, tg.nn.ConvTranspose2d)).in_channels * 8
           for blk in g.up]
    assert ins == [512, 1024, 1024, 1024, 1024, 512, 256, 128]
    drop = [any(isinstance(m, tg.nn.Dropout) for m in blk) for blk in g.up]
    assert drop == [True, True, True, False, False, False, False, False]
    normed = [any(isinstance(m, tg.nn.BatchNorm2d) for m in blk) for blk in g.down]
    assert normed == [False] + [True] * 6 + [False]


def test_unet_rejects_sizes_it_cannot_halve():
    with pytest.raises(ValueError, match="divisible by 32"):
        UNetGenerator(1, 1, size=32, ngf=2)(tg.tensor(_x((1, 1, 24, 24))))
    with pytest.raises(ValueError, match="even image side"):
        unet_depth_for(31)


@pytest.mark.parametrize("size", [32, 64, 256])
def test_patchgan_conditional_and_plain_shapes(size):
    a, b = tg.tensor(_x((2, 1, size, size))), tg.tensor(_x((2, 3, size, size), 1))
    d = PatchGANDiscriminator(4, ndf=4)
    side = size // 8 - 2                                               # 3 stride-2, 2 stride-1
    assert d(a, b).shape == (2, 1, side, side)
    side1 = size // 2 - 2                                              # 1 stride-2, 2 stride-1
    assert PatchGANDiscriminator(3, ndf=4, n_layers=1)(b).shape == (2, 1, side1, side1)
    with pytest.raises(ValueError, match="4 input channels in total"):
        d(b)


@pytest.mark.parametrize("size, blocks", [(32, 4), (128, 6), (256, 9)])
def test_resnet_generator_shapes(size, blocks):
    assert resnet_blocks_for(size) == blocks
    g = ResNetGenerator.for_size(size, 3, 3, ngf=4)
    assert sum(isinstance(m, ResNetBlock) for m in g.main) == blocks
    if size <= 64:
        y = g(tg.tensor(_x((2, 3, size, size))))
        assert y.shape == (2, 3, size, size)
    assert ResNetGenerator.for_size(32).main[1].out_channels == 32    # the small variant
    assert ResNetGenerator.for_size(256).main[1].out_channels == 64


# ----------------------------------------------------------------------------
# receptive field
# ----------------------------------------------------------------------------

def test_receptive_field_formula():
    assert receptive_field(3) == 70                                    # the paper's 70x70
    assert receptive_field(PatchGANDiscriminator(6)) == 70
    assert [receptive_field(n) for n in (0, 1, 2, 4)] == [10, 16, 34, 142]
    assert PatchGANDiscriminator(2, n_layers=1).receptive_field() == 16


@pytest.mark.parametrize("n_layers, size", [(1, 48), (2, 64), (3, 128)])
def test_receptive_field_by_gradient_support(n_layers, size):
    """One interior output logit's gradient w.r.t. the input is non-zero on exactly an r x r
    square (float64, no norm so pixels do not talk through batch statistics)."""
    d = PatchGANDiscriminator(1, ndf=2, n_layers=n_layers, norm="none").double()
    x = tg.tensor(_x((1, 1, size, size), 3, np.float64), requires_grad=True)
    y = d(x)                                                           # (1, 1, h, w)
    h = y.shape[2]
    mask = np.zeros(y.shape)
    mask[0, 0, h // 2, h // 2] = 1.0
    (g,) = tg.grad((y * tg.tensor(mask)).sum(), [x])
    rows, cols = np.nonzero(np.abs(g.data[0, 0]) > 0)
    r = receptive_field(n_layers)
    assert rows.min() > 0 and rows.max() < size - 1                   # interior: not clipped
    assert rows.max() - rows.min() + 1 == r and cols.max() - cols.min() + 1 == r
    assert len(rows) == r * r


# ----------------------------------------------------------------------------
# float64 gradchecks (first and second order, random upstream gradients)
# ----------------------------------------------------------------------------

def _jitter(m, seed, scale=0.4):
    rng = np.random.default_rng(seed)
    for p in m.parameters():
        p.data[...] = on_default_device(rng.standard_normal(p.shape) * scale)
    return m


def test_tiny_unet_gradcheck():
    """Depth 2 (one skip concatenation), batch norm in training mode, no dropout."""
    g = _jitter(UNetGenerator(1, 1, ngf=1, depth=2, size=4, dropout=0.0), 4)
    assert all(r.passed for r in check_module(g, _x((2, 1, 4, 4), 5, np.float64)))


def test_tiny_patchgan_gradcheck():
    d = _jitter(PatchGANDiscriminator(2, ndf=1, n_layers=1), 6)
    assert all(r.passed for r in check_module(d, _x((2, 2, 6, 6), 7, np.float64)))


@pytest.mark.parametrize("norm, shape", [("instance", (1, 2, 3, 3)), ("batch", (2, 1, 3, 3))])
def test_resnet_block_gradcheck(norm, shape):
    """The ResNet generator's own part (its other layers are checked one by one elsewhere and
    together by the torch oracle below): the reflection-padded residual block."""
    b = _jitter(ResNetBlock(shape[1], norm=norm), 8)
    assert all(r.passed for r in check_module(b, _x(shape, 9, np.float64)))


# ----------------------------------------------------------------------------
# PyTorch oracles: the same architectures in torch, state dicts copied by name
# ----------------------------------------------------------------------------

def _torch_nets():
    torch = pytest.importorskip("torch")
    tnn = torch.nn

    def norm(kind, c):
        return {"batch": [tnn.BatchNorm2d(c)], "instance": [tnn.InstanceNorm2d(c)],
                "none": []}[kind]

    class TUNet(tnn.Module):                              # pix2pix App. 6.1.1, written for torch
        def __init__(self, cin, cout, depth, ngf, kind):
            super().__init__()
            w = [ngf * min(2 ** i, 8) for i in range(depth)]
            self.down, self.up = tnn.ModuleList(), tnn.ModuleList()
            for i in range(depth):
                inner = 0 < i < depth - 1 and kind != "none"
                self.down.append(tnn.Sequential(*([] if i == 0 else [tnn.LeakyReLU(0.2)]),
                                                tnn.Conv2d(cin if i == 0 else w[i - 1], w[i], 4, 2,
                                                           1, bias=not inner),
                                                *(norm(kind, w[i]) if inner else [])))
            for i in reversed(range(depth)):
                c = w[i] if i == depth - 1 else 2 * w[i]
                if i == 0:
                    self.up.append(tnn.Sequential(tnn.ReLU(), tnn.ConvTranspose2d(c, cout, 4, 2, 1),
                                                  tnn.Tanh()))
                else:
                    self.up.append(tnn.Sequential(tnn.ReLU(), tnn.ConvTranspose2d(
                        c, w[i - 1], 4, 2, 1, bias=kind == "none"), *norm(kind, w[i - 1])))

        def forward(self, x):
            e = []
            for layer in self.down:
                x = layer(x)
                e.append(x)
            x = self.up[0](e.pop())
            for layer in self.up[1:]:
                x = layer(torch.cat([x, e.pop()], 1))
            return x

    def patchgan(cin, ndf, n, kind):
        layers = [tnn.Conv2d(cin, ndf, 4, 2, 1), tnn.LeakyReLU(0.2)]
        c = ndf
        for i in range(1, n + 1):
            o = ndf * min(2 ** i, 8)
            layers += [tnn.Conv2d(c, o, 4, 2 if i < n else 1, 1, bias=kind == "none"),
                       *norm(kind, o), tnn.LeakyReLU(0.2)]
            c = o
        m = tnn.Module()
        m.main = tnn.Sequential(*layers, tnn.Conv2d(c, 1, 4, 1, 1))
        m.forward = lambda *xs: m.main(torch.cat(xs, 1))
        return m

    class TBlock(tnn.Module):
        def __init__(self, c, kind):
            super().__init__()
            b = kind == "none"
            self.net = tnn.Sequential(tnn.ReflectionPad2d(1), tnn.Conv2d(c, c, 3, bias=b),
                                      *norm(kind, c), tnn.ReLU(), tnn.ReflectionPad2d(1),
                                      tnn.Conv2d(c, c, 3, bias=b), *norm(kind, c))

        def forward(self, x):
            return x + self.net(x)

    def resnet(cin, cout, ngf, blocks, n_down, kind):
        b = kind == "none"
        layers = [tnn.ReflectionPad2d(3), tnn.Conv2d(cin, ngf, 7, bias=b), *norm(kind, ngf),
                  tnn.ReLU()]
        c = ngf
        for _ in range(n_down):
            layers += [tnn.Conv2d(c, 2 * c, 3, 2, 1, bias=b), *norm(kind, 2 * c), tnn.ReLU()]
            c *= 2
        layers += [TBlock(c, kind) for _ in range(blocks)]
        for _ in range(n_down):
            layers += [tnn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1, bias=b),
                       *norm(kind, c // 2), tnn.ReLU()]
            c //= 2
        m = tnn.Module()
        m.main = tnn.Sequential(*layers, tnn.ReflectionPad2d(3), tnn.Conv2d(c, cout, 7), tnn.Tanh())
        m.forward = lambda x: m.main(x)
        return m

    return torch, TUNet, patchgan, resnet


def _compare(torch, ours, theirs, inputs, train):
    ours.double()
    theirs.double()
    sd = {k: torch.from_numpy(np.array(host(v))) for k, v in ours.state_dict().items()}
    assert sorted(sd) == sorted(theirs.state_dict())                  # same names, same layers
    theirs.load_state_dict(sd, strict=True)
    ours.train(train)
    theirs.train(train)
    y = host(ours(*[tg.tensor(x) for x in inputs]))
    with torch.no_grad():
        yt = theirs(*[torch.from_numpy(x) for x in inputs]).numpy()
    np.testing.assert_allclose(y, yt, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("norm, train", [("batch", True), ("batch", False), ("instance", True),
                                         ("none", True)])
def test_unet_matches_torch(norm, train):
    torch, TUNet, _, _ = _torch_nets()
    ours = _jitter(UNetGenerator(2, 3, size=32, ngf=4, norm=norm, dropout=0.0), 10, 0.2)
    theirs = TUNet(2, 3, 5, 4, norm)
    _compare(torch, ours, theirs, [_x((3, 2, 32, 32), 11, np.float64)], train)


def test_unet_dropout_is_noise_in_train_mode_and_off_in_eval():
    g = UNetGenerator(1, 1, size=32, ngf=4)
    a = tg.tensor(_x((2, 1, 32, 32), 12))
    assert not np.allclose(host(g(a)), host(g(a)))                      # dropout: two samples differ
    g.eval()
    assert_array_equal(g(a), g(a))


@pytest.mark.parametrize("norm, n_layers", [("batch", 3), ("instance", 2), ("none", 1)])
def test_patchgan_matches_torch(norm, n_layers):
    torch, _, patchgan, _ = _torch_nets()
    ours = _jitter(PatchGANDiscriminator(3, ndf=4, n_layers=n_layers, norm=norm), 13, 0.2)
    theirs = patchgan(3, 4, n_layers, norm)
    _compare(torch, ours, theirs, [_x((2, 1, 32, 32), 14, np.float64),
                                   _x((2, 2, 32, 32), 15, np.float64)], True)


@pytest.mark.parametrize("norm", ["instance", "batch", "none"])
def test_resnet_generator_matches_torch(norm):
    torch, _, _, resnet = _torch_nets()
    ours = _jitter(ResNetGenerator(3, 2, ngf=4, n_blocks=2, norm=norm), 16, 0.2)
    theirs = resnet(3, 2, 4, 2, 2, norm)
    _compare(torch, ours, theirs, [_x((2, 3, 16, 12), 17, np.float64)], True)
