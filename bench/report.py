"""Shared by the benchmarks: the BENCH line and its section of docs/benchmarks.md."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
from pathlib import Path

from mysql2dynamo.ground.files import atomic_write

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = ("# Benchmarks\n\nEach benchmark in `bench/` measures ours against a baseline in the same run and "
          "writes its own section here. Figures are from one run on the machine named in the section.\n\n"
          "Run them from the repository root: `make bench` (all, full size), or one as "
          "`.venv/bin/python -m bench.<name>` (`--help` lists its sizes).\n")


def cpu_seconds(pid: int | None) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc; 0 where unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_line(name: str, ratio: float, figures: dict[str, object]) -> str:
    return f"BENCH {name} ratio={ratio:.2f} " + " ".join(f"{k}={v}" for k, v in figures.items())


def write_section(name: str, line: str, details: list[str], *, smoke: bool) -> None:
    """Replace the `## name` section of docs/benchmarks.md (other sections stay as they are); a smoke run's
    figures are not figures, so it writes nothing."""
    if smoke:
        return
    text = DOC.read_text() if DOC.exists() else HEADER
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    body = "\n".join([f"## {name}", "", f"Run {dt.date.today()} on {machine}.", "", "```", line, "```", "",
                      *details, ""])
    pattern = re.compile(rf"^## {re.escape(name)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(body + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + body
    atomic_write(DOC, text)


def arguments(ap: argparse.ArgumentParser, smoke: dict[str, object]) -> argparse.Namespace:
    """A bench's arguments; `--smoke` swaps its sizes for `smoke`'s tiny ones (seconds, figures not written).

    `make test` runs every bench that way, so a bench that no longer runs fails CI instead of rotting.
    """
    sizes = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in smoke.items())
    ap.add_argument("--smoke", action="store_true",
                    help=f"only check that the bench runs: {sizes}, docs/benchmarks.md left alone")
    args = ap.parse_args()
    if args.smoke:
        for k, v in smoke.items():
            setattr(args, k, v)
    return args
