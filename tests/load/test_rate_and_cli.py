"""The write budget's arithmetic (no timing: a fake clock) and the `load` command's outputs."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mysql2dynamo.commands.load import load
from mysql2dynamo.jobs.rate import UNLIMITED_WCU, Budget, TokenBucket, connector_conf, item_wcu


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def test_token_bucket_paces_threads_of_a_task_to_its_rate():
    clock = FakeClock()
    bucket = TokenBucket(100.0, clock=clock, sleep=clock.sleep)
    for _ in range(40):
        bucket.acquire(25)  # 1000 items in batches of 25
    # the burst (25: a tenth of a second, at least one batch) is free, the rest takes 975/100 s
    assert clock.t == pytest.approx((1000 - 25) / 100)


def test_budget_split_and_connector_settings():
    assert Budget(items_per_second=1000).per_task(4) == Budget(items_per_second=250)
    assert Budget(wcu_per_second=900).per_task(3).wcu_per_second == 300
    assert item_wcu(1) == 1 and item_wcu(1024) == 1 and item_wcu(1025) == 2
    # an items/s budget reaches the connector in WCU/s with the items' mean WCU; percent 1; real task count
    assert connector_conf(Budget(items_per_second=1000), 8, 1.5) == {
        "dynamodb.throughput.write": "1500", "dynamodb.throughput.write.percent": "1.0", "mapreduce.job.maps": "8"}
    # no budget: provisioned WCU * percent, on-demand never the connector's 40,000 guess
    assert connector_conf(Budget(), 4, 1.0, table_wcu=500, write_percent=0.5)["dynamodb.throughput.write"] == "250"
    assert connector_conf(Budget(), 4, 1.0)["dynamodb.throughput.write"] == str(UNLIMITED_WCU)
    with pytest.raises(ValueError):
        Budget(items_per_second=1, wcu_per_second=1)
    with pytest.raises(ValueError):
        Budget(wcu_per_second=0)


def test_load_prints_the_local_spark_submit_and_the_emr_step(tmp_path):
    args = ["--manifest", "s3://b/snap", "--mapping", "s3://b/map.yaml", "--sink", "dynamodb", "--max-wcu", "2000"]
    r = CliRunner().invoke(load, [*args, "--print-submit"])
    assert r.exit_code == 0, r.output
    assert "spark-submit" in r.output and "emr-dynamodb-hadoop-5.0.0.jar" in r.output
    assert r.output.strip().endswith("jobs/bulk_load.py --manifest s3://b/snap --mapping s3://b/map.yaml "
                                     "--sink dynamodb --max-wcu 2000.0")
    r = CliRunner().invoke(load, [*args, "--emr-step", "s3://b/m2d"])
    assert r.exit_code == 0, r.output
    step = json.loads(r.output)
    assert step["HadoopJarStep"]["Args"][-8:] == ["--manifest", "s3://b/snap", "--mapping", "s3://b/map.yaml",
                                                  "--sink", "dynamodb", "--max-wcu", "2000.0"]


def test_load_runs_on_local_spark_and_prints_the_summary(spark, local_stack, sample_db, snapshot, dynamodb_table,
                                                         tmp_path):
    from tests.conftest import mapping_text

    table = dynamodb_table()
    mapping = tmp_path / "m.yaml"
    mapping.write_text(mapping_text(sample_db, table))
    r = CliRunner().invoke(load, ["--manifest", snapshot, "--mapping", str(mapping), "--sink", "dynamodb",
                                  "--max-items-per-second", "100000", "--summary", str(tmp_path / "s.json")])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["budget"] == {"items_per_second": 100000.0, "wcu_per_second": None}
    assert json.loads((tmp_path / "s.json").read_text())["items_out"] == summary["items_out"] > 0
    r = CliRunner().invoke(load, ["--manifest", snapshot, "--mapping", str(mapping), "--tables", "nope.t"])
    assert r.exit_code != 0 and "nope.t not in the snapshot" in r.output
