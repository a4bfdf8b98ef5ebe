"""Shared fixtures: one local stack and one local Spark session per test run.

The stack is started once if it is not running. In CI (`CI` set) the run that started it stops it
at the end; on a developer's machine it stays up for the next run, and for other test runs that
may be using it at the same time (`mysql2dynamo local down` stops it). Every test gets its own
database / table / stream names, so tests never see each other's data.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase, ReadOnlyDatabase

from mysql2dynamo.cdc.envelope import Change, changes_in
from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.cdc.server import head_position, server_info
from mysql2dynamo.cdc.stream import ensure_stream
from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.jobs.targets import create_table
from mysql2dynamo.local import stack
from mysql2dynamo.local.config import StackConfig
from mysql2dynamo.sample.mappings import mapping_text  # noqa: F401 - the tests import it from here

# Property tests draw the same examples on every run (CI must not pass or fail by chance); a failure
# they find is a bug to fix. `M2D_HYPOTHESIS=random` draws new examples (a longer exploratory run) and
# saves each failing example in tests/hypothesis-examples, which is checked in; `M2D_HYPOTHESIS=replay`
# runs only those stored examples, reading the folder and never writing it (the same examples every
# time). Hypothesis refuses an example database together with derandomize, hence a profile of its own.
EXAMPLES = DirectoryBasedExampleDatabase(Path(__file__).parent / "hypothesis-examples")
settings.register_profile("fixed", derandomize=True, database=None, print_blob=True)
settings.register_profile("random", derandomize=False, database=EXAMPLES, print_blob=True)
settings.register_profile("replay", database=ReadOnlyDatabase(EXAMPLES), phases=(Phase.explicit, Phase.reuse),
                          print_blob=True)
settings.load_profile(os.environ.get("M2D_HYPOTHESIS", "fixed"))


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def _not_quiet_after():
    """`--quiet` is process state (ground.log): a test that runs the CLI in-process with it must not silence
    the tests after it."""
    from mysql2dynamo.ground.log import set_quiet

    yield
    set_quiet(False)


@pytest.fixture(scope="session")
def local_stack() -> StackConfig:
    cfg = StackConfig()
    already_up = all(s.healthy for s in stack.status(cfg))
    stack.up(cfg)
    saved = dict(os.environ)
    os.environ.update(cfg.env())  # plain boto3 clients and Spark's S3A now reach the stack
    yield cfg
    os.environ.clear()
    os.environ.update(saved)
    if not already_up and os.environ.get("CI"):
        stack.down(cfg)


@pytest.fixture(scope="session")
def demo_run(local_stack: StackConfig, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """One `mysql2dynamo demo` (what `make demo` runs) and its JSON report's path, for the tests of the
    demo, of its HTML report and of the cutover bench: the bench's smoke run is that demo (560 source rows,
    15 transactions/s), its output on stderr and the BENCH line last on stdout."""
    reports = tmp_path_factory.mktemp("demo")
    cmd = [sys.executable, "-m", "bench.cutover_bench", "--smoke", "--reports", str(reports)]
    proc = subprocess.Popen(cmd, cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=1200)
    except subprocess.TimeoutExpired:  # SIGTERM first: the demo lifts its fence and stops its processes
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        err += "\n(the demo did not end within 1200 s and was stopped)"
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), reports / "report-560.json"


@pytest.fixture(scope="session")
def mysql_url(local_stack: StackConfig) -> str:
    return local_stack.mysql_url


@pytest.fixture(scope="session")
def sample_db(mysql_url: str) -> str:
    """A database holding the sample shop with 200 customers (read-only for tests)."""
    from mysql2dynamo.sample.create import create_sample

    name = unique("sample")
    create_sample(mysql_url, name, customers=200, seed=7)
    yield name
    _drop_database(mysql_url, name)


@pytest.fixture
def typo_config(tmp_path, sample_db: str):
    """bad.yaml: a config whose key names `emial`, a column the sample's customers do not have (line 7, col 22)."""
    path = tmp_path / "bad.yaml"
    path.write_text(f"""source:
  mysql_url: "${{M2D_MYSQL_URL}}"
tables:
  {sample_db}.customers:
    target: shop
    key:
      PK: "CUSTOMER#{{emial}}"
""")
    return path


@pytest.fixture
def fresh_db(mysql_url: str) -> str:
    """An empty database of the test's own."""
    name = unique("t")
    conn = connect(mysql_url)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    conn.close()
    yield name
    _drop_database(mysql_url, name)


def _drop_database(url: str, name: str) -> None:
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn.close()


@pytest.fixture
def dynamodb_table(local_stack: StackConfig):
    """Factory: a new on-demand table with string PK (+ SK); deleted after the test."""
    ddb = local_stack.client("dynamodb")
    created: list[str] = []

    def make(pk: str = "PK", sk: str | None = "SK") -> str:
        name = unique("tbl")
        create_table(ddb, name, pk, sk)
        created.append(name)
        return name

    yield make
    for name in created:
        ddb.delete_table(TableName=name)


@pytest.fixture
def s3_bucket(local_stack: StackConfig) -> str:
    s3 = local_stack.client("s3")
    name = unique("bucket").replace("_", "-")
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def spark(local_stack: StackConfig):
    """local[2], UI off, 2 shuffle partitions, UTC, with the project's jars."""
    from mysql2dynamo.jobs.session import local_spark

    session = local_spark("mysql2dynamo-tests", "local[2]", **{"spark.sql.shuffle.partitions": "2"})
    yield session
    session.stop()

@pytest.fixture
def kinesis(local_stack):
    return local_stack.client("kinesis")


@pytest.fixture
def stream_name(kinesis) -> str:
    name = unique("changes")
    ensure_stream(kinesis, name, shards=2, retention_hours=24)
    yield name
    kinesis.delete_stream(StreamName=name)


def binlog_now(url: str) -> BinlogPosition:
    return head_position(url)


def read_binlog(local_stack: StackConfig, tables: list[str], start: BinlogPosition, **kw) -> list:
    """The Transactions capture reads from `start` to the end of the binlog (no Kinesis in between)."""
    from mysql2dynamo.cdc.binlog import BinlogSource, Transaction
    from mysql2dynamo.ground.mysql import MySQLTarget

    conn = connect(local_stack.mysql_url)
    info = server_info(conn)
    conn.close()
    source = BinlogSource(MySQLTarget.parse(local_stack.cdc_mysql_url), tables, start, info, blocking=False, **kw)
    try:
        return [tx for tx in source if isinstance(tx, Transaction)]
    finally:
        source.close()


def after_images(local_stack: StackConfig, tables: list[str], start: BinlogPosition) -> dict:
    """The last after-image of every row captured from `start`, by its `id` column."""
    return {c.after["id"]: c.after for tx in read_binlog(local_stack, tables, start) for c in tx.changes if c.after}


def read_stream(kinesis, stream: str) -> dict[str, list[Change]]:
    """Every record of the stream, decoded, per shard in stream order."""
    shards = kinesis.list_shards(StreamName=stream)["Shards"]
    out: dict[str, list[Change]] = {}
    for shard in shards:
        it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        records: list[Change] = []
        while it:
            resp = kinesis.get_records(ShardIterator=it, Limit=10000)
            records.extend(c for r in resp["Records"] for c in changes_in(r["Data"]))
            if not resp["Records"]:
                break
            it = resp.get("NextShardIterator")
        out[shard["ShardId"]] = records
    return out


def all_changes(kinesis, stream: str) -> list[Change]:
    return [c for shard in read_stream(kinesis, stream).values() for c in shard]


def wait_until_written(path: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Wait until `proc` (re)writes `path` (a checkpoint): it is working, whatever its start-up took under
    the machine's load; a kill test then kills it at a random point after that, not at a fixed time."""
    before = path.stat().st_mtime_ns if path.exists() else None
    deadline = time.monotonic() + timeout
    while (not path.exists() or path.stat().st_mtime_ns == before) and proc.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.05)

