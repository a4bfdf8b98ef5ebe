"""`status --watch`: the status table with the rates measured between two refreshes (capture and
replay records/s), which one status alone cannot give."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Rates:
    clock: Callable[[], float] = time.monotonic
    last: tuple[float, int, int] | None = None  # time, capture records, replay records

    def view(self, s: dict, table: Callable[[dict], str]) -> str:
        now, captured, replayed = self.clock(), s["capture"]["records"] or 0, s["replay"]["records"] or 0
        line = "  rates    measuring (next refresh)"
        if self.last is not None and now > self.last[0]:
            secs = now - self.last[0]
            line = (f"  rates    capture {(captured - self.last[1]) / secs:,.1f} records/s, "
                    f"replay {(replayed - self.last[2]) / secs:,.1f} records/s (over {secs:.1f}s)")
        self.last = (now, captured, replayed)
        return f"{table(s)}\n{line}"
