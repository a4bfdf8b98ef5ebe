"""Every bench in bench/ still runs: its smoke mode (tiny sizes, docs/benchmarks.md untouched) ends with
its BENCH line. `make bench` runs the same benches at full size. The cutover bench's smoke run is the
demo tests/test_demo.py checks (the `demo_run` fixture), so it is checked there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mysql2dynamo.local.config import StackConfig

ROOT = Path(__file__).resolve().parent.parent
BENCHES = sorted(p.stem for p in (ROOT / "bench").glob("*_bench.py") if p.stem != "cutover_bench")


@pytest.mark.parametrize("bench", BENCHES)
def test_bench_smoke(bench: str, local_stack: StackConfig) -> None:
    doc = ROOT / "docs" / "benchmarks.md"
    before = doc.read_text()
    run = subprocess.run([sys.executable, "-m", f"bench.{bench}", "--smoke"], cwd=ROOT, capture_output=True,
                         text=True, timeout=600, env={**os.environ, **local_stack.env()})
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    last = run.stdout.strip().splitlines()[-1]
    assert last.startswith(f"BENCH {bench.removesuffix('_bench')} ratio="), last
    assert doc.read_text() == before, "a smoke run must not write figures"
