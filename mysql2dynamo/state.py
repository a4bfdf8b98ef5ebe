"""Where the local processes keep their state, by stream name, so status and cutover find it.

| file | written by |
|---|---|
| `.local/cdc/STREAM.checkpoint.json` | `mysql2dynamo stream` (acknowledged binlog position) |
| `.local/cdc/STREAM.metrics.json` | `mysql2dynamo stream` (rates, lag, warnings) |
| `.local/replay/STREAM.json` | `mysql2dynamo replay` (last applied sequence number per shard) |
| `.local/replay/STREAM.metrics.json` | `mysql2dynamo replay` (applied, stale, rejected, lag) |
| `.local/replay/STREAM-dead-letters/` | `mysql2dynamo replay` (poison records) |
| `.local/cutover/STREAM.json` | `mysql2dynamo cutover` (the last report: write outage, steps, ready) |
| `.local/cutover/STREAM.fence.json` | `mysql2dynamo cutover` (while its fence is up: pid, host, how to lift it) |
| `.local/verify/last.json` | `mysql2dynamo verify` and cutover's live verify (the last report, when it ended) |
| `.local/load/STREAM...` | the bulk load's summary, when it is given `--summary` |
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mysql2dynamo.ground.paths import data_home


def last_verify_report(home: Path | None = None) -> Path:
    """The last verify's report (any stream: verify compares tables, and names them in it)."""
    return (home or data_home()) / "verify" / "last.json"


@dataclass(frozen=True)
class StreamState:
    stream: str
    home: Path

    @classmethod
    def of(cls, stream: str, home: Path | None = None) -> StreamState:
        return cls(stream, home or data_home())

    @property
    def capture_checkpoint(self) -> Path:
        return self.home / "cdc" / f"{self.stream}.checkpoint.json"

    @property
    def capture_metrics(self) -> Path:
        return self.home / "cdc" / f"{self.stream}.metrics.json"

    @property
    def replay_checkpoints(self) -> Path:
        return self.home / "replay" / f"{self.stream}.json"

    @property
    def replay_metrics(self) -> Path:
        return self.home / "replay" / f"{self.stream}.metrics.json"

    @property
    def cutover_report(self) -> Path:
        return self.home / "cutover" / f"{self.stream}.json"

    @property
    def fence_record(self) -> Path:
        return self.home / "cutover" / f"{self.stream}.fence.json"

    @property
    def dead_letters(self) -> Path:
        return self.home / "replay" / f"{self.stream}-dead-letters"
