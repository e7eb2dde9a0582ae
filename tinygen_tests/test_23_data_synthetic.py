"""Generated datasets: toys know their modes, shapes' labels match pixels, digits are learnable."""
import numpy as np
import pytest

from tinygen.data import (load_dataset, paired, select, domain_pair, synthetic_digits,
                          synthetic_shapes)


@pytest.mark.parametrize("name,k,std", [("ring8", 8, 0.02), ("grid25", 25, 0.05)])
def test_toy_points_near_a_centre_and_all_modes_present(name, k, std):
    ds = load_dataset(name, n=4000, seed=3)
    assert ds.x.dtype == np.float32 and ds.x.shape == (4000, 2)
    assert ds.centres.shape == (k, 2) and ds.std == std
    d = np.linalg.norm(ds.x[:, None, :] - ds.centres[None], axis=-1)   # (N, K)
    assert (d.min(axis=1) < 4 * std * 1.5).all()      # 2-D radius: chi(2) tail, 6 std is safe
    assert np.array_equal(d.argmin(axis=1), ds.y)
    assert len(np.unique(ds.y)) == k


def test_toy_geometry():
    r = load_dataset("ring8")
    np.testing.assert_allclose(np.linalg.norm(r.centres, axis=1), 2.0)
    g = load_dataset("grid25")
    assert sorted(set(g.centres[:, 0])) == [-4, -2, 0, 2, 4]
    assert np.abs(load_dataset("swissroll", n=500).x).max() < 3.5
    m = load_dataset("moons", n=500)
    assert set(np.unique(m.y)) == {0, 1}
    g1 = load_dataset("gmm1d", n=300)
    assert g1.x.shape == (300, 1) and g1.centres.shape == (3, 1)


def test_seeds_and_splits():
    a, b = load_dataset("ring8", n=50, seed=1), load_dataset("ring8", n=50, seed=1)
    assert np.array_equal(a.x, b.x)
    assert not np.array_equal(a.x, load_dataset("ring8", n=50, seed=2).x)
    assert not np.array_equal(a.x, load_dataset("ring8", n=50, seed=1, split="test").x)


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="valid names: .*ring8.*mnist.*npz:PATH"):
        load_dataset("ring9")
    with pytest.raises(ValueError, match="size"):
        load_dataset("ring8", size=32)


def test_shapes_labels_match_pixels():
    ds = synthetic_shapes(400, seed=0, size=32)
    lab = ds.labels
    assert ds.x.shape == (400, 32, 32, 3) and ds.x.dtype == np.uint8
    assert np.array_equal(ds.y, lab["shape"])
    fg = (ds.x.max(axis=-1) > 60)
    count = fg.sum(axis=(1, 2))
    ink = ds.x.max(axis=-1).astype(float).sum(axis=(1, 2)) / 255   # covered pixels, antialiasing counted
    # filled shapes cover more pixels than outlined ones of the same shape and size
    for s in range(4):
        for z in range(2):
            m = (lab["shape"] == s) & (lab["size"] == z)
            assert ink[m & (lab["filled"] == 1)].mean() > 1.2 * ink[m & (lab["filled"] == 0)].mean()
    # large > small among filled shapes
    f = lab["filled"] == 1
    assert ink[f & (lab["size"] == 1)].mean() > 2 * ink[f & (lab["size"] == 0)].mean()
    # the centroid of the foreground follows pos_x / pos_y
    ys, xs = np.mgrid[:32, :32]
    cx = (fg * xs).sum(axis=(1, 2)) / count
    cy = (fg * ys).sum(axis=(1, 2)) / count
    for p in range(3):
        assert abs(cx[lab["pos_x"] == p].mean() - 32 * (0.5 + 0.18 * (p - 1))) < 1.5
        assert abs(cy[lab["pos_y"] == p].mean() - 32 * (0.5 + 0.18 * (p - 1))) < 1.5
    # the dominant colour channel follows the colour label (red=0, green=1, blue=2)
    for c, ch in ((0, 0), (1, 1), (2, 2)):
        m = lab["colour"] == c
        sums = (ds.x[m].astype(float) * fg[m][..., None]).sum(axis=(0, 1, 2))
        assert sums.argmax() == ch


def test_shapes_options_select_and_domains():
    g = load_dataset("shapes", n=20, size=28, channels=1)
    assert g.x.shape == (20, 28, 28)
    assert load_dataset("shapes", n=4, size=64).x.shape == (4, 64, 64, 3)
    ds = synthetic_shapes(60, colours=("red", "blue"))
    assert set(np.unique(ds.labels["colour"])) <= {0, 2}
    circles = select(ds, shape="circle")
    assert len(circles) > 0 and (circles.y == 0).all() and (circles.labels["shape"] == 0).all()
    a, b = domain_pair("shape", "circle", "square", n=10)
    assert (a.y == 0).all() and (b.y == 1).all()
    with pytest.raises(ValueError, match="valid"):
        synthetic_shapes(2, colours=("purple",))


def test_digits_shape_centred_and_nearest_mean_classifier():
    train = synthetic_digits(600, seed=0)
    test = synthetic_digits(300, seed=1)
    assert train.x.dtype == np.uint8 and train.x.shape == (600, 28, 28) and train.y.dtype == np.int64
    assert np.bincount(train.y).min() == 60
    # MNIST-like framing: (almost always) an empty 1-pixel frame, centre of mass near the centre
    frame = np.concatenate([train.x[:, [0, -1]].reshape(600, -1), train.x[:, :, [0, -1]].reshape(600, -1)], 1)
    assert (frame.max(axis=1) == 0).mean() > 0.95
    assert (train.x > 128).mean() > 0.08        # thick strokes (MNIST: 0.13)
    w = train.x.astype(float)
    ys, xs = np.mgrid[:28, :28]
    cy = (w * ys).sum(axis=(1, 2)) / w.sum(axis=(1, 2))
    cx = (w * xs).sum(axis=(1, 2)) / w.sum(axis=(1, 2))
    assert np.abs(cy - 13.5).max() < 2.0 and np.abs(cx - 13.5).max() < 2.0
    # distinguishable: a nearest-class-mean classifier generalises to another seed
    f = lambda x: x.reshape(len(x), -1).astype(float) / 255.0   # noqa: E731
    means = np.stack([f(train.x[train.y == k]).mean(0) for k in range(10)])
    pred = ((f(test.x)[:, None] - means[None]) ** 2).sum(-1).argmin(1)
    acc = (pred == test.y).mean()
    assert acc > 0.9, acc


def test_paired_tasks():
    imgs = synthetic_shapes(6, size=32).x
    low, high = paired.super_resolution_pairs(imgs, scale=4)
    assert low.shape == (6, 8, 8, 3) and high.shape == (6, 32, 32, 3)
    assert abs(low.astype(float).mean() - high.astype(float).mean()) < 6
    gray, colour = paired.colorization_pairs(imgs)
    assert gray.shape == (6, 32, 32) and colour is imgs or np.array_equal(colour, imgs)
    edges, _ = paired.edges_pairs(imgs)
    assert set(np.unique(edges)) <= {0, 255} and edges.max() == 255
    masked, target, mask = paired.inpainting_pairs(imgs, seed=0, min_frac=0.25, max_frac=0.5)
    assert (masked[mask] == 0).all() and np.array_equal(masked[~mask], target[~mask])
    frac = mask.mean(axis=(1, 2))
    assert ((frac >= 0.25 ** 2 - 0.02) & (frac <= 0.25 + 0.02)).all()
    noisy, clean = paired.denoising_pairs(imgs, sigma=0.1, seed=0, clip=False)
    assert noisy.dtype == np.float32 and abs((noisy - clean).std() - 0.1) < 0.01
    with pytest.raises(ValueError, match="unknown paired task"):
        paired.make_pairs("nope", imgs)
