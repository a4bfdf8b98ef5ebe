"""Cutover write outage against table size: the demo's whole migration at 10k, 50k and 200k source rows.

Each size runs `mysql2dynamo demo` in a process of its own (sample shop, live traffic, capture,
snapshot, Spark load, replay, cutover; its output passes through on stderr) and reads the
cutover's `write_outage_ms` from the demo's JSON report: fence up to READY (drain, fenced check
of the keys changed since the live verify, fence hold). The fenced part reads only changed keys,
so the outage should stay flat as the table grows: the ratio outage(smallest) / outage(largest) is
1.0 when flat, the old full fenced verify gave a ratio far below 1. Last line:
`BENCH cutover ratio=<outage at the smallest / at the largest size> ...`. `--smoke`: one small size,
nothing written to docs/benchmarks.md; it is the demo `make test` checks (tests/conftest.py
`demo_run`, with `--reports DIR`), so the suite runs the demo once.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.report import arguments, bench_line, write_section

CLI = str(Path(sys.executable).with_name("mysql2dynamo"))

ROWS_PER_CUSTOMER = 8.0  # the sample shop: a customer, ~2 orders of 1-4 lines: 1 + 2 * (1 + 2.5) (2667 -> 21603)
SIZES = (10_000, 50_000, 200_000)


def _run_sizes(sizes: tuple[int, ...], rate: float, reports: Path) -> dict[int, dict]:
    runs = {}
    for rows in sizes:
        customers = max(10, round(rows / ROWS_PER_CUSTOMER))
        path = reports / f"report-{rows}.json"
        demo = subprocess.run([CLI, "demo", "--rows", str(customers), "--rate", f"{rate:g}", "--report", str(path)],
                              stdout=sys.stderr)
        if not path.exists():
            raise SystemExit(f"the demo at {rows} rows failed (exit {demo.returncode}) before its report")
        report = json.loads(path.read_text())
        cut = report["cutover"]
        if not cut["ready"]:
            raise SystemExit(f"cutover at {rows} rows was not ready: {cut['reason']}")
        runs[rows] = {"source_rows": report["source_rows"], "outage_ms": cut["write_outage_ms"],
                      "steps": cut["outage_steps_ms"], "keys_checked": cut["fenced_check"]["source_keys"],
                      "refused_writes": report["traffic"].get("operations", {}).get("refused_read_only", 0)}
        print(f"{report['source_rows']} source rows: write outage {cut['write_outage_ms']} ms "
              f"{cut['outage_steps_ms']}, {runs[rows]['keys_checked']} keys checked under the fence", flush=True)
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default=",".join(str(s) for s in SIZES), help="Source rows per run, comma-separated.")
    ap.add_argument("--rate", type=float, default=20.0, help="Application transactions per second meanwhile.")
    ap.add_argument("--reports", type=Path, default=None,
                    help="Keep each demo's JSON and HTML report here (report-<rows>.json); default: a temp folder.")
    args = arguments(ap, {"sizes": "560", "rate": 15.0})
    sizes = tuple(int(s) for s in args.sizes.split(","))
    with tempfile.TemporaryDirectory(prefix="m2d-cutover-bench-") as temporary:
        runs = _run_sizes(sizes, args.rate, args.reports or Path(temporary))
    smallest, largest = runs[sizes[0]], runs[sizes[-1]]
    ratio = smallest["outage_ms"] / largest["outage_ms"]
    line = bench_line("cutover", ratio, {
        **{f"outage_ms_{r['source_rows']}": r["outage_ms"] for r in runs.values()},
        "rate": args.rate, "max_outage_ms": max(r["outage_ms"] for r in runs.values())})
    write_section("cutover", line, [
        f"- `mysql2dynamo demo` at {', '.join(str(r['source_rows']) for r in runs.values())} source rows, "
        f"{args.rate:g} application transactions/s; the outage is fence up to READY.",
        *[f"- {r['source_rows']} rows: {r['outage_ms']} ms ({', '.join(f'{k} {v}' for k, v in r['steps'].items())})"
          f"; {r['keys_checked']} keys checked under the fence; {r['refused_writes']} application writes refused"
          for r in runs.values()],
        "- ratio = outage at the smallest size / at the largest: 1.0 is flat.",
    ], smoke=args.smoke)
    print(line)


if __name__ == "__main__":
    main()
