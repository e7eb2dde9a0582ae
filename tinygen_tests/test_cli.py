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
