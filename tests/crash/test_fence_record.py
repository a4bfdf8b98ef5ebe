"""A fence left up by a killed cutover: found by its record, lifted the way the record says, and
never taken from a cutover that still runs; the next cutover lifts it first, even one that then refuses."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from mysql2dynamo.cutover import Pipeline, run_cutover
from mysql2dynamo.fence import Fence, FenceUsageError, lift_left
from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.keymap.spec import mapping_from_config
from mysql2dynamo.replay.dead_letter import FolderDeadLetter, Poison
from mysql2dynamo.state import StreamState
from tests.conftest import mapping_text


def test_a_left_fence_is_lifted_with_the_recorded_unfence_hook(tmp_path):
    record, lifted = tmp_path / "cutover" / "s.fence.json", tmp_path / "lifted"
    fence = Fence("mysql://unused", "true", f"touch {lifted}", record)
    fence.raise_()
    assert record.exists()  # the process "dies" here: no handler runs, the record stays
    left = json.loads(record.read_text())
    assert left["pid"] == os.getpid() and left["unfence_hook"] == f"touch {lifted}"
    record.write_text(json.dumps({**left, "pid": _pid_of_ended()}))  # as if this process had been killed
    said = lift_left(record, "mysql://unused")
    assert lifted.exists() and not record.exists()
    assert "never lifted: lifted (ran the unfence hook" in said
    assert lift_left(record, "mysql://unused") is None  # nothing left


def test_a_fence_whose_cutover_still_runs_is_not_taken(tmp_path):
    record = tmp_path / "s.fence.json"
    Fence("mysql://unused", "true", "true", record).raise_()
    with pytest.raises(FenceUsageError, match=f"a cutover \\(pid {os.getpid()}\\) .* still runs"):
        lift_left(record, "mysql://unused")
    assert record.exists()


def _pid_of_ended() -> int:
    """The pid of a process that ran and has ended."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_cutover_that_refuses_still_lifts_the_fence_a_killed_one_left_up(local_stack, tmp_path):
    state = StreamState.of("s", tmp_path)
    mapping = mapping_from_config(mapping_text("d", "t"), "m.yaml")
    FolderDeadLetter(state.dead_letters).put([Poison("null_key", "d.items: key attribute PK is null", "1", "p", b"{}")])
    try:  # a cutover killed under its fence: read_only ON, its record, its process gone
        Fence(local_stack.mysql_url, record=state.fence_record).raise_()
        left = json.loads(state.fence_record.read_text())
        state.fence_record.write_text(json.dumps({**left, "pid": _pid_of_ended()}))
        report = run_cutover(Pipeline("s", local_stack.mysql_url, None, local_stack.client("dynamodb"), mapping,
                                      state), None)
        assert not report.ready and "1 dead letters" in report.reason  # refused before any fence of its own
        assert _read_only(local_stack.mysql_url) == 0 and not state.fence_record.exists()
        assert "lifted (SET GLOBAL read_only = OFF)" in report.left_fence
    finally:
        Fence(local_stack.mysql_url)._read_only(False)


def _read_only(url: str) -> int:
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@global.read_only")
            return int(cur.fetchone()[0])
    finally:
        conn.close()
