"""The snapshot run: plan chunks, open one consistent point in N worker processes, dump the chunks
to bounded Parquet files, keep a resumable state, write the manifest.

The coordinator (this process) opens the consistent point (consistent.py) on the workers'
connections (workers.py), then feeds them chunk tasks and records every finished chunk in the run's
state (state.py), so an interrupted run can be resumed (docs/snapshot.md).
"""

from __future__ import annotations

from collections.abc import Callable

import pymysql

from mysql2dynamo.cdc.server import ServerInfo, server_info
from mysql2dynamo.ground.mysql import MySQLTarget
from mysql2dynamo.keymap.schema import read_table_schema

from .chunks import Chunk
from .consistent import ConnSession, SnapshotError, open_point
from .manifest import MANIFEST
from .options import SnapshotOptions
from .progress import SnapshotProgress
from .state import add_point, chunk_done, finish, open_state, resume_complete, save_state, source_of
from .storage import Storage, open_storage
from .workers import WorkerPool, load_arrow_in_background, start_forkserver


def run_snapshot(mysql_url: str, tables: list[str], dest: str, opts: SnapshotOptions | None = None,
                 resume: bool = False, say: Callable[[str], None] = lambda msg: None) -> dict:
    """Dump `tables` (`db.table` names) consistently to `dest`; returns the manifest (as written)."""
    opts = opts or SnapshotOptions()
    if not tables:
        raise SnapshotError("no tables to snapshot")
    storage = open_storage(dest, opts.multipart_mb)
    if storage.exists(MANIFEST):
        return resume_complete(storage, tables, resume, say)
    start_forkserver()
    arrow = load_arrow_in_background()  # for the state's column types, while the workers start
    target = MySQLTarget.parse(mysql_url)
    control = target.connect()
    try:
        info = server_info(control)
        schemas = {name: read_table_schema(control, *name.split(".", 1)) for name in tables}
        # the workers start while the chunks are planned
        with WorkerPool(opts.workers, target, storage.root, opts, schemas) as pool:
            arrow.join()
            state = open_state(control, storage, tables, schemas, source_of(target, info), opts, resume, say)
            progress = SnapshotProgress(say, opts.progress_interval)
            pending = []
            for name, t in state["tables"].items():
                done = t["done"]
                progress.add_table(name, t["estimated_rows"], len(t["chunks"]), len(done),
                                   sum(d["rows"] for d in done.values()))
                pending += [Chunk.from_dict(name, c) for c in t["chunks"] if str(c["index"]) not in done]
            pool.keep(min(opts.workers, len(pending)))
            if pending:
                _dump(pool, control, info, state, storage, pending, opts, progress, say)
            return finish(state, storage, progress, say)  # while the workers exit
    finally:
        control.close()


def _dump(pool: WorkerPool, control: pymysql.Connection, info: ServerInfo, state: dict, storage: Storage,
          pending: list[Chunk], opts: SnapshotOptions, progress: SnapshotProgress,
          say: Callable[[str], None]) -> None:
    n = len(pool.sessions)
    point = open_point(ConnSession(control), pool.sessions, info, opts.consistency,
                       lock_wait_timeout=opts.lock_wait_timeout)
    point_id = add_point(state, point)
    save_state(storage, state)
    lock = f", FTWRL held {point.lock_ms} ms" if point.lock_ms is not None else ""
    say(f"consistent point {point_id}: {point.position} ver {point.ver} ({point.method}, "
        f"{point.attempts} attempt(s){lock}), {n} worker(s) reading through {pool.driver}, "
        f"{len(pending)} chunk(s) to dump")
    # biggest tables first, chunks of one table interleaved with the others'
    order = sorted(pending, key=lambda c: (c.index, -state["tables"][c.table]["estimated_rows"]))
    pool.dump([{"table": c.table, "chunk": c.as_dict(), "point": point_id, "ver": point.ver} for c in order])

    def record(table: str, index: int, files: list[dict], rows: int, zeros: dict[str, int]) -> None:
        chunk_done(state, table, index, files, rows, zeros)
        save_state(storage, state)

    pool.collect(len(pending), progress, record)
