"""MariaDB traffic -> stream -> local replay runner (killed -9 mid-way) -> DynamoDB == mapped MySQL.

Capture starts before the sample data exists, so the stream alone rebuilds the table (no snapshot:
snapshot ver 0). A rule keyed on a nullable column sends the rows it cannot map to the dead
letters while everything else is applied.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from mysql2dynamo.cdc.checkpoint import FileCheckpointStore
from mysql2dynamo.ground.dynamo_json import from_client_item
from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.keymap.checker import check
from mysql2dynamo.keymap.compile_python import compile_python
from mysql2dynamo.keymap.schema import read_schemas
from mysql2dynamo.keymap.spec import load_mapping
from mysql2dynamo.replay.dead_letter import FolderDeadLetter
from mysql2dynamo.replay.tombstones import cleanup_tombstones
from mysql2dynamo.sample.create import create_sample
from mysql2dynamo.sample.traffic import run_traffic
from tests.conftest import binlog_now, mapping_text, wait_until_written
from tests.replay.conftest import normalise

CLI = str(Path(sys.executable).with_name("mysql2dynamo"))

def _without_ver(item: dict) -> dict:
    return {k: v for k, v in item.items() if k != "_ver"}


def test_traffic_to_dynamodb_through_a_killed_runner(local_stack, fresh_db, dynamodb_table, stream_name, tmp_path):
    table = dynamodb_table()
    config = tmp_path / "mapping.yaml"
    config.write_text(mapping_text(fresh_db, table))
    tables = [f"{fresh_db}.{t}" for t in ("customers", "orders", "order_items")]
    start = binlog_now(local_stack.mysql_url)
    create_sample(local_stack.mysql_url, fresh_db, customers=40, seed=17)

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    stream_checkpoint = tmp_path / "stream.json"
    capture = subprocess.Popen(
        [CLI, "stream", "--mysql-url", local_stack.cdc_mysql_url, "--tables", ",".join(tables), "--stream",
         stream_name, "--checkpoint", str(stream_checkpoint), "--from-position", f"{start.file}:{start.pos}"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "stream.log", "w"), env=env)
    stop = threading.Event()
    traffic = threading.Thread(target=run_traffic, kwargs=dict(
        url=local_stack.mysql_url, database=fresh_db, rate=100, seconds=60, seed=23, stop=stop.is_set))
    traffic.start()

    dead = tmp_path / "dead"
    replay_cmd = [CLI, "replay", "--config", str(config), "--stream", stream_name, "--mysql-url",
                  local_stack.mysql_url, "--checkpoint", str(tmp_path / "replay.json"), "--dead-letter", str(dead),
                  "--batch-size", "100"]
    rng = random.Random(5)
    try:
        for _ in range(2):  # killed at a random point once it works (its start-up time depends on the load)
            runner = subprocess.Popen(replay_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            wait_until_written(tmp_path / "replay.json", runner)
            time.sleep(rng.uniform(0.0, 1.5))
            runner.send_signal(signal.SIGKILL)
            runner.wait()
        assert (tmp_path / "replay.json").exists(), "the runner never checkpointed a batch"
    finally:
        stop.set()
        traffic.join()
        end = binlog_now(local_stack.mysql_url)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and capture.poll() is None:
            saved = FileCheckpointStore(stream_checkpoint).load()
            if saved and saved.position >= end:
                break
            time.sleep(0.5)
        capture.send_signal(signal.SIGTERM)
        assert capture.wait(timeout=60) == 0, (tmp_path / "stream.log").read_text()[-3000:]

    done = subprocess.run([*replay_cmd, "--until-caught-up"], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    stats = json.loads(done.stdout)
    assert stats["failed"] == 0

    ddb = local_stack.client("dynamodb")
    cleanup_tombstones(ddb, table)
    got = {}
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        for raw in page["Items"]:
            item = normalise(from_client_item(raw))
            got[(item["PK"]["S"], item["SK"]["S"])] = _without_ver(item)

    conn = connect(local_stack.mysql_url, fresh_db)
    mapping = load_mapping(Path(config).read_text(), str(config))
    mapper = compile_python(check(mapping, read_schemas(conn, mapping.sources)))
    expected, rejected = {}, 0
    for source in mapping.sources:
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {source}")
            names = [d[0] for d in cur.description]
            for row in cur.fetchall():
                for result in mapper.map_row(source, dict(zip(names, row, strict=True)), version=0):
                    if result.status == "item":
                        item = normalise(json.loads(result.item))
                        expected[(item["PK"]["S"], item["SK"]["S"])] = _without_ver(item)
                    elif result.status == "rejected":
                        rejected += 1
    conn.close()
    assert len(expected) > 300 and rejected > 0
    assert got.keys() == expected.keys()
    assert got == expected

    letters = FolderDeadLetter(dead).read()
    assert letters and all(p["reason"] == "null_key" and "birthday" in p["message"] for p in letters)
    assert all(p["sequence_number"] and p["partition_key"].startswith(f"{fresh_db}.customers|") for p in letters)
