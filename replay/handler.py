"""The AWS Lambda entry point for the Kinesis event source mapping (`replay.handler.handler`).

Receives the standard Kinesis event (base64 records of one shard, in order), decodes the change
envelopes (fetching claim-checked ones from S3; an aggregated record holds several, which are retried
together), applies them with the apply engine, and answers
with ReportBatchItemFailures: the first failed record's sequence number, so Lambda retries from
there and nothing after it is lost (everything before it is applied; re-applying is harmless).

Only a record that can never be applied is poison and goes to the dead letters with its data and
the reason: a bad envelope, a claim-check object that is gone or does not match, a value the
mapping rejects or cannot map. A transient error (S3 SlowDown, 5xx, throttling, a timeout) fails
the record, which is retried. A configuration error (AccessDenied on the claim-check bucket, a
cold start that cannot build the mapping) raises: the whole batch fails, loudly, every time, until
it is fixed; nothing is skipped.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from mysql2dynamo.cdc.aggregate import user_records
from mysql2dynamo.cdc.envelope import Change
from mysql2dynamo.cdc.progress import ProgressTable
from mysql2dynamo.ground.files import split_s3
from mysql2dynamo.ground.metrics import emit
from mysql2dynamo.replay.apply import ApplyOutcome
from mysql2dynamo.replay.dead_letter import Poison
from mysql2dynamo.replay.runtime import ReplayRuntime

log = logging.getLogger("mysql2dynamo.replay")
SAFETY_MS = 3000  # stop retrying this long before Lambda's own timeout

# S3 answers while fetching a claim check: a missing object is permanent (its record goes to the dead
# letters with the pointer); throttling and 5xx are transient (the record is retried); any other
# refusal (AccessDenied, NoSuchBucket, a bad token) is a configuration error (the batch fails loudly)
GONE = frozenset({"NoSuchKey", "404"})
TRANSIENT = frozenset({"SlowDown", "RequestTimeout", "Throttling", "ThrottlingException", "RequestLimitExceeded",
                       "TooManyRequestsException", "429"})

_runtime: ReplayRuntime | None = None
_s3 = None


class ReplayConfigError(RuntimeError):
    """The replay cannot run as configured; every batch fails (and is retried) until this is fixed."""


class ClaimCheckUnavailable(RuntimeError):
    """A claim-check object could not be read now (throttling, 5xx, timeout): its record is retried."""
_progress: dict[str, ProgressTable | None] = {}  # per stream, when M2D_PROGRESS_TABLE names the table


def runtime() -> ReplayRuntime:
    """Built once per container: the mapping is compiled at cold start, not per batch."""
    global _runtime
    if _runtime is None:
        try:
            _runtime = ReplayRuntime.from_env()
        except Exception as e:
            settings = ", ".join(f"{v}={os.environ.get(v, '(unset)')}" for v in ("M2D_CONFIG", "M2D_MANIFEST",
                                                                                  "M2D_DEAD_LETTER"))
            raise ReplayConfigError(f"replay cold start failed ({settings}): {type(e).__name__}: {e}. Every batch "
                                    "fails and is retried until the function's configuration is fixed; the records "
                                    "stay on the stream for its retention period") from e
    return _runtime


def s3_client():
    global _s3
    if _s3 is None:
        import boto3

        _s3 = boto3.client("s3")
    return _s3


@dataclass
class Decoded:
    changes: list[tuple[int, Change]] = field(default_factory=list)
    poisons: list[Poison] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)  # records to retry (a claim check not readable now)
    errors: list[str] = field(default_factory=list)


def decode_records(records: list[dict], s3=None) -> Decoded:
    out = Decoded()
    for i, record in enumerate(records):
        k = record["kinesis"]
        data = base64.b64decode(k["data"])
        try:
            entries = user_records(data, k.get("partitionKey"))
        except ValueError as e:  # a corrupt aggregate: none of it can be read
            out.poisons.append(Poison("undecodable", str(e), k.get("sequenceNumber"), k.get("partitionKey"), data))
            continue
        for key, entry in entries:
            _decode(i, k.get("sequenceNumber"), key, entry, out, s3)
    return out


def _decode(i: int, sequence_number: str | None, key: str | None, data: bytes, out: Decoded, s3) -> None:
    try:
        change = Change.from_bytes(data)
    except Exception as e:  # a bad envelope can never be applied: poison, it must not block the shard
        out.poisons.append(Poison("undecodable", f"{type(e).__name__}: {e}", sequence_number, key, data))
        return
    if change.claim_check:
        try:
            change = _resolve(change, s3 or s3_client())
        except ClaimCheckUnavailable as e:
            out.failed.append(i)
            out.errors.append(str(e))
            return
        except ValueError as e:  # the object is gone or is not the change the record points to
            out.poisons.append(Poison("claim_check", str(e), sequence_number, key, data))
            return
    out.changes.append((i, change))


def _resolve(pointer: Change, s3) -> Change:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_s3(pointer.claim_check)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code") or "ClientError"
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        where = f"claim check {pointer.claim_check} of ver {pointer.ver}"
        if code in GONE:
            raise ValueError(f"{where} is gone ({code}): the full change cannot be read again") from e
        if code not in TRANSIENT and status < 500:
            raise ReplayConfigError(f"{where}: S3 answers {code} ({e}); the function's role needs s3:GetObject on "
                                    f"s3://{bucket}/ (and the bucket must exist): fix it, the batch is retried "
                                    "from this record") from e
        raise ClaimCheckUnavailable(f"{where}: S3 {code} (HTTP {status}), retried") from e
    except (BotoCoreError, OSError) as e:  # timeouts, dropped connections, a body cut short
        raise ClaimCheckUnavailable(f"claim check {pointer.claim_check}: {type(e).__name__}: {e}, retried") from e
    try:
        full = Change.from_bytes(body)
    except Exception as e:
        raise ValueError(f"claim check {pointer.claim_check} is not a change envelope: {type(e).__name__}: {e}") from e
    if full.ver != pointer.ver:
        raise ValueError(f"claim check {pointer.claim_check} holds ver {full.ver}, the record says {pointer.ver}")
    return full


def progress_of(event: dict) -> ProgressTable | None:
    """The progress table of the event's stream (built once per container)."""
    records = event.get("Records", [])
    if not records:
        return None
    stream = records[0]["eventSourceARN"].rpartition("/")[2]
    if stream not in _progress:
        _progress[stream] = ProgressTable.from_env(stream)
    return _progress[stream]


def process(event: dict, rt: ReplayRuntime, deadline: float | None, s3=None,
            progress: ProgressTable | None = None) -> tuple[dict, ApplyOutcome]:
    """The handler's work, shared with the local runner; returns the Lambda response and the outcome.

    With a progress table, the tombstone floor is read first, and the applied part of the batch is recorded
    there (sequence number, ver, the floor read)."""
    records = event.get("Records", [])
    if progress is not None:  # before any write: a change at or below it may have lost its tombstone
        rt.engine.floor = progress.floor()
    decoded = decode_records(records, s3)
    poisons = decoded.poisons
    outcome = rt.engine.apply(decoded.changes, deadline)
    for index, p in outcome.poisons:
        k = records[index]["kinesis"]
        poisons.append(Poison(p.reason, p.message, k.get("sequenceNumber"), p.partition_key or k.get("partitionKey"),
                              p.data))
    failed = sorted(outcome.failed_indexes + decoded.failed)
    outcome.stats.failed += len(decoded.failed)
    outcome.errors[:0] = decoded.errors[:5]
    if failed:  # the records from the first failed one on come again: their dead letters are stored then
        index = {r["kinesis"]["sequenceNumber"]: i for i, r in enumerate(records)}
        poisons = [p for p in poisons if index.get(p.sequence_number, 0) < failed[0]]
    try:
        rt.dead_letter.put(poisons)
    except Exception as e:  # the dead letters could not be stored: retry the whole batch
        log.error("dead-letter destination failed: %s", e)
        failed = [0]
    outcome.stats.rejected = len(poisons)
    first = records[failed[0]]["kinesis"]["sequenceNumber"] if failed else None
    if failed:
        log.warning("replay: %d records to retry from %s: %s", len(failed), first, "; ".join(outcome.errors[:3]))
    failures = [{"itemIdentifier": first}] if failed else []
    if progress is not None:
        applied = failed[0] if failed else len(records)
        progress.save_batch(records, applied, max((c.ver for i, c in decoded.changes if i < applied), default=0),
                            len(poisons), rt.engine.floor)
    return {"batchItemFailures": failures}, outcome


def handler(event: dict, context: Any) -> dict:
    remaining_ms = context.get_remaining_time_in_millis() if context is not None else 60_000
    deadline = time.monotonic() + max(0, remaining_ms - SAFETY_MS) / 1000
    response, outcome = process(event, runtime(), deadline, progress=progress_of(event))
    log.info("replay batch: %s", outcome.stats.__dict__)
    stats = outcome.stats
    emit(os.environ.get("M2D_STREAM", "-"), {"ReplayApplied": stats.puts + stats.tombstones,
                                             "ReplayStale": stats.stale, "DeadLetters": stats.rejected})
    return response
