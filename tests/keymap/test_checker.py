"""Checker messages: errors that stop a mapping and warnings a data engineer should read."""

from __future__ import annotations

from mysql2dynamo.keymap.checker import check
from mysql2dynamo.keymap.schema import ForeignKey, TableSchema, column_from_information_schema, parse_members
from mysql2dynamo.keymap.spec import load_mapping
from mysql2dynamo.keymap.types import Column

ITEMS = TableSchema("shop", "order_items", (
    Column("order_id", "bigint", False), Column("line_no", "smallint", False, unsigned=True),
    Column("sku", "varchar", False, length=32), Column("note", "longtext", True),
    Column("price", "decimal", False, precision=12, scale=2), Column("huge", "decimal", True, precision=65, scale=0),
    Column("email", "varchar", True, length=255), Column("created_at", "datetime", False, fsp=3),
    Column("doc", "json", True),
), ("order_id", "line_no"), (ForeignKey("fk_o", ("order_id",), "shop.orders", "CASCADE", "RESTRICT"),))


def run(body: str):
    text = "tables:\n  shop.order_items:\n    target: shop\n" + body
    return check(load_mapping(text, "m.yaml"), {"shop.order_items": ITEMS})


def messages(result, level: str) -> list[str]:
    return [str(d) for d in result.diagnostics if d.level == level]


def test_unknown_column_suggests_the_closest_name():
    r = run('    key:\n      PK: "O#{ordr_id}"\n')
    assert messages(r, "error") == ["m.yaml:5:15: error: shop.order_items: unknown column 'ordr_id' in "
                                    "shop.order_items (did you mean 'order_id'?)"]


def test_function_arity_and_argument_types():
    r = run('    key:\n      PK: "{pad(order_id)}"\n      SK: "{fmt_time(sku, \'%Y\')}"\n'
            '    attributes:\n      a: "{lower(sku, 1)}"\n      b: "{sku + 1}"\n      c: "{frobnicate(sku)}"\n'
            '      d: "{pad(sku, line_no)}"\n      e: "{fmt_time(created_at, \'%Q\')}"\n')
    errors = "\n".join(messages(r, "error"))
    assert "pad() takes 2 to 3 argument(s), got 1" in errors
    assert "expected a DATE or DATETIME for fmt_time() argument 1, got string" in errors
    assert "lower() takes 1 argument(s), got 2" in errors
    assert "expected numbers for '+', got string and number(1,0)" in errors
    assert "unknown function frobnicate()" in errors
    assert "expected an integer literal for pad() argument 2" in errors
    assert "fmt_time supports %Y %m %d %H %M %S %f %y %j %%, got %Q" in errors


def test_key_types_and_wide_decimals():
    r = run('    key:\n      PK: "{doc}"\n    attributes:\n      h: huge\n      t: "H#{huge}"\n')
    errors = messages(r, "error")
    assert any("key attribute PK must be S, N or B, got M/L from json" in e for e in errors)
    assert any("attribute h is number(65,0): more than 38 digits" in e for e in errors)
    assert not any("attribute t " in e for e in errors)  # as text it is fine


def test_arithmetic_beyond_38_digits_is_an_error():
    r = run('    key:\n      PK: "{order_id}"\n    attributes:\n      x: "{price * price * price * price}"\n')
    assert any("can need 51 digits (> 38)" in e for e in messages(r, "error"))


def test_warnings_nullable_key_partial_primary_key_cascade_and_size():
    r = run('    key:\n      PK: "O#{order_id}"\n      SK: "{email}"\n    attributes:\n      n: note\n')
    warnings = "\n".join(messages(r, "warning"))
    assert "key attribute SK can be null (nullable column(s) email)" in warnings
    assert "the key does not contain primary key column(s) line_no: two rows can map to one item" in warnings
    assert "(order_id, line_no) = (1, 1) and (1, 2) both get key" in warnings
    assert "ON DELETE CASCADE" in warnings and "NOT in the binlog" in warnings
    assert "items can exceed DynamoDB's 400 KB limit: known attributes alone reach 42949" in warnings


def test_lossy_functions_on_the_primary_key_warn():
    r = run('    key:\n      PK: "{order_id}"\n      SK: "{hash_mod(line_no, 4)}"\n')
    assert any("through hash_mod()" in w for w in messages(r, "warning"))


def test_bare_words_coalesce_ttl_and_reserved_names():
    r = run('    key:\n      PK: "{order_id}#{line_no}"\n      SK: LINE\n    attributes:\n'
            '      e: "{coalesce(email, \'-\')}"\n    ttl: {attribute: expires, value: "{epoch_s(created_at)}"}\n')
    assert not messages(r, "error")
    checked = r.rules[0]
    assert [a.name for a in checked.attributes] == ["PK", "SK", "e", "expires"]
    assert not checked.attributes[2].type.nullable
    bad = run('    key:\n      PK: "{order_id}"\n    attributes:\n      _ver: sku\n      x: sku\n    ttl: x\n')
    errors = "\n".join(messages(bad, "error"))
    assert "ttl attribute x must be an integer number" in errors and "_ver is reserved" in errors


def test_information_schema_rows_become_columns():
    row = {"COLUMN_NAME": "tags", "DATA_TYPE": "set", "COLUMN_TYPE": "set('a','it''s','c')", "IS_NULLABLE": "YES",
           "CHARACTER_MAXIMUM_LENGTH": 10, "NUMERIC_PRECISION": None, "NUMERIC_SCALE": None,
           "DATETIME_PRECISION": None}
    assert column_from_information_schema(row).members == ("a", "it's", "c")
    assert parse_members("enum('x','y')") == ("x", "y")
    dt = column_from_information_schema({**row, "COLUMN_NAME": "t", "DATA_TYPE": "datetime",
                                         "COLUMN_TYPE": "datetime(3)", "DATETIME_PRECISION": 3, "IS_NULLABLE": "NO"})
    assert (dt.fsp, dt.nullable) == (3, False)
