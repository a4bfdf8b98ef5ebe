"""CloudWatch metrics as embedded-metric-format (EMF) log lines: one JSON object per line that
CloudWatch Logs turns into metrics, so neither capture nor the replay Lambda makes an API call
(or waits on one) to publish them.

Invariant: a line names only metrics of METRICS, each with its unit, in NAMESPACE, with the
dimension `Stream` (the change stream): the alarms and the dashboard of `mysql2dynamo deploy`
read the same names from here. A count is what happened since the previous line (so CloudWatch's
Sum is right); a caller holding running totals passes them as `totals` and gets the increase.

Where the lines go is `M2D_METRICS_EMF`: `stdout` (the Lambda, whose log group extracts them), a
file path (appended to; the CloudWatch agent ships it next to MySQL), unset: nowhere.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping

NAMESPACE = "mysql2dynamo"
DIMENSION = "Stream"
EMF_ENV = "M2D_METRICS_EMF"
# name -> CloudWatch unit
METRICS = {
    "CaptureLagMs": "Milliseconds",  # binlog event time to now, for the newest captured change
    "CaptureRowsPerSecond": "Count/Second",
    "CaptureRecords": "Count",  # records put on the stream since the last line
    "ReplayApplied": "Count",
    "ReplayStale": "Count",  # older than the item already there: skipped by the version guard
    "DeadLetters": "Count",
}


def emf_line(stream: str, values: Mapping[str, float], timestamp_ms: int | None = None) -> str:
    """One EMF log line with `values` (names of METRICS) for `stream`."""
    unknown = sorted(set(values) - set(METRICS))
    if unknown:
        raise ValueError(f"not metrics of {NAMESPACE}: {unknown}; known: {', '.join(METRICS)}")
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    return json.dumps({
        "_aws": {"Timestamp": ts, "CloudWatchMetrics": [{
            "Namespace": NAMESPACE, "Dimensions": [[DIMENSION]],
            "Metrics": [{"Name": name, "Unit": METRICS[name]} for name in values]}]},
        DIMENSION: stream, **values}, separators=(",", ":"))


_last_totals: dict[tuple[str, str], float] = {}  # (stream, metric) -> the running total last sent


def emit(stream: str, values: Mapping[str, float], env: Mapping[str, str] | None = None,
         totals: Mapping[str, float] | None = None) -> None:
    """Write the line where `M2D_METRICS_EMF` says (nothing when it is unset); `totals` are running
    totals of this process, sent as their increase since the previous line."""
    target = (os.environ if env is None else env).get(EMF_ENV)
    if not target:
        return
    increases = {}
    for name, total in (totals or {}).items():
        increases[name] = total - _last_totals.get((stream, name), 0)
        _last_totals[(stream, name)] = total
    line = emf_line(stream, {**values, **increases}) + "\n"
    if target == "stdout":
        sys.stdout.write(line)
        sys.stdout.flush()
        return
    with open(target, "a", encoding="utf-8") as f:
        f.write(line)
