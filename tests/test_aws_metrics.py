"""The replay Lambda publishes its figures as embedded-metric-format lines on stdout (no API call): one
valid EMF line per batch, with the batch's applied, stale and dead-letter counts."""

from __future__ import annotations

import json

import pytest

from mysql2dynamo.ground.metrics import METRICS, NAMESPACE, emf_line
from mysql2dynamo.replay import handler as lambda_handler
from tests.replay.test_handler import LambdaContext, scenario  # noqa: F401 (the fixture)


def test_the_handler_writes_one_valid_emf_line_per_batch(scenario, monkeypatch, capsys):  # noqa: F811
    for name, value in {"M2D_CONFIG": str(scenario["config"]), "M2D_MANIFEST": str(scenario["snapshot"]),
                        "M2D_DEAD_LETTER": str(scenario["dead"]), "M2D_METRICS_EMF": "stdout",
                        "M2D_STREAM": "shop-changes"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(lambda_handler, "_runtime", None)
    lambda_handler.handler(scenario["event"], LambdaContext(60_000))
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert directive == {"Namespace": NAMESPACE, "Dimensions": [["Stream"]], "Metrics": [
        {"Name": "ReplayApplied", "Unit": "Count"}, {"Name": "ReplayStale", "Unit": "Count"},
        {"Name": "DeadLetters", "Unit": "Count"}]}
    # rows 1 and 4 updated, row 2 deleted (a tombstone); row 3 has a NULL key: a dead letter
    assert {k: line[k] for k in ("Stream", "ReplayApplied", "ReplayStale", "DeadLetters")} == {
        "Stream": "shop-changes", "ReplayApplied": 3, "ReplayStale": 0, "DeadLetters": 1}


def test_an_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="not metrics of mysql2dynamo: \\['Lag'\\]"):
        emf_line("s", {"Lag": 1})
    assert set(json.loads(emf_line("s", dict.fromkeys(METRICS, 0), 5))) == {"_aws", "Stream", *METRICS}
