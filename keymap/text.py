"""The text form of every value kind, in Python (`to_text_py`) and in Spark (`to_text_spark`), and
the bound of its size (`text_bound`): templates, `str()` and `iso()` use it, and it builds keys.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from mysql2dynamo.keymap.spark_sql import Column
from mysql2dynamo.keymap.spark_value import F
from mysql2dynamo.keymap.types import Kind, VType, number_text, set_order, time_text
from mysql2dynamo.keymap.values import _CTX, DYNAMO_NUMBER_RANGE, decimal_text, float_text, to_float32


def _dt_text(v: dt.datetime, fsp: int) -> str:
    base = f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}"
    return base + (f".{v.microsecond:06d}"[: fsp + 1] if fsp else "")


def _time_text(v: dt.timedelta | str, fsp: int) -> str:
    full = v if isinstance(v, str) else time_text(v)
    return full[: len(full) - 6 - (fsp == 0) + fsp]


def _float_py(v: float, t: VType) -> float:
    """Python floats of a FLOAT column are rounded to binary32, as MySQL stores them."""
    return to_float32(float(v)) if t.kind is Kind.FLOAT else float(v)


def number_py_text(v, t: VType) -> str:
    if t.scale < 0:  # num(): free scale, normalised
        return decimal_text(_CTX.normalize(v) if v != 0 else Decimal(0))
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v) if t.scale == 0 else number_text(v, t.scale)
    return number_text(v, t.scale)


def to_text_py(v, t: VType) -> str | None:
    """The text of a Python value of type `t` (None stays None)."""
    if v is None:
        return None
    k = t.kind
    if k is Kind.NUMBER:
        return number_py_text(v, t)
    if k in (Kind.FLOAT, Kind.DOUBLE):
        return float_text(_float_py(v, t), k is Kind.FLOAT)
    if k in (Kind.STRING, Kind.JSON):
        return v
    if k is Kind.BINARY:
        return bytes(v).hex()
    if k is Kind.DATE:
        return f"{v.year:04d}-{v.month:02d}-{v.day:02d}"
    if k is Kind.DATETIME:
        return _dt_text(v, t.fsp)
    if k is Kind.TIME:
        return _time_text(v, t.fsp)
    if k is Kind.SET:
        return ",".join(sorted(set_members(v), key=set_order(t.members)))
    if k is Kind.BOOL:
        return "true" if v else "false"
    raise AssertionError(k)


def set_members(v) -> set[str]:
    if isinstance(v, str):
        return set(v.split(",")) if v else set()
    return set(v)


# the JVM side of keymap.values.float_text, in the converter jar (emr/converter)
NUMBER_TEXT_CLASS = "io.mysql2dynamo.emr.NumberText"


def float_error_spark(c: Column, t: VType) -> Column:
    """True where a DOUBLE value is outside DynamoDB's number range (every finite FLOAT is inside)."""
    if t.kind is Kind.FLOAT:
        return F.lit(False)
    a = F.abs(c.cast("double"))
    low, high = DYNAMO_NUMBER_RANGE
    return c.isNotNull() & ~F.isnan(c) & ((a >= F.lit(high)) | ((a != 0) & (a < F.lit(low))))


def float_text_spark(c: Column, t: VType) -> Column:
    """`float_text` in the JVM: exact BigDecimal arithmetic, not the JDK's version-dependent printing."""
    single = t.kind is Kind.FLOAT
    x = c.cast("float" if single else "double")
    # reflect() turns a null result into the text "null": only finite values are printed, the rest stay null
    return F.when(~F.isnan(x) & (F.abs(x) != float("inf")),
                  F.reflect(F.lit(NUMBER_TEXT_CLASS), F.lit("floatText" if single else "doubleText"), x))


def datetime_pattern(fsp: int) -> str:
    return "yyyy-MM-dd'T'HH:mm:ss" + ("." + "S" * fsp if fsp else "")


def to_text_spark(c: Column, t: VType) -> Column:
    """Spark Column with the same text as `to_text_py` (float errors: compile_spark.float_reason)."""
    k = t.kind
    if k in (Kind.FLOAT, Kind.DOUBLE):
        return float_text_spark(c, t)
    if k in (Kind.NUMBER, Kind.DATE, Kind.BOOL):
        return c.cast("string")
    if k in (Kind.STRING, Kind.JSON):
        return c
    if k is Kind.BINARY:
        return F.lower(F.hex(c))
    if k is Kind.DATETIME:
        return F.date_format(c, datetime_pattern(t.fsp))
    if k is Kind.TIME:
        return F.substring(c, F.lit(1), F.length(c) - (6 - t.fsp + (t.fsp == 0)))
    if k is Kind.SET:
        return F.array_join(c, ",")
    if k is Kind.NULL:
        return F.lit(None).cast("string")
    raise AssertionError(k)


def text_bound(t: VType) -> int | None:
    """Upper bound of the UTF-8 bytes of a value's text form (templates, str()), None when unknown."""
    if t.kind is Kind.NUMBER:
        return (t.precision if t.scale >= 0 else 39) + 2
    if t.kind in (Kind.FLOAT, Kind.DOUBLE):
        return 26
    if t.kind is Kind.BOOL:
        return 5
    if t.kind is Kind.NULL:
        return 0
    if t.kind is Kind.BINARY:
        return None if t.max_bytes is None else 2 * t.max_bytes
    if t.kind is Kind.SET:
        return None if t.max_bytes is None else t.max_bytes + len(t.members)
    return t.max_bytes  # strings, JSON text, DATE/DATETIME/TIME texts
