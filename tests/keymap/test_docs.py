"""docs/keymap.md documents every function, every rejection reason and the example config checks."""

from __future__ import annotations

from pathlib import Path

from mysql2dynamo.keymap.functions import FUNCTIONS
from mysql2dynamo.keymap.item_rules import REASONS
from mysql2dynamo.keymap.spec import load_mapping

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "keymap.md").read_text()


def test_every_function_and_reason_is_documented():
    assert [f for f in FUNCTIONS if f"`{f}(" not in DOC] == []
    assert [r for r in REASONS if f"`{r}`" not in DOC] == []


def test_the_shop_example_loads():
    example = ROOT / "keymap" / "examples" / "shop.yaml"
    mapping = load_mapping(example.read_text(), str(example))
    assert mapping.sources == ["shop.customers", "shop.orders", "shop.order_items"]
    assert {r.target for r in mapping.rules} == {"shop"}
