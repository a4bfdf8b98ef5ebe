"""`mysql2dynamo cutover`: the switch, with the application's write outage measured end to end.

Invariant: READY is reported only when DynamoDB equals MySQL at the fence position, the fence held
(the binlog did not move under it), no dead letter waits and capture started at or before the
snapshot; the fence is lifted on every other way out (error, SIGTERM, SIGINT), and the report says
whether it was.

0. a fence a killed cutover left up (its record in `StreamState.fence_record`) is lifted first and
   reported (`left_fence`); while the cutover that raised it still runs, refuse;
1. refuse while dead letters wait or capture started after the snapshot; wait until capture is
   under `max_capture_bytes` of binlog behind and the replay lag under `max_lag_ms` (lags, not
   "no record after the checkpoint");
2. live verify (Spark, before the fence): DynamoDB equals the snapshot except the keys changed
   since its position, and no changed key diverges (keys still pending under the live writes are
   compared under the fence, step 5); the binlog from there on is read ahead and, once the replay has applied it,
   its keys are compared and the equal ones settled (`fenced_check`);
3. fence (`fence.Fence`), note the fence position;
4. drain: the stream acknowledged the fence position and every shard applied every record holding
   a position at or before it (`status.replay_status`);
5. fenced check: only the keys touched since the live verify's position, O(changes)
   (`--full-verify`: the whole verify under the fence instead);
6. the fence held: the binlog is where the fence left it, at least `hold_window_s` after raising it;
7. READY: the write outage ends here (`write_outage_ms`, with each step's share); when not ready it
   ends when the fence is lifted;
8. tombstones at or below the fence's ver are removed after the switch (readers filtering
   `_deleted` do not see them; TTL removes them too), or under the fence when asked.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.cdc.progress import ProgressTable, parse_position
from mysql2dynamo.cdc.server import current_position, head_position, server_info
from mysql2dynamo.fence import Account, Fence, lift_left
from mysql2dynamo.fenced_check import FencedCheck
from mysql2dynamo.ground.files import atomic_write
from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.ground.progress import Bar
from mysql2dynamo.ground.waiting import wait_until
from mysql2dynamo.jobs.verify import VerifyOptions
from mysql2dynamo.keymap.spec import Mapping
from mysql2dynamo.state import StreamState
from mysql2dynamo.status import capture_status, captured_position, dead_letter_count, replay_status
from mysql2dynamo.tombstone_floor import FloorError, raise_floor

# the cutover's verify (live, or --full-verify under the fence) leaves tombstones out: readers filtering
# `_deleted` do not see them, they go after the switch, and a tombstone where MySQL has the row still
# counts (as missing)
CUTOVER_VERIFY = VerifyOptions(ignore_tombstones=True)


class CutoverError(RuntimeError):
    pass


@dataclass
class CutoverOptions:
    max_lag_ms: int = 2000
    max_capture_bytes: int = 1_000_000  # binlog bytes capture may be behind when the fence goes up
    wait_timeout_s: float = 300.0
    fence_hook: str | None = None  # a command that stops the application's writes (instead of read_only)
    unfence_hook: str | None = None
    fence_accounts: tuple[Account, ...] = ()  # lock these accounts and kill their sessions (instead of read_only)
    verify: bool = True  # live verify before the fence and the fenced check of the keys changed since
    settle: bool = True  # compare the changed keys before the fence too: under it, only what differed or changed
    full_verify: bool = False  # the whole verify under the fence instead (its time grows with the table)
    tombstones_under_fence: bool = False  # remove tombstones before READY (counted in the outage)
    release_fence: bool = False  # lift the fence even when ready (demos, rehearsals)
    hold_window_s: float = 0.2  # the binlog must not move for at least this long under the fence
    snapshot_position: str | None = None  # the bulk load's snapshot: capture must have started at or before it
    poll_s: float = 0.02


@dataclass
class Pipeline:
    """What the cutover acts on: the source, the stream and its progress, the targets and the mapping."""

    stream: str
    admin_url: str
    kinesis: object
    dynamodb: object
    mapping: Mapping
    state: StreamState
    progress: ProgressTable | None = None

    @property
    def targets(self) -> list[str]:
        return sorted({r.target for r in self.mapping.rules})


@dataclass
class CutoverReport:
    ready: bool = False
    reason: str | None = None  # why not ready
    write_outage_ms: float | None = None  # fence up -> ready (or -> fence down when not ready)
    outage_steps_ms: dict[str, float] = field(default_factory=dict)  # each step's share of it
    fence_position: str | None = None
    fence: str | None = None  # how the fence went up (read_only, the accounts locked and sessions killed, the hook)
    fence_lifted: bool = False
    left_fence: str | None = None  # a fence a killed cutover had left up, lifted before this one started
    waited_for_lag_s: float = 0.0
    baseline: dict | None = None  # the live verify before the fence
    settled: dict | None = None  # the comparison of the keys changed since, before the fence
    fenced_check: dict | None = None
    verify: dict | None = None  # the full fenced verify (--full-verify)
    tombstones_removed: int = 0
    tombstones_when: str | None = None  # "under the fence" | "after the switch"

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _wait(what: str, done: Callable[[], bool], timeout: float, poll: float) -> None:
    if not wait_until(done, timeout, poll):
        raise CutoverError(f"gave up waiting for {what} after {timeout:.0f}s")


def preflight(p: Pipeline, options: CutoverOptions) -> str | None:
    """Why the cutover must not start (None: it may)."""
    dead = dead_letter_count(p.state, p.progress)
    if dead:
        return (f"{dead} dead letters wait in {p.state.dead_letters}{' and ' + str(p.progress) if p.progress else ''}: "
                "their changes are not in DynamoDB; fix and re-apply them (docs/replay.md) first")
    if options.snapshot_position and p.progress is not None:
        held = p.progress.capture()
        snapshot = parse_position(options.snapshot_position)
        if held is None or held.started is None:
            return f"capture has not recorded where it started in {p.progress}: start `mysql2dynamo stream` first"
        if held.started > snapshot:
            return (f"capture started at {held.started}, after the snapshot at {snapshot}: the changes in between "
                    "are in neither; take a new snapshot now that capture runs, and load it")
    return None


def run_cutover(p: Pipeline, verify: Callable[[], dict] | None, options: CutoverOptions | None = None,
                say: Callable[[str], None] = lambda m: None, report: CutoverReport | None = None) -> CutoverReport:
    """`verify`: the live (Spark) verify, returning a VerifyReport dict. `report` is filled in as the
    cutover goes, so a caller holds it even when an error or a signal ends it."""
    options = options or CutoverOptions()
    report = report if report is not None else CutoverReport()
    fence = Fence(p.admin_url, options.fence_hook, options.unfence_hook, p.state.fence_record,
                  list(options.fence_accounts))
    report.left_fence = lift_left(p.state.fence_record, p.admin_url)
    if report.left_fence:
        say(f"cutover: {report.left_fence}")
    fence.check()  # accounts that cannot be fenced are refused now, not after the live verify
    report.reason = preflight(p, options)
    if report.reason:
        say(f"cutover: NOT READY: {report.reason}")
        return _saved(p, report)

    def lags_small() -> bool:
        c = capture_status(p.state, p.admin_url, p.progress)
        r = replay_status(p.state, p.kinesis, p.progress)
        # capture's lag in binlog bytes (measured now; its seconds behind come from a metrics file up to
        # seconds old), the replay's as the age of the oldest record waiting on any shard
        return (c["binlog_bytes_behind"] is not None and c["binlog_bytes_behind"] < options.max_capture_bytes
                and r["lag_ms"] < options.max_lag_ms)

    started = time.monotonic()
    say(f"cutover: waiting until capture is under {options.max_capture_bytes} binlog bytes behind and replay lag "
        f"under {options.max_lag_ms} ms")
    _wait("small lags", lags_small, options.wait_timeout_s, 0.5)
    check = None
    if options.verify and not options.full_verify and verify is not None:
        check = _baseline(p, verify, report, say)
        if check is None:
            return _saved(p, report)
        if options.settle:
            _applied_through(p, check.read_to, options)
            report.settled = check.settle().as_dict()
            say(f"cutover: before the fence, {report.settled['source_keys']} changed keys compared, "
                f"{len(check.unequal)} left for the check under the fence")
        _wait("small lags after the live verify", lags_small, options.wait_timeout_s, 0.5)
    report.waited_for_lag_s = round(time.monotonic() - started, 2)

    steps = report.outage_steps_ms
    drain = Bar("cutover drain", None, "shards", interval=1.0)  # before the fence: its set-up is not outage
    fence.raise_()
    report.fence = fence.what
    try:
        final = head_position(p.admin_url)
        report.fence_position = str(final)
        say(f"cutover: writes fenced at {final}; draining")
        lap = time.monotonic()
        with drain:
            _applied_through(p, final, options, drain)
        steps["drain"] = _ms(lap)
        lap = time.monotonic()
        report.ready = _fenced_compare(check, verify, options, report, say)
        steps["fenced_check"] = _ms(lap)
        lap = time.monotonic()
        if report.ready:
            report.ready = _fence_held(p, fence, final, options, report)
        steps["fence_hold"] = _ms(lap)
        if report.ready and options.tombstones_under_fence:
            lap = time.monotonic()
            _remove_tombstones(p, final, report, "under the fence")
            steps["tombstones"] = _ms(lap)
        if report.ready:
            report.write_outage_ms = _ms(fence.raised_at)
    except BaseException as e:
        report.reason = report.reason or f"{type(e).__name__}: {e}"
        _lift(fence, report)
        _saved(p, report)
        raise
    if not report.ready or options.release_fence:
        _lift(fence, report)
    else:
        fence.hand_over()
    if report.ready and not options.tombstones_under_fence:
        try:
            _remove_tombstones(p, final, report, "after the switch")
        except FloorError as e:  # READY stands: readers filter `_deleted`, and TTL removes the tombstones
            report.tombstones_when = f"not removed: {e}"
            say(f"cutover: tombstones not removed ({e}); `mysql2dynamo cleanup-tombstones` removes them later")
    say(f"cutover: READY TO SWITCH, write outage {report.write_outage_ms} ms ({steps})" if report.ready else
        f"cutover: NOT READY ({report.reason}); fence lifted, write outage {report.write_outage_ms} ms")
    return _saved(p, report)


def _applied_through(p: Pipeline, position: BinlogPosition, options: CutoverOptions, bar: Bar | None = None) -> None:
    """Wait until the stream acknowledged `position` and every shard applied every record up to it; `bar`
    shows the shards drained and the oldest waiting record's age from the statuses the wait reads anyway."""

    def drained() -> bool:
        r = replay_status(p.state, p.kinesis, p.progress, fence=position)
        if bar is not None:
            waiting = [s["iterator_age_ms"] for s in r["shards"].values() if s["pending"]]
            bar.update(len(r["shards"]) - len(waiting), len(r["shards"]), f"lag {max(waiting, default=0)} ms")
        return not r["pending"]

    _wait(f"the stream to acknowledge {position}",
          lambda: (at := captured_position(p.state, p.progress)[0]) is not None and at >= position,
          options.wait_timeout_s, options.poll_s)
    _wait(f"the replay to apply every record up to {position}", drained, options.wait_timeout_s, options.poll_s)


def _ms(since: float) -> float:
    return round((time.monotonic() - since) * 1000, 1)


def _lift(fence: Fence, report: CutoverReport) -> None:
    was_up = fence.up
    fence.lift()
    report.fence_lifted = fence.lifted
    if was_up and report.write_outage_ms is None:  # not ready: the outage lasted until the fence came down
        report.write_outage_ms = round((fence.lifted_at - fence.raised_at) * 1000, 1)


def _saved(p: Pipeline, report: CutoverReport) -> CutoverReport:
    atomic_write(p.state.cutover_report, json.dumps(report.as_dict(), indent=2, default=str))
    return report


def _baseline(p: Pipeline, verify: Callable[[], dict], report: CutoverReport,
              say: Callable[[str], None]) -> FencedCheck | None:
    """The live verify, and the binlog read from its position up to now (None: not clean, refuse)."""
    say("cutover: live verify before the fence")
    result = verify()
    flying = result.get("in_flight_keys") or []
    report.baseline = {k: result.get(k) for k in ("position", "target_items", "missing", "extra", "different",
                                                   "pending", "divergent", "clean", "seconds")}
    report.baseline["in_flight_keys"] = len(flying)
    if result.get("divergent"):  # pending keys (changing under live writes) are among `flying`: judged under the fence
        report.reason = "the live verify found differences (see baseline); nothing was fenced"
        return None
    if not result.get("position"):
        report.reason = "the live verify reported no snapshot position: the fenced check has no baseline"
        return None
    check = FencedCheck(p.admin_url, p.mapping, p.dynamodb, parse_position(result["position"]), flying)
    check.collect()
    return check


def _fenced_compare(check: FencedCheck | None, verify: Callable[[], dict] | None, options: CutoverOptions,
                    report: CutoverReport, say: Callable[[str], None]) -> bool:
    if check is not None:
        check.collect()
        result = check.compare()
        report.fenced_check = result.as_dict()
        say(f"cutover: fenced check of {result.source_keys} changed keys ({result.rows_read} rows, "
            f"{result.items_read} items read): {'equal' if result.clean else 'DIFFERENCES'}")
        for d in result.differences:
            say(f"  {d['kind']}: {json.dumps(d, default=str, ensure_ascii=False)}")
        if not result.clean:
            report.reason = (f"the fenced check found {result.missing} missing, {result.extra} extra, "
                             f"{result.different} different, {result.rejected} rejected (see fenced_check)")
        return result.clean
    if options.verify and options.full_verify and verify is not None:
        report.verify = verify()
        if not report.verify.get("clean"):
            report.reason = "the full verify under the fence found differences (see verify)"
        return bool(report.verify.get("clean"))
    return True


def _fence_held(p: Pipeline, fence: Fence, final: BinlogPosition, options: CutoverOptions,
                report: CutoverReport) -> bool:
    """The binlog has not moved since the fence went up (watched for at least `hold_window_s`)."""
    time.sleep(max(0.0, fence.raised_at + options.hold_window_s - time.monotonic()))
    conn = connect(p.admin_url)
    try:
        now = current_position(conn, server_info(conn))
        if now == final:
            return True
        report.reason = (f"the fence did not hold: the binlog moved from {final} to {now} under it. "
                         f"{fence.writers(conn)}")
    finally:
        conn.close()
    return False


def _remove_tombstones(p: Pipeline, fence: BinlogPosition, report: CutoverReport, when: str) -> None:
    """Tombstones at or below the fence's ver: every shard has applied every change up to it. With a progress
    table the floor is raised first (`tombstone_floor`), so a change that comes again is dropped; without
    one, only the tables' floor tag is set (the local replay reads no floor: stop it after the switch)."""
    from mysql2dynamo.jobs.targets import TOMBSTONE_FLOOR_TAG, tag_tables
    from mysql2dynamo.replay.tombstones import cleanup_tombstones

    if p.progress is not None:
        cleaned = raise_floor(p.progress, p.kinesis, p.dynamodb, p.targets, fence).cleaned
        report.tombstones_removed += sum(s.removed for s in cleaned.values())
    else:
        tag_tables(p.dynamodb, p.targets, TOMBSTONE_FLOOR_TAG, str(fence.ver()))
        for table in p.targets:
            report.tombstones_removed += cleanup_tombstones(p.dynamodb, table, low_water=fence.ver()).removed
    report.tombstones_when = when
