"""DynamoDB tables: creating them with string keys (the shape single-table designs use), and
checking existing ones against the items a mapping writes (`plan`, and `load` before it writes)."""

from __future__ import annotations

from dataclasses import dataclass, field


def create_table(client, name: str, hash_key: str = "PK", range_key: str | None = "SK",
                 indexes: dict[str, tuple[str, str | None]] | None = None) -> None:
    """An on-demand table with string keys and optional GSIs (name -> (hash, range)); waits until active."""
    def schema(h: str, r: str | None) -> list[dict]:
        return [{"AttributeName": h, "KeyType": "HASH"}] + ([{"AttributeName": r, "KeyType": "RANGE"}] if r else [])

    indexes = indexes or {}
    names = dict.fromkeys([hash_key, range_key, *[k for pair in indexes.values() for k in pair]])
    kw = {}
    if indexes:
        kw["GlobalSecondaryIndexes"] = [
            {"IndexName": n, "KeySchema": schema(*keys), "Projection": {"ProjectionType": "ALL"}}
            for n, keys in indexes.items()]
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", KeySchema=schema(hash_key, range_key),
                        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in names if a], **kw)
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 600})


@dataclass
class TargetTable:
    """A target table as DescribeTable shows it (or that it does not exist yet)."""

    table: str
    exists: bool
    billing: str  # PAY_PER_REQUEST, PROVISIONED, or "new" when the table does not exist yet
    write_capacity: int | None  # provisioned WCU, or an on-demand table's warm write throughput
    gsis: int
    key: dict[str, str] = field(default_factory=dict)  # partition (then sort) key name -> S/N/B
    gsi_keys: dict[str, dict[str, str]] = field(default_factory=dict)  # index -> its key names -> types


def describe_target(dynamodb, name: str) -> TargetTable:
    try:
        t = dynamodb.describe_table(TableName=name)["Table"]
    except dynamodb.exceptions.ResourceNotFoundException:
        return TargetTable(name, False, "new", None, 0)
    billing = (t.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
    if billing == "PROVISIONED":
        capacity = t.get("ProvisionedThroughput", {}).get("WriteCapacityUnits")
    else:  # what the table can take at once (AWS reports it since 2024; older APIs and emulators do not)
        capacity = (t.get("WarmThroughput") or {}).get("WriteUnitsPerSecond")
    types = {a["AttributeName"]: a["AttributeType"] for a in t.get("AttributeDefinitions", [])}

    def key(schema: list[dict]) -> dict[str, str]:
        ordered = sorted(schema, key=lambda k: k["KeyType"] != "HASH")
        return {k["AttributeName"]: types.get(k["AttributeName"], "?") for k in ordered}

    gsis = {g["IndexName"]: key(g["KeySchema"]) for g in t.get("GlobalSecondaryIndexes") or []}
    return TargetTable(name, True, billing, capacity or None, len(gsis), key(t["KeySchema"]), gsis)


def target_problems(checked, targets: list[TargetTable]) -> tuple[list[str], list[str]]:
    """(errors, warnings) of the mapping against target tables that exist: every item of a rule
    whose key is not the table's key, or whose GSI key attribute has the wrong type, is refused by
    DynamoDB (ValidationException), so the load would reject them all; a GSI key attribute no rule
    writes leaves that index empty (fine for a sparse index, a typo otherwise)."""
    from mysql2dynamo.keymap.item_rules import KEY_KINDS

    errors, warnings = [], []
    for t in (t for t in targets if t.exists):
        rules = [cr for cr in checked.rules if cr.rule.target == t.table]
        for cr in rules:
            mine = {a.name: KEY_KINDS.get(a.type.kind, a.type.kind.value) for a in cr.keys}
            if list(mine.items()) != list(t.key.items()):  # in order: partition key, then sort key
                errors.append(f"{cr.rule.name}: the item key is {_key_text(mine)} but table {t.table} has "
                              f"{_key_text(t.key)}: DynamoDB would refuse every item")
        for index, gsi_key in t.gsi_keys.items():
            for name, want in gsi_key.items():
                writers = [(cr, a) for cr in rules for a in cr.attributes if a.name == name]
                for cr, a in writers:
                    got = KEY_KINDS.get(a.type.kind, a.type.kind.value)
                    if got != want:
                        errors.append(f"{cr.rule.name}: attribute {name} is {got} but it is a key of index {index} "
                                      f"of table {t.table} ({want}): DynamoDB would refuse every item with it")
                if not writers and rules:
                    warnings.append(f"index {index} of table {t.table}: no rule writes its key attribute {name}, "
                                    "the index stays empty")
    return errors, warnings


def _key_text(key: dict[str, str]) -> str:
    return "(" + ", ".join(f"{n} {t}" for n, t in key.items()) + ")"
