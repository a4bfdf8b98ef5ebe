"""Existing dumps (mysqldump --tab TSV and CSV) give the same manifest shape and rows as a live
snapshot; the CLI prints progress and a summary; S3 uploads go multipart; Spark reads a snapshot."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from click.testing import CliRunner

from mysql2dynamo.cdc.snapshot import load_manifest
from mysql2dynamo.cdc.snapshot.import_dump import read_records
from mysql2dynamo.cdc.snapshot.options import SnapshotOptions
from mysql2dynamo.cdc.snapshot.progress import SnapshotProgress
from mysql2dynamo.cdc.snapshot.run import run_snapshot
from mysql2dynamo.cdc.snapshot.storage import open_storage
from mysql2dynamo.commands.snapshot import snapshot
from mysql2dynamo.ground.mysql import MySQLTarget


def _mariadb_dump(url, db, out, *extra):
    t = MySQLTarget.parse(url)
    out.mkdir()
    os.chmod(out, 0o777)  # the server writes the .txt files itself (SELECT ... INTO OUTFILE)
    subprocess.run(["mariadb-dump", f"-h{t.host}", f"-P{t.port}", f"-u{t.user}", f"-p{t.password}",
                    f"--tab={out}", *extra, db], check=True, capture_output=True)


@pytest.mark.parametrize("fmt", ["tsv", "csv"])
def test_dump_import_matches_live_snapshot(local_stack, mysql_url, sample_db, tmp_path, snapcheck, fmt):
    extra = ["--fields-terminated-by=,", '--fields-optionally-enclosed-by="'] if fmt == "csv" else []
    _mariadb_dump(mysql_url, sample_db, tmp_path / "dump", *extra)
    tables = [f"{sample_db}.{t}" for t in snapcheck.SAMPLE_TABLES]
    live = run_snapshot(local_stack.cdc_mysql_url, tables, str(tmp_path / "live"), SnapshotOptions(workers=1))
    result = CliRunner().invoke(snapshot, ["--from-dump", str(tmp_path / "dump"), "--dump-format", fmt,
                                           "--database", sample_db, "--to", str(tmp_path / "imported")])
    assert result.exit_code == 0, result.output
    imported = json.loads((tmp_path / "imported" / "manifest.json").read_text())
    assert set(imported) == set(live) and imported["kind"] == "import"
    assert imported["binlog"] is None and imported["ver"] is None and imported["points"] == []
    assert set(imported["tables"]) == set(tables)
    m_live, m_imp = load_manifest(tmp_path / "live"), load_manifest(tmp_path / "imported")
    for name in tables:
        assert set(imported["tables"][name]) - {"source_file"} == set(live["tables"][name])
        assert m_imp.table(name).schema == m_live.table(name).schema  # CREATE TABLE parsed exactly
        assert set(imported["tables"][name]["files"][0]) == set(live["tables"][name]["files"][0])
        got, want = snapcheck.snapshot_rows(m_imp, name), snapcheck.snapshot_rows(m_live, name)
        assert snapcheck.diff_rows(name, got, want) == [] and len(got) > 100


def test_outfile_escapes_and_enclosures():
    tsv = b"1\ta\\tb\\\nc\t\\N\t\\0x\\\\\n2\t\t\\N\tz\n"
    assert list(read_records(tsv, "tsv")) == [[b"1", b"a\tb\nc", None, b"\0x\\"], [b"2", b"", None, b"z"]]
    csv = b'1,"say \\"hi\\", ok",\\N,"a,b"\n2,"x""y",NULL,plain\n'
    assert list(read_records(csv, "csv")) == [[b"1", b'say "hi", ok', None, b"a,b"], [b"2", b'x"y', None, b"plain"]]


def test_cli_prints_progress_and_summary(local_stack, sample_db, tmp_path):
    result = CliRunner().invoke(snapshot, [
        "--mysql-url", local_stack.cdc_mysql_url, "--tables", f"{sample_db}.order_items,{sample_db}.orders",
        "--to", str(tmp_path / "s"), "--workers", "2", "--chunk-rows", "100", "--progress-interval", "0",
        "--max-rows-per-second", "2000"])
    assert result.exit_code == 0, result.output
    progress = [line for line in result.stderr.splitlines() if "ETA" in line]
    assert progress and all("rows/s" in line and "MB/s" in line for line in progress)
    assert any(line.startswith(f"{sample_db}.order_items: done") for line in result.stderr.splitlines())
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["tables"][f"{sample_db}.orders"] > 0 and summary["rows_per_s"] > 0 and summary["consistent"]


def test_progress_line_eta_and_summary():
    now = [100.0]
    lines = []
    p = SnapshotProgress(lines.append, interval=10, clock=lambda: now[0])
    p.add_table("shop.orders", estimate=1000, chunks=4, skipped=1, rows_skipped=0)
    p.rows("shop.orders", 100, 1024 * 1024)
    now[0] = 110.0
    p.rows("shop.orders", 150, 1024 * 1024)
    assert lines[-1] == ("shop.orders: 250/~1,000 rows (25%), 25 rows/s, 0.2 MB/s, ETA ~0:00:30, "
                         "chunks 1/4")
    for _ in range(3):
        p.chunk_done("shop.orders", files=2)
    assert lines[-1].startswith("shop.orders: done, 250 rows") and "(1 from the earlier run)" in lines[-1]
    assert p.summary()["tables"]["shop.orders"] == {"rows": 250, "files": 6, "chunks": 4,
                                                    "chunks_from_earlier_run": 1, "seconds": 10.0}


def test_s3_upload_is_multipart(local_stack, s3_bucket, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(12 * 1024 * 1024))
    storage = open_storage(f"s3://{s3_bucket}/x/y", multipart_mb=5)
    storage.put_file(big, "t/part.parquet")
    head = local_stack.client("s3").head_object(Bucket=s3_bucket, Key="x/y/t/part.parquet")
    assert head["ETag"].strip('"').endswith("-3")  # 5 + 5 + 2 MiB parts
    assert storage.get_bytes("t/part.parquet") == big.read_bytes()
    assert storage.list("t/") == ["t/part.parquet"] and storage.get_bytes("t/none") is None


def test_spark_reads_snapshot_with_keymap_types_and_ver(local_stack, spark, sample_db, tmp_path):
    from mysql2dynamo.cdc.snapshot.spark import VER_COLUMN, read_table, spark_schema

    name = f"{sample_db}.customers"
    run_snapshot(local_stack.cdc_mysql_url, [name], str(tmp_path / "s"), SnapshotOptions(workers=2, chunk_rows=50))
    m = load_manifest(tmp_path / "s")
    df = read_table(spark, m, name)
    # keymap.types.arrow_type writes SET as list<string> with nullable elements while spark_type says
    # containsNull=False; Spark reads the file's nullability (reported to the keymap owner), so compare
    # the types with element nullability set aside
    def plain(field):
        return field.name, field.dataType.simpleString()

    assert [plain(f) for f in df.schema.fields[:-1]] == [plain(f) for f in spark_schema(m, name).fields]
    assert df.columns[-1] == VER_COLUMN
    rows = df.select("id", "external_id", VER_COLUMN).collect()
    assert len(rows) == m.table(name).rows == 200
    assert {int(r[VER_COLUMN]) for r in rows} == {m.ver}
    assert max(r["external_id"] for r in rows) > 2**63
