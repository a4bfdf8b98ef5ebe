"""The mapping model (`Mapping` -> `Rule`s) and its YAML loader, which keeps line/column of
every string so parser and checker errors point into the user's file.

The same model is constructible in Python: `mapping_from_dict({"shop.orders": {...}})`.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field

import yaml

from mysql2dynamo.ground.interpolate import interpolate_nodes
from mysql2dynamo.keymap.ast import Expr, KeymapError, Location
from mysql2dynamo.keymap.parser import parse_expression, parse_value

RULE_KEYS = ("name", "target", "key", "attributes", "exclude", "rest", "where", "nulls", "ttl")
NULL_POLICIES = ("omit", "null")
DEFAULT_VERSION_ATTRIBUTE = "_ver"


@dataclass(frozen=True)
class ValueSpec:
    """One key or attribute value as written (`raw`) and parsed (`expr`)."""

    raw: object
    expr: Expr
    loc: Location


@dataclass(frozen=True)
class Rule:
    """How rows of one source table become items of one target table.

    A source table may have several rules (one row -> several items, e.g. adjacency edges);
    `name` tells them apart in rejects and metrics (`db.table` or `db.table#<name>`).
    """

    source: str
    name: str
    target: str
    key: dict[str, ValueSpec]
    attributes: dict[str, ValueSpec] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    rest: bool = False
    where: ValueSpec | None = None
    nulls: str = "omit"
    ttl: str | None = None
    loc: Location = Location()


@dataclass(frozen=True)
class Mapping:
    rules: tuple[Rule, ...]
    version_attribute: str = DEFAULT_VERSION_ATTRIBUTE
    file: str = "<mapping>"

    def rules_for(self, source: str) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.source == source)

    @property
    def sources(self) -> list[str]:
        return list(dict.fromkeys(r.source for r in self.rules))


# --- YAML with positions -----------------------------------------------------------------------


class _Node:
    """A composed YAML node with its plain Python value and location."""

    def __init__(self, node: yaml.Node, file: str):
        self.node, self.file = node, file
        m = node.start_mark
        quoted = isinstance(node, yaml.ScalarNode) and node.style in ("'", '"')
        self.loc = Location(file, m.line + 1, m.column + 1 + int(quoted))
        self.key_loc = self.loc

    def items(self) -> list[tuple[str, _Node]]:
        if not isinstance(self.node, yaml.MappingNode):
            raise KeymapError(f"expected a mapping, got {_describe(self.node)}", self.loc)
        out = []
        for k, v in self.node.value:
            child = _Node(v, self.file)
            child.key_loc = _Node(k, self.file).loc  # where the key itself is written
            out.append((str(_construct(k)), child))
        return out

    def seq(self) -> list[_Node]:
        if isinstance(self.node, yaml.ScalarNode):
            return [self]
        if not isinstance(self.node, yaml.SequenceNode):
            raise KeymapError(f"expected a list, got {_describe(self.node)}", self.loc)
        return [_Node(v, self.file) for v in self.node.value]


def _describe(node: yaml.Node) -> str:
    return {yaml.MappingNode: "a mapping", yaml.SequenceNode: "a list"}.get(type(node), "a value")


def _construct(node: yaml.Node):
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _suggest(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _value_spec(n: _Node) -> ValueSpec:
    raw = _construct(n.node)
    return ValueSpec(raw, parse_value(raw, n.loc), n.loc)


def _rule(source: str, n: _Node, index: int, count: int) -> Rule:
    fields = dict(n.items())
    for k, v in fields.items():
        if k not in RULE_KEYS:
            raise KeymapError(f"expected one of {', '.join(RULE_KEYS)}, got {k!r}{_suggest(k, RULE_KEYS)}",
                              v.key_loc)
    if "target" not in fields:
        raise KeymapError(f"expected 'target:' (the DynamoDB table) in the rule for {source}", n.loc)
    if "key" not in fields:
        raise KeymapError(f"expected 'key:' (partition key and optional sort key) in the rule for {source}",
                          n.loc)
    key = {k: _value_spec(v) for k, v in fields["key"].items()}
    if not 1 <= len(key) <= 2:
        raise KeymapError(f"expected a partition key and at most one sort key, got {len(key)} key attributes",
                          fields["key"].loc)
    attributes = {k: _value_spec(v) for k, v in fields["attributes"].items()} if "attributes" in fields else {}
    ttl = None
    if "ttl" in fields:
        t = fields["ttl"]
        if isinstance(t.node, yaml.MappingNode):
            parts = dict(t.items())
            if set(parts) != {"attribute", "value"}:
                raise KeymapError("expected ttl: {attribute: NAME, value: EXPR}", t.loc)
            ttl = str(_construct(parts["attribute"].node))
            attributes[ttl] = _value_spec(parts["value"])
        else:
            ttl = str(_construct(t.node))
    nulls = str(_construct(fields["nulls"].node)) if "nulls" in fields else "omit"
    if nulls not in NULL_POLICIES:
        raise KeymapError(f"expected nulls: omit or null, got {nulls!r}", fields["nulls"].loc)
    where = None
    if "where" in fields:
        w = fields["where"]
        text = _construct(w.node)
        if not isinstance(text, str):
            raise KeymapError("expected an expression text for 'where'", w.loc)
        where = ValueSpec(text, parse_expression(text, w.loc), w.loc)
    explicit = _construct(fields["name"].node) if "name" in fields else None
    name = source if count == 1 and not explicit else f"{source}#{explicit or index + 1}"
    rest = fields.get("rest")
    return Rule(
        source=source, name=name, target=str(_construct(fields["target"].node)), key=key,
        attributes=attributes,
        exclude=tuple(str(x) for x in (_construct(fields["exclude"].node) or [])) if "exclude" in fields else (),
        rest=bool(_construct(rest.node)) if rest else False, where=where, nulls=nulls, ttl=ttl, loc=n.loc,
    )


def mapping_from_node(tables: _Node, version_attribute: str = DEFAULT_VERSION_ATTRIBUTE) -> Mapping:
    rules: list[Rule] = []
    for source, body in tables.items():
        if source.count(".") != 1:
            raise KeymapError(f"expected a source table as db.table, got {source!r}", body.loc)
        nodes = body.seq() if isinstance(body.node, yaml.SequenceNode) else [body]
        rules += [_rule(source, rn, i, len(nodes)) for i, rn in enumerate(nodes)]
    names = [r.name for r in rules]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise KeymapError(f"rule names must be unique, got {sorted(dup)} twice", tables.loc)
    return Mapping(tuple(rules), version_attribute, tables.file)


def compose(text: str, file: str) -> _Node:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        m = e.problem_mark
        raise KeymapError(f"invalid YAML: {e.problem}", Location(file, m.line + 1, m.column + 1)) from None
    if node is None:
        raise KeymapError("expected a mapping document, got an empty file", Location(file))
    return _Node(node, file)


def load_mapping(text: str, file: str = "<mapping>") -> Mapping:
    """Load a mapping document: `{version: 1, version_attribute: _ver, tables: {...}}`."""
    return load_mapping_node(dict(compose(text, file).items()), file)


def load_mapping_node(doc: dict[str, _Node], file: str) -> Mapping:
    if "tables" not in doc:
        raise KeymapError("expected a 'tables:' section", Location(file))
    version_attribute = str(_construct(doc["version_attribute"].node)) if "version_attribute" in doc \
        else DEFAULT_VERSION_ATTRIBUTE
    return mapping_from_node(doc["tables"], version_attribute)


TEMPLATE_FIELDS = ("key", "attributes", "where")  # their `{...}` and `$` belong to the DSL


def _template(path: tuple[str, ...]) -> bool:
    """`tables.<source>.<field>` of a rule: are its values DSL templates (never interpolated)?"""
    return len(path) >= 3 and path[0] == "tables" and path[2] in TEMPLATE_FIELDS


def mapping_from_config(text: str, file: str = "<config>", env: AbcMapping[str, str] | None = None) -> Mapping:
    """The mapping of a mysql2dynamo config document, for code that needs nothing else of it (the
    bulk load job, the replay Lambda, the shell's config reader): `version_attribute:` and
    `tables:` with `${VAR}` interpolated outside the templates; the other sections are not read,
    so their variables need not be set where the job runs."""
    doc = dict(compose(text, file).items())
    for name in ("version_attribute", "tables"):
        if name in doc:
            interpolate_nodes(doc[name].node, os.environ if env is None else env, file, _template, (name,))
    return load_mapping_node(doc, file)


def mapping_from_dict(tables: dict, version_attribute: str = DEFAULT_VERSION_ATTRIBUTE) -> Mapping:
    """Build a mapping from Python data shaped like the YAML `tables:` section."""
    return mapping_from_node(compose(yaml.safe_dump(tables, sort_keys=False), "<python>"), version_attribute)
