"""What a statement in the binlog (a QueryEvent) means for the captured tables.

With row-based logging, a QueryEvent carries transaction control (BEGIN, COMMIT, SAVEPOINT, XA ...)
and DDL. Everything else is a warning sign: DML that reached the binlog as a statement (a session with
binlog_format=STATEMENT or MIXED) changes rows without row events. The classification reads the
statement as the server does: comments are skipped (an executable `/*!...*/` comment counts as its
content), keywords in any case, several tables per statement (`DROP TABLE a, b`).

| kind | examples | capture |
|---|---|---|
| begin | BEGIN, START TRANSACTION, XA START | opens a transaction |
| inside | SAVEPOINT, ROLLBACK TO, RELEASE SAVEPOINT, XA END | the transaction goes on |
| commit | COMMIT, ROLLBACK | the transaction ends |
| xa | XA PREPARE / COMMIT / ROLLBACK | refused when it holds captured changes |
| dml | INSERT, UPDATE, DELETE, REPLACE, LOAD DATA as a statement | refused when it names a captured table |
| truncate | TRUNCATE | --on-truncate policy (rows go without row events) |
| gone | DROP TABLE / DATABASE, RENAME, CREATE OR REPLACE, ALTER ... RENAME of a captured table | refused |
| ddl | any other statement | ends the transaction (DDL commits implicitly); ALTER is followed |

An ALTER TABLE's `rewrites` are its clauses that change the stored values of existing rows without row
events (ADD / DROP / MODIFY / CHANGE / RENAME COLUMN, CONVERT TO CHARACTER SET): capture re-reads
the table after one (cdc/backfill.py). Index, key, partition and option clauses rewrite no value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_COMMENTS = re.compile(r"/\*(?:M?!\d*)?(.*?)\*/|--[ \t][^\n]*|#[^\n]*", re.DOTALL)
_NAME = r"(?:`(?:[^`]|``)+`|[\w$]+)"
_TABLE = re.compile(rf"({_NAME})(?:\s*\.\s*({_NAME}))?")
_QUALIFIED = rf"{_NAME}(?:\s*\.\s*{_NAME})?"


@dataclass(frozen=True)
class Statement:
    kind: str
    tables: tuple[tuple[str, str], ...] = ()  # (db, table) the statement names, in the default db if unqualified
    databases: tuple[str, ...] = ()  # DROP DATABASE
    text: str = ""
    rewrites: tuple[str, ...] = ()  # ALTER TABLE clauses that rewrite existing rows: "ADD COLUMN c", ...


def _strip_comments(query: str) -> str:
    """Comments become a space; an executable comment (`/*!40000 ...*/`, `/*M!...*/`) its content."""
    return _COMMENTS.sub(lambda m: f" {m.group(1)} " if m.group(0)[:3] in ("/*!", "/*M") else " ", query)


def _unquote(name: str) -> str:
    return name[1:-1].replace("``", "`") if name.startswith("`") else name


def _names(text: str, default_db: str) -> tuple[tuple[str, str], ...]:
    out = []
    for m in _TABLE.finditer(text):
        first, second = _unquote(m.group(1)), m.group(2)
        out.append((first, _unquote(second)) if second else (default_db, first))
    return tuple(out)


def classify(query: str, default_db: str) -> Statement:
    text = " ".join(_strip_comments(query).split())
    upper = text.upper()
    words = upper.split()
    first = words[0] if words else ""
    two = " ".join(words[:2])
    if first == "BEGIN" or two == "START TRANSACTION" or two in ("XA START", "XA BEGIN"):
        return Statement("begin", text=text)
    if first in ("SAVEPOINT", "RELEASE") or two == "ROLLBACK TO" or upper.startswith("ROLLBACK WORK TO") \
            or two == "XA END":
        return Statement("inside", text=text)
    if first in ("COMMIT", "ROLLBACK"):
        return Statement("commit", text=text)
    if first == "XA":
        return Statement("xa", text=text)
    if first in ("INSERT", "REPLACE", "UPDATE", "DELETE", "LOAD"):
        return Statement("dml", _names(text, default_db), text=text)
    if first == "TRUNCATE":
        m = re.match(r"TRUNCATE\s+(?:TABLE\s+)?(.*)$", text, re.IGNORECASE)
        return Statement("truncate", _names(m.group(1), default_db)[:1] if m else (), text=text)
    if first == "DROP":
        m = re.match(r"DROP\s+(?:DATABASE|SCHEMA)\s+(?:IF\s+EXISTS\s+)?(" + _NAME + ")", text, re.IGNORECASE)
        if m:
            return Statement("gone", databases=(_unquote(m.group(1)),), text=text)
        m = re.match(r"DROP\s+(?:TEMPORARY\s+)?TABLES?\s+(?:IF\s+EXISTS\s+)?(.*?)(?:\s+(?:RESTRICT|CASCADE))?$", text,
                     re.IGNORECASE)
        if m:
            return Statement("gone", _names(m.group(1), default_db), text=text)
    if first == "RENAME":
        m = re.match(r"RENAME\s+TABLES?\s+(.*)$", text, re.IGNORECASE)
        if m:  # a TO b, c TO d: the sources are gone under their names
            pairs = m.group(1).split(",")
            sources = [re.split(r"\s+TO\s+", pair, maxsplit=1, flags=re.IGNORECASE)[0] for pair in pairs]
            return Statement("gone", tuple(n for source in sources for n in _names(source, default_db)), text=text)
    m = re.match(rf"CREATE\s+OR\s+REPLACE\s+(?:TEMPORARY\s+)?TABLE\s+({_QUALIFIED})", text, re.IGNORECASE)
    if m:
        return Statement("gone", _names(m.group(1), default_db), text=text)
    if first == "ALTER":
        m = re.match(rf"ALTER\s+(?:ONLINE\s+|IGNORE\s+)*TABLE\s+(?:IF\s+EXISTS\s+)?({_QUALIFIED})(.*)$", text,
                     re.IGNORECASE)
        if m:
            named = _names(m.group(1), default_db)[:1]
            if re.search(r"\bRENAME\s+(?:TO\s+|AS\s+)?(?!COLUMN\b|INDEX\b|KEY\b)", m.group(2), re.IGNORECASE):
                return Statement("gone", named, text=text)
            return Statement("ddl", named, text=text, rewrites=rewriting_clauses(m.group(2)))
    return Statement("ddl", (), text=text)


# words after ADD / DROP that name something other than a column
_NOT_COLUMNS = {"INDEX", "KEY", "UNIQUE", "PRIMARY", "CONSTRAINT", "FOREIGN", "FULLTEXT", "SPATIAL", "PARTITION",
                "PARTITIONING", "CHECK", "PERIOD", "SYSTEM", "VECTOR", "DEFAULT"}
_CLAUSE = re.compile(rf"(ADD|DROP|MODIFY|CHANGE)\s+(COLUMN\s+)?(?:IF\s+(?:NOT\s+)?EXISTS\s+)?(\(|{_NAME})"
                     rf"|RENAME\s+COLUMN\s+({_NAME})|(CONVERT\s+TO\s+(?:CHARACTER\s+SET|CHARSET))\b", re.IGNORECASE)


def _top_level_clauses(text: str) -> list[str]:
    """`text` split at the commas outside parentheses, quotes and backquotes."""
    out, depth, quote, start, i = [], 0, "", 0, 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\" and quote != "`":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(text[start:i])
            start = i + 1
        i += 1
    return [*out, text[start:]]


def rewriting_clauses(specification: str) -> tuple[str, ...]:
    """The clauses of an ALTER TABLE's specification (what follows the table name) that change the values
    of existing rows: `("ADD COLUMN c", "MODIFY COLUMN price")`; () for index, key and option changes."""
    out = []
    for clause in _top_level_clauses(specification):
        m = _CLAUSE.match(clause.strip())
        if m is None:
            continue
        if m.group(5):
            out.append("CONVERT TO CHARACTER SET")
        elif m.group(4):
            out.append(f"RENAME COLUMN {_unquote(m.group(4))}")
        else:
            verb, name = m.group(1).upper(), m.group(3)
            if m.group(2) is None and name.upper() in _NOT_COLUMNS:
                continue
            out.append(f"{verb} COLUMN {'(...)' if name == '(' else _unquote(name)}")
    return tuple(out)
