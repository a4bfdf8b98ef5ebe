"""Where a change is in the binlog, and its `ver`: the one number that orders a server's changes.

A change's `ver` packs the binlog file index, the position and the row index within the rows event
into one decimal number that totally orders the changes of one server (< 38 digits, so a DynamoDB N
holds it exactly). Snapshot files, captured envelopes and replayed items all carry it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

POS_DIGITS = 10  # binlog positions are < 2**32
ROW_DIGITS = 7  # rows within one rows event
ROW_MAX = 10**ROW_DIGITS - 1


@dataclass(frozen=True, order=True)
class BinlogPosition:
    """A point in the binlog: after the event that ends at `pos` in `file` (ordered by file, pos)."""

    file: str
    pos: int
    gtid: str | None = field(default=None, compare=False)

    @property
    def file_index(self) -> int:
        return _file_index(self.file)

    def ver(self, row: int = ROW_MAX) -> int:
        """The `ver` of the row change number `row` of the rows event ending here.

        With the default row index the result is the largest `ver` at this position, so a snapshot
        taken here has `ver` >= every change it contains and < every change after it.
        """
        if not 0 <= row <= ROW_MAX or not 0 <= self.pos < 10**POS_DIGITS:
            raise ValueError(f"position out of range for ver: {self} row {row}")
        return (self.file_index * 10**POS_DIGITS + self.pos) * 10**ROW_DIGITS + row

    def __str__(self) -> str:
        return f"{self.file}:{self.pos}" + (f" (gtid {self.gtid})" if self.gtid else "")

    def as_dict(self) -> dict:
        return {"file": self.file, "pos": self.pos, "gtid": self.gtid}


@lru_cache(maxsize=64)  # asked for every captured change; a server has few binlog files at a time
def _file_index(file: str) -> int:
    m = re.search(r"\.(\d+)$", file)
    if not m:
        raise ValueError(f"binlog file name without a numeric extension: {file!r}")
    return int(m[1])
