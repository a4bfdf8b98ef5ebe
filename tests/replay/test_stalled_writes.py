"""A replay whose DynamoDB does not answer says so within seconds, naming the table and the error, and
fails the batch at its deadline so the shard is retried, instead of waiting silently (before, with
the local DynamoDB stopped for 16 s, the replay logged nothing)."""

from __future__ import annotations

import logging
import socket
import time

import boto3

from mysql2dynamo.cdc.envelope import Change, Source
from mysql2dynamo.keymap.checker import check
from mysql2dynamo.keymap.compile_python import compile_python
from mysql2dynamo.keymap.spec import mapping_from_dict
from mysql2dynamo.replay.apply import ApplyEngine
from mysql2dynamo.replay.writers import HttpPutter
from tests.replay.conftest import DB, SCHEMA, SOURCE, TABLE, TYPES, tables_spec


def test_writes_to_an_unreachable_dynamodb_are_logged_within_seconds(local_stack, caplog):
    with socket.socket() as s:  # a port nothing listens on: DynamoDB is down
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    putter = HttpPutter(dead, "us-east-1", boto3.Session().get_credentials(), timeout=1.0)
    engine = ApplyEngine(compile_python(check(mapping_from_dict(tables_spec("things")), {SOURCE: SCHEMA})), putter)
    change = Change("insert", DB, TABLE, ("id",), None, {"id": 1, "grp": "a", "val": 1, "status": "ok"}, TYPES,
                    Source("binlog.000001", 400, 0, None, 1, 0))
    started = time.time()
    with caplog.at_level(logging.WARNING, logger="mysql2dynamo.replay"):
        outcome = engine.apply([(0, change)], deadline=time.monotonic() + 6)
    said = [r for r in caplog.records if "has been retried for" in r.getMessage()]
    assert said, caplog.text
    assert "a write to things has been retried for" in said[0].getMessage()
    assert "ConnectionError" in said[0].getMessage() and "waits for DynamoDB" in said[0].getMessage()
    assert said[0].created - started < 4.5  # within seconds, not at the batch's deadline
    assert set(outcome.failed_indexes) == {0} and outcome.stats.failed == 2  # both rules' items: retried
    assert "things" in outcome.errors[0]
