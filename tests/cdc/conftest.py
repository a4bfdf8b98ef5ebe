"""Fixtures for the capture tests: a fresh Kinesis stream, and reading it back whole."""

from __future__ import annotations

import pytest

from cdc.envelope import Change
from cdc.server import BinlogPosition, current_position, server_info
from cdc.stream import ensure_stream
from mysql2dynamo.mysql import connect
from tests.conftest import unique


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
    conn = connect(url)
    try:
        return current_position(conn, server_info(conn))
    finally:
        conn.close()


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
            records.extend(Change.from_bytes(r["Data"]) for r in resp["Records"])
            if not resp["Records"]:
                break
            it = resp.get("NextShardIterator")
        out[shard["ShardId"]] = records
    return out


def all_changes(kinesis, stream: str) -> list[Change]:
    return [c for shard in read_stream(kinesis, stream).values() for c in shard]
