"""Property: any delivery order, with duplicates and any batch split, converges to the mapped final rows.

Histories of inserts, updates (also of the primary key, of a column used in the partition key,
and of the `where` column) and deletes over a few rows are generated, applied to the real local
DynamoDB (dynalite) in a shuffled order with repeats, the tombstones are cleaned up, and the
table must equal the keymap of the final rows (each item with the `ver` of its row's last change).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mysql2dynamo.cdc.envelope import Change, Source
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
def histories(draw) -> tuple[list[Change], dict[int, tuple[dict, int]]]:
    """Valid change sequences (as the binlog would carry them) and the final rows with their ver."""
    state: dict[int, tuple[dict, int]] = {}
    changes: list[Change] = []
    for step in range(draw(st.integers(1, 25))):
        pos = 1000 + step * 100
        source = Source("binlog.000001", pos, 0, None, 1, 0)
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
    return changes, state


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

    changes, final = data.draw(histories())
    for batch in data.draw(deliveries(len(changes))):
        outcome = engine.apply([(i, changes[i]) for i in batch])
        assert not outcome.failed_indexes, outcome.errors
    cleanup_tombstones(ddb, table)

    expected = {}
    for row, ver in final.values():
        for result in mapper.map_row(SOURCE, row, version=ver):
            if result.status == "item":
                expected[json.dumps({k: v for k, v in json.loads(result.key).items()})] = \
                    normalise(json.loads(result.item))
    assert scan_items(ddb, table) == expected
