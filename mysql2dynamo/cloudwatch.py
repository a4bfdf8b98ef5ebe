"""The pipeline's figures read back from CloudWatch, where they are on AWS: the replay Lambda's
IteratorAge (AWS/Lambda, dimension FunctionName) and the metrics capture and replay publish as
embedded-metric-format lines (`ground.metrics`: namespace, names and the `Stream` dimension).

Invariant: one GetMetricData call per reading, over the last WINDOW_S seconds; a level (lag, rate,
iterator age) is the newest minute's value, a count the sum over the window; a figure CloudWatch
holds no data for is None, never 0, and a failed call is reported (`error`), never raised, so
`status` and `cutover` fall back to what they measure themselves.

The Lambda's name is `M2D_REPLAY_FUNCTION`, else the one `mysql2dynamo deploy` gives it for the
stream (`deploy.template.replay_function_name`).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from botocore.exceptions import BotoCoreError, ClientError

from mysql2dynamo.deploy.template import replay_function_name, stack_name
from mysql2dynamo.ground.metrics import DIMENSION, NAMESPACE

FUNCTION_ENV = "M2D_REPLAY_FUNCTION"
WINDOW_S = 900
PERIOD_S = 60
# figure -> (namespace or None for ours, metric, statistic, newest minute (level) or the window's sum)
FIGURES = {
    "capture_lag_ms": (None, "CaptureLagMs", "Maximum", "level"),
    "capture_rows_per_s": (None, "CaptureRowsPerSecond", "Average", "level"),
    "capture_records": (None, "CaptureRecords", "Sum", "sum"),
    "replay_applied": (None, "ReplayApplied", "Sum", "sum"),
    "replay_stale": (None, "ReplayStale", "Sum", "sum"),
    "dead_letters": (None, "DeadLetters", "Sum", "sum"),
    "iterator_age_ms": ("AWS/Lambda", "IteratorAge", "Maximum", "level"),
}


def client():
    """A CloudWatch client that gives up in seconds: `status` must not hang on an unreachable endpoint."""
    import boto3
    from botocore.config import Config

    return boto3.client("cloudwatch", config=Config(connect_timeout=3, read_timeout=5,
                                                    retries={"max_attempts": 2}))


def replay_function(stream: str) -> str:
    return os.environ.get(FUNCTION_ENV) or replay_function_name(stack_name(stream))


def _query(figure: str, stream: str, function: str) -> dict:
    namespace, metric, stat, kind = FIGURES[figure]
    dimension = {"Name": "FunctionName", "Value": function} if namespace else {"Name": DIMENSION, "Value": stream}
    return {"Id": figure, "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": namespace or NAMESPACE, "MetricName": metric, "Dimensions": [dimension]},
        "Period": PERIOD_S if kind == "level" else WINDOW_S, "Stat": stat}}


def read_figures(cloudwatch, stream: str, now: datetime | None = None) -> dict:
    """The figures of FIGURES for `stream`, with where they come from (`source`) and, when CloudWatch
    could not be read, why (`error`; every figure None)."""
    function = replay_function(stream)
    now = now or datetime.now(timezone.utc)
    out: dict = dict.fromkeys(FIGURES)
    out["source"] = (f"CloudWatch ({NAMESPACE} {DIMENSION}={stream}, AWS/Lambda FunctionName={function}, "
                     f"last {WINDOW_S // 60} min)")
    out["function"] = function
    try:
        resp = cloudwatch.get_metric_data(
            MetricDataQueries=[_query(f, stream, function) for f in FIGURES], ScanBy="TimestampDescending",
            StartTime=now - timedelta(seconds=WINDOW_S), EndTime=now + timedelta(seconds=PERIOD_S))
    except (BotoCoreError, ClientError) as e:  # no permission, no endpoint: status shows what it measures
        out["error"] = f"{type(e).__name__}: {e}"
        return out
    for result in resp["MetricDataResults"]:
        values = [v for _, v in sorted(zip(result["Timestamps"], result["Values"], strict=True), reverse=True)]
        if values:
            kind = FIGURES[result["Id"]][3]
            out[result["Id"]] = round(values[0] if kind == "level" else sum(values), 1)
    return out
