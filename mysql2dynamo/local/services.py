"""The four servers of the local stack: how each is prepared, started and health-checked."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pymysql

from mysql2dynamo.ground.log import say
from mysql2dynamo.ground.paths import node_modules
from mysql2dynamo.local.config import (
    APP_PASSWORD,
    APP_USER,
    CDC_PASSWORD,
    CDC_USER,
    MOTO_SERVICES,
    SHOP_PASSWORD,
    SHOP_USER,
    StackConfig,
)


class StackError(RuntimeError):
    """A local server could not be installed, started or reached; the message says what to do."""


@dataclass(frozen=True)
class Service:
    """A local server: its port, its command line, and what must hold before it counts as up."""

    name: str
    stands_in_for: str
    port_env: str  # the variable that moves this server to another port
    port: Callable[[StackConfig], int]
    command: Callable[[StackConfig], list[str]]
    healthy: Callable[[StackConfig], None]  # raises while the server is not ready
    prepare: Callable[[StackConfig], None] = lambda cfg: None
    after_start: Callable[[StackConfig], None] = lambda cfg: None

    def data_dir(self, cfg: StackConfig) -> Path:
        return cfg.home / self.name


# ---------------------------------------------------------------- MariaDB


MARIADB_PACKAGES = ("mariadb-server-core", "mariadb-client")


def _mariadb_binary(name: str) -> str:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and Path(candidate).exists():
            return candidate
    raise StackError(f"{name} not found")


def ensure_mariadb_installed() -> None:
    """Install Debian's MariaDB 10.11 server core and client when they are missing (root only)."""
    try:
        _mariadb_binary("mariadbd")
        _mariadb_binary("mariadb-install-db")
        return
    except StackError:
        pass
    if not shutil.which("apt-get"):
        raise StackError("MariaDB is not installed and apt-get is not available: install "
                         f"{' '.join(MARIADB_PACKAGES)} (MariaDB 10.11) and retry")
    if os.geteuid() != 0:
        raise StackError("MariaDB is not installed; run as root or: sudo apt-get install -y "
                         + " ".join(MARIADB_PACKAGES))
    say(f"installing MariaDB from Debian: {' '.join(MARIADB_PACKAGES)}")
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *MARIADB_PACKAGES], check=True, env=env)


def _mariadb_socket(cfg: StackConfig) -> Path:
    return cfg.home / "mariadb" / "mariadbd.sock"


def _mariadb_prepare(cfg: StackConfig) -> None:
    ensure_mariadb_installed()
    datadir = cfg.home / "mariadb" / "data"
    if (datadir / "mysql").is_dir():
        return
    datadir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [_mariadb_binary("mariadb-install-db"), "--no-defaults", f"--datadir={datadir}",
         f"--user={getpass.getuser()}", "--auth-root-authentication-method=socket",
         "--skip-test-db"],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise StackError(f"mariadb-install-db failed:\n{result.stdout}{result.stderr}")


def _mariadb_command(cfg: StackConfig) -> list[str]:
    base = cfg.home / "mariadb"
    return [
        _mariadb_binary("mariadbd"), "--no-defaults",
        f"--datadir={base / 'data'}", f"--socket={_mariadb_socket(cfg)}",
        f"--pid-file={base / 'mariadbd.pid'}", f"--log-error={base / 'error.log'}",
        f"--port={cfg.mysql_port}", f"--bind-address={cfg.host}", f"--user={getpass.getuser()}",
        "--skip-name-resolve",
        # the binlog the capture phase reads: row events with full images and column metadata
        "--server-id=1", f"--log-bin={base / 'data' / 'binlog'}", "--binlog-format=ROW",
        "--binlog-row-image=FULL", "--binlog-row-metadata=FULL", "--gtid-strict-mode=1",
        "--log-slave-updates=1", "--max-binlog-size=64M",
        # utf8mb4 everywhere, UTC so TIMESTAMP values read back as written
        "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
        "--default-time-zone=+00:00",
        # small and quick for one machine
        "--innodb-buffer-pool-size=256M", "--innodb-log-file-size=64M",
        "--innodb-flush-log-at-trx-commit=2", "--sync-binlog=0",
        "--max-connections=200", "--max-allowed-packet=64M",
    ]


def _mariadb_healthy(cfg: StackConfig) -> None:
    conn = pymysql.connect(unix_socket=str(_mariadb_socket(cfg)), user="root", connect_timeout=2)
    conn.close()


def _mariadb_users(cfg: StackConfig) -> None:
    """The administrator, the sample application's and the least-privilege CDC account (idempotent)."""
    statements = [
        f"CREATE USER IF NOT EXISTS '{APP_USER}'@'%' IDENTIFIED BY '{APP_PASSWORD}'",
        f"GRANT ALL PRIVILEGES ON *.* TO '{APP_USER}'@'%' WITH GRANT OPTION",
        f"CREATE USER IF NOT EXISTS '{SHOP_USER}'@'%' IDENTIFIED BY '{SHOP_PASSWORD}'",
        f"GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, REFERENCES, LOCK TABLES, "
        f"CREATE TEMPORARY TABLES ON *.* TO '{SHOP_USER}'@'%'",
        f"CREATE USER IF NOT EXISTS '{CDC_USER}'@'%' IDENTIFIED BY '{CDC_PASSWORD}'",
        # BINLOG MONITOR is MariaDB's name for MySQL's REPLICATION CLIENT
        f"GRANT REPLICATION SLAVE, BINLOG MONITOR, RELOAD, LOCK TABLES, SELECT ON *.* TO '{CDC_USER}'@'%'",
    ]
    conn = pymysql.connect(unix_socket=str(_mariadb_socket(cfg)), user="root", charset="utf8mb4")
    try:
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
    finally:
        conn.close()


# ---------------------------------------------------------------- dynalite, kinesalite, moto


def _node_package(name: str) -> Path:
    path = node_modules() / name
    if not path.is_dir():
        raise StackError(f"{name} is not installed: run `npm ci` in {node_modules().parent} (make setup does)")
    return path


def _node_server(name: str, host: str, port: int, options: dict) -> list[str]:
    _node_package(name)
    launcher = Path(__file__).with_name("node_server.js")
    return ["node", str(launcher), str(node_modules()), name, host, str(port), json.dumps(options)]


def _dynalite_command(cfg: StackConfig) -> list[str]:
    return _node_server("dynalite", cfg.host, cfg.dynamodb_port, {
        "path": str(cfg.home / "dynalite"), "createTableMs": 0, "deleteTableMs": 0, "updateTableMs": 0})


def _kinesalite_command(cfg: StackConfig) -> list[str]:
    return _node_server("kinesalite", cfg.host, cfg.kinesis_port, {
        "path": str(cfg.home / "kinesalite"), "createStreamMs": 0, "deleteStreamMs": 0, "updateStreamMs": 0,
        "shardLimit": 100})


def _moto_command(cfg: StackConfig) -> list[str]:
    moto_server = Path(sys.executable).with_name("moto_server")
    return [str(moto_server), "-H", cfg.host, "-p", str(cfg.moto_port)]


def _make_dirs(*names: str) -> Callable[[StackConfig], None]:
    def prepare(cfg: StackConfig) -> None:
        for name in names:
            (cfg.home / name).mkdir(parents=True, exist_ok=True)

    return prepare


SERVICES: tuple[Service, ...] = (
    Service(
        name="mariadb", port_env="M2D_MYSQL_PORT", stands_in_for="MySQL", port=lambda c: c.mysql_port,
        command=_mariadb_command, healthy=_mariadb_healthy, prepare=_mariadb_prepare,
        after_start=_mariadb_users,
    ),
    Service(
        name="dynalite", port_env="M2D_DYNAMODB_PORT", stands_in_for="DynamoDB", port=lambda c: c.dynamodb_port,
        command=_dynalite_command, prepare=_make_dirs("dynalite"),
        healthy=lambda c: c.client("dynamodb").list_tables(),
    ),
    Service(
        name="kinesalite", port_env="M2D_KINESIS_PORT", stands_in_for="Kinesis", port=lambda c: c.kinesis_port,
        command=_kinesalite_command, prepare=_make_dirs("kinesalite"),
        healthy=lambda c: c.client("kinesis").list_streams(),
    ),
    Service(
        name="moto", port_env="M2D_MOTO_PORT", stands_in_for=", ".join(MOTO_SERVICES.values()),
        port=lambda c: c.moto_port,
        command=_moto_command,
        healthy=lambda c: c.client("s3").list_buckets(),
    ),
)
