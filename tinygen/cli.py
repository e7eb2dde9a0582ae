"""The ``tinygen`` command (also ``python -m tinygen``).

    tinygen run METHOD [--dataset NAME] [--steps N] ... [method options]
    tinygen demo NAME [--out DIR]
    tinygen gradcheck MODULE:OBJECT --shape 2,3,8,8 [--second-order]
    tinygen weights list | path NAME | download NAME [--path FILE]
    (and the commands listed in COMMANDS)

``run`` options are generated from each method's ``Config`` dataclass, so
``tinygen run gan --help`` always shows the real defaults.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import json
import os
import sys
import typing

# Commands implemented elsewhere: name -> "module:function(argv) -> exit code".
COMMANDS = {
    "weights": "tinygen.io.weights:weights_main",
    "fid": "tinygen.metrics.fid_cli:main",
    "style": "tinygen.methods.style_transfer:main",
}

# Demos: name -> "module:function(argv) -> exit code".
DEMOS = {
    "gan2d": "tinygen.methods.gan2d:demo_main",
    "visualize": "tinygen.methods.visualize:demo_main",
    "vae": "tinygen.methods.vae:demo_main",
}


def _load(spec: str):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


# --------------------------------------------------------------------------
# tinygen run METHOD
# --------------------------------------------------------------------------

def _field_type(field, hints):
    t = hints.get(field.name, str)
    origin = typing.get_origin(t)
    if origin is typing.Union:               # Optional[X]
        t = next(a for a in typing.get_args(t) if a is not type(None))
        origin = typing.get_origin(t)
    if origin in (tuple, list):
        return "sequence", typing.get_args(t)[0] if typing.get_args(t) else float
    return "scalar", t


def config_parser(config_cls, prog: str) -> argparse.ArgumentParser:
    """An argparse parser with one ``--option`` per dataclass field (defaults shown)."""
    parser = argparse.ArgumentParser(prog=prog, description=(config_cls.__doc__ or "").strip(),
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        flag = "--" + field.name.replace("_", "-")
        default = field.default if field.default is not dataclasses.MISSING else (
            field.default_factory() if field.default_factory is not dataclasses.MISSING else None)
        kind, t = _field_type(field, hints)
        if t is bool:
            parser.add_argument(flag, dest=field.name, default=default,
                                action=argparse.BooleanOptionalAction)
        elif kind == "sequence":
            parser.add_argument(flag, dest=field.name, default=default, nargs="+", type=t)
        else:
            parser.add_argument(flag, dest=field.name, default=default,
                                type=t if t in (int, float, str) else str)
    return parser


def run_main(argv) -> int:
    from tinygen.methods import METHODS
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: tinygen run METHOD [options]\n\nmethods: " + ", ".join(sorted(METHODS)))
        return 0
    name, rest = argv[0], argv[1:]
    if name not in METHODS:
        print(f"tinygen run: unknown method {name!r}; choose from {', '.join(sorted(METHODS))}",
              file=sys.stderr)
        return 2
    module = importlib.import_module(METHODS[name])
    args = config_parser(module.Config, f"tinygen run {name}").parse_args(rest)
    config = module.Config(**{k: (tuple(v) if isinstance(v, list) else v)
                              for k, v in vars(args).items()})
    out = module.train(config)
    print(f"run folder: {out}")
    return 0


# --------------------------------------------------------------------------
# tinygen gradcheck MODULE:OBJECT
# --------------------------------------------------------------------------

def _import_object(spec: str):
    """``pkg.module:Name`` or ``path/to/file.py:Name`` -> the object."""
    target, sep, name = spec.rpartition(":")
    if not sep or not target or not name:
        raise SystemExit(f"tinygen gradcheck: expected MODULE:OBJECT, got {spec!r} "
                         "(e.g. demos.custom_layer:Swish or demos/custom_layer.py:Swish)")
    if target.endswith(".py"):
        if not os.path.isfile(target):
            raise SystemExit(f"tinygen gradcheck: no file {target!r}")
        spec_ = importlib.util.spec_from_file_location(os.path.basename(target)[:-3], target)
        module = importlib.util.module_from_spec(spec_)
        spec_.loader.exec_module(module)
    else:
        sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise SystemExit(f"tinygen gradcheck: cannot import {target!r} ({exc}); give a "
                             "module importable from the current folder or a path to a .py file")
    if not hasattr(module, name):
        raise SystemExit(f"tinygen gradcheck: {target} has no attribute {name!r}")
    return getattr(module, name)


def gradcheck_main(argv) -> int:
    import tinygen
    from tinygen import nn
    from tinygen.gradcheck import check_module, gradcheck, gradgradcheck
    parser = argparse.ArgumentParser(
        prog="tinygen gradcheck",
        description="Finite-difference check (float64) of a layer's or function's gradients "
                    "with respect to its input and every parameter.")
    parser.add_argument("target", help="MODULE:OBJECT, a Module class or a function of one tensor")
    parser.add_argument("--shape", required=True,
                        help="input shape, comma separated, e.g. 2,3,8,8")
    parser.add_argument("--args", default="{}",
                        help='JSON keyword arguments for the constructor, e.g. \'{"channels": 3}\'')
    parser.add_argument("--second-order", action="store_true", help="also run gradgradcheck")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--atol", type=float, default=1e-5)
    parser.add_argument("--rtol", type=float, default=1e-3)
    args = parser.parse_args(argv)
    try:
        shape = tuple(int(s) for s in args.shape.split(","))
    except ValueError:
        parser.error(f"--shape must be comma-separated integers, got {args.shape!r}")
    try:
        kwargs = json.loads(args.args)
    except json.JSONDecodeError as exc:
        parser.error(f"--args is not valid JSON ({exc})")
    obj = _import_object(args.target)
    tinygen.manual_seed(args.seed)
    x = tinygen.randn(*shape, dtype=tinygen.float64)
    tol = dict(atol=args.atol, rtol=args.rtol, raise_exception=False)
    if isinstance(obj, type) and issubclass(obj, nn.Module):
        layer = obj(**kwargs)
        reports = check_module(layer, x, second_order=args.second_order, **tol)
    else:
        x.requires_grad_()
        fn = (lambda t: obj(t, **kwargs))
        reports = [gradcheck(fn, x, names=["input"], **tol)]
        if args.second_order:
            reports.append(gradgradcheck(fn, x, names=["input"], **tol))
    for r in reports:
        print(r)
    return 0 if all(r.passed for r in reports) else 1


# --------------------------------------------------------------------------
# tinygen demo NAME
# --------------------------------------------------------------------------

def demo_main(argv) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: tinygen demo NAME [--out DIR] [options]\n\ndemos: " + ", ".join(sorted(DEMOS)))
        return 0
    name = argv[0]
    if name not in DEMOS:
        print(f"tinygen demo: unknown demo {name!r}; choose from {', '.join(sorted(DEMOS))}",
              file=sys.stderr)
        return 2
    return _load(DEMOS[name])(argv[1:])


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"run": run_main, "demo": demo_main, "gradcheck": gradcheck_main}
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        print("\ncommands: " + ", ".join(list(commands) + list(COMMANDS)))
        return 0
    name, rest = argv[0], argv[1:]
    if name in commands:
        return commands[name](rest)
    if name in COMMANDS:
        try:
            fn = _load(COMMANDS[name])
        except (ImportError, AttributeError) as exc:
            print(f"tinygen {name}: not available in this installation ({exc})", file=sys.stderr)
            return 2
        return fn(rest)
    print(f"tinygen: unknown command {name!r}; run `tinygen --help`", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
