"""Several change records in one Kinesis record, in the Kinesis Producer Library's aggregation format.

Invariant: `user_records(aggregate(entries)) == entries`, and a record that is not an aggregate reads
as itself alone, so a reader never needs to know which kind it got. The format is KPL's (magic
F3 89 9A C2, a protobuf `AggregatedRecord`, the MD5 of the protobuf), so the KCL, Firehose and the
aws-kinesis-agg libraries read our stream too; tests/cdc/test_aggregate.py checks it against
aws-kinesis-agg's own decoder.

Why: Kinesis charges and limits per record (1,000 records/s per shard, a PUT payload unit per
25 KB), and every record costs the service (kinesalite here, Kinesis on AWS) the same work whatever
its size. Changes are a few hundred bytes each, so one record per change spends the shards' record
budget long before their byte budget. The publisher (cdc/publisher.py) puts the changes of one
PutRecords call that go to the same shard into aggregates of up to MAX_AGGREGATE_BYTES.

    message AggregatedRecord { repeated string partition_key_table = 1;
                               repeated string explicit_hash_key_table = 2;
                               repeated Record records = 3; }
    message Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2;
                     required bytes data = 3; repeated Tag tags = 4; }
"""

from __future__ import annotations

import hashlib

MAGIC = b"\xf3\x89\x9a\xc2"
MAX_AGGREGATE_BYTES = 50 * 1024  # the KPL's default AggregationMaxSize: small enough for any consumer's batch
_DIGEST = 16


def _varint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    return bytes((tag,)) + _varint(len(payload)) + payload


def overhead(partition_key: str) -> int:
    """Bytes one entry adds to an aggregate beyond its data, at most (its key counted as if new)."""
    key = len(partition_key.encode())
    return 2 * 11 + key + 12  # two length-delimited headers of up to 11 bytes, the key, the entry's fields


def aggregate(entries: list[tuple[str, bytes]]) -> bytes:
    """One record holding `entries` (partition key, data), in order."""
    keys: dict[str, int] = {}
    message = bytearray()
    body = bytearray()
    for key, data in entries:
        index = keys.get(key)
        if index is None:
            index = keys[key] = len(keys)
            message += _field(0x0A, key.encode())
        head = b"\x08" + _varint(index) + b"\x1a" + _varint(len(data))
        body += b"\x1a" + _varint(len(head) + len(data)) + head
        body += data  # copied once
    message += body
    return MAGIC + bytes(message) + hashlib.md5(message).digest()


def _read_varint(buf: bytes, p: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[p]
        p += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, p
        shift += 7


def _fields(buf: bytes):
    """(field number, wire type, value) of a protobuf message; bytes for length-delimited fields."""
    p, end = 0, len(buf)
    while p < end:
        key, p = _read_varint(buf, p)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, p = _read_varint(buf, p)
        elif wire == 2:
            n, p = _read_varint(buf, p)
            value, p = buf[p:p + n], p + n
            if p > end:
                raise ValueError("aggregated record cut short")
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, p = buf[p:p + size], p + size
        else:
            raise ValueError(f"aggregated record: unsupported protobuf wire type {wire}")
        yield number, wire, value


def is_aggregate(data: bytes) -> bool:
    return data[:4] == MAGIC


def count(data: bytes) -> int:
    """How many changes a record carries (an aggregate's entries are counted, not decoded)."""
    if not is_aggregate(data):
        return 1
    return sum(1 for number, _, _ in _fields(data[4:-_DIGEST]) if number == 3)


def user_records(data: bytes, partition_key: str | None = None) -> list[tuple[str | None, bytes]]:
    """The (partition key, data) entries a Kinesis record carries: an aggregate's, or the record itself."""
    if not is_aggregate(data):
        return [(partition_key, data)]
    message, digest = data[4:-_DIGEST], data[-_DIGEST:]
    if len(data) < 4 + _DIGEST or hashlib.md5(message).digest() != digest:
        raise ValueError("aggregated record: its MD5 does not match (the record is corrupt)")
    keys: list[str] = []
    raw: list[tuple[int, bytes]] = []
    for number, wire, value in _fields(message):
        if number == 1 and wire == 2:
            keys.append(value.decode())
        elif number == 3 and wire == 2:
            index, entry = None, None
            for n, w, v in _fields(value):
                if n == 1 and w == 0:
                    index = v
                elif n == 3 and w == 2:
                    entry = v
            if index is None or entry is None:
                raise ValueError("aggregated record: an entry lacks its partition key index or data")
            raw.append((index, entry))
    try:
        return [(keys[index], entry) for index, entry in raw]
    except IndexError:
        raise ValueError("aggregated record: a partition key index is out of range") from None
