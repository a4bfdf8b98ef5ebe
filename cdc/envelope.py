"""The change envelope: one per row change (Debezium's before/after/op/source).

Defined once here and used by the stream publisher, the replay and the tests. Fields (see
docs/change-envelope.md for the full table):

    v        envelope version (2; version 1, without `columns`, is still read)
    op       "insert" | "update" | "delete"
    db, table
    key      primary key columns -> values (after image; before image for deletes)
    before   row before the change (update, delete), else null
    after    row after the change (insert, update), else null
    types    column -> codec tag (cdc.codec), so values decode losslessly
    columns  [[name, type], ...]: the columns of the table version the row was read with, in table
             order, each type as the binlog's table map tells it (keymap.schema.binlog_type);
             replay compares them with its mapping's schema to follow an ALTER TABLE
    source   {file, pos (end of the rows event), row (index in the event), gtid, server_id, ts, epoch}, and
             `derived` on a change capture made itself (cdc/cascade.py: a child row a cascading foreign
             key changed, with no row event of its own): what caused it; its position is the cause's
    ver      total order of a migration's changes: BinlogPosition(file, pos, epoch=epoch).ver(row)

A Kinesis record holds one envelope or, aggregated by the publisher, several (`changes_in` reads both).
A record larger than Kinesis allows is stored whole in S3 and the stream carries a pointer: the
same change with its row images cut down to the key columns and `claim_check` set to the s3://
URL of the full envelope (replay fetches it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from mysql2dynamo.cdc.aggregate import user_records
from mysql2dynamo.cdc.codec import decode_row, row_encoder
from mysql2dynamo.cdc.position import ver_of

ENVELOPE_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1 has no `columns`: replay maps it with the mapping's schema
OPS = ("insert", "update", "delete")
MAX_PARTITION_KEY = 256  # Kinesis' limit, in Unicode characters
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


@dataclass(frozen=True)
class Source:
    file: str
    pos: int
    row: int
    gtid: str | None
    server_id: int
    ts: int  # commit time, seconds since the epoch
    epoch: int = 0  # the binlog numbering (cdc.position); omitted from the JSON when 0
    derived: str | None = None  # a change capture derived (a cascade): its cause, e.g. "cascade fk_x from db.t"

    @property  # the event's part is cached (cdc.position.ver_of); functools.cached_property locks, and costs more
    def ver(self) -> int:
        return ver_of(self.file, self.pos, self.epoch, self.row)


@dataclass(frozen=True)
class Change:
    op: str
    db: str
    table: str
    key_columns: tuple[str, ...]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    types: dict[str, str]
    source: Source
    columns: tuple[tuple[str, str], ...] | None = None  # (name, binlog type) of the table version; None: unknown
    claim_check: str | None = field(default=None, compare=False)

    @property
    def ver(self) -> int:
        return self.source.ver

    @property
    def key(self) -> dict[str, Any]:
        image = self.after if self.after is not None else self.before
        return {c: image[c] for c in self.key_columns}

    @property
    def partition_key(self) -> str:
        """db.table + primary key, so all changes of one row stay in order on one shard."""
        return partition_key(self.db, self.table, list(row_encoder(self.types)(self.key).values()))

    def to_json(self) -> dict[str, Any]:
        s = self.source
        encode = row_encoder(self.types)
        before, after = encode(self.before), encode(self.after)
        image = after if after is not None else before  # as `key`: its key columns, encoded once
        doc = {
            "v": ENVELOPE_VERSION, "op": self.op, "db": self.db, "table": self.table,
            "key": {c: image[c] for c in self.key_columns},
            "key_columns": self.key_columns,  # tuples are JSON arrays, as from_json reads them
            "before": before, "after": after,
            "types": self.types,
            "columns": self.columns,
            "source": {"file": s.file, "pos": s.pos, "row": s.row, "gtid": s.gtid,
                       "server_id": s.server_id, "ts": s.ts, **({"epoch": s.epoch} if s.epoch else {}),
                       **({"derived": s.derived} if s.derived else {})},
            "ver": str(self.ver),
        }
        if self.claim_check:
            doc["claim_check"] = self.claim_check
        return doc

    def to_bytes(self) -> bytes:
        return _JSON.encode(self.to_json()).encode()

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Change:
        if doc.get("v") not in READABLE_VERSIONS:
            raise ValueError(f"unsupported change envelope version {doc.get('v')!r}")
        types = doc["types"]
        s = doc["source"]
        columns = doc.get("columns")
        change = cls(
            op=doc["op"], db=doc["db"], table=doc["table"], key_columns=tuple(doc["key_columns"]),
            before=decode_row(types, doc["before"]), after=decode_row(types, doc["after"]),
            types=types,
            source=Source(s["file"], s["pos"], s["row"], s["gtid"], s["server_id"], s["ts"], s.get("epoch", 0),
                          s.get("derived")),
            columns=None if columns is None else tuple((name, type_) for name, type_ in columns),
            claim_check=doc.get("claim_check"),
        )
        if str(change.ver) != doc["ver"]:
            raise ValueError(f"ver {doc['ver']} does not match source position {s}")
        return change

    @classmethod
    def from_bytes(cls, data: bytes) -> Change:
        return cls.from_json(json.loads(data))

    def pointer(self, url: str) -> Change:
        """The small record that stands for this change when its payload is stored at `url`."""

        def keys_only(image: dict[str, Any] | None) -> dict[str, Any] | None:
            return None if image is None else {c: image[c] for c in self.key_columns}

        return Change(self.op, self.db, self.table, self.key_columns, keys_only(self.before),
                      keys_only(self.after), self.types, self.source, self.columns, claim_check=url)


def changes_in(data: bytes) -> list[Change]:
    """The changes one Kinesis record carries: itself, or an aggregate's (cdc/aggregate.py)."""
    return [Change.from_bytes(entry) for _, entry in user_records(data)]


def partition_key(db: str, table: str, key_values: list[Any]) -> str:
    """From the key's values as the envelope encodes them."""
    values = _JSON.encode(key_values)
    pk = f"{db}.{table}|{values}"
    if len(pk) > MAX_PARTITION_KEY:  # long composite keys: a stable digest keeps one row on one shard
        pk = f"{db}.{table}|md5:{hashlib.md5(values.encode()).hexdigest()}"
    return pk
