"""`--fence-accounts`: the application accounts locked (real ACCOUNT LOCK on the local MariaDB), a killed
cutover's locks taken off by `cutover --lift-fence` except the one the operator had locked before, and bad
accounts refused before anything is locked. (A live cutover through this fence: tests/test_cutover.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pymysql

from mysql2dynamo.fence import Account, Fence
from mysql2dynamo.ground.mysql import MySQLTarget, connect
from mysql2dynamo.state import StreamState
from tests.conftest import unique

CLI = str(Path(sys.executable).with_name("mysql2dynamo"))
LOCKED = (4151, 3118)  # "this account is locked": MariaDB, MySQL
PASSWORD = "fence-test"


def _sql(url: str, *statements: str) -> None:
    conn = connect(url)
    with conn.cursor() as cur:
        for s in statements:
            cur.execute(s)
    conn.close()


@contextmanager
def app_accounts(url: str, count: int, grants: str = "SELECT, INSERT, UPDATE, DELETE ON *.*") -> Iterator[list[str]]:
    """`count` new accounts `user@%` (dropped afterwards, locked or not)."""
    users = [unique("app") for _ in range(count)]
    for user in users:
        _sql(url, f"CREATE USER '{user}'@'%' IDENTIFIED BY '{PASSWORD}'", f"GRANT {grants} TO '{user}'@'%'")
    try:
        yield users
    finally:
        _sql(url, *(f"DROP USER IF EXISTS '{u}'@'%'" for u in users))


def login(url: str, user: str, db: str | None = None) -> pymysql.Connection:
    """A session of `user` on the server of `url` (pymysql's error when the account is locked)."""
    target = MySQLTarget.parse(url)
    return pymysql.connect(host=target.host, port=target.port, user=user, password=PASSWORD, database=db,
                           autocommit=True)


def locked(url: str, user: str) -> bool:
    try:
        login(url, user).close()
    except pymysql.err.OperationalError as e:
        assert e.args[0] in LOCKED, e
        return True
    return False


def _cutover(local_stack, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    config = tmp_path / "c.yaml"
    config.write_text("version: 1\ntables:\n  d.items:\n    target: t\n    key: {PK: \"{id}\"}\n")
    return subprocess.run([CLI, "cutover", "--config", str(config), "--stream", "s", "--mysql-url",
                           local_stack.mysql_url, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "M2D_HOME": str(tmp_path)})


def test_a_killed_cutovers_accounts_are_unlocked_by_lift_fence_except_one_locked_before(local_stack, tmp_path):
    url = local_stack.mysql_url
    with app_accounts(url, 2) as (app, kept):
        _sql(url, f"ALTER USER '{kept}'@'%' ACCOUNT LOCK")  # the operator's own lock, before the cutover
        session = login(url, app)
        record = StreamState.of("s", tmp_path).fence_record
        fence = Fence(url, record=record, accounts=[Account(app), Account(kept)])
        fence.raise_()  # the cutover is killed here: no handler runs
        assert locked(url, app) and locked(url, kept)
        try:
            session.ping(reconnect=False)
            raise AssertionError("the application's open session survived the fence")
        except pymysql.err.OperationalError:
            pass
        left = json.loads(record.read_text())
        assert left["accounts"] == [{"user": app, "host": "%", "was_locked": False},
                                    {"user": kept, "host": "%", "was_locked": True}]
        ended = subprocess.Popen(["true"])
        ended.wait()
        record.write_text(json.dumps({**left, "pid": ended.pid}))  # as if that cutover had been killed

        run = _cutover(local_stack, tmp_path, "--lift-fence")
        assert run.returncode == 0, run.stderr
        assert f"lifted (ACCOUNT UNLOCK '{app}'@'%'; left locked as they were before: '{kept}'@'%')" in run.stderr
        assert not locked(url, app) and locked(url, kept) and not record.exists()


def test_an_unknown_account_or_the_cutovers_own_is_refused_before_anything_is_locked(local_stack, tmp_path):
    url = local_stack.mysql_url
    own = MySQLTarget.parse(url).user
    with app_accounts(url, 1) as (app,):
        run = _cutover(local_stack, tmp_path, "--fence-accounts", f"{app}@%,nobody_{app}@'%',{own}@%")
        assert run.returncode == 2, run.stderr
        assert f"'nobody_{app}'@'%': no such account" in run.stderr
        assert f"'{own}'@'%' is the account the cutover connects with" in run.stderr
        assert "nothing was locked" in run.stderr and not locked(url, app)
        assert not StreamState.of("s", tmp_path).fence_record.exists()

        run = _cutover(local_stack, tmp_path, "--fence-accounts", app, "--fence-hook", "true", "--unfence-hook", "true")
        assert run.returncode == 2 and "two ways to fence: give one of them" in run.stderr
