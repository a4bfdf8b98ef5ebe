"""`mysql2dynamo replay` (the replay Lambda, run locally; options in the config's `replay:` section)
and `mysql2dynamo cleanup-tombstones`."""

from __future__ import annotations

import json
import sys

import click

from mysql2dynamo.commands.common import (
    ConfigFailure,
    configured,
    confirm_destructive,
    default_of,
    progress_table_option,
    say,
    source_url,
    stream_name,
    yes_option,
)
from mysql2dynamo.config import Config
from mysql2dynamo.ground.mysql import connect
from mysql2dynamo.keymap.schema import TableSchema, read_schemas
from mysql2dynamo.replay.runner import ReplayRunner
from mysql2dynamo.replay.tombstones import cleanup_tombstones
from mysql2dynamo.state import StreamState
from mysql2dynamo.tombstone_floor import FloorError, raise_floor


def _schemas_and_ver(cfg: Config, manifest: str | None, mysql_url: str | None,
                     snapshot_ver: int | None) -> tuple[dict[str, TableSchema], int | None]:
    """Source schemas and the ver to skip up to: from the snapshot manifest, else from MySQL."""
    mapping = cfg.mapping
    if manifest:
        from mysql2dynamo.cdc.snapshot.manifest import load_manifest

        m = load_manifest(manifest)
        return {s: m.table(s).schema for s in mapping.sources}, m.ver if snapshot_ver is None else snapshot_ver
    conn = connect(source_url(mysql_url, cfg))
    try:
        return read_schemas(conn, mapping.sources), snapshot_ver or 0
    except LookupError as e:  # a mapped table the server lacks
        raise ConfigFailure(str(e)) from None
    finally:
        conn.close()


@click.command()
@click.option("--stream", default=None, help="Kinesis stream written by `mysql2dynamo stream` (or replay.stream).")
@click.option("--manifest", default=None, help="Snapshot manifest (path or s3://): schemas and the snapshot ver.")
@click.option("--mysql-url", default=None, show_default="the config's source.mysql_url, else $M2D_MYSQL_URL",
              help="Without --manifest: read the source schemas from MySQL.")
@click.option("--snapshot-ver", type=int, default=None,
              help="Skip changes at or below this ver (default: the manifest's; 0 without a manifest).")
@click.option("--checkpoint", default=None, help="Per-shard checkpoint file (default .local/replay/STREAM.json).")
@click.option("--dead-letter", default=None, help="Folder, s3://bucket/prefix or SQS queue URL "
              "(default .local/replay/STREAM-dead-letters).")
@click.option("--batch-size", default=default_of(ReplayRunner, "batch_size"), show_default=True,
              help="Records per batch, as the event source mapping.")
@click.option("--until-caught-up", is_flag=True, help="Stop when every shard has nothing more to read.")
@click.option("--max-seconds", type=float, default=None)
@configured("replay", "stream.stream", required=True,
            help="The mysql2dynamo config: the mapping and the replay: section.")
def replay(cfg: Config, stream: str | None, manifest: str | None, mysql_url: str | None, snapshot_ver: int | None,
           checkpoint: str | None, dead_letter: str | None, batch_size: int, until_caught_up: bool,
           max_seconds: float | None) -> None:
    """Apply the change stream to DynamoDB through the mapping: the replay Lambda, run locally."""
    import boto3

    from mysql2dynamo.cdc.progress import ProgressTable
    from mysql2dynamo.replay.dead_letter import open_dead_letter
    from mysql2dynamo.replay.runner import ShardCheckpoints
    from mysql2dynamo.replay.runtime import ReplayRuntime

    stream = stream_name(stream)
    schemas, ver = _schemas_and_ver(cfg, manifest, mysql_url, snapshot_ver)
    state = StreamState.of(stream)
    rt = ReplayRuntime.build(cfg.mapping, schemas, ver, open_dead_letter(dead_letter or str(state.dead_letters)))
    runner = ReplayRunner(rt, boto3.client("kinesis"), stream,
                          ShardCheckpoints(checkpoint or state.replay_checkpoints), batch_size=batch_size,
                          say=say, metrics_path=state.replay_metrics, progress=ProgressTable.from_env(stream))
    say(f"replaying {stream} into {sorted({r.target for r in cfg.mapping.rules})} (skipping ver <= {ver})")
    try:
        stats = runner.run(until_caught_up=until_caught_up, max_seconds=max_seconds)
    except KeyboardInterrupt:
        runner.stop.set()
        sys.exit(130)
    click.echo(json.dumps(stats.as_dict(), indent=2))


@click.command("cleanup-tombstones")
@click.option("--table", "tables", multiple=True, required=True, help="Target table (repeatable).")
@click.option("--stream", required=True, help="The change stream replayed into the tables.")
@progress_table_option(required=True, help="The progress table capture and replay write: the floor is saved there "
                                          "and every shard's replay must have read it before anything is removed.")
@click.option("--version-attribute", default=default_of(cleanup_tombstones, "version_attribute"), show_default=True)
@click.option("--segments", default=default_of(cleanup_tombstones, "segments"), show_default=True,
              help="Parallel scan segments.")
@click.option("--settle-seconds", type=float, default=default_of(raise_floor, "settle_s"), show_default=True,
              help="How long a shard with nothing waiting is given to finish a batch it may still run (on AWS: the "
                   "replay Lambda's timeout).")
@click.option("--timeout", "timeout_s", type=float, default=default_of(raise_floor, "timeout_s"), show_default=True,
              help="Give up (removing nothing) after this many seconds of waiting for the replay.")
@yes_option
def cleanup(tables: tuple[str, ...], stream: str, progress_table: str, version_attribute: str, segments: int,
            settle_seconds: float, timeout_s: float, yes: bool) -> None:
    """Remove delete tombstones while capture and replay run: raise the tombstone floor to what every
    shard has applied, wait until every shard's replay has read it, then remove the tombstones at or
    below it (guarded: a tombstone replaced meanwhile is kept); asks first, or needs --yes."""
    import boto3

    from mysql2dynamo.cdc.progress import ProgressTable
    from mysql2dynamo.status import captured_position

    confirm_destructive(f"this deletes the tombstone items of {', '.join(tables)}", yes)
    ddb, kinesis = boto3.client("dynamodb"), boto3.client("kinesis")
    progress = ProgressTable(ddb, progress_table, stream)
    mark, _ = captured_position(StreamState.of(stream), progress)
    if mark is None:
        raise click.ClickException(f"capture of {stream} has saved no position in {progress} nor locally: nothing "
                                   "is known to be on the stream yet; nothing was removed")
    try:
        result = raise_floor(progress, kinesis, ddb, list(tables), mark, version_attribute, segments,
                             settle_seconds, timeout_s, say=say)
    except FloorError as e:
        raise click.ClickException(str(e)) from None
    for table, stats in result.cleaned.items():
        click.echo(json.dumps({"table": table, "mark": result.mark, "floor": result.floor,
                               "capped_by_load": result.capped_by.get(table), "removed": stats.removed,
                               "changed_meanwhile": stats.changed_meanwhile}))
