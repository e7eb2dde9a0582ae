"""The command line: gradcheck on the bundled example layer, run/demo dispatch, errors."""
import os
import subprocess
import sys

import pytest

from tinygen import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "demos", "custom_layer.py")


def test_gradcheck_command_passes_on_the_example_layer(capsys):
    code = cli.main(["gradcheck", f"{EXAMPLE}:Swish", "--shape", "2,3,4", "--second-order"])
    out = capsys.readouterr().out
    assert code == 0
    assert "gradcheck: PASSED" in out and "gradgradcheck: PASSED" in out


def test_gradcheck_command_names_the_element_of_a_broken_layer(tmp_path, capsys):
    broken = tmp_path / "broken.py"
    broken.write_text(open(EXAMPLE).read().replace("gx = gy * (s + beta * x * ds)",
                                                   "gx = gy * (s + x * ds)"))
    code = cli.main(["gradcheck", f"{broken}:Swish", "--shape", "3", "--args", '{"beta": 2.0}'])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED" in out and "input index (0,)" in out and "analytic" in out


def test_gradcheck_command_on_a_plain_function(capsys):
    assert cli.main(["gradcheck", "tinygen.functional:softmax", "--shape", "2,5"]) == 0
    assert "PASSED" in capsys.readouterr().out


def test_gradcheck_command_errors_are_clear():
    with pytest.raises(SystemExit, match="MODULE:OBJECT"):
        cli.main(["gradcheck", "nocolon", "--shape", "2"])
    with pytest.raises(SystemExit, match="no attribute"):
        cli.main(["gradcheck", "tinygen.functional:nope", "--shape", "2"])
    with pytest.raises(SystemExit, match="no file"):
        cli.main(["gradcheck", "missing.py:X", "--shape", "2"])


def test_unknown_command_and_method(capsys):
    assert cli.main(["frobnicate"]) == 2
    assert cli.main(["run", "no-such-method"]) == 2
    assert "unknown method" in capsys.readouterr().err


def test_python_dash_m_is_the_same_cli():
    out = subprocess.run([sys.executable, "-m", "tinygen", "--help"], capture_output=True,
                         text=True, cwd=ROOT, check=True).stdout
    assert "tinygen run METHOD" in out


# ---------------------------------------------------------------- help that teaches

import dataclasses  # noqa: E402
import importlib  # noqa: E402
import inspect  # noqa: E402
import re  # noqa: E402
import types  # noqa: E402
import typing  # noqa: E402
from typing import ClassVar, Literal, Optional, Tuple  # noqa: E402

from tinygen import configdoc  # noqa: E402
from tinygen.methods import METHODS  # noqa: E402


def _flat(text):
    return " ".join(text.split())


def _help(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 0
    return capsys.readouterr().out


@dataclasses.dataclass
class _Base:
    """A base for the comment tests."""
    name: str = "a # not a comment"   # the name ('#' inside the string is not a comment)
    size: int = 3                     # how big, first line,
                                      # continued here
    # a paragraph comment at the body's indentation belongs to no field
    rate: float = 0.5
    plain: int = 1                    # plain's own text


@dataclasses.dataclass
class _Derived(_Base):
    """Overrides two defaults: one with a new comment, one without."""
    size: int = 7                     # the derived size (the paper's Sec. 2)
    plain: int = 2
    mode: Literal["fast", "slow"] = "fast"   # speed
    pair: Tuple[float, float] = (0.5, 0.9)   # two numbers
    many: tuple = (1.0,)                     # any number of numbers
    flag: bool = False                       # a switch
    lambda_: float = 10.0                    # penalty weight
    maybe: Optional[int] = None              # an optional count (default: unset)


def test_comments_are_read_from_the_source_with_continuations():
    own = configdoc.declared_comments(_Base)
    assert own == {"name": "the name ('#' inside the string is not a comment)",
                   "size": "how big, first line, continued here", "plain": "plain's own text"}
    docs = configdoc.field_docs(_Derived)
    assert docs["size"] == ("the derived size (the paper's Sec. 2)", _Derived)   # most-derived
    assert docs["plain"] == ("plain's own text", _Base)     # override without text: the base's
    assert docs["rate"] == ("", None)
    assert configdoc.first_declaring_class(_Derived, "size") is _Base
    missing = configdoc.missing_field_docs(_Derived)
    assert {m.rpartition(".")[2] for m in missing} == {"rate", "plain"}


def test_types_become_choices_nargs_and_boolean_flags(capsys):
    parser = cli.config_parser(_Derived, "t")
    values, explicit = cli.parse_config_args(parser, ["--mode", "slow", "--pair", "1", "2",
                                                      "--many", "1", "2", "3", "--flag"])
    assert values["mode"] == "slow" and values["pair"] == [1.0, 2.0]
    assert values["many"] == [1.0, 2.0, 3.0] and values["flag"] is True
    assert explicit == {"mode", "pair", "many", "flag"}
    assert cli.parse_config_args(parser, ["--no-flag"])[0]["flag"] is False
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["--mode", "medium"])
    assert exit_.value.code == 2
    assert "invalid choice: 'medium'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["--pair", "1"])                 # a fixed-length tuple wants 2
    capsys.readouterr()


def test_help_shows_text_default_and_choices_of_a_small_config():
    text = _flat(cli.config_parser(_Derived, "t").format_help())
    assert "--mode {fast,slow} speed (default: fast)" in text
    assert "the derived size (the paper's Sec. 2) (default: 7)" in text
    assert "plain's own text (default: 2)" in text
    assert "--flag, --no-flag a switch (default: off)" in text
    assert "an optional count (default: unset)" in text and "(default: none)" not in text
    assert "(undocumented)" in text                     # rate: visible, and a test failure below


def test_trailing_underscore_is_stripped_and_the_old_flag_still_works():
    parser = cli.config_parser(_Derived, "t")
    assert cli.parse_config_args(parser, ["--lambda", "0.1"])[0]["lambda_"] == 0.1
    assert cli.parse_config_args(parser, ["--lambda-", "0.2"])[0]["lambda_"] == 0.2
    text = parser.format_help()
    assert "--lambda LAMBDA_" in text and "--lambda-" not in text


@dataclasses.dataclass
class _Renamed:
    """A config whose field was renamed."""
    gp_lambda: float = 10.0           # gradient penalty weight
    steps: int = 5                    # steps
    quiet: bool = False               # no output
    ALIASES: ClassVar[dict] = {"lambda_": "gp_lambda", "silent": "quiet"}


def test_aliases_keep_old_spellings_and_help_shows_the_new_one():
    parser = cli.config_parser(_Renamed, "t")
    for flag in ("--gp-lambda", "--lambda", "--lambda-"):
        values, explicit = cli.parse_config_args(parser, [flag, "1.5"])
        assert values["gp_lambda"] == 1.5 and explicit == {"gp_lambda"}
    assert cli.parse_config_args(parser, ["--silent"])[0]["quiet"] is True
    assert cli.parse_config_args(parser, ["--no-silent"])[0]["quiet"] is False
    text = _flat(parser.format_help())
    assert "--gp-lambda GP_LAMBDA gradient penalty weight (default: 10.0; old spelling " \
           "--lambda still accepted)" in text
    assert "--quiet, --no-quiet no output" in text and "--silent," not in text

    @dataclasses.dataclass
    class Stale:
        x: int = 1                    # x
        ALIASES: ClassVar[dict] = {"y": "z"}
    with pytest.raises(ValueError, match="not a field"):
        cli.config_parser(Stale, "t")


def _fake_method(**attrs):
    module = types.ModuleType("tinygen_tests.fake_method")
    module.Config = _Presettable
    for k, v in attrs.items():
        setattr(module, k, v)
    return module


@dataclasses.dataclass
class _Presettable:
    """A method's config with the paper's numbers as defaults."""
    dataset: str = "ring8"            # data
    lr: float = 0.1                   # learning rate (the paper)
    batch_size: int = 100             # m (the paper)
    optimizer: Literal["sgd", "adam"] = "sgd"   # the paper's SGD


PRESETS = {"paper": {}, "toy": dict(lr=1e-3, batch_size=256, optimizer="adam")}


def test_presets_fill_only_the_options_not_given():
    fake = _fake_method(PRESETS=PRESETS, PRESET_DOCS={"toy": "Adam for the 2-D toys"},
                        default_preset=lambda dataset: "toy" if dataset == "ring8" else "paper")
    assert cli.build_config(fake, []) == _Presettable(lr=1e-3, batch_size=256, optimizer="adam")
    assert cli.build_config(fake, ["--dataset", "digits"]) == _Presettable(dataset="digits")
    assert cli.build_config(fake, ["--preset", "paper"]) == _Presettable()
    # given explicitly, even at its default value, an option beats the preset
    assert cli.build_config(fake, ["--lr", "0.1", "--batch-size", "32"]) == \
        _Presettable(lr=0.1, batch_size=32, optimizer="adam")
    kwargs, explicit, preset = cli.parse_method_args(fake, ["--lr", "0.1", "--preset", "toy"])
    assert explicit == {"lr"} and preset == "toy" and kwargs["batch_size"] == 100
    text = _flat(cli.method_parser(fake, "tinygen run fake").format_help())
    assert "--preset {auto,paper,toy}" in text and "toy: Adam for the 2-D toys" in text
    assert "auto: choose by the dataset" in text


def test_no_presets_means_the_config_defaults_and_no_preset_option(capsys):
    plain = _fake_method()
    assert cli.build_config(plain, ["--lr", "0.3"]) == _Presettable(lr=0.3)
    assert "--preset" not in cli.method_parser(plain).format_help()
    with pytest.raises(SystemExit):
        cli.build_config(plain, ["--preset", "toy"])
    capsys.readouterr()


def _comment_in_source(cls, name):
    """The trailing comment of ``name:`` in ``cls``'s source, by a plain regex (a cross-check)."""
    match = re.search(rf"^\s*{name}:[^#\n]*#\s*(.*)$", inspect.getsource(cls), re.M)
    return match.group(1).strip()


def test_gan_help_shows_the_source_comment_the_default_and_the_choices(capsys):
    from tinygen.methods import gan
    text = _flat(_help(["run", "gan", "--help"], capsys))
    hints = typing.get_type_hints(gan.Config)
    config = gan.Config()
    comment = _comment_in_source(gan.Config, "batch_size")
    assert f"--batch-size BATCH_SIZE {_flat(comment)} (default: {config.batch_size})" in text
    loss_choices = typing.get_args(hints["loss"])
    assert loss_choices and f"--loss {{{','.join(loss_choices)}}}" in text
    assert f"(default: {config.loss})" in text
    assert "npz:PATH, folder:PATH" in text and "mnist" in text      # --dataset's names
    if getattr(gan, "PRESETS", None):
        assert f"--preset {{auto,{','.join(gan.PRESETS)}}}" in text


def _config_classes():
    """Every *Config dataclass of the method modules, the demos and the style command."""
    modules = sorted(set(METHODS.values()) | {spec.partition(":")[0] for spec in cli.DEMOS.values()}
                     | {"tinygen.methods.style_transfer"})
    for name in modules:
        module = importlib.import_module(name)
        for obj in vars(module).values():
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and \
                    obj.__module__ == name and obj.__name__.endswith("Config"):
                yield f"{name}.{obj.__qualname__}", obj


def test_every_field_of_every_config_has_help_text():
    missing = sorted({m for _, cls in _config_classes() for m in configdoc.missing_field_docs(cls)})
    assert missing == [], "fields without a trailing comment (their --help text):\n" + \
        "\n".join(missing)


def test_every_method_config_builds_a_parser():
    for name, cls in _config_classes():
        cli.config_parser(cls, name).format_help()


def test_unknown_names_get_one_line_with_close_matches(capsys):
    assert cli.main(["run", "gna"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown method 'gna'" in err and "did you mean gan" in err
    assert cli.main(["rnu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean run or runs?" in err   # both close
    assert cli.main(["demo", "gan2"]) == 2
    assert "did you mean gan2d?" in capsys.readouterr().err
    assert cli.main(["run", "zzzzzz"]) == 2
    assert "choose from" in capsys.readouterr().err


def test_method_names_take_hyphens_or_underscores():
    assert cli.resolve_method("wgan-gp") == "wgan-gp"
    assert cli.resolve_method("wgan_gp") == "wgan-gp"
    assert cli.resolve_method("gan") == "gan"
    assert cli.resolve_method("nope") is None


def test_top_level_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("run", "demo", "sample", "style", "fid", "weights", "gradcheck", *cli.COMMANDS):
        line = next((l for l in out.splitlines() if l.split()[:1] == [name]), None)
        assert line and len(line.split()) > 2, name          # the name and its one line
    assert cli.COMMANDS["sample"] == "tinygen.methods.run:sample_main"


def test_run_help_lists_every_method_and_survives_a_broken_one(capsys, monkeypatch):
    monkeypatch.setitem(METHODS, "broken", "tinygen_tests.no_such_module")
    assert cli.main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    rows = {l.split()[0]: l for l in out.splitlines() if l.startswith("  ")}
    assert set(METHODS) <= set(rows)
    assert "(unavailable: ModuleNotFoundError" in rows["broken"]
    assert "Goodfellow" in rows["gan"]


def test_demo_help_lists_the_demos_and_their_own_help_shows_defaults(capsys):
    assert cli.main(["demo", "--help"]) == 0
    out = capsys.readouterr().out
    for name in cli.DEMOS:
        assert re.search(rf"^  {name}\s+\S", out, re.M), name
    for name in cli.DEMOS:
        text = _help(["demo", name, "--help"], capsys)
        assert "(default: " in text, name


def test_an_unimportable_command_says_not_available(capsys, monkeypatch):
    monkeypatch.setitem(cli.COMMANDS, "sample", "tinygen_tests.no_such_module:sample_main")
    assert cli.main(["sample", "somewhere"]) == 2
    assert "not available" in capsys.readouterr().err


@pytest.mark.parametrize("flag, value", [("--steps", "-5"), ("--steps", "0"),
                                         ("--batch-size", "0"), ("--log-every", "0"),
                                         ("--checkpoint-every", "-1")])
def test_impossible_numbers_are_one_line_and_exit_2(tmp_path, capsys, flag, value):
    out = tmp_path / "run"
    assert cli.main(["run", "gan", flag, value, "--quiet", "--out", str(out)]) == 2
    err = [l for l in capsys.readouterr().err.splitlines() if not l.startswith(
        "tinygen run gan: preset")]
    assert len(err) == 1 and flag in err[0] and value in err[0], err
    assert not out.exists()                   # nothing written


def test_apply_names_exactly_the_methods_that_define_apply_run():
    """`tinygen apply`'s help and errors list the image-to-image methods: the list is the set of
    method modules with an apply_run, so a new one cannot be left out."""
    import importlib
    from tinygen.methods import METHODS
    from tinygen.methods import run as R
    have = {k for k, m in METHODS.items() if hasattr(importlib.import_module(m), "apply_run")}
    assert have == set(R.APPLY_METHODS)
