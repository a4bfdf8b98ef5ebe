"""`replay --until-caught-up` working off a backlog shows its progress on stderr: the records applied of
the backlog it found, with rate and ETA (plain lines: stderr is no terminal here); `--quiet` shows none."""

from __future__ import annotations

import json

from click.testing import CliRunner

from mysql2dynamo.cdc.checkpoint import FileCheckpointStore
from mysql2dynamo.cdc.stream import StreamSettings, run_stream
from mysql2dynamo.cli import main
from mysql2dynamo.ground.mysql import connect
from tests.conftest import binlog_now


def test_catch_up_shows_records_done_of_the_backlog(local_stack, fresh_db, kinesis, stream_name, dynamodb_table,
                                                    tmp_path, monkeypatch):
    monkeypatch.setenv("M2D_HOME", str(tmp_path / "home"))
    table = dynamodb_table()
    config = tmp_path / "m2d.yaml"
    config.write_text(f"""
version: 1
tables:
  {fresh_db}.t:
    target: {table}
    key: {{PK: "G#{{grp}}", SK: "T#{{id}}"}}
    rest: true
""")
    start = binlog_now(local_stack.mysql_url)
    settings = StreamSettings(local_stack.cdc_mysql_url, [f"{fresh_db}.t"], stream_name,
                              FileCheckpointStore(tmp_path / "cp.json"), start=start, stop_at_end=True)
    replay = ["replay", "--config", str(config), "--stream", stream_name, "--mysql-url", local_stack.mysql_url,
              "--until-caught-up", "--batch-size", "50"]

    def backlog(first: int, rows: int) -> None:
        conn = connect(local_stack.mysql_url, fresh_db)
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY, grp VARCHAR(10), val INT)")
            cur.executemany("INSERT INTO t VALUES (%s, %s, %s)", [(i, f"g{i % 5}", i) for i in range(first,
                                                                                                   first + rows)])
        conn.close()
        run_stream(settings, kinesis, install_signals=False, say=lambda m: None)

    backlog(0, 300)
    run = CliRunner().invoke(main, replay)
    assert run.exit_code == 0, run.output
    assert json.loads(run.stdout)["records"] == 300
    assert f"replay {stream_name} catch-up: ~300/300 records (100%)" in run.stderr, run.stderr

    backlog(300, 20)  # resumed from its checkpoint: the backlog is only what came since
    run = CliRunner().invoke(main, [*replay, "--quiet"])
    assert run.exit_code == 0, run.output
    assert json.loads(run.stdout)["records"] == 20 and run.stderr == ""
