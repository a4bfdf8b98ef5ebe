"""The resumable state of a snapshot run and the manifest it becomes.

While a run is going, `_snapshot_state.json` at the destination holds the manifest's shape with
`status: "running"`: the source, per table its schema, planned chunks and the chunks done (rows,
files, zero dates, point), and the consistent points opened so far. It is rewritten after every
finished chunk, so an interrupted run resumes with the chunks not done; a resume refuses anything
that would mix two snapshots (docs/snapshot.md). At the end it becomes `manifest.json`.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import asdict

import pymysql

from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.cdc.server import ServerInfo, binlog_files
from mysql2dynamo.ground.mysql import MySQLTarget
from mysql2dynamo.keymap.schema import TableSchema

from .chunks import estimated_rows, plan_chunks
from .consistent import ConsistentPoint, SnapshotError
from .manifest import FORMAT, FORMAT_VERSION, MANIFEST, STATE, dumps, load_manifest, schema_to_dict, utc_timestamp
from .options import SnapshotOptions
from .progress import SnapshotProgress
from .storage import Storage


def source_of(target: MySQLTarget, info: ServerInfo) -> dict:
    return {"host": target.host, "port": target.port, "flavour": info.flavour,
            "version": ".".join(map(str, info.version)), "server_id": info.server_id}


def save_state(storage: Storage, state: dict) -> None:
    storage.put_bytes(STATE, dumps(state))


def open_state(control: pymysql.Connection, storage: Storage, tables: list[str], schemas: dict[str, TableSchema],
               source: dict, opts: SnapshotOptions, resume: bool, say: Callable[[str], None]) -> dict:
    """The state to run (saved): a new one in an empty destination, or with `resume` the interrupted run's."""
    data = storage.get_bytes(STATE)
    state = json.loads(data) if data else None
    if state is not None and not resume:
        raise SnapshotError(f"{storage.root} holds an interrupted snapshot ({state['snapshot_id']}): "
                            "pass --resume to continue it, or choose another destination")
    if state is None:
        leftovers = [p for p in storage.list() if p.endswith(".parquet")]
        if leftovers:
            raise SnapshotError(f"{storage.root} already holds data files ({leftovers[0]}, ...) but no snapshot "
                                "state: refusing to mix; choose an empty destination")
        state = _new_state(control, source, schemas, opts, say)
    else:
        _check_resume(state, tables, schemas, source, storage)
        _check_binlog_kept(control, state)
        _clean_orphans(storage, state, say)
        done = sum(len(t["done"]) for t in state["tables"].values())
        planned = sum(len(t["chunks"]) for t in state["tables"].values())
        say(f"resuming snapshot {state['snapshot_id']}: {done}/{planned} chunks done")
    save_state(storage, state)
    return state


def _new_state(control: pymysql.Connection, source: dict, schemas: dict[str, TableSchema], opts: SnapshotOptions,
               say: Callable[[str], None]) -> dict:
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
            "started_at": utc_timestamp(), "options": asdict(opts), "points": [], "tables": tables}


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


def _check_binlog_kept(control: pymysql.Connection, state: dict) -> None:
    if not state["points"]:
        return
    first = state["points"][0]["file"]
    if first not in {f for f, _ in binlog_files(control)}:
        raise SnapshotError(f"binlog {first} of the interrupted snapshot's first point was purged: replay could not "
                            "start there; start a new snapshot")


def _clean_orphans(storage: Storage, state: dict, say: Callable[[str], None]) -> None:
    """Delete data files an interrupted run uploaded for chunks it never finished."""
    keep = {f["path"] for t in state["tables"].values() for d in t["done"].values() for f in d["files"]}
    for name in state["tables"]:
        db, table = name.split(".", 1)
        for path in storage.list(f"{db}/{table}/"):
            if path.endswith(".parquet") and path not in keep:
                storage.delete(path)
                say(f"removed {path} (unfinished chunk of the interrupted run)")


def add_point(state: dict, point: ConsistentPoint) -> int:
    """Record a newly opened consistent point; returns its id (the files dumped at it carry the id)."""
    point_id = len(state["points"])
    state["points"].append({"id": point_id, **point.as_dict()})
    return point_id


def chunk_done(state: dict, table: str, index: int, files: list[dict], rows: int, zeros: dict[str, int]) -> None:
    state["tables"][table]["done"][str(index)] = {"rows": rows, "files": files, "zero_dates": zeros,
                                                  "point": files[0]["point"], "finished_at": utc_timestamp()}


def _table_entry(t: dict) -> tuple[dict, set[int]]:
    """A table of the manifest from its state (chunks in plan order), and the points its files were dumped at."""
    files, chunks, zeros, rows, points = [], [], {}, 0, set()
    for c in t["chunks"]:
        d = t["done"][str(c["index"])]
        files += d["files"]
        rows += d["rows"]
        points.add(d["point"])
        chunks.append({**c, "rows": d["rows"], "point": d["point"]})
        for col, k in d["zero_dates"].items():
            zeros[col] = zeros.get(col, 0) + k
    return {**{k: t[k] for k in ("db", "table", "columns", "primary_key", "foreign_keys")},
            "unsupported": t.get("unsupported", []),
            "rows": rows, "bytes": sum(f["bytes"] for f in files), "zero_dates": zeros,
            "chunks": chunks, "files": files}, points


def finish(state: dict, storage: Storage, progress: SnapshotProgress, say: Callable[[str], None]) -> dict:
    """Write the manifest of a run whose chunks are all done, delete the state; returns the manifest."""
    tables = {}
    used_points: set[int] = set()
    for name, t in state["tables"].items():
        tables[name], table_points = _table_entry(t)
        used_points |= table_points
    points = state["points"]
    first = min(used_points) if used_points else None
    start = points[first] if first is not None else None
    finished = utc_timestamp()
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


def resume_complete(storage: Storage, tables: list[str], resume: bool, say: Callable[[str], None]) -> dict:
    """A destination holding a manifest: a resume of these tables finds its work done (a run killed after
    `finish` wrote the manifest, its state maybe still there); anything else is refused."""
    url = storage.url(MANIFEST)
    if not resume:
        raise SnapshotError(f"{url} exists: that snapshot is complete; write a new one elsewhere")
    manifest = load_manifest(storage.root).raw
    if sorted(manifest["tables"]) != sorted(tables):
        raise SnapshotError(f"{url}: a complete snapshot of {', '.join(sorted(manifest['tables']))}, not of "
                            f"{', '.join(sorted(tables))}: write a new one elsewhere")
    storage.delete(STATE)  # what the killed run's finish() had left to do
    say(f"snapshot {manifest['snapshot_id']} is complete already: nothing to resume -> {url}")
    return manifest
