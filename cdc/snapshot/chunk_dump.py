"""One chunk of a table -> Parquet files: a SELECT of its key range through a server-side cursor
(`fetchmany`), each batch converted to Arrow (arrow_rows.py) and written (parquet_writer.py)."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

from mysql2dynamo.keymap.schema import TableSchema
from mysql2dynamo.keymap.types import SPATIAL

from .arrow_rows import BatchConverter
from .chunks import Chunk, quote
from .manifest import FileEntry
from .options import SnapshotOptions
from .parquet_writer import ChunkWriter
from .storage import Storage


def _select(column) -> str:
    # a FLOAT's own text has 6 significant digits (FLT_MIN prints as 1.17549e-38, a different number);
    # times 1e0 it is the double holding the binary32 value exactly, printed with all its digits
    name = quote(column.name)
    if column.data_type == "float":
        return f"{name} * 1e0 AS {name}"
    # a geometry is stored as its 4-byte SRID then its WKB: the WKB as stored, the same bytes the binlog
    # carries after its SRID (ST_AsBinary would swap the axes of a geographic SRS on MySQL 8)
    return f"SUBSTRING({name}, 5) AS {name}" if column.data_type in SPATIAL else name


def select_sql(schema: TableSchema, chunk: Chunk) -> tuple[str, list]:
    cond, args = chunk.where()
    cols = ", ".join(_select(c) for c in schema.columns)
    return f"SELECT {cols} FROM {quote(schema.db)}.{quote(schema.name)} WHERE {cond}", args


def dump_chunk(conn: Any, schema: TableSchema, chunk: Chunk, storage: Storage, point: int | None,
               ver: int | None, opts: SnapshotOptions, tmpdir: str,
               report: Callable[[int, int], None] = lambda r, b: None, rate: float | None = None,
               raw: bool = False) -> tuple[list[FileEntry], int, dict[str, int]]:
    """Stream one chunk through a server-side cursor into Parquet; returns (files, rows, zero dates).
    `conn`: a DB-API connection whose `cursor()` streams; `raw`: it decodes no value but text
    (`raw_connection.connect_raw`: the workers'), else pymysql's decoders."""
    converter = BatchConverter(schema, opts.zero_dates)
    writer = ChunkWriter(storage, schema.full_name, chunk.index, point, ver, converter, opts, tmpdir)
    sql, args = select_sql(schema, chunk)
    rows_total = 0
    started = time.monotonic()
    cur = conn.cursor()
    # a batch is thousands of fresh tuples, none in a cycle: the cyclic collector would only walk them
    # (about 8% of a worker's CPU on the bench table)
    collecting = gc.isenabled()
    gc.disable()
    try:
        cur.execute(sql, args)
        while True:
            rows = cur.fetchmany(opts.fetch_rows)
            if not rows:
                break
            table = converter.convert_raw(rows) if raw else converter.convert(rows)
            writer.add(table)
            rows_total += len(rows)
            report(len(rows), table.nbytes)
            if rate:
                ahead = rows_total / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
    finally:
        cur.close()
        if collecting:
            gc.enable()
    return writer.finish(), rows_total, converter.zero_counts
