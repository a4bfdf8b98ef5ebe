"""The snapshot run: plan chunks, open one consistent point in N worker processes, dump the chunks
to bounded Parquet files, keep a resumable state, write the manifest.

Workers are processes (pymysql's row decoding is pure Python, so threads would share one core).
Each worker holds one connection with one consistent-snapshot transaction for the whole run and
streams every chunk it is given through a server-side cursor (SSCursor, `fetchmany`), converts
the rows column-wise into Arrow with `keymap.types.arrow_type` / `snapshot_value` and writes
Parquet row groups to a local temporary file; a file is closed once it reaches `file_mb` on disk,
checksummed (sha256) and uploaded (S3: multipart above `multipart_mb`).

The coordinator (this process) sends the workers the SQL of the consistent point (consistent.py)
through a pipe, then feeds chunk tasks through a queue and records every finished chunk in
`_snapshot_state.json` at the destination, so an interrupted run can be resumed (docs/snapshot.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import multiprocessing as mp
import os
import queue
import shutil
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import Decimal

import pymysql.converters
from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.cdc.server import binlog_files, server_info
from mysql2dynamo.keymap.schema import TableSchema, read_table_schema
from mysql2dynamo.keymap.types import Column, arrow_type, snapshot_value

from mysql2dynamo.ground.mysql import MySQLTarget, redact

from .chunks import Chunk, estimated_rows, plan_chunks, quote
from .consistent import ConnSession, ConsistentPoint, SnapshotError, open_point
from .manifest import FORMAT, FORMAT_VERSION, MANIFEST, STATE, arrow_schema, dumps, schema_from_dict, schema_to_dict
from .progress import Progress
from .storage import MB, Storage, open_storage

ZERO_DATE_POLICIES = ("null", "error")
# Worker connections decode nothing (pymysql's encoders only, for query parameters): numbers and
# dates arrive as the server's text and are parsed column-wise by Arrow (BatchConverter.convert_raw).
RAW_CONV = {k: v for k, v in pymysql.converters.conversions.items() if not isinstance(k, int)}
_CAST_TYPES = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year", "decimal", "float", "double",
               "date", "datetime", "timestamp"}
_STRING_TYPES = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "json"}
_BLOB_TYPES = {"varbinary", "tinyblob", "blob", "mediumblob", "longblob"}
DATE_TYPES = ("date", "datetime", "timestamp")


@dataclass
class SnapshotOptions:
    workers: int = 2
    chunk_rows: int = 250_000
    file_mb: int = 128  # a data file is closed once it reaches this size on disk
    row_group_rows: int = 100_000
    fetch_rows: int = 5_000
    consistency: str = "auto"  # auto | mariadb-snapshot | ftwrl
    lock_wait_timeout: int = 10
    zero_dates: str = "null"  # null | error
    compression: str = "zstd"
    multipart_mb: int = 64
    max_rows_per_second: float | None = None  # total across workers (protects a busy source)
    progress_interval: float = 5.0

    def __post_init__(self) -> None:
        if self.zero_dates not in ZERO_DATE_POLICIES:
            raise ValueError(f"zero_dates must be one of {ZERO_DATE_POLICIES}, not {self.zero_dates!r}")
        if self.workers < 1:
            raise ValueError("workers must be >= 1")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ------------------------------------------------------------------ rows -> Arrow

class ValueProblem(SnapshotError):
    pass


class BatchConverter:
    """MySQL rows (pymysql values) -> an Arrow table with the snapshot's types.

    Values go through `keymap.types.snapshot_value`; zero/invalid dates (which pymysql returns as
    text) follow the zero-date policy and are counted per column.
    """

    def __init__(self, schema: TableSchema, zero_dates: str = "null") -> None:
        import pyarrow as pa

        self.schema = schema
        self.zero_dates = zero_dates
        self.types = [arrow_type(c) for c in schema.columns]
        self.arrow_schema = arrow_schema(schema)
        self.zero_counts: dict[str, int] = {}
        self.pk_index = [schema.names.index(c) for c in schema.primary_key]
        self._pa = pa

    def row_key(self, row) -> str:
        if not self.pk_index:
            return "(no primary key) " + repr(row)[:200]
        cols = self.schema.columns
        return ", ".join(f"{cols[j].name}={_key_value(cols[j], row[j])!r}" for j in self.pk_index)

    def _column(self, col: Column, values, rows):
        dtp = col.data_type
        if dtp in DATE_TYPES:
            out = []
            for i, v in enumerate(values):
                if isinstance(v, str):  # '0000-00-00', '2020-00-10': not a date, pymysql returns the text
                    if self.zero_dates == "error":
                        raise ValueProblem(f"{self.schema.full_name}.{col.name}: zero/invalid date {v!r} at "
                                           f"{self.row_key(rows[i])} (zero-date policy 'error'; "
                                           "use --zero-dates null to write NULL)")
                    self.zero_counts[col.name] = self.zero_counts.get(col.name, 0) + 1
                    v = None
                out.append(v)
            return out
        if dtp == "bit":  # pymysql returns BIT as big-endian bytes; the snapshot holds the number
            values = [int.from_bytes(v, "big") if isinstance(v, bytes | bytearray) else v for v in values]
        return [snapshot_value(col, v) for v in values]

    def convert(self, rows: list[tuple]):
        pa = self._pa
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(self.types)
        arrays = []
        for col, atype, values in zip(self.schema.columns, self.types, columns, strict=True):
            converted = self._column(col, values, rows)
            try:
                arrays.append(pa.array(converted, type=atype))
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError) as e:
                raise self._explain(col, atype, converted, rows, e) from e
        return pa.Table.from_arrays(arrays, schema=self.arrow_schema)

    def convert_raw(self, rows: list[tuple]):
        """Rows read with RAW_CONV (text/bytes as the server sent them) -> the same Arrow table as
        `convert` gives for pymysql's decoded values: numbers and dates are cast by Arrow a column at
        a time; a batch Arrow cannot parse (a zero date, ...) and the other types go value by value
        through pymysql's own decoders and `snapshot_value`."""
        pa = self._pa
        import pyarrow.compute as pc

        columns = list(zip(*rows, strict=True)) if rows else [()] * len(self.types)
        arrays = []
        for col, atype, values in zip(self.schema.columns, self.types, columns, strict=True):
            dtp = col.data_type
            arr = None
            try:
                if dtp in _CAST_TYPES and not (dtp == "decimal" and col.precision > 38):
                    text = pa.array(values, pa.binary()).cast(pa.string())
                    if dtp == "float":  # parse as the double pymysql would make, then round to binary32
                        arr = pc.cast(pc.cast(text, pa.float64()), atype)
                    else:
                        arr = pc.cast(text, atype)
                elif dtp in _STRING_TYPES:
                    arr = pa.array([v.decode() if isinstance(v, bytes) else v for v in values], atype)
                elif dtp in _BLOB_TYPES:
                    arr = pa.array(values, atype)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                arr = None
            if arr is None:
                decoded = [_pymysql_value(col, v) for v in values]
                converted = self._column(col, decoded, rows)
                try:
                    arr = pa.array(converted, type=atype)
                except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError) as e:
                    raise self._explain(col, atype, converted, rows, e) from e
            arrays.append(arr)
        return pa.Table.from_arrays(arrays, schema=self.arrow_schema)

    def _explain(self, col, atype, values, rows, err) -> ValueProblem:
        pa = self._pa
        for i, v in enumerate(values):
            try:
                pa.array([v], type=atype)
            except Exception:  # noqa: BLE001 - we only look for the offending value
                return ValueProblem(f"{self.schema.full_name}.{col.name} ({col.column_type or col.data_type}): value "
                                    f"{v!r} at {self.row_key(rows[i])} does not fit {atype}: {err}")
        return ValueProblem(f"{self.schema.full_name}.{col.name}: cannot build {atype}: {err}")


def _key_value(col: Column, value):
    """A primary key value for messages, decoded when the row came raw."""
    if isinstance(value, bytes | bytearray | str) and col.data_type not in _STRING_TYPES | {"set"}:
        return _pymysql_value(col, value)
    return value


def _pymysql_value(col: Column, raw):
    """What pymysql's default decoders return for a raw (text protocol) value of `col`."""
    if raw is None:
        return None
    dtp = col.data_type
    if dtp in ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bit"):
        return bytes(raw)
    text = raw.decode() if isinstance(raw, bytes | bytearray) else raw
    if dtp in ("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"):
        return int(text)
    if dtp == "decimal":
        return Decimal(text)
    if dtp in ("float", "double"):
        return float(text)
    if dtp == "date":
        return pymysql.converters.convert_date(text)
    if dtp in ("datetime", "timestamp"):
        return pymysql.converters.convert_datetime(text)
    if dtp == "time":
        return pymysql.converters.convert_timedelta(text)
    return text


# ------------------------------------------------------------------ one chunk -> files

@dataclass
class FileResult:
    path: str
    url: str
    rows: int
    bytes: int
    sha256: str
    chunk: int
    point: int | None
    ver: int | None


def data_path(table: str, point: int | None, chunk: int, part: int) -> str:
    db, name = table.split(".", 1)
    tag = f"p{point}" if point is not None else "import"
    return f"{db}/{name}/{tag}-c{chunk:05d}-{part:03d}.parquet"


class ChunkWriter:
    """Writes one chunk's rows as Parquet files of at most ~`file_mb`, uploading each when closed."""

    def __init__(self, storage: Storage, table: str, chunk: int, point: int | None, ver: int | None, converter,
                 opts: SnapshotOptions, tmpdir: str) -> None:
        self.storage, self.table, self.chunk, self.point, self.ver = storage, table, chunk, point, ver
        self.converter, self.opts, self.tmpdir = converter, opts, tmpdir
        self.files: list[FileResult] = []
        self.pending: list = []
        self.pending_rows = 0
        self.writer = None
        self.file_rows = 0
        self.tmp_path = ""

    def add(self, table) -> None:
        self.pending.append(table)
        self.pending_rows += table.num_rows
        if self.pending_rows >= self.opts.row_group_rows:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.writer is None:
            self.tmp_path = os.path.join(self.tmpdir, f"part-{uuid.uuid4().hex}.parquet")
            self.writer = pq.ParquetWriter(self.tmp_path, self.converter.arrow_schema,
                                           compression=self.opts.compression)
            self.file_rows = 0
        if self.pending:
            self.writer.write_table(pa.concat_tables(self.pending), row_group_size=max(self.pending_rows, 1))
            self.file_rows += self.pending_rows
        self.pending, self.pending_rows = [], 0
        if os.path.getsize(self.tmp_path) >= self.opts.file_mb * MB:
            self._close_file()

    def _close_file(self) -> None:
        self.writer.close()
        self.writer = None
        rel = data_path(self.table, self.point, self.chunk, len(self.files))
        digest = hashlib.sha256()
        with open(self.tmp_path, "rb") as f:
            for block in iter(lambda: f.read(4 * MB), b""):
                digest.update(block)
        size = os.path.getsize(self.tmp_path)
        self.storage.put_file(self.tmp_path, rel)
        os.unlink(self.tmp_path)
        self.files.append(FileResult(rel, self.storage.url(rel), self.file_rows, size, digest.hexdigest(),
                                     self.chunk, self.point, self.ver))

    def finish(self) -> list[FileResult]:
        if self.pending or self.writer is not None or not self.files:
            self._flush()  # an empty chunk still gets one (empty) file carrying the schema
            if self.writer is not None:
                self._close_file()
        return self.files


def select_sql(schema: TableSchema, chunk: Chunk) -> tuple[str, list]:
    cond, args = chunk.where()
    cols = ", ".join(quote(c) for c in schema.names)
    return f"SELECT {cols} FROM {quote(schema.db)}.{quote(schema.name)} WHERE {cond}", args


def dump_chunk(conn, schema: TableSchema, chunk: Chunk, storage: Storage, point: int | None, ver: int | None,
               opts: SnapshotOptions, tmpdir: str, report: Callable[[int, int], None] = lambda r, b: None,
               rate: float | None = None, raw: bool = False) -> tuple[list[FileResult], int, dict[str, int]]:
    """Stream one chunk through a server-side cursor into Parquet; returns (files, rows, zero dates).
    `raw`: the connection was made with `conv=RAW_CONV` (workers do; faster)."""
    converter = BatchConverter(schema, opts.zero_dates)
    writer = ChunkWriter(storage, schema.full_name, chunk.index, point, ver, converter, opts, tmpdir)
    sql, args = select_sql(schema, chunk)
    rows_total = 0
    started = time.monotonic()
    cur = conn.cursor()
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
    return writer.finish(), rows_total, converter.zero_counts


# ------------------------------------------------------------------ worker processes

def _worker_main(wid: int, url: str, cmd, tasks, results, storage_url: str, opts: dict, schemas: dict) -> None:
    """A worker: run the coordinator's SQL until told to dump, then dump chunks until a None task."""
    options = SnapshotOptions(**opts)
    parent = mp.parent_process()
    tmpdir = tempfile.mkdtemp(prefix=f"m2d-snapshot-w{wid}-")
    conn = None
    try:
        conn = MySQLTarget.parse(url).connect(streaming=True, conv=RAW_CONV)
        while True:  # phase 1: the consistent point, driven by the coordinator
            if not cmd.poll(1.0):
                if parent is not None and not parent.is_alive():
                    return
                continue
            msg = cmd.recv()
            if msg[0] == "quit":
                return
            if msg[0] == "go":
                break
            try:
                with conn.cursor() as cur:
                    cur.execute(msg[1], msg[2])
                    rows = list(cur.fetchall()) if cur.description else []
                cmd.send(("ok", rows))
            except Exception as e:  # noqa: BLE001 - reported to the coordinator
                cmd.send(("err", f"{type(e).__name__}: {e}"))
        storage = open_storage(storage_url, options.multipart_mb)
        tables = {name: schema_from_dict(d) for name, d in schemas.items()}
        rate = options.max_rows_per_second / options.workers if options.max_rows_per_second else None
        while True:  # phase 2: chunks
            try:
                task = tasks.get(timeout=1.0)
            except queue.Empty:
                if parent is not None and not parent.is_alive():
                    return
                continue
            if task is None:
                break
            chunk = Chunk.from_dict(task["table"], task["chunk"])

            def report(rows: int, nbytes: int, _t=task["table"]) -> None:
                results.put(("rows", wid, _t, rows, nbytes))

            results.put(("start", wid, chunk.table))
            try:
                files, rows, zeros = dump_chunk(conn, tables[chunk.table], chunk, storage, task["point"],
                                                task["ver"], options, tmpdir, report, rate, raw=True)
            except Exception as e:  # noqa: BLE001 - reported to the coordinator
                detail = str(e) if isinstance(e, SnapshotError) else traceback.format_exc()
                results.put(("error", wid, chunk.key, detail))
                return
            results.put(("done", wid, chunk.table, chunk.index, [asdict(f) for f in files], rows, zeros))
        conn.rollback()
    finally:
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass
        shutil.rmtree(tmpdir, ignore_errors=True)
        results.put(("exit", wid))


class RemoteSession:
    """A `consistent.Session` whose SQL runs on a worker process's connection."""

    def __init__(self, wid: int, pipe, process, timeout: float = 120.0) -> None:
        self.wid, self.pipe, self.process, self.timeout = wid, pipe, process, timeout

    def query(self, sql: str, args=None) -> list[tuple]:
        try:
            self.pipe.send(("sql", sql, args))
            return self._answer(sql)
        except (EOFError, OSError) as e:
            raise SnapshotError(f"snapshot worker {self.wid} died (exit code {self.process.exitcode}): {e}") from e

    def _answer(self, sql: str) -> list[tuple]:
        deadline = time.monotonic() + self.timeout
        while not self.pipe.poll(0.5):
            if not self.process.is_alive():
                raise SnapshotError(f"snapshot worker {self.wid} died (exit code {self.process.exitcode})")
            if time.monotonic() > deadline:
                raise SnapshotError(f"snapshot worker {self.wid}: no answer to {sql!r} in {self.timeout:.0f}s")
        tag, payload = self.pipe.recv()
        if tag == "err":
            raise SnapshotError(f"snapshot worker {self.wid}: {sql}: {payload}")
        return payload


# ------------------------------------------------------------------ the run

def _source_dict(target: MySQLTarget, info) -> dict:
    return {"host": target.host, "port": target.port, "flavour": info.flavour,
            "version": ".".join(map(str, info.version)), "server_id": info.server_id}


def _load_state(storage: Storage) -> dict | None:
    data = storage.get_bytes(STATE)
    return json.loads(data) if data else None


def _check_resume(state: dict, tables: list[str], schemas: dict[str, TableSchema], source: dict,
                  storage: Storage) -> None:
    """Refuse to continue a snapshot of something else (never mix two snapshots' data)."""
    mine = f"snapshot {state['snapshot_id']} at {storage.root}"
    if sorted(state["tables"]) != sorted(tables):
        raise SnapshotError(f"{mine} is of tables {', '.join(sorted(state['tables']))}, "
                            f"not {', '.join(sorted(tables))}: refusing to mix two snapshots (use another destination)")
    old = state["source"]
    if (old["host"], old["port"], old["server_id"]) != (source["host"], source["port"], source["server_id"]):
        raise SnapshotError(f"{mine} was taken from {old['host']}:{old['port']} (server_id {old['server_id']}), "
                            f"not {source['host']}:{source['port']} (server_id {source['server_id']}): refusing to mix")
    for name in tables:
        before = {k: state["tables"][name][k] for k in ("columns", "primary_key")}
        now = {k: schema_to_dict(schemas[name])[k] for k in ("columns", "primary_key")}
        if before != now:
            raise SnapshotError(f"{mine}: the schema of {name} changed since the interrupted run: refusing to mix "
                                "rows of two schemas (start a new snapshot in another destination)")


def run_snapshot(mysql_url: str, tables: list[str], dest: str, opts: SnapshotOptions | None = None,
                 resume: bool = False, say: Callable[[str], None] = lambda msg: None) -> dict:
    """Dump `tables` (`db.table` names) consistently to `dest`; returns the manifest (as written)."""
    opts = opts or SnapshotOptions()
    if not tables:
        raise SnapshotError("no tables to snapshot")
    storage = open_storage(dest, opts.multipart_mb)
    if storage.exists(MANIFEST):
        raise SnapshotError(f"{storage.url(MANIFEST)} exists: that snapshot is complete; write a new one elsewhere")
    target = MySQLTarget.parse(mysql_url)
    control = target.connect()
    try:
        info = server_info(control)
        source = _source_dict(target, info)
        schemas = {name: read_table_schema(control, *name.split(".", 1)) for name in tables}
        state = _load_state(storage)
        if state is not None and not resume:
            raise SnapshotError(f"{storage.root} holds an interrupted snapshot ({state['snapshot_id']}): "
                                "pass --resume to continue it, or choose another destination")
        if state is None:
            leftovers = [p for p in storage.list() if p.endswith(".parquet")]
            if leftovers:
                raise SnapshotError(f"{storage.root} already holds data files ({leftovers[0]}, ...) but no snapshot "
                                    "state: refusing to mix; choose an empty destination")
            state = _new_state(control, target, info, source, schemas, opts, say)
        else:
            _check_resume(state, tables, schemas, source, storage)
            _check_binlog_kept(control, state)
            _clean_orphans(storage, state, say)
            say(f"resuming snapshot {state['snapshot_id']}: {_count_done(state)}/{_count_chunks(state)} chunks done")
        storage.put_bytes(STATE, dumps(state))
        progress = Progress(say, opts.progress_interval)
        pending = []
        for name, t in state["tables"].items():
            done = t["done"]
            progress.add_table(name, t["estimated_rows"], len(t["chunks"]), len(done),
                               sum(d["rows"] for d in done.values()))
            pending += [Chunk.from_dict(name, c) for c in t["chunks"] if str(c["index"]) not in done]
        if pending:
            _dump(control, target, info, state, storage, schemas, pending, opts, progress, say)
        return _finish(state, storage, progress, say)
    finally:
        control.close()


def _count_chunks(state: dict) -> int:
    return sum(len(t["chunks"]) for t in state["tables"].values())


def _count_done(state: dict) -> int:
    return sum(len(t["done"]) for t in state["tables"].values())


def _new_state(control, target, info, source, schemas, opts, say) -> dict:
    tables = {}
    for name, schema in schemas.items():
        est = estimated_rows(control, schema.db, schema.name)
        chunks = plan_chunks(control, schema, est, opts.chunk_rows, min_chunks=opts.workers)
        say(f"{name}: ~{est:,} rows, {len(chunks)} chunk(s)" + ("" if schema.primary_key else
                                                                  " (no primary key: one chunk)"))
        tables[name] = {**schema_to_dict(schema), "estimated_rows": est,
                        "chunks": [c.as_dict() for c in chunks], "done": {}}
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "status": "running",
            "snapshot_id": str(uuid.uuid4()), "kind": "mysql", "source": source,
            "started_at": _now(), "options": asdict(opts), "points": [], "tables": tables}


def _check_binlog_kept(control, state: dict) -> None:
    if not state["points"]:
        return
    first = state["points"][0]["file"]
    if first not in {f for f, _ in binlog_files(control)}:
        raise SnapshotError(f"binlog {first} of the interrupted snapshot's first point was purged: replay could not "
                            "start there; start a new snapshot")


def _clean_orphans(storage: Storage, state: dict, say) -> None:
    """Delete data files an interrupted run uploaded for chunks it never finished."""
    keep = {f["path"] for t in state["tables"].values() for d in t["done"].values() for f in d["files"]}
    for name in state["tables"]:
        db, table = name.split(".", 1)
        for path in storage.list(f"{db}/{table}/"):
            if path.endswith(".parquet") and path not in keep:
                storage.delete(path)
                say(f"removed {path} (unfinished chunk of the interrupted run)")


def _dump(control, target, info, state, storage, schemas, pending, opts, progress, say) -> None:
    ctx = mp.get_context("spawn")
    n = min(opts.workers, len(pending))
    tasks, results = ctx.Queue(), ctx.Queue()
    schema_dicts = {name: schema_to_dict(s) for name, s in schemas.items()}
    procs, sessions = [], []
    url = f"mysql://{_quote_url(target.user)}:{_quote_url(target.password)}@{target.host}:{target.port}/"
    for wid in range(n):
        here, there = ctx.Pipe()
        p = ctx.Process(target=_worker_main, name=f"m2d-snapshot-{wid}", daemon=True,
                        args=(wid, url, there, tasks, results, storage.root, asdict(opts), schema_dicts))
        p.start()
        procs.append(p)
        sessions.append(RemoteSession(wid, here, p))
    try:
        point: ConsistentPoint = open_point(ConnSession(control), sessions, info, opts.consistency,
                                            lock_wait_timeout=opts.lock_wait_timeout)
        point_id = len(state["points"])
        state["points"].append({"id": point_id, **point.as_dict()})
        storage.put_bytes(STATE, dumps(state))
        lock = f", FTWRL held {point.lock_ms} ms" if point.lock_ms is not None else ""
        say(f"consistent point {point_id}: {point.position} ver {point.ver} ({point.method}, "
            f"{point.attempts} attempt(s){lock}), {n} worker(s), {len(pending)} chunk(s) to dump")
        for s in sessions:
            s.pipe.send(("go",))
        # biggest tables first, chunks of one table interleaved with the others'
        for c in sorted(pending, key=lambda c: (c.index, -state["tables"][c.table]["estimated_rows"])):
            tasks.put({"table": c.table, "chunk": c.as_dict(), "point": point_id, "ver": point.ver})
        for _ in procs:
            tasks.put(None)
        _collect(procs, results, state, storage, progress, len(pending))
    finally:
        for p in procs:
            if p.is_alive():
                p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        tasks.close()
        results.close()


def _quote_url(text: str) -> str:
    from urllib.parse import quote as q

    return q(text, safe="")


def _collect(procs, results, state, storage, progress, expected: int) -> None:
    done, exited = 0, set()
    while done < expected or len(exited) < len(procs):
        try:
            msg = results.get(timeout=1.0)
        except queue.Empty:
            dead = [i for i, p in enumerate(procs) if not p.is_alive() and i not in exited]
            if dead and results.empty():
                raise SnapshotError(f"snapshot worker {dead[0]} died (exit code {procs[dead[0]].exitcode}); "
                                    "the finished chunks are kept: run again with --resume") from None
            progress.tick()
            continue
        tag = msg[0]
        if tag == "start":
            progress.start(msg[2])
        elif tag == "rows":
            progress.rows(msg[2], msg[3], msg[4])
        elif tag == "done":
            _, wid, table, index, files, rows, zeros = msg
            state["tables"][table]["done"][str(index)] = {"rows": rows, "files": files, "zero_dates": zeros,
                                                          "point": files[0]["point"], "finished_at": _now()}
            storage.put_bytes(STATE, dumps(state))
            progress.chunk_done(table, len(files))
            done += 1
        elif tag == "error":
            raise SnapshotError(f"snapshot worker {msg[1]} failed on chunk {msg[2]}: {msg[3]}\n"
                                "the finished chunks are kept: run again with --resume")
        elif tag == "exit":
            exited.add(msg[1])
            if done < expected and len(exited) == len(procs):
                raise SnapshotError("all snapshot workers stopped before every chunk was done: run again with --resume")


def _finish(state: dict, storage: Storage, progress: Progress, say) -> dict:
    tables = {}
    used_points = set()
    for name, t in state["tables"].items():
        files, chunks, zeros, rows = [], [], {}, 0
        for c in t["chunks"]:
            d = t["done"][str(c["index"])]
            files += d["files"]
            rows += d["rows"]
            used_points.add(d["point"])
            chunks.append({**c, "rows": d["rows"], "point": d["point"]})
            for col, k in d["zero_dates"].items():
                zeros[col] = zeros.get(col, 0) + k
        tables[name] = {**{k: t[k] for k in ("db", "table", "columns", "primary_key", "foreign_keys")},
                        "rows": rows, "bytes": sum(f["bytes"] for f in files), "zero_dates": zeros,
                        "chunks": chunks, "files": files}
    points = state["points"]
    first = min(used_points) if used_points else None
    start = points[first] if first is not None else None
    finished = _now()
    started = dt.datetime.fromisoformat(state["started_at"].replace("Z", "+00:00"))
    manifest = {
        **{k: state[k] for k in ("format", "format_version", "snapshot_id", "kind", "source")},
        "status": "complete",
        "binlog": {"file": start["file"], "pos": start["pos"], "gtid": start["gtid"]} if start else None,
        "ver": start["ver"] if start else None,
        "consistent": len(used_points) <= 1,
        "points": points,
        "started_at": state["started_at"], "finished_at": finished,
        "seconds": round((dt.datetime.now(dt.timezone.utc) - started).total_seconds(), 2),
        "options": state["options"],
        "tables": tables,
        "summary": progress.summary(),
    }
    storage.put_bytes(MANIFEST, dumps(manifest))
    storage.delete(STATE)
    total = sum(t["rows"] for t in tables.values())
    pos = BinlogPosition(start["file"], start["pos"], start["gtid"]) if start else None
    say(f"snapshot {manifest['snapshot_id']} complete: {len(tables)} table(s), {total:,} rows, "
        f"{sum(len(t['files']) for t in tables.values())} files, binlog {pos}, ver {manifest['ver']}"
        + ("" if manifest["consistent"] else f" (resumed: files carry the ver of their points {sorted(used_points)})")
        + f" -> {storage.url(MANIFEST)}")
    return manifest


__all__ = ["SnapshotOptions", "run_snapshot", "dump_chunk", "BatchConverter", "redact"]
