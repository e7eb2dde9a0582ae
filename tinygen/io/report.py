"""Looking at runs without a server: ``report.html`` per run folder, comparison pages, the
GAN-Lab page of ``tinygen demo gan2d --html``, and the ``tinygen runs`` table.

Every page is ONE self-contained HTML file: inline CSS and JavaScript, pictures embedded as
``data:`` URIs, curves drawn here as inline SVG, nothing fetched from the network (a
Content-Security-Policy meta tag forbids it, so the page behaves the same from ``file://``
on a machine without a network). Open it in any browser.

    write_run_report(folder, defaults, presets)   folder/report.html: the config (departures
                                                  from the paper defaults marked), the curves of
                                                  metrics.jsonl, the sample grids over training
                                                  with a step slider, the final numbers, the
                                                  command line that reproduces the run
    write_comparison(folders, path)               several runs: curves overlaid, final grids
                                                  side by side, the options that differ
    write_gan2d_page(path, ...)                   GAN Lab (Kahng et al. 2018, arXiv:1809.01587)
                                                  from a recorded run: frames of data drawn by
                                                  JavaScript on a canvas, one toggle per layer
    list_runs(root) / runs_table(rows)            ``tinygen runs [DIR]``

The paper defaults come from the caller (``tinygen.methods.run.write_report`` reads them from
the method's ``Config``): this module sits with the other host-side io code, below the
methods, and never imports one.

Every page answers ``#selftest`` in its URL: a small script moves each slider, checks that
the picture changed and that every curve has as many points as the run logged steps, and
writes ``SELFTEST PASS`` (or what failed, with any script error or blocked request) into
``<pre id="selftest">``. The browser tests open the pages headless and read that line.
"""
from __future__ import annotations

import argparse
import base64
import html
import io as _io
import json
import math
import os
import re
import shlex
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from tinygen.io.files import atomic_write_bytes
from tinygen.io.plot import PALETTE, _tick_label, _ticks_within, nice_ticks

# Nothing but inline code and data: URIs, so a page can never reach the network.
CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
       "script-src 'unsafe-inline'")
# Options that say where and how loudly a run writes, not what it trains: shown in the config
# table, never marked as departures from the paper.
BOOKKEEPING = ("out", "resume", "quiet", "data_dir", "device", "log_every", "sample_every",
               "checkpoint_every")
NOT_REPRODUCED = ("method", "out", "resume", "quiet")      # a new run picks its own folder
NOT_CURVES = ("step", "time", "sec_per_step")
FRAME_NAME = re.compile(r"^(?P<group>.+?)_(?P<step>\d{4,})\.png$")   # samples_000500.png
MAX_FRAMES = 60                 # per slider: a default run's page stays near a megabyte
MAX_PICTURE_BYTES = 1_000_000   # larger pictures (a long run's GIF) are listed, not embedded
PICTURES = (".png", ".gif", ".jpg", ".jpeg")


class NotARun(ValueError):
    """The folder holds no run (no config.json, no metrics.jsonl)."""


# --------------------------------------------------------------------------
# reading a run folder
# --------------------------------------------------------------------------

def read_run(folder: str) -> dict:
    """Everything a report shows of a run folder: config, metrics, frames, pictures.

    Returns a dict: ``folder``, ``name`` (the folder's name), ``config`` (config.json, or {}),
    ``metrics`` (metrics.jsonl's records; a line cut short by a kill is skipped),
    ``frames`` ({group: [(step, path)]} from ``frames/`` and, for older runs, the folder
    itself), ``pictures`` (the other images, by name) and ``date`` (time of config.json).
    """
    if not os.path.isdir(folder):
        raise NotARun(f"{folder}: no such folder")
    path = lambda name: os.path.join(folder, name)   # noqa: E731
    config = {}
    if os.path.isfile(path("config.json")):
        with open(path("config.json"), encoding="utf-8") as f:
            config = json.load(f)
    metrics = []
    if os.path.isfile(path("metrics.jsonl")):
        with open(path("metrics.jsonl"), encoding="utf-8") as f:
            for line in f:
                try:
                    metrics.append(json.loads(line))
                except ValueError:
                    continue
    stamp_file = next((path(n) for n in ("config.json", "metrics.jsonl") if os.path.exists(path(n))),
                      folder)
    return {"folder": folder, "name": os.path.basename(os.path.abspath(folder)),
            "config": config, "metrics": metrics, "frames": frame_groups(folder),
            "pictures": pictures(folder), "date": os.path.getmtime(stamp_file)}


def check_run(run: dict) -> dict:
    """``run`` if it is a run with logged metrics, else :class:`NotARun` saying what is missing."""
    folder = run["folder"]
    if not run["config"] and not run["metrics"]:
        raise NotARun(f"{folder} is not a run folder (no config.json, no metrics.jsonl); pass "
                      "a folder that `tinygen run` wrote (`tinygen runs` lists them)")
    if not run["metrics"]:
        raise NotARun(f"{folder} has no metrics yet (metrics.jsonl is missing or empty): the "
                      "run stopped before its first logged step")
    return run


def frame_groups(folder: str) -> Dict[str, List[Tuple[int, str]]]:
    """{group: [(step, path), ...] sorted by step} for the ``GROUP_STEP.png`` frames."""
    groups: Dict[str, List[Tuple[int, str]]] = {}
    for where in (os.path.join(folder, "frames"), folder):
        if not os.path.isdir(where):
            continue
        for name in os.listdir(where):
            m = FRAME_NAME.match(name)
            if m:
                groups.setdefault(m["group"], []).append((int(m["step"]), os.path.join(where, name)))
    return {g: sorted(v) for g, v in sorted(groups.items())}


def pictures(folder: str) -> List[str]:
    """The images directly in the folder that are not frames (result.png, final.png, ...)."""
    return [os.path.join(folder, n) for n in sorted(os.listdir(folder))
            if n.lower().endswith(PICTURES) and not FRAME_NAME.match(n)]


def numeric_keys(metrics: Sequence[dict]) -> List[str]:
    """The metric names with a number in some record, in first-seen order (not step/time)."""
    keys: List[str] = []
    for record in metrics:
        for k, v in record.items():
            if k not in NOT_CURVES and k not in keys and _is_number(v):
                keys.append(k)
    return keys


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def series_of(metrics: Sequence[dict], key: str) -> Tuple[np.ndarray, np.ndarray]:
    """(steps, values) of one metric; NaN where a record lacks it (a gap in the curve)."""
    steps = np.array([r.get("step", i) for i, r in enumerate(metrics)], dtype=np.float64)
    values = np.array([r[key] if _is_number(r.get(key)) else np.nan for r in metrics],
                      dtype=np.float64)
    return steps, values


def logged_count(metrics: Sequence[dict], key: str) -> int:
    """How many records logged a finite value of ``key`` (= the points of its curve)."""
    return int(np.isfinite(series_of(metrics, key)[1]).sum())


# --------------------------------------------------------------------------
# curves: inline SVG written by hand
# --------------------------------------------------------------------------

def _hex(color) -> str:
    return "#%02x%02x%02x" % tuple(color)


def _text_width(text: str, size: float = 11) -> float:
    """A sans-serif string's width in pixels, roughly (0.6 em a character)."""
    return 0.6 * size * len(text)


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def svg_plot(series: Dict[str, Tuple[Sequence[float], Sequence[float]]], title: str = "",
             xlabel: str = "step", ylabel: str = "", size: Tuple[int, int] = (520, 300),
             ylim: Optional[Tuple[float, float]] = None, colors: Optional[Sequence] = None,
             cursor: bool = False, keys: Optional[Dict[str, str]] = None) -> str:
    """Curves as an inline ``<svg class="plot">``: axes, round ticks, grid lines, a legend.

    Args:
        series: label -> (xs, ys); NaN (or None) values are gaps in the line.
        ylim: fixed (bottom, top); default: the data's range plus 5 %.
        colors: one RGB triple per series (default :data:`tinygen.io.plot.PALETTE`).
        cursor: add a hidden vertical ``line.cursor`` that the page's script moves to a step.
        keys: label -> the series' ``data-key`` (default: the label), the name the page's
            self-test looks its logged count up by.
    Each series is a ``<g class="series" data-key=... data-name=... data-n=N>`` of polylines
    (runs of finite points) and circles (lone points), N the number of finite points. The ``<svg>``
    carries the x range and the plot area (``data-x0/x1/left/right``) for the cursor.
    """
    width, height = size
    colors = list(colors) if colors is not None else PALETTE
    data = {}
    for label, (xs, ys) in series.items():
        ys = [np.nan if v is None else v for v in ys]
        data[label] = (np.asarray(xs, np.float64), np.asarray(ys, np.float64))
    fx = np.concatenate([x[np.isfinite(y)] for x, y in data.values()] or [np.zeros(0)])
    fy = np.concatenate([y[np.isfinite(y)] for _, y in data.values()] or [np.zeros(0)])
    x0, x1 = (float(fx.min()), float(fx.max())) if fx.size else (0.0, 1.0)
    if x1 <= x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    if ylim is not None:
        lo, hi = map(float, ylim)
    else:
        lo, hi = (float(fy.min()), float(fy.max())) if fy.size else (0.0, 1.0)
        lo, hi = lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    x_ticks = _integer_ticks(x0, x1) if _all_integers(fx) else _ticks_within(x0, x1)
    y_ticks = _integer_ticks(lo, hi) if _all_integers(fy) else _ticks_within(lo, hi)
    y_labels = [_tick_label(v, y_ticks) for v in y_ticks]

    left = 12 + max(_text_width(s) for s in y_labels) + (16 if ylabel else 0)
    right = width - 14
    rows, row, used = [], [], 0.0                # the legend: rows above the plot area
    for i, label in enumerate(data):
        w = 18 + _text_width(label) + 12
        if row and used + w > right - left:
            rows.append(row)
            row, used = [], 0.0
        row.append((i, label))
        used += w
    if row:
        rows.append(row)
    top = 8 + (20 if title else 0) + 16 * len(rows) + 4
    bottom = height - 22 - (16 if xlabel else 0)

    def px(x, y):
        return (left + (x - x0) / (x1 - x0) * (right - left),
                bottom - (y - lo) / (hi - lo) * (bottom - top))

    esc = html.escape
    out = [f'<svg class="plot" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'role="img" aria-label="{esc(title or ", ".join(data))}" data-x0="{x0:g}" '
           f'data-x1="{x1:g}" data-left="{_num(left)}" data-right="{_num(right)}" '
           f'data-top="{_num(top)}" data-bottom="{_num(bottom)}">']
    if title:
        out.append(f'<title>{esc(title)}</title>')
        out.append(f'<text class="title" x="{_num(left)}" y="20">{esc(title)}</text>')
    for v, label in zip(y_ticks, y_labels):
        _, y = px(x0, v)
        out.append(f'<line class="grid" x1="{_num(left)}" x2="{_num(right)}" y1="{_num(y)}" '
                   f'y2="{_num(y)}"/><line class="axis" x1="{_num(left - 4)}" x2="{_num(left)}" '
                   f'y1="{_num(y)}" y2="{_num(y)}"/><text class="ytick" x="{_num(left - 6)}" '
                   f'y="{_num(y + 4)}" text-anchor="end">{esc(label)}</text>')
    for v in x_ticks:
        x, _ = px(v, lo)
        label = _tick_label(v, x_ticks)
        out.append(f'<line class="grid" x1="{_num(x)}" x2="{_num(x)}" y1="{_num(top)}" '
                   f'y2="{_num(bottom)}"/><line class="axis" x1="{_num(x)}" x2="{_num(x)}" '
                   f'y1="{_num(bottom)}" y2="{_num(bottom + 4)}"/><text class="xtick" '
                   f'x="{_num(x)}" y="{_num(bottom + 16)}" text-anchor="middle">{esc(label)}</text>')
    out.append(f'<rect class="frame" x="{_num(left)}" y="{_num(top)}" '
               f'width="{_num(right - left)}" height="{_num(bottom - top)}"/>')
    for i, (label, (xs, ys)) in enumerate(data.items()):
        color = _hex(colors[i % len(colors)])
        ok = np.isfinite(ys) & np.isfinite(xs)
        key = (keys or {}).get(label, label)
        out.append(f'<g class="series" data-key="{esc(key)}" data-name="{esc(label)}" '
                   f'data-n="{int(ok.sum())}" '
                   f'stroke="{color}" fill="{color}">')
        for run in _runs(ok):
            pts = [px(xs[j], ys[j]) for j in run]
            if len(pts) == 1:
                out.append(f'<circle cx="{_num(pts[0][0])}" cy="{_num(pts[0][1])}" r="2.5"/>')
            else:
                out.append('<polyline fill="none" points="'
                           + " ".join(f"{_num(a)},{_num(b)}" for a, b in pts) + '"/>')
        out.append('</g>')
    for r, entries in enumerate(rows):             # the legend
        x, y = left, 8 + (20 if title else 0) + 16 * r + 10
        for i, label in entries:
            color = _hex(colors[i % len(colors)])
            out.append(f'<rect class="key" x="{_num(x)}" y="{_num(y - 9)}" width="12" height="10" '
                       f'fill="{color}"/><text class="legend" x="{_num(x + 16)}" '
                       f'y="{_num(y)}">{esc(label)}</text>')
            x += 18 + _text_width(label) + 12
    if xlabel:
        out.append(f'<text class="xlabel" x="{_num((left + right) / 2)}" y="{height - 6}" '
                   f'text-anchor="middle">{esc(xlabel)}</text>')
    if ylabel:
        cy = (top + bottom) / 2
        out.append(f'<text class="ylabel" x="12" y="{_num(cy)}" text-anchor="middle" '
                   f'transform="rotate(-90 12 {_num(cy)})">{esc(ylabel)}</text>')
    if cursor:
        out.append(f'<line class="cursor" x1="{_num(left)}" x2="{_num(left)}" y1="{_num(top)}" '
                   f'y2="{_num(bottom)}" visibility="hidden"/>')
    out.append('</svg>')
    return "\n".join(out)


def _all_integers(values: np.ndarray) -> bool:
    return values.size > 0 and bool(np.all(values == np.round(values)))


def _integer_ticks(lo: float, hi: float) -> np.ndarray:
    """Round ticks inside [lo, hi] a whole number apart, for steps and counts (modes):
    no "2.5 modes", no "step 3.5"."""
    for n in (5, 6, 7, 4, 8, 9, 3):
        ticks = _ticks_within(lo, hi) if n == 5 else nice_ticks(lo, hi, n)
        ticks = ticks[(ticks >= lo - 1e-9 * (hi - lo)) & (ticks <= hi + 1e-9 * (hi - lo))]
        step = ticks[1] - ticks[0] if len(ticks) > 1 else 0.5
        if len(ticks) >= 3 and step >= 1 and step == round(step):
            return ticks
    return np.arange(math.ceil(lo), math.floor(hi) + 1, dtype=np.float64)   # a short range


def _runs(ok: np.ndarray) -> List[List[int]]:
    """Indices of the runs of consecutive True values."""
    runs, current = [], []
    for j, good in enumerate(ok):
        if good:
            current.append(j)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def metric_plots(metrics: Sequence[dict], cursor: bool = False) -> List[str]:
    """The curves of one run: every ``loss*`` in one plot, then one plot per other metric."""
    keys = numeric_keys(metrics)
    losses = [k for k in keys if k.startswith("loss")]
    plots = []
    if losses:
        plots.append(svg_plot({k: series_of(metrics, k) for k in losses}, "losses",
                              cursor=cursor))
    for k in keys:
        if k not in losses:
            plots.append(svg_plot({k: series_of(metrics, k)}, k, ylabel=k, cursor=cursor))
    return plots


# --------------------------------------------------------------------------
# pictures as data: URIs
# --------------------------------------------------------------------------

def data_uri(path: str, quantize_above: int = 20_000) -> str:
    """An image file as a ``data:`` URI; a PNG above ``quantize_above`` bytes is re-encoded
    with a 256-colour palette when that is smaller (sample grids lose nothing visible)."""
    with open(path, "rb") as f:
        raw = f.read()
    ext = os.path.splitext(path)[1].lower()
    mime = {".png": "image/png", ".gif": "image/gif"}.get(ext, "image/jpeg")
    if ext == ".png" and len(raw) > quantize_above:
        buffer = _io.BytesIO()
        Image.open(_io.BytesIO(raw)).convert("RGB").quantize(256).save(buffer, "PNG",
                                                                       optimize=True)
        if buffer.tell() < len(raw):
            raw = buffer.getvalue()
    return f"data:{mime};base64," + base64.b64encode(raw).decode("ascii")


def spread(items: Sequence, k: int) -> list:
    """At most ``k`` of ``items``, evenly spaced, always the first and the last."""
    if len(items) <= k:
        return list(items)
    idx = sorted(set(np.linspace(0, len(items) - 1, k).round().astype(int).tolist()))
    return [items[i] for i in idx]


# --------------------------------------------------------------------------
# the page around it
# --------------------------------------------------------------------------

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       margin: 0 auto; max-width: 1120px; padding: 12px 20px 40px; }
h1 { font-size: 22px; margin: 8px 0 2px; } h2 { font-size: 17px; margin: 26px 0 8px;
border-bottom: 1px solid #ddd; padding-bottom: 3px; } .sub { color: #666; margin: 0 0 8px; }
pre.cmd { background: #f4f4f4; border: 1px solid #ddd; padding: 8px 10px; white-space: pre-wrap;
          word-break: break-all; }
table { border-collapse: collapse; margin: 4px 0; } td, th { padding: 2px 10px 2px 0;
text-align: left; vertical-align: top; border-bottom: 1px solid #eee; }
th { font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.departure td { background: #fff4d6; } .mark { color: #b35900; font-weight: 700; }
.plots { display: flex; flex-wrap: wrap; gap: 8px; }
svg.plot { background: #fff; font: 11px system-ui, sans-serif; }
svg.plot .title { font-size: 13px; font-weight: 600; } svg.plot .grid { stroke: #e8e8e8; }
svg.plot .axis, svg.plot .frame { stroke: #222; fill: none; } svg.plot polyline { stroke-width: 1.8; }
svg.plot .cursor { stroke: #d62728; stroke-width: 1.5; stroke-dasharray: 4 3; }
.frames img, .gallery img { image-rendering: pixelated; border: 1px solid #ccc; max-width: 100%; }
.slider { display: flex; align-items: center; gap: 10px; margin: 4px 0; }
.slider input[type=range] { width: 420px; } .gallery { display: flex; flex-wrap: wrap; gap: 14px; }
.gallery.side img { width: 340px; image-rendering: auto; } figure { margin: 0; } figcaption { color: #555; font-size: 12px; }
.swatch { display: inline-block; width: 12px; height: 10px; margin-right: 5px;
          border: 1px solid #999; }
#selftest { background: #eef; padding: 6px; }
"""

# In <head>, before any content: every script error and every request the CSP blocks.
WATCH_JS = r"""
"use strict";
var tinygenErrors = [];
window.addEventListener("error", e => tinygenErrors.push("script error: " + e.message));
document.addEventListener("securitypolicyviolation",
  e => tinygenErrors.push("blocked request: " + e.blockedURI + " (" + e.violatedDirective + ")"));
"""

COMMON_JS = r"""
"use strict";
function pageData() { return JSON.parse(document.getElementById("data").textContent); }
// Points drawn by a curve: the coordinates of its polylines plus its lone dots.
function drawnPoints(g) {
  let n = g.querySelectorAll("circle").length;
  g.querySelectorAll("polyline").forEach(p => {
    n += p.getAttribute("points").trim().split(/\s+/).length; });
  return n;
}
function checkCurves(fail) {
  const curves = document.querySelectorAll("svg.plot g.series");
  curves.forEach(g => { const want = +g.dataset.n, got = drawnPoints(g);
    if (got !== want) fail("curve " + g.dataset.name + ": " + got + " points, logged " + want); });
  return curves.length;
}
// Every curve named in logged ({data-key: count}) has that many points: one per logged step.
function checkLogged(logged, fail) {
  let n = 0;
  for (const [key, want] of Object.entries(logged)) {
    document.querySelectorAll("svg.plot g.series").forEach(g => {
      if (g.dataset.key !== key) return;
      n++; const got = drawnPoints(g);
      if (got !== want) fail(key + ": " + got + " points, but " + want + " logged steps"); });
  }
  return n;
}
// The dashed cursor of every plot that has one, moved to a step.
function moveCursors(step) {
  document.querySelectorAll("svg.plot line.cursor").forEach(line => {
    const s = line.ownerSVGElement.dataset;
    const x = +s.left + (step - s.x0) / (s.x1 - s.x0) * (s.right - s.left);
    line.setAttribute("x1", x); line.setAttribute("x2", x);
    line.setAttribute("visibility", "visible"); });
}
function reportSelftest(checks, failures) {
  const all = failures.concat(tinygenErrors), out = document.getElementById("selftest");
  out.hidden = false;
  out.textContent = (all.length ? "SELFTEST FAIL\n" + all.join("\n") : "SELFTEST PASS") +
                    "\n" + checks.join("\n");
}
function whenSelftest(fn) {
  if (location.hash === "#selftest") window.addEventListener("load", () => setTimeout(() => {
    const failures = [], checks = [];
    try { fn(checks, m => failures.push(m)); } catch (e) { failures.push("selftest threw: " + e); }
    reportSelftest(checks, failures); }, 50));
}
"""


def _json_script(data) -> str:
    """Data for the page's script, in a non-executed ``<script type=application/json>``."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return '<script type="application/json" id="data">' + text.replace("</", "<\\/") + "</script>"


def page(title: str, body: str, script: str = "", data=None) -> str:
    """The HTML document: CSP, CSS, body, page data, the common script and ``script``."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n'
            f'<script>{WATCH_JS}</script></head>\n<body>\n{body}\n'
            f'<pre id="selftest" hidden></pre>\n'
            + (_json_script(data) + "\n" if data is not None else "")
            + f'<script>{COMMON_JS}\n{script}</script>\n</body></html>\n')


def _fmt(v) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return json.dumps(v)
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return " ".join(_fmt(x) for x in v) or "(empty)"
    return str(v)


def _same(a, b) -> bool:
    """Equal as JSON values (tuples and lists alike; 1 == 1.0)."""
    return json.loads(json.dumps(a)) == json.loads(json.dumps(b))


def _date(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


# --------------------------------------------------------------------------
# one run: report.html
# --------------------------------------------------------------------------

def departures(config: dict, defaults: Optional[dict]) -> Dict[str, object]:
    """{option: paper default} of the options whose value departs from the paper default
    (bookkeeping options such as ``out`` or ``log_every`` never count)."""
    if not defaults:
        return {}
    return {k: defaults[k] for k, v in config.items()
            if k in defaults and k not in BOOKKEEPING and not _same(v, defaults[k])}


def preset_of(config: dict, presets: Optional[dict], changed: Sequence[str]) -> Optional[str]:
    """The preset (other than ``paper``) whose values explain most of the ``changed``
    options (the likely ``--preset`` of the run; options given on the command line may
    override some of its values), or None when no preset value matches."""
    best, covered = None, 0
    for name, values in (presets or {}).items():
        n = sum(1 for k in changed if k in values and _same(config.get(k), values[k]))
        if name != "paper" and n > covered:
            best, covered = name, n
    return best


def option_flag(name: str) -> str:
    """``batch_size`` -> ``--batch-size``, ``lambda_`` -> ``--lambda`` (tinygen.cli's rule)."""
    return "--" + (name.rstrip("_") or name).replace("_", "-")


def reproduce_command(config: dict, defaults: Optional[dict] = None,
                      presets: Optional[dict] = None) -> str:
    """The ``tinygen run`` line that trains this run again (in a new folder).

    With the paper defaults known, it names ``--preset paper`` (where the method has it,
    so no preset fills anything silently) and every option whose value differs from its
    default; without them, every option.
    """
    method = config.get("method", "METHOD")
    parts = ["tinygen", "run", str(method)]
    if defaults and presets and "paper" in presets:
        parts += ["--preset", "paper"]
    for key, value in config.items():
        if key in NOT_REPRODUCED or (defaults and key in defaults and _same(value, defaults[key])):
            continue
        if defaults and key not in defaults:
            continue                           # not an option of the method (any more)
        flag = option_flag(key)
        if isinstance(value, bool):
            parts.append(flag if value else "--no-" + flag[2:])
        elif value is None:
            continue                           # "not set": the default is the only way to say it
        elif isinstance(value, list):
            parts += [flag] + [str(v) for v in value]
        else:
            parts += [flag, str(value)]
    return " ".join(shlex.quote(p) for p in parts)


def _config_table(config: dict, defaults: Optional[dict], presets: Optional[dict]) -> str:
    away = departures(config, defaults)
    preset = preset_of(config, presets, list(away))
    rows = []
    for key, value in config.items():
        if key == "method":
            continue
        note, cls = "", ""
        if key in away:
            cls = ' class="departure"'
            note = f'<span class="mark">&#8800; paper</span> default {html.escape(_fmt(away[key]))}'
            values = (presets or {}).get(preset, {})
            if preset and key in values and _same(value, values[key]):
                note += f" (set by preset {html.escape(preset)})"
        elif defaults and key in defaults and key not in BOOKKEEPING:
            note = "paper default"
        rows.append(f'<tr{cls}><td><code>{html.escape(option_flag(key))}</code></td>'
                    f'<td><code>{html.escape(_fmt(value))}</code></td><td>{note}</td></tr>')
    if defaults is None:
        head = "<p>The method's paper defaults are not known here, so no departure is marked.</p>"
    elif away:
        head = (f"<p>{len(away)} option{'s' * (len(away) != 1)} depart from the paper's "
                f"defaults (marked <span class=\"mark\">&#8800; paper</span>)"
                + (f"; preset <b>{html.escape(preset)}</b> set those it names" if preset else "")
                + ".</p>")
    else:
        head = "<p>Every option has the paper's default value.</p>"
    return (head + '<table class="config"><tr><th>option</th><th>value</th><th>paper</th></tr>'
            + "".join(rows) + "</table>")


def _final_table(metrics: Sequence[dict]) -> str:
    if not metrics:
        return "<p>No metrics were logged.</p>"
    last = metrics[-1]
    rows = [("step", last.get("step"))]
    rows += [(k, last[k]) for k in numeric_keys([last])]
    if _is_number(last.get("time")):
        rows.append(("wall time (s)", last["time"]))
    if _is_number(last.get("sec_per_step")):
        rows.append(("seconds per step", last["sec_per_step"]))
    return ('<table class="final">' + "".join(
        f'<tr><td>{html.escape(k)}</td><td class="num">{html.escape(_fmt(v))}</td></tr>'
        for k, v in rows) + "</table>")


def _frame_data(run: dict) -> Dict[str, list]:
    """{group: [{"step": s, "src": data URI}]}, at most :data:`MAX_FRAMES` per group."""
    return {g: [{"step": s, "src": data_uri(p)} for s, p in spread(items, MAX_FRAMES)]
            for g, items in run["frames"].items()}


def _sliders_html(frames: Dict[str, list], prefix: str = "") -> str:
    parts = []
    for g, items in frames.items():
        n = len(items)
        parts.append(
            f'<div class="frames" data-group="{html.escape(g)}"><h3>{html.escape(g)}</h3>'
            f'<div class="slider"><input type="range" min="0" max="{n - 1}" value="{n - 1}" '
            f'aria-label="step of {html.escape(g)}"><span class="label">step '
            f'{items[-1]["step"]} ({n} of {n})</span></div>'
            f'<img alt="{html.escape(g)} at step {items[-1]["step"]}" src="{items[-1]["src"]}">'
            f'</div>')
    return "\n".join(parts) or "<p>No sample frames were saved.</p>"


def _gallery_html(paths: Sequence[str]) -> str:
    figures = []
    for p in paths:
        name, size = os.path.basename(p), os.path.getsize(p)
        if size > MAX_PICTURE_BYTES:
            figures.append(f"<figure><figcaption>{html.escape(name)} ({size / 1e6:.1f} MB, "
                           "not embedded: open it beside this page)</figcaption></figure>")
            continue
        figures.append(f'<figure><img alt="{html.escape(name)}" src="{data_uri(p)}">'
                       f"<figcaption>{html.escape(name)}</figcaption></figure>")
    return '<div class="gallery">' + "".join(figures) + "</div>"


REPORT_JS = r"""
const DATA = pageData();
function showFrame(box, i) {
  const items = DATA.frames[box.dataset.group], f = items[i];
  box.querySelector("img").src = f.src;
  box.querySelector("img").alt = box.dataset.group + " at step " + f.step;
  box.querySelector(".label").textContent =
    "step " + f.step + " (" + (i + 1) + " of " + items.length + ")";
}
document.querySelectorAll(".frames").forEach(box => {
  const slider = box.querySelector("input");
  slider.addEventListener("input", () => showFrame(box, +slider.value));
});
whenSelftest((checks, fail) => {
  document.querySelectorAll(".frames").forEach(box => {
    const slider = box.querySelector("input"), img = box.querySelector("img");
    const n = DATA.frames[box.dataset.group].length;
    slider.value = 0; slider.dispatchEvent(new Event("input"));
    const first = img.src, label = box.querySelector(".label").textContent;
    slider.value = n - 1; slider.dispatchEvent(new Event("input"));
    if (n > 1 && img.src === first) fail("slider " + box.dataset.group + ": picture unchanged");
    if (n > 1 && box.querySelector(".label").textContent === label)
      fail("slider " + box.dataset.group + ": step label unchanged");
    checks.push("slider " + box.dataset.group + ": " + n + " frames");
  });
  checks.push("curves: " + checkCurves(fail) + ", matching the log: " +
              checkLogged(DATA.logged, fail));
  const outside = Array.from(document.images).filter(im => !im.src.startsWith("data:"));
  outside.forEach(im => fail("image not embedded: " + im.src));
  checks.push("images: " + document.images.length + ", all embedded");
});
"""


def run_report_html(folder: str, defaults: Optional[dict] = None,
                    presets: Optional[dict] = None, command: Optional[str] = None,
                    title: Optional[str] = None) -> str:
    """The report page of one run folder (see :func:`write_run_report`)."""
    run = read_run(folder)
    config, metrics = run["config"], run["metrics"]
    method, dataset, loss = config.get("method", ""), config.get("dataset"), config.get("loss")
    heading = title or " ".join(str(s) for s in (method, f"({loss})" if loss else "",
                                                 "on" if dataset else "", dataset or "") if s)
    heading = heading or run["name"]
    last = metrics[-1] if metrics else {}
    facts = [f"run folder <code>{html.escape(os.path.abspath(folder))}</code>",
             f"started {_date(run['date'])}"]
    if last:
        facts.append(f"{last.get('step')} of {config.get('steps', last.get('step'))} steps")
        if _is_number(last.get("time")):
            facts.append(f"{last['time']:.1f} s")
    frames = _frame_data(run)
    body = [f"<h1>{html.escape(heading)}</h1>", f'<p class="sub">{" &middot; ".join(facts)}</p>']
    cmd = command or (reproduce_command(config, defaults, presets) if config else None)
    if cmd:
        body += ["<h2>Reproduce</h2>", f'<pre class="cmd" id="command">{html.escape(cmd)}</pre>']
    if metrics:
        body += ["<h2>Final numbers</h2>", _final_table(metrics),
                 "<h2>Curves</h2>", '<div class="plots">' + "".join(metric_plots(metrics))
                 + "</div>"]
    if frames:
        body += ["<h2>Samples over training</h2>", _sliders_html(frames)]
    if run["pictures"]:
        body += ["<h2>Pictures</h2>", _gallery_html(run["pictures"])]
    if config:
        body += ["<h2>Config</h2>", _config_table(config, defaults, presets)]
    if config or metrics:             # what `tinygen report` accepts (check_run)
        body.append('<p class="sub">Written by tinygen (<code>tinygen report '
                    f'{html.escape(shlex.quote(folder))}</code> rewrites it).</p>')
    logged = {k: logged_count(metrics, k) for k in numeric_keys(metrics)}
    return page(f"tinygen report: {heading}", "\n".join(body), REPORT_JS,
                {"frames": frames, "logged": logged})


def write_run_report(folder: str, defaults: Optional[dict] = None,
                     presets: Optional[dict] = None, command: Optional[str] = None,
                     title: Optional[str] = None, path: Optional[str] = None) -> str:
    """Write ``folder/report.html`` (or ``path``), atomically; return its path.

    Args:
        defaults: the method's Config defaults (the paper's values), as JSON values; the
            options departing from them are marked. None: nothing is marked.
        presets: the method's PRESETS, to name the preset that set a departure.
        command: the line that reproduces the run (default :func:`reproduce_command`).
    A folder without config.json or metrics.jsonl (a demo's pictures) still gets a page.
    """
    path = path or os.path.join(folder, "report.html")
    text = run_report_html(folder, defaults, presets, command, title)
    atomic_write_bytes(path, text.encode("utf-8"))
    return path


# --------------------------------------------------------------------------
# several runs: the comparison page
# --------------------------------------------------------------------------

def run_labels(runs: Sequence[dict]) -> List[str]:
    """A short label per run: its method and objective (``gan (minimax)``, ``wgan-gp``), then
    up to two other options that differ between the runs (``lr_g=0.001``); the folder name
    where that still does not tell them apart."""
    configs = [r["config"] for r in runs]
    labels = [str(c.get("method", "?")) + (f" ({c['loss']})" if "loss" in c else "")
              for c in configs]
    if len(set(labels)) < len(labels):
        keys = [k for k in differing_options(runs) if k not in ("method", "loss")
                and all(k in c for c in configs)][:2]
        labels = [", ".join([label] + [f"{k}={_fmt(c[k])}" for k in keys])
                  for label, c in zip(labels, configs)]
    if len(set(labels)) < len(labels):
        labels = [r["name"] for r in runs]
    return labels


def differing_options(runs: Sequence[dict]) -> List[str]:
    """The config options (not bookkeeping) whose values are not the same in every run."""
    keys: List[str] = []
    for run in runs:
        keys += [k for k in run["config"] if k not in keys and k not in BOOKKEEPING]
    return [k for k in keys if len({json.dumps(r["config"].get(k)) for r in runs}) > 1]


def comparison_html(folders: Sequence[str]) -> str:
    """The page of :func:`write_comparison`."""
    runs = [check_run(read_run(f)) for f in folders]
    labels = run_labels(runs)
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(runs))]
    rows = []
    for run, label, color in zip(runs, labels, colors):
        c, last = run["config"], run["metrics"][-1]
        final = ", ".join(f"{k} {_fmt(last[k])}" for k in numeric_keys([last]))
        rows.append(f'<tr><td><span class="swatch" style="background:{_hex(color)}"></span>'
                    f'{html.escape(label)}</td><td><code>{html.escape(run["name"])}</code></td>'
                    f'<td>{html.escape(str(c.get("method", "")))}</td>'
                    f'<td>{html.escape(str(c.get("dataset", "")))}</td>'
                    f'<td class="num">{last.get("step")}</td><td>{html.escape(final)}</td></tr>')
    body = [f"<h1>{len(runs)} runs compared</h1>",
            '<table><tr><th>run</th><th>folder</th><th>method</th><th>dataset</th>'
            '<th>steps</th><th>final numbers</th></tr>' + "".join(rows) + "</table>"]
    keys = differing_options(runs)
    if keys:
        head = "".join(f"<th>{html.escape(label)}</th>" for label in labels)
        lines = "".join(f'<tr><td><code>{html.escape(option_flag(k))}</code></td>'
                        + "".join(f"<td><code>{html.escape(_fmt(r['config'][k]))}</code></td>"
                                  if k in r["config"] else '<td title="not an option of this '
                                  'method">&mdash;</td>' for r in runs) + "</tr>" for k in keys)
        body += ["<h2>Options that differ</h2>", f"<table><tr><th>option</th>{head}</tr>{lines}</table>"]
    all_keys: List[str] = []
    for run in runs:
        all_keys += [k for k in numeric_keys(run["metrics"]) if k not in all_keys]
    plots, logged = [], {}
    for k in all_keys:
        have = [i for i, r in enumerate(runs) if k in numeric_keys(r["metrics"])]
        plots.append(svg_plot({labels[i]: series_of(runs[i]["metrics"], k) for i in have}, k,
                              ylabel=k, colors=[colors[i] for i in have],
                              keys={labels[i]: f"{i}:{k}" for i in have}))
        logged.update({f"{i}:{k}": logged_count(runs[i]["metrics"], k) for i in have})
    body += ["<h2>Curves</h2>", '<div class="plots">' + "".join(plots) + "</div>"]
    figures = []
    for run, label in zip(runs, labels):
        groups = run["frames"]
        if groups:
            step, p = groups[next(iter(groups))][-1]
            figures.append(f'<figure><img alt="{html.escape(label)}" src="{data_uri(p)}">'
                           f"<figcaption>{html.escape(label)}: step {step}</figcaption></figure>")
    if figures:
        body += ["<h2>Final samples</h2>", '<div class="gallery side">' + "".join(figures) + "</div>"]
    script = ('whenSelftest((checks, fail) => { checks.push("curves: " + checkCurves(fail) + '
              '", matching the log: " + checkLogged(pageData().logged, fail)); '
              'checks.push("images: " + document.images.length); });')
    return page(f"tinygen: {len(runs)} runs compared", "\n".join(body), script,
                {"labels": labels, "logged": logged})


def write_comparison(folders: Sequence[str], path: str) -> str:
    """One page for several run folders: their curves overlaid (one colour per run), their
    final sample grids side by side, and the options that differ. Returns ``path``."""
    atomic_write_bytes(path, comparison_html(folders).encode("utf-8"))
    return path


# --------------------------------------------------------------------------
# tinygen runs [DIR]
# --------------------------------------------------------------------------

def is_run_folder(folder: str) -> bool:
    return any(os.path.isfile(os.path.join(folder, n)) for n in ("config.json", "metrics.jsonl"))


def list_runs(root: str = "runs") -> List[dict]:
    """The run folders in ``root`` (``root`` itself, if it is one), oldest first: dicts
    with ``name``, ``method``, ``dataset``, ``steps`` ("logged/budget"), ``final`` (the last
    logged metrics, short) and ``date``."""
    if not os.path.isdir(root):
        raise NotARun(f"{root}: no such folder (runs are written under ./runs by default)")
    folders = [root] if is_run_folder(root) else [
        os.path.join(root, n) for n in sorted(os.listdir(root))
        if os.path.isdir(os.path.join(root, n)) and is_run_folder(os.path.join(root, n))]
    rows = []
    for folder in folders:
        run = read_run(folder)
        c, last = run["config"], (run["metrics"][-1] if run["metrics"] else {})
        final = " ".join(f"{k}={_fmt(last[k])}" for k in numeric_keys([last]))
        budget = c.get("steps")
        steps = f"{last.get('step', 0)}/{budget}" if budget else str(last.get("step", 0))
        rows.append({"name": run["name"], "method": str(c.get("method", "?")),
                     "dataset": str(c.get("dataset") or "-"), "steps": steps,
                     "final": final or "-", "date": _date(run["date"]), "time": run["date"]})
    return sorted(rows, key=lambda r: r["time"])


RUNS_COLUMNS = ("name", "method", "dataset", "steps", "final", "date")


def runs_table(rows: Sequence[dict]) -> str:
    """The rows of :func:`list_runs` as an aligned text table with a header line."""
    head = {"name": "run", "method": "method", "dataset": "dataset", "steps": "steps",
            "final": "final metrics", "date": "date"}
    table = [head] + list(rows)
    widths = {c: max(len(str(r[c])) for r in table) for c in RUNS_COLUMNS}
    return "\n".join("  ".join(str(r[c]).ljust(widths[c]) for c in RUNS_COLUMNS).rstrip()
                     for r in table)


def runs_main(argv=None) -> int:
    """``tinygen runs [DIR]``: the run folders under DIR (default ./runs) as a table."""
    parser = argparse.ArgumentParser(
        prog="tinygen runs", description="List the run folders under DIR (method, dataset, "
        "steps logged / budget, the last logged metrics, the date), oldest first.")
    parser.add_argument("dir", nargs="?", default="runs", help="folder of run folders "
                        "(or one run folder; default: ./runs)")
    args = parser.parse_args(argv)
    try:
        rows = list_runs(args.dir)
    except NotARun as exc:
        print(f"tinygen runs: {exc}", file=sys.stderr)
        return 2
    if not rows:
        print(f"tinygen runs: no run folders in {args.dir}", file=sys.stderr)
        return 0
    print(runs_table(rows))
    return 0


# --------------------------------------------------------------------------
# tinygen report RUN [RUN ...] [--out FILE.html]
# --------------------------------------------------------------------------

def report_main(argv=None, reference_of=None) -> int:
    """``tinygen report RUN [RUN ...] [--out FILE.html]``.

    ``reference_of(method) -> (defaults, presets) or None``: the method's paper defaults
    and PRESETS (the command line passes :func:`tinygen.methods.run.method_reference`).
    """
    parser = argparse.ArgumentParser(
        prog="tinygen report",
        description="Write the self-contained HTML report of a run folder (RUN/report.html: "
                    "config with the departures from the paper marked, curves, samples over "
                    "training, final numbers, the command that reproduces it), or with several "
                    "runs one comparison page (curves overlaid, final samples side by side).")
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run folders")
    parser.add_argument("--out", default=None, help="the page to write (default: "
                        "RUN/report.html for one run, ./comparison.html for several)")
    args = parser.parse_args(argv)
    try:
        runs = [check_run(read_run(folder)) for folder in args.runs]
        if len(runs) == 1:
            method = runs[0]["config"].get("method")
            ref = reference_of(method) if (reference_of and method) else None
            defaults, presets = ref if ref else (None, None)
            path = write_run_report(args.runs[0], defaults, presets, path=args.out)
        else:
            path = write_comparison(args.runs, args.out or "comparison.html")
    except NotARun as exc:
        print(f"tinygen report: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


# --------------------------------------------------------------------------
# tinygen demo gan2d --html: GAN Lab from a recorded run
# --------------------------------------------------------------------------

GAN2D_JS = r"""
const D = pageData();
const cv = document.getElementById("lab");
const ctx = cv.getContext("2d", {willReadFrequently: location.hash === "#selftest"});
const P = D.plot, N = D.frames.length;
const slider = document.getElementById("step"), play = document.getElementById("play");
const X = x => P.left + (x - D.xlim[0]) / (D.xlim[1] - D.xlim[0]) * P.size;
const Y = y => P.top + (D.ylim[1] - y) / (D.ylim[1] - D.ylim[0]) * P.size;
const rgb = c => "rgb(" + c.join(",") + ")";
const heatCache = [];
let current = N - 1, timer = null;

// D(x) on the n x n grid (row 0 at the bottom), decoded once per frame into a small canvas.
function heatImage(i) {
  if (heatCache[i]) return heatCache[i];
  const n = D.n, bytes = atob(D.frames[i].heat), s = D.stops;
  const small = document.createElement("canvas"); small.width = small.height = n;
  const img = small.getContext("2d").createImageData(n, n);
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) {
    const v = bytes.charCodeAt(r * n + c) / 255, t = v < 0.5 ? v * 2 : v * 2 - 1;
    const a = v < 0.5 ? s[0] : s[1], b = v < 0.5 ? s[1] : s[2], o = ((n - 1 - r) * n + c) * 4;
    for (let k = 0; k < 3; k++) img.data[o + k] = a[k] + (b[k] - a[k]) * t;
    img.data[o + 3] = 255;
  }
  small.getContext("2d").putImageData(img, 0, 0);
  return (heatCache[i] = small);
}
function dots(flat, color) {
  ctx.fillStyle = rgb(color);
  for (let j = 0; j < flat.length; j += 2) {
    ctx.beginPath(); ctx.arc(X(flat[j]), Y(flat[j + 1]), 2, 0, 2 * Math.PI); ctx.fill(); }
}
function arrows(flat, color) {           // x, y, dx, dy per arrow, in data units
  ctx.strokeStyle = ctx.fillStyle = rgb(color); ctx.lineWidth = 1;
  for (let j = 0; j < flat.length; j += 4) {
    const x0 = X(flat[j]), y0 = Y(flat[j + 1]);
    const x1 = X(flat[j] + flat[j + 2]), y1 = Y(flat[j + 1] + flat[j + 3]);
    ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke();
    const len = Math.hypot(x1 - x0, y1 - y0);
    if (len < 3) continue;
    const ux = (x1 - x0) / len, uy = (y1 - y0) / len, bx = x1 - 5 * ux, by = y1 - 5 * uy;
    ctx.beginPath(); ctx.moveTo(x1, y1); ctx.lineTo(bx - 3 * uy, by + 3 * ux);
    ctx.lineTo(bx + 3 * uy, by - 3 * ux); ctx.closePath(); ctx.fill();
  }
}
function axes() {
  ctx.strokeStyle = "#222"; ctx.fillStyle = "#222"; ctx.lineWidth = 1;
  ctx.font = "11px system-ui, sans-serif"; ctx.strokeRect(P.left, P.top, P.size, P.size);
  ctx.textAlign = "center";
  D.xticks.forEach(v => { const x = X(v);
    ctx.beginPath(); ctx.moveTo(x, P.top + P.size); ctx.lineTo(x, P.top + P.size + 4); ctx.stroke();
    ctx.fillText(v, x, P.top + P.size + 16); });
  ctx.fillText("x\u2081", P.left + P.size / 2, P.top + P.size + 30);
  ctx.textAlign = "right";
  D.yticks.forEach(v => { const y = Y(v);
    ctx.beginPath(); ctx.moveTo(P.left - 4, y); ctx.lineTo(P.left, y); ctx.stroke();
    ctx.fillText(v, P.left - 6, y + 4); });
  ctx.save(); ctx.translate(12, P.top + P.size / 2); ctx.rotate(-Math.PI / 2);
  ctx.textAlign = "center"; ctx.fillText("x\u2082", 0, 0); ctx.restore();
}
function on(layer) { return document.getElementById("layer-" + layer).checked; }
function draw(i) {
  const f = D.frames[i];
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, cv.width, cv.height);
  ctx.save(); ctx.beginPath(); ctx.rect(P.left, P.top, P.size, P.size); ctx.clip();
  if (on("heat")) { ctx.imageSmoothingEnabled = true;
    ctx.drawImage(heatImage(i), P.left, P.top, P.size, P.size); }
  if (on("manifold")) { ctx.strokeStyle = rgb(D.colors.manifold); ctx.lineWidth = 1;
    f.lines.forEach(line => { ctx.beginPath();
      for (let j = 0; j < line.length; j += 2) ctx[j ? "lineTo" : "moveTo"](X(line[j]), Y(line[j + 1]));
      ctx.stroke(); }); }
  if (on("real")) dots(D.real, D.colors.real);
  if (on("fake")) dots(f.fake, D.colors.fake);
  if (on("arrows")) arrows(f.arrows, D.colors.arrows);
  ctx.restore(); axes();
}
function show(i) {
  current = i; slider.value = i; draw(i);
  const f = D.frames[i], m = f.metrics, parts = ["step " + f.step + " / " + D.steps];
  if (m.loss_d !== undefined) parts.push("loss_d " + m.loss_d.toFixed(3));
  if (m.loss_g !== undefined) parts.push("loss_g " + m.loss_g.toFixed(3));
  if (m.modes !== undefined) parts.push("modes " + m.modes + "/" + D.modes_total);
  if (m.hq !== undefined) parts.push("high quality " + Math.round(100 * m.hq) + "%");
  document.getElementById("caption").textContent = parts.join("   \u00b7   ");
  moveCursors(f.step);
}
function setPlaying(yes) {
  if (yes && !timer) timer = setInterval(() => show((current + 1) % N), D.interval_ms);
  if (!yes && timer) { clearInterval(timer); timer = null; }
  play.textContent = timer ? "\u275a\u275a pause" : "\u25b6 play";
}
slider.addEventListener("input", () => { setPlaying(false); show(+slider.value); });
play.addEventListener("click", () => setPlaying(!timer));
document.querySelectorAll("input.layer").forEach(box => box.addEventListener("change", () => draw(current)));
// #frame=K in the address opens frame K (0-based), e.g. to share the moment a mode drops.
const asked = /^#frame=(\d+)$/.exec(location.hash);
show(asked ? Math.min(N - 1, +asked[1]) : N - 1);

whenSelftest((checks, fail) => {
  const pixels = () => { const d = ctx.getImageData(0, 0, cv.width, cv.height).data;
    let h = 0; for (let j = 0; j < d.length; j += 7) h = (h * 31 + d[j]) >>> 0; return h; };
  const cursorX = () => document.querySelector("svg.plot line.cursor").getAttribute("x1");
  slider.value = 0; slider.dispatchEvent(new Event("input"));
  const a = pixels(), ca = cursorX(), capA = document.getElementById("caption").textContent;
  slider.value = N - 1; slider.dispatchEvent(new Event("input"));
  const b = pixels(), cb = cursorX();
  if (N > 1 && a === b) fail("slider moved but the frame did not change");
  if (N > 1 && ca === cb) fail("slider moved but the curves' cursor did not");
  if (N > 1 && capA === document.getElementById("caption").textContent) fail("caption unchanged");
  checks.push("frames: " + N + ", cursor x " + ca + " -> " + cb);
  document.querySelectorAll("input.layer").forEach(box => {
    const layer = box.id.replace("layer-", ""), before = pixels();
    box.checked = false; box.dispatchEvent(new Event("change"));
    const off = pixels(); box.checked = true; box.dispatchEvent(new Event("change"));
    const empty = layer === "manifold" && !D.frames[current].lines.length;
    if (!empty && off === before) fail("toggle " + layer + ": the picture did not change");
    checks.push("toggle " + layer + (empty ? " (nothing to draw)" : " ok"));
  });
  play.click(); const playing = timer !== null; play.click();
  if (!playing || timer !== null) fail("play/pause did not start and stop the animation");
  checks.push("play/pause ok");
  checks.push("curves: " + checkCurves(fail) + ", matching the log: " + checkLogged(D.logged, fail));
});
"""


def _flat(a, decimals: int = 3) -> list:
    """An (N, k) array as a flat list of rounded floats (compact JSON)."""
    return np.round(np.asarray(a, np.float64).ravel(), decimals).tolist()


def gan2d_page_html(title: str, xlim, ylim, real, frames: Sequence[dict],
                    history: Sequence[dict], steps: int, colors: dict, stops,
                    modes_total: Optional[int] = None, command: str = "",
                    interval_ms: int = 150) -> str:
    """The page of :func:`write_gan2d_page`."""
    size, left, top = 400, 46, 8
    n = int(np.asarray(frames[0]["heat"]).shape[0]) if frames else 1
    records = []
    for f in frames:
        heat = np.clip(np.round(np.asarray(f["heat"], np.float64) * 255), 0, 255).astype(np.uint8)
        records.append({
            "step": int(f["step"]), "fake": _flat(f["fake"]),
            "heat": base64.b64encode(heat.tobytes()).decode("ascii"),
            "lines": [_flat(line) for line in f.get("lines", [])],
            "arrows": _flat(np.concatenate([np.asarray(f["arrow_from"], np.float64),
                                            np.asarray(f["arrow_vec"], np.float64)], 1)),
            "metrics": {k: v for k, v in (f.get("metrics") or {}).items()
                        if k in ("loss_d", "loss_g", "modes", "hq") and _is_number(v)}})
    history = list(history)
    loss_keys = [k for k in ("loss_d", "loss_g") if logged_count(history, k)]
    plots = [svg_plot({k: series_of(history, k) for k in loss_keys}, "losses", size=(520, 260),
                      colors=[(31, 119, 180), colors["fake"]], cursor=True)]
    logged = {k: logged_count(history, k) for k in loss_keys}
    if logged_count(history, "modes"):
        steps_m, modes = series_of(history, "modes")
        k = modes_total or max(1.0, float(np.nanmax(modes)))
        plots.append(svg_plot({"modes / K": (steps_m, modes / k), "high quality":
                               series_of(history, "hq")}, "mode coverage (fractions)",
                              size=(520, 260), ylim=(0.0, 1.0), cursor=True,
                              colors=[colors["real"], colors["arrows"]],
                              keys={"modes / K": "modes", "high quality": "hq"}))
        logged.update(modes=logged_count(history, "modes"), hq=logged_count(history, "hq"))
    ticks = lambda lo, hi: [round(float(v), 6) for v in _ticks_within(lo, hi)]  # noqa: E731
    layers = [("heat", "discriminator D(x)", None), ("manifold", "generator manifold G(z)",
                                                     colors["manifold"]),
              ("real", "real samples", colors["real"]), ("fake", "generated samples",
                                                         colors["fake"]),
              ("arrows", "\u2212\u2207x L_G: where G pushes its samples", colors["arrows"])]
    gradient = ", ".join(_hex(c) for c in stops)
    toggles = "".join(
        f'<label><input type="checkbox" class="layer" id="layer-{key}" checked> '
        + (f'<span class="swatch" style="background:linear-gradient(90deg, {gradient})"></span>'
           if color is None else f'<span class="swatch" style="background:{_hex(color)}"></span>')
        + f"{html.escape(text)}</label><br>" for key, text, color in layers)
    body = f"""
<h1>{html.escape(title)}</h1>
<p class="sub">GAN Lab (Kahng et al. 2018) from a recorded tinygen run: each frame is the state of
the discriminator and the generator at one step. Drag the slider or press play.</p>
<div style="display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start">
<div><canvas id="lab" width="{left + size + 10}" height="{top + size + 36}"></canvas>
<div class="slider"><button id="play" type="button">&#9654; play</button>
<input type="range" id="step" min="0" max="{max(0, len(records) - 1)}" value="{max(0, len(records) - 1)}"
aria-label="training step"></div><div id="caption" class="sub"></div></div>
<div style="max-width:430px"><h3>Layers (legend)</h3>{toggles}
<p class="sub">Background: D(x), from <span style="color:{_hex(colors["fake"])};font-weight:700">
purple</span> (0: "generated") through white to <span style="color:{_hex(colors["real"])};
font-weight:700">green</span> (1: "real"); for a WGAN critic its score f(x), standardised.
Thin grey lines: a square grid of noise z mapped through G. Arrows: the direction of the
generator's next update at each generated point.</p></div></div>
<h2>Curves (the dashed line is the step shown)</h2>
<div class="plots">{"".join(plots)}</div>
<h2>Reproduce</h2><pre class="cmd" id="command">{html.escape(command)}</pre>
"""
    data = {"xlim": list(map(float, xlim)), "ylim": list(map(float, ylim)), "n": n,
            "plot": {"left": left, "top": top, "size": size}, "steps": int(steps),
            "xticks": ticks(*xlim), "yticks": ticks(*ylim), "real": _flat(real),
            "frames": records, "colors": {k: list(v) for k, v in colors.items()},
            "stops": [list(c) for c in stops], "modes_total": modes_total,
            "logged": logged, "interval_ms": interval_ms}
    return page(title, body, GAN2D_JS, data)


def write_gan2d_page(path: str, title: str, xlim, ylim, real, frames: Sequence[dict],
                     history: Sequence[dict], steps: int, colors: dict, stops,
                     modes_total: Optional[int] = None, command: str = "") -> str:
    """The interactive GAN-Lab page of a recorded 2-D GAN run, written atomically at ``path``.

    Args:
        xlim, ylim: the view (data units), as the GIF frames use it.
        real: (N, 2) real samples, shown in every frame.
        frames: one dict per recorded step: ``step``, ``fake`` (M, 2) generated points,
            ``heat`` (n, n) D(x) in [0, 1] on the view's cell centres (row 0 at the bottom),
            ``lines`` [(P, 2), ...] the generator's manifold, ``arrow_from`` (A, 2) and
            ``arrow_vec`` (A, 2) the gradient arrows in data units, ``metrics`` the last log.
        history: metrics.jsonl's records (the curves under the picture).
        colors: RGB of ``real``, ``fake``, ``manifold`` and ``arrows``; ``stops``: the heat
            map's three colours (D = 0, 0.5, 1).
    The frames travel as JSON in the page (the heat map as base64 bytes) and a script draws
    them on a canvas; a default run (41 frames) makes a page of about 1.5 MB.
    """
    text = gan2d_page_html(title, xlim, ylim, real, frames, history, steps, colors, stops,
                           modes_total, command)
    atomic_write_bytes(path, text.encode("utf-8"))
    return path


__all__ = ["NotARun", "read_run", "check_run", "svg_plot", "metric_plots", "reproduce_command",
           "departures", "write_run_report", "run_report_html", "write_comparison",
           "comparison_html", "list_runs", "runs_table", "runs_main", "report_main",
           "write_gan2d_page", "gan2d_page_html", "data_uri", "page", "CSP"]
