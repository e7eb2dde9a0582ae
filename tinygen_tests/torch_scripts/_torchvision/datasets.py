"""MNIST (tinygen's synthetic digits, ``STUB_SIZE`` of them) and FakeData, map-style."""
import os

import numpy as np

from tinygen.data import synthetic_digits

STUB_SIZE = int(os.environ.get("TINYGEN_TORCHVISION_STUB_SIZE", "64"))


class MNIST:
    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        ds = synthetic_digits(n=STUB_SIZE, seed=0 if train else 1)
        self.data, self.targets = ds.x, ds.y.astype(np.int64)     # uint8 (N, 28, 28), (N,)
        self.transform = transform

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        img = self.data[i]
        return (self.transform(img) if self.transform else img), int(self.targets[i])


class FakeData:
    def __init__(self, size=1000, image_size=(3, 224, 224), num_classes=10, transform=None,
                 target_transform=None, random_offset=0):
        size = min(size, STUB_SIZE)
        rng = np.random.default_rng(random_offset)
        c, h, w = image_size
        self.images = rng.integers(0, 256, (size, h, w, c), dtype=np.uint8)
        self.targets = rng.integers(0, num_classes, size)
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = self.images[i]
        return (self.transform(img) if self.transform else img), int(self.targets[i])
