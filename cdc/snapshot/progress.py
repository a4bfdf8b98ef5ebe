"""Progress lines (rows, MB/s, ETA per table) and the end-of-run summary.

Rows are counted as the workers fetch them; MB are the Arrow (in-memory, uncompressed) bytes of
those rows, a measure of data volume that does not depend on the Parquet compression. The row
total of a table is InnoDB's estimate until the table is done, so the ETA is marked `~`. On a
terminal each table has a live bar (`ground.progress.Bar`) instead of the periodic lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mysql2dynamo.ground.progress import Bar, on_terminal

MB = 1024 * 1024


@dataclass
class TableProgress:
    name: str
    estimate: int
    chunks: int
    rows: int = 0
    bytes: int = 0
    files: int = 0
    chunks_done: int = 0
    chunks_skipped: int = 0  # finished by an earlier run (resume)
    started: float | None = None
    finished: float | None = None

    @property
    def done(self) -> bool:
        return self.chunks_done + self.chunks_skipped >= self.chunks

    def seconds(self, now: float) -> float:
        if self.started is None:
            return 0.0
        return max((self.finished or now) - self.started, 1e-9)


def _eta(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


@dataclass
class SnapshotProgress:
    """A snapshot's progress: the workers' reports per table, rendered by `line(table)` every `interval` s,
    and `summary()` at the end."""

    say: Callable[[str], None] = lambda msg: None
    interval: float = 5.0
    tables: dict[str, TableProgress] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    _last: float = 0.0
    started: float = field(default_factory=time.monotonic)
    bars: dict[str, Bar] = field(default_factory=dict)  # on a terminal

    def add_table(self, name: str, estimate: int, chunks: int, skipped: int = 0, rows_skipped: int = 0) -> None:
        self.tables[name] = TableProgress(name, max(estimate, rows_skipped), chunks, chunks_skipped=skipped)
        if on_terminal():
            self.bars[name] = Bar(name, max(estimate, rows_skipped), "rows", approx=True, clock=self.clock)

    def start(self, table: str) -> None:
        """A worker began a chunk of `table` (rates count from the first one)."""
        t = self.tables[table]
        if t.started is None:
            t.started = self.clock()

    def rows(self, table: str, rows: int, nbytes: int) -> None:
        t = self.tables[table]
        if t.started is None:
            t.started = self.clock()
        t.rows += rows
        t.bytes += nbytes
        self.tick()

    def chunk_done(self, table: str, files: int) -> None:
        t = self.tables[table]
        t.chunks_done += 1
        t.files += files
        if t.started is None:
            t.started = self.clock()
        if t.done:
            t.finished = self.clock()
            t.estimate = t.rows
            if table in self.bars:
                self.bars.pop(table).close()
            self.say(self.line(table))
        self.tick()

    def tick(self, force: bool = False) -> None:
        now = self.clock()
        for name, bar in self.bars.items():
            bar.update(self.tables[name].rows, max(self.tables[name].estimate, self.tables[name].rows))
        if self.bars and not force:
            return
        if force or now - self._last >= self.interval:
            self._last = now
            for name, t in self.tables.items():
                if t.started is not None and not t.done:
                    self.say(self.line(name))

    def line(self, table: str) -> str:
        t = self.tables[table]
        now = self.clock()
        secs = t.seconds(now)
        rate = t.rows / secs if secs else 0.0
        mbs = t.bytes / MB / secs if secs else 0.0
        chunks = f"chunks {t.chunks_done + t.chunks_skipped}/{t.chunks}"
        if t.done:
            return (f"{table}: done, {t.rows:,} rows in {secs:.1f}s ({rate:,.0f} rows/s, {mbs:.1f} MB/s), "
                    f"{t.files} files, {chunks}" + (f" ({t.chunks_skipped} from the earlier run)"
                                                   if t.chunks_skipped else ""))
        total = max(t.estimate, t.rows)
        pct = 100.0 * t.rows / total if total else 0.0
        eta = _eta((total - t.rows) / rate) if rate > 0 else "?"
        return (f"{table}: {t.rows:,}/~{total:,} rows ({pct:.0f}%), {rate:,.0f} rows/s, {mbs:.1f} MB/s, "
                f"ETA ~{eta}, {chunks}")

    def summary(self) -> dict:
        now = self.clock()
        secs = max(now - self.started, 1e-9)
        rows = sum(t.rows for t in self.tables.values())
        nbytes = sum(t.bytes for t in self.tables.values())
        return {
            "seconds": round(secs, 2), "rows": rows, "rows_per_s": round(rows / secs, 1),
            "mb": round(nbytes / MB, 2), "mb_per_s": round(nbytes / MB / secs, 2),
            "tables": {n: {"rows": t.rows, "files": t.files, "chunks": t.chunks,
                           "chunks_from_earlier_run": t.chunks_skipped,
                           "seconds": round(t.seconds(now), 2)} for n, t in self.tables.items()},
        }
