"""`mysql2dynamo plan`: everything that can be checked before a migration starts, in one report.

- the mapping against the live schema (keymap's checker: errors and warnings);
- the source server: flavour, version, the binlog settings capture needs, how long it keeps binlogs;
- per mapped table: estimated rows and row size (INFORMATION_SCHEMA.TABLES, the optimizer's
  estimate: no table scan), rules, estimated items and WCU per item;
- the target tables that exist: on-demand or provisioned, their key and GSIs (each GSI is one more
  write per item); a rule whose item key differs from the table's key, or that writes a GSI key
  attribute with the wrong type, is an error (DynamoDB would refuse every such item);
- the bulk load's duration at the write rate it will get, against the change stream's retention:
  the changes made during snapshot + load wait in the stream until replay catches up, so the load
  must stay well inside the retention (DESIGN section 4). The rate is the budget when one is
  given, else the table's provisioned WCU, else what a new on-demand table takes at first
  (4,000 write units/s, AWS's documented starting throughput).

Estimates are upper bounds where the truth is unknown (every row passes `where`, every item is in
every GSI). Exit status 1 when anything would stop the migration (mapping errors, items a target
table would refuse, binlog settings capture cannot work with).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from mysql2dynamo.jobs.rate import item_wcu
from mysql2dynamo.jobs.targets import TargetTable, describe_target, target_problems

ON_DEMAND_START_WCU = 4_000  # write request units/s a new on-demand table serves at first (AWS docs)
RETENTION_SHARE = 0.5  # the load may take at most this share of the stream's retention
SHORT_BINLOG_HOURS = 24  # a capture outage longer than the binlog retention means a new snapshot
COUNT_LIMIT = 1_000_000  # rows counted when a table has no statistics yet


@dataclass
class TablePlan:
    table: str
    rows: int  # the optimizer's estimate
    avg_row_bytes: int
    rules: int
    items: int  # upper bound: rows x rules
    wcu_per_item: int


@dataclass
class Plan:
    config: str
    server: str
    binlog_problems: list[str]
    binlog_retention_hours: float | None  # None: binlogs are never purged automatically
    diagnostics: list[str]
    errors: int  # mapping errors and items the target tables would refuse
    tables: list[TablePlan]
    targets: list[TargetTable]
    items: int
    wcu: int
    rate_wcu: float
    rate_source: str
    load_hours: float
    stream_retention_hours: float
    stream_retention_source: str
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.errors == 0 and not self.binlog_problems

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def binlog_retention_hours(conn) -> float | None:
    """How long the server keeps binlogs (None: forever). MySQL 8 and MariaDB 10.6+ have
    binlog_expire_logs_seconds; older servers only expire_logs_days. 0 means never."""
    for variable, seconds_per_unit in (("binlog_expire_logs_seconds", 1), ("expire_logs_days", 86_400)):
        with conn.cursor() as cur:
            try:
                cur.execute(f"SELECT @@{variable}")
            except Exception:  # the variable does not exist on this server version
                continue
            value = float(cur.fetchone()[0] or 0)
        if value:
            return value * seconds_per_unit / 3600
    return None


def table_stats(conn, table: str) -> tuple[int, int]:
    """(rows, average row bytes) from INFORMATION_SCHEMA: the optimizer's estimate, no scan. A table
    without statistics yet (estimate 0) is counted instead, up to COUNT_LIMIT rows."""
    from mysql2dynamo.keymap.compile_spark import quote

    db, name = table.split(".", 1)
    with conn.cursor() as cur:
        cur.execute("SELECT TABLE_ROWS, AVG_ROW_LENGTH FROM INFORMATION_SCHEMA.TABLES "
                    "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", (db, name))
        row = cur.fetchone()
        rows, avg = (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)
        if rows == 0:
            cur.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM {quote(db)}.{quote(name)} LIMIT {COUNT_LIMIT}) AS t")
            rows = int(cur.fetchone()[0])
    return rows, avg


def estimated_item_bytes(avg_row_bytes: int, attribute_names: list[str]) -> int:
    """An item's bytes: the row's plus the attribute names' (DynamoDB counts both)."""
    return avg_row_bytes + sum(len(n.encode()) for n in attribute_names)


def stream_retention(kinesis, stream: str | None, default_hours: int) -> tuple[float, str]:
    if stream:
        try:
            desc = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
            return float(desc["RetentionPeriodHours"]), f"stream {stream}"
        except kinesis.exceptions.ResourceNotFoundException:
            return float(default_hours), f"stream {stream} does not exist yet: what `stream --create` sets"
    return float(default_hours), "what `stream --create` sets"


def load_rate(budget, targets: list[TargetTable], wcu_per_item: float) -> tuple[float, str]:
    """The WCU/s the load will get: the budget, else what the target tables take (provisioned WCU or
    warm throughput), else a new on-demand table's starting throughput."""
    rate = budget.wcu_rate(wcu_per_item)
    if rate is not None:
        return rate, f"the budget, {budget.describe()}"
    known = [t.write_capacity for t in targets if t.write_capacity]
    if known and len(known) == len(targets):
        return float(min(known)), "the target tables' write capacity"
    return float(ON_DEMAND_START_WCU), "assumed: a new on-demand table's starting throughput"


def make_plan(cfg, conn, dynamodb, kinesis, budget, stream: str | None, retention_default_hours: int) -> Plan:
    from mysql2dynamo.cdc.server import check_binlog_settings, server_info
    from mysql2dynamo.keymap.checker import check
    from mysql2dynamo.keymap.schema import read_schemas

    info = server_info(conn)
    schemas = read_schemas(conn, cfg.mapping.sources)
    checked = check(cfg.mapping, schemas)
    targets = [describe_target(dynamodb, name) for name in dict.fromkeys(r.target for r in cfg.mapping.rules)]
    writes = {t.table: 1 + t.gsis for t in targets}
    tables, wcu = [], 0
    for source in cfg.mapping.sources:
        rows, avg = table_stats(conn, source)
        checked_rules = {r.rule.name: r for r in checked.rules_for(source)}
        columns = [c.name for c in schemas[source].columns]  # a rule with errors: its columns as a guess
        per_rule = {}
        for rule in cfg.mapping.rules_for(source):
            cr = checked_rules.get(rule.name)
            names = [a.name for a in cr.attributes] if cr else columns
            per_rule[rule.name] = item_wcu(estimated_item_bytes(avg, names))
            wcu += rows * per_rule[rule.name] * writes[rule.target]
        n_rules = len(per_rule)
        tables.append(TablePlan(source, rows, avg, n_rules, rows * n_rules, max(per_rule.values())))
    items = sum(t.items for t in tables)
    rate, rate_source = load_rate(budget, targets, wcu / items if items else 1.0)
    retention, retention_source = stream_retention(kinesis, stream, retention_default_hours)
    refused, unused = target_problems(checked, targets)
    diagnostics = [str(d) for d in checked.diagnostics] + [f"{cfg.path}: error: {e}" for e in refused]
    plan = Plan(cfg.path, f"{info.flavour} {'.'.join(map(str, info.version))} (server id {info.server_id})",
                check_binlog_settings(conn, info), binlog_retention_hours(conn), diagnostics,
                len(checked.errors) + len(refused), tables, targets, items, wcu, rate, rate_source,
                wcu / rate / 3600, retention, retention_source, list(unused))
    if plan.load_hours > RETENTION_SHARE * retention:
        plan.warnings.append(
            f"the load takes ~{plan.load_hours:.1f} h, more than {RETENTION_SHARE:.0%} of the stream's "
            f"{retention:g} h retention: changes could expire before replay catches up; raise the retention "
            f"(`stream --retention-hours {math.ceil(plan.load_hours / RETENTION_SHARE)}`) or the write rate")
    if plan.binlog_retention_hours is not None and plan.binlog_retention_hours < SHORT_BINLOG_HOURS:
        plan.warnings.append(
            f"the server keeps binlogs {plan.binlog_retention_hours:g} h: a capture outage longer than that means "
            "a new snapshot; raise binlog_expire_logs_seconds (RDS: mysql.rds_set_configuration 'binlog retention "
            "hours')")
    for t in tables:
        if t.rows and t.avg_row_bytes == 0:
            plan.warnings.append(f"{t.table}: no table statistics yet (rows counted up to {COUNT_LIMIT:,}, row size "
                                 "unknown: 1 WCU per item assumed); run ANALYZE TABLE for better estimates")
    return plan


def render(plan: Plan) -> str:
    """The plan as the text report the CLI prints."""
    retention = ("never purged" if plan.binlog_retention_hours is None
                 else f"kept {plan.binlog_retention_hours:g} h")
    lines = [f"mysql2dynamo plan: {plan.config}",
             f"source   {plan.server}; binlog {'settings ok' if not plan.binlog_problems else 'NOT READY'}, "
             f"{retention}"]
    lines += [f"  error: {p}" for p in plan.binlog_problems]
    lines.append(f"mapping  {plan.errors} error(s), {sum(1 for d in plan.diagnostics if ': warning: ' in d)} "
                 "warning(s)")
    lines += [f"  {d}" for d in plan.diagnostics]
    lines.append("tables   (rows: the optimizer's estimate; items: every row passing `where`)")
    for t in plan.tables:
        lines.append(f"  {t.table:32s} ~{t.rows:,} rows x {t.rules} rule(s) -> ~{t.items:,} items, "
                     f"avg row {t.avg_row_bytes:,} B, ~{t.wcu_per_item} WCU/item")
    lines.append("targets")
    for t in plan.targets:
        state = (f"{t.billing.lower()}" + (f" {t.write_capacity:,} WCU" if t.write_capacity else "")
                 if t.exists else "does not exist yet (on-demand assumed)")
        lines.append(f"  {t.table:32s} {state}, {t.gsis} GSI(s) -> {1 + t.gsis} write(s) per item")
    digits = 0 if plan.rate_wcu >= 10 else 2
    lines.append(f"load     ~{plan.items:,} items, ~{plan.wcu:,} WCU at {plan.rate_wcu:,.{digits}f} WCU/s "
                 f"({plan.rate_source}) = ~{_duration(plan.load_hours)}")
    lines.append(f"stream   retention {plan.stream_retention_hours:g} h ({plan.stream_retention_source})")
    lines += [f"warning: {w}" for w in plan.warnings]
    verdict = "ready" if plan.ok else "NOT READY"
    lines.append(f"{verdict}: {plan.errors + len(plan.binlog_problems)} error(s), "
                 f"{len(plan.warnings) + sum(1 for d in plan.diagnostics if ': warning: ' in d)} warning(s)")
    return "\n".join(lines)


def _duration(hours: float) -> str:
    seconds = hours * 3600
    if seconds < 120:
        return f"{seconds:.0f} s"
    if hours < 2:
        return f"{seconds / 60:.0f} min"
    return f"{hours:.1f} h"
