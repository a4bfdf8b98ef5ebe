"""`status` on AWS reads the pipeline's figures from CloudWatch (moto): the replay Lambda's IteratorAge
and the metrics capture and replay publish as EMF lines, each figure shown with where it came from."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from mysql2dynamo.cdc.progress import ProgressTable
from mysql2dynamo.cloudwatch import FUNCTION_ENV
from mysql2dynamo.ground.metrics import emf_line
from mysql2dynamo.status import pipeline_status, status_table
from tests.conftest import unique

CLI = str(Path(sys.executable).with_name("mysql2dynamo"))


def extract_emf(cloudwatch, line: str) -> None:
    """What CloudWatch Logs does with an EMF line: one metric datum per named metric, with its dimension."""
    doc = json.loads(line)
    (directive,) = doc["_aws"]["CloudWatchMetrics"]
    at = datetime.fromtimestamp(doc["_aws"]["Timestamp"] / 1000, timezone.utc)
    dims = [{"Name": d, "Value": doc[d]} for d in directive["Dimensions"][0]]
    cloudwatch.put_metric_data(Namespace=directive["Namespace"], MetricData=[
        {"MetricName": m["Name"], "Unit": m["Unit"], "Value": doc[m["Name"]], "Dimensions": dims, "Timestamp": at}
        for m in directive["Metrics"]])


def lambda_iterator_age(cloudwatch, function: str, ms: float, at: datetime) -> None:
    cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[{
        "MetricName": "IteratorAge", "Unit": "Milliseconds", "Value": ms, "Timestamp": at,
        "Dimensions": [{"Name": "FunctionName", "Value": function}]}])


def test_status_on_aws_shows_cloudwatch_figures_and_their_sources(local_stack, stream_name, mysql_url):
    cw, ddb = local_stack.client("cloudwatch"), local_stack.client("dynamodb")
    progress = ProgressTable(ddb, unique("progress"), stream_name)
    progress.ensure_table()
    now = datetime.now(timezone.utc)
    ms = lambda t: int(t.timestamp() * 1000)  # noqa: E731
    # two capture lines and two replay batches, three minutes apart, as the host's agent and the Lambda send them
    for minutes_ago, lag, rows, applied, stale, dead in ((4, 9000, 50, 120, 3, 1), (1, 700, 80, 200, 0, 0)):
        t = ms(now - timedelta(minutes=minutes_ago))
        extract_emf(cw, emf_line(stream_name, {"CaptureLagMs": lag, "CaptureRowsPerSecond": rows,
                                               "CaptureRecords": rows * 60}, t))
        extract_emf(cw, emf_line(stream_name, {"ReplayApplied": applied, "ReplayStale": stale, "DeadLetters": dead}, t))
    function = f"mysql2dynamo-{stream_name.replace('_', '-')}-replay"  # the name `deploy` gives the Lambda
    lambda_iterator_age(cw, function, 45_000, now - timedelta(minutes=3))
    lambda_iterator_age(cw, function, 2_500, now - timedelta(seconds=30))

    run = subprocess.run([CLI, "status", "--stream", stream_name, "--mysql-url", mysql_url,
                          "--progress-table", progress.table, "--json"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    s = json.loads(run.stdout)
    # levels are the newest minute's, counts the window's sums
    assert {k: s["cloudwatch"][k] for k in ("iterator_age_ms", "capture_lag_ms", "capture_rows_per_s",
                                            "capture_records", "replay_applied", "replay_stale", "dead_letters")} == {
        "iterator_age_ms": 2500, "capture_lag_ms": 700, "capture_rows_per_s": 80, "capture_records": 7800,
        "replay_applied": 320, "replay_stale": 3, "dead_letters": 1}
    assert s["cloudwatch"]["function"] == function
    # the replay's lag (what cutover waits on) is the Lambda's IteratorAge: nothing waits on the empty stream
    assert s["replay"]["lambda_iterator_age_ms"] == 2500 and s["replay"]["lag_ms"] == 2500
    assert s["capture"]["seconds_behind"] == 0.7 and s["capture"]["records_per_s"] == 80
    assert s["capture"]["figures_from"] == s["replay"]["figures_from"] == s["cloudwatch"]["source"]
    assert s["cloudwatch"]["source"].startswith(f"CloudWatch (mysql2dynamo Stream={stream_name}, AWS/Lambda "
                                                f"FunctionName={function}, last 15 min)")
    assert s["progress"] == f"dynamodb://{progress.table} ({stream_name})"

    table = status_table(s)
    assert "replay   lag 2500 ms" in table
    assert (f"cloudwatch  Lambda {function} IteratorAge 2500 ms; capture lag 700 ms, 80 rows/s, 7800 records; "
            "replay 320 applied, 3 stale, 1 dead letters") in table
    assert f"sources: positions from dynamodb://{progress.table} ({stream_name});" in table
    assert f"capture figures: CloudWatch (mysql2dynamo Stream={stream_name}" in table


def test_a_named_function_and_an_unreachable_cloudwatch(local_stack, stream_name, mysql_url, monkeypatch):
    cw, ddb, kinesis = local_stack.client("cloudwatch"), local_stack.client("dynamodb"), local_stack.client("kinesis")
    progress = ProgressTable(ddb, unique("progress"), stream_name)
    progress.ensure_table()
    function = unique("my-replay")
    lambda_iterator_age(cw, function, 1_234, datetime.now(timezone.utc))
    monkeypatch.setenv(FUNCTION_ENV, function)  # a stack deployed under another name
    assert pipeline_status(stream_name, mysql_url, kinesis, progress=progress)["replay"]["lag_ms"] == 1234

    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", "http://127.0.0.1:1")  # no CloudWatch: status still answers
    s = pipeline_status(stream_name, mysql_url, kinesis, progress=progress)
    assert s["cloudwatch"]["error"].startswith("EndpointConnectionError") and s["replay"]["lag_ms"] == 0
    assert s["cloudwatch"]["iterator_age_ms"] is None
    assert "NOT READ: EndpointConnectionError" in status_table(s)


def test_local_runs_read_their_files_and_not_cloudwatch(local_stack, stream_name, mysql_url):
    s = pipeline_status(stream_name, mysql_url, local_stack.client("kinesis"))
    assert s["cloudwatch"] is None and s["progress"] == "local files"
    assert s["capture"]["figures_from"] == s["replay"]["figures_from"] == \
        "none (no local metrics file, no progress table)"
