"""Only tinygen/backend.py may import NumPy or CuPy by name.

Every other module asks the arrays it was given for their module
(``backend.get_array_module``) and takes dtypes from ``backend.numpy``, so the
same code runs on CPU and GPU. Exempt, by design: host-only code that never
touches device arrays (documented in docs/engine.md).
"""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "tinygen"
FORBIDDEN = {"numpy", "cupy", "cupyx"}

# Directories whose modules only handle host arrays (files, datasets, evaluation metrics).
EXEMPT_DIRS = {
    "data": "datasets and loaders read files into host arrays",
    "io": "images, GIFs, checkpoints and .pth files are host-side formats",
    "metrics": "evaluation on host arrays (FID, IS, precision/recall), never differentiated",
}
# Single files allowed to import numpy/cupy, each with its reason.
EXEMPT_FILES = {
    "backend.py": "the one place that imports the array libraries",
    "_simcuda.py": "the backend's stand-in for CuPy (TINYGEN_SIMULATE_CUDA=1), built on NumPy",
}


def _imported_roots(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def _engine_files():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in EXEMPT_DIRS or rel.as_posix() in EXEMPT_FILES:
            continue
        yield path


def test_no_module_but_backend_imports_numpy_or_cupy():
    offenders = []
    for path in _engine_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for lineno, root in _imported_roots(tree):
            if root in FORBIDDEN:
                offenders.append(f"tinygen/{path.relative_to(ROOT).as_posix()}:{lineno} imports {root}")
    assert not offenders, (
        "only tinygen/backend.py may import numpy/cupy; use `xp = backend.get_array_module(x)` "
        "for array functions and `backend.numpy` for dtypes:\n  " + "\n  ".join(offenders))


def test_the_checker_catches_every_spelling():
    src = "import numpy\nimport numpy as np\nfrom numpy import linalg\nimport cupy.cuda\nimport cupyx\n"
    roots = [r for _, r in _imported_roots(ast.parse(src))]
    assert roots == ["numpy", "numpy", "numpy", "cupy", "cupyx"]
    assert not [r for _, r in _imported_roots(ast.parse("from . import numpy_helpers\n"))]


def test_backend_itself_is_found():
    assert (ROOT / "backend.py").exists()
    assert any(p.name == "autograd.py" for p in _engine_files())


@pytest.mark.parametrize("name", ["tinygen", "tinygen.nn", "tinygen.functional", "tinygen.gradcheck"])
def test_public_modules_import(name):
    __import__(name)
