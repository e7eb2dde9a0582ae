"""PyTorch's ``torch.utils``: the map-style datasets and their loader live in ``utils.data``."""
from tinygen.utils import data  # noqa: F401
