"""Source table schemas: the column model the checker and compilers type against, read from
INFORMATION_SCHEMA through a pymysql connection (or built by hand / from a snapshot manifest).

A column of a type mysql2dynamo cannot carry is listed in `unsupported`, never in `columns`: the
read does not fail, the checker names it and asks to exclude it, and an excluded one is skipped.
`binlog_type` is the column's type as the binlog's table map describes it (what the change
envelope carries), so replay can tell which columns an ALTER changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mysql2dynamo.keymap.types import SPATIAL, SUPPORTED, Column


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key of the table (child side) with its referential actions."""

    name: str
    columns: tuple[str, ...]
    parent: str  # db.table
    on_delete: str = "RESTRICT"
    on_update: str = "RESTRICT"

    @property
    def cascades(self) -> bool:
        return "CASCADE" in (self.on_delete, self.on_update) or "SET NULL" in (self.on_delete, self.on_update)


@dataclass(frozen=True)
class TableSchema:
    db: str
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = field(default=())
    unsupported: tuple[tuple[str, str], ...] = ()  # (name, COLUMN_TYPE) of columns mysql2dynamo cannot carry

    @property
    def full_name(self) -> str:
        return f"{self.db}.{self.name}"

    def column(self, name: str) -> Column | None:
        for c in self.columns:
            if c.name == name:
                return c
        lowered = name.lower()  # MySQL column names are case-insensitive
        return next((c for c in self.columns if c.name.lower() == lowered), None)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def unsupported_type(self, name: str) -> str | None:
        """The COLUMN_TYPE of `name` when it is a column of a type mysql2dynamo cannot carry."""
        return next((t for n, t in self.unsupported if n.lower() == name.lower()), None)


_MEMBERS = re.compile(r"'((?:[^']|'')*)'")


def parse_members(column_type: str) -> tuple[str, ...]:
    """The values of `enum('a','b')` / `set('x','y')` in definition order."""
    inside = column_type[column_type.index("(") + 1: column_type.rindex(")")]
    return tuple(m.replace("''", "'") for m in _MEMBERS.findall(inside))


def column_from_information_schema(row: dict, json_columns: frozenset[str] = frozenset()) -> Column:
    """A Column from one INFORMATION_SCHEMA.COLUMNS row (keys as in the view, upper case).

    `json_columns`: MariaDB's JSON columns (LONGTEXT with a json_valid check), which map as JSON."""
    data_type = row["DATA_TYPE"].lower()
    column_type = row["COLUMN_TYPE"].lower()
    if data_type == "longtext" and row["COLUMN_NAME"] in json_columns:
        data_type = column_type = "json"
    length = row.get("CHARACTER_MAXIMUM_LENGTH")
    if data_type == "bit":
        length = row.get("NUMERIC_PRECISION")
    return Column(
        name=row["COLUMN_NAME"], data_type=data_type, nullable=row["IS_NULLABLE"] == "YES",
        unsigned="unsigned" in column_type,
        precision=int(row.get("NUMERIC_PRECISION") or 0) if data_type == "decimal" else 0,
        scale=int(row.get("NUMERIC_SCALE") or 0) if data_type == "decimal" else 0,
        fsp=int(row.get("DATETIME_PRECISION") or 0) if data_type in ("datetime", "timestamp", "time") else 0,
        length=int(length) if length is not None else None,
        members=parse_members(column_type) if data_type in ("enum", "set") else (),
        column_type=column_type,
    )


_COLUMNS_SQL = """
SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION,
       NUMERIC_SCALE, DATETIME_PRECISION, COLUMN_KEY
FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION
"""
_PK_SQL = """
SELECT COLUMN_NAME FROM INFORMATION_SCHEMA.KEY_COLUMN_USAGE
WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION
"""
_FK_SQL = """
SELECT k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME,
       r.DELETE_RULE, r.UPDATE_RULE
FROM INFORMATION_SCHEMA.KEY_COLUMN_USAGE k
JOIN INFORMATION_SCHEMA.REFERENTIAL_CONSTRAINTS r
  ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME
 AND r.TABLE_NAME = k.TABLE_NAME
WHERE k.TABLE_SCHEMA = %s AND k.TABLE_NAME = %s AND k.REFERENCED_TABLE_NAME IS NOT NULL
ORDER BY k.CONSTRAINT_NAME, k.ORDINAL_POSITION
"""


# MariaDB declares JSON as LONGTEXT with this check (MySQL's JSON is a type of its own)
_MARIADB_JSON_SQL = """
SELECT CHECK_CLAUSE FROM INFORMATION_SCHEMA.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME = %s
"""
_JSON_VALID = re.compile(r"json_valid\(`((?:[^`]|``)+)`\)", re.I)


def _mariadb_json_columns(cur, db: str, table: str, cols: list[dict]) -> frozenset[str]:
    if not any(r["DATA_TYPE"].lower() == "longtext" for r in cols):
        return frozenset()
    return mariadb_json_columns(cur, db, table)


def mariadb_json_columns(cur, db: str, table: str) -> frozenset[str]:
    """The columns MariaDB declares JSON (LONGTEXT with a json_valid check); none on MySQL."""
    cur.execute("SELECT VERSION()")
    if "mariadb" not in cur.fetchone()[0].lower():
        return frozenset()
    cur.execute(_MARIADB_JSON_SQL, (db, table))
    return frozenset(m[1].replace("``", "`") for (clause,) in cur.fetchall()
                     if (m := _JSON_VALID.fullmatch(clause.strip())))


def _dict_rows(cur, sql: str, args) -> list[dict]:
    cur.execute(sql, args)
    names = [d[0].upper() for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


_FK_LINE = re.compile(r"^\s*CONSTRAINT\s+`((?:[^`]|``)+)`\s+FOREIGN KEY\s*\(([^)]*)\)\s+REFERENCES\s+"
                      r"(?:`((?:[^`]|``)+)`\.)?`((?:[^`]|``)+)`\s*\([^)]*\)(.*?),?\s*$", re.I)


def _fk_action(rules: str, on: str) -> str:
    m = re.search(rf"ON {on} (RESTRICT|CASCADE|SET NULL|NO ACTION|SET DEFAULT)", rules)
    return m[1] if m else "RESTRICT"


def foreign_key_line(line: str, db: str) -> ForeignKey | None:
    """The foreign key a `CONSTRAINT ... FOREIGN KEY ...` line of SHOW CREATE TABLE / mysqldump declares."""
    f = _FK_LINE.match(line)
    if f is None:
        return None
    rules = f.group(5).upper()
    return ForeignKey(f.group(1), tuple(c.strip().strip("`") for c in f.group(2).split(",")),
                      f"{f.group(3) or db}.{f.group(4)}", _fk_action(rules, "DELETE"), _fk_action(rules, "UPDATE"))


def _foreign_keys_from_ddl(cur, db: str, table: str) -> tuple[ForeignKey, ...]:
    cur.execute(f"SHOW CREATE TABLE `{db.replace('`', '``')}`.`{table.replace('`', '``')}`")
    ddl = cur.fetchone()[1]
    return tuple(fk for line in ddl.splitlines() if (fk := foreign_key_line(line, db)) is not None)


def read_table_schema(conn, db: str, table: str) -> TableSchema:
    """Read one table's columns, primary key and foreign keys from INFORMATION_SCHEMA.

    MariaDB shows REFERENTIAL_CONSTRAINTS only to accounts with more than SELECT on the table (not
    to a least-privilege capture account); then the foreign keys come from SHOW CREATE TABLE, so the
    cascade checks are never blind.
    """
    with conn.cursor() as cur:
        cols = _dict_rows(cur, _COLUMNS_SQL, (db, table))
        if not cols:
            raise LookupError(f"table {db}.{table} does not exist (or has no columns visible to this user)")
        pk = tuple(r["COLUMN_NAME"] for r in _dict_rows(cur, _PK_SQL, (db, table)))
        fks: dict[str, dict] = {}
        for r in _dict_rows(cur, _FK_SQL, (db, table)):
            fk = fks.setdefault(r["CONSTRAINT_NAME"], {"cols": [], "row": r})
            fk["cols"].append(r["COLUMN_NAME"])
        foreign = tuple(ForeignKey(name, tuple(v["cols"]), f"{v['row']['REFERENCED_TABLE_SCHEMA']}."
                                   f"{v['row']['REFERENCED_TABLE_NAME']}", v["row"]["DELETE_RULE"],
                                   v["row"]["UPDATE_RULE"]) for name, v in fks.items())
        if not foreign:
            foreign = _foreign_keys_from_ddl(cur, db, table)
        json_columns = _mariadb_json_columns(cur, db, table, cols)
    carried = [r for r in cols if r["DATA_TYPE"].lower() in SUPPORTED]
    unsupported = tuple((r["COLUMN_NAME"], r["COLUMN_TYPE"].lower()) for r in cols if r not in carried)
    return TableSchema(db, table, tuple(column_from_information_schema(r, json_columns) for r in carried), pk,
                       foreign, unsupported)


def read_schemas(conn, sources: list[str]) -> dict[str, TableSchema]:
    """Schemas of `db.table` names, keyed by that name."""
    return {s: read_table_schema(conn, *s.split(".", 1)) for s in sources}


# ------------------------------------------------------------------ the binlog's view of a column

_BINLOG_NAMES = {"integer": "int", "geomcollection": "geometry", **dict.fromkeys(SPATIAL, "geometry")}
_NUMERIC = {"tinyint", "smallint", "mediumint", "int", "bigint", "decimal", "float", "double"}
_LENGTHS = {"char", "varchar", "binary", "varbinary", "bit"}


def _quoted(members: tuple[str, ...]) -> str:
    return ",".join("'" + m.replace("'", "''") + "'" for m in members)


def binlog_type(col: Column) -> str:
    """The column's type as the binlog's table map tells it (binlog_row_metadata=FULL): no display
    widths, every spatial type as `geometry`, MariaDB's JSON as the LONGTEXT it is stored as."""
    dtp = _BINLOG_NAMES.get(col.data_type, col.data_type)
    if dtp == "decimal":
        text = f"decimal({col.precision},{col.scale})"
    elif dtp in ("datetime", "timestamp", "time"):
        text = f"{dtp}({col.fsp})" if col.fsp else dtp
    elif dtp in _LENGTHS:
        text = f"{dtp}({col.length})"
    elif dtp in ("enum", "set"):
        text = f"{dtp}({_quoted(col.members)})"
    else:
        text = dtp
    return f"{text} unsigned" if col.unsigned and dtp in _NUMERIC else text


_BINLOG_TYPE = re.compile(r"([a-z]+)(?:\((.*)\))?( unsigned)?")


def column_from_binlog_type(name: str, text: str, nullable: bool = True) -> Column:
    """The Column a `binlog_type` text describes (the inverse of `binlog_type`)."""
    m = _BINLOG_TYPE.fullmatch(text)
    if m is None:
        raise ValueError(f"column {name}: not a binlog column type: {text!r}")
    dtp, args, unsigned = m.group(1), m.group(2) or "", bool(m.group(3))
    kw: dict = {}
    if dtp == "decimal":
        kw["precision"], kw["scale"] = (int(x) for x in args.split(","))
    elif dtp in ("datetime", "timestamp", "time"):
        kw["fsp"] = int(args or 0)
    elif dtp in _LENGTHS:
        kw["length"] = int(args)
    elif dtp in ("enum", "set"):
        kw["members"] = parse_members(text)
    return Column(name, dtp, nullable, unsigned=unsigned, column_type=text, **kw)


def same_binlog_type(col: Column, text: str) -> bool:
    """Does the binlog's `text` describe `col` unchanged? (MariaDB's JSON is LONGTEXT in the binlog.)"""
    return binlog_type(col) == text or (col.data_type == "json" and text == "longtext")
