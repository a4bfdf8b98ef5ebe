"""`mysql2dynamo snapshot`: dump tables consistently to S3/a local path, or import existing dumps
(options in the config's `snapshot:` section)."""

from __future__ import annotations

import json
import sys

import click

from mysql2dynamo.cdc.snapshot.consistent import METHODS
from mysql2dynamo.cdc.snapshot.options import SnapshotOptions
from mysql2dynamo.commands.common import ConfigFailure, RuntimeFailure, configured, default_of, say, source_url
from mysql2dynamo.config import Config
from mysql2dynamo.ground.mysql import redact


def _tables(text: str | None) -> list[str]:
    names = [t.strip() for t in (text or "").split(",") if t.strip()]
    bad = [t for t in names if t.count(".") != 1]
    if bad:
        raise click.BadParameter(f"tables are db.table names: {', '.join(bad)}", param_hint="--tables")
    return names


def _default(name: str):
    return default_of(SnapshotOptions, name)


@click.command("snapshot")
@click.option("--to", help="Destination: s3://bucket/prefix or a local directory (or snapshot.to).")
@click.option("--tables", help="db.table,... (default: the config's mapped tables).")
@click.option("--mysql-url", show_default="the config's source.mysql_url, else $M2D_MYSQL_URL",
              help="Source as mysql://user:password@host:port/ (a user with SELECT, RELOAD, LOCK TABLES, "
                   "REPLICATION CLIENT/BINLOG MONITOR). With --from-dump: read the schema from this server.")
@click.option("--workers", default=_default("workers"), show_default=True,
              help="Parallel dump processes (connections).")
@click.option("--chunk-rows", default=_default("chunk_rows"), show_default=True,
              help="Target rows per primary-key chunk.")
@click.option("--file-mb", default=_default("file_mb"), show_default=True, help="Close a Parquet file at this size.")
@click.option("--consistency", type=click.Choice(METHODS), default=_default("consistency"), show_default=True,
              help="auto: MariaDB lock-free snapshot, else FLUSH TABLES WITH READ LOCK for a moment.")
@click.option("--lock-wait-timeout", default=_default("lock_wait_timeout"), show_default=True,
              help="Seconds FTWRL may wait for a lock.")
@click.option("--zero-dates", type=click.Choice(["null", "error"]), default=_default("zero_dates"), show_default=True,
              help="Zero/invalid dates: write NULL (counted in the manifest) or stop with an error.")
@click.option("--max-rows-per-second", type=float, default=_default("max_rows_per_second"),
              help="Throttle the dump (all workers together).")
@click.option("--compression", default=_default("compression"), show_default=True)
@click.option("--resume", is_flag=True, help="Continue an interrupted snapshot at the destination.")
@click.option("--progress-interval", default=_default("progress_interval"), show_default=True,
              help="Seconds between progress lines.")
@click.option("--from-dump", "dump_dir", type=click.Path(exists=True, file_okay=False),
              help="Import existing mysqldump --tab / SELECT INTO OUTFILE files from this directory instead.")
@click.option("--dump-format", type=click.Choice(["tsv", "csv"]), default="tsv", show_default=True,
              help="--from-dump: tsv = mysqldump --tab defaults; csv = FIELDS TERMINATED BY ',' "
                   "OPTIONALLY ENCLOSED BY '\"'.")
@click.option("--schema", "schema_path", type=click.Path(exists=True),
              help="--from-dump: CREATE TABLE file(s) (default: the dump directory's <table>.sql files); "
                   "or use --mysql-url to read the schema from a live server.")
@click.option("--database", help="--from-dump: database name of the dumped tables.")
@configured("snapshot", help="The mysql2dynamo config: source.mysql_url, the mapped tables, the snapshot: section.")
def snapshot(cfg: Config | None, to: str | None, tables: str | None, mysql_url: str | None, workers: int,
             chunk_rows: int, file_mb: int, consistency: str, lock_wait_timeout: int, zero_dates: str,
             max_rows_per_second: float | None, compression: str, resume: bool, progress_interval: float,
             dump_dir: str | None, dump_format: str, schema_path: str | None, database: str | None) -> None:
    """Consistent, chunked, parallel snapshot of MySQL tables to Parquet + manifest.json, with the
    binlog position of the snapshot (docs/snapshot.md)."""
    from mysql2dynamo.cdc.snapshot.consistent import SnapshotError
    from mysql2dynamo.cdc.snapshot.manifest import ManifestError
    from mysql2dynamo.cdc.snapshot.run import run_snapshot

    if not to:
        raise click.UsageError("no destination: pass --to s3://bucket/prefix (or a local directory), or set "
                               "snapshot.to in the --config file")
    names = _tables(tables) or (cfg.mapping.sources if cfg else [])
    try:
        if dump_dir:
            from mysql2dynamo.cdc.snapshot.import_dump import import_dump

            doc = import_dump(dump_dir, to, tables=names or None, fmt=dump_format, schema_path=schema_path,
                              database=database, mysql_url=mysql_url if not schema_path else None,
                              zero_dates=zero_dates, file_mb=file_mb, compression=compression, say=say)
        else:
            url = source_url(mysql_url, cfg)
            if not names:
                raise click.UsageError("no tables: pass --tables db.table,... or a --config with tables")
            opts = SnapshotOptions(workers=workers, chunk_rows=chunk_rows, file_mb=file_mb, consistency=consistency,
                                   lock_wait_timeout=lock_wait_timeout, zero_dates=zero_dates,
                                   compression=compression, max_rows_per_second=max_rows_per_second,
                                   progress_interval=progress_interval)
            say(f"snapshot of {', '.join(names)} from {redact(url)} to {to}")
            doc = run_snapshot(url, names, to, opts, resume=resume, say=say)
    except (SnapshotError, ManifestError) as e:
        raise RuntimeFailure(str(e)) from e
    except (ValueError, LookupError) as e:  # a bad URL or value, a table the server lacks
        raise ConfigFailure(str(e)) from e
    summary = {"snapshot_id": doc["snapshot_id"], "binlog": doc["binlog"], "ver": doc["ver"],
               "consistent": doc["consistent"], "tables": {n: t["rows"] for n, t in doc["tables"].items()},
               **{k: v for k, v in doc.get("summary", {}).items() if k != "tables"}}
    click.echo(json.dumps(summary, default=str))
    sys.stdout.flush()
