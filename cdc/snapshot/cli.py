"""`mysql2dynamo snapshot`: dump tables consistently to S3/a local path, or import existing dumps."""

from __future__ import annotations

import json
import os
import sys

import click

from mysql2dynamo.ground.mysql import redact

from .consistent import METHODS, SnapshotError
from .manifest import ManifestError


def _say(msg: str) -> None:
    click.echo(msg, err=True)


def _from_config(path: str) -> dict:
    """Source URL, tables and destination from the project config YAML: `source.mysql_url`,
    `snapshot.to`, `snapshot.tables` (default: the keys of the mapping's `tables:`)."""
    import yaml

    with open(path, encoding="utf-8") as f:
        raw = yaml.safe_load(f) or {}
    snap = raw.get("snapshot") or {}
    tables = snap.get("tables") or list((raw.get("tables") or {}).keys()) or None
    return {"mysql_url": (raw.get("source") or {}).get("mysql_url"), "tables": tables, "to": snap.get("to")}


def _tables(text: str | None) -> list[str]:
    names = [t.strip() for t in (text or "").split(",") if t.strip()]
    bad = [t for t in names if t.count(".") != 1]
    if bad:
        raise click.BadParameter(f"tables are db.table names: {', '.join(bad)}", param_hint="--tables")
    return names


@click.command("snapshot")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="Project config (source.mysql_url, the mapping's tables, snapshot.to).")
@click.option("--to", "dest", help="Destination: s3://bucket/prefix or a local directory.")
@click.option("--tables", help="db.table,... (default: the config's tables).")
@click.option("--mysql-url", show_default="the config's source.mysql_url, else $M2D_MYSQL_URL",
              help="Source as mysql://user:password@host:port/ (a user with SELECT, RELOAD, LOCK TABLES, "
                   "REPLICATION CLIENT/BINLOG MONITOR).")
@click.option("--workers", default=2, show_default=True, help="Parallel dump processes (connections).")
@click.option("--chunk-rows", default=250_000, show_default=True, help="Target rows per primary-key chunk.")
@click.option("--file-mb", default=128, show_default=True, help="Close a Parquet file at this size.")
@click.option("--consistency", type=click.Choice(METHODS), default="auto", show_default=True,
              help="auto: MariaDB lock-free snapshot, else FLUSH TABLES WITH READ LOCK for a moment.")
@click.option("--lock-wait-timeout", default=10, show_default=True, help="Seconds FTWRL may wait for a lock.")
@click.option("--zero-dates", type=click.Choice(["null", "error"]), default="null", show_default=True,
              help="Zero/invalid dates: write NULL (counted in the manifest) or stop with an error.")
@click.option("--max-rows-per-second", type=float, help="Throttle the dump (all workers together).")
@click.option("--compression", default="zstd", show_default=True)
@click.option("--resume", is_flag=True, help="Continue an interrupted snapshot at the destination.")
@click.option("--progress-interval", default=5.0, show_default=True, help="Seconds between progress lines.")
@click.option("--from-dump", "dump_dir", type=click.Path(exists=True, file_okay=False),
              help="Import existing mysqldump --tab / SELECT INTO OUTFILE files from this directory instead.")
@click.option("--dump-format", type=click.Choice(["tsv", "csv"]), default="tsv", show_default=True,
              help="--from-dump: tsv = mysqldump --tab defaults; csv = FIELDS TERMINATED BY ',' "
                   "OPTIONALLY ENCLOSED BY '\"'.")
@click.option("--schema", "schema_path", type=click.Path(exists=True),
              help="--from-dump: CREATE TABLE file(s) (default: the dump directory's <table>.sql files); "
                   "or use --mysql-url to read the schema from a live server.")
@click.option("--database", help="--from-dump: database name of the dumped tables.")
def snapshot(config_path, dest, tables, mysql_url, workers, chunk_rows, file_mb, consistency, lock_wait_timeout,
             zero_dates, max_rows_per_second, compression, resume, progress_interval, dump_dir, dump_format,
             schema_path, database) -> None:
    """Consistent, chunked, parallel snapshot of MySQL tables to Parquet + manifest.json, with the
    binlog position of the snapshot (docs/snapshot.md)."""
    from .options import SnapshotOptions
    from .run import run_snapshot

    cfg = _from_config(config_path) if config_path else {}
    dest = dest or cfg.get("to")
    if not dest:
        raise click.UsageError("no destination: pass --to s3://bucket/prefix (or a local directory)")
    names = _tables(tables) if tables else list(cfg.get("tables") or [])
    try:
        if dump_dir:
            from .import_dump import import_dump

            doc = import_dump(dump_dir, dest, tables=names or None, fmt=dump_format, schema_path=schema_path,
                              database=database, mysql_url=mysql_url if not schema_path else None,
                              zero_dates=zero_dates, file_mb=file_mb, compression=compression, say=_say)
        else:
            url = mysql_url or cfg.get("mysql_url") or os.environ.get("M2D_MYSQL_URL")
            if not url:
                raise click.UsageError("no source: pass --mysql-url, set source.mysql_url in --config, "
                                       "or M2D_MYSQL_URL")
            if not names:
                raise click.UsageError("no tables: pass --tables db.table,... or a --config with tables")
            opts = SnapshotOptions(workers=workers, chunk_rows=chunk_rows, file_mb=file_mb, consistency=consistency,
                                   lock_wait_timeout=lock_wait_timeout, zero_dates=zero_dates,
                                   compression=compression, max_rows_per_second=max_rows_per_second,
                                   progress_interval=progress_interval)
            _say(f"snapshot of {', '.join(names)} from {redact(url)} to {dest}")
            doc = run_snapshot(url, names, dest, opts, resume=resume, say=_say)
    except (SnapshotError, ManifestError, ValueError, LookupError) as e:
        raise click.ClickException(str(e)) from e
    summary = {"snapshot_id": doc["snapshot_id"], "binlog": doc["binlog"], "ver": doc["ver"],
               "consistent": doc["consistent"], "tables": {n: t["rows"] for n, t in doc["tables"].items()},
               **{k: v for k, v in doc.get("summary", {}).items() if k != "tables"}}
    click.echo(json.dumps(summary, default=str))
    sys.stdout.flush()


if __name__ == "__main__":  # pragma: no cover - `python -m cdc.snapshot.cli` for runs before registration
    snapshot()
