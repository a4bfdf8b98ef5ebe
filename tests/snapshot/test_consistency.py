"""The snapshot plus the binlog changes after its position equals the final table state, with the
sample traffic writing during the snapshot; a wrong position fails the same check."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from mysql2dynamo.cdc.server import current_position, server_info
from mysql2dynamo.cdc.snapshot import load_manifest
from mysql2dynamo.cdc.snapshot.options import SnapshotOptions
from mysql2dynamo.cdc.snapshot.run import run_snapshot
from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.keymap.schema import read_table_schema
from mysql2dynamo.sample.create import create_sample
from mysql2dynamo.sample.traffic import run_traffic


def _replay_check(snapcheck, manifest, schemas, changes, after, final) -> list[str]:
    """Strictly apply the changes after `after` to the snapshot rows; compare with `final`."""
    state = {t: snapcheck.snapshot_rows(manifest, f"{s.db}.{t}") for t, s in schemas.items()}
    problems = snapcheck.apply_strict(state, schemas, changes, after)
    for t in schemas:
        problems += snapcheck.diff_rows(t, state[t], final[t])
    return problems


@pytest.mark.parametrize("method", ["mariadb-snapshot", "ftwrl"])
def test_snapshot_plus_binlog_equals_final_state_under_traffic(local_stack, mysql_url, tmp_path, snapcheck, method):
    db = f"cons_{uuid.uuid4().hex[:8]}"
    create_sample(mysql_url, db, customers=300, seed=11)
    conn = connect(mysql_url)
    try:
        start = current_position(conn, server_info(conn))
        stop = threading.Event()
        stats = {}
        traffic = threading.Thread(target=lambda: stats.update(s=run_traffic(
            mysql_url, db, rate=60, seconds=120, seed=5, stop=stop.is_set)))
        traffic.start()
        try:
            time.sleep(1.5)  # transactions before the snapshot point ...
            doc = run_snapshot(
                local_stack.cdc_mysql_url, [f"{db}.{t}" for t in snapcheck.SAMPLE_TABLES], str(tmp_path / "snap"),
                SnapshotOptions(workers=2, chunk_rows=120, fetch_rows=50, row_group_rows=100, consistency=method,
                                max_rows_per_second=4000))  # ~1 s of dumping while the traffic writes
            time.sleep(1.5)  # ... and after it
        finally:
            stop.set()
            traffic.join()
        assert stats["s"].total_rows > 100, "the traffic did not write during the test"
        schemas = {t: read_table_schema(conn, db, t) for t in snapcheck.SAMPLE_TABLES}
        final = {t: snapcheck.mysql_rows(mysql_url, s) for t, s in schemas.items()}
        changes, txn_ends = snapcheck.binlog_changes(local_stack.cdc_mysql_url, db, start)
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
        conn.close()

    manifest = load_manifest(tmp_path / "snap")
    assert manifest.consistent and doc["points"][0]["method"] == method and len(doc["points"]) == 1
    assert manifest.ver == manifest.binlog.ver()
    assert sum(len(manifest.table(t).files) for t in manifest.table_names) >= 10  # really chunked
    snap_at = snapcheck.pos_key(manifest.binlog.file, manifest.binlog.pos)
    before = [p for p in txn_ends if p <= snap_at]
    after = [p for p in txn_ends if p > snap_at]
    assert len(before) >= 5 and len(after) >= 5, (len(before), len(after))  # writes on both sides
    # the snapshot changed during the dump: the final state differs from the snapshot
    assert _replay_check(snapcheck, manifest, schemas, [], (10**9, 0), final)

    # the right position: every change after it applies cleanly, and the result is the final state
    assert _replay_check(snapcheck, manifest, schemas, changes, snap_at, final) == []

    # a few transactions too early: changes the snapshot already holds are applied twice
    early = _replay_check(snapcheck, manifest, schemas, changes, before[-4], final)
    assert early, "replaying from 3 transactions before the snapshot point went unnoticed"
    # the position of the start of the traffic (well before the snapshot)
    assert _replay_check(snapcheck, manifest, schemas, changes, snapcheck.pos_key(start.file, start.pos), final)
    # a few transactions too late: changes are missing from the result
    late = _replay_check(snapcheck, manifest, schemas, changes, after[2], final)
    assert late, "replaying from 3 transactions after the snapshot point went unnoticed"
