"""The write fence of a cutover: raised once, lifted on every way out, and checked to hold.

- three ways to fence, one at a time: `SET GLOBAL read_only = ON` (it stops every account without
  SUPER / READ ONLY ADMIN, as an application's should be); the named application accounts
  (`ALTER USER ... ACCOUNT LOCK`, then their open sessions killed: for servers where read_only is too
  coarse, or where the application's account passes it); or the operator's hook pair: a fence hook
  needs an unfence hook, since a fence nobody can lift is an outage;
- a named account that does not exist, the cutover's own account, or capture's is refused before
  anything is locked; lifting unlocks only the accounts the fence locked (one already locked before
  stays locked);
- `lifted` is true only when something lifted it (read_only OFF, the accounts unlocked, or the unfence
  hook ran);
- the fence record (`StreamState.fence_record`) is written before the fence goes up and removed once
  it is down or handed over (READY): a cutover killed by SIGKILL runs no handler, so a record whose
  process is gone means a fence nobody will lift; `lift_left` lifts it the way the record says;
- `Fence.writers` names the sessions that can still write past the fence, for the message when the
  binlog keeps moving under it;
- `signals_lift` turns SIGTERM/SIGINT into an exception, so the cutover's error path lifts the fence.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pymysql

from mysql2dynamo.ground.files import atomic_write
from mysql2dynamo.ground.mysql import connect

BYPASS_PRIVILEGES = ("SUPER", "READ ONLY ADMIN", "READ_ONLY ADMIN", "CONNECTION_ADMIN")
DUMP_COMMANDS = ("Binlog Dump", "Binlog Dump GTID")  # capture's (and replicas') sessions
NO_SUCH_USER = (1133, 1396)  # MariaDB, MySQL
KILLED_GONE_S = 5.0  # how long raising waits for killed sessions to end (a later write fails the hold check)


class FenceUsageError(ValueError):
    pass


class Interrupted(BaseException):
    """A signal stopped the cutover (a BaseException, like KeyboardInterrupt: every handler re-raises it)."""


@dataclass(frozen=True)
class Account:
    """A MySQL account, `user@host` (`user` alone is `user@%`, as in MySQL)."""

    user: str
    host: str = "%"

    @classmethod
    def parse(cls, text: str) -> Account:
        user, at, host = text.strip().rpartition("@")
        if not at:
            user, host = host, "%"
        user, host = (part.strip().strip("'\"`") for part in (user, host))
        if not user or not host:
            raise FenceUsageError(f"--fence-accounts: {text.strip()!r} is not an account: expected user@host "
                                  "(e.g. shop_app@'%'), or user for user@'%'")
        return cls(user, host)

    def holds(self, client_host: str) -> bool:
        """Whether a session from `client_host` (PROCESSLIST's host[:port]) matches this account's host pattern."""
        pattern = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in self.host)
        return re.fullmatch(pattern, client_host.rpartition(":")[0] or client_host, re.IGNORECASE) is not None

    def __str__(self) -> str:
        return f"'{self.user}'@'{self.host}'"


def parse_accounts(value: str | list[str] | None) -> list[Account]:
    """`a@h,b@h` (a command line) or a list (the config) as accounts, each once, in order."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    return list(dict.fromkeys(Account.parse(x) for x in items if str(x).strip()))


def check_hooks(fence_hook: str | None, unfence_hook: str | None, accounts: list[Account] | None = None) -> None:
    if bool(fence_hook) != bool(unfence_hook):
        raise FenceUsageError("--fence-hook and --unfence-hook go together: a fence needs a way to lift it "
                              f"(given only {'--fence-hook' if fence_hook else '--unfence-hook'})")
    if fence_hook and accounts:
        raise FenceUsageError("--fence-accounts and --fence-hook are two ways to fence: give one of them")


def _sessions(conn) -> list[tuple]:
    """Every session but ours: (id, user, host, db, command, info)."""
    with conn.cursor() as cur:
        cur.execute("SELECT ID, USER, HOST, DB, COMMAND, INFO FROM information_schema.PROCESSLIST "
                    "WHERE ID != CONNECTION_ID() AND COMMAND != 'Daemon' ORDER BY ID")
        return list(cur.fetchall())


def _describe(session: tuple) -> str:
    sid, user, host, db, command, info = session
    return f"session {sid} {user}@{host} (db {db or '-'}, {command}{': ' + info[:80] if info else ''})"


def _sessions_of(conn, accounts: list[Account]) -> list[tuple]:
    """The sessions of `accounts`: a session of a user named there whose host matches the account's pattern,
    or of a user who has no account other than those (PROCESSLIST shows the client's host, not the account)."""
    users = {a.user for a in accounts}
    with conn.cursor() as cur:
        cur.execute("SELECT User, Host FROM mysql.user WHERE User IN %s", (tuple(users),))
        others = {u for u, h in cur.fetchall() if Account(u, h) not in accounts}
    return [s for s in _sessions(conn) if s[1] in users
            and (s[1] not in others or any(a.user == s[1] and a.holds(s[2] or "") for a in accounts))]


def account_locks(conn, accounts: list[Account]) -> dict[Account, bool]:
    """Each account and whether it is locked now; FenceUsageError naming every account that cannot be fenced
    (it does not exist, the cutover connects with it, or capture reads the binlog with it)."""
    with conn.cursor() as cur:
        cur.execute("SELECT CURRENT_USER()")
        user, _, host = cur.fetchone()[0].rpartition("@")
    me = Account(user, host)
    locks, problems = {}, []
    capture = {s[1]: s for s in _sessions_of(conn, accounts) if s[4] in DUMP_COMMANDS}
    for account in accounts:
        if account == me:
            problems.append(f"{account} is the account the cutover connects with (source.mysql_url): locking it "
                            "would stop the cutover; fence the application's accounts only")
            continue
        if account.user in capture:
            problems.append(f"{account} reads the binlog ({_describe(capture[account.user])}): locking it would stop "
                            "capture and the drain; give capture an account of its own")
            continue
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW CREATE USER %s@%s", (account.user, account.host))
                created = cur.fetchone()[0]
        except pymysql.err.MySQLError as e:
            if e.args[0] not in NO_SUCH_USER:
                raise
            problems.append(f"{account}: no such account (SELECT User, Host FROM mysql.user lists them)")
            continue
        locks[account] = re.search(r"\bACCOUNT LOCK\b", re.sub(r"'(?:[^'\\]|\\.)*'", "''", created)) is not None
    if problems:
        raise FenceUsageError("--fence-accounts: nothing was locked: " + "; ".join(problems))
    return locks


class Fence:
    def __init__(self, admin_url: str, fence_hook: str | None = None, unfence_hook: str | None = None,
                 record: Path | None = None, accounts: list[Account] | None = None) -> None:
        check_hooks(fence_hook, unfence_hook, accounts)
        self.admin_url, self.fence_hook, self.unfence_hook = admin_url, fence_hook, unfence_hook
        self.record = record
        self.accounts = list(accounts or [])
        self.was_locked: dict[Account, bool] = {}  # accounts mode: locked before this fence (never unlocked)
        self.killed: list[str] = []  # accounts mode: the sessions raising killed
        self.raised_at: float | None = None  # time.monotonic()
        self.lifted_at: float | None = None

    @classmethod
    def of_record(cls, left: dict, admin_url: str, record: Path) -> Fence:
        """The fence a record describes (written by `raise_`)."""
        held = left.get("accounts") or []
        fence = cls(admin_url, left["fence_hook"], left["unfence_hook"], record,
                    [Account(a["user"], a["host"]) for a in held])
        fence.was_locked = {Account(a["user"], a["host"]): a["was_locked"] for a in held}
        return fence

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

    def check(self) -> None:
        """Refuse accounts that cannot be fenced now, before anything is locked (FenceUsageError)."""
        if self.accounts:
            conn = connect(self.admin_url)
            try:
                account_locks(conn, self.accounts)
            finally:
                conn.close()

    def raise_(self) -> None:
        conn = connect(self.admin_url) if self.accounts else None
        try:
            if conn is not None:
                self.was_locked = account_locks(conn, self.accounts)
            if self.record is not None:  # first: a kill between the two leaves a record, never an unknown fence
                atomic_write(self.record, json.dumps({
                    "pid": os.getpid(), "host": socket.gethostname(),
                    "raised_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "fence_hook": self.fence_hook, "unfence_hook": self.unfence_hook,
                    "accounts": [{"user": a.user, "host": a.host, "was_locked": locked}
                                 for a, locked in self.was_locked.items()]}), durable=True)
            if self.fence_hook:
                subprocess.run(self.fence_hook, shell=True, check=True)
            elif conn is not None:
                self._lock(conn)
            else:
                self._read_only(True)
        finally:
            if conn is not None:
                conn.close()
        self.raised_at = time.monotonic()

    def _lock(self, conn) -> None:
        """Lock the accounts, then end their sessions (a locked account's open sessions go on otherwise); on any
        failure the accounts locked so far are unlocked again."""
        try:
            with conn.cursor() as cur:
                for account, locked in self.was_locked.items():
                    if not locked:
                        cur.execute("ALTER USER %s@%s ACCOUNT LOCK", (account.user, account.host))
                sessions = _sessions_of(conn, self.accounts)
                for session in sessions:
                    try:
                        cur.execute("KILL CONNECTION %s", (session[0],))
                    except pymysql.err.MySQLError as e:
                        if e.args[0] != 1094:  # unknown thread: it ended by itself
                            raise
                self.killed = [_describe(s) for s in sessions]
                ids = {s[0] for s in sessions}
                deadline = time.monotonic() + KILLED_GONE_S
                while ids & {s[0] for s in _sessions(conn)} and time.monotonic() < deadline:
                    time.sleep(0.01)
        except BaseException:
            self._unlock(conn)
            self.hand_over()
            raise

    def _unlock(self, conn) -> None:
        with conn.cursor() as cur:
            for account, locked in self.was_locked.items():
                if not locked:
                    cur.execute("ALTER USER IF EXISTS %s@%s ACCOUNT UNLOCK", (account.user, account.host))

    def _lower(self) -> None:
        if self.unfence_hook:
            subprocess.run(self.unfence_hook, shell=True, check=True)
        elif self.accounts:
            conn = connect(self.admin_url)
            try:
                self._unlock(conn)
            finally:
                conn.close()
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

    def _done(self, up: bool) -> str:
        """What raising (`up`) or lowering the fence does, for the operator."""
        hook = self.fence_hook if up else self.unfence_hook
        if hook:
            return f"ran the {'' if up else 'un'}fence hook {hook!r}"
        if not self.accounts:
            return f"SET GLOBAL read_only = {'ON' if up else 'OFF'}"
        changed, kept = ([", ".join(str(a) for a, locked in self.was_locked.items() if locked == before) or "-"
                          for before in (False, True)])
        if not up:
            return f"ACCOUNT UNLOCK {changed}{f'; left locked as they were before: {kept}' if kept != '-' else ''}"
        return (f"ACCOUNT LOCK {changed}{f' ({kept} locked already)' if kept != '-' else ''}; "
                f"{len(self.killed)} sessions killed{': ' + '; '.join(self.killed) if self.killed else ''}")

    @property
    def what(self) -> str:
        """How the fence went up."""
        return self._done(up=True)

    @property
    def how(self) -> str:
        """How the fence comes down."""
        return self._done(up=False)

    def writers(self, conn) -> str:
        """The sessions that can write past this fence, and what to do about them (a sentence)."""
        if self.fence_hook:
            return (f"Sessions connected now: {'; '.join(_describe(s) for s in _sessions(conn)) or 'none'}. Make the "
                    "fence hook stop them")
        if self.accounts:
            others = [s for s in _sessions(conn) if s[4] not in DUMP_COMMANDS]
            return (f"Sessions of accounts the fence did not lock: {'; '.join(map(_describe, others)) or 'none now'}. "
                    "Add their accounts to --fence-accounts (or stop them) and run cutover again")
        return (f"Sessions that can write through read_only: {'; '.join(_bypassing(conn)) or 'none connected now'}. "
                "Stop them (or fence with --fence-accounts or --fence-hook) and run cutover again")


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
    fence = Fence.of_record(left, admin_url, record)
    fence._lower()
    fence.hand_over()
    return f"the fence a cutover (pid {pid} on {left['host']}) raised at {since} and never lifted: lifted ({fence.how})"


def _bypassing(conn) -> list[str]:
    """The client sessions other than ours whose accounts pass read_only, as `id user@host (db, command)`."""
    with conn.cursor() as cur:
        cur.execute("SELECT GRANTEE FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE IN %s",
                    (BYPASS_PRIVILEGES,))
        privileged = {g.split("@")[0].strip("'") for (g,) in cur.fetchall()}
    return [_describe(s) for s in _sessions(conn)
            if s[4] not in DUMP_COMMANDS and (s[1] in privileged or s[4] == "Slave_SQL")]


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
