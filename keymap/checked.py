"""The checked mapping both compilers consume: every rule with its typed attributes, and the
diagnostics (errors: the mapping cannot run; warnings: it runs, but a data engineer should look).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mysql2dynamo.keymap.ast import Expr, KeymapError, Location
from mysql2dynamo.keymap.item_rules import value_bound
from mysql2dynamo.keymap.schema import TableSchema
from mysql2dynamo.keymap.spec import Mapping, Rule
from mysql2dynamo.keymap.types import VType

VERSION_BOUND = 21  # DynamoDB size of a version number (at most 39 digits)


@dataclass(frozen=True)
class Diagnostic:
    level: str  # "error" | "warning"
    message: str
    location: Location | None = None

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.level}: {self.message}"


@dataclass(frozen=True)
class Attr:
    """One item attribute after checking: its expression and type (rest columns included)."""

    name: str
    expr: Expr
    type: VType
    is_key: bool = False


@dataclass
class CheckedRule:
    rule: Rule
    schema: TableSchema
    attributes: list[Attr]  # key attributes first, then declared, then rest
    where: Expr | None
    types: dict[int, VType] = field(default_factory=dict)  # id(node) -> type
    version_attribute: str = "_ver"

    @property
    def keys(self) -> list[Attr]:
        return [a for a in self.attributes if a.is_key]

    def type_of(self, e: Expr) -> VType:
        return self.types[id(e)]

    def bounded_size(self) -> tuple[int, list[str]]:
        """Bytes the attributes with a size bound can take (names included), and the others' names."""
        total, unbounded = 0, []
        for a in self.attributes:
            size = value_bound(a.type)
            if size is None:
                unbounded.append(a.name)
            else:
                total += len(a.name.encode()) + size
        return total, unbounded

    def item_bound(self) -> int | None:
        """Upper bound of the item size (the version attribute included), None when unknown."""
        total, unbounded = self.bounded_size()
        return None if unbounded else total + len(self.version_attribute.encode()) + VERSION_BOUND


@dataclass
class CheckedMapping:
    mapping: Mapping
    rules: list[CheckedRule]
    diagnostics: list[Diagnostic]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.level == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.level == "warning"]

    def rules_for(self, source: str) -> list[CheckedRule]:
        return [r for r in self.rules if r.rule.source == source]

    def raise_on_errors(self) -> CheckedMapping:
        if self.errors:
            raise KeymapError("mapping has errors:\n" + "\n".join(str(d) for d in self.errors))
        return self
