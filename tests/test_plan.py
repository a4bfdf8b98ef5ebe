"""`mysql2dynamo plan` against the local stack: the sample shop, a slow budget against a short
stream retention, and a mapping error."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from mysql2dynamo.cli import main
from mysql2dynamo.jobs.targets import create_table
from tests.conftest import unique

EXAMPLE = Path(__file__).resolve().parents[1] / "mysql2dynamo" / "sample" / "mapping.yaml"


def _config(tmp_path: Path, sample_db: str, target: str) -> Path:
    text = EXAMPLE.read_text().replace("\n  shop.", f"\n  {sample_db}.").replace("target: shop", f"target: {target}")
    path = tmp_path / "shop.yaml"
    path.write_text(text)
    return path


def _plan(args: list[str], mysql_url: str):
    return CliRunner().invoke(main, ["plan", *args], env={"M2D_MYSQL_URL": mysql_url}, catch_exceptions=False)


def test_plan_of_the_sample_shop_counts_rows_items_and_gsi_writes(local_stack, sample_db, mysql_url, tmp_path):
    target = unique("shop")
    create_table(local_stack.client("dynamodb"), target, indexes={"GSI1": ("GSI1PK", "GSI1SK")})
    result = _plan(["--config", str(_config(tmp_path, sample_db, target)), "--json"], mysql_url)
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["ok"] and plan["errors"] == 0 and plan["binlog_problems"] == []
    assert plan["server"].startswith("mariadb 10.11")
    tables = {t["table"].split(".")[1]: t for t in plan["tables"]}
    assert set(tables) == {"customers", "orders", "order_items"}
    assert all(t["rules"] == 1 and t["items"] == t["rows"] > 0 and t["wcu_per_item"] >= 1 for t in tables.values())
    assert plan["targets"] == [{"table": target, "exists": True, "billing": "PAY_PER_REQUEST", "write_capacity": None,
                                "gsis": 1, "key": {"PK": "S", "SK": "S"},
                                "gsi_keys": {"GSI1": {"GSI1PK": "S", "GSI1SK": "S"}}}]
    # one GSI: every item is two writes
    assert plan["wcu"] == sum(2 * t["items"] * t["wcu_per_item"] for t in tables.values())
    assert plan["rate_wcu"] == 4000 and "on-demand" in plan["rate_source"]


def test_plan_warns_when_the_load_outlasts_the_stream_retention(local_stack, sample_db, mysql_url, tmp_path):
    stream = unique("changes")
    kinesis = local_stack.client("kinesis")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2})
    result = _plan(["--config", str(_config(tmp_path, sample_db, unique("new"))), "--stream", stream,
                    "--max-items-per-second", "0.02"], mysql_url)
    assert result.exit_code == 0, result.output  # a warning, not an error
    assert "does not exist yet (on-demand assumed)" in result.output
    assert f"retention 24 h (stream {stream})" in result.output
    items = sum(int(line.split("-> ~")[1].split(" items")[0].replace(",", "")) for line in result.output.splitlines()
                if "rule(s) -> ~" in line)
    hours = items / 0.02 / 3600
    assert f"the load takes ~{hours:.1f} h, more than 50% of the stream's 24 h retention" in result.output
    assert f"`stream --retention-hours {int(-(-hours // 0.5))}`" in result.output


def test_plan_with_a_mapping_error_is_not_ready(local_stack, typo_config, sample_db, mysql_url):
    result = _plan(["--config", str(typo_config)], mysql_url)
    assert result.exit_code == 1
    assert f"bad.yaml:7:22: error: {sample_db}.customers: unknown column 'emial'" in result.output
    assert "NOT READY: 1 error(s)" in result.output


def test_plan_refuses_a_target_whose_keys_do_not_fit_the_items(local_stack, sample_db, mysql_url, tmp_path):
    """A table keyed `pk` (not PK/SK) and an index whose sort key is a number: DynamoDB would refuse
    every item, so the plan is not ready; an index key nobody writes is a warning."""
    target = unique("wrong")
    local_stack.client("dynamodb").create_table(
        TableName=target, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": t} for a, t in
                              (("pk", "S"), ("GSI1PK", "S"), ("GSI1SK", "N"), ("GSI9PK", "S"))],
        GlobalSecondaryIndexes=[
            {"IndexName": "GSI1", "Projection": {"ProjectionType": "ALL"},
             "KeySchema": [{"AttributeName": "GSI1PK", "KeyType": "HASH"},
                           {"AttributeName": "GSI1SK", "KeyType": "RANGE"}]},
            {"IndexName": "GSI9", "Projection": {"ProjectionType": "KEYS_ONLY"},
             "KeySchema": [{"AttributeName": "GSI9PK", "KeyType": "HASH"}]}])
    result = _plan(["--config", str(_config(tmp_path, sample_db, target))], mysql_url)
    assert result.exit_code == 1, result.output
    out = result.output
    assert f"{sample_db}.customers: the item key is (PK S, SK S) but table {target} has (pk S): DynamoDB would " \
           "refuse every item" in out
    assert f"{sample_db}.orders: attribute GSI1SK is S but it is a key of index GSI1 of table {target} (N)" in out
    assert f"warning: index GSI9 of table {target}: no rule writes its key attribute GSI9PK" in out
    assert "NOT READY: 5 error(s)" in out  # the key of 3 rules, GSI1SK of customers and orders
