"""The write fence of a cutover: raised once, lifted on every way out, and checked to hold.

- `SET GLOBAL read_only = ON` (it stops every account without SUPER / READ ONLY ADMIN, as an
  application's should be), or the operator's hook pair: a fence hook needs an unfence hook, since a
  fence nobody can lift is an outage;
- `lifted` is true only when something lifted it (read_only OFF, or the unfence hook ran);
- `writers` names the sessions that can still write through read_only (accounts with SUPER or READ ONLY
  ADMIN, replication), for the message when the binlog keeps moving under the fence;
- `signals_lift` turns SIGTERM/SIGINT into an exception, so the cutover's error path lifts the fence.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

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
    def __init__(self, admin_url: str, fence_hook: str | None = None, unfence_hook: str | None = None) -> None:
        check_hooks(fence_hook, unfence_hook)
        self.admin_url, self.fence_hook, self.unfence_hook = admin_url, fence_hook, unfence_hook
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
        if self.fence_hook:
            subprocess.run(self.fence_hook, shell=True, check=True)
        else:
            self._read_only(True)
        self.raised_at = time.monotonic()

    def lift(self) -> None:
        """Lift the fence if it is up (once)."""
        if not self.up:
            return
        if self.unfence_hook:
            subprocess.run(self.unfence_hook, shell=True, check=True)
        else:
            self._read_only(False)
        self.lifted_at = time.monotonic()


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
