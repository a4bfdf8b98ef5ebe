"""The demo's HTML report opens in a real headless browser (Debian's chromium driven by Playwright)
with no network: no console errors, every chart drawn (an SVG with marks), and the figures it states
equal the JSON report's. The screenshot the README shows (docs/img/report.png) is made here when
M2D_UPDATE_SCREENSHOT=1 (otherwise into the test's own folder: a test run leaves the tree as it was)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")  # the Makefile installs Debian's package
SCREENSHOT = Path(__file__).parent.parent / "docs" / "img" / "report.png"


def _at(report: dict, path: str) -> object:
    value: object = report
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return KeyError
        value = value[part]
    return value


def _shown(value: object) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


def test_demo_report_page_renders_offline_with_the_reports_numbers(demo_run, tmp_path):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "chromium is missing: `make setup` installs it (apt-get install chromium)"
    run, report_path = demo_run
    assert run.returncode == 0, run.stderr[-2000:]
    page_path = report_path.with_suffix(".html")
    assert f"report: {report_path}, {page_path}" in run.stderr
    report = json.loads(report_path.read_text())
    assert report["timeline"]["phases"] and report["timeline"]["samples"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        errors: list[str] = []
        outside: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:")
                   else (outside.append(r.request.url), r.abort()))
        page.goto(page_path.as_uri(), wait_until="load")
        charts = page.locator(".js-plotly-plot")
        drawn = [charts.nth(i).locator("g.trace path[d]:not([d=''])").count() for i in range(charts.count())]
        figures = {td.get_attribute("data-path"): td.inner_text() for td in page.locator("td[data-path]").all()}
        headings = page.locator("h2").all_inner_texts()
        shot = SCREENSHOT if os.environ.get("M2D_UPDATE_SCREENSHOT") == "1" else tmp_path / SCREENSHOT.name
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert not errors and not outside
    assert headings == ["Phases", "Throughput and lag", "Plan and run", "Verify", "Cutover"]
    assert len(drawn) >= 6 and all(n > 0 for n in drawn), drawn
    compared = {path: shown for path, shown in figures.items() if _at(report, path) is not KeyError}
    assert len(compared) >= 12
    for path, shown in compared.items():
        assert shown == _shown(_at(report, path)), path


def test_status_watch_refreshes_with_rates(local_stack, stream_name):
    run = subprocess.run([str(Path(sys.executable).with_name("mysql2dynamo")), "status", "--stream", stream_name,
                          "--mysql-url", local_stack.mysql_url, "--watch", "0.1", "--count", "3"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    blocks = run.stdout.split("-- ")[1:]
    assert len(blocks) == 3 and all(f"stream {stream_name}" in b and "dead letters: 0" in b for b in blocks)
    assert "measuring" in blocks[0] and all("capture 0.0 records/s, replay 0.0 records/s" in b for b in blocks[1:])
