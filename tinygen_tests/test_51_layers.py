"""Imports only point downwards: the layer order of docs/architecture.md, read from the import graph.

Every ``import`` in tinygen/ (module level *and* inside functions, where lazy imports hide) is
resolved to the tinygen module it names and both ends are mapped to a layer of :data:`LAYERS`.
An import may point to its own layer or to one below it. The one deliberate exception, with its
reason, is :data:`UPWARD_ALLOWED`. Inside methods/, a method may import another one (WGAN-GP
reuses WGAN's generator step), but the imports among methods must not form a cycle.

This file is the one place the layer table lives; docs/architecture.md mirrors it and
:func:`test_docs_mirror_the_layer_table` keeps the two in step.
"""
from __future__ import annotations

import ast
import pathlib
import re
from typing import Dict, Iterator, List, Tuple

REPO = pathlib.Path(__file__).resolve().parent.parent
ROOT = REPO / "tinygen"

# Top to bottom: (layer, module prefixes). A module belongs to the layer of its longest
# matching prefix; ``tinygen`` alone is tinygen/__init__.py, the PyTorch-shaped namespace that
# re-exports the tensor API and loads nn, optim and utils, so it sits just above nn/optim.
LAYERS: List[Tuple[str, Tuple[str, ...]]] = [
    ("entry points", ("tinygen.cli", "tinygen.__main__")),
    ("methods", ("tinygen.methods",)),
    # Evaluation metrics above models: FID, IS and the domain metrics need a feature network
    # (InceptionV3FID, LeNet); models never need a metric.
    ("metrics", ("tinygen.metrics",)),
    ("models", ("tinygen.models",)),
    ("losses", ("tinygen.losses",)),
    # The package itself is PyTorch's `torch` namespace: `import tinygen` loads nn, optim,
    # utils.data, save/load (as `import torch` does), so it sits above everything it re-exports.
    # Its facade modules for torch.cuda / torch.backends / torch.accelerator sit with it.
    ("package root", ("tinygen", "tinygen.cuda", "tinygen.backends", "tinygen.accelerator")),
    ("nn, optim", ("tinygen.nn", "tinygen.optim")),
    ("functional", ("tinygen.functional", "tinygen.gradcheck")),
    # Host-side utilities: files, images and plots, datasets and the loader. They may turn
    # arrays into tensors (DataLoader) but never build, train or evaluate a network.
    ("data, io", ("tinygen.data", "tinygen.io", "tinygen.configdoc", "tinygen.utils")),
    ("ops", ("tinygen.ops",)),
    ("autograd", ("tinygen.autograd", "tinygen.creation")),
    ("backend", ("tinygen.backend", "tinygen._simcuda", "tinygen.torchnames")),
]

# (importing module, imported module): why this import may point upwards.
UPWARD_ALLOWED: Dict[Tuple[str, str], str] = {
    ("tinygen.autograd", "tinygen.ops"):
        "Tensor's operators and methods (x + y, x.sum()) call the ops, which are built on "
        "Tensor and Function; imported at the end of autograd.py, once both exist",
}


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    """Index into LAYERS (0 = top) of the longest prefix matching ``module``."""
    best, best_len = None, -1
    for rank, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            inside = module.startswith(p + ".") and p != "tinygen"   # the root: itself only
            if (module == p or inside) and len(p) > best_len:
                best, best_len = rank, len(p)
    if best is None:
        raise KeyError(f"{module} has no layer: add it to LAYERS in tinygen_tests/test_51_layers.py "
                       "and to the table in docs/architecture.md")
    return best


def imports(module: str, is_package: bool, source: str,
            known: set) -> Iterator[Tuple[int, str]]:
    """(line, imported tinygen module) for every import statement anywhere in ``source``.

    ``from X import name`` names the module X.name when that is a module, else X itself;
    a name that is not a module resolves to its nearest enclosing module in ``known``.
    """
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] != "tinygen":
                continue
            while target not in known and "." in target:
                target = target.rpartition(".")[0]
            yield node.lineno, target


def tinygen_sources() -> Dict[str, Tuple[str, bool, str]]:
    """module -> (path relative to the repository, is a package, source)."""
    return {module_name(p): (p.relative_to(REPO).as_posix(), p.name == "__init__.py",
                             p.read_text(encoding="utf-8"))
            for p in sorted(ROOT.rglob("*.py"))}


def import_graph(sources) -> List[Tuple[str, str, int, str]]:
    """Every edge (path, importer, line, imported module) between tinygen modules."""
    known = set(sources)
    return [(path, module, line, target)
            for module, (path, is_package, text) in sources.items()
            for line, target in imports(module, is_package, text, known)]


def layer_violations(sources) -> List[str]:
    problems = []
    for path, module, line, target in import_graph(sources):
        try:
            src, dst = layer_of(module), layer_of(target)
        except KeyError as e:
            problems.append(f"{path}:{line}: {e.args[0]}")
            continue
        if dst < src and (module, target) not in UPWARD_ALLOWED:
            problems.append(f"{path}:{line}: {module} (layer '{LAYERS[src][0]}') imports "
                            f"{target} (layer '{LAYERS[dst][0]}', above it)")
    return problems


def methods_cycles(sources) -> List[List[str]]:
    """The import cycles among tinygen.methods modules (each as a closed path)."""
    edges: Dict[str, set] = {}
    for _, module, _, target in import_graph(sources):
        if module.startswith("tinygen.methods.") and target.startswith("tinygen.methods."):
            if module != target:
                edges.setdefault(module, set()).add(target)
    cycles, done = [], set()

    def visit(node, stack):
        if node in stack:
            cycles.append(stack[stack.index(node):] + [node])
            return
        if node in done:
            return
        for nxt in sorted(edges.get(node, ())):
            visit(nxt, stack + [node])
        done.add(node)

    for start in sorted(edges):
        visit(start, [])
    return cycles


# --------------------------------------------------------------------------
# the checks on the real tree
# --------------------------------------------------------------------------

def test_every_import_points_to_the_same_or_a_lower_layer():
    problems = layer_violations(tinygen_sources())
    assert not problems, ("imports must point downwards (layers, top to bottom: "
                          + " -> ".join(name for name, _ in LAYERS) + "):\n  "
                          + "\n  ".join(problems))


def test_no_import_cycle_among_methods():
    cycles = methods_cycles(tinygen_sources())
    assert not cycles, ("a method may import another only where the papers build on each other, "
                        "and never in a circle:\n  " + "\n  ".join(" -> ".join(c) for c in cycles))


def test_methods_never_import_the_cli():
    offenders = [f"{path}:{line}: {module} imports {target}"
                 for path, module, line, target in import_graph(tinygen_sources())
                 if module.startswith("tinygen.methods") and layer_of(target) == 0]
    assert not offenders, "methods are called by the cli, never the reverse:\n  " + "\n  ".join(offenders)


def test_every_module_has_a_layer_and_the_exceptions_are_real():
    sources = tinygen_sources()
    for module in sources:
        layer_of(module)
    edges = {(module, target) for _, module, _, target in import_graph(sources)}
    stale = [pair for pair in UPWARD_ALLOWED if pair not in edges]
    assert not stale, f"UPWARD_ALLOWED lists imports that no longer exist: {stale}"


def test_docs_mirror_the_layer_table():
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\|\s*([^|]+?)\s*\|", section, flags=re.M)
    names = [r for r in rows if not set(r) <= set("-: ") and r.lower() != "layer"]
    assert names == [name for name, _ in LAYERS], (
        "the layer table in docs/architecture.md (first column, top to bottom) must list "
        f"the layers of tinygen_tests/test_51_layers.py in order; docs: {names}")


# --------------------------------------------------------------------------
# the checker itself
# --------------------------------------------------------------------------

def _fake(modules: Dict[str, str]):
    return {m: (m.replace(".", "/") + ".py", False, src) for m, src in modules.items()}


def test_the_checker_finds_function_level_relative_and_from_imports():
    sources = _fake({
        "tinygen.ops.fake": "import math\n\ndef f():\n    from tinygen.nn import layers\n",
        "tinygen.nn.layers": "from ..ops import fake\nfrom tinygen import backend\n",
        "tinygen.nn": "", "tinygen.ops": "", "tinygen.backend": "",
    })
    problems = layer_violations(sources)
    assert problems == ["tinygen/ops/fake.py:4: tinygen.ops.fake (layer 'ops') imports "
                        "tinygen.nn.layers (layer 'nn, optim', above it)"]


def test_the_checker_maps_names_and_finds_cycles():
    assert LAYERS[layer_of("tinygen")][0] == "package root"
    assert LAYERS[layer_of("tinygen.metrics.fid")][0] == "metrics"
    assert LAYERS[layer_of("tinygen.io.plot")][0] == "data, io"
    try:
        layer_of("tinygen.newthing")
    except KeyError as e:
        assert "add it to LAYERS" in e.args[0]
    else:
        raise AssertionError("an unmapped module must be an error")
    sources = _fake({"tinygen.methods.a": "def f():\n    from tinygen.methods import b\n",
                     "tinygen.methods.b": "import tinygen.methods.a\n",
                     "tinygen.methods.c": "from tinygen.methods.a import f\n"})
    assert methods_cycles(sources) == [["tinygen.methods.a", "tinygen.methods.b",
                                        "tinygen.methods.a"]]
