"""The local stack as a user meets it: `local env` works for plain clients, up/down behave."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pymysql
import pytest

from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.local import stack
from mysql2dynamo.local.config import StackConfig
from mysql2dynamo.local.services import StackError
from tests.conftest import unique

CLI = str(Path(sys.executable).with_name("mysql2dynamo"))

PLAIN_CLIENTS = r"""
import os, boto3, pymysql
from urllib.parse import urlparse
u = urlparse(os.environ["M2D_MYSQL_URL"])
conn = pymysql.connect(host=u.hostname, port=u.port, user=u.username, password=u.password, charset="utf8mb4")
with conn.cursor() as cur:
    cur.execute("SELECT @@version, @@binlog_format")
    print("mysql", *cur.fetchone())
print("dynamodb", type(boto3.client("dynamodb").list_tables()["TableNames"]).__name__)
print("kinesis", type(boto3.client("kinesis").list_streams()["StreamNames"]).__name__)
s3 = boto3.client("s3")
bucket = os.environ["CHECK_BUCKET"]
s3.create_bucket(Bucket=bucket)
s3.put_object(Bucket=bucket, Key="hello.txt", Body=b"hi")
print("s3", s3.get_object(Bucket=bucket, Key="hello.txt")["Body"].read().decode())
print("emr", type(boto3.client("emr").list_clusters()["Clusters"]).__name__)
print("lambda", type(boto3.client("lambda").list_functions()["Functions"]).__name__)
"""


def test_env_lets_plain_boto3_and_pymysql_reach_every_service(local_stack, tmp_path):
    script = tmp_path / "clients.py"
    script.write_text(PLAIN_CLIENTS)
    # a shell with no AWS settings at all, as a new terminal would have
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "M2D_"))}
    clean["HOME"] = str(tmp_path)  # no ~/.aws either
    clean["CHECK_BUCKET"] = unique("env-check").replace("_", "-")
    run = subprocess.run(["bash", "-c", f'eval "$({CLI} local env)" && {sys.executable} {script}'],
                         env=clean, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    out = run.stdout.split("\n")
    assert out[0].startswith("mysql 10.11") and out[0].endswith("ROW")
    assert out[1:7] == ["dynamodb list", "kinesis list", "s3 hi", "emr list", "lambda list", ""]


def test_binlog_is_configured_for_row_capture(mysql_url):
    conn = connect(mysql_url)
    with conn.cursor() as cur:
        cur.execute("SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@binlog_row_metadata, "
                    "@@server_id, @@gtid_strict_mode, @@character_set_server, @@character_set_connection")
        assert cur.fetchone() == (1, "ROW", "FULL", "FULL", 1, 1, "utf8mb4", "utf8mb4")


def test_cdc_user_can_read_the_binlog_but_not_write(local_stack, fresh_db):
    conn = connect(local_stack.cdc_mysql_url)
    with conn.cursor() as cur:
        cur.execute("SHOW MASTER STATUS")
        file, position, *_ = cur.fetchone()
        assert file.startswith("binlog.") and position > 0
        cur.execute("FLUSH TABLES WITH READ LOCK")  # RELOAD: the snapshot's consistent point
        cur.execute("UNLOCK TABLES")
        with pytest.raises(pymysql.err.OperationalError, match="denied"):
            cur.execute(f"CREATE TABLE `{fresh_db}`.nope (id INT)")
    conn.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def second_stack(tmp_path_factory) -> StackConfig:
    home = tmp_path_factory.mktemp("stack2")
    cfg = StackConfig(home=home, mysql_port=_free_port(), dynamodb_port=_free_port(),
                      kinesis_port=_free_port(), moto_port=_free_port())
    yield cfg
    stack.down(cfg)


def test_up_is_idempotent_and_down_leaves_no_process(second_stack):
    cfg = second_stack
    stack.up(cfg)
    first = {s.name: s.pid for s in stack.status(cfg)}
    assert all(s.healthy for s in stack.status(cfg))
    messages: list[str] = []
    stack.up(cfg, messages.append)
    assert {s.name: s.pid for s in stack.status(cfg)} == first
    assert all("already running" in m for m in messages) and len(messages) == 4

    stack.down(cfg)
    assert not any(s.running for s in stack.status(cfg))
    for pid in first.values():
        assert not Path(f"/proc/{pid}").exists(), f"process {pid} still alive after down"
    for port in (cfg.mysql_port, cfg.dynamodb_port, cfg.kinesis_port, cfg.moto_port):
        assert not stack.port_in_use(cfg.host, port)


def test_a_taken_port_is_a_clear_error(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        cfg = StackConfig(home=tmp_path, mysql_port=port, dynamodb_port=_free_port(),
                          kinesis_port=_free_port(), moto_port=_free_port())
        with pytest.raises(StackError) as err:
            stack.up(cfg)
    assert f"port {port}" in str(err.value) and "M2D_MYSQL_PORT" in str(err.value)
    assert not any(s.running for s in stack.status(cfg))


def test_status_command_reports_every_service(local_stack):
    out = subprocess.run([CLI, "local", "status"], capture_output=True, text=True, check=True).stdout
    for name in ("mariadb", "dynalite", "kinesalite", "moto"):
        assert any(line.startswith(name) and "healthy" in line for line in out.splitlines()), out
