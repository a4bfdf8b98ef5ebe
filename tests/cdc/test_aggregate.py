"""Aggregated records: ours read by AWS's deaggregator and theirs by ours, and capture putting the changes of
one call for one shard into one record without moving any change off its own shard or out of its row's order."""

from __future__ import annotations

import base64
import bisect
import hashlib

import pytest
from aws_kinesis_agg.aggregator import RecordAggregator
from aws_kinesis_agg.deaggregator import deaggregate_records
from hypothesis import given
from hypothesis import strategies as st

from mysql2dynamo.cdc.aggregate import aggregate, count, user_records
from mysql2dynamo.cdc.checkpoint import FileCheckpointStore
from mysql2dynamo.cdc.stream import StreamSettings, run_stream
from mysql2dynamo.ground.mysql import connect
from tests.cdc.test_durability import FlakyKinesis, assert_complete_and_ordered, expected_changes
from tests.conftest import binlog_now, read_stream

entries = st.lists(st.tuples(st.text(min_size=1, max_size=256), st.binary(max_size=3000)), min_size=1, max_size=40)


def _lambda_record(data: bytes, partition_key: str) -> dict:
    return {"kinesis": {"data": base64.b64encode(data).decode(), "partitionKey": partition_key,
                        "sequenceNumber": "1", "kinesisSchemaVersion": "1.0", "approximateArrivalTimestamp": 0.0}}


@given(entries)
def test_an_aggregate_gives_back_its_entries_and_aws_reads_it_the_same(batch):
    data = aggregate(batch)
    assert user_records(data) == batch and count(data) == len(batch)
    theirs = deaggregate_records([_lambda_record(data, batch[0][0])])
    assert [(r["kinesis"]["partitionKey"], base64.b64decode(r["kinesis"]["data"])) for r in theirs] == batch


@given(entries)
def test_we_read_the_kpl_aggregator_s_records(batch):
    agg = RecordAggregator()
    for key, data in batch:
        agg.add_user_record(key, data)
    _, _, data = agg.clear_and_get().get_contents()
    assert user_records(data) == batch


def test_a_plain_record_is_itself_and_a_corrupt_aggregate_is_refused():
    assert user_records(b'{"v":2}', "db.t|[1]") == [("db.t|[1]", b'{"v":2}')] and count(b'{"v":2}') == 1
    data = bytearray(aggregate([("k", b"x"), ("k2", b"y")]))
    data[8] ^= 1
    with pytest.raises(ValueError, match="MD5 does not match"):
        user_records(bytes(data))


def test_capture_aggregates_per_shard_and_keeps_every_change_on_its_key_s_shard(local_stack, fresh_db, kinesis,
                                                                                 stream_name, tmp_path):
    start = binlog_now(local_stack.mysql_url)
    conn = connect(local_stack.mysql_url, fresh_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, n INT, note VARCHAR(50))")
        for i in range(300):
            cur.execute("INSERT INTO t VALUES (%s, 0, %s)", (i, f"row {i} ünïcødé"))
        for i in range(0, 300, 3):
            cur.execute("UPDATE t SET n = n + 1 WHERE id = %s", (i,))
        cur.execute("DELETE FROM t WHERE id < 20")
    conn.close()
    tables = [f"{fresh_db}.t"]
    flaky = FlakyKinesis(kinesis, seed=5, entry_failure=0.2, call_throttle=0.05)  # aggregates fail whole
    metrics = run_stream(StreamSettings(local_stack.cdc_mysql_url, tables, stream_name,
                                        FileCheckpointStore(tmp_path / "cp"), start=start, stop_at_end=True),
                         flaky, install_signals=False, say=lambda m: None)
    assert metrics.records == 300 + 100 + 20 and metrics.kinesis_records < metrics.records / 2
    assert flaky.failed_entries > 0

    on_stream = read_stream(kinesis, stream_name)
    assert_complete_and_ordered(expected_changes(local_stack, tables, start), on_stream, exact=True)
    shards = sorted((int(s["HashKeyRange"]["StartingHashKey"]), s["ShardId"])
                    for s in kinesis.list_shards(StreamName=stream_name)["Shards"])
    for shard, changes in on_stream.items():  # where Kinesis puts the change's own partition key
        for c in changes:
            hashed = int.from_bytes(hashlib.md5(c.partition_key.encode()).digest(), "big")
            assert shards[bisect.bisect_right([s for s, _ in shards], hashed) - 1][1] == shard
