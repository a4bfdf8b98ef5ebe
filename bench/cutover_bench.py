"""Cutover write outage against table size: the demo's whole migration at 10k, 50k and 200k source rows.

Each size runs `mysql2dynamo demo` (sample shop, live traffic, capture, snapshot, Spark load,
replay, cutover) and reads the cutover's `write_outage_ms`: fence up to READY (drain, fenced check
of the keys changed since the live verify, fence hold). The fenced part reads only changed keys,
so the outage should stay flat as the table grows: the ratio outage(smallest) / outage(largest) is
1.0 when flat, the old full fenced verify gave a ratio far below 1. Last line:
`BENCH cutover ratio=<outage at the smallest / at the largest size> ...`. `--smoke`: one tiny size,
nothing written to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys

from bench.report import arguments, bench_line, write_section
from mysql2dynamo.demo import run_demo

ROWS_PER_CUSTOMER = 3.75  # the sample shop: a customer, ~2 orders, 1-4 lines each (measured: 1000 -> 3755)
SIZES = (10_000, 50_000, 200_000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default=",".join(str(s) for s in SIZES), help="Source rows per run, comma-separated.")
    ap.add_argument("--rate", type=float, default=20.0, help="Application transactions per second meanwhile.")
    args = arguments(ap, {"sizes": "150", "rate": 5.0})
    sizes = tuple(int(s) for s in args.sizes.split(","))

    runs = {}
    for rows in sizes:
        customers = max(10, round(rows / ROWS_PER_CUSTOMER))
        report = run_demo(customers, args.rate, lambda m: print(m, file=sys.stderr, flush=True))
        cut = report["cutover"]
        if not cut["ready"]:
            raise SystemExit(f"cutover at {rows} rows was not ready: {cut['reason']}")
        runs[rows] = {"source_rows": report["source_rows"], "outage_ms": cut["write_outage_ms"],
                      "steps": cut["outage_steps_ms"], "keys_checked": cut["fenced_check"]["source_keys"],
                      "refused_writes": report["traffic"].get("operations", {}).get("refused_read_only", 0)}
        print(f"{report['source_rows']} source rows: write outage {cut['write_outage_ms']} ms "
              f"{cut['outage_steps_ms']}, {runs[rows]['keys_checked']} keys checked under the fence", flush=True)

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
