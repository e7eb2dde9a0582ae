"""Looking at runs (issue 22): report.html per run, the comparison page, ``tinygen runs``, the
GAN-Lab page of ``tinygen demo gan2d --html`` — read as files, then opened as a user would,
in headless Chromium.

The unit tests read the HTML with the standard library's parser: one SVG point per logged
step, round axis ticks, the config table with the departures from the paper marked, a
reproduce command that really rebuilds the run's config, images only as data: URIs. The
browser tests (skipped where Debian's ``chromium`` is absent; ``apt-get install chromium``)
open each page from ``file://`` with name resolution disabled, let the page's own
``#selftest`` script move the sliders, toggle the layers and count the curves' points, read
its verdict from the DOM, check the browser logged no console message and blocked no
request, and take a screenshot.
"""
from __future__ import annotations

import html.parser
import json
import os
import re
import shlex
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from tinygen import cli
from tinygen.io import report as RP

STEPS, LOG_EVERY, SAMPLE_EVERY = 6, 2, 3


def tiny_run(out, *extra):
    """A few-step GAN on ring8 (its toy2d preset), quiet; returns the folder."""
    argv = ["run", "gan", "--dataset", "ring8", "--steps", str(STEPS), "--log-every",
            str(LOG_EVERY), "--sample-every", str(SAMPLE_EVERY), "--n-eval", "200",
            "--n-samples", "100", "--out", str(out), "--quiet", *extra]
    assert cli.main(argv) == 0
    return str(out)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny runs side by side in one folder: non-saturating and minimax."""
    root = tmp_path_factory.mktemp("runs")
    return (tiny_run(root / "ns"), tiny_run(root / "mm", "--loss", "minimax"))


class Page(html.parser.HTMLParser):
    """Tags and attributes of an HTML page, plus the text of each element id'd."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.text, self._open = [], {}, []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._open.append(dict(attrs).get("id"))

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        for name in self._open:
            if name:
                self.text[name] = self.text.get(name, "") + data

    def all(self, tag, **attrs):
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def series_points(svg_text):
    """{data-key: number of drawn points} of every curve in an SVG/HTML string."""
    out = {}
    for m in re.finditer(r'<g class="series" data-key="([^"]*)"[^>]*>(.*?)</g>', svg_text, re.S):
        body = m[2]
        n = len(re.findall(r"<circle", body))
        n += sum(len(p.split()) for p in re.findall(r'<polyline[^>]*points="([^"]*)"', body))
        out[m[1]] = n
    return out


def metrics_of(folder):
    return [json.loads(line) for line in open(os.path.join(folder, "metrics.jsonl"))]


# --------------------------------------------------------------------------
# the SVG plot
# --------------------------------------------------------------------------

def test_svg_plot_draws_one_point_per_logged_step_with_round_ticks_and_a_legend():
    steps = np.arange(100, 1100, 100)
    svg = RP.svg_plot({"loss_d": (steps, np.linspace(1.4, 0.6, 10)),
                       "loss_g": (steps, np.linspace(0.7, 1.3, 10))}, "losses")
    assert series_points(svg) == {"loss_d": 10, "loss_g": 10}
    page = Page(svg)
    assert page.all("svg")[0]["class"] == "plot" and "losses" in svg
    xticks = [float(t) for t in re.findall(r'class="xtick"[^>]*>([^<]+)<', svg)]
    yticks = [float(t) for t in re.findall(r'class="ytick"[^>]*>([^<]+)<', svg)]
    assert len(xticks) >= 4 and len(yticks) >= 4
    for ticks, lo, hi in ((xticks, 100, 1000), (yticks, 0.56, 1.44)):   # the data +- 5 %
        gaps = np.diff(ticks)
        assert np.allclose(gaps, gaps[0]) and lo <= min(ticks) and max(ticks) <= hi, ticks
        mantissa = gaps[0] / 10 ** np.floor(np.log10(gaps[0]))           # 1, 2, 2.5 or 5
        assert any(np.isclose(mantissa, m) for m in (1, 2, 2.5, 5)), ticks
        assert all(np.isclose(t / gaps[0], round(t / gaps[0])) for t in ticks), ticks
    legend = re.findall(r'class="legend"[^>]*>([^<]+)<', svg)
    assert legend == ["loss_d", "loss_g"]
    assert re.search(r'class="xlabel"[^>]*>step<', svg)


def test_svg_plot_leaves_gaps_for_missing_values_and_dots_a_lone_point():
    svg = RP.svg_plot({"m": ([1, 2, 3, 4, 5, 6], [1.0, 2.0, np.nan, 4.0, None, 5.0])})
    assert series_points(svg) == {"m": 4}                      # NaN and None are gaps
    body = re.search(r'<g class="series".*?</g>', svg, re.S)[0]
    assert body.count("<polyline") == 1 and body.count("<circle") == 2   # 1-2 | 4 | 6
    assert 'data-n="4"' in body
    flat = RP.svg_plot({"c": ([0, 1], [2.0, 2.0])})            # a constant: still a frame
    assert series_points(flat) == {"c": 2} and 'class="ytick"' in flat


# --------------------------------------------------------------------------
# report.html of one run
# --------------------------------------------------------------------------

def test_every_run_writes_report_html_and_keeps_frames_in_a_subfolder(runs):
    ns = runs[0]
    names = sorted(os.listdir(ns))
    assert "report.html" in names and "frames" in names
    assert not [n for n in names if n.startswith("samples_0")]    # no flood of PNGs
    assert sorted(os.listdir(os.path.join(ns, "frames"))) == [
        f"samples_{s:06d}.png" for s in range(SAMPLE_EVERY, STEPS + 1, SAMPLE_EVERY)]


def test_report_curves_have_the_logged_number_of_points(runs):
    text = read(os.path.join(runs[0], "report.html"))
    logged = metrics_of(runs[0])
    assert len(logged) == STEPS // LOG_EVERY
    points = series_points(text)
    assert points["loss_d"] == points["loss_g"] == points["modes"] == len(logged)
    data = json.loads(Page(text).text["data"])
    assert data["logged"]["loss_d"] == len(logged)
    assert [f["step"] for f in data["frames"]["samples"]] == [3, 6]


def test_report_config_table_marks_the_departures_from_the_paper(runs):
    from tinygen.methods import gan
    text = read(os.path.join(runs[0], "report.html"))
    config = json.load(open(os.path.join(runs[0], "config.json")))
    defaults = {f: getattr(gan.Config, f, None) for f in config}
    rows = re.findall(r'<tr( class="departure")?><td><code>(--[a-z0-9-]+)</code></td>'
                      r'<td><code>([^<]*)</code></td><td>(.*?)</td></tr>', text)
    marked = {flag for departure, flag, _, _ in rows if departure}
    # the toy2d preset's changes (Adam, batch 256, ...) and the short budget are departures
    assert {"--optimizer", "--batch-size", "--lr-d", "--instance-noise", "--steps"} <= marked
    assert config["optimizer"] != defaults["optimizer"]
    notes = {flag: note for _, flag, _, note in rows}
    assert "set by preset toy2d" in notes["--optimizer"]
    assert "default sgd" in notes["--optimizer"]
    # where the run kept the paper's value, or only chose where to write, nothing is marked
    assert "--loss" not in marked and "--seed" not in marked and "--out" not in marked
    assert "--log-every" not in marked and "paper default" in notes["--loss"]


def test_reproduce_command_rebuilds_the_runs_config(runs):
    """The command on the page, parsed by tinygen's own parser, gives config.json back."""
    from tinygen.methods import gan
    for folder in runs:
        command = Page(read(os.path.join(folder, "report.html"))).text["command"]
        argv = shlex.split(command)
        assert argv[:5] == ["tinygen", "run", "gan", "--preset", "paper"]
        rebuilt = cli.build_config(gan, argv[3:])
        saved = json.load(open(os.path.join(folder, "config.json")))
        for key, value in json.loads(json.dumps(vars(rebuilt))).items():
            if key not in ("out", "quiet", "resume"):
                assert value == saved[key], key


def test_report_is_self_contained_final_numbers_and_pictures(runs):
    text = read(os.path.join(runs[0], "report.html"))
    page = Page(text)
    assert page.all("meta", **{"http-equiv": "Content-Security-Policy"})[0]["content"] == RP.CSP
    assert all(img["src"].startswith("data:image/") for img in page.all("img"))
    assert not page.all("link") and not [s for s in page.all("script") if "src" in s]
    assert "http://" not in text and "https://" not in text     # nothing to fetch
    last = metrics_of(runs[0])[-1]
    final = re.search(r'<table class="final">(.*?)</table>', text, re.S)[1]
    assert f"<td>loss_d</td><td class=\"num\">{last['loss_d']:.4g}</td>" in final
    assert "Samples over training" in text and 'type="range"' in text


def test_tinygen_report_rewrites_it_and_bad_input_is_one_line_exit_2(runs, tmp_path, capsys):
    path = os.path.join(runs[0], "report.html")
    os.remove(path)
    assert cli.main(["report", runs[0]]) == 0
    assert capsys.readouterr().out.strip() == path and os.path.isfile(path)
    assert "&#8800; paper" in read(path)                        # defaults found via METHODS
    (tmp_path / "empty").mkdir()
    (tmp_path / "stub").mkdir()
    (tmp_path / "stub" / "config.json").write_text('{"method": "gan"}')
    for folder, says in ((tmp_path / "empty", "is not a run folder"),
                         (tmp_path / "stub", "has no metrics"),
                         (tmp_path / "absent", "no such folder")):
        assert cli.main(["report", str(folder)]) == 2
        err = capsys.readouterr().err.strip()
        assert says in err and len(err.splitlines()) == 1, err


def test_a_folder_of_pictures_only_still_gets_a_page(tmp_path):
    """The vae and visualize demos write pictures but no metrics: a gallery page."""
    Image.new("RGB", (30, 20), (200, 10, 10)).save(tmp_path / "manifold.png")
    path = RP.write_run_report(str(tmp_path), title="tinygen demo vae",
                               command="tinygen demo vae --steps 3")
    text = read(path)
    assert "manifold.png" in text and "tinygen demo vae --steps 3" in text
    assert "<h2>Config</h2>" not in text and "<h2>Curves</h2>" not in text


# --------------------------------------------------------------------------
# comparison page and tinygen runs
# --------------------------------------------------------------------------

def test_comparison_overlays_the_curves_and_puts_final_grids_side_by_side(runs, tmp_path, capsys):
    out = tmp_path / "compare.html"
    assert cli.main(["report", *runs, "--out", str(out)]) == 0
    text = read(out)
    n = len(metrics_of(runs[0]))
    points = series_points(text)
    for key in ("loss_d", "loss_g", "modes", "hq"):
        assert points[f"0:{key}"] == points[f"1:{key}"] == n
    assert "gan (nonsaturating)" in text and "gan (minimax)" in text   # method (objective)
    differ = re.search(r"Options that differ</h2>\s*<table>(.*?)</table>", text, re.S)[1]
    assert "--loss" in differ and "--optimizer" not in differ
    final = re.search(r"Final samples</h2>(.*)", text, re.S)[1]
    assert final.count("<img") == 2 and "step 6" in final


def test_tinygen_runs_lists_the_run_folders_as_a_table(runs, capsys, tmp_path):
    root = os.path.dirname(runs[0])
    assert cli.main(["runs", root]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["run", "method", "dataset", "steps"]
    assert "final metrics" in lines[0] and lines[0].rstrip().endswith("date")
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"ns", "mm"}
    last = metrics_of(runs[0])[-1]
    assert rows["ns"].split()[1:4] == ["gan", "ring8", f"{STEPS}/{STEPS}"]
    assert f"loss_d={last['loss_d']:.4g}" in rows["ns"]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d$", rows["ns"])
    assert cli.main(["runs", str(tmp_path / "nowhere")]) == 2
    assert "no such folder" in capsys.readouterr().err
    (tmp_path / "none").mkdir()
    assert cli.main(["runs", str(tmp_path / "none")]) == 0
    assert "no run folders" in capsys.readouterr().err
    assert "runs" in cli.main_help() and "report" in cli.main_help()


# --------------------------------------------------------------------------
# tinygen demo gan2d --html
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gan2d_run(tmp_path_factory):
    from tinygen.methods import gan2d
    out = tmp_path_factory.mktemp("gan2d") / "run"
    assert gan2d.demo_main(["--steps", "4", "--html", "--out", str(out)]) == 0
    return str(out)


def test_gan2d_html_records_every_frame_and_the_curves(gan2d_run):
    text = read(os.path.join(gan2d_run, "gan2d.html"))
    data = json.loads(Page(text).text["data"])
    frames = sorted(os.listdir(os.path.join(gan2d_run, "frames")))
    assert [f["step"] for f in data["frames"]] == [int(n[8:14]) for n in frames] == [1, 2, 3, 4]
    first = data["frames"][0]
    assert len(first["fake"]) == 2 * 500 and len(first["arrows"]) == 4 * 80
    assert len(first["lines"]) == 22 and len(first["lines"][0]) == 2 * 48   # 11 + 11 lines
    assert len(np.frombuffer(__import__("base64").b64decode(first["heat"]), np.uint8)) == 80 * 80
    n = len(metrics_of(gan2d_run))
    assert data["logged"] == {"loss_d": n, "loss_g": n, "modes": n, "hq": n}
    assert series_points(text) == {"loss_d": n, "loss_g": n, "modes": n, "hq": n}
    assert text.count('class="cursor"') == 2
    assert {t["id"] for t in Page(text).all("input") if "layer" in t.get("class", "")} == {
        "layer-heat", "layer-manifold", "layer-real", "layer-fake", "layer-arrows"}
    assert "tinygen demo gan2d --loss nonsaturating --dataset ring8 --steps 4" in text
    assert "tinygen demo gan2d" in read(os.path.join(gan2d_run, "report.html"))


# --------------------------------------------------------------------------
# in the browser
# --------------------------------------------------------------------------

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (Debian: apt-get "
                                    "install chromium) to open the pages in")


def chromium(tmp_path, url, *args, timeout=120):
    """Run headless Chromium on ``url`` with the network switched off -> (stdout, stderr)."""
    profile = tmp_path / f"profile-{len(os.listdir(tmp_path))}"
    cmd = [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
           "--disable-extensions", "--disable-background-networking", "--hide-scrollbars",
           f"--user-data-dir={profile}", '--host-resolver-rules=MAP * ~NOTFOUND',
           "--enable-logging=stderr", "--v=0", *args, url]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return done.stdout, done.stderr


def selftest(tmp_path, path):
    """The page's own #selftest verdict from the DOM, and the console lines Chromium logged."""
    dom, log = chromium(tmp_path, f"file://{os.path.abspath(path)}#selftest",
                        "--virtual-time-budget=8000", "--dump-dom")
    m = re.search(r'<pre id="selftest"[^>]*>(.*?)</pre>', dom, re.S)
    assert m, f"no self-test result in the DOM; chromium said:\n{log[-2000:]}"
    console = [line for line in log.splitlines() if "CONSOLE" in line or "Refused" in line]
    return m[1], console


def screenshot(tmp_path, path, size="1200,1400"):
    shot = tmp_path / (os.path.basename(path) + ".png")
    chromium(tmp_path, f"file://{os.path.abspath(path)}", f"--screenshot={shot}",
             f"--window-size={size}", "--virtual-time-budget=3000")
    image = np.asarray(Image.open(shot).convert("RGB"))
    assert image.shape[:2] == tuple(int(v) for v in size.split(",")[::-1])
    assert image.std() > 10, "the screenshot is (nearly) blank"
    return image


@needs_chromium
def test_report_page_in_the_browser(runs, tmp_path):
    path = os.path.join(runs[0], "report.html")
    verdict, console = selftest(tmp_path, path)
    assert verdict.startswith("SELFTEST PASS"), verdict
    assert "slider samples: 2 frames" in verdict and "matching the log: 4" in verdict
    assert not console, console
    image = screenshot(tmp_path, path)
    assert (np.abs(image.astype(int) - (27, 158, 119)).sum(-1) < 40).any()   # green curve/dots


@needs_chromium
def test_comparison_page_in_the_browser(runs, tmp_path):
    out = RP.write_comparison(list(runs), str(tmp_path / "compare.html"))
    verdict, console = selftest(tmp_path, out)
    assert verdict.startswith("SELFTEST PASS") and "matching the log: 8" in verdict, verdict
    assert not console, console
    screenshot(tmp_path, out)


@needs_chromium
def test_gan2d_page_in_the_browser_slider_layers_play_and_cursor(gan2d_run, tmp_path):
    path = os.path.join(gan2d_run, "gan2d.html")
    verdict, console = selftest(tmp_path, path)
    assert verdict.startswith("SELFTEST PASS"), verdict
    for layer in ("heat", "manifold", "real", "fake", "arrows"):
        assert f"toggle {layer} ok" in verdict
    assert "play/pause ok" in verdict and "matching the log: 4" in verdict
    assert not console, console
    image = screenshot(tmp_path, path, "1100,900")
    canvas = image[120:520, 60:470]                      # the heat map behind the points
    assert len(np.unique(canvas.reshape(-1, 3), axis=0)) > 50


@needs_chromium
def test_the_self_test_catches_a_network_request(runs, tmp_path):
    """The negative control: a page that tries to fetch is blocked and says so."""
    text = read(os.path.join(runs[0], "report.html"))
    bad = tmp_path / "bad.html"
    bad.write_text(text.replace("<body>", '<body><img src="http://example.com/x.png">', 1))
    verdict, console = selftest(tmp_path, bad)
    assert verdict.startswith("SELFTEST FAIL") and "blocked request: http://example.com" in verdict
    assert any("Content Security Policy" in line or "Refused" in line for line in console)
