"""`mysql2dynamo status`: how far behind capture and replay are, measured, not guessed.

- capture lag: binlog bytes between the server's current position and the stream's acknowledged
  checkpoint, and the seconds behind the last change the stream read;
- replay lag: per shard, whether records wait after the replay's checkpoint and how old the
  oldest waiting record is (Lambda's IteratorAge);
- the replay's applied/stale/tombstone counts and the dead letters waiting for a person.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from mysql2dynamo.cdc.checkpoint import FileCheckpointStore
from mysql2dynamo.cdc.server import current_position, server_info
from mysql2dynamo.cdc.stream import binlog_bytes_behind
from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.state import StreamState


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def capture_status(state: StreamState, mysql_url: str) -> dict:
    saved = FileCheckpointStore(state.capture_checkpoint).load()
    metrics = _json(state.capture_metrics) or {}
    conn = connect(mysql_url)
    try:
        info = server_info(conn)
        head = current_position(conn, info)
        behind = binlog_bytes_behind(conn, info, saved.position) if saved else None
    finally:
        conn.close()
    return {"server_position": str(head), "checkpoint": str(saved.position) if saved else None,
            "checkpoint_age_s": round(time.time() - saved.updated_at, 1) if saved else None,
            "binlog_bytes_behind": behind, "seconds_behind": metrics.get("lag_seconds"),
            "records": metrics.get("records"), "records_per_s": metrics.get("records_per_s"),
            "warnings": metrics.get("warnings", []), "_head": head, "_checkpoint": saved.position if saved else None}


def replay_status(state: StreamState, kinesis) -> dict:
    checkpoints = _json(state.replay_checkpoints) or {}
    shards = {}
    now = time.time()
    for shard in kinesis.list_shards(StreamName=state.stream)["Shards"]:
        sid = shard["ShardId"]
        seq = checkpoints.get(sid)
        kw = ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": seq} if seq
              else {"ShardIteratorType": "TRIM_HORIZON"})
        it = kinesis.get_shard_iterator(StreamName=state.stream, ShardId=sid, **kw)["ShardIterator"]
        records = kinesis.get_records(ShardIterator=it, Limit=1)["Records"]
        age = int((now - records[0]["ApproximateArrivalTimestamp"].timestamp()) * 1000) if records else 0
        shards[sid] = {"checkpoint": seq, "pending": bool(records), "iterator_age_ms": max(age, 0)}
    metrics = _json(state.replay_metrics) or {}
    return {"shards": shards, "pending": any(s["pending"] for s in shards.values()),
            "lag_ms": max((s["iterator_age_ms"] for s in shards.values()), default=0),
            **{k: metrics.get(k) for k in ("records", "puts", "tombstones", "stale", "coalesced", "failed")}}


def dead_letter_count(state: StreamState) -> int:
    folder = state.dead_letters
    return sum(1 for f in folder.glob("*.jsonl") for _ in f.open()) if folder.is_dir() else 0


def pipeline_status(stream: str, mysql_url: str, kinesis, state: StreamState | None = None) -> dict:
    state = state or StreamState.of(stream)
    capture = capture_status(state, mysql_url)
    return {"stream": stream, "capture": {k: v for k, v in capture.items() if not k.startswith("_")},
            "replay": replay_status(state, kinesis), "dead_letters": dead_letter_count(state)}


def status_table(s: dict) -> str:
    c, r = s["capture"], s["replay"]
    lines = [
        f"stream {s['stream']}",
        f"  capture  server at {c['server_position']}, checkpoint {c['checkpoint'] or '-'} "
        f"({c['binlog_bytes_behind'] if c['binlog_bytes_behind'] is not None else '-'} binlog bytes behind, "
        f"{c['seconds_behind'] if c['seconds_behind'] is not None else '-'} s), {c['records'] or 0} records",
        f"  replay   lag {r['lag_ms']} ms, {'records waiting' if r['pending'] else 'caught up'}; "
        f"{r['puts'] or 0} puts, {r['tombstones'] or 0} tombstones, {r['stale'] or 0} stale, "
        f"{r['coalesced'] or 0} coalesced",
    ]
    for sid, shard in sorted(r["shards"].items()):
        lines.append(f"    {sid}: checkpoint {shard['checkpoint'] or '-'}, iterator age {shard['iterator_age_ms']} ms")
    lines.append(f"  dead letters: {s['dead_letters']}")
    for w in c["warnings"]:
        lines.append(f"  WARNING: {w}")
    return "\n".join(lines)
