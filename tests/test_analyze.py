"""`keymap analyze` measures the key design on a snapshot with Spark. One run (one Spark plan, to
keep the suite short) over two targets: the sample shop, where it must name the hottest partition
key and its share as MySQL counts them, and a table with a planted hot key, which it must find and
warn about (its partition would pass 1,000 WCU/s at the planned 4,000 WCU/s), with its share of the
writes the change stream carries since the snapshot."""

from __future__ import annotations

import json

from click.testing import CliRunner

from mysql2dynamo.cdc.checkpoint import FileCheckpointStore
from mysql2dynamo.cdc.snapshot.options import SnapshotOptions
from mysql2dynamo.cdc.snapshot.run import run_snapshot
from mysql2dynamo.cdc.stream import StreamSettings, run_stream
from mysql2dynamo.cli import main
from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.jobs.analyze import render
from mysql2dynamo.jobs.targets import create_table
from tests.conftest import binlog_now, mapping_text, unique

HOTTEST_SQL = """
SELECT k, n FROM (
  SELECT CONCAT('CUSTOMER#', c.id) AS k,
         1 + (SELECT COUNT(*) FROM {db}.orders o WHERE o.customer_id = c.id AND o.status != 'draft') AS n
  FROM {db}.customers c
  UNION ALL
  SELECT CONCAT('ORDER#', LPAD(order_id, 10, '0')), COUNT(*) FROM {db}.order_items GROUP BY order_id
) per_key ORDER BY n DESC, k LIMIT 1"""


def test_analyze_names_the_hottest_partition_keys(spark, local_stack, sample_db, fresh_db, kinesis, stream_name,
                                                  tmp_path):
    conn = connect(local_stack.mysql_url)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {fresh_db}.events (id INT PRIMARY KEY, tenant INT NOT NULL, body VARCHAR(300))")
        # 120 of 400 events (30%) belong to tenant 7; the others to 280 tenants of one event each
        cur.executemany(f"INSERT INTO {fresh_db}.events VALUES (%s, %s, %s)",
                        [(i, 7 if i < 120 else 1000 + i, "x" * (i % 300)) for i in range(400)])
        cur.execute(HOTTEST_SQL.format(db=sample_db))
        shop_key, shop_n = cur.fetchone()
    conn.close()
    shop, events = unique("shop"), unique("events")
    create_table(local_stack.client("dynamodb"), shop, indexes={"GSI1": ("GSI1PK", "GSI1SK")})
    config = tmp_path / "c.yaml"
    config.write_text(mapping_text(sample_db, shop) + f"""
  {fresh_db}.events:
    target: {events}
    key: {{PK: "TENANT#{{tenant}}", SK: "EVENT#{{id}}"}}
    rest: true
""")
    tables = [f"{sample_db}.{t}" for t in ("customers", "orders", "order_items")] + [f"{fresh_db}.events"]
    run_snapshot(local_stack.cdc_mysql_url, tables, str(tmp_path / "snap"), SnapshotOptions(workers=1))
    # after the snapshot, 40 of the 50 writes go to tenant 7's events, captured into the stream
    start = binlog_now(local_stack.mysql_url)
    conn = connect(local_stack.mysql_url, fresh_db)
    with conn.cursor() as cur:
        cur.execute("UPDATE events SET body = 'y' WHERE id < 40")
        cur.execute("UPDATE events SET body = 'z' WHERE id BETWEEN 200 AND 209")
    conn.close()
    run_stream(StreamSettings(local_stack.cdc_mysql_url, [f"{fresh_db}.events"], stream_name,
                              FileCheckpointStore(tmp_path / "cp.json"), start=start, stop_at_end=True),
               kinesis, install_signals=False, say=lambda m: None)

    page = tmp_path / "keys.html"
    run = CliRunner().invoke(main, ["keymap", "analyze", "--config", str(config), "--manifest", str(tmp_path / "snap"),
                                    "--max-wcu", "4000", "--html", str(page), "--output", "json",
                                    "--stream", stream_name])
    assert run.exit_code == 1, run.output  # 1: a partition over its limit
    assert f"write sample: 50 changes of {stream_name}" in run.stderr
    result = {t["target"]: t for t in json.loads(run.stdout)["targets"]}

    planted = result[events]
    assert (planted["items"], planted["partition_keys"]) == (400, 281)
    assert planted["hot_keys"][0] | {"wcu_share": None} == {"key": "TENANT#7", "items": 120, "share": 0.3,
                                                           "wcu_share": None, "write_share": 0.8}
    assert planted["sampled_writes"] == 50
    shown = render(json.loads(run.stdout))
    assert "of 50 sampled writes" in shown and "    TENANT#7: 120 items (30.0%), 80.0% of writes" in shown, shown
    assert sum(b["items"] for b in planted["item_sizes"]) == 400 and planted["items_over_400kb"] == 0
    assert len(planted["warnings"]) == 1 and "'TENANT#7'" in planted["warnings"][0]
    assert "over DynamoDB's 1,000 WCU/s per partition" in planted["warnings"][0]

    sample = result[shop]
    hottest = sample["hot_keys"][0]
    assert (hottest["key"], hottest["items"], hottest["share"]) == (shop_key, shop_n,
                                                                    round(shop_n / sample["items"], 4)), sample
    gsi = sample["gsis"][0]
    assert gsi["index"] == "GSI1" and 0 < gsi["fan_out"] <= 1, gsi
    assert not sample["warnings"]
    assert f"    {shop_key}: {shop_n:,} items ({shop_n / sample['items']:.1%})" in render(json.loads(run.stdout))
    assert page.read_text().count('class="plotly-graph-div"') == 5  # hot keys and sizes of both, GSI1
