"""Gatys style transfer: the objective's gradients, the optimisers on a problem with a
known optimum, colour preservation, and ``tinygen run style`` / ``tinygen style`` end to end.
"""
from __future__ import annotations

import dataclasses
import json
import os
import typing

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
from tinygen import losses as L
from tinygen import nn
from tinygen.gradcheck import gradcheck
from tinygen.methods import style_transfer as S
from tinygen.models import vgg as V

from conftest import check_grads


class TinyExtractor(nn.Module):
    """A one-layer random conv net with the ``extract`` interface: relu(conv3x3(x))."""

    def __init__(self, channels=6, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.conv = nn.Conv2d(3, channels, 3, padding=1)
        self.conv.load_state_dict({"weight": rng.normal(0, 0.5, (channels, 3, 3, 3)),
                                   "bias": rng.normal(0, 0.1, channels)})
        self.requires_grad_(False)

    def extract(self, x, layers):
        h = self.conv(x)
        out = {"conv": h, "relu": tg.relu(h)}
        return {l: out[l] for l in layers}


def _img(seed, shape=(1, 3, 8, 8), dtype=np.float64):
    return tg.tensor(np.random.default_rng(seed).uniform(0, 1, shape).astype(dtype))


# ----- the objective and its gradient w.r.t. the image --------------------------------

def test_objective_value_is_the_weighted_sum_of_its_parts():
    ex = TinyExtractor().double()
    c, s, x = _img(0), _img(1), _img(2)
    obj = S.StyleObjective(ex, ["conv"], ["relu", "conv"], c, s, alpha=2.0, beta=30.0, gamma=0.5)
    J, parts = obj(x)
    f = ex.extract(x, ["conv", "relu"])
    content = L.content_loss(f["conv"], ex.extract(c, ["conv"])["conv"]).item()
    style = 0.5 * sum(L.style_layer_loss(f[l], L.gram_matrix(ex.extract(s, [l])[l])).item()
                      for l in ("relu", "conv"))
    tv = L.total_variation_loss(x).item()
    assert parts["content"] == pytest.approx(content, rel=1e-12)
    assert parts["style"] == pytest.approx(style, rel=1e-12)
    assert J.item() == pytest.approx(2.0 * content + 30.0 * style + 0.5 * tv, rel=1e-12)
    assert S.StyleObjective(ex, ["conv"], ["relu"], c, s, 1, 1)(c.detach())[1]["content"] == 0.0


@settings(max_examples=6, deadline=None)
@given(alpha=st.floats(0.0, 2.0), beta=st.floats(0.0, 50.0), gamma=st.floats(0.0, 1.0),
       norm=st.sampled_from(L.STYLE_NORMALISATIONS), seed=st.integers(0, 1000))
def test_gradcheck_objective_wrt_image_first_and_second_order(alpha, beta, gamma, norm, seed):
    ex = TinyExtractor(channels=3, seed=seed).double()
    c, s = _img(seed, (1, 3, 4, 4)), _img(seed + 1, (1, 3, 5, 4))   # style of another size
    obj = S.StyleObjective(ex, ["conv"], ["relu"], c, s, alpha, beta, gamma, norm)
    x = _img(seed + 2, (1, 3, 4, 4)).requires_grad_()
    check_grads(lambda t: obj(t)[0], x)


def test_gradcheck_fallback_features_objective_wrt_image():
    ex = V.RandomMultiScaleFeatures(channels=8).double()
    c, s = _img(0, (1, 3, 16, 16)), _img(1, (1, 3, 16, 16))
    obj = S.StyleObjective(ex, V.FALLBACK_CONTENT_LAYERS, V.FALLBACK_STYLE_LAYERS, c, s,
                           1.0, 1e3, 0.1)
    x = _img(2, (1, 3, 16, 16)).requires_grad_()
    assert gradcheck(lambda t: obj(t)[0], x, n_directions=6).passed


def test_style_target_of_another_size_is_rescaled_to_the_optimised_image():
    """With the sum-Gram of Gatys, a style image 4x larger has a ~4x larger Gram matrix;
    the target is the per-position Gram of the style image times M_l(x)."""
    ex = TinyExtractor().double()
    small, big = _img(3, (1, 3, 8, 8)), _img(4, (1, 3, 16, 16))
    obj = S.StyleObjective(ex, ["conv"], ["relu"], small, big, 0.0, 1.0, normalisation="none")
    G_big = L.gram_matrix(ex.extract(big, ["relu"])["relu"]).cpu().numpy()
    np.testing.assert_allclose(obj.A["relu"].cpu().numpy(), G_big * 64 / 256, rtol=1e-12)


# ----- optimisers: a problem with a known optimum --------------------------------------

def test_lbfgs_matches_a_gram_matrix_and_decreases_monotonically():
    """Style-only objective on a one-layer random conv net: the target Gram matrices come
    from an image of the same size, so the optimum J = 0 is attainable."""
    ex = TinyExtractor().double()
    target = _img(5)
    obj = S.StyleObjective(ex, ["relu"], ["relu", "conv"], target, target, 0.0, 1.0,
                           normalisation="none")
    x0 = _img(6)
    history = []
    x = S.optimise_lbfgs(obj, x0, steps=80,
                         callback=lambda step, x, J, parts: history.append(J))
    J0, J_end = obj(x0)[0].item(), obj(tg.tensor(x))[0].item()
    assert len(history) <= 80 and history
    assert J_end < 1e-4 * J0
    increases = np.diff(history) > 1e-12 * J0
    assert increases.sum() == 0, f"L-BFGS iterates went up: {np.array(history)[:10]}"
    assert x.min() >= 0.0 and x.max() <= 1.0                          # the box bounds hold


def test_lbfgs_content_only_recovers_the_content_features():
    ex = TinyExtractor(channels=12).double()
    content = _img(7)
    obj = S.StyleObjective(ex, ["conv"], ["relu"], content, content, 1.0, 0.0)
    x = S.optimise_lbfgs(obj, _img(8), steps=100)
    # conv with 12 >= 3*... filters is injective here: the optimum is the content image
    np.testing.assert_allclose(x, content.cpu().numpy(), atol=1e-4)


def test_adam_decreases_the_loss_and_respects_the_box():
    ex = TinyExtractor().float()
    target = _img(9, dtype=np.float32)
    obj = S.StyleObjective(ex, ["relu"], ["relu"], target, target, 0.0, 1.0, normalisation="none")
    x0 = _img(10, dtype=np.float32)
    history = []
    x = S.optimise_adam(obj, x0, steps=60, lr=0.05,
                        callback=lambda step, x, J, parts: history.append(J))
    assert history[-1] < 0.05 * history[0]
    assert x.min() >= 0.0 and x.max() <= 1.0 and x.dtype == np.float32


# ----- colour preservation -------------------------------------------------------------

def test_yiq_round_trip_and_luminance_only_transfer():
    rng = np.random.default_rng(0)
    # low-saturation colours, so that recombining stays inside the RGB gamut (no clipping)
    content = (0.5 + 0.1 * rng.uniform(-1, 1, (6, 5, 3))).astype(np.float32)
    style = rng.uniform(0.0, 0.5, (7, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(S.yiq_to_rgb(S.rgb_to_yiq(content)), content, atol=1e-6)
    c_grey, s_grey = S.luminance_transfer_inputs(content, style)
    assert np.all(c_grey[..., 0] == c_grey[..., 1]) and np.all(s_grey[..., 1] == s_grey[..., 2])
    Yc = S.rgb_to_yiq(content)[..., 0]
    # eq. 1 of arXiv:1606.05897: the style luminance takes the content's mean and std
    assert s_grey[..., 0].mean() == pytest.approx(Yc.mean(), abs=1e-5)
    assert s_grey[..., 0].std() == pytest.approx(Yc.std(), rel=1e-4)
    result = (0.5 + 0.1 * rng.uniform(-1, 1, (6, 5, 3))).astype(np.float32)
    out = S.recombine_colours(result, content)
    yiq_out, yiq_c, yiq_r = S.rgb_to_yiq(out), S.rgb_to_yiq(content), S.rgb_to_yiq(result)
    np.testing.assert_allclose(yiq_out[..., 0], yiq_r[..., 0], atol=1e-5)
    np.testing.assert_allclose(yiq_out[..., 1:], yiq_c[..., 1:], atol=1e-5)


def test_level_sizes_and_steps():
    assert S._level_sizes((128, 96), 3) == [(32, 24), (64, 48), (128, 96)]
    assert S._level_steps(100, 3) == [25, 25, 50]
    assert sum(S._level_steps(7, 4)) == 7


# ----- the command: tinygen run style, and tinygen style as its short form -------------

@pytest.fixture
def no_vgg_weights(monkeypatch):
    import tinygen.io.weights as W

    def missing(name, path=None, download=False, verify=True):
        raise FileNotFoundError(f"weight file {name} not found (test)")

    monkeypatch.setattr(W, "get_weights", missing)


def tinygen_style(argv):
    """``tinygen style ARGV``, through the command line as a user types it."""
    from tinygen import cli
    return cli.main(["style", *argv])


def _metrics(out):
    return [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]


def test_run_style_writes_the_run_contract_files(tmp_path, capsys, no_vgg_weights):
    from tinygen import cli
    out = tmp_path / "run"
    assert cli.main(["run", "style", "--size", "32", "--steps", "3", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "NOTICE: VGG19 weights (vgg19-dcbb9e9d.pth) not found" in captured.out
    assert "tinygen weights download vgg19-dcbb9e9d.pth" in captured.out
    assert f"tinygen style: writing {out}" in captured.err               # Run's first line
    assert sorted(os.listdir(out)) == ["comparison.png", "config.json", "frames",
                                       "metrics.jsonl", "progress.gif", "report.html",
                                       "result.png"]
    assert os.listdir(out / "frames") == ["step_0003.png"]
    config = json.loads((out / "config.json").read_text())
    # the values actually used: auto -> the extractor found, alpha/beta -> its defaults
    assert config["method"] == "style" and config["features"] == "random"
    assert (config["content_weight"], config["style_weight"]) == S.DEFAULT_WEIGHTS["random"]
    assert (config["size"], config["steps"], config["sample_every"], config["log_every"]) == \
        (32, 3, 10, 1)
    assert config["out"] == str(out) and "save_every" not in config
    lines = _metrics(out)
    assert [l["step"] for l in lines] == [1, 2, 3]
    assert all({"time", "loss", "loss_content", "loss_style", "level"} <= set(l) for l in lines)
    assert [l["level"] for l in lines] == [0, 0, 0] and "loss_tv" not in lines[0]
    first = lines[0]        # J = alpha L_content + beta L_style (eq. 7), as logged
    assert first["loss"] == pytest.approx(1.0 * first["loss_content"] + 5e3 * first["loss_style"],
                                          rel=1e-5)
    assert lines[-1]["loss"] < lines[0]["loss"]
    from PIL import Image
    assert Image.open(out / "result.png").size == (32, 32)
    w, h = Image.open(out / "comparison.png").size          # content | style | result, titled
    assert w >= 96 and 32 + 12 <= h <= 32 + 60
    assert Image.open(out / "progress.gif").n_frames >= 1


def test_tinygen_style_short_form_save_every_alias_and_log_every(tmp_path, capsys,
                                                                 no_vgg_weights):
    """``tinygen style`` (the old spelling ``--save-every`` kept) on the bundled images."""
    from tinygen import cli
    out = tmp_path / "run"
    rc = cli.main(["style", "--out", str(out), "--size", "40", "--steps", "6",
                   "--save-every", "3", "--log-every", "2", "--quiet"])
    assert rc == 0
    for name in ("result.png", "comparison.png", "progress.gif", "frames/step_0003.png",
                 "frames/step_0006.png", "config.json", "metrics.jsonl", "report.html"):
        assert (out / name).is_file(), name
    assert not (out / "frames" / "step_0004.png").exists()
    assert json.loads((out / "config.json").read_text())["sample_every"] == 3
    lines = _metrics(out)
    assert [l["step"] for l in lines] == [2, 4, 6]          # one line per log_every steps
    assert lines[-1]["loss"] < lines[0]["loss"]
    assert "writing" not in capsys.readouterr().err         # --quiet
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]   # atomic writes


@pytest.mark.parametrize("extra", [
    ["--optimizer", "adam", "--init", "noise", "--lr", "0.05"],
    ["--multires", "2", "--preserve-colors", "--tv-weight", "1.0"],
])
def test_cli_options_run(tmp_path, extra, no_vgg_weights):
    out = tmp_path / "run"
    rc = tinygen_style(["--out", str(out), "--size", "32", "--steps", "4", "--quiet"] + extra)
    assert rc == 0
    lines = _metrics(out)
    assert len(lines) == 4
    if "--multires" in extra:
        assert [l["level"] for l in lines] == [0, 0, 1, 1]
        assert "loss_tv" in lines[0]


def test_tinygen_style_content_style_positionals_keep_aspect(tmp_path, no_vgg_weights):
    from PIL import Image
    from tinygen import cli
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (30, 60, 3), dtype=np.uint8)).save(tmp_path / "c.png")
    Image.fromarray(rng.integers(0, 255, (50, 50), dtype=np.uint8)).save(tmp_path / "s.png")
    out = tmp_path / "run"
    rc = cli.main(["style", str(tmp_path / "c.png"), "--size", "40", str(tmp_path / "s.png"),
                   "--out", str(out), "--steps", "2", "--quiet"])
    assert rc == 0
    assert Image.open(out / "result.png").size == (40, 20)
    config = json.loads((out / "config.json").read_text())
    assert (config["content"], config["style"]) == (str(tmp_path / "c.png"),
                                                    str(tmp_path / "s.png"))


def test_short_form_arguments_become_run_style_options():
    from tinygen import cli
    parser = cli.method_parser(S, "tinygen run style")
    to_run = lambda argv: S.run_arguments(argv, parser)              # noqa: E731
    assert to_run([]) == []
    assert to_run(["c.png"]) == ["--content=c.png"]
    assert to_run(["c.png", "--size", "64", "s.png", "--quiet"]) == \
        ["--content=c.png", "--style=s.png", "--size", "64", "--quiet"]
    # option values are never taken for images: flags take none, --opt=value carries its own
    assert to_run(["--preserve-colors", "c.png", "--out=o", "s.png", "--seed", "-1"]) == \
        ["--content=c.png", "--style=s.png", "--preserve-colors", "--out=o", "--seed", "-1"]
    assert to_run(["--save-every", "5", "c.png", "--ste", "3"]) == \
        ["--content=c.png", "--save-every", "5", "--ste", "3"]        # alias, abbreviation
    assert to_run(["--size", "32", "--", "-odd.png"]) == ["--content=-odd.png", "--size", "32"]
    assert to_run(["--content", "c.png", "--steps", "2"]) == ["--content", "c.png", "--steps", "2"]
    with pytest.raises(ValueError, match="given twice"):
        to_run(["a.png", "--content", "b.png"])
    with pytest.raises(ValueError, match="at most two images"):
        to_run(["a.png", "b.png", "c.png"])


def test_short_form_hands_the_translated_arguments_to_run_main(capsys):
    from tinygen import cli
    parser = cli.method_parser(S, "tinygen run style")
    seen = []
    assert S.short_form(["c.png", "--steps", "2"], parser, lambda a: seen.append(a) or 0) == 0
    assert seen == [["style", "--content=c.png", "--steps", "2"]]

    def failing(argv):
        raise FileNotFoundError("no image file at 'c.png'")

    assert S.short_form(["c.png"], parser, failing) == 2
    assert capsys.readouterr().err == "tinygen style: no image file at 'c.png'\n"


def test_run_style_help_shows_every_option_with_its_comment(capsys):
    from tinygen import cli, configdoc
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", "style", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    docs = configdoc.field_docs(S.Config)
    for f in dataclasses.fields(S.Config):
        flag = cli.option_flag(f.name)
        comment = " ".join(docs[f.name][0].split())
        assert comment and f"{comment}" in text, f.name
        assert flag in text, flag
    assert "--optimizer {lbfgs,adam}" in text and "--init {noise,content}" in text
    assert "--normalisation {gatys,ng,slide,none}" in text
    assert "(default: 150)" in text and "old spelling --save-every still accepted" in text
    assert "Gatys" in text and "Sec. 2" in text
    # tinygen style --help: the same options, after one line naming the long form
    with pytest.raises(SystemExit):
        cli.main(["style", "--help"])
    out = capsys.readouterr().out
    assert out.splitlines()[0] == S.SHORT_FORM and "--preserve-colors" in out


def test_config_types_match_the_code_they_configure():
    hints = typing.get_type_hints(S.Config)
    assert typing.get_args(hints["normalisation"]) == L.STYLE_NORMALISATIONS
    assert set(typing.get_args(hints["features"])) == {"auto", *S.DEFAULT_WEIGHTS}
    assert S.StyleConfig is S.Config and S.stylise is S.train          # the old names
    c = S.Config()
    assert (c.steps, c.sample_every, c.log_every, c.size, c.init) == (150, 10, 1, 128, "content")
    from tinygen.methods import METHODS
    assert METHODS["style"] == "tinygen.methods.style_transfer"


def test_train_returns_the_folder_and_leaves_the_callers_config_alone(tmp_path, no_vgg_weights):
    config = S.Config(size=24, steps=2, out=str(tmp_path / "run"), quiet=True)
    assert S.train(config) == str(tmp_path / "run")
    assert config.features == "auto" and config.style_weight is None
    assert (tmp_path / "run" / "result.png").is_file()


def _one_line(err):
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith(("tinygen style: ", "tinygen run style: ")), err
    return lines[0]


def test_cli_errors_are_one_line_exit_2_and_write_no_folder(tmp_path, capsys, no_vgg_weights):
    from tinygen import cli
    assert cli.main(["style", "missing.png", "--out", str(tmp_path / "a")]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "no image file at 'missing.png'" in line and "give the path" in line
    assert not (tmp_path / "a").exists()                   # failed before the run folder
    (tmp_path / "not_an_image.png").write_text("hello")
    assert tinygen_style([str(tmp_path / "not_an_image.png"), "--out", str(tmp_path / "a2")]) == 2
    assert "is not an image Pillow can read" in _one_line(capsys.readouterr().err)
    assert tinygen_style(["--features", "vgg19", "--out", str(tmp_path / "b"), "--quiet"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "VGG19 weights" in line and "tinygen weights download" in line
    assert tinygen_style(["--weights", str(tmp_path / "nope.pth"),
                          "--out", str(tmp_path / "c")]) == 2
    assert "no such file" in _one_line(capsys.readouterr().err)
    assert tinygen_style(["--size", "4", "--out", str(tmp_path / "d")]) == 2
    assert _one_line(capsys.readouterr().err) == \
        "tinygen style: size must be >= 16 pixels, got --size 4"
    assert tinygen_style(["a.png", "b.png", "c.png"]) == 2
    assert "at most two images" in _one_line(capsys.readouterr().err)
    with pytest.raises(ValueError, match="optimizer must be one of lbfgs, adam"):
        S.train(S.Config(optimizer="sgd", out=str(tmp_path / "e")))
    assert not (tmp_path / "e").exists()


def test_tinygen_style_is_wired_into_the_cli():
    from tinygen import cli
    assert cli._BUILTIN["style"] is cli.style_main and "style" not in cli.COMMANDS


def test_fallback_transfer_moves_the_image_towards_the_style():
    """A short default-style run (48 px, 25 L-BFGS steps) on the bundled images: the style
    loss falls severalfold and the mean colour moves towards the style's (the bundled
    style is blue; the content's lower half is green)."""
    from tinygen.methods.style_images import default_content, default_style
    config = S.Config(features="random")
    ex, c_layers, s_layers, kind = S.build_features(config, log=lambda *a: None)
    content, style = default_content(48), default_style(48)
    obj = S.StyleObjective(ex, c_layers, s_layers, S.image_to_tensor(content),
                           S.image_to_tensor(style), *S.DEFAULT_WEIGHTS["random"])
    x = S.optimise_lbfgs(obj, S.image_to_tensor(content), steps=25)
    style_before = obj(S.image_to_tensor(content))[1]["style"]
    style_after = obj(tg.tensor(x.astype(np.float32), device=config.device))[1]["style"]
    assert style_after < 0.5 * style_before
    result = x[0].transpose(1, 2, 0)
    target = style.reshape(-1, 3).mean(0)
    assert np.linalg.norm(result.reshape(-1, 3).mean(0) - target) < \
        0.8 * np.linalg.norm(content.reshape(-1, 3).mean(0) - target)


def test_vgg19_path_end_to_end_with_a_weight_file(tmp_path, monkeypatch, capsys):
    """The VGG19 branch: a weights path is found, VGG19 is built with Gatys's average
    pooling, and the content (relu4_2) and style (relu1_1 ... relu5_1) layers are used.
    The 548 MB file is stood in for by random weights (loading itself is tested with a
    real .pth in test_31_vgg.py)."""
    fake = tmp_path / "vgg19-dcbb9e9d.pth"
    fake.write_bytes(b"stand-in")
    built = {}

    def fake_vgg19(weights=None, pool="max", **kw):
        assert weights == str(fake)
        built["model"] = V.VGG19(pool=pool).eval()
        return built["model"]

    monkeypatch.setattr(V, "vgg19", fake_vgg19)
    out = tmp_path / "run"
    rc = tinygen_style(["--weights", str(fake), "--out", str(out), "--size", "32", "--steps", "2",
                 "--save-every", "1"])
    assert rc == 0
    assert "NOTICE" not in capsys.readouterr().out
    assert built["model"].pool == "avg"
    config = json.loads((out / "config.json").read_text())
    assert config["features"] == "vgg19"
    assert config["style_weight"] == S.DEFAULT_WEIGHTS["vgg19"][1]
    assert sorted(os.listdir(out / "frames")) == \
        ["step_0001.png", "step_0002.png"]                            # --save-every 1
    lines = _metrics(out)
    assert len(lines) == 2 and lines[-1]["loss"] <= lines[0]["loss"]
