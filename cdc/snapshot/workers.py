"""The snapshot's worker processes and the messages between them and the coordinator.

Workers are processes (converting rows to Arrow holds the GIL between C calls, and pymysql's row
decoding is pure Python, so threads would share one core). Each holds one connection that decodes no
value but text (`raw_connection.connect_raw`: mysqlclient or pymysql), with one consistent-snapshot
transaction for the whole run, in two phases:

0. a worker starts while the coordinator still plans the chunks. Workers are forked from a
   forkserver that has loaded this module and Arrow once per coordinator process (`_context`), so a
   worker costs a fork, not a Python start and 0.3 s of imports; each takes the coordinator's
   environment of now (the server's is from its own start). Where there is no forkserver they are
   spawned and load Arrow on a second thread during phase 1, as the coordinator does while it
   waits for them. In a worker pandas is as if not installed (`_WithoutPandas`);
1. the consistent point: the coordinator runs its SQL on each worker's connection through a pipe,
   the worker seen as a `consistent.Session` (`WorkerSession`): ("sql", sql, args) is answered
   ("ok", rows) or ("err", text); ("go",) ends the phase, ("quit",) the worker;
2. the dump: chunk tasks come through a queue ({"table", "chunk", "point", "ver"}; None: no more),
   each dumped by `chunk_dump.dump_chunk`; the worker reports on the results queue, which
   `WorkerPool.collect` reads: ("start", wid, table), ("rows", wid, table, rows, bytes),
   ("done", wid, table, chunk index, files, rows, zero dates), ("error", wid, chunk key, detail),
   and last ("exit", wid).
"""

from __future__ import annotations

import importlib.abc
import multiprocessing as mp
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue

from mysql2dynamo.ground.mysql import MySQLTarget
from mysql2dynamo.keymap.schema import TableSchema

from .chunk_dump import dump_chunk
from .chunks import Chunk
from .consistent import SnapshotError
from .options import SnapshotOptions
from .progress import SnapshotProgress
from .raw_connection import choose_driver, connect_raw
from .storage import open_storage

# what the coordinator does with a finished chunk: (table, chunk index, files as dicts, rows, zero dates per column)
ChunkDone = Callable[[str, int, list[dict], int, dict[str, int]], None]


class _WithoutPandas(importlib.abc.MetaPathFinder):
    """`import pandas` fails as on a host without it. pyarrow imports pandas the first time it builds an
    array from a list, only to ask whether the list is a pandas object (0.2-0.5 s of CPU per process,
    a tenth of a worker's CPU on the 1M-row bench table); a worker hands it lists of bytes and str.
    pyarrow treats pandas as optional: without it, it takes the path it takes on such a host."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname.partition(".")[0] == "pandas":
            raise ModuleNotFoundError("a snapshot worker does not use pandas", name=fullname)


# what dumping a chunk loads
ARROW = ["pyarrow.compute", "pyarrow.parquet"]
# what the forkserver loads once for all the workers it forks
PRELOAD = [__name__, *ARROW]


def load_arrow_in_background() -> threading.Thread:
    """Start importing ARROW (about 0.2 s of CPU) on a thread of its own, while this one waits on the
    server, a pipe or a fork; join it before the first use."""

    def load() -> None:
        for name in ARROW:
            try:
                importlib.import_module(name)
            except ImportError:  # the import that needs it says so
                return

    thread = threading.Thread(target=load, name="m2d-load-arrow", daemon=True)
    thread.start()
    return thread


def _context() -> mp.context.BaseContext:
    """forkserver where the platform has one (it starts once and serves every later pool of this
    process), else spawn; never fork: the coordinator may hold threads (a notebook's Spark, boto3)
    whose locks a forked child would inherit."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return mp.get_context("spawn")


def start_forkserver() -> None:
    """Start the forkserver now, if workers come from one: it loads PRELOAD (about 0.3 s) while the
    coordinator connects and reads the tables' schemas."""
    if _context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _worker_main(wid: int, url: str, cmd: Connection, tasks: Queue, results: Queue, storage_url: str,
                 opts: dict, tables: dict[str, TableSchema], env: dict[str, str]) -> None:
    """A worker: run the coordinator's SQL until told to dump, then dump chunks until a None task."""
    os.environ.clear()
    os.environ.update(env)
    if "pandas" not in sys.modules:
        sys.meta_path.insert(0, _WithoutPandas())
    arrow = load_arrow_in_background()
    options = SnapshotOptions(**opts)
    parent = mp.parent_process()
    tmpdir = tempfile.mkdtemp(prefix=f"m2d-snapshot-w{wid}-")
    conn = None
    try:
        conn = connect_raw(MySQLTarget.parse(url), options.driver)
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
        arrow.join()
        storage = open_storage(storage_url, options.multipart_mb)
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


class WorkerSession:
    """A `consistent.Session` whose SQL runs on a worker process's connection."""

    def __init__(self, wid: int, pipe: Connection, process: BaseProcess, timeout: float = 120.0) -> None:
        self.wid, self.pipe, self.process, self.timeout = wid, pipe, process, timeout

    def query(self, sql: str, args: tuple | list | None = None) -> list[tuple]:
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


class WorkerPool:
    """`n` started worker processes with their sessions, the task queue and the results queue;
    `driver`: the one they read with (`raw_connection.choose_driver` of the options' `driver`).
    Started before the chunks are planned: `keep` then lets go of the workers there is no chunk for."""

    def __init__(self, n: int, target: MySQLTarget, storage_root: str, opts: SnapshotOptions,
                 schemas: dict[str, TableSchema]) -> None:
        ctx = _context()
        self.tasks, self.results = ctx.Queue(), ctx.Queue()
        self.procs: list[BaseProcess] = []
        self.sessions: list[WorkerSession] = []
        self.dumping = False
        self.driver = choose_driver(target, opts.driver)
        worker_opts = {**asdict(opts), "driver": self.driver}
        url = target.url()
        for wid in range(n):
            here, there = ctx.Pipe()
            args = (wid, url, there, self.tasks, self.results, storage_root, worker_opts, schemas, dict(os.environ))
            p = ctx.Process(target=_worker_main, name=f"m2d-snapshot-{wid}", daemon=True, args=args)
            p.start()
            self.procs.append(p)
            self.sessions.append(WorkerSession(wid, here, p))

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def keep(self, n: int) -> None:
        """Keep the first `n` workers; the others quit before the consistent point."""
        for s in self.sessions[n:]:
            _tell(s, ("quit",))
        self.sessions = self.sessions[:n]

    def dump(self, tasks: list[dict]) -> None:
        """End the consistent-point phase and hand the workers `tasks`, in this order."""
        self.dumping = True
        for s in self.sessions:
            s.pipe.send(("go",))
        for task in tasks:
            self.tasks.put(task)
        for _ in self.sessions:  # one end per kept worker
            self.tasks.put(None)

    def collect(self, expected: int, progress: SnapshotProgress, chunk_done: ChunkDone) -> None:
        """Read the workers' reports until `expected` chunks are done and every kept worker has exited."""
        procs, done, exited = [s.process for s in self.sessions], 0, set()
        kept = {s.wid for s in self.sessions}
        while done < expected or len(exited) < len(procs):
            try:
                msg = self.results.get(timeout=1.0)
            except queue.Empty:
                dead = [i for i, p in enumerate(procs) if not p.is_alive() and i not in exited]
                if dead and self.results.empty():
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
                chunk_done(table, index, files, rows, zeros)
                progress.chunk_done(table, len(files))
                done += 1
            elif tag == "error":
                raise SnapshotError(f"snapshot worker {msg[1]} failed on chunk {msg[2]}: {msg[3]}\n"
                                    "the finished chunks are kept: run again with --resume")
            elif tag == "exit" and msg[1] in kept:
                exited.add(msg[1])
                if done < expected and len(exited) == len(procs):
                    raise SnapshotError("all snapshot workers stopped before every chunk was done: "
                                        "run again with --resume")

    def close(self) -> None:
        if not self.dumping:  # still in phase 1 (an error before the dump): nothing to wait for
            for s in self.sessions:
                _tell(s, ("quit",))
        for p in self.procs:
            if p.is_alive():
                p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        self.tasks.close()
        self.results.close()


def _tell(session: WorkerSession, msg: tuple) -> None:
    try:
        session.pipe.send(msg)
    except OSError:  # it has died: close() reaps it
        pass
