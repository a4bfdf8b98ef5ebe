"""`verify --repair`: re-sync the item keys verify found missing, extra or different from MySQL's rows now.

Invariant: a repair never overwrites a newer version. Every write lands only where the item has no
version or an older one:

    PutItem ... ConditionExpression: attribute_not_exists(<_ver>) OR <_ver> < :ver

- missing or different key whose source row still maps to it: the row's item, with the `ver` of the
  binlog position read just before the row (the largest at that position, as a snapshot taken there
  has): the row is at least that new, and any later change has a larger `ver` and overwrites it when
  replay delivers it, so repair and replay converge on the same item;
- a key no current row maps to (an extra live item, a row deleted or moved since): a tombstone, as
  replay writes for a delete (invisible to readers that filter `_deleted`; removed by
  `cleanup-tombstones` or TTL), with the `ver` of the last position verify read the binlog to
  (`known`): verify knows no row mapped to the key there, and every later change is newer, so a row
  that moves onto the key afterwards is never hidden by the tombstone;
- an extra tombstone is left alone (already a delete marker).

Source rows are found by the primary key verify reported for the key (`source_key`); a key verify
found only on the DynamoDB side has no source row and is tombstoned.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.cdc.server import current_position, server_info
from mysql2dynamo.cdc.snapshot.lookup import rows_where
from mysql2dynamo.ground.dynamo_json import to_client_item
from mysql2dynamo.ground.mysql import MySQLTarget
from mysql2dynamo.jobs.canonical import DELETED, TTL, canonical_item
from mysql2dynamo.keymap.compile_python import PythonMapper
from mysql2dynamo.keymap.schema import TableSchema

TOMBSTONE_TTL_SECONDS = 7 * 86400  # as replay's default


@dataclass(frozen=True)
class Divergence:
    """One item key verify found wrong; `source`/`source_key` name the row that should map to it."""

    kind: str  # missing | extra | different
    table: str
    key: dict  # DynamoDB JSON of the key attributes
    source: str | None = None
    source_key: dict | None = None  # primary key column -> JSON value
    tombstone: bool = False


@dataclass
class RepairReport:
    position: str = ""  # the binlog position the rows were read at; the puts carry its `ver`
    ver: int = 0
    tombstone_ver: int = 0  # the `ver` of verify's last binlog position read
    puts: int = 0  # items written from the current row
    tombstones: int = 0  # keys no current row maps to, marked deleted
    newer: int = 0  # left alone: the item already had a newer version (replay got there first)
    left: int = 0  # extra tombstones left as they are
    keys: list[dict] = field(default_factory=list)  # the first few keys and what was done


def repair(target: MySQLTarget, mapper: PythonMapper, schemas: dict[str, TableSchema],
           divergences: Iterable[Divergence], dynamodb, known: BinlogPosition, examples: int = 10) -> RepairReport:
    version = mapper.checked.mapping.version_attribute
    todo = list(divergences)
    conn = target.connect()
    try:
        position = current_position(conn, server_info(conn))  # before the rows: they are at least this new
        ver = position.ver()
        items = _current_items(conn, mapper, schemas, todo, ver)
    finally:
        conn.close()
    report = RepairReport(str(position), ver, known.ver())
    for d in todo:
        slot = (d.table, canonical_item(d.key))
        if slot not in items and d.tombstone:
            report.left += 1
            action = "left (a tombstone)"
        else:
            item = items.get(slot) or {**d.key, version: {"N": str(report.tombstone_ver)}, DELETED: {"BOOL": True},
                                       TTL: {"N": str(int(time.time()) + TOMBSTONE_TTL_SECONDS)}}
            action = "put" if slot in items else "tombstone"
            if _guarded_put(dynamodb, d.table, item, version, ver if slot in items else report.tombstone_ver):
                setattr(report, action + "s", getattr(report, action + "s") + 1)
            else:
                report.newer += 1
                action = "newer version kept"
        if len(report.keys) < examples:
            report.keys.append({"table": d.table, "key": d.key, "was": d.kind, "action": action})
    return report


def _current_items(conn, mapper: PythonMapper, schemas: dict[str, TableSchema], todo: list[Divergence],
                   ver: int) -> dict[tuple[str, str], dict]:
    """(target, canonical key) -> item (DynamoDB JSON, `_ver` = ver) of the source rows the divergences name."""
    wanted: dict[str, list[tuple]] = {}
    for d in todo:
        if d.source and d.source_key is not None:
            wanted.setdefault(d.source, []).append(tuple(d.source_key[c] for c in schemas[d.source].primary_key))
    out = {}
    for source, keys in wanted.items():
        schema = schemas[source]
        for row in rows_where(conn, schema, schema.primary_key, keys):
            for r in mapper.map_row(source, row, version=ver):
                if r.status == "item":
                    out[(r.target, canonical_item(json.loads(r.key)))] = json.loads(r.item)
    return out


def _guarded_put(dynamodb, table: str, item: dict, version: str, ver: int) -> bool:
    """Write unless the item holds `ver` or newer; False when it does."""
    try:
        dynamodb.put_item(TableName=table, Item=to_client_item(json.dumps(item)),
                          ConditionExpression="attribute_not_exists(#v) OR #v < :v",
                          ExpressionAttributeNames={"#v": version}, ExpressionAttributeValues={":v": {"N": str(ver)}})
        return True
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
