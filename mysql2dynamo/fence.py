"""The write fence of a cutover: raised once, lifted on every way out, and checked to hold.

- `SET GLOBAL read_only = ON` (it stops every account without SUPER / READ ONLY ADMIN, as an
  application's should be), or the operator's hook pair: a fence hook needs an unfence hook, since a
  fence nobody can lift is an outage;
- `lifted` is true only when something lifted it (read_only OFF, or the unfence hook ran);
- the fence record (`StreamState.fence_record`) is written before the fence goes up and removed once
  it is down or handed over (READY): a cutover killed by SIGKILL runs no handler, so a record whose
  process is gone means a fence nobody will lift; `lift_left` lifts it the way the record says;
- `writers` names the sessions that can still write through read_only (accounts with SUPER or READ ONLY
  ADMIN, replication), for the message when the binlog keeps moving under the fence;
- `signals_lift` turns SIGTERM/SIGINT into an exception, so the cutover's error path lifts the fence.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from mysql2dynamo.ground.files import atomic_write
from mysql2dynamo.ground.mysql import connect

BYPASS_PRIVILEGES = ("SUPER", "READ ONLY ADMIN", "READ_ONLY ADMIN", "CONNECTION_ADMIN")


class FenceUsageError(ValueError):
    pass


class Interrupted(BaseException):
    """A signal stopped the cutover (a BaseException, like KeyboardInterrupt: every handler re-raises it)."""


def check_hooks(fence_hook: str | None, unfence_hook: str | None) -> None:
    if bool(fence_hook) != bool(unfence_hook):
        raise FenceUsageError("--fence-hook and --unfence-hook go together: a fence needs a way to lift it "
                              f"(given only {'--fence-hook' if fence_hook else '--unfence-hook'})")


class Fence:
    def __init__(self, admin_url: str, fence_hook: str | None = None, unfence_hook: str | None = None,
                 record: Path | None = None) -> None:
        check_hooks(fence_hook, unfence_hook)
        self.admin_url, self.fence_hook, self.unfence_hook = admin_url, fence_hook, unfence_hook
        self.record = record
        self.raised_at: float | None = None  # time.monotonic()
        self.lifted_at: float | None = None

    @property
    def up(self) -> bool:
        return self.raised_at is not None and self.lifted_at is None

    @property
    def lifted(self) -> bool:
        return self.lifted_at is not None

    def _read_only(self, on: bool) -> None:
        conn = connect(self.admin_url)
        try:
            with conn.cursor() as cur:
                cur.execute(f"SET GLOBAL read_only = {'ON' if on else 'OFF'}")
        finally:
            conn.close()

    def raise_(self) -> None:
        if self.record is not None:  # first: a kill between the two leaves a record, never an unknown fence
            atomic_write(self.record, json.dumps({
                "pid": os.getpid(), "host": socket.gethostname(),
                "raised_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "fence_hook": self.fence_hook, "unfence_hook": self.unfence_hook}), durable=True)
        if self.fence_hook:
            subprocess.run(self.fence_hook, shell=True, check=True)
        else:
            self._read_only(True)
        self.raised_at = time.monotonic()

    def _lower(self) -> None:
        if self.unfence_hook:
            subprocess.run(self.unfence_hook, shell=True, check=True)
        else:
            self._read_only(False)

    def lift(self) -> None:
        """Lift the fence if it is up (once)."""
        if not self.up:
            return
        self._lower()
        self.lifted_at = time.monotonic()
        self.hand_over()

    def hand_over(self) -> None:
        """The fence is down, or stays up on purpose (READY): no process owns it any more."""
        if self.record is not None:
            self.record.unlink(missing_ok=True)

    @property
    def how(self) -> str:
        return f"ran the unfence hook {self.unfence_hook!r}" if self.unfence_hook else "SET GLOBAL read_only = OFF"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True


def lift_left(record: Path, admin_url: str) -> str | None:
    """Lift the fence a cutover left up when it was killed (what was done, for the operator); None: no such fence.

    Refuses while the process that raised it still runs on this host: that cutover lifts it itself."""
    if not record.exists():
        return None
    left = json.loads(record.read_text())
    pid, since = left["pid"], left["raised_at"]
    if left["host"] == socket.gethostname() and _running(pid):
        raise FenceUsageError(f"a cutover (pid {pid}) has held the fence since {since} and still runs: wait for it "
                              f"or stop it with SIGTERM (which lifts the fence); if pid {pid} is no cutover, "
                              f"remove {record} and run again")
    fence = Fence(admin_url, left["fence_hook"], left["unfence_hook"], record)
    fence._lower()
    fence.hand_over()
    return f"the fence a cutover (pid {pid} on {left['host']}) raised at {since} and never lifted: lifted ({fence.how})"


def writers(conn) -> list[str]:
    """The client sessions other than ours whose accounts pass read_only, as `id user@host (db, command)`."""
    with conn.cursor() as cur:
        cur.execute("SELECT GRANTEE FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE IN %s",
                    (BYPASS_PRIVILEGES,))
        privileged = {g.split("@")[0].strip("'") for (g,) in cur.fetchall()}
        cur.execute("SELECT ID, USER, HOST, DB, COMMAND, INFO FROM information_schema.PROCESSLIST "
                    "WHERE ID != CONNECTION_ID() AND COMMAND NOT IN ('Binlog Dump', 'Daemon') ORDER BY ID")
        sessions = cur.fetchall()
    return [f"session {sid} {user}@{host} (db {db or '-'}, {command}{': ' + info[:80] if info else ''})"
            for sid, user, host, db, command, info in sessions if user in privileged or command == "Slave_SQL"]


@contextmanager
def signals_lift() -> Iterator[None]:
    """Within: SIGTERM and SIGINT raise `Interrupted`, so every `finally` and `except BaseException` runs."""

    def stop(signum, _frame) -> None:
        raise Interrupted(signal.Signals(signum).name)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
