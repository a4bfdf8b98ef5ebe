"""The cutover's check under the fence: exactly the keys changed since the live verify, O(changes).

Invariant: if the live verify (before the fence) matched every key at its snapshot position except
the keys it reported in flight, and this check finds every key touched in the binlog from that
position to the fence, plus those in-flight keys, equal in MySQL and DynamoDB, then DynamoDB equals
MySQL at the fence position. A key not touched since the snapshot is as the verify saw it on both
sides.

- keys: every primary key of a captured change (before and after images, so deletes and moved keys
  are covered) and the item key each image maps to (an item a moved or deleted row left behind);
- source side: the current rows, by primary-key lookups in MySQL, mapped with the Python engine
  (`keymap.compile_python`, as the replay maps them);
- target side: the items, by BatchGetItem (consistent reads); a tombstone counts as no item;
- both canonical (`jobs.canonical`), compared key by key: missing, extra, different, rejected.

Before the fence the binlog is read up to a position P1 (`collect`) and, once the replay has applied
everything up to P1, every key is compared (`settle`): a key found equal and not touched again is
proven at the fence too (MySQL has not changed it since P1 and DynamoDB has nothing of it left to
apply); only the keys that differed and those the binlog shows touched after P1 are compared under
the fence, so the fenced part costs the changes of the last moments, not those since the live verify.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from mysql2dynamo.cdc.binlog import BinlogSource, Transaction
from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.cdc.server import server_info
from mysql2dynamo.ground.dynamo_json import from_client_item, to_client_item
from mysql2dynamo.ground.mysql import MySQLTarget, connect
from mysql2dynamo.jobs.canonical import canonical_item, differing_attributes
from mysql2dynamo.keymap.checker import check
from mysql2dynamo.keymap.compile_python import compile_python
from mysql2dynamo.keymap.schema import read_schemas
from mysql2dynamo.keymap.spec import Mapping

DELETED, TTL = "_deleted", "_ttl"
READER_ID = 54398  # the binlog reader's server id (capture and verify use others)
LOOKUP_CHUNK = 500
BATCH_GET = 100  # keys per BatchGetItem, DynamoDB's limit


@dataclass
class FencedCheckReport:
    binlog_from: str | None = None
    binlog_to: str | None = None
    changes: int = 0
    source_keys: int = 0
    rows_read: int = 0
    item_keys: int = 0
    items_read: int = 0
    missing: int = 0
    extra: int = 0
    different: int = 0
    rejected: int = 0
    seconds: float = 0.0
    differences: list[dict] = field(default_factory=list)  # the first `examples`

    @property
    def clean(self) -> bool:
        return self.missing == self.extra == self.different == self.rejected == 0

    def as_dict(self) -> dict:
        return {**self.__dict__, "clean": self.clean}


def _key_text(values: dict) -> str:
    return json.dumps(values, sort_keys=True, default=str)


class FencedCheck:
    """The keys changed since `baseline` (the live verify's snapshot position), then their comparison."""

    def __init__(self, mysql_url: str, mapping: Mapping, dynamodb, baseline: BinlogPosition,
                 in_flight_keys: Iterable[dict] = (), examples: int = 10) -> None:
        self.url, self.mapping, self.dynamodb, self.examples = mysql_url, mapping, dynamodb, examples
        conn = connect(mysql_url)
        try:
            self.info = server_info(conn)
            self.schemas = read_schemas(conn, mapping.sources)
        finally:
            conn.close()
        self.mapper = compile_python(check(mapping, self.schemas))
        self.read_to = baseline
        self.report = FencedCheckReport(binlog_from=str(baseline))
        self.source_keys: dict[str, dict[str, dict]] = {s: {} for s in mapping.sources}  # source -> text -> pk
        self.item_keys: set[tuple[str, str]] = set()  # (target, canonical key) the images mapped to
        self.unequal: list[tuple[str, str | None, str | None, dict | None]] = []  # (target, key, source, pk)
        for k in in_flight_keys:
            self._source_key(k["table"], k["key"])

    def _source_key(self, source: str, key: dict) -> None:
        if source in self.source_keys:
            self.source_keys[source][_key_text(key)] = key

    def collect(self) -> BinlogPosition:
        """Read the binlog from where the last call stopped to its end; returns the end."""
        target = MySQLTarget.parse(self.url)
        source = BinlogSource(target, self.mapping.sources, self.read_to, self.info, reader_id=READER_ID,
                              blocking=False)
        try:
            for tx in source:
                if not isinstance(tx, Transaction):
                    continue
                for change in tx.changes:
                    self._touched(change)
                self.read_to = tx.end or self.read_to
        finally:
            source.close()
        self.report.binlog_to = str(self.read_to)
        return self.read_to

    def _touched(self, change) -> None:
        name = f"{change.db}.{change.table}"
        if name not in self.source_keys:
            return
        self.report.changes += 1
        pk = self.schemas[name].primary_key
        for image in (change.before, change.after):
            if image is None:
                continue
            self._source_key(name, {c: image[c] for c in pk})
            self.item_keys.update((r.target, canonical_item(json.loads(r.key)))
                                  for r in self.mapper.map_row(name, image) if r.status == "item")

    def settle(self) -> FencedCheckReport:
        """Compare what is collected (call it once the replay has applied everything up to `read_to`) and
        keep only the keys that differ; the next `collect` adds those touched since."""
        report = self.compare()
        self.source_keys = {s: {} for s in self.mapping.sources}
        self.item_keys = set()
        for target, key, source, pk in self.unequal:
            if key is not None:
                self.item_keys.add((target, key))
            if source is not None:
                self._source_key(source, pk)
        self.report = FencedCheckReport(binlog_from=str(self.read_to))
        return report

    def compare(self) -> FencedCheckReport:
        """MySQL's current rows against DynamoDB's items for every collected key."""
        started = time.monotonic()
        report = self.report
        self.unequal = []
        expected: dict[tuple[str, str], tuple[str, str, dict]] = {}  # item key -> (item, source, source key)
        conn = connect(self.url)
        try:
            for source, keys in self.source_keys.items():
                report.source_keys += len(keys)
                for row in self._rows(conn, source, list(keys.values())):
                    report.rows_read += 1
                    pk = {c: row[c] for c in self.schemas[source].primary_key}
                    for r in self.mapper.map_row(source, row):
                        if r.status == "item":
                            expected[(r.target, canonical_item(json.loads(r.key)))] = (
                                canonical_item(json.loads(r.item)), source, pk)
                        elif r.status == "rejected":
                            report.rejected += 1
                            self._difference("rejected", r.target, None, source, pk, reason=r.message)
        finally:
            conn.close()
        keys = sorted(self.item_keys | set(expected))
        report.item_keys = len(keys)
        actual = self._items(keys)
        for target, key in keys:
            want, have = expected.get((target, key)), actual.get((target, key))
            if want is None and have is not None:
                report.extra += 1
                self._difference("extra", target, key)
            elif want is not None and have is None:
                report.missing += 1
                self._difference("missing", target, key, want[1], want[2])
            elif want is not None and want[0] != have:
                report.different += 1
                self._difference("different", target, key, want[1], want[2],
                                 attributes=differing_attributes(want[0], have))
        report.seconds = round(time.monotonic() - started, 3)
        return report

    def _difference(self, kind: str, table: str, key: str | None, source: str | None = None,
                    source_key: dict | None = None, **more) -> None:
        self.unequal.append((table, key, source, source_key))
        if len(self.report.differences) < self.examples:
            self.report.differences.append({"kind": kind, "table": table, "key": json.loads(key) if key else None,
                                            "source": source, "source_key": source_key, **more})

    def _rows(self, conn, source: str, keys: list[dict]) -> list[dict]:
        db, table = source.split(".", 1)
        pk = self.schemas[source].primary_key
        cols = ", ".join(f"`{c}`" for c in pk)
        rows = []
        with conn.cursor() as cur:
            for i in range(0, len(keys), LOOKUP_CHUNK):
                chunk = keys[i:i + LOOKUP_CHUNK]
                tuples = ", ".join(["(" + ", ".join(["%s"] * len(pk)) + ")"] * len(chunk))
                cur.execute(f"SELECT * FROM `{db}`.`{table}` WHERE ({cols}) IN ({tuples})",
                            [k[c] for k in chunk for c in pk])
                names = [d[0] for d in cur.description]
                rows += [dict(zip(names, values, strict=True)) for values in cur.fetchall()]
        return rows

    def _items(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """Canonical items (tombstones left out) by (table, canonical key), with consistent reads."""
        drop = (self.mapping.version_attribute, DELETED, TTL)
        key_names = {t: [k["AttributeName"] for k in self.dynamodb.describe_table(TableName=t)["Table"]["KeySchema"]]
                     for t in {t for t, _ in keys}}
        found: dict[tuple[str, str], str] = {}
        for i in range(0, len(keys), BATCH_GET):
            request: dict = {}
            for table, key in keys[i:i + BATCH_GET]:
                request.setdefault(table, {"Keys": [], "ConsistentRead": True})["Keys"].append(to_client_item(key))
            while request:
                resp = self.dynamodb.batch_get_item(RequestItems=request)
                for table, items in resp["Responses"].items():
                    for raw in items:
                        item = from_client_item(raw)
                        self.report.items_read += 1
                        if DELETED not in item:
                            key = canonical_item({k: item[k] for k in key_names[table]})
                            found[(table, key)] = canonical_item(item, drop=drop)
                request = resp.get("UnprocessedKeys") or {}
                if request:
                    time.sleep(0.05)  # throttled: the rest again, a moment later
        return found
