"""Capture as a service: the systemd unit's command line and environment (read from the unit file, the
Containerfile runs the same command) capture changes with the DynamoDB checkpoint, and SIGTERM stops
them cleanly: exit 0, everything on the stream, the checkpoint saved past it, the EMF metric lines valid."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from mysql2dynamo.cdc.checkpoint import DynamoCheckpointStore
from mysql2dynamo.ground.metrics import METRICS, NAMESPACE
from mysql2dynamo.ground.mysql import connect
from tests.conftest import all_changes, binlog_now, unique

SERVICE = Path(__file__).resolve().parent.parent / "cdc" / "service"
BIN = "/opt/mysql2dynamo/bin/mysql2dynamo"


def _unit(path: Path) -> tuple[list[str], dict[str, str], str]:
    """ExecStart (split as systemd does), the Environment= assignments, the EnvironmentFile."""
    argv, env, env_file = [], {}, ""
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "ExecStart":
            argv = shlex.split(value)
        elif key == "Environment":
            env.update(item.split("=", 1) for item in shlex.split(value))
        elif key == "EnvironmentFile":
            env_file = value
    return argv, env, env_file


def _entrypoint(path: Path) -> list[str]:
    line = next(x for x in path.read_text().splitlines() if x.startswith("ENTRYPOINT "))
    return json.loads(line.removeprefix("ENTRYPOINT "))


def _relocated(text: str, places: dict[str, Path]) -> str:
    """The unit's paths on this machine (what bind mounts and the package's install place do)."""
    for there, here in places.items():
        text = text.replace(there, str(here))
    return text


def test_the_unit_captures_with_the_dynamodb_checkpoint_and_stops_cleanly_on_sigterm(local_stack, fresh_db, kinesis,
                                                                                    stream_name, tmp_path):
    argv, unit_env, env_file = _unit(SERVICE / "mysql2dynamo-capture.service")
    assert _entrypoint(SERVICE / "Containerfile") == ["mysql2dynamo", *argv[1:]]  # one command line
    assert argv[0] == BIN
    places = {"/etc/mysql2dynamo/": tmp_path / "etc", "/var/lib/mysql2dynamo": tmp_path / "lib",
              "/var/log/mysql2dynamo": tmp_path / "log", BIN: Path(sys.executable).with_name("mysql2dynamo")}
    for folder in ("etc", "lib", "log"):
        (tmp_path / folder).mkdir()
    conn = connect(local_stack.mysql_url, fresh_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
    table = unique("progress")
    Path(_relocated("/etc/mysql2dynamo/mysql2dynamo.yaml", places)).write_text(f"""
tables:
  {fresh_db}.t: {{target: t, key: {{PK: "T#{{id}}"}}, rest: true}}
stream: {{stream: {stream_name}, checkpoint: "dynamodb://{table}/{stream_name}"}}
""")
    # the capture account's URL without its password, which comes from MYSQL_PWD (kept out of `ps`)
    user, _, rest = local_stack.cdc_mysql_url.removeprefix("mysql://").partition("@")
    name, _, password = user.partition(":")
    stack_env = {k: v for k, v in local_stack.env().items() if not k.startswith("M2D_")}
    Path(_relocated(env_file, places)).write_text("".join(f"{k}={v}\n" for k, v in {
        **stack_env, "M2D_CDC_MYSQL_URL": f"mysql://{name}@{rest}", "MYSQL_PWD": password}.items()))
    env = {"PATH": "/usr/bin:/bin", **{k: _relocated(v, places) for k, v in unit_env.items()},
           **dict(line.split("=", 1) for line in Path(_relocated(env_file, places)).read_text().splitlines())}
    command = [_relocated(a, places) for a in argv]

    first = subprocess.run([*command, "--from-now", "--stop-at-end"], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-2000:]  # the documented first start: stores where capture begins
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with conn.cursor() as cur:
        for i in range(20):
            cur.execute("INSERT INTO t VALUES (%s, %s)", (i, f"v{i}"))
    end = binlog_now(local_stack.mysql_url)
    conn.close()
    deadline = time.monotonic() + 120
    while len(all_changes(kinesis, stream_name)) < 20 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    assert "stopping (SIGTERM)" in err and f"{name}:{password}@" not in out + err
    assert sorted(c.after["id"] for c in all_changes(kinesis, stream_name)) == list(range(20))

    saved = DynamoCheckpointStore(local_stack.client("dynamodb"), table, stream_name).load()
    assert saved is not None and saved.position >= end
    lines = [json.loads(x) for x in (tmp_path / "log" / "capture-emf.log").read_text().splitlines()]
    assert lines, "no metric line"
    for line in lines:  # valid embedded metric format: every metric declared, with its value at the top level
        (directive,) = line["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE and directive["Dimensions"] == [["Stream"]]
        assert line["Stream"] == stream_name and isinstance(line["_aws"]["Timestamp"], int)
        for metric in directive["Metrics"]:
            assert metric["Unit"] == METRICS[metric["Name"]] and isinstance(line[metric["Name"]], (int, float))
    assert sum(line["CaptureRecords"] for line in lines) == json.loads(out)["records"]
    local_stack.client("dynamodb").delete_table(TableName=table)
