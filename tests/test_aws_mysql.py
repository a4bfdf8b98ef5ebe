"""MySQL connections on AWS terms: a password with URL characters connects and never shows, TLS options
reach pymysql and the binlog reader (and TLS asked for is never clear text), passwords and whole
connections from AWS Secrets Manager (moto) and from MYSQL_PWD."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import certifi
import pymysql
import pytest

from mysql2dynamo.ground.mysql import MySQLTarget, connect, redact
from tests.conftest import unique

CLI = str(Path(sys.executable).with_name("mysql2dynamo"))
PASSWORD = "p#a/s?s@w:rd"  # every character that breaks a naive URL parser
FRAGMENTS = ("p#a", "a/s", "s?s", "s@w", "w:rd", "#", "?s")


@pytest.fixture(scope="module")
def odd_user(local_stack) -> str:
    """A capture account whose password holds # / ? @ :"""
    user = unique("odd")
    conn = connect(local_stack.mysql_url)
    with conn.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (PASSWORD,))
        cur.execute(f"GRANT REPLICATION SLAVE, BINLOG MONITOR, RELOAD, LOCK TABLES, SELECT ON *.* TO '{user}'@'%'")
    yield user
    with conn.cursor() as cur:
        cur.execute(f"DROP USER '{user}'@'%'")
    conn.close()


def _current_user(target: MySQLTarget) -> str:
    conn = target.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT CURRENT_USER()")
        (who,) = cur.fetchone()
    conn.close()
    return who.split("@")[0]


def test_a_password_with_url_characters_connects_and_is_redacted_everywhere(local_stack, odd_user, tmp_path):
    host = f"127.0.0.1:{local_stack.mysql_port}"
    raw = f"mysql://{odd_user}:{PASSWORD}@{host}/"
    encoded = f"mysql://{odd_user}:p%23a%2Fs%3Fs%40w%3Ard@{host}/"
    for url in (raw, encoded):
        assert _current_user(MySQLTarget.parse(url)) == odd_user
        assert redact(url).startswith(f"mysql://{odd_user}:***@{host}/")
    assert _current_user(MySQLTarget.parse(MySQLTarget.parse(raw).url())) == odd_user  # what snapshot workers get

    wrong = f"mysql://{odd_user}:{PASSWORD}@127.0.0.1:1/"
    with pytest.raises(pymysql.err.OperationalError) as e:
        MySQLTarget.parse(wrong).connect()
    assert f"{odd_user}@127.0.0.1:1: Can't connect" in str(e.value)
    assert not [f for f in FRAGMENTS if f in str(e.value)]
    with pytest.raises(ValueError) as e:
        MySQLTarget.parse(f"postgres://{odd_user}:{PASSWORD}@{host}/")
    assert str(e.value).endswith(f"postgres://{odd_user}:***@{host}/")

    # the config's source.mysql_url, interpolated from the environment: the command's messages
    config = tmp_path / "c.yaml"
    config.write_text('source: {mysql_url: "${ODD_URL}"}\ntables:\n  shop.t: {target: t, key: {PK: "{id}"}}\n')
    for n, (url, says) in enumerate(((raw, f"from mysql://{odd_user}:***@{host}/"),
                                     (wrong, "127.0.0.1:1: Can't connect"))):
        out = subprocess.run([CLI, "snapshot", "--config", str(config), "--to", str(tmp_path / f"snap{n}"),
                              "--tables", "mysql.db"], capture_output=True, text=True,
                             env={**local_stack.env(), "PATH": "/usr/bin:/bin", "ODD_URL": url})
        assert says in out.stdout + out.stderr
        assert not [f for f in FRAGMENTS if f in out.stdout + out.stderr], out.stderr[-2000:]


def test_tls_options_reach_pymysql_and_the_binlog_reader_and_clear_text_is_refused(local_stack, odd_user):
    from mysql2dynamo.cdc.binlog import BinlogSource
    from mysql2dynamo.cdc.position import BinlogPosition

    url = (f"mysql://{odd_user}:{PASSWORD}@127.0.0.1:{local_stack.mysql_port}/?ssl_ca={certifi.where()}"
           "&ssl_verify_identity=true")
    target = MySQLTarget.parse(url)
    assert target.tls == {"ssl_ca": certifi.where(), "ssl_verify_identity": True}
    settings = target.connection_settings()
    assert (settings["ssl_ca"], settings["ssl_verify_identity"]) == (certifi.where(), True)
    assert MySQLTarget.parse(target.url()).tls == target.tls
    # the local MariaDB has no certificate: asked for TLS, the connection is refused, not made in clear
    refused = f"{odd_user}@127.0.0.1:{local_stack.mysql_port}: SSL is required but the server doesn't support it"
    with pytest.raises(pymysql.err.OperationalError, match=refused):
        target.connect()
    source = BinlogSource(target, ["mysql.db"], BinlogPosition("binlog.000001", 4), None, blocking=False)
    with pytest.raises(pymysql.err.OperationalError, match="SSL is required but the server doesn't support it"):
        next(iter(source))  # the binlog reader's own connection
    with pytest.raises(ValueError, match="ssl_verify_identity: expected true or false"):
        MySQLTarget.parse(url.replace("=true", "=maybe"))
    with pytest.raises(ValueError, match="auth=rds-iam needs region .* and ssl_ca"):
        MySQLTarget.parse(f"mysql://{odd_user}@h/?auth=rds-iam&region=us-east-1")


def test_passwords_and_connections_from_secrets_manager_and_mysql_pwd(local_stack, odd_user, monkeypatch):
    import boto3

    moto = local_stack.url(local_stack.moto_port)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto)
    secrets = boto3.client("secretsmanager", endpoint_url=moto)
    password, whole = unique("m2d/cdc-password"), unique("m2d/cdc")
    secrets.create_secret(Name=password, SecretString=PASSWORD)
    secrets.create_secret(Name=whole, SecretString=json.dumps({  # the shape RDS writes
        "engine": "mysql", "username": odd_user, "password": PASSWORD, "host": "127.0.0.1",
        "port": local_stack.mysql_port}))
    plain = f"mysql://{odd_user}@127.0.0.1:{local_stack.mysql_port}/"

    assert _current_user(MySQLTarget.parse(plain, env={"MYSQL_PWD": PASSWORD})) == odd_user
    assert _current_user(MySQLTarget.parse(plain, env={"MYSQL_PWD": f"secretsmanager://{password}"})) == odd_user
    target = MySQLTarget.parse(f"secretsmanager://{whole}")
    assert _current_user(target) == odd_user
    assert PASSWORD not in repr(target)
