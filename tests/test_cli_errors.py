"""Every command, given a bad input of its kind, ends in one line on stderr naming what failed and
where, with no traceback, and the documented exit code (2 usage/config, 3 runtime failure)."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mysql2dynamo.cli import main
from tests.test_command_help import _commands

CLI = str(Path(sys.executable).with_name("mysql2dynamo"))
MAPPING = str(Path(__file__).parent.parent / "mysql2dynamo" / "sample" / "mapping.yaml")
DOWN = "mysql://m2d:m2d@127.0.0.1:1/"  # nothing listens on port 1
BAD = "BAD_YAML"
USAGE, FAILURE = 2, 3

# command path -> (arguments after it, exit code, text the one line must contain)
CASES: dict[tuple[str, ...], tuple[list[str], int, str]] = {
    ("cleanup-tombstones",): (["--table", "shop", "--stream", "s", "--progress-table", "p"], USAGE, "pass --yes"),
    ("cutover",): (["--config", BAD], USAGE, "invalid YAML"),
    ("demo",): (["--rows", "many"], USAGE, "'--rows'"),
    ("create-tables",): (["--config", BAD], USAGE, "invalid YAML"),
    ("deploy",): (["--config", MAPPING, "--stream", "s", "--manifest", "s3://b/m.json", "--artifacts", "s3://b/a",
                   "--delete"], USAGE, "pass --yes"),
    ("emr", "bundle"): ([MAPPING], USAGE, "is a file"),
    ("emr", "jars"): (["--cluster-id", "j-1"], USAGE, "No such option"),
    ("emr", "status"): (["--cluster-id", "j-NOSUCH", "--step-id", "s-NOSUCH"], FAILURE, "DescribeStep"),
    ("emr", "submit"): (["--config", BAD, "--dry-run"], USAGE, "invalid YAML"),
    ("keymap", "analyze"): (["--config", BAD, "--manifest", "m"], USAGE, "invalid YAML"),
    ("keymap", "check"): (["--config", MAPPING, "--mysql-url", DOWN], FAILURE, "Can't connect to MySQL"),
    ("keymap", "preview"): (["--config", MAPPING, "--table", "shop.nosuch"], USAGE, "no rule for shop.nosuch"),
    ("load",): (["--config", BAD], USAGE, "invalid YAML"),
    ("local", "down"): (["--now"], USAGE, "No such option"),
    ("local", "env"): (["--shell", "fish"], USAGE, "No such option"),
    ("local", "status"): (["--all"], USAGE, "No such option"),
    ("local", "submit"): (["/nonexistent/job.py"], USAGE, "/nonexistent/job.py"),
    ("local", "up"): (["--fast"], USAGE, "No such option"),
    ("plan",): (["--config", MAPPING, "--mysql-url", DOWN], FAILURE, "Can't connect to MySQL"),
    ("replay",): (["--config", MAPPING, "--stream", "nosuch", "--mysql-url", "http://db"], USAGE,
                  "--mysql-url: not a MySQL URL"),
    ("report",): (["--from", "/nonexistent/report.json"], USAGE, "/nonexistent/report.json"),
    ("sample", "create"): (["--mysql-url", "mysql://m2d:m2d@db.example.com:3306/"], USAGE, "pass --yes"),
    ("sample", "traffic"): (["--mysql-url", DOWN, "--seconds", "1"], FAILURE, "Can't connect to MySQL"),
    ("snapshot",): (["--config", BAD], USAGE, "invalid YAML"),
    ("status",): (["--stream", "nosuch", "--endpoint-url", "http://127.0.0.1:1"], FAILURE,
                  "Could not connect to the endpoint URL"),
    ("stream",): (["--config", BAD, "--from-now"], USAGE, "invalid YAML"),
    ("verify",): (["--config", MAPPING, "--mysql-url", DOWN], FAILURE, "Can't connect to MySQL"),
}


def _run(path: tuple[str, ...], args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *path, *args], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                          timeout=120)


def test_every_command_fails_in_one_line_with_its_exit_code(local_stack, tmp_path):
    paths = [p for p in _commands(main) if p]
    groups = {p[:-1] for p in paths}
    assert sorted(CASES) == sorted(p for p in paths if p not in groups), "a command without a bad-input case"
    bad = tmp_path / "bad.yaml"
    bad.write_text("tables: [\n  shop.customers: {target: shop\n")
    env = {**os.environ, **local_stack.env(), "AWS_MAX_ATTEMPTS": "1"}
    cases = {p: ([str(bad) if a == BAD else a for a in args], code, text) for p, (args, code, text) in CASES.items()}
    with ThreadPoolExecutor(4) as pool:
        runs = dict(zip(cases, pool.map(lambda p: _run(p, cases[p][0], env), cases), strict=True))
    problems = []
    for path, run in runs.items():
        _, code, text = cases[path]
        lines = run.stderr.strip().splitlines()
        if (run.returncode, len(lines)) != (code, 1) or text not in run.stderr or "Traceback" in run.stderr:
            problems.append(f"{' '.join(path)}: exit {run.returncode} (want {code}), stderr: {run.stderr[-600:]!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback_and_global_options_go_before_or_after_the_verb(local_stack, where):
    args = ["plan", "--config", MAPPING, "--mysql-url", DOWN]
    run = _run((), ["--debug", "--output", "json", *args] if where == "before" else [*args, "--debug", "-o", "json"],
               {**os.environ, **local_stack.env()})
    assert run.returncode == FAILURE
    assert "Traceback" in run.stderr and "pymysql.err.OperationalError" in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith('{"error": "MySQL: ') and "Can't connect" in last
