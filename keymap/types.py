"""The one MySQL -> (Python value, Spark/Arrow snapshot type, DSL value type) table.

Everything that needs to know how a MySQL column travels through mysql2dynamo reads it here:
the snapshot dumper (`spark_type`, `arrow_type`, `time_text`), both keymap compilers and the
checker (`value_type`).  Keeping it as data in one module is what keeps the bulk load (Parquet)
and the replay (decoded binlog values) byte-identical.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import Enum


class Kind(Enum):
    """Value categories of the keymap expression language."""

    NUMBER = "number"  # exact: integers and DECIMAL(p,s)
    FLOAT = "float"  # MySQL FLOAT (binary32)
    DOUBLE = "double"  # MySQL DOUBLE (binary64)
    STRING = "string"
    BINARY = "binary"
    DATE = "date"
    DATETIME = "datetime"  # DATETIME / TIMESTAMP, naive (TIMESTAMP in UTC)
    TIME = "time"
    JSON = "json"  # JSON text, becomes M/L/scalars
    SET = "set"
    BOOL = "bool"
    NULL = "null"  # the literal `null`


@dataclass(frozen=True)
class VType:
    """The static type of a keymap value.

    `precision`/`scale` describe exact numbers, `fsp` the fractional second digits of
    DATETIME/TIME, `members` the definition order of a SET, `spark_text` marks exact numbers
    the snapshot holds as text (DECIMAL with precision > 38, results of `num()`).
    """

    kind: Kind
    nullable: bool = True
    precision: int = 0
    scale: int = 0
    fsp: int = 0
    members: tuple[str, ...] = ()
    spark_text: bool = False
    max_bytes: int | None = None  # upper bound of the value's DynamoDB size, when known

    def but(self, **changes) -> VType:
        return VType(**{**self.__dict__, **changes})

    def __str__(self) -> str:
        if self.kind is Kind.NUMBER:
            return f"number({self.precision},{self.scale})"
        if self.kind in (Kind.DATETIME, Kind.TIME):
            return f"{self.kind.value}({self.fsp})"
        return self.kind.value


# MySQL DATA_TYPE -> (Kind, integer digits for integer types)
_INTEGER_DIGITS = {"tinyint": 3, "smallint": 5, "mediumint": 8, "int": 10, "integer": 10, "bigint": 19}
_STRINGS = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum"}
_BINARIES = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}
# spatial types: the value is the geometry's WKB (OGC well-known binary), without MySQL's 4-byte SRID prefix
SPATIAL = {"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
           "geometrycollection", "geomcollection"}
_MAX_LEN = {"tinytext": 255, "text": 65535, "mediumtext": 16777215, "longtext": 4294967295,
            "tinyblob": 255, "blob": 65535, "mediumblob": 16777215, "longblob": 4294967295}
JSON_MAX_DEPTH = 16  # DynamoDB allows 32; Spark's analyzer gives up on deeper unrolled lambdas


@dataclass(frozen=True)
class Column:
    """One source column, as INFORMATION_SCHEMA.COLUMNS describes it."""

    name: str
    data_type: str  # DATA_TYPE, lower case: 'int', 'decimal', 'datetime', ...
    nullable: bool = True
    unsigned: bool = False
    precision: int = 0  # DECIMAL precision
    scale: int = 0  # DECIMAL scale
    fsp: int = 0  # DATETIME/TIMESTAMP/TIME fractional digits
    length: int | None = None  # CHARACTER_MAXIMUM_LENGTH (chars) or binary length (bytes)
    members: tuple[str, ...] = field(default=())  # ENUM/SET values in definition order
    column_type: str = ""  # COLUMN_TYPE as text, for messages

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_type", self.data_type.lower())
        if self.data_type not in SUPPORTED:
            raise ValueError(f"column {self.name}: MySQL type {self.data_type!r} is not supported")


SUPPORTED = (set(_INTEGER_DIGITS) | _STRINGS | _BINARIES | SPATIAL
             | {"decimal", "float", "double", "date", "datetime", "timestamp", "time", "json", "set",
                "bit", "year"})


def integer_digits(col: Column) -> int:
    """Decimal digits an integer column can need (BIGINT UNSIGNED: 20)."""
    if col.data_type == "bit":
        return len(str(2 ** max(col.length or 64, 1) - 1))
    if col.data_type == "year":
        return 4
    digits = _INTEGER_DIGITS[col.data_type]
    return 20 if (col.data_type == "bigint" and col.unsigned) else digits


def _max_string_bytes(col: Column) -> int | None:
    if col.data_type in ("char", "varchar"):
        return 4 * col.length if col.length is not None else None
    if col.data_type == "enum":
        return max((len(m.encode()) for m in col.members), default=0)
    return _MAX_LEN.get(col.data_type)


ZERO_DATE_TYPES = ("date", "datetime", "timestamp")  # NOT NULL or not, a zero date reads as None


def value_type(col: Column) -> VType:
    """The keymap type of a column's values."""
    dtp, nul = col.data_type, col.nullable
    if dtp in _INTEGER_DIGITS or dtp in ("bit", "year"):
        return VType(Kind.NUMBER, nul, precision=integer_digits(col), max_bytes=12)
    if dtp == "decimal":
        return VType(Kind.NUMBER, nul, precision=col.precision, scale=col.scale,
                     spark_text=col.precision > 38, max_bytes=2 + (col.precision + 1) // 2)
    if dtp == "float":
        return VType(Kind.FLOAT, nul, max_bytes=12)
    if dtp == "double":
        return VType(Kind.DOUBLE, nul, max_bytes=12)
    if dtp in _STRINGS:
        return VType(Kind.STRING, nul, max_bytes=_max_string_bytes(col))
    if dtp in _BINARIES:
        return VType(Kind.BINARY, nul, max_bytes=col.length if dtp in ("binary", "varbinary")
                     else _MAX_LEN[dtp])
    if dtp in SPATIAL:
        return VType(Kind.BINARY, nul, max_bytes=_MAX_LEN["longblob"])
    # a zero date ('0000-00-00', allowed under a permissive sql_mode, also in a NOT NULL column) is None
    # on both paths (the zero-date policy): a date value can be null whatever the column says
    if dtp == "date":
        return VType(Kind.DATE, True, max_bytes=10)
    if dtp in ZERO_DATE_TYPES:
        return VType(Kind.DATETIME, True, fsp=col.fsp, max_bytes=26)
    if dtp == "time":
        return VType(Kind.TIME, nul, fsp=col.fsp, max_bytes=17)
    if dtp == "json":
        return VType(Kind.JSON, nul, max_bytes=None)
    if dtp == "set":
        return VType(Kind.SET, nul, members=col.members,
                     max_bytes=sum(len(m.encode()) for m in col.members))
    raise AssertionError(dtp)  # unreachable: Column validates data_type


def stored_as(col: Column) -> tuple:
    """How the snapshot stores the column, one fact for both of its readers' types (`spark_type`,
    `arrow_type`): ("long",), ("decimal", precision, scale), ("float",), ("double",), ("string",),
    ("binary",), ("date",), ("timestamp",) (without time zone), ("strings",) (a list of str).
    Without pyspark: a snapshot worker writes Arrow and never needs it."""
    dtp = col.data_type
    if dtp in _INTEGER_DIGITS or dtp in ("bit", "year"):
        if dtp == "bigint" and col.unsigned or dtp == "bit" and (col.length or 64) > 63:
            return ("decimal", 20, 0)
        return ("long",)
    if dtp == "decimal":
        return ("decimal", col.precision, col.scale) if col.precision <= 38 else ("string",)
    if dtp in ("float", "double"):
        return (dtp,)
    if dtp in _STRINGS or dtp in ("json", "time"):
        return ("string",)
    if dtp in _BINARIES or dtp in SPATIAL:
        return ("binary",)
    if dtp == "date":
        return ("date",)
    if dtp in ("datetime", "timestamp"):
        return ("timestamp",)
    if dtp == "set":
        return ("strings",)
    raise AssertionError(dtp)


def spark_type(col: Column):
    """The Spark type (`pyspark.sql.types.DataType`) of the column in the snapshot Parquet."""
    from pyspark.sql import types as T

    kind, *args = stored_as(col)
    if kind == "decimal":
        return T.DecimalType(*args)
    if kind == "strings":
        return T.ArrayType(T.StringType(), containsNull=False)
    return {"long": T.LongType, "float": T.FloatType, "double": T.DoubleType, "string": T.StringType,
            "binary": T.BinaryType, "date": T.DateType, "timestamp": T.TimestampNTZType}[kind]()


def arrow_type(col: Column):
    """The Arrow type the snapshot dumper writes, matching `spark_type` once Spark reads it."""
    import pyarrow as pa

    kind, *args = stored_as(col)
    if kind == "decimal":
        return pa.decimal128(*args)
    if kind == "strings":
        return pa.list_(pa.string())
    return {"long": pa.int64, "float": pa.float32, "double": pa.float64, "string": pa.string,
            "binary": pa.binary, "date": pa.date32, "timestamp": lambda: pa.timestamp("us")}[kind]()


def time_text(value: dt.timedelta) -> str:
    """Canonical TIME text: `[-]HH:MM:SS.ffffff` (hours at least 2 digits, always 6 fraction digits).

    This is what the snapshot stores for TIME columns and what both engines cut down to the
    column's own fractional digits (`TIME(0)` -> `HH:MM:SS`).
    """
    micros = value // dt.timedelta(microseconds=1)
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    secs, frac = divmod(micros, 1_000_000)
    hours, rem = divmod(secs, 3600)
    return f"{sign}{hours:02d}:{rem // 60:02d}:{rem % 60:02d}.{frac:06d}"


def snapshot_value(col: Column, value: object) -> object:
    """A decoded MySQL value as the snapshot Parquet holds it (for writers and tests)."""
    if value is None:
        return None
    dtp = col.data_type
    if dtp == "time":
        return time_text(value)  # type: ignore[arg-type]
    if dtp == "set":
        members = set(value.split(",") if isinstance(value, str) and value else value or ())
        return sorted(members, key=set_order(col.members))
    if dtp == "decimal" and col.precision > 38:
        return number_text(value, col.scale)
    if dtp == "binary" and col.length is not None:
        return bytes(value).ljust(col.length, b"\x00")
    if dtp == "bigint" and col.unsigned or dtp == "bit" and (col.length or 64) > 63:
        from decimal import Decimal

        return Decimal(int(value))  # DecimalType(20,0) in the snapshot
    return value


def set_order(members: tuple[str, ...]):
    """Sort key putting SET members in definition order (unknown members last, by text)."""
    index = {m: i for i, m in enumerate(members)}
    return lambda m: (index.get(m, len(index)), m)


def number_text(value, scale: int) -> str:
    """Exact number text with `scale` fraction digits, no exponent, no negative zero."""
    from decimal import Context, Decimal

    ctx = Context(prec=200)
    d = ctx.create_decimal(value).quantize(Decimal(1).scaleb(-scale), context=ctx)
    if d == 0:
        d = abs(d)
    return f"{d:f}"
