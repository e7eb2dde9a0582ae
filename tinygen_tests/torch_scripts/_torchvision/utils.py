"""save_image / make_grid: tinygen.io's, which follow torchvision's semantics."""
from tinygen.io import images


def make_grid(tensor, nrow=8, padding=2, normalize=False, value_range=None, pad_value=0.0, **kw):
    return images.make_grid(tensor, nrow=nrow, normalize=normalize, value_range=value_range,
                            padding=padding, pad_value=pad_value)


def save_image(tensor, fp, nrow=8, padding=2, normalize=False, value_range=None, pad_value=0.0,
               **kw):
    images.save_image_grid(tensor, fp, nrow=nrow, normalize=normalize, value_range=value_range)
