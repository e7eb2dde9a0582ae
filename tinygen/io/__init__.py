"""Host-side input/output: image grids, plots and GIFs (``io.plot``), progress, checkpoints,
.pth files.

Everything here works on host NumPy arrays (tensors are accepted through ``.numpy()``)
and every file is written atomically (temporary file + ``os.replace``).
"""
from tinygen.io.checkpoint import CheckpointError, load_checkpoint, restore_checkpoint, save_checkpoint
from tinygen.io.download import DownloadError, download
from tinygen.io.files import atomic_path, atomic_write_bytes, cache_dir
from tinygen.io.images import load_image, make_grid, read_image, save_image, save_image_grid
from tinygen.io.plot import save_gif
from tinygen.io.progress import Progress
from tinygen.io.torch_pth import TorchFileError, UnsafePickleError, load_torch_file, load_torch_state_dict
from tinygen.io.weights import get_weights, weights_main

__all__ = [
    "CheckpointError", "DownloadError", "Progress", "TorchFileError", "UnsafePickleError",
    "atomic_path", "atomic_write_bytes", "cache_dir", "download", "get_weights", "load_checkpoint",
    "load_image", "load_torch_file", "load_torch_state_dict", "make_grid", "read_image",
    "restore_checkpoint", "save_checkpoint", "save_gif", "save_image", "save_image_grid",
    "weights_main",
]
