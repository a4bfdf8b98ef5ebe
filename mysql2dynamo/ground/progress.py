"""Progress of a long step for a person: done of total, rate and ETA. On a terminal a live bar (rich);
otherwise (a log file, CI) a plain line every `interval` s and one at the end; nothing with `--quiet`.
Progress goes to stderr, like every message, so stdout stays the result."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from mysql2dynamo.ground.log import is_quiet, say


def on_terminal() -> bool:
    return sys.stderr.isatty() and not is_quiet()


def eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def progress_line(label: str, done: float, total: float | None, unit: str, elapsed: float, approx: bool = False,
                  note: str = "") -> str:
    """`label: 1,234/5,000 rows (25%), 410 rows/s, ETA 0:00:09, 3s`; `~` marks counts that are estimates;
    `note` (what else the step knows, e.g. a lag) ends the line."""
    rate = done / elapsed if elapsed > 0 else 0.0
    mark = "~" if approx else ""
    tail = f", {note}" if note else ""
    if not total:
        return f"{label}: {mark}{done:,.0f} {unit}, {rate:,.0f} {unit}/s, {elapsed:.0f}s{tail}"
    left = (total - done) / rate if rate > 0 else None
    return (f"{label}: {mark}{done:,.0f}/{total:,.0f} {unit} ({done / total:.0%}), {rate:,.0f} {unit}/s, "
            f"ETA {eta(left)}, {elapsed:.0f}s{tail}")


_shown: list = []  # [the rich display, open bars]: one display for every bar open at once


def _display():
    """The terminal's one live display, started by the first bar that opens."""
    if not _shown:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        live = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"),
                        TimeRemainingColumn())
        live.start()
        _shown[:] = [live, 0]
    _shown[1] += 1
    return _shown[0]


def _release() -> None:
    _shown[1] -= 1
    if not _shown[1]:
        _shown[0].stop()
        _shown.clear()


class Bar:
    """One step's progress; `update(done)` as often as convenient, `close()` at the end. Bars open at the
    same time share the terminal's display."""

    def __init__(self, label: str, total: float | None, unit: str = "items", interval: float = 10.0,
                 approx: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self.total, self.unit, self.interval, self.approx = label, total, unit, interval, approx
        self.clock = clock
        self.started = self._last = clock()
        self.done = 0.0
        self.note = ""
        self._live = None
        if on_terminal():
            self._live = _display()
            self._task = self._live.add_task(label, total=total, rate="")

    def line(self) -> str:
        return progress_line(self.label, self.done, self.total, self.unit, self.clock() - self.started, self.approx,
                             self.note)

    def update(self, done: float, total: float | None = None, note: str | None = None) -> None:
        """`note`, when given, replaces what ends the line (the bar's text on a terminal)."""
        self.done = done
        self.total = total if total is not None else self.total
        self.note = note if note is not None else self.note
        if self._live is not None:
            rate = done / max(self.clock() - self.started, 1e-9)
            text = f"{rate:,.0f} {self.unit}/s" + (f", {self.note}" if self.note else "")
            self._live.update(self._task, completed=done, total=self.total, rate=text)
        elif self.clock() - self._last >= self.interval:
            self._last = self.clock()
            say(self.line())

    def close(self) -> None:
        if self._live is not None:
            self._live = None
            _release()
        else:
            say(self.line())

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def watch(view: Callable[[], str], interval: float, count: int | None = None) -> None:
    """Show `view()` every `interval` s (`count` times, or until Ctrl-C): redrawn in place on a terminal
    (rich Live), else printed as blocks under a time stamp, for logs."""
    shown = 0
    if sys.stdout.isatty():
        from rich.live import Live
        from rich.text import Text

        with Live(Text(view()), auto_refresh=False) as live:
            shown = 1
            while count is None or shown < count:
                time.sleep(interval)
                live.update(Text(view()), refresh=True)
                shown += 1
        return
    while count is None or shown < count:
        if shown:
            time.sleep(interval)
        print(f"-- {time.strftime('%H:%M:%S')}\n{view()}", flush=True)
        shown += 1
