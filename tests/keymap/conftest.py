"""keymap test helpers: run a mapping through BOTH engines and insist they agree."""

from __future__ import annotations

import pytest

from mysql2dynamo.keymap.checker import check
from mysql2dynamo.keymap.compile_python import compile_python
from mysql2dynamo.keymap.preview import preview_rows, preview_spark
from mysql2dynamo.keymap.schema import TableSchema
from mysql2dynamo.keymap.spec import mapping_from_dict
from mysql2dynamo.keymap.types import Column


@pytest.fixture
def engines(spark):
    """`run(columns, rule, rows, version=None) -> [Result]`, equal in the Python and Spark engines.

    `columns` are the source columns after an implicit `id BIGINT` primary key; rows get ids 1..n.
    """

    def run(columns: list[Column], rule: dict, rows: list[dict], version: int | None = None):
        schema = TableSchema("db", "t", (Column("id", "bigint", False), *columns), ("id",))
        rows = [{"id": i + 1, **r} for i, r in enumerate(rows)]
        checked = check(mapping_from_dict({"db.t": {"target": "t", "key": {"PK": "{id}"}, **rule}}),
                        {"db.t": schema})
        assert not checked.errors, checked.errors
        py = [r for _, r in preview_rows(compile_python(checked), "db.t", rows, version)]
        sp = [r for _, r in preview_spark(spark, checked, schema, rows, version)]
        assert py == sp
        return py

    return run
