"""Where a change is in the binlog, and its `ver`: the one number that orders a migration's changes.

A change's `ver` packs the epoch, the binlog file index, the position and the row index within the
rows event into one decimal number that totally orders the changes of a migration (< 38 digits, so
a DynamoDB N holds it exactly):

    ver = ((epoch * 10^10 + file index) * 10^10 + position) * 10^7 + row

The epoch is 0 until the source's binlog numbering starts again (RESET MASTER, a restore, a failover
to another server): capture refuses to resume then, and the operator's way out (`stream
--from-position FILE:POS --new-epoch`) starts epoch + 1, so every later change is newer than every
earlier one. Snapshot files, captured envelopes and replayed items all carry it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache, total_ordering

FILE_DIGITS = 10  # binlog file indexes (MySQL numbers them up to 2**31 - 1)
POS_DIGITS = 10  # binlog positions are < 2**32
ROW_DIGITS = 7  # rows within one rows event
ROW_MAX = 10**ROW_DIGITS - 1
EPOCH_MAX = 10 ** (38 - FILE_DIGITS - POS_DIGITS - ROW_DIGITS) - 1


@total_ordering
@dataclass(frozen=True)
class BinlogPosition:
    """A point in the binlog: after the event that ends at `pos` in `file` (ordered by epoch, file, pos)."""

    file: str
    pos: int
    gtid: str | None = field(default=None, compare=False)
    epoch: int = 0  # the binlog numbering this position belongs to (module docstring)

    def __lt__(self, other: BinlogPosition) -> bool:
        return (self.epoch, self.file, self.pos) < (other.epoch, other.file, other.pos)

    @property
    def file_index(self) -> int:
        return _file_index(self.file)

    def ver(self, row: int = ROW_MAX) -> int:
        """The `ver` of the row change number `row` of the rows event ending here.

        With the default row index the result is the largest `ver` at this position, so a snapshot
        taken here has `ver` >= every change it contains and < every change after it.
        """
        return ver_of(self.file, self.pos, self.epoch, row)

    def __str__(self) -> str:
        return (f"{self.file}:{self.pos}" + (f" (gtid {self.gtid})" if self.gtid else "")
                + (f" epoch {self.epoch}" if self.epoch else ""))

    def as_dict(self) -> dict:
        return {"file": self.file, "pos": self.pos, "gtid": self.gtid, **({"epoch": self.epoch} if self.epoch else {})}

    @classmethod
    def from_dict(cls, doc: dict) -> BinlogPosition:
        return cls(doc["file"], int(doc["pos"]), doc.get("gtid"), int(doc.get("epoch", 0)))


def ver_of(file: str, pos: int, epoch: int, row: int) -> int:
    """BinlogPosition(file, pos, epoch=epoch).ver(row), without making the position (capture's hot path)."""
    if not 0 <= row <= ROW_MAX:
        raise ValueError(f"position out of range for ver: {file}:{pos} epoch {epoch} row {row}")
    return _event_ver(file, pos, epoch) + row


@lru_cache(maxsize=1024)  # the rows of one event share it
def _event_ver(file: str, pos: int, epoch: int) -> int:
    index = _file_index(file)
    if not (0 <= pos < 10**POS_DIGITS and 0 <= epoch <= EPOCH_MAX and index < 10**FILE_DIGITS):
        raise ValueError(f"position out of range for ver: {file}:{pos} epoch {epoch}")
    return ((epoch * 10**FILE_DIGITS + index) * 10**POS_DIGITS + pos) * 10**ROW_DIGITS


@lru_cache(maxsize=64)  # asked for every captured change; a server has few binlog files at a time
def _file_index(file: str) -> int:
    m = re.search(r"\.(\d+)$", file)
    if not m:
        raise ValueError(f"binlog file name without a numeric extension: {file!r}")
    return int(m[1])
