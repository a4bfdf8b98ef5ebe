"""An interrupted snapshot (the whole process group killed -9) resumes with only the missing chunks,
keeps the finished ones byte for byte, and refuses to mix two snapshots."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mysql2dynamo.cdc.snapshot import load_manifest
from mysql2dynamo.cdc.snapshot.consistent import SnapshotError
from mysql2dynamo.cdc.snapshot.manifest import STATE
from mysql2dynamo.cdc.snapshot.options import SnapshotOptions
from mysql2dynamo.cdc.snapshot.run import run_snapshot
from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.keymap.schema import read_table_schema
from mysql2dynamo.sample.create import create_sample


def _state(path):
    try:
        return json.loads((path / STATE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def test_resume_after_kill_dumps_only_missing_chunks_and_refuses_to_mix(local_stack, mysql_url, fresh_db, tmp_path,
                                                                         snapcheck):
    create_sample(mysql_url, fresh_db, customers=150, seed=3)
    tables = [f"{fresh_db}.{t}" for t in snapcheck.SAMPLE_TABLES]
    dest = tmp_path / "snap"
    cli = str(Path(sys.executable).with_name("mysql2dynamo"))
    cmd = [cli, "snapshot", "--mysql-url", local_stack.cdc_mysql_url, "--tables", ",".join(tables), "--to", str(dest),
           "--workers", "2", "--chunk-rows", "60", "--max-rows-per-second", "300"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    done = 0
    while time.monotonic() < deadline:
        st = _state(dest)
        done = sum(len(t["done"]) for t in st["tables"].values()) if st else 0
        if done >= 3:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the coordinator and its workers, mid-run
    proc.wait()
    st = _state(dest)
    total = sum(len(t["chunks"]) for t in st["tables"].values())
    finished = {(n, i): d for n, t in st["tables"].items() for i, d in t["done"].items()}
    assert 3 <= len(finished) < total, (len(finished), total)
    assert not (dest / "manifest.json").exists()
    before = {f["path"]: (f["sha256"], os.stat(dest / f["path"]).st_mtime_ns)
              for d in finished.values() for f in d["files"]}

    # not resumable by accident, and never into something else
    with pytest.raises(SnapshotError, match="interrupted snapshot.*--resume"):
        run_snapshot(local_stack.cdc_mysql_url, tables, str(dest))
    with pytest.raises(SnapshotError, match="refusing to mix"):
        run_snapshot(local_stack.cdc_mysql_url, tables[:2], str(dest), resume=True)
    conn = connect(mysql_url, fresh_db)
    with conn.cursor() as cur:
        cur.execute("ALTER TABLE orders ADD COLUMN extra INT NULL")
        with pytest.raises(SnapshotError, match="schema of .*orders changed"):
            run_snapshot(local_stack.cdc_mysql_url, tables, str(dest), resume=True)
        cur.execute("ALTER TABLE orders DROP COLUMN extra")

    doc = run_snapshot(local_stack.cdc_mysql_url, tables, str(dest), SnapshotOptions(workers=2), resume=True)
    m = load_manifest(dest)
    assert [p["id"] for p in doc["points"]] == [0, 1] and not m.consistent
    assert m.binlog.pos == doc["points"][0]["pos"] and m.ver == doc["points"][0]["ver"]  # replay from the first
    for name in tables:
        for c in doc["tables"][name]["chunks"]:
            assert c["point"] == (0 if (name, str(c["index"])) in finished else 1)
        for f in m.table(name).files:
            if f.path in before:  # finished before the kill: not dumped again
                assert (f.sha256, os.stat(dest / f.path).st_mtime_ns) == before[f.path] and f.point == 0
            else:
                assert f.point == 1 and f.ver == doc["points"][1]["ver"]
        schema = read_table_schema(conn, *name.split(".", 1))
        assert snapcheck.diff_rows(name, snapcheck.snapshot_rows(m, name),
                                   snapcheck.mysql_rows(mysql_url, schema)) == []
    listed = {f.path for n in tables for f in m.table(n).files}
    on_disk = {str(p.relative_to(dest)) for p in dest.rglob("*.parquet")}
    assert on_disk == listed  # partial files of the killed run were removed
    assert not (dest / STATE).exists()

    # a resume that finds the work done: the run was killed after its manifest, maybe before its state went
    (dest / STATE).write_text(json.dumps({"snapshot_id": doc["snapshot_id"]}))
    again = run_snapshot(local_stack.cdc_mysql_url, tables, str(dest), resume=True)
    assert again["snapshot_id"] == doc["snapshot_id"] and again["tables"].keys() == doc["tables"].keys()
    assert not (dest / STATE).exists() and {str(p.relative_to(dest)) for p in dest.rglob("*.parquet")} == listed
    with pytest.raises(SnapshotError, match="exists: that snapshot is complete"):
        run_snapshot(local_stack.cdc_mysql_url, tables, str(dest))
    with pytest.raises(SnapshotError, match="a complete snapshot of .* not of"):
        run_snapshot(local_stack.cdc_mysql_url, tables[:2], str(dest), resume=True)
    conn.close()
