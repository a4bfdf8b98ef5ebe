"""Parser and YAML loader: what parses into what, and errors that point at file:line:col."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mysql2dynamo.keymap.ast import BinOp, Call, Col, In, IsNull, KeymapError, Lit, Location, Not, Template
from mysql2dynamo.keymap.parser import parse_expression, parse_template, parse_value
from mysql2dynamo.keymap.spec import load_mapping, mapping_from_dict


def test_precedence_and_literals():
    src = "a + 2 * b >= 10.5 and not c is null or d in ('x', 'y''z')"
    at = src.index
    e = parse_expression(src)
    assert isinstance(e, BinOp) and e.op == "or"
    left = e.left
    assert left.op == "and" and left.left.op == ">="
    assert left.left.left == BinOp("+", Col("a", 0), BinOp("*", Lit(2, at("2")), Col("b", at("b")), at("*")), 2)
    assert left.left.right == Lit(Decimal("10.5"), at("10.5"))
    assert left.right == Not(IsNull(Col("c", at("c")), False, at("is")), at("not"))
    assert e.right == In(Col("d", at("d in")), (Lit("x", at("'x'")), Lit("y'z", at("'y"))), False, at("in"))


def test_function_calls_keywords_and_quoted_names():
    e = parse_expression("IF(`order id` != -3, coalesce(x, null), TRUE)")
    assert e == Call("if", (BinOp("!=", Col("order id", 3), Lit(-3, 17), 14),
                            Call("coalesce", (Col("x", 30), Lit(None, 33)), 21), Lit(True, 40)), 0)
    assert parse_expression("x not in (1)") == In(Col("x", 0), (Lit(1, 10),), True, 2)


def test_templates_and_value_forms():
    assert parse_template("A#{id}#{{x}}") == Template(("A#", Col("id", 3), "#{x}"), 0)
    assert parse_value("{lower(email)}") == Call("lower", (Col("email", 7),), 1)
    assert parse_value("'Customer'") == Lit("Customer", 0)
    assert parse_value("name") == Col("name", 0)
    assert parse_value(5) == Lit(5) and parse_value(True) == Lit(True)
    assert parse_value("A-B") == Template(("A-B",), 0)


@pytest.mark.parametrize("src, col, message", [
    ("pad(id, 10", 10, "expected ',' or ')', got end of expression"),
    ("a +", 3, "expected a column, literal, function call or '(', got end of expression"),
    ("a b", 2, "expected an operator or end of expression, got 'b'"),
    ("x is 3", 5, "expected 'null' after 'is', got '3'"),
    ("'abc", 0, "expected an expression, got unterminated string"),
    ("a ; b", 2, "expected an expression, got unexpected character ';'"),
])
def test_expression_errors_point_at_the_offending_token(src, col, message):
    with pytest.raises(KeymapError) as e:
        parse_expression(src, Location("m.yaml", 4, 10))
    assert str(e.value) == f"m.yaml:4:{10 + col}: {message}"


def test_template_errors():
    with pytest.raises(KeymapError, match=r"m.yaml:1:3: expected '}' closing"):
        parse_template("A#{id", Location("m.yaml", 1, 1))
    with pytest.raises(KeymapError, match=r"m.yaml:1:2: expected text or '\{', got a lone '}'"):
        parse_template("A}", Location("m.yaml", 1, 1))


def test_yaml_positions_of_errors_inside_strings():
    text = 'tables:\n  shop.orders:\n    target: shop\n    key:\n      PK: "ORDER#{pad(id, 10}"\n'
    with pytest.raises(KeymapError) as e:
        load_mapping(text, "shop.yaml")
    assert str(e.value) == "shop.yaml:5:29: expected ',' or ')', got end of expression"


def test_rule_shape_errors_and_suggestions():
    suggestion = r"x.yaml:5:5: expected one of .* got 'atributes' \(did you mean 'attributes'\?\)"
    with pytest.raises(KeymapError, match=suggestion):
        load_mapping("tables:\n  a.b:\n    target: t\n    key: {PK: id}\n    atributes: {}\n", "x.yaml")
    with pytest.raises(KeymapError, match="expected 'key:'"):
        load_mapping("tables:\n  a.b:\n    target: t\n", "x.yaml")
    with pytest.raises(KeymapError, match="expected a source table as db.table"):
        load_mapping("tables:\n  ab:\n    target: t\n    key: {PK: id}\n", "x.yaml")
    with pytest.raises(KeymapError, match="at most one sort key"):
        load_mapping("tables:\n  a.b:\n    target: t\n    key: {A: x, B: y, C: z}\n", "x.yaml")
    with pytest.raises(KeymapError, match="expected nulls: omit or null"):
        load_mapping("tables:\n  a.b:\n    target: t\n    key: {PK: id}\n    nulls: keep\n", "x.yaml")


def test_several_rules_per_table_and_python_construction():
    m = mapping_from_dict({"db.t": [{"target": "x", "key": {"PK": "{id}"}},
                                    {"name": "edge", "target": "x", "key": {"PK": "E#{id}"},
                                     "ttl": {"attribute": "expires", "value": "{epoch_s(d)}"}}]},
                          version_attribute="v")
    assert [r.name for r in m.rules] == ["db.t#1", "db.t#edge"]
    assert m.rules[1].ttl == "expires" and "expires" in m.rules[1].attributes
    assert m.version_attribute == "v" and m.sources == ["db.t"]
