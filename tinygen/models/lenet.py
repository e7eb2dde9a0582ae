"""A LeNet-style classifier: the small "domain" network behind domain FID and domain IS.

Reference:
    LeCun, Bottou, Bengio & Haffner, "Gradient-Based Learning Applied to Document Recognition",
        Proc. IEEE 86(11), 1998, Sec. II.B (LeNet-5: conv - subsample - conv - subsample - fc - fc).

Departures from LeNet-5, all deliberate and common in modern re-implementations:
    * ReLU instead of scaled tanh, max pooling instead of trainable sub-sampling;
    * "same" 5x5 convolutions (padding 2), so any H, W divisible by 4 works
      (28x28 digits, 32x32 or 64x64 shapes) and the grid after two pools is H/4 x W/4;
    * one hidden fully-connected layer (``fc1``) whose ReLU output is the *penultimate
      feature vector* phi(x) used for domain FID and k-NN precision/recall, like Inception's
      pool_3; ``fc2`` gives the logits whose softmax is used for domain IS.

Notation / Shapes (c1, c2 = widths, h = hidden):
    x        (N, C, H, W)          images, already normalised the way the classifier was trained
    conv1    (N, c1, H, W)   -> max pool 2 -> (N, c1, H/2, W/2)
    conv2    (N, c2, H/2, W/2) -> max pool 2 -> (N, c2, H/4, W/4)
    phi(x)   (N, h)                ReLU(fc1(flatten))   penultimate features
    logits   (N, K)                fc2(phi(x))
"""
from __future__ import annotations

from typing import Sequence

from tinygen import nn
from tinygen import functional as F
from tinygen.ops import flatten

__all__ = ["LeNet"]


class LeNet(nn.Module):
    """conv5x5 - ReLU - maxpool2 - conv5x5 - ReLU - maxpool2 - fc - ReLU - fc.

    Args:
        in_channels: 1 for digits/MNIST, 3 for colour images.
        num_classes: K, the number of labels of the dataset.
        image_size: H = W of the inputs (must be divisible by 4), fixes fc1's input size.
        widths: (c1, c2) channels of the two convolutions.
        hidden: h, size of the penultimate feature vector phi(x).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 widths: Sequence[int] = (16, 32), hidden: int = 128):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"LeNet: image_size must be divisible by 4 (two 2x2 pools), got "
                             f"{image_size}; resize or crop the images first")
        c1, c2 = widths
        self.in_channels, self.num_classes, self.image_size = in_channels, num_classes, image_size
        self.widths, self.hidden = (int(c1), int(c2)), int(hidden)
        self.conv1 = nn.Conv2d(in_channels, c1, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=5, padding=2)
        side = image_size // 4
        self.fc1 = nn.Linear(c2 * side * side, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def features(self, x):
        """Penultimate features phi(x). Shapes: (N, C, H, W) -> (N, hidden)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2:] != (
                self.image_size, self.image_size):
            raise ValueError(f"LeNet: expected images (N, {self.in_channels}, {self.image_size}, "
                             f"{self.image_size}), got shape {tuple(x.shape)}")
        h = F.max_pool2d(F.relu(self.conv1(x)), kernel_size=2)      # (N, c1, H/2, W/2)
        h = F.max_pool2d(F.relu(self.conv2(h)), kernel_size=2)      # (N, c2, H/4, W/4)
        return F.relu(self.fc1(flatten(h, start_dim=1)))            # (N, hidden)

    def forward(self, x):
        """Logits. Shapes: (N, C, H, W) -> (N, num_classes)."""
        return self.fc2(self.features(x))                           # (N, K)

    def extra_repr(self):
        return (f"in_channels={self.in_channels}, num_classes={self.num_classes}, "
                f"image_size={self.image_size}, widths={self.widths}, hidden={self.hidden}")
