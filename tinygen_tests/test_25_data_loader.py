"""DataLoader: batching, seeded shuffling, exact resume, transforms, tensors."""
import numpy as np
import pytest

from tinygen.data import Compose, DataLoader, RandomCrop, RandomHorizontalFlip, ToFloat, to_float


def test_batches_cover_every_item_once_per_epoch():
    x = np.arange(10)
    loader = DataLoader(x, x * 10, batch_size=4, seed=1)
    batches = list(loader)
    assert len(loader) == 3 and [len(b[0]) for b in batches] == [4, 4, 2]
    seen = np.concatenate([b[0] for b in batches])
    assert sorted(seen.tolist()) == list(range(10)) and not np.array_equal(seen, x)
    assert all(np.array_equal(b[1], b[0] * 10) for b in batches)        # arrays stay aligned
    second = np.concatenate([b[0] for b in loader])                      # epoch 2: a new order
    assert loader.epoch == 2 and sorted(second.tolist()) == list(range(10))
    assert not np.array_equal(second, seen)
    assert [len(b) for b in DataLoader(x, batch_size=4, drop_last=True)] == [4, 4]
    assert np.array_equal(np.concatenate(list(DataLoader(x, batch_size=3, shuffle=False))), x)


def test_exact_resume_mid_epoch():
    x = np.random.default_rng(0).integers(0, 256, (23, 6, 6), dtype=np.uint8)
    make = lambda: DataLoader(x, batch_size=5, seed=7,                     # noqa: E731
                              transform=Compose([ToFloat(), RandomHorizontalFlip(), RandomCrop(6, 2)]))
    ref = make()
    stream = ref.forever()
    expected = [next(stream) for _ in range(12)]
    a = make()
    it = a.forever()
    first = [next(it) for _ in range(7)]
    state = a.state_dict()
    b = make()
    b.load_state_dict(state)
    it_b = b.forever()
    rest = [next(it_b) for _ in range(5)]
    for got, want in zip(first + rest, expected):
        assert np.array_equal(got, want)
    with pytest.raises(ValueError, match="does not fit"):
        DataLoader(x[:10], batch_size=5).load_state_dict(state)


def test_to_float_and_transforms():
    u = np.array([[[0, 255], [128, 64]]], dtype=np.uint8)                # (1, 2, 2)
    f = to_float(u)
    assert f.shape == (1, 1, 2, 2) and f.dtype == np.float32
    assert f[0, 0, 0, 0] == -1.0 and f[0, 0, 0, 1] == 1.0
    rgb = np.zeros((2, 4, 5, 3), np.uint8)
    assert to_float(rgb).shape == (2, 3, 4, 5)
    rng = np.random.default_rng(0)
    img = np.arange(2 * 1 * 3 * 4, dtype=np.float32).reshape(2, 1, 3, 4)
    flipped = RandomHorizontalFlip(p=1.0)(img, rng)
    assert np.array_equal(flipped, img[..., ::-1])
    assert np.array_equal(RandomHorizontalFlip(p=0.0)(img, rng), img)
    crop = RandomCrop(3, padding=1)(img, rng)
    assert crop.shape == (2, 1, 3, 3)
    # every crop is a window of the zero-padded image
    padded = np.pad(img, [(0, 0), (0, 0), (1, 1), (1, 1)])
    for i in range(2):
        assert any(np.array_equal(crop[i], padded[i, :, t:t + 3, l:l + 3]) for t in range(3) for l in range(4))
    loader = DataLoader(np.zeros((4, 2), np.float32), batch_size=2, transform=lambda b: b + 1)
    assert next(iter(loader)).max() == 1


def test_device_batches_are_tensors():
    import tinygen
    if not hasattr(tinygen, "tensor"):
        pytest.skip("engine not present")
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    xb, yb = next(iter(DataLoader(x, np.arange(3), batch_size=3, shuffle=False, device="cpu")))
    assert isinstance(xb, tinygen.Tensor) and np.array_equal(xb.cpu().numpy(), x)
    assert yb.cpu().numpy().dtype == np.int64
