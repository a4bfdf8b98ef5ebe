"""The settings of one snapshot run (`mysql2dynamo snapshot` flags), shared by the coordinator and its workers."""

from __future__ import annotations

from dataclasses import dataclass

ZERO_DATE_POLICIES = ("null", "error")


@dataclass
class SnapshotOptions:
    workers: int = 2
    chunk_rows: int = 250_000
    file_mb: int = 128  # a data file is closed once it reaches this size on disk
    row_group_rows: int = 100_000
    fetch_rows: int = 20_000  # rows converted to Arrow at a time
    consistency: str = "auto"  # auto | mariadb-snapshot | ftwrl
    lock_wait_timeout: int = 10
    zero_dates: str = "null"  # null | error
    compression: str = "zstd"
    multipart_mb: int = 64
    max_rows_per_second: float | None = None  # total across workers (protects a busy source)
    progress_interval: float = 5.0
    driver: str = "auto"  # how workers read (raw_connection.py): auto (mysqlclient if installed), mysqlclient, pymysql

    def __post_init__(self) -> None:
        if self.zero_dates not in ZERO_DATE_POLICIES:
            raise ValueError(f"zero_dates must be one of {ZERO_DATE_POLICIES}, not {self.zero_dates!r}")
        if self.workers < 1:
            raise ValueError("workers must be >= 1")
