"""`mysql2dynamo demo` (what `make demo` runs) ends ready to switch, with a clean verify."""

from __future__ import annotations

import json


def test_demo_migrates_under_traffic_and_verifies_clean(demo_run):
    run, report_path = demo_run
    assert run.returncode == 0, run.stderr[-4000:]
    report = json.loads(report_path.read_text())
    assert report["verify"] == {"missing": 0, "extra": 0, "different": 0, "in_flight": 0, "clean": True}
    assert report["changes_during_migration"] > 0 and report["traffic"]["rows_changed"] > 0
    assert report["cutover"]["ready"] is True and report["cutover"]["write_pause_ms"] > 0
    assert report["source_rows"] > 150 and report["target_items"] > 0
    assert report["plan"]["ready"] is True and report["plan"]["items_estimate"] > 0
    assert report["load"]["items"] > 0 and report["load"]["items_per_s"] > 0
    assert report["replay"]["lag_samples"] >= 10 and report["replay"]["lag_p99_ms"] >= 0
    assert "READY TO SWITCH" in run.stderr and "VERIFY CLEAN" in run.stderr
