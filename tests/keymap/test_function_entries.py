"""A function is one entry with all its facts: a missing or malformed fact fails at import time."""

from __future__ import annotations

import dataclasses

import pytest

from mysql2dynamo.keymap.function_entry import Function, FunctionEntryError, Nulls, registry
from mysql2dynamo.keymap.functions import FUNCTIONS

LOWER = FUNCTIONS["lower"]
FACTS = {f.name: getattr(LOWER, f.name) for f in dataclasses.fields(Function)}
REQUIRED = [f.name for f in dataclasses.fields(Function) if f.default is dataclasses.MISSING]


@pytest.mark.parametrize("fact", REQUIRED)
def test_an_entry_without_a_fact_is_an_error(fact):
    facts = {k: v for k, v in FACTS.items() if k != fact}
    with pytest.raises(TypeError, match=fact):
        Function(**facts)


@pytest.mark.parametrize("fact, value, message", [
    ("injective", None, "injective must be True or False"),
    ("nulls", "any", "nulls must be a Nulls member"),
    ("size", 32, "size must be callable"),
    ("spark", None, "spark must be callable"),
    ("params", ("text",), "params must be a tuple of Param"),
    ("min_args", 2, "min_args must be between 1 and the number of params"),
    ("example", "lowercase", "example must call the function"),
])
def test_a_malformed_fact_is_an_error(fact, value, message):
    with pytest.raises(FunctionEntryError, match=f"'lower': {message}"):
        Function(**{**FACTS, fact: value})


def test_the_registry_takes_each_name_once():
    with pytest.raises(FunctionEntryError, match="'lower' has two entries"):
        registry(LOWER, LOWER)
    with pytest.raises(FunctionEntryError, match="expected a Function entry"):
        registry(LOWER, {"name": "upper"})


def test_null_behaviour_decides_how_the_compilers_call_the_implementations():
    assert [n for n, f in FUNCTIONS.items() if f.nulls.lazy] == ["coalesce", "if"]
    assert FUNCTIONS["coalesce"].nulls is Nulls.ALL and FUNCTIONS["if"].nulls is Nulls.BRANCH
