"""`mysql2dynamo demo`: the end-to-end walk-through on the local stack.

For now it brings the stack up, builds the sample shop and shows what every local service
holds; the migration phases join it as they land (capture, snapshot, load, replay, cutover).
"""

from __future__ import annotations

from collections.abc import Callable

from mysql2dynamo.local import stack
from mysql2dynamo.local.config import StackConfig
from mysql2dynamo.mysql import connect
from mysql2dynamo.sample.create import create_sample
from mysql2dynamo.sample.schema import TABLES


def run_demo(rows: int, say: Callable[[str], None]) -> dict:
    cfg = StackConfig()
    stack.up(cfg, say)
    counts = create_sample(cfg.mysql_url, "shop", rows, progress=say)
    say(f"sample shop created in {counts.seconds:.1f}s")
    conn = connect(cfg.mysql_url, "shop")
    report: dict = {"mysql": {}, "binlog": None}
    with conn.cursor() as cur:
        for table in TABLES:
            cur.execute(f"SELECT COUNT(*) FROM `{table}`")
            report["mysql"][table] = cur.fetchone()[0]
        cur.execute("SHOW MASTER STATUS")
        file, pos, *_ = cur.fetchone()
        report["binlog"] = f"{file}:{pos}"
        cur.execute("SELECT id, email, name, tier, tags, lifetime_value, created_at FROM customers ORDER BY id LIMIT 3")
        examples = cur.fetchall()
    conn.close()
    report["dynamodb_tables"] = cfg.client("dynamodb").list_tables()["TableNames"]
    report["kinesis_streams"] = cfg.client("kinesis").list_streams()["StreamNames"]
    report["s3_buckets"] = [b["Name"] for b in cfg.client("s3").list_buckets()["Buckets"]]
    say("")
    say(f"MySQL (MariaDB) {cfg.host}:{cfg.mysql_port} database shop, binlog at {report['binlog']}:")
    for table, n in report["mysql"].items():
        say(f"  {table:<12} {n:>8} rows")
    for row in examples:
        say(f"  customer {row[0]}: {row[2]} <{row[1]}> tier={row[3]} tags={row[4] or '-'} "
            f"lifetime_value={row[5]} created_at={row[6].isoformat()}")
    say(f"DynamoDB tables: {report['dynamodb_tables'] or 'none yet'}")
    say(f"Kinesis streams: {report['kinesis_streams'] or 'none yet'}")
    say(f"S3 buckets:      {report['s3_buckets'] or 'none yet'}")
    say('next: eval "$(mysql2dynamo local env)"; mysql2dynamo sample traffic --rate 20 --seconds 30')
    return report
