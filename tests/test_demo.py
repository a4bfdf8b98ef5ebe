"""`mysql2dynamo demo` (what `make demo` runs) ends ready to switch, with a clean verify; run as the cutover
bench's smoke run (tests/conftest.py `demo_run`)."""

from __future__ import annotations

import json


def test_demo_migrates_under_traffic_and_verifies_clean(demo_run):
    run, report_path = demo_run
    assert run.returncode == 0, run.stderr[-4000:]
    report = json.loads(report_path.read_text())
    # keys changing during the live verify may be pending there; they are compared under the fence
    assert {k: v for k, v in report["verify"].items() if k not in ("in_flight_keys", "pending")} == {
        "missing": 0, "extra": 0, "different": 0, "clean": True}
    assert report["changes_during_migration"] > 0 and report["traffic"]["rows_changed"] > 0
    cutover = report["cutover"]
    assert cutover["ready"] is True, cutover["reason"]
    # the outage runs from fence up to ready, and is made of its steps (drain, fenced check, fence hold)
    assert cutover["write_outage_ms"] >= sum(cutover["outage_steps_ms"].values()) > 0
    # the traffic kept changing rows during the live verify: there were changed keys to compare before the fence
    # (some differ there: changed again since, they are compared under the fence), and all are equal under it
    assert cutover["settled"]["source_keys"] > 0 and cutover["fenced_check"]["clean"] is True
    assert report["source_rows"] > 150 and report["target_items"] > 0
    assert report["plan"]["ready"] is True and report["plan"]["items_estimate"] > 0
    assert report["load"]["items"] > 0 and report["load"]["items_per_s"] > 0
    lags = report["replay"]["lag_samples_ms"]
    assert len(lags) >= 10 and report["replay"]["lag_p99_ms"] == sorted(lags)[round(0.99 * (len(lags) - 1))]
    assert "READY TO SWITCH" in run.stderr and "VERIFY DIFFERENCES FOUND" not in run.stderr
    assert "VERIFY CLEAN" in run.stderr or "VERIFY NO DIFFERENCES" in run.stderr


def test_the_cutover_bench_reads_the_demos_outage(demo_run):
    """The demo ran as the cutover bench's smoke run: its BENCH line is last and gives that outage (one size:
    the ratio of the smallest to the largest is 1)."""
    run, report_path = demo_run
    outage = json.loads(report_path.read_text())["cutover"]["write_outage_ms"]
    last = run.stdout.strip().splitlines()[-1]
    assert last.startswith("BENCH cutover ratio=1.00 ") and f"max_outage_ms={outage}" in last, last
