"""Property: any delivery order, with duplicates and any batch split, converges to the mapped final rows.

Histories of inserts, updates (also of the primary key, of a column used in the partition key,
and of the `where` column) and deletes over a few rows are generated over several binlog files
(FLUSH BINARY LOGS: the position starts again in the next file) and binlog numberings (RESET
MASTER and a new epoch: the file index starts again), applied to the real local DynamoDB
(dynalite) in a shuffled order with repeats and capture republishing a run of earlier changes, with
a re-load of a snapshot taken somewhere in the history arriving between two batches (the bulk
load's guarded writes, refused by the target's tombstone floor tag when the snapshot is at or below
it), and after every batch the tombstones cleaned up as `cleanup-tombstones` does: the floor raised
to the highest `ver` every change up to which has been applied (a redelivery of an older change may
still come), the replay reading it, the tombstones at or below it removed; all of them at the end.
The table must equal the keymap of the final rows (each item with the `ver` of its row's last
change, or the snapshot's when the row did not change after it and the re-load ran).
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
from mysql2dynamo.jobs.targets import TOMBSTONE_FLOOR_TAG, loads_below_floor, tag_tables
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


def floor_after(changes: list[Change], delivered: set[int]) -> int | None:
    """The floor `cleanup-tombstones` raises to: the highest ver every change at or below which has been
    applied at least once (changes are in binlog order); None: the first change has not come yet."""
    first_missing = next((i for i in range(len(changes)) if i not in delivered), len(changes))
    return changes[first_missing - 1].ver if first_missing else None


@st.composite
def deliveries(draw, n: int) -> list[list[int]]:
    """Every change at least once, some twice or more, shuffled, cut into batches; and maybe, after some
    batch, a run of earlier changes again in binlog order (capture republishing from an older checkpoint
    after a crash)."""
    order = list(range(n)) + draw(st.lists(st.integers(0, n - 1), max_size=n))
    order = draw(st.permutations(order))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(order) - 1)), max_size=4)))
    bounds = [0, *cuts, len(order)]
    batches = [order[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if a < b]
    if draw(st.booleans()):
        start = draw(st.integers(0, n - 1))
        batches.insert(draw(st.integers(1, len(batches))), list(range(start, draw(st.integers(start + 1, n)))))
    return batches


@pytest.mark.parametrize("writer", ["http", "boto3"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
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
    reloaded, delivered = False, set()
    for n, batch in enumerate([*batches, []]):
        if n == reload_at and not loads_below_floor(ddb, [table], snapshot_ver):
            # a re-load of the snapshot while the replay runs: its writes are guarded; one at or below the
            # floor is refused (`load`), as its deleted rows' tombstones may be gone
            reload.write((r.item, r.size) for row, _ in snapshot.values()
                         for r in mapper.map_row(SOURCE, row, version=snapshot_ver) if r.status == "item")
            reloaded = True
        outcome = engine.apply([(i, changes[i]) for i in batch])
        assert not outcome.failed_indexes, outcome.errors
        delivered.update(batch)
        floor = floor_after(changes, delivered)
        if floor is not None:  # as `cleanup-tombstones` does, between deliveries
            tag_tables(ddb, [table], TOMBSTONE_FLOOR_TAG, str(floor))
            engine.floor = floor  # what the replay reads before its next batch
            cleanup_tombstones(ddb, table, low_water=floor)
    cleanup_tombstones(ddb, table)

    expected = {}
    for row, ver in snapshots[-1][1].values():
        if reloaded and snapshot.get(row["id"]) == (row, ver):  # unchanged since the snapshot: the re-load's
            ver = snapshot_ver
        for result in mapper.map_row(SOURCE, row, version=ver):
            if result.status == "item":
                expected[json.dumps({k: v for k, v in json.loads(result.key).items()})] = \
                    normalise(json.loads(result.item))
    assert scan_items(ddb, table) == expected
