"""The ``tinygen`` command (also ``python -m tinygen``).

    tinygen run METHOD [--dataset NAME] [--steps N] ... [method options]
    tinygen demo NAME [--out DIR]
    tinygen sample RUN [--n N] [--out FILE] [--seed S]
    tinygen report RUN [RUN ...] [--out FILE.html]
    tinygen runs [DIR]
    tinygen gradcheck MODULE:OBJECT --shape 2,3,8,8 [--second-order]
    tinygen weights list | path NAME | download NAME [--path FILE]
    tinygen --help                      (every command, one line each)

``run`` options are generated from each method's ``Config`` dataclass: the type gives the
option's kind (``Literal[...]`` -> choices, ``bool`` -> ``--x/--no-x``, tuples -> several
values), the default is the field's default, and the help text is the comment beside the
field in the source (:mod:`tinygen.configdoc`), so ``tinygen run gan --help`` always shows
the real defaults and where they come from.

A method module may also define

* ``Config.ALIASES = {"old_name": "new_name"}`` (a ``ClassVar``): ``--old-name`` stays
  accepted for a renamed field (hidden from the option list, named in its help);
* ``PRESETS = {name: {field: value}}`` (with ``PRESET_DOCS = {name: "one line"}``): ``run``
  gets ``--preset {auto,NAME...}``; a preset fills only the options not given on the
  command line (:func:`apply_presets`; ``auto``: ``default_preset(dataset)``'s choice,
  or no preset).
"""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import importlib
import importlib.util
import json
import os
import sys
import textwrap
import typing

# Commands implemented elsewhere: name -> "module:function(argv) -> exit code".
COMMANDS = {
    "sample": "tinygen.methods.run:sample_main",
    "fid": "tinygen.metrics.fid_cli:main",
    "weights": "tinygen.io.weights:weights_main",
    "report": "tinygen.cli:report_main",
    "runs": "tinygen.io.report:runs_main",
    "sr": "tinygen.methods.srresnet:sr_main",
    "sr-eval": "tinygen.methods.srresnet:sr_eval_main",
    "apply": "tinygen.methods.run:apply_main",
}

# One line per command for ``tinygen --help`` (run, demo and gradcheck live in this file).
COMMAND_HELP = {
    "run": "train a method (tinygen run --help lists them) and write a run folder",
    "demo": "a ready-made CPU demo that writes pictures (tinygen demo --help lists them)",
    "sample": "draw new samples from a trained run folder into an .npz file",
    "report": "rewrite a run's report.html, or compare runs in one HTML page",
    "runs": "list the run folders under DIR (default ./runs) as a table",
    "style": "neural style transfer of one image (Gatys et al. 2016)",
    "fid": "Frechet Inception Distance between two image sets (pytorch-fid's numerics)",
    "weights": "list, locate or download pretrained weight files",
    "gradcheck": "finite-difference check of a layer's or function's gradients",
    "sr": "upscale an image file with a trained srresnet / edsr / wdsr / srgan run (tiled)",
    "sr-eval": "Y-channel PSNR / SSIM of SR beside bicubic and Lanczos on given HR images",
    "apply": "translate an image file with a trained image-to-image run (pix2pix, tpgan, "
             "pixeldtgan, deblurgan)",
}

# Demos: name -> "module:function(argv) -> exit code", and one line each for --help.
DEMOS = {
    "gan2d": "tinygen.methods.gan2d:demo_main",
    "visualize": "tinygen.methods.visualize:demo_main",
    "vae": "tinygen.methods.vae:demo_main",
}
DEMO_HELP = {
    "gan2d": "a GAN learning a 2-D toy, GAN-Lab style: decision map, manifold, gradient arrows",
    "visualize": "what a small ConvNet's units see: receptive fields, top patches, "
                 "activation maximisation",
    "vae": "a VAE's latent space: interpolations, the 2-D manifold, attribute vectors",
}


def _load(spec: str):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def _first_line(text) -> str:
    lines = [line.strip() for line in (text or "").strip().splitlines()]
    return lines[0] if lines else ""


def _unknown(where: str, what: str, name: str, options) -> int:
    """One line on stderr naming the close matches; exit code 2."""
    options = sorted(options)
    close = difflib.get_close_matches(name, options, n=3, cutoff=0.5)
    if not close:
        close = difflib.get_close_matches(name.replace("_", "-").lower(), options, n=3, cutoff=0.5)
    hint = (f"did you mean {_either(close)}?" if close
            else f"choose from {', '.join(options)}")
    print(f"{where}: unknown {what} {name!r}; {hint} (`{where} --help` lists them)",
          file=sys.stderr)
    return 2


def _either(names) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _listing(rows) -> str:
    rows = list(rows)
    width = max((len(name) for name, _ in rows), default=0)
    return "\n".join(f"  {name.ljust(width)}  {text}" for name, text in rows)


# --------------------------------------------------------------------------
# tinygen run METHOD: options from the Config dataclass
# --------------------------------------------------------------------------

PRESET_DEST = "preset"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's layout and the line breaks inside an option's help (the
    preset list), wraps everything else; hides the option strings of renamed options."""

    def _split_lines(self, text, width):
        lines = []
        for paragraph in text.splitlines():
            paragraph = " ".join(paragraph.split())
            lines.extend(textwrap.wrap(paragraph, width, break_on_hyphens=False) or [""])
        return lines

    def _format_action_invocation(self, action):
        hidden = getattr(action, "hidden_option_strings", ())
        if not hidden or not action.option_strings:
            return super()._format_action_invocation(action)
        shown = [s for s in action.option_strings if s not in hidden]
        saved = action.option_strings
        action.option_strings = shown
        try:
            return super()._format_action_invocation(action)
        finally:
            action.option_strings = saved


def option_flag(name: str) -> str:
    """Field name -> its flag: ``batch_size`` -> ``--batch-size``, ``lambda_`` -> ``--lambda``."""
    return "--" + (name.rstrip("_") or name).replace("_", "-")


def _legacy_flag(name: str) -> str:
    """The spelling earlier tinygen generated (``lambda_`` -> ``--lambda-``)."""
    return "--" + name.replace("_", "-")


def config_aliases(config_cls, values: bool = False) -> dict:
    """``{old field name: new field name}``, ``ALIASES`` merged over the class's bases.

    ``values=True``: the other kind, ``{old bool flag: (field, value)}``: ``--old`` sets the
    field to ``value`` and ``--no-old`` to its default (an old on/off option that became a
    choice, e.g. ``"layer_norm": ("critic_norm", "layer")``).
    """
    aliases = {}
    for cls in reversed(config_cls.__mro__):
        aliases.update(cls.__dict__.get("ALIASES", None) or {})
    names = {f.name for f in dataclasses.fields(config_cls)}
    for old, new in aliases.items():
        target = new[0] if isinstance(new, tuple) else new
        if target not in names:
            raise ValueError(f"{config_cls.__qualname__}.ALIASES maps {old!r} to {target!r}, "
                             f"which is not a field")
    return {k: v for k, v in aliases.items() if isinstance(v, tuple) == values}


def _unwrap_optional(t):
    if typing.get_origin(t) is typing.Union:
        args = [a for a in typing.get_args(t) if a is not type(None)]
        if len(args) == 1:
            return args[0]
        return str
    return t


def _scalar(t):
    """A scalar annotation -> (argparse type, choices or None)."""
    t = _unwrap_optional(t)
    if typing.get_origin(t) is typing.Literal:
        choices = list(typing.get_args(t))
        kinds = {type(c) for c in choices}
        kind = kinds.pop() if len(kinds) == 1 else str
        if kind not in (int, float, str):
            kind = str
        return kind, [kind(c) for c in choices]
    return (t if t in (int, float, str, bool) else str), None


def field_kind(field, hints):
    """``(kind, type, choices, nargs)`` of a dataclass field, kind in scalar | bool | sequence."""
    t = _unwrap_optional(hints.get(field.name, str))
    origin = typing.get_origin(t)
    if t in (tuple, list) or origin in (tuple, list):
        args = typing.get_args(t)
        if not args:
            return "sequence", float, None, "+"
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            element, choices = _scalar(args[0])
            return "sequence", element, choices, len(args)
        element, choices = _scalar(args[0])
        return "sequence", element, choices, "+"
    kind, choices = _scalar(t)
    if kind is bool and choices is None:
        return "bool", bool, None, None
    return "scalar", kind, choices, None


def field_default(field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def config_defaults(config_cls) -> dict:
    """``{field: default}`` of a config dataclass."""
    return {f.name: field_default(f) for f in dataclasses.fields(config_cls) if f.init}


def _show_default(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (tuple, list)):
        return " ".join(str(v) for v in value) or "(empty)"
    if value is None:
        return "none"
    if value == "":
        return "''"
    return str(value)


def dataset_names() -> list:
    """The built-in dataset names (tinygen.data.NAMES without the PATH forms)."""
    from tinygen.data import NAMES
    return [n for n in NAMES if not n.endswith(":PATH")]


def _class_title(cls) -> str:
    doc = cls.__doc__ or ""
    if doc.startswith(cls.__name__ + "("):        # dataclass's generated signature: no docstring
        doc = ""
    where = f"{cls.__module__.rpartition('.')[2]}.{cls.__qualname__}"
    line = _first_line(doc).replace("``", "")
    return f"{line} [{where}]" if line else where


def _escape(text: str) -> str:
    return text.replace("%", "%%")


def preset_help(presets, preset_docs=None, has_default=False) -> str:
    """The ``--preset`` help: one line per preset."""
    docs = dict(preset_docs or {})
    auto = docs.get("auto") or ("choose by the dataset (the method's default_preset)"
                                if has_default else "no preset: the Config defaults")
    lines = ["fills the options not given on the command line (default: auto)",
             f"auto: {auto}"]
    for name in presets:
        text = docs.get(name) or _first_line(", ".join(f"{k}={v}" for k, v in
                                                       dict(presets[name]).items()))
        lines.append(f"{name}: {text}")
    return _escape("\n".join(lines))


def config_parser(config_cls, prog: str, presets=None, preset_docs=None,
                  has_default_preset=False, description=None) -> argparse.ArgumentParser:
    """An argparse parser with one ``--option`` per dataclass field.

    Each option's help is the field's source comment plus its default (and its choices, for
    a ``Literal`` type); options are grouped by the class that introduced the field. With
    ``presets`` (a method module's ``PRESETS``) the parser also takes ``--preset``.
    """
    from tinygen.configdoc import field_docs, first_declaring_class
    desc = description if description is not None else (
        "" if (config_cls.__doc__ or "").startswith(config_cls.__name__ + "(")
        else (config_cls.__doc__ or "").strip())
    parser = argparse.ArgumentParser(
        prog=prog, usage=f"{prog} [options]", description=desc, formatter_class=HelpFormatter,
        epilog="Each option's text is the comment beside its field in the source: the paper\n"
               "and section a default comes from, or the departure it makes.")
    hints = typing.get_type_hints(config_cls)
    docs = field_docs(config_cls)
    aliases = config_aliases(config_cls)
    old_names = {}
    for old, new in aliases.items():
        old_names.setdefault(new, []).append(old)
    fields = [f for f in dataclasses.fields(config_cls) if f.init]
    names = {f.name for f in fields}

    groups = {}
    if presets and PRESET_DEST not in names:
        groups["preset"] = parser.add_argument_group("preset")
        groups["preset"].add_argument(
            "--preset", dest=PRESET_DEST, default="auto", choices=["auto", *presets],
            help=preset_help(presets, preset_docs, has_default_preset))

    for field in fields:
        home = first_declaring_class(config_cls, field.name) or config_cls
        if home not in groups:
            groups[home] = parser.add_argument_group(_class_title(home))
        group = groups[home]
        default = field_default(field)
        kind, t, choices, nargs = field_kind(field, hints)
        text = docs[field.name][0] or "(undocumented)"
        if field.name == "dataset" or field.name.endswith("_dataset"):
            text += f"; built-in: {', '.join(dataset_names())}; or npz:PATH, folder:PATH"
        flags = [option_flag(field.name)]
        hidden = []
        for old in [field.name] + old_names.get(field.name, []):
            for flag in (option_flag(old), _legacy_flag(old)):
                if flag not in flags:
                    flags.append(flag)
                    hidden.append(flag)
        notes = []
        if not (default is None and "default" in text):     # the comment says what None means
            notes.append(f"default: {_show_default(default)}")
        shown_aliases = [option_flag(old) for old in old_names.get(field.name, [])]
        if shown_aliases:
            notes.append(f"old spelling {', '.join(shown_aliases)} still accepted")
        help_ = _escape(text + (f" ({'; '.join(notes)})" if notes else ""))
        if field.name == PRESET_DEST and presets:
            choices = ["auto", *presets]
            help_ += "\n" + preset_help(presets, preset_docs, has_default_preset)
        if kind == "bool":
            action = group.add_argument(*flags, dest=field.name, default=default,
                                        action=argparse.BooleanOptionalAction)
            hidden += [f"--no-{h[2:]}" for h in hidden]
        elif kind == "sequence":
            action = group.add_argument(*flags, dest=field.name, default=default, nargs=nargs,
                                        type=t, choices=choices)
        else:
            action = group.add_argument(*flags, dest=field.name, default=default, type=t,
                                        choices=choices)
        action.help = help_                        # (BooleanOptionalAction appends its own)
        action.hidden_option_strings = tuple(hidden)
    for old, (name, value) in config_aliases(config_cls, values=True).items():
        default = field_default(next(f for f in fields if f.name == name))
        parser.add_argument(option_flag(old), dest=name, action="store_const", const=value,
                            help=argparse.SUPPRESS)
        parser.add_argument("--no-" + option_flag(old)[2:], dest=name, action="store_const",
                            const=default, help=argparse.SUPPRESS)
    return parser


def parse_config_args(parser: argparse.ArgumentParser, argv):
    """``(values, explicit)``: every option's value, and the dests given on the command line.

    Parses twice: once as usual (errors, ``--help``), once with every default suppressed, so
    that only the options the user typed appear (an option given with its default value
    counts as given).
    """
    values = vars(parser.parse_args(argv))
    saved = [(a, a.default) for a in parser._actions]
    try:
        for action, _ in saved:
            action.default = argparse.SUPPRESS
        explicit = set(vars(parser.parse_args(argv)))
    finally:
        for action, default in saved:
            action.default = default
    return values, explicit


def _tuple(value):
    """argparse gives lists for several values; Config fields hold tuples."""
    return tuple(value) if isinstance(value, list) else value


def _tuples(kwargs: dict) -> dict:
    return {k: _tuple(v) for k, v in kwargs.items()}


def method_parser(module, prog: str = None) -> argparse.ArgumentParser:
    """The ``tinygen run METHOD`` parser of a method module (its Config, PRESETS, PRESET_DOCS)."""
    name = getattr(module, "__name__", "method").rpartition(".")[2].replace("_", "-")
    return config_parser(module.Config, prog or f"tinygen run {name}",
                         presets=getattr(module, "PRESETS", None),
                         preset_docs=getattr(module, "PRESET_DOCS", None),
                         has_default_preset=callable(getattr(module, "default_preset", None)))


def parse_method_args(module, argv, prog: str = None):
    """``(kwargs, explicit, preset)`` for a method module and its command-line arguments.

    ``kwargs``: the Config defaults overridden by the options given; ``explicit``: the field
    names given on the command line; ``preset``: the ``--preset`` value (None without PRESETS).
    """
    parser = method_parser(module, prog)
    values, explicit = parse_config_args(parser, argv)
    names = {f.name for f in dataclasses.fields(module.Config) if f.init}
    preset = values.get(PRESET_DEST) if getattr(module, "PRESETS", None) else None
    kwargs = config_defaults(module.Config)
    kwargs.update(_tuples({k: values[k] for k in explicit if k in names}))
    return kwargs, {k for k in explicit if k in names}, preset


def chosen_preset(module, kwargs: dict, preset):
    """The preset name ``--preset`` means: ``auto`` -> ``module.default_preset(dataset)`` (it
    may return None: no preset); None for a module without PRESETS."""
    if not getattr(module, "PRESETS", None):
        return None
    if preset in (None, "auto"):
        choose = getattr(module, "default_preset", None)
        return choose(kwargs.get("dataset")) if callable(choose) else None
    return preset


def apply_presets(module, kwargs: dict, explicit: set, preset) -> dict:
    """The preset semantics: ``PRESETS[name]`` fills the fields not given explicitly."""
    presets = getattr(module, "PRESETS", None) or {}
    name = chosen_preset(module, kwargs, preset)
    if name is None:
        return kwargs
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(presets)}")
    out = dict(kwargs)
    out.update({k: v for k, v in presets[name].items() if k not in explicit})
    return out


def saved_run_config(run: str, config_cls) -> dict:
    """The options a run folder's config.json records (fields of ``config_cls`` only;
    ``out`` and ``resume`` stay as given now). A run folder without one is a clear error."""
    from tinygen.methods import run as R
    try:
        saved = R.read_config(run)
    except FileNotFoundError as exc:
        raise ValueError(f"--resume {run}: {exc}; pass the folder `tinygen run` printed (it "
                         "holds config.json and checkpoint.npz)") from exc
    options = R.config_options(saved, config_cls)
    return {k: v for k, v in options.items() if k not in ("out", "resume")}


# Options that may differ on --resume: how long, where, how often to log and save, how loud.
# Anything else (the model, the optimizer, the data, the seed) would not continue the run.
RESUME_MAY_CHANGE = {"steps", "out", "resume", "quiet", "device", "data_dir", "log_every",
                     "sample_every", "checkpoint_every"}


def check_resume_options(kwargs: dict, explicit: set, saved: dict, preset) -> None:
    """Refuse, naming the difference, options given with ``--resume`` that would change the
    run rather than continue it; ``--steps`` may only extend the saved budget."""
    if preset not in (None, "auto"):
        raise ValueError("--preset cannot be given with --resume: the run's config.json "
                         "already holds the options its preset set")
    changed = [k for k in sorted(explicit - RESUME_MAY_CHANGE)
               if k in saved and _tuple(kwargs[k]) != _tuple(saved[k])]
    if changed:
        k = changed[0]
        raise ValueError(f"--resume {kwargs['resume']}: {option_flag(k)} {kwargs[k]} differs "
                         f"from the run's {saved[k]!r} (config.json); a resumed run keeps its "
                         "model, optimizer, data and seed: drop the option, or start a new run")
    if "steps" in explicit and "steps" in saved and kwargs["steps"] < saved["steps"]:
        raise ValueError(f"--resume {kwargs['resume']}: --steps {kwargs['steps']} is below the "
                         f"run's budget of {saved['steps']}; --steps may only extend it")


def build_config(module, argv, prog: str = None, report=None):
    """Command-line arguments -> ``module.Config``.

    Parse; start from the Config defaults with the options given; with ``--preset`` (a
    module with ``PRESETS``) let :func:`apply_presets` fill the rest; construct the Config.
    A module without PRESETS gets the Config defaults overridden by the options given.
    ``report(line)``, if given, is told which preset filled which options.
    """
    kwargs, explicit, preset = parse_method_args(module, argv, prog)
    if "resume" in explicit and kwargs.get("resume"):
        # --resume DIR alone continues the run as it was configured: its config.json is the
        # base, and only the options given now (e.g. a larger --steps) change it.
        saved = saved_run_config(kwargs["resume"], module.Config)
        check_resume_options(kwargs, explicit, saved, preset)
        kwargs = {**kwargs, **{k: v for k, v in saved.items() if k not in explicit}}
        return module.Config(**_tuples(kwargs))
    name = chosen_preset(module, kwargs, preset)
    if name is not None:
        filled = apply_presets(module, kwargs, explicit, name)
        changed = [k for k in filled if k not in explicit and filled[k] != kwargs[k]]
        if report is not None and changed:
            report(f"preset {name} (--preset paper for the paper's values) set "
                   + ", ".join(f"{option_flag(k)} {filled[k]}" for k in changed))
        kwargs = filled
    return module.Config(**_tuples(kwargs))


def resolve_method(name: str):
    """A command-line method name (``wgan-gp`` or ``wgan_gp``) -> its METHODS key, or None."""
    from tinygen.methods import METHODS
    if name in METHODS:
        return name
    for key, module in METHODS.items():
        if name.replace("_", "-") == key or name == module.rpartition(".")[2]:
            return key
    return None


def method_summary(name: str) -> str:
    """One line for ``tinygen run --help``: the Config's docstring (else the module's)."""
    from tinygen.methods import METHODS
    try:
        module = importlib.import_module(METHODS[name])
    except Exception as exc:  # noqa: BLE001 - one broken method must not break the listing
        return f"(unavailable: {type(exc).__name__}: {exc})"
    config = getattr(module, "Config", None)
    doc = getattr(config, "__doc__", "") or ""
    if config is not None and doc.startswith(config.__name__ + "("):
        doc = ""
    return _first_line(doc) or _first_line(module.__doc__) or "(no description)"


def run_help() -> str:
    from tinygen.methods import METHODS
    return ("usage: tinygen run METHOD [options]\n\n"
            "Train METHOD and write a run folder (config.json, metrics.jsonl, samples, "
            "checkpoint.npz).\n`tinygen run METHOD --help` lists its options, their defaults "
            "and where each default comes from.\n\nmethods:\n"
            + _listing((name, method_summary(name)) for name in METHODS))


def run_main(argv) -> int:
    from tinygen.methods import METHODS
    if not argv or argv[0] in ("-h", "--help"):
        print(run_help())
        return 0
    name, rest = argv[0], argv[1:]
    key = resolve_method(name)
    if key is None:
        return _unknown("tinygen run", "method", name, METHODS)
    try:
        module = importlib.import_module(METHODS[key])
    except ImportError as exc:
        print(f"tinygen run {key}: not available in this installation ({exc})", file=sys.stderr)
        return 2
    if not (hasattr(module, "Config") and hasattr(module, "train")):
        print(f"tinygen run {key}: {METHODS[key]} defines no Config and train(config)",
              file=sys.stderr)
        return 2
    config = build_config(module, rest, prog=f"tinygen run {key}",
                          report=lambda line: print(f"tinygen run {key}: {line}",
                                                    file=sys.stderr))
    target = config.out or "runs"            # Run makes runs/<method>-<time> when out is None
    made = not os.path.exists(target)
    try:
        out = module.train(config)
    except BaseException:
        if made and not getattr(config, "resume", None):
            from tinygen.methods.run import remove_stub_folder
            # a run that failed before its first result leaves nothing behind
            if remove_stub_folder(config.out) and target == "runs" and not os.listdir("runs"):
                os.rmdir("runs")
        raise
    print(f"run folder: {out}")
    return 0


def style_main(argv) -> int:
    """``tinygen style [CONTENT [STYLE]] [options]``: the short form of ``tinygen run style``."""
    from tinygen.methods import style_transfer
    return style_transfer.short_form(argv, method_parser(style_transfer, "tinygen run style"),
                                     run_main)


def report_main(argv) -> int:
    """``tinygen report``: :func:`tinygen.io.report.report_main`, told each method's paper
    defaults and presets (``run.method_reference``) so a report marks the departures."""
    from tinygen.io.report import report_main as write_reports
    from tinygen.methods.run import method_reference
    return write_reports(argv, method_reference)


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

def demo_help() -> str:
    return ("usage: tinygen demo NAME [--out DIR] [options]\n\n"
            "Ready-made demos on CPU; each prints the path of every file it writes.\n"
            "`tinygen demo NAME --help` lists its options and their defaults.\n\ndemos:\n"
            + _listing((name, DEMO_HELP.get(name, "")) for name in DEMOS))


def demo_main(argv) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(demo_help())
        return 0
    name = argv[0]
    if name not in DEMOS:
        return _unknown("tinygen demo", "demo", name, DEMOS)
    return _load(DEMOS[name])(argv[1:])


_BUILTIN = {"run": run_main, "demo": demo_main, "gradcheck": gradcheck_main, "style": style_main}


def main_help() -> str:
    names = list(dict.fromkeys([*COMMAND_HELP, *_BUILTIN, *COMMANDS]))
    examples = [line for line in __doc__.split("\n\n")[1].splitlines() if "--help" not in line]
    return ("usage: tinygen COMMAND [options]   (tinygen COMMAND --help: its options)\n\n"
            "commands:\n" + _listing((name, COMMAND_HELP.get(name, "")) for name in names)
            + "\n\nexamples:\n" + "\n".join(examples))


def user_errors() -> tuple:
    """The exceptions that mean bad input, not a bug in tinygen: shown as one line."""
    from tinygen.backend import DeviceError
    return (ValueError, OSError, DeviceError, MemoryError)


def one_line_errors(prog: str, fn, argv, debug: bool = False) -> int:
    """``fn(argv)``, with bad input (a wrong number, a missing file, no GPU, a corrupt file,
    a full disk) turned into ONE line ``prog: what was wrong and the fix`` and exit status 2,
    and SIGINT / SIGTERM into a line and 130 / 143. ``debug``: let the traceback through."""
    from tinygen.methods.run import Interrupted
    try:
        return fn(argv)
    except Interrupted as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except user_errors() as exc:
        if debug:
            raise
        print(f"{prog}: {_error_text(exc)}", file=sys.stderr)
        return 2


def _error_text(exc: BaseException) -> str:
    """The message of an exception; an OSError as 'PATH: reason' (no errno noise)."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}"
    return str(exc) or type(exc).__name__


def main(argv=None) -> int:
    """``tinygen COMMAND ...``; ``--debug`` (anywhere) or ``TINYGEN_DEBUG=1`` shows the
    traceback of an input error instead of its one line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("TINYGEN_DEBUG", "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]
    if not argv or argv[0] in ("-h", "--help"):
        print(main_help())
        return 0
    name, rest = argv[0], argv[1:]
    if name in _BUILTIN:
        prog = f"tinygen {name}"
        if name == "run" and rest and resolve_method(rest[0]):
            prog += " " + resolve_method(rest[0])
        return one_line_errors(prog, _BUILTIN[name], rest, debug)
    if name in COMMANDS:
        try:
            fn = _load(COMMANDS[name])
        except (ImportError, AttributeError) as exc:
            print(f"tinygen {name}: not available in this installation ({exc})", file=sys.stderr)
            return 2
        return one_line_errors(f"tinygen {name}", fn, rest, debug)
    return _unknown("tinygen", "command", name, [*_BUILTIN, *COMMANDS])


if __name__ == "__main__":
    sys.exit(main())
