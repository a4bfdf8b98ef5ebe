"""The SQL sequence of each consistency branch, without a server of that flavour (MySQL cannot run
here): fake sessions record every statement in one shared log."""

from __future__ import annotations

import pytest

from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.cdc.server import ServerInfo
from mysql2dynamo.cdc.snapshot.consistent import START, WORKER_SETUP, SnapshotError, open_point

MYSQL_80 = ServerInfo("mysql", (8, 0, 36), 1, True)
MYSQL_84 = ServerInfo("mysql", (8, 4, 3), 1, True)
MYSQL_57_NO_GTID = ServerInfo("mysql", (5, 7, 44), 1, False)
MARIADB = ServerInfo("mariadb", (10, 11, 6), 1, True)


class Fake:
    def __init__(self, name: str, log: list, answers: dict | None = None, fail_on: str | None = None):
        self.name, self.log, self.answers, self.fail_on = name, log, answers or {}, fail_on

    def query(self, sql, args=None):
        self.log.append((self.name, sql if args is None else (sql, tuple(args))))
        if self.fail_on and sql.startswith(self.fail_on):
            raise RuntimeError(f"{self.name}: {sql} failed")
        answer = self.answers.get(sql, [])
        return answer() if callable(answer) else answer


def _mysql(log, status_sql, row):
    return Fake("control", log, {status_sql: [row]})


@pytest.mark.parametrize("info, status_sql", [(MYSQL_80, "SHOW MASTER STATUS"), (MYSQL_84, "SHOW BINARY LOG STATUS")])
def test_mysql_ftwrl_sequence(info, status_sql):
    log: list = []
    control = _mysql(log, status_sql, ("binlog.000007", 1234, "", "", "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-10\n"))
    workers = [Fake("w0", log), Fake("w1", log)]
    point = open_point(control, workers, info, "auto", lock_wait_timeout=7)
    setup = [(w, s) for w in ("w0", "w1") for s in WORKER_SETUP]
    assert log == setup + [
        ("control", "SET SESSION lock_wait_timeout = 7"),
        ("control", "FLUSH TABLES WITH READ LOCK"),
        ("w0", START), ("w1", START),  # every worker's snapshot opens while commits are blocked
        ("control", status_sql),  # the position under the same lock
        ("control", "UNLOCK TABLES"),
    ]
    assert point.method == "ftwrl" and point.lock_ms is not None
    assert point.position == BinlogPosition("binlog.000007", 1234, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-10")
    assert point.ver == BinlogPosition("binlog.000007", 1234).ver()


def test_mysql_without_gtid_mode_has_no_gtid():
    log: list = []
    control = _mysql(log, "SHOW MASTER STATUS", ("mysql-bin.000002", 99, "", "", ""))
    point = open_point(control, [Fake("w0", log)], MYSQL_57_NO_GTID)
    assert point.position == BinlogPosition("mysql-bin.000002", 99, None)


def test_lock_is_released_when_a_worker_fails():
    log: list = []
    control = _mysql(log, "SHOW MASTER STATUS", ("binlog.000001", 4, "", "", ""))
    with pytest.raises(RuntimeError, match="w1"):
        open_point(control, [Fake("w0", log), Fake("w1", log, fail_on="START")], MYSQL_80)
    assert log[-1] == ("control", "UNLOCK TABLES")


def test_mariadb_snapshot_method_is_refused_on_mysql():
    with pytest.raises(ValueError, match="needs MariaDB"):
        open_point(Fake("control", []), [Fake("w0", [])], MYSQL_80, "mariadb-snapshot")


def _status(seq):
    it = iter(seq)

    def answer():
        file, pos = next(it)
        return [("Binlog_snapshot_file", file), ("Binlog_snapshot_position", str(pos))]
    return answer


def test_mariadb_lock_free_retries_until_all_workers_share_one_point():
    log: list = []
    # attempt 1: a commit landed between the two START TRANSACTIONs; attempt 2: same point
    w0 = Fake("w0", log, {"SHOW STATUS LIKE 'binlog_snapshot_%'": _status([("binlog.000003", 100),
                                                                            ("binlog.000003", 300)])})
    w1 = Fake("w1", log, {"SHOW STATUS LIKE 'binlog_snapshot_%'": _status([("binlog.000003", 200),
                                                                            ("binlog.000003", 300)])})
    control = Fake("control", log, {})
    control.answers["SELECT BINLOG_GTID_POS(%s, %s)"] = [("0-1-42",)]
    point = open_point(control, [w0, w1], MARIADB, "auto", sleep=lambda s: None)
    assert point.method == "mariadb-snapshot" and point.attempts == 2 and point.lock_ms is None
    assert point.position == BinlogPosition("binlog.000003", 300, "0-1-42")
    assert ("w0", "ROLLBACK") in log and ("w1", "ROLLBACK") in log
    assert not any("FLUSH" in str(sql) for _, sql in log)  # no lock taken
    assert log[-1] == ("control", ("SELECT BINLOG_GTID_POS(%s, %s)", ("binlog.000003", 300)))


def test_mariadb_auto_falls_back_to_ftwrl_and_explicit_method_fails():
    def busy(log, name, start):
        return Fake(name, log, {"SHOW STATUS LIKE 'binlog_snapshot_%'": _status(
            [("binlog.000003", start + i) for i in range(3)] + [("binlog.000003", 999)] * 5)})

    log: list = []
    control = Fake("control", log, {"SHOW MASTER STATUS": [("binlog.000003", 999, "", "")],
                                    "SELECT @@gtid_binlog_pos": [("0-1-77",)]})
    point = open_point(control, [busy(log, "w0", 0), busy(log, "w1", 50)], MARIADB, "auto", attempts=3,
                       sleep=lambda s: None)
    assert point.method == "ftwrl" and point.position == BinlogPosition("binlog.000003", 999, "0-1-77")
    assert ("control", "FLUSH TABLES WITH READ LOCK") in log and log[-1] == ("control", "UNLOCK TABLES")

    with pytest.raises(SnapshotError, match="3 attempts"):
        open_point(Fake("control", []), [busy([], "w0", 0), busy([], "w1", 50)], MARIADB, "mariadb-snapshot",
                   attempts=3, sleep=lambda s: None)
