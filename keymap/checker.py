"""`check(mapping, schemas)`: the one entry to the static checks of a mapping.

Every rule is type-checked against its source table (keymap.typecheck: errors) and, when it has
no errors, linted (keymap.lints: warnings). The result is the `CheckedMapping` both compilers
consume (keymap.checked).
"""

from __future__ import annotations

from mysql2dynamo.keymap.checked import CheckedMapping, Diagnostic
from mysql2dynamo.keymap.lints import lint
from mysql2dynamo.keymap.schema import TableSchema
from mysql2dynamo.keymap.spec import Mapping
from mysql2dynamo.keymap.typecheck import typecheck_rule


def check(mapping: Mapping, schemas: dict[str, TableSchema]) -> CheckedMapping:
    """Type-check and lint every rule of `mapping` against `schemas` (keyed by `db.table`)."""
    rules, diags = [], []
    for rule in mapping.rules:
        schema = schemas.get(rule.source)
        if schema is None:
            diags.append(Diagnostic("error", f"{rule.name}: source table {rule.source} not found", rule.loc))
            continue
        checked, errors = typecheck_rule(rule, schema, mapping.version_attribute)
        diags += errors
        if checked:
            diags += lint(checked)
            rules.append(checked)
    return CheckedMapping(mapping, rules, diags)
