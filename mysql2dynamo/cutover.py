"""`mysql2dynamo cutover`: the moment of the switch, with the write pause measured.

1. wait until capture and replay are caught up (lags under `max_lag_ms`);
2. fence the application's writes: `SET GLOBAL read_only = ON` (it stops every account without
   SUPER / READ ONLY ADMIN, as an application's should be) or a hook command of the operator's;
3. record the final binlog position and wait until the stream has acknowledged it and the replay
   has applied every record of the stream: the write pause ends here (`write_pause_ms`);
4. remove the delete tombstones, verify (a fresh snapshot under the fence, so it is exact);
5. report "ready to switch" (the fence stays: the application now writes to DynamoDB), or the
   differences, and then lift the fence so the application keeps working on MySQL.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mysql2dynamo.cdc.checkpoint import FileCheckpointStore
from mysql2dynamo.cdc.server import current_position, server_info
from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.state import StreamState
from mysql2dynamo.status import capture_status, replay_status


class CutoverError(RuntimeError):
    pass


@dataclass
class CutoverOptions:
    max_lag_ms: int = 2000
    wait_timeout_s: float = 300.0
    fence_hook: str | None = None  # a command that stops the application's writes (instead of read_only)
    unfence_hook: str | None = None
    verify: bool = True
    release_fence: bool = False  # lift the fence even when ready (demos, rehearsals)
    poll_s: float = 0.02


@dataclass
class CutoverReport:
    ready: bool = False
    write_pause_ms: float | None = None
    fence_position: str | None = None
    waited_for_lag_s: float = 0.0
    tombstones_removed: int = 0
    verify: dict | None = None
    fence_lifted: bool = False
    steps: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class Fence:
    def __init__(self, admin_url: str, options: CutoverOptions) -> None:
        self.admin_url, self.options = admin_url, options

    def _run(self, hook: str) -> None:
        subprocess.run(hook, shell=True, check=True)

    def raise_(self) -> None:
        if self.options.fence_hook:
            self._run(self.options.fence_hook)
            return
        conn = connect(self.admin_url)
        with conn.cursor() as cur:
            cur.execute("SET GLOBAL read_only = ON")
        conn.close()

    def lift(self) -> None:
        if self.options.unfence_hook:
            self._run(self.options.unfence_hook)
            return
        if self.options.fence_hook:
            return
        conn = connect(self.admin_url)
        with conn.cursor() as cur:
            cur.execute("SET GLOBAL read_only = OFF")
        conn.close()


def _wait(what: str, done: Callable[[], bool], timeout: float, poll: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise CutoverError(f"gave up waiting for {what} after {timeout:.0f}s")
        time.sleep(poll)


def run_cutover(stream: str, admin_url: str, kinesis, target_tables: list[str], dynamodb,
                verify: Callable[[], dict] | None, options: CutoverOptions | None = None,
                say: Callable[[str], None] = lambda m: None, state: StreamState | None = None) -> CutoverReport:
    from mysql2dynamo.replay.tombstones import cleanup_tombstones

    options = options or CutoverOptions()
    state = state or StreamState.of(stream)
    report = CutoverReport()
    store = FileCheckpointStore(state.capture_checkpoint)

    def lags_small() -> bool:
        c = capture_status(state, admin_url)
        r = replay_status(state, kinesis)
        return (c["binlog_bytes_behind"] is not None and c["binlog_bytes_behind"] < 1_000_000
                and (c["seconds_behind"] or 0) * 1000 < options.max_lag_ms and r["lag_ms"] < options.max_lag_ms)

    started = time.monotonic()
    say(f"cutover: waiting until capture and replay lag are under {options.max_lag_ms} ms")
    _wait("small lags", lags_small, options.wait_timeout_s, 0.5)
    report.waited_for_lag_s = round(time.monotonic() - started, 2)

    conn = connect(admin_url)
    info = server_info(conn)
    fenced_at = time.monotonic()
    Fence(admin_url, options).raise_()
    final = current_position(conn, info)
    conn.close()
    report.fence_position = str(final)
    say(f"cutover: writes fenced at {final}; draining")
    try:
        _wait("the stream to acknowledge the fence position",
              lambda: (cp := store.load()) is not None and cp.position >= final, options.wait_timeout_s,
              options.poll_s)
        _wait("the replay to apply the stream", lambda: not replay_status(state, kinesis)["pending"],
              options.wait_timeout_s, options.poll_s)
        report.write_pause_ms = round((time.monotonic() - fenced_at) * 1000, 1)
        say(f"cutover: replay caught up, write pause {report.write_pause_ms} ms")
        for table in target_tables:
            report.tombstones_removed += cleanup_tombstones(dynamodb, table).removed
        if options.verify and verify is not None:
            report.verify = verify()
            report.ready = bool(report.verify.get("clean"))
        else:
            report.ready = True
    except BaseException:
        Fence(admin_url, options).lift()
        report.fence_lifted = True
        raise
    if not report.ready or options.release_fence:
        Fence(admin_url, options).lift()
        report.fence_lifted = True
    say("cutover: READY TO SWITCH" if report.ready else "cutover: NOT READY, differences found; fence lifted")
    return report
