"""`mysql2dynamo status`: how far behind capture and replay are, measured, not guessed.

Positions come from the DynamoDB progress table when one is configured (`cdc.progress`: where the
pipeline really runs, Lambda included), else from the local processes' files (`state`). Figures
(lag seconds, rates, counts) come from the local processes' metrics files when they wrote them,
else, with a progress table, from CloudWatch (`cloudwatch`: the metrics capture and replay publish
and the replay Lambda's IteratorAge). Every answer names the source of each part (`sources`).

- capture lag: binlog bytes between the server's current position and the stream's acknowledged
  position, and the seconds behind the last change the stream read;
- replay lag: per shard, the applied sequence number and the age of the oldest record waiting after
  it (Lambda's IteratorAge), with Kinesis' MillisBehindLatest;
- the replay's applied/stale/tombstone counts, the dead letters waiting for a person, the last
  verify's verdict with its counts and the last cutover's write outage, each with when it ended.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from mysql2dynamo import cloudwatch
from mysql2dynamo.cdc.checkpoint import FileCheckpointStore
from mysql2dynamo.cdc.envelope import changes_in
from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.cdc.progress import ProgressTable
from mysql2dynamo.cdc.server import current_position, server_info
from mysql2dynamo.cdc.stream import binlog_bytes_behind
from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.state import StreamState, last_verify_report


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def captured_position(state: StreamState, progress: ProgressTable | None) -> tuple[BinlogPosition | None, float | None]:
    """The position the stream has acknowledged, and when it was saved."""
    held = progress.capture() if progress is not None else None
    if held is not None:
        return held.position, held.time
    saved = FileCheckpointStore(state.capture_checkpoint).load()
    return (saved.position, saved.updated_at) if saved else (None, None)


def cloudwatch_figures(state: StreamState, progress: ProgressTable | None) -> dict | None:
    """CloudWatch's figures when the pipeline runs elsewhere: a progress table, and a local metrics
    file missing (capture's or the replay's); None otherwise (nothing is asked of CloudWatch)."""
    if progress is None or (state.capture_metrics.exists() and state.replay_metrics.exists()):
        return None
    return cloudwatch.read_figures(cloudwatch.client(), state.stream)


def _local_or(path: Path, figures: dict | None) -> tuple[dict, str]:
    """The local metrics file's figures and its name, else CloudWatch's source (or that there are none)."""
    local = _json(path)
    if local is not None:
        return local, f"local file {path}"
    return {}, figures["source"] if figures else "none (no local metrics file, no progress table)"


def capture_status(state: StreamState, mysql_url: str, progress: ProgressTable | None = None,
                   figures: dict | None = None) -> dict:
    """`figures`: CloudWatch's (`cloudwatch_figures`), used when capture wrote no local metrics file."""
    position, saved_at = captured_position(state, progress)
    metrics, source = _local_or(state.capture_metrics, figures)
    if not metrics and figures:
        lag_ms = figures["capture_lag_ms"]
        metrics = {"lag_seconds": None if lag_ms is None else round(lag_ms / 1000, 1),
                   "records_per_s": figures["capture_rows_per_s"]}
    conn = connect(mysql_url)
    try:
        info = server_info(conn)
        head = current_position(conn, info)
        behind = binlog_bytes_behind(conn, info, position) if position else None
    finally:
        conn.close()
    return {"server_position": str(head), "checkpoint": str(position) if position else None,
            "checkpoint_age_s": round(time.time() - saved_at, 1) if saved_at else None,
            "binlog_bytes_behind": behind, "seconds_behind": metrics.get("lag_seconds"),
            "records": metrics.get("records"), "records_per_s": metrics.get("records_per_s"),
            "warnings": metrics.get("warnings", []), "progress_table_error": metrics.get("progress_table_error"),
            "figures_from": source, "_head": head, "_checkpoint": position}


def applied_sequences(state: StreamState, progress: ProgressTable | None, shards: list[str]) -> dict[str, str | None]:
    """The last applied sequence number of every shard (progress table, else the local runner's file)."""
    if progress is not None:
        held = {s: progress.shard(s) for s in shards}
        if any(held.values()):
            return {s: p.sequence if p else None for s, p in held.items()}
    files = _json(state.replay_checkpoints) or {}
    return {s: files.get(s) for s in shards}


def iterator_after(kinesis, stream: str, shard: str, applied: str | None) -> str:
    """A shard iterator at the first record after `applied` (None: the shard's oldest record)."""
    kw = ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": applied} if applied
          else {"ShardIteratorType": "TRIM_HORIZON"})
    return kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, **kw)["ShardIterator"]


def first_waiting(kinesis, stream: str, shard: str, applied: str | None) -> tuple[dict | None, int]:
    """The first record after `applied` on the shard (None: none), and Kinesis' MillisBehindLatest."""
    it = iterator_after(kinesis, stream, shard, applied)
    for _ in range(10):  # Kinesis may answer empty while behind: follow the iterator a little
        resp = kinesis.get_records(ShardIterator=it, Limit=1)
        if resp["Records"] or not resp.get("MillisBehindLatest") or not resp.get("NextShardIterator"):
            return (resp["Records"] or [None])[0], resp.get("MillisBehindLatest", 0)
        it = resp["NextShardIterator"]
    return None, resp.get("MillisBehindLatest", 0)


def replay_status(state: StreamState, kinesis, progress: ProgressTable | None = None,
                  fence: BinlogPosition | None = None, figures: dict | None = None) -> dict:
    """Per shard: applied sequence, the age of the first waiting record; with `fence`, whether a record
    holding a position at or before it still waits (`pending`), else whether any record waits.
    Without `fence`, the lag is also the replay Lambda's IteratorAge when CloudWatch has it (read here
    unless `figures` are given)."""
    if figures is None and fence is None:
        figures = cloudwatch_figures(state, progress)
    shard_ids = [s["ShardId"] for s in kinesis.list_shards(StreamName=state.stream)["Shards"]]
    applied = applied_sequences(state, progress, shard_ids)
    shards = {}
    now = time.time()
    for sid in shard_ids:
        record, behind = first_waiting(kinesis, state.stream, sid, applied[sid])
        age = int((now - record["ApproximateArrivalTimestamp"].timestamp()) * 1000) if record else 0
        waiting = record is not None and (
            fence is None or min(c.ver for c in changes_in(record["Data"])) <= fence.ver())
        shards[sid] = {"checkpoint": applied[sid], "pending": waiting, "iterator_age_ms": max(age, 0),
                       "millis_behind_latest": behind}
    metrics, source = _local_or(state.replay_metrics, figures)
    lambda_age = figures["iterator_age_ms"] if figures else None
    measured = max((max(s["iterator_age_ms"], s["millis_behind_latest"]) for s in shards.values()), default=0)
    return {"shards": shards, "pending": any(s["pending"] for s in shards.values()),
            "lag_ms": max(measured, round(lambda_age or 0)), "lambda_iterator_age_ms": lambda_age,
            **{k: metrics.get(k) for k in ("records", "puts", "tombstones", "stale", "coalesced", "failed")},
            "figures_from": source}


def dead_letter_count(state: StreamState, progress: ProgressTable | None = None) -> int:
    folder = state.dead_letters
    local = sum(1 for f in folder.glob("*.jsonl") for _ in f.open()) if folder.is_dir() else 0
    return local + (progress.dead_letters() if progress is not None else 0)


def pipeline_status(stream: str, mysql_url: str, kinesis, state: StreamState | None = None,
                    progress: ProgressTable | None = None) -> dict:
    state = state or StreamState.of(stream)
    figures = cloudwatch_figures(state, progress)
    capture = capture_status(state, mysql_url, progress, figures)
    last = _json(state.cutover_report)
    verified = _json(last_verify_report())
    return {"stream": stream, "progress": str(progress) if progress else "local files",
            "capture": {k: v for k, v in capture.items() if not k.startswith("_")},
            "replay": replay_status(state, kinesis, progress, figures=figures),
            "dead_letters": dead_letter_count(state, progress), "cloudwatch": figures,
            "last_verify": {k: verified.get(k) for k in ("verdict", "clean", "missing", "extra", "different", "pending",
                                                         "rejected", "target_items", "targets", "finished_at")}
            if verified else None,
            "last_cutover": {**{k: last.get(k) for k in ("ready", "reason", "write_outage_ms", "outage_steps_ms",
                                                          "fence_position", "fence_lifted")},
                             "finished_at": state.cutover_report.stat().st_mtime} if last else None}


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def _figure(value: float | None, unit: str) -> str:
    """`12 records`, `- records` for a figure nobody measured (not 0)."""
    if value is None:
        return f"- {unit}"
    return f"{int(value) if float(value).is_integer() else value} {unit}"


def status_table(s: dict) -> str:
    c, r = s["capture"], s["replay"]
    lines = [
        f"stream {s['stream']} (progress: {s['progress']})",
        f"  capture  server at {c['server_position']}, checkpoint {c['checkpoint'] or '-'} "
        f"({_figure(c['binlog_bytes_behind'], 'binlog bytes behind')}, {_figure(c['seconds_behind'], 's')}), "
        f"{_figure(c['records'], 'records')}",
        f"  replay   lag {r['lag_ms']} ms, {'records waiting' if r['pending'] else 'caught up'}; "
        f"{_figure(r['puts'], 'puts')}, {_figure(r['tombstones'], 'tombstones')}, {_figure(r['stale'], 'stale')}, "
        f"{_figure(r['coalesced'], 'coalesced')}",
    ]
    for sid, shard in sorted(r["shards"].items()):
        lines.append(f"    {sid}: checkpoint {shard['checkpoint'] or '-'}, iterator age {shard['iterator_age_ms']} ms, "
                     f"{shard['millis_behind_latest']} ms behind latest")
    lines.append(f"  dead letters: {s['dead_letters']}")
    cw = s["cloudwatch"]
    if cw:
        lines.append(f"  cloudwatch  Lambda {cw['function']} IteratorAge {_figure(cw['iterator_age_ms'], 'ms')}; "
                     f"capture lag {_figure(cw['capture_lag_ms'], 'ms')}, "
                     f"{_figure(cw['capture_rows_per_s'], 'rows/s')}, {_figure(cw['capture_records'], 'records')}; "
                     f"replay {_figure(cw['replay_applied'], 'applied')}, {_figure(cw['replay_stale'], 'stale')}, "
                     f"{_figure(cw['dead_letters'], 'dead letters')}"
                     + (f"; NOT READ: {cw['error']}" if cw.get("error") else ""))
    lines += [f"  sources: positions from {s['progress']}; lags measured now (binlog bytes on MySQL, record ages "
              f"on Kinesis{', the Lambda IteratorAge from CloudWatch' if cw else ''})",
              f"    capture figures: {c['figures_from']}", f"    replay figures: {r['figures_from']}"]
    v = s["last_verify"]
    lines.append("  last verify: none saved" if not v else
                 f"  last verify: {v['verdict']} at {_when(v['finished_at'])} ({', '.join(v['targets'])}): "
                 f"{v['missing']} missing, {v['extra']} extra, {v['different']} different, {v['pending']} pending, "
                 f"{sum((v['rejected'] or {}).values())} rejected; {v['target_items']} target items")
    if s["last_cutover"]:
        cut = s["last_cutover"]
        steps = ", ".join(f"{k} {v}" for k, v in (cut["outage_steps_ms"] or {}).items())
        lines.append(f"  last cutover: {'READY' if cut['ready'] else 'NOT READY'} at {_when(cut['finished_at'])}, "
                     f"write outage {cut['write_outage_ms']} ms ({steps}), fence at {cut['fence_position']}"
                     + ("" if cut["ready"] else f"; {cut['reason']}"))
    if c["progress_table_error"]:
        lines.append(f"  WARNING: capture cannot write its position to the progress table: {c['progress_table_error']}")
    for w in c["warnings"]:
        lines.append(f"  WARNING: {w}")
    return "\n".join(lines)
