"""DynamoDB tables: creating them with string keys (the shape single-table designs use), and
checking existing ones against the items a mapping writes (`plan`, and `load` before it writes)."""

from __future__ import annotations

from dataclasses import dataclass, field

from botocore.exceptions import ClientError


@dataclass
class TableSpec:
    """A table as the mapping needs it: key (partition, then sort: name -> S/N/B), GSIs (all attributes
    projected), the TTL attribute, and the billing: on demand (optionally pre-warmed to `warm_wcu`
    write units/s) or provisioned (`wcu`/`rcu`, the same for every GSI)."""

    name: str
    key: dict[str, str]
    indexes: dict[str, dict[str, str]] = field(default_factory=dict)
    ttl: str | None = None
    wcu: int | None = None  # provisioned when set
    rcu: int | None = None
    warm_wcu: int | None = None

    def properties(self) -> dict:
        """The CloudFormation properties of AWS::DynamoDB::Table."""
        out = self.create_request()
        out["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": True}
        if self.ttl:
            out["TimeToLiveSpecification"] = {"AttributeName": self.ttl, "Enabled": True}
        return out

    def create_request(self) -> dict:
        """The CreateTable arguments (TTL is a separate call there: UpdateTimeToLive)."""
        def schema(key: dict[str, str]) -> list[dict]:
            return [{"AttributeName": n, "KeyType": kind} for n, kind in zip(key, ("HASH", "RANGE"), strict=False)]

        types = {**self.key, **{n: t for k in self.indexes.values() for n, t in k.items()}}
        throughput = {"ProvisionedThroughput": {"ReadCapacityUnits": self.rcu or self.wcu,
                                                "WriteCapacityUnits": self.wcu}} if self.wcu else {}
        out: dict = {"TableName": self.name, "KeySchema": schema(self.key),
                     "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in types.items()],
                     "BillingMode": "PROVISIONED" if self.wcu else "PAY_PER_REQUEST", **throughput}
        if self.indexes:
            out["GlobalSecondaryIndexes"] = [
                {"IndexName": n, "KeySchema": schema(k), "Projection": {"ProjectionType": "ALL"}, **throughput}
                for n, k in self.indexes.items()]
        if self.warm_wcu and not self.wcu:
            out["WarmThroughput"] = {"WriteUnitsPerSecond": self.warm_wcu}
        return out

    def create(self, client) -> bool:
        """Create the table, wait until it is active, then turn its TTL on; False when the endpoint has
        no TTL (an emulator: dynalite answers UnknownOperationException)."""
        client.create_table(**self.create_request())
        client.get_waiter("table_exists").wait(TableName=self.name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 600})
        if not self.ttl:
            return True
        try:
            client.update_time_to_live(TableName=self.name,
                                       TimeToLiveSpecification={"AttributeName": self.ttl, "Enabled": True})
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "UnknownOperationException":
                raise
            return False
        return True


def create_table(client, name: str, hash_key: str = "PK", range_key: str | None = "SK",
                 indexes: dict[str, tuple[str, str | None]] | None = None) -> None:
    """An on-demand table with string keys and optional GSIs (name -> (hash, range)); waits until active."""
    def strings(*names: str | None) -> dict[str, str]:
        return {n: "S" for n in names if n}

    TableSpec(name, strings(hash_key, range_key),
              {n: strings(*keys) for n, keys in (indexes or {}).items()}).create(client)


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


# the tombstone floor (`mysql2dynamo.tombstone_floor`) on each target, and the snapshot a load is writing
TOMBSTONE_FLOOR_TAG = "m2d:tombstone-floor"
LOADING_TAG = "m2d:loading"


def table_tags(client, name: str) -> dict[str, str]:
    arn = client.describe_table(TableName=name)["Table"]["TableArn"]
    tags, kw = {}, {"ResourceArn": arn}
    while True:
        page = client.list_tags_of_resource(**kw)
        tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
        if not page.get("NextToken"):
            return tags
        kw["NextToken"] = page["NextToken"]


def tag_tables(client, names: list[str], key: str, value: str | None) -> None:
    """Set the tag `key` on each table (None: remove it)."""
    for name in names:
        arn = client.describe_table(TableName=name)["Table"]["TableArn"]
        if value is None:
            client.untag_resource(ResourceArn=arn, TagKeys=[key])
        else:
            client.tag_resource(ResourceArn=arn, Tags=[{"Key": key, "Value": value}])


def loads_below_floor(client, targets: list[str], snapshot_ver: int) -> list[str]:
    """The targets whose tombstones were removed at or above `snapshot_ver`: a load of that snapshot would
    bring back rows deleted after it (their tombstones, which its guarded writes lose to, are gone)."""
    return [f"{t} (tombstone floor {floor})" for t in targets
            if (floor := table_tags(client, t).get(TOMBSTONE_FLOOR_TAG)) is not None and int(floor) >= snapshot_ver]
