"""A progress display for training loops: one updating line on a terminal, log lines otherwise.

    progress = Progress(total=1000, desc="gan")
    for step in range(1, 1001):
        ...
        progress.update(step, loss_d=ld, loss_g=lg)
    progress.close()

On a TTY the line is rewritten in place (``\\r``) at most every ``refresh_s`` seconds:

    gan  420/1000  42% | 31.5 it/s | eta 0:18 | loss_d 0.6931 loss_g 0.7012

When the stream is not a TTY (CI logs, ``> file``) the same text is printed as a plain
line, at most one per ``log_every_s`` seconds plus the first and the final step, so logs stay
short and never contain carriage returns.
"""
from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


def _fmt_value(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) >= 1e4 or (v != 0 and abs(v) < 1e-3) else f"{v:.4f}"
    return str(v)


def _fmt_time(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Show step, percentage, throughput (steps/s), ETA and named metrics.

    Args:
        total: steps expected (None: unknown, no percentage / ETA).
        desc: a label at the start of the line.
        stream: where to write (default ``sys.stderr``).
        tty: force TTY (True) or log-line (False) mode; default ``stream.isatty()``.
        refresh_s: minimum seconds between redraws on a TTY.
        log_every_s: minimum seconds between lines when not a TTY.
    """

    def __init__(self, total: Optional[int] = None, desc: str = "", stream: Optional[TextIO] = None,
                 tty: Optional[bool] = None, refresh_s: float = 0.1, log_every_s: float = 10.0,
                 clock=time.monotonic):
        self.total = total
        self.desc = desc
        self.stream = stream if stream is not None else sys.stderr
        if tty is None:
            isatty = getattr(self.stream, "isatty", None)
            tty = bool(isatty and isatty())
        self.tty = tty
        self.refresh_s = refresh_s
        self.log_every_s = log_every_s
        self.clock = clock
        self.start = clock()
        self.start_step = None
        self.step = 0
        self.metrics = {}
        self._last_shown = None        # clock time of the last line drawn
        self._last_line_len = 0
        self._shown_step = None
        self.closed = False

    def rate(self) -> float:
        """Steps per second since the first update (0 until a second update)."""
        elapsed = self.clock() - self.start
        done = self.step - (self.start_step or 0)
        return done / elapsed if elapsed > 0 and done > 0 else 0.0

    def line(self) -> str:
        """The text of the current status line."""
        parts = [self.desc] if self.desc else []
        if self.total:
            parts.append(f"{self.step}/{self.total} {100.0 * self.step / self.total:3.0f}%")
        else:
            parts.append(f"step {self.step}")
        rate = self.rate()
        info = [f"{rate:.1f} it/s" if rate >= 1 or rate == 0 else f"{1 / rate:.2f} s/it"]
        if self.total and rate > 0:
            info.append(f"eta {_fmt_time((self.total - self.step) / rate)}")
        text = " ".join(parts) + " | " + " | ".join(info)
        if self.metrics:
            text += " | " + " ".join(f"{k} {_fmt_value(v)}" for k, v in self.metrics.items())
        return text

    def update(self, step: int, **metrics) -> None:
        """Record that ``step`` is done (with optional metrics) and redraw if it is time."""
        now = self.clock()
        if self.start_step is None:     # measure throughput from the first update on
            self.start_step, self.start = int(step), now
        self.step = int(step)
        self.metrics.update({k: (float(v) if hasattr(v, "item") else v) for k, v in metrics.items()})
        final = self.total is not None and self.step >= self.total
        first = self._last_shown is None
        wait = self.refresh_s if self.tty else self.log_every_s
        if first or final or now - self._last_shown >= wait:
            self._draw(now)

    def _draw(self, now) -> None:
        text = self.line()
        if self.tty:
            pad = max(self._last_line_len - len(text), 0)
            self.stream.write("\r" + text + " " * pad)
            self._last_line_len = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self._last_shown = now
        self._shown_step = self.step

    def close(self) -> None:
        """Show the final state (once) and end the line."""
        if self.closed:
            return
        self.closed = True
        if self._shown_step != self.step and self._last_shown is not None:
            self._draw(self.clock())
        if self.tty and self._last_shown is not None:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
