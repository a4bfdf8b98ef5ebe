"""Existing dumps -> the same Parquet + manifest as a live snapshot (without a binlog position).

Accepted input, one data file per table in one directory:

- `mysqldump --tab=DIR` / `SELECT ... INTO OUTFILE` with the defaults (format `tsv`): fields
  terminated by TAB, lines by LF, escaped by backslash, NULL written as `\\N`, `<table>.txt`;
- `SELECT ... INTO OUTFILE` / `mysqldump --tab` with `FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '"'`
  (format `csv`): `<table>.csv` or `<table>.txt`; an enclosed field may also double its quotes.

The schema of each table comes from its `CREATE TABLE` (`<table>.sql`, which `mysqldump --tab`
writes next to the data; or `--schema FILE|DIR`), or from a live server (`read_table_schema`). Text is
decoded as utf8mb4 and TIMESTAMP text is taken as UTC (mysqldump's default --tz-utc). Values become
what pymysql would return for them and then go through the same `BatchConverter` as a live dump, so
both paths write identical Parquet.
"""

from __future__ import annotations

import datetime as dt
import mmap
import re
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

from mysql2dynamo.keymap.schema import TableSchema, foreign_key_line, parse_members, read_table_schema
from mysql2dynamo.keymap.types import Column

from .arrow_rows import BatchConverter
from .consistent import SnapshotError
from .manifest import FORMAT, FORMAT_VERSION, MANIFEST, dumps, schema_to_dict, utc_timestamp
from .options import SnapshotOptions
from .parquet_writer import ChunkWriter
from .progress import SnapshotProgress
from .storage import open_storage

_ESCAPES = {b"0": b"\0", b"b": b"\b", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"Z": b"\x1a"}
_UNESCAPE = re.compile(rb"\\(.)", re.DOTALL)
_TSV = re.compile(rb"((?:\\.|[^\\\t\n])*)(\t|\n|$)", re.DOTALL)
_CSV = re.compile(rb'(?:"((?:\\.|""|[^\\"])*)"|((?:\\.|[^\\,\n"])*))(,|\n|$)', re.DOTALL)


def _unescape(raw: bytes) -> bytes:
    if b"\\" not in raw:
        return raw
    return _UNESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), raw)


def read_records(data, fmt: str = "tsv") -> Iterator[list[bytes | None]]:
    """Records of a mysqldump --tab / INTO OUTFILE file as lists of raw field bytes (None for NULL)."""
    pattern = _TSV if fmt == "tsv" else _CSV
    record: list[bytes | None] = []
    pos, end = 0, len(data)
    while pos < end:
        m = pattern.match(data, pos)
        if m is None or m.end() == pos:
            raise SnapshotError(f"unparseable {fmt} data at byte {pos}")
        if fmt == "tsv":
            raw, term = m.group(1), m.group(2)
            record.append(None if raw == b"\\N" else _unescape(raw))
        else:
            enclosed, plain, term = m.group(1), m.group(2), m.group(3)
            if enclosed is not None:
                record.append(_unescape(enclosed.replace(b'""', b'"')))
            else:
                record.append(None if plain in (b"\\N", b"NULL") else _unescape(plain))
        pos = m.end()
        if term != b"\t" and term != b",":
            yield record
            record = []


# ------------------------------------------------------------------ text -> pymysql-like values

_TIME = re.compile(r"(-)?(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?$")


def _time(text: str) -> dt.timedelta:
    m = _TIME.match(text)
    if not m:
        raise ValueError(f"not a TIME: {text!r}")
    sign, h, mi, s, frac = m.groups()
    td = dt.timedelta(hours=int(h), minutes=int(mi), seconds=int(s), microseconds=int((frac or "0").ljust(6, "0")))
    return -td if sign else td


def _date_or_text(text: str, parse):
    try:
        return parse(text)
    except ValueError:
        return text  # a zero/invalid date: pymysql returns the text too; the zero-date policy decides


def text_value(col: Column, raw: bytes | None):
    """One dumped field as pymysql would have returned the column's value."""
    if raw is None:
        return None
    dtp = col.data_type
    if dtp in ("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"):
        return int(raw)
    if dtp == "bit":
        return int.from_bytes(raw, "big")
    if dtp == "decimal":
        return Decimal(raw.decode())
    if dtp in ("float", "double"):
        return float(raw)
    if dtp in ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"):
        return bytes(raw)
    text = raw.decode("utf-8")
    if dtp == "date":
        return _date_or_text(text, dt.date.fromisoformat)
    if dtp in ("datetime", "timestamp"):
        return _date_or_text(text, dt.datetime.fromisoformat)
    if dtp == "time":
        return _time(text)
    return text  # char/varchar/text/enum/set/json


# ------------------------------------------------------------------ CREATE TABLE -> TableSchema

_COL = re.compile(r"^\s*`((?:[^`]|``)+)`\s+([a-z]+)(?:\(([^)]*)\))?(.*?),?\s*$", re.I)
_PK = re.compile(r"^\s*PRIMARY KEY\s*\(([^)]*)\)", re.I)
_CREATE = re.compile(r"CREATE TABLE\s+(?:IF NOT EXISTS\s+)?`((?:[^`]|``)+)`\s*\((.*?)\n\)[^\n]*;", re.I | re.S)


_TEXT_LENGTH = {"tinytext": 255, "text": 65535, "mediumtext": 16777215, "longtext": 4294967295,
                "tinyblob": 255, "blob": 65535, "mediumblob": 16777215, "longblob": 4294967295}


def parse_create_table(ddl: str, db: str) -> TableSchema:
    """A TableSchema from mysqldump's CREATE TABLE (one column or key per line, as it prints them)."""
    m = _CREATE.search(ddl)
    if not m:
        raise SnapshotError("no CREATE TABLE statement found")
    name, body = m.group(1).replace("``", "`"), m.group(2)
    cols, pk, fks = [], (), []
    for line in body.splitlines():
        if (fk := foreign_key_line(line, db)) is not None:
            fks.append(fk)
            continue
        if (k := _PK.match(line)) is not None:
            pk = tuple(c.strip().strip("`").replace("``", "`") for c in k.group(1).split(","))
            continue
        c = _COL.match(line)
        if c is None:
            continue
        cname, dtype, args, rest = c.group(1).replace("``", "`"), c.group(2).lower(), c.group(3), c.group(4)
        rest_l = rest.lower()
        column_type = f"{dtype}({args})" if args is not None else dtype
        numbers = [int(a) for a in (args or "").split(",") if a.strip().isdigit()]
        precision = scale = fsp = 0
        length = None
        if dtype == "decimal":
            precision, scale = (numbers + [10, 0])[:2] if numbers else (10, 0)
        elif dtype in ("datetime", "timestamp", "time"):
            fsp = numbers[0] if numbers else 0
        elif dtype in ("char", "varchar", "binary", "varbinary", "bit"):
            length = numbers[0] if numbers else (64 if dtype == "bit" else 1)
        elif dtype in _TEXT_LENGTH:  # as INFORMATION_SCHEMA's CHARACTER_MAXIMUM_LENGTH says
            length = _TEXT_LENGTH[dtype]
        if dtype == "longtext" and "check (json_valid(" in rest_l.replace("check(", "check ("):
            dtype = column_type = "json"  # MariaDB's JSON: LONGTEXT with a json_valid() CHECK, as read_table_schema
        members = parse_members(column_type) if dtype in ("enum", "set") else ()
        if dtype == "enum":
            length = max((len(m) for m in members), default=0)
        elif dtype == "set":
            length = sum(len(m) for m in members) + max(len(members) - 1, 0)
        if " primary key" in f" {rest_l}":
            pk = (cname,)
        cols.append(Column(name=cname, data_type=dtype, nullable="not null" not in rest_l and cname not in pk,
                           unsigned="unsigned" in rest_l, precision=precision, scale=scale, fsp=fsp, length=length,
                           members=members, column_type=(column_type + (" unsigned" if "unsigned" in rest_l else ""))))
    cols = [c if c.name not in pk else Column(**{**c.__dict__, "nullable": False}) for c in cols]
    return TableSchema(db, name, tuple(cols), pk, tuple(fks))


# ------------------------------------------------------------------ the import

def _data_file(directory: Path, table: str, fmt: str) -> Path:
    for ext in ((".txt", ".tsv") if fmt == "tsv" else (".csv", ".txt")):
        if (directory / f"{table}{ext}").exists():
            return directory / f"{table}{ext}"
    raise SnapshotError(f"no data file for table {table} in {directory} (expected {table}.txt"
                        + (" or .tsv)" if fmt == "tsv" else " or .csv)"))


def _schema_for(table: str, db: str, directory: Path, schema_path: str | None, mysql_url: str | None) -> TableSchema:
    candidates = []
    if schema_path:
        p = Path(schema_path)
        candidates.append(p / f"{table}.sql" if p.is_dir() else p)
    candidates.append(directory / f"{table}.sql")
    for p in candidates:
        if p.is_file():
            statements = [st for st in re.split(r"(?=CREATE TABLE)", p.read_text(encoding="utf-8"))
                          if re.match(rf"CREATE TABLE\s+(?:IF NOT EXISTS\s+)?`{re.escape(table)}`", st)]
            if statements:
                return parse_create_table(statements[0], db)
    if mysql_url:
        from mysql2dynamo.ground.mysql import connect

        conn = connect(mysql_url)
        try:
            return read_table_schema(conn, db, table)
        finally:
            conn.close()
    raise SnapshotError(f"no schema for {db}.{table}: put its CREATE TABLE in {directory / (table + '.sql')}, "
                        "pass --schema, or --mysql-url to read it from the server")


def import_dump(dump_dir: str | Path, dest: str, tables: list[str] | None = None, fmt: str = "tsv",
                schema_path: str | None = None, database: str | None = None, mysql_url: str | None = None,
                zero_dates: str = "null", file_mb: int = 128, compression: str = "zstd",
                batch_rows: int = 5000, say: Callable[[str], None] = lambda msg: None) -> dict:
    """Convert a directory of dumped tables into a snapshot at `dest`; returns the manifest."""
    if fmt not in ("tsv", "csv"):
        raise ValueError(f"dump format must be tsv or csv, not {fmt!r}")
    directory = Path(dump_dir)
    if tables:
        names = tables
    else:
        if not database:
            raise SnapshotError("pass --tables db.table,... or --database with the dump's database name")
        ext = {".txt", ".tsv"} if fmt == "tsv" else {".csv", ".txt"}
        names = sorted({f"{database}.{p.stem}" for p in directory.iterdir() if p.suffix in ext})
        if not names:
            raise SnapshotError(f"no {fmt} data files in {directory}")
    storage = open_storage(dest)
    if storage.exists(MANIFEST) or any(p.endswith(".parquet") for p in storage.list()):
        raise SnapshotError(f"{storage.root} is not empty: import into a new destination")
    opts = SnapshotOptions(file_mb=file_mb, compression=compression, zero_dates=zero_dates)
    progress = SnapshotProgress(say, 5.0)
    started = utc_timestamp()
    t0 = time.monotonic()
    out = {}
    import tempfile

    with tempfile.TemporaryDirectory(prefix="m2d-import-") as tmpdir:
        for name in names:
            db, table = name.split(".", 1)
            schema = _schema_for(table, db, directory, schema_path, mysql_url)
            path = _data_file(directory, table, fmt)
            progress.add_table(name, 0, 1)
            converter = BatchConverter(schema, zero_dates)
            writer = ChunkWriter(storage, name, 0, None, None, converter, opts, tmpdir)
            ncols, rows, batch = len(schema.columns), 0, []
            with open(path, "rb") as f:
                data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if path.stat().st_size else b""
                for lineno, rec in enumerate(read_records(data, fmt), 1):
                    if len(rec) != ncols:
                        raise SnapshotError(f"{path}: record {lineno} has {len(rec)} fields, {name} has {ncols} "
                                            "columns (wrong --dump-format or schema?)")
                    try:
                        batch.append(tuple(text_value(c, v) for c, v in zip(schema.columns, rec, strict=True)))
                    except ValueError as e:
                        raise SnapshotError(f"{path}: record {lineno}: {e}") from e
                    if len(batch) >= batch_rows:
                        table_arrow = converter.convert(batch)
                        writer.add(table_arrow)
                        progress.rows(name, len(batch), table_arrow.nbytes)
                        rows += len(batch)
                        batch = []
                if batch:
                    table_arrow = converter.convert(batch)
                    writer.add(table_arrow)
                    progress.rows(name, len(batch), table_arrow.nbytes)
                    rows += len(batch)
            files = [f.__dict__ for f in writer.finish()]
            progress.chunk_done(name, len(files))
            out[name] = {**{k: v for k, v in schema_to_dict(schema).items()}, "rows": rows,
                         "bytes": sum(f["bytes"] for f in files), "zero_dates": converter.zero_counts,
                         "chunks": [{"index": 0, "columns": [], "lower": None, "upper": None, "rows": rows,
                                     "point": None}],
                         "files": files, "source_file": str(path)}
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "snapshot_id": str(uuid.uuid4()), "kind": "import",
        "source": {"dump": str(directory.resolve()), "format": fmt}, "status": "complete",
        "binlog": None, "ver": None, "consistent": False, "points": [],
        "started_at": started, "finished_at": utc_timestamp(), "seconds": round(time.monotonic() - t0, 2),
        "options": {"dump_format": fmt, "zero_dates": zero_dates, "file_mb": file_mb, "compression": compression},
        "tables": out, "summary": progress.summary(),
    }
    storage.put_bytes(MANIFEST, dumps(manifest))
    say(f"imported {len(out)} table(s), {sum(t['rows'] for t in out.values()):,} rows from {directory} "
        f"-> {storage.url(MANIFEST)} (no binlog position: replay from the start of the captured stream)")
    return manifest
