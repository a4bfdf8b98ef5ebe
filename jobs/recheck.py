"""Keys changed after a verify's snapshot, checked against the rows MySQL holds now.

Invariant: a key verify calls "in flight" is never excused. Every source row changed after the
snapshot's binlog position (read from the binlog: before and after images, so moved keys and
deletes are covered) is read again by primary key, mapped with the Python engine (as replay maps
it), and compared canonically with the DynamoDB items of every key its images or its current row
map to. An item key no current row maps to must be absent (or a tombstone, when tombstones are
ignored). Replay may still be catching up, so a key that differs is read again a few times (about
3.5 s in all), reading the binlog on from where the last read stopped.

What still differs then is judged by versions, never excused. Each round notes the binlog head,
reads the binlog on past it, reads the current rows (so they hold every change up to the head),
reads the binlog on again, then reads the items with their version:

- a divergence (missing, extra or different, like any other key): the item holds the version of
  the latest change that maps to its key, that change is at or before the head the rows were read
  after, and the item still differs from the row;
- pending: the replay had not applied the latest change of the key yet (the item's version is
  older, or there is no item), or the key changed while the round read it (its latest change is
  after that head, or the item is newer than every change read). A pending key is not judged: it
  keeps a verify from being CLEAN, and cutover compares it under the fence (its row is among the
  in-flight rows the fenced check reads).

Limit: an item key that one changed row and one unchanged row both map to (a key collision the
mapping should not have) is judged by the changed rows only.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

from mysql2dynamo.cdc.binlog import BinlogSource, Transaction
from mysql2dynamo.cdc.codec import row_encoder
from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.cdc.server import ServerInfo, current_position, server_info
from mysql2dynamo.cdc.snapshot.lookup import rows_where
from mysql2dynamo.ground.dynamo_json import from_client_item, to_client_item
from mysql2dynamo.ground.mysql import MySQLTarget
from mysql2dynamo.jobs.canonical import DELETED, TTL, canonical_item, differing_attributes
from mysql2dynamo.keymap.compile_python import PythonMapper
from mysql2dynamo.keymap.schema import TableSchema

READER_ID = 54399  # the replica id verify's binlog reads register with
PAUSES = (0.5, 1.0, 2.0)  # seconds between the re-reads of keys that still differ


@dataclass
class ChangedRows:
    """Source rows changed after a position, and the item keys their images map to."""

    position: BinlogPosition  # read up to here
    rows: dict[tuple[str, str], dict] = field(default_factory=dict)  # (source, key JSON) -> row entry
    item_keys: set[tuple[str, str]] = field(default_factory=set)  # (target table, canonical key)
    latest: dict[tuple[str, str], int] = field(default_factory=dict)  # item key -> ver of its latest change
    info: ServerInfo | None = None  # the server's flavour and settings, read once

    def entries(self) -> list[dict]:
        """{"table", "key", "types"} per row, key values encoded as in the change envelope."""
        return [{"table": source, "key": entry["encoded"], "types": entry["types"]}
                for (source, _), entry in self.rows.items()]

    def read_on(self, target: MySQLTarget, mapper: PythonMapper) -> None:
        """Add the changes from `position` to the end of the binlog."""
        if self.info is None:
            conn = target.connect()
            try:
                self.info = server_info(conn)
            finally:
                conn.close()
        source = BinlogSource(target, mapper.sources, self.position, self.info, reader_id=READER_ID, blocking=False)
        try:
            for tx in source:
                if not isinstance(tx, Transaction):
                    continue
                for change in tx.changes:
                    name = f"{change.db}.{change.table}"
                    types = {c: change.types[c] for c in change.key_columns}
                    for image in (change.before, change.after):
                        if image is None:
                            continue
                        key = {c: image[c] for c in change.key_columns}
                        encoded = row_encoder(types)(key)
                        self.rows[(name, json.dumps(encoded, sort_keys=True))] = {
                            "key": key, "encoded": encoded, "types": types}
                        for item_key in mapped_keys(mapper, name, image):
                            self.item_keys.add(item_key)
                            self.latest[item_key] = max(change.ver, self.latest.get(item_key, 0))
                self.position = tx.end or self.position
        finally:
            source.close()


def mapped_keys(mapper: PythonMapper, source: str, row: dict) -> set[tuple[str, str]]:
    return {(r.target, canonical_item(json.loads(r.key))) for r in mapper.map_row(source, row) if r.key}


@dataclass(frozen=True)
class Finding:
    """A key that still differs after the re-reads: kind is missing, extra or different (a divergence), or
    pending (not judged: the replay had not applied its latest change, or it changed while read)."""

    kind: str
    table: str
    key: dict[str, Any]
    detail: dict[str, Any]


@dataclass
class Recheck:
    keys: set[tuple[str, str]]  # (target, canonical key) compared with the current rows
    reads: int  # rounds of reading MySQL and DynamoDB
    findings: list[Finding]  # divergences
    pending: list[Finding]
    rejected: dict[str, int]  # current rows the mapping rejects, by reason (no item is right for them)


def recheck(target: MySQLTarget, mapper: PythonMapper, schemas: dict[str, TableSchema], changed: ChangedRows,
            dynamodb, *, ignore_tombstones: bool = False, pauses: tuple[float, ...] = PAUSES) -> Recheck:
    """Compare every item key of `changed` (and of the current rows) with DynamoDB, re-reading a few times."""
    version = mapper.checked.mapping.version_attribute
    attempt = 0
    while True:
        attempt += 1
        head = _head_ver(target, changed)
        changed.read_on(target, mapper)  # every change at or before `head`: the rows read next hold them
        expected, rejected = current_items(target, mapper, schemas, changed)
        changed.read_on(target, mapper)  # and the changes that came while the rows were read (after `head`)
        keys = changed.item_keys | set(expected)
        items = get_items(dynamodb, keys, drop=(DELETED, TTL), version=version)
        found = compare(keys, expected, items, ignore_tombstones)
        findings, pending = [], []
        for f in found:
            if _pending(f, changed, items, head):
                pending.append(replace(f, kind="pending", detail={**f.detail, "was": f.kind}))
            else:
                findings.append(f)
        if not found or attempt > len(pauses):
            return Recheck(keys, attempt, findings, pending, rejected)
        time.sleep(pauses[attempt - 1])


def _head_ver(target: MySQLTarget, changed: ChangedRows) -> int:
    conn = target.connect()
    try:
        changed.info = changed.info or server_info(conn)
        return replace(current_position(conn, changed.info), epoch=changed.position.epoch).ver()
    finally:
        conn.close()


def _pending(f: Finding, changed: ChangedRows, items: dict, head: int) -> bool:
    """The key changed while the round read it, or the replay had not applied its latest change (module doc)."""
    key = (f.table, canonical_item(f.key))
    latest = changed.latest.get(key)
    if latest is None:
        return False
    _, _, ver = items.get(key, (None, False, None))
    return latest > head or ver is None or ver != latest


def current_items(target: MySQLTarget, mapper: PythonMapper, schemas: dict[str, TableSchema],
                  changed: ChangedRows) -> tuple[dict[tuple[str, str], tuple[str, str, dict]], dict[str, int]]:
    """(target, canonical key) -> (canonical item, source, source key) for the changed rows as they are now,
    and the number of those rows the mapping rejects, by reason."""
    by_source: dict[str, list[tuple]] = {}
    for (source, _), entry in changed.rows.items():
        by_source.setdefault(source, []).append(tuple(entry["key"].values()))
    version = mapper.checked.mapping.version_attribute
    out, rejected = {}, {}
    conn = target.connect()
    try:
        for source, keys in by_source.items():
            schema = schemas[source]
            for row in rows_where(conn, schema, schema.primary_key, keys):
                for r in mapper.map_row(source, row):
                    if r.status == "rejected":
                        rejected[r.reason or "rejected"] = rejected.get(r.reason or "rejected", 0) + 1
                    if r.status == "item":
                        source_key = json.loads(json.dumps({c: row[c] for c in schema.primary_key}, default=str))
                        out[(r.target, canonical_item(json.loads(r.key)))] = (
                            canonical_item(json.loads(r.item), drop=(version,)), source, source_key)
    finally:
        conn.close()
    return out, rejected


def get_items(dynamodb, keys: set[tuple[str, str]], drop: tuple[str, ...],
              version: str) -> dict[tuple[str, str], tuple[str, bool, int | None]]:
    """(target, canonical key) -> (canonical item without `drop` and `version`, is a tombstone, its version),
    by consistent BatchGetItem."""
    out = {}
    pending = [(t, json.loads(k)) for t, k in sorted(keys)]
    names = {t: list(k) for t, k in pending}  # every key of a table names the same attributes
    for start in range(0, len(pending), 100):
        request: dict[str, dict] = {}
        for table, key in pending[start:start + 100]:
            keys_of = request.setdefault(table, {"Keys": [], "ConsistentRead": True})["Keys"]
            keys_of.append(to_client_item(json.dumps(key)))
        while request:
            reply = dynamodb.batch_get_item(RequestItems=request)
            for table, raws in reply.get("Responses", {}).items():
                for raw in raws:
                    item = from_client_item(raw)
                    key = {k: item[k] for k in names[table]}
                    ver = item.get(version, {}).get("N")
                    out[(table, canonical_item(key))] = (canonical_item(item, drop=(*drop, version)), DELETED in item,
                                                         int(ver) if ver is not None else None)
            request = reply.get("UnprocessedKeys") or {}
            if request:
                time.sleep(0.05)
    return out


def compare(keys: set[tuple[str, str]], expected: dict, items: dict, ignore_tombstones: bool) -> list[Finding]:
    findings = []
    for table, key in sorted(keys):
        want = expected.get((table, key))
        have, tombstone, _ = items.get((table, key), (None, False, None))
        if want is not None:
            item, source, source_key = want
            detail = {"source": source, "source_key": source_key}
            if have is None or tombstone:
                findings.append(Finding("missing", table, json.loads(key), detail))
            elif have != item:
                findings.append(Finding("different", table, json.loads(key),
                                        {**detail, "attributes": differing_attributes(item, have)}))
        elif have is not None and not (tombstone and ignore_tombstones):
            findings.append(Finding("extra", table, json.loads(key), {"tombstone": tombstone}))
    return findings
