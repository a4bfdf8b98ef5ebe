"""A migration's timeline, recorded while it runs: the phases (from the `== ` headings the run says)
and, every `interval` s, the pipeline's status (capture and replay counters and lags). Times are
seconds since the recorder started; a sample that fails (a stream not there yet) is skipped, never
invented."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

HEADING = "== "


@dataclass
class Recorder:
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    phases: list[dict] = field(default_factory=list)
    samples: list[dict] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.started = self.clock()

    def now(self) -> float:
        return round(self.clock() - self.started, 2)

    def phase(self, name: str) -> None:
        """End the current phase and start `name`."""
        t = self.now()
        if self.phases:
            self.phases[-1]["end_s"] = t
        self.phases.append({"phase": name, "start_s": t, "end_s": None})

    def observe(self, say: Callable[[str], None]) -> Callable[[str], None]:
        """`say` that also starts a phase at each `== N/M name` heading."""

        def said(msg: str) -> None:
            if msg.startswith(HEADING):
                self.phase(msg[len(HEADING):].split(" ", 1)[-1].split(":")[0].split(" -> ")[0].strip())
            say(msg)

        return said

    def sample_every(self, interval: float, status: Callable[[], dict]) -> None:
        """Record `status()` (a `pipeline_status` dict) every `interval` s until `finish`."""

        def run() -> None:
            while not self._stop.wait(interval):
                try:
                    s = status()
                except Exception:  # noqa: BLE001 - a missed sample is a gap in a chart, not a failed run
                    continue
                c, r = s["capture"], s["replay"]
                self.samples.append({
                    "t": self.now(), "capture_records": c.get("records") or 0,
                    "capture_lag_ms": round((c.get("seconds_behind") or 0) * 1000, 1),
                    "binlog_bytes_behind": c.get("binlog_bytes_behind"),
                    "replay_records": r.get("records") or 0, "replay_lag_ms": r.get("lag_ms") or 0,
                    "dead_letters": s.get("dead_letters", 0)})

        self._thread = threading.Thread(target=run, daemon=True, name="m2d-report-sampler")
        self._thread.start()

    def finish(self) -> dict:
        """Stop sampling; the phases (the last one ends now) and the samples."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self.phases and self.phases[-1]["end_s"] is None:
            self.phases[-1]["end_s"] = self.now()
        return {"phases": self.phases, "samples": self.samples}
