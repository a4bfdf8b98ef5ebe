"""Property: any delivery order, with duplicates and any batch split, converges to the mapped final rows.

Histories of inserts, updates (also of the primary key, of a column used in the partition key,
and of the `where` column) and deletes over a few rows are generated over several binlog files
(FLUSH BINARY LOGS: the position starts again in the next file) and binlog numberings (RESET
MASTER and a new epoch: the file index starts again), applied to the real local DynamoDB
(dynalite) in a shuffled order with repeats, with a re-load of a snapshot taken somewhere in the
history arriving between two batches (the bulk load's guarded writes), the tombstones at or below
the low-water mark cleaned up after every batch (as `cleanup-tombstones`: below every write still to
come) and all of them at the end, and the table must equal the keymap of the final rows (each item
with the `ver` of its row's last change, or the snapshot's when the row did not change after it).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mysql2dynamo.cdc.envelope import Change, Source
from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.jobs.sinks.base import Guard
from mysql2dynamo.jobs.sinks.dynamodb import BatchWriter
from mysql2dynamo.keymap.checker import check
from mysql2dynamo.keymap.compile_python import compile_python
from mysql2dynamo.keymap.spec import mapping_from_dict
from mysql2dynamo.replay.apply import ApplyEngine
from mysql2dynamo.replay.tombstones import cleanup_tombstones
from mysql2dynamo.replay.writers import HttpPutter
from tests.replay.conftest import DB, SCHEMA, SOURCE, TABLE, TYPES, normalise, scan_items, tables_spec

IDS = (1, 2, 3, 4)
row_values = st.fixed_dictionaries({
    "grp": st.sampled_from(["a", "b", None]),
    "val": st.integers(-3, 3) | st.none(),
    "status": st.sampled_from(["ok", "ok", "hidden"]),
})


@st.composite
def histories(draw) -> tuple[list[Change], list[tuple[int, dict[int, tuple[dict, int]]]]]:
    """Valid change sequences (as the binlog would carry them) and, after each change, the snapshot a
    consistent read would take there: its ver and the rows with the ver of their last change."""
    state: dict[int, tuple[dict, int]] = {}
    changes: list[Change] = []
    snapshots = [(0, {})]
    epoch, file, pos = 0, 1, 1000
    for _step in range(draw(st.integers(1, 25))):
        turn = draw(st.sampled_from(["same"] * 6 + ["flush", "reset"]))
        epoch, file, pos = {"same": (epoch, file, pos + 100), "flush": (epoch, file + 1, 256),
                            "reset": (epoch + 1, 1, 256)}[turn]
        source = Source(f"binlog.{file:06d}", pos, 0, None, 1, 0, epoch)
        ver = source.ver
        present, absent = sorted(state), [i for i in IDS if i not in state]
        ops = (["insert"] if absent else []) + (["update", "delete"] if present else []) + \
            (["rekey"] if present and absent else [])
        op = draw(st.sampled_from(ops))
        if op == "insert":
            row = {"id": draw(st.sampled_from(absent)), **draw(row_values)}
            changes.append(Change("insert", DB, TABLE, ("id",), None, row, TYPES, source))
            state[row["id"]] = (row, ver)
        elif op == "update":
            old = state[draw(st.sampled_from(present))][0]
            row = {"id": old["id"], **draw(row_values)}
            changes.append(Change("update", DB, TABLE, ("id",), old, row, TYPES, source))
            state[row["id"]] = (row, ver)
        elif op == "rekey":
            old = state.pop(draw(st.sampled_from(present)))[0]
            row = {**old, "id": draw(st.sampled_from(absent))}
            changes.append(Change("update", DB, TABLE, ("id",), old, row, TYPES, source))
            state[row["id"]] = (row, ver)
        else:
            old = state.pop(draw(st.sampled_from(present)))[0]
            changes.append(Change("delete", DB, TABLE, ("id",), old, None, TYPES, source))
        snapshots.append((BinlogPosition(source.file, pos, epoch=epoch).ver(), dict(state)))
    return changes, snapshots


def low_water(changes: list[Change], coming: list[list[int]], reload_ver: int | None) -> int | None:
    """The low-water mark's promise: the highest ver no write still to come is at or below (no later batch
    nor duplicate holds an older change, a pending re-load is of a later snapshot); None: no such ver."""
    first = min((i for batch in coming for i in batch), default=len(changes))
    marks = [m for m in (changes[first - 1].ver if first else None, reload_ver) if m is not None]
    return min(marks) if first and marks else None


@st.composite
def deliveries(draw, n: int) -> list[list[int]]:
    """Every change at least once, some twice or more, shuffled, cut into batches."""
    order = list(range(n)) + draw(st.lists(st.integers(0, n - 1), max_size=n))
    order = draw(st.permutations(order))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(order) - 1)), max_size=4)))
    bounds = [0, *cuts, len(order)]
    return [order[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if a < b]


@pytest.mark.parametrize("writer", ["http", "boto3"])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_order_with_duplicates_converges(local_stack, dynamodb_table, writer, data):
    table = dynamodb_table()
    ddb = local_stack.client("dynamodb")
    mapper = compile_python(check(mapping_from_dict(tables_spec(table)), {SOURCE: SCHEMA}))
    engine = ApplyEngine(mapper, HttpPutter.from_client(ddb) if writer == "http" else ddb, workers=4)

    changes, snapshots = data.draw(histories())
    snapshot_ver, snapshot = data.draw(st.sampled_from(snapshots))
    batches = data.draw(deliveries(len(changes)))
    reload_at = data.draw(st.integers(0, len(batches)))
    reload = BatchWriter(ddb, table, threads=1, guard=Guard("PK", "_ver"))
    for n, batch in enumerate([*batches, []]):
        if n == reload_at:  # a re-load of the snapshot while the replay runs: its writes are guarded
            reload.write((r.item, r.size) for row, _ in snapshot.values()
                         for r in mapper.map_row(SOURCE, row, version=snapshot_ver) if r.status == "item")
        outcome = engine.apply([(i, changes[i]) for i in batch])
        assert not outcome.failed_indexes, outcome.errors
        mark = low_water(changes, batches[n + 1:], snapshot_ver if n < reload_at else None)
        if mark is not None:  # as `cleanup-tombstones` does, between deliveries
            cleanup_tombstones(ddb, table, low_water=mark)
    cleanup_tombstones(ddb, table)

    expected = {}
    for row, ver in snapshots[-1][1].values():
        if snapshot.get(row["id"]) == (row, ver):  # unchanged since the snapshot: the re-load's version
            ver = snapshot_ver
        for result in mapper.map_row(SOURCE, row, version=ver):
            if result.status == "item":
                expected[json.dumps({k: v for k, v in json.loads(result.key).items()})] = \
                    normalise(json.loads(result.item))
    assert scan_items(ddb, table) == expected
