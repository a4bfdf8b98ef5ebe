"""`mysql2dynamo create-tables`: the target tables from the mapping (key, GSIs, TTL), then `load` into them,
with no table made by hand; a mapping that describes no single table design is refused, naming the rules."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from mysql2dynamo.cli import main
from tests.conftest import unique

SAMPLE = Path(__file__).resolve().parent.parent / "mysql2dynamo" / "sample" / "mapping.yaml"


def _run(args: list[str]) -> str:
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    return r.stdout


def test_create_tables_then_load_the_sample(spark, local_stack, sample_db, s3_bucket, tmp_path):
    table = unique("shop")
    doc = yaml.safe_load(SAMPLE.read_text())
    # the sample config's customers (the rule with the GSI): one table keeps the Spark load short
    doc["tables"] = {f"{sample_db}.customers": {**doc["tables"]["shop.customers"], "target": table}}
    doc["snapshot"] = {"to": f"s3://{s3_bucket}/snap"}
    doc["load"] = {"manifest": f"s3://{s3_bucket}/snap", "sink": "dynamodb"}
    config = tmp_path / "mysql2dynamo.yaml"
    config.write_text(yaml.safe_dump(doc, sort_keys=False))

    (created,) = json.loads(_run(["create-tables", "--config", str(config)]))
    assert created == {"table": table, "action": "created", "key": {"PK": "S", "SK": "S"},
                       "indexes": {"GSI1": {"GSI1PK": "S", "GSI1SK": "S"}}, "ttl": None}  # dynalite has no TTL
    _run(["snapshot", "--config", str(config)])
    _run(["load", "--config", str(config)])

    ddb = local_stack.client("dynamodb")
    customer = ddb.get_item(TableName=table, Key={"PK": {"S": "CUSTOMER#1"}, "SK": {"S": "PROFILE"}})["Item"]
    by_email = ddb.query(TableName=table, IndexName="GSI1", KeyConditionExpression="GSI1PK = :e",
                         ExpressionAttributeValues={":e": customer["GSI1PK"]})["Items"]
    assert [i["PK"]["S"] for i in by_email] == ["CUSTOMER#1"]
    assert ddb.scan(TableName=table, Select="COUNT")["Count"] == 200
    (again,) = json.loads(_run(["create-tables", "--config", str(config)]))
    assert again == {"table": table, "action": "exists", "key": {"PK": "S", "SK": "S"}}
    ddb.delete_table(TableName=table)


def test_rules_with_two_keys_for_one_table_are_refused(local_stack, sample_db, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"""source: {{mysql_url: "${{M2D_MYSQL_URL}}"}}
tables:
  {sample_db}.customers: {{target: t, key: {{PK: "C#{{id}}", SK: PROFILE}}}}
  {sample_db}.orders: {{target: t, key: {{PK: "{{id}}", SK: ORDER}}}}
""")
    r = CliRunner().invoke(main, ["create-tables", "--config", str(config)])
    assert r.exit_code == 1
    assert (f"table t: rule {sample_db}.orders writes the key (PK N, SK S) but rule {sample_db}.customers writes "
            "(PK S, SK S): one table has one key") in r.output
