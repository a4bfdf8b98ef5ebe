"""The closed set of keymap functions: ONE table, each entry with its type rule, its Python
implementation (replay) and its Spark implementation (bulk load) side by side.

Adding a function means adding one `Function(...)` entry below; the checker, both compilers,
the docs test and the differential property test pick it up from `FUNCTIONS`.

Also here: the text form of every value kind (`to_text_py` / `to_text_spark`), used by templates
and `str()`, because it is the most important "function" of all: it builds keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from mysql2dynamo.keymap.types import Kind, VType, number_text, set_order
from mysql2dynamo.keymap.values import _CTX, BadValue, decimal_text, java_float_text, to_float32

if TYPE_CHECKING:
    from pyspark.sql import Column


class _LazySparkFunctions:
    """`pyspark.sql.functions`, imported on first use: the replay Lambda ships without pyspark."""

    def __getattr__(self, name: str):
        from pyspark.sql import functions

        return getattr(functions, name)


F = _LazySparkFunctions()

# ---------------------------------------------------------------------------------------------
# text form of values
# ---------------------------------------------------------------------------------------------


def _dt_text(v: dt.datetime, fsp: int) -> str:
    base = f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}"
    return base + (f".{v.microsecond:06d}"[: fsp + 1] if fsp else "")


def _time_text(v: dt.timedelta | str, fsp: int) -> str:
    from mysql2dynamo.keymap.types import time_text

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
        return java_float_text(_float_py(v, t), k is Kind.FLOAT)
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


def float_error_spark(c: Column, t: VType) -> Column:
    """True where a FLOAT/DOUBLE value has no portable number text (NaN, Inf, huge, subnormal)."""
    a = F.abs(c.cast("double"))
    low = 2.0**-126 if t.kind is Kind.FLOAT else 2.0**-1022
    return c.isNotNull() & (F.isnan(c) | (a >= F.lit(2.0**63)) | ((a != 0) & (a < F.lit(low))))


def datetime_pattern(fsp: int) -> str:
    return "yyyy-MM-dd'T'HH:mm:ss" + ("." + "S" * fsp if fsp else "")


def to_text_spark(c: Column, t: VType) -> Column:
    """Spark Column with the same text as `to_text_py` (float errors: compile_spark.float_reason)."""
    k = t.kind
    if k in (Kind.NUMBER, Kind.FLOAT, Kind.DOUBLE, Kind.DATE, Kind.BOOL):
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


# ---------------------------------------------------------------------------------------------
# the function table
# ---------------------------------------------------------------------------------------------

TEXT = "text"  # parameter accepting any value, converted with its text form
INT_LIT = "int_lit"  # parameter that must be an integer literal
STR_LIT = "str_lit"  # parameter that must be a string literal
TEMPORAL = "temporal"  # DATE or DATETIME
ANY_TEMPORAL = "any_temporal"  # DATE, DATETIME or TIME


@dataclass(frozen=True)
class Function:
    """One keymap function.

    `params` lists parameter kinds (`TEXT`, `INT_LIT`, ...; `*` repeats the last one),
    `result` computes the result type from the argument types, `py` takes the argument values
    (never None: a None argument makes the result None, except for coalesce/if, which the
    compilers handle themselves) and `spark` takes the argument Columns.
    """

    name: str
    params: tuple[str, ...]
    min_args: int
    result: Callable[[list[VType]], VType]
    py: Callable
    spark: Callable
    doc: str
    example: str
    varargs: bool = False


STRING_T = VType(Kind.STRING)


def _substr_py(s: str, pos: int, length: int | None = None) -> str:
    # mirrors Spark's substring: 1-based, negative pos counts from the end, pos 0 == 1
    n = len(s)
    start = pos - 1 if pos > 0 else (n + pos if pos < 0 else 0)
    end = n if length is None else start + length
    start = max(start, 0)
    return s[start:end] if start < end else ""


def _pad_py(s: str, width: int, fill: str = "0", right: bool = False) -> str:
    if len(s) >= width:
        return s
    padding = (fill * width)[: width - len(s)]
    return s + padding if right else padding + s


def _pad_spark(c: Column, width: int, fill: str = "0", right: bool = False) -> Column:
    padded = F.rpad(c, width, fill) if right else F.lpad(c, width, fill)
    return F.when(F.length(c) >= width, c).otherwise(padded)


_STRFTIME = {"Y": "yyyy", "m": "MM", "d": "dd", "H": "HH", "M": "mm", "S": "ss", "f": "SSSSSS",
             "y": "yy", "j": "DDD"}


def strftime_tokens(fmt: str) -> list[tuple[bool, str]]:
    """Split a fmt_time format into (is_directive, text) pieces; raises on unknown directives."""
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%":
            d = fmt[i + 1: i + 2]
            if d == "%":
                out.append((False, "%"))
            elif d in _STRFTIME:
                out.append((True, d))
            else:
                raise ValueError(f"fmt_time supports %Y %m %d %H %M %S %f %y %j %%, got %{d}")
            i += 2
        else:
            out.append((False, fmt[i]))
            i += 1
    return out


def _fmt_time_py(v, fmt: str) -> str:
    if not isinstance(v, dt.datetime):
        v = dt.datetime(v.year, v.month, v.day)
    vals = {"Y": f"{v.year:04d}", "m": f"{v.month:02d}", "d": f"{v.day:02d}", "H": f"{v.hour:02d}",
            "M": f"{v.minute:02d}", "S": f"{v.second:02d}", "f": f"{v.microsecond:06d}",
            "y": f"{v.year % 100:02d}", "j": f"{v.timetuple().tm_yday:03d}"}
    return "".join(vals[t] if d else t for d, t in strftime_tokens(fmt))


def _fmt_time_spark(c: Column, fmt: str) -> Column:
    pattern, literal = [], []
    for directive, text in strftime_tokens(fmt) + [(True, "")]:
        if directive:
            if literal:  # one quoted run per literal text; a quote inside is doubled
                pattern.append("'" + "".join(literal).replace("'", "''") + "'")
                literal = []
            pattern.append(_STRFTIME.get(text, ""))
        else:
            literal.append(text)
    return F.date_format(c.cast("timestamp_ntz"), "".join(pattern))


_EPOCH = dt.datetime(1970, 1, 1)


def _micros_py(v) -> int:
    if not isinstance(v, dt.datetime):
        v = dt.datetime(v.year, v.month, v.day)
    return (v - _EPOCH) // dt.timedelta(microseconds=1)


def _micros_spark(c: Column) -> Column:
    return F.timestamp_diff("MICROSECOND", F.lit(_EPOCH).cast("timestamp_ntz"), c.cast("timestamp_ntz"))


def _epoch_s_spark(c: Column) -> Column:
    """Whole seconds since the epoch, floored. From 1970 on, unix_timestamp of a TIMESTAMP_NTZ is
    the stored value truncated: no time zone conversion and as cheap as Spark gets (the bulk
    load's hot path); before 1970 truncation is not flooring, so those take the exact path."""
    ntz = c.cast("timestamp_ntz")
    return (F.when(ntz >= F.lit(_EPOCH).cast("timestamp_ntz"), F.unix_timestamp(ntz))
            .otherwise(_floor_div_spark(_micros_spark(ntz), 1_000_000)))


def _floor_div_spark(c: Column, n: int) -> Column:
    """Exact floor(c / n) in long arithmetic: c - pmod(c, n) is a multiple of n; `div` is SQL's
    integral division (no doubles, no decimals on the hot path)."""
    return F.call_function("div", c - F.pmod(c, F.lit(n)), F.lit(n))


def _number(p: int) -> Callable[[list[VType]], VType]:
    return lambda _: VType(Kind.NUMBER, precision=p)


def _text(_: list[VType]) -> VType:
    return STRING_T


def _common(types: list[VType]) -> VType:
    """The type of coalesce/if results: all non-null arguments must share a kind."""
    real = [t for t in types if t.kind is not Kind.NULL]
    if not real:
        return VType(Kind.NULL)
    kinds = {t.kind for t in real}
    if len(kinds) > 1:
        raise TypeError("arguments have different types: " + ", ".join(sorted(k.value for k in kinds))
                        + " (wrap them with str() or num())")
    first = real[0]
    if first.kind is Kind.NUMBER:
        if any(t.spark_text for t in real):
            if len(real) > 1:
                raise TypeError("numbers from num() or DECIMAL(>38) cannot be combined; use str()")
            return first
        scale = max(t.scale for t in real)
        digits = max(t.precision - t.scale for t in real)
        if digits + scale > 38:
            raise TypeError(f"combined number needs {digits + scale} digits (> 38)")
        return VType(Kind.NUMBER, precision=digits + scale, scale=scale)
    if first.kind in (Kind.DATETIME, Kind.TIME):
        return first.but(fsp=max(t.fsp for t in real))
    if first.kind is Kind.SET and len({t.members for t in real}) > 1:
        raise TypeError("SET arguments have different member lists")
    return first


def _num_py(v, t: VType):
    if t.kind is Kind.BOOL:
        return 1 if v else 0
    if t.kind is Kind.NUMBER:
        return v
    s = to_text_py(v, t)
    import re

    if not re.fullmatch(r"[+-]?\d+(\.\d+)?", s):
        raise BadValue(f"num(): {s[:40]!r} is not a number")
    d = _CTX.create_decimal(s)
    if len(_CTX.normalize(d).as_tuple().digits) > 38 and d != 0:
        raise BadValue(f"num(): {s[:40]!r} has more than 38 significant digits", "number_too_large")
    return d


NUM_PATTERN = r"^[+-]?[0-9]+(\.[0-9]+)?$"


def _num_spark_text(c: Column) -> Column:
    """Normalised number text of a validated string: no sign '+', no leading/trailing zeros."""
    neg = F.substring(c, 1, 1) == "-"
    body = F.regexp_replace(c, r"^[+-]", "")
    body = F.regexp_replace(body, r"^0+(?=\d)", "")
    body = F.when(F.instr(body, ".") > 0, F.regexp_replace(F.regexp_replace(body, r"0+$", ""), r"\.$", "")) \
        .otherwise(body)
    return F.when(neg & (body != "0"), F.concat(F.lit("-"), body)).otherwise(body)


def _sig_digits_spark(text: Column) -> Column:
    digits = F.regexp_replace(F.regexp_replace(text, r"[^0-9]", ""), r"^0+", "")
    return F.length(F.regexp_replace(digits, r"0+$", ""))


def _num_result(types: list[VType]) -> VType:
    t = types[0]
    if t.kind is Kind.NUMBER:
        return t
    if t.kind is Kind.BOOL:
        return VType(Kind.NUMBER, precision=1)
    if t.kind is Kind.STRING:
        return VType(Kind.NUMBER, precision=38, scale=-1, spark_text=True)
    raise TypeError(f"num() takes a string, number or boolean, got {t}")


def _num_spark(c: Column, t: VType) -> Column:
    if t.kind is Kind.BOOL:
        return c.cast("long")
    if t.kind is Kind.NUMBER:
        return c
    return F.when(c.rlike(NUM_PATTERN), _num_spark_text(c))


def _num_error_spark(c: Column, t: VType) -> Column | None:
    """Reason code of num(): bad_value for text that is no number, number_too_large over 38 digits."""
    if t.kind is not Kind.STRING:
        return None
    return (F.when(c.isNull(), F.lit(None).cast("string"))
            .when(~c.rlike(NUM_PATTERN), F.lit("bad_value"))
            .when(_sig_digits_spark(c) > 38, F.lit("number_too_large")))


def _json_result(types: list[VType]) -> VType:
    return VType(Kind.JSON)


FUNCTIONS: dict[str, Function] = {f.name: f for f in [
    Function("lower", (TEXT,), 1, _text, lambda s: s.lower(), lambda c: F.lower(c),
             "lower case", "lower(email) -> 'ann@example.com'"),
    Function("upper", (TEXT,), 1, _text, lambda s: s.upper(), lambda c: F.upper(c),
             "upper case", "upper(country) -> 'DE'"),
    Function("trim", (TEXT,), 1, _text, lambda s: s.strip(" "), lambda c: F.trim(c),
             "remove leading and trailing spaces", "trim('  a ') -> 'a'"),
    Function("substr", (TEXT, INT_LIT, INT_LIT), 2, _text, _substr_py,
             lambda c, pos, n=None: F.substring(c, pos, n if n is not None else 2**31 - 1),
             "characters from 1-based `pos` (negative: from the end), at most `len` of them",
             "substr('ORDER-42', 7) -> '42'"),
    Function("replace", (TEXT, STR_LIT, STR_LIT), 3, _text,
             lambda s, a, b: s.replace(a, b) if a else s, lambda c, a, b: F.replace(c, F.lit(a), F.lit(b)),
             "replace every occurrence of a text", "replace(sku, '-', '') -> 'AB12'"),
    Function("pad", (TEXT, INT_LIT, STR_LIT), 2, _text, _pad_py, _pad_spark,
             "left-pad to a width with '0' (or the given fill); longer values are kept whole",
             "pad(id, 10) -> '0000000042'"),
    Function("rpad", (TEXT, INT_LIT, STR_LIT), 2, _text, lambda s, w, f="0": _pad_py(s, w, f, True),
             lambda c, w, f="0": _pad_spark(c, w, f, True),
             "right-pad to a width with '0' (or the given fill)", "rpad(code, 5, '_') -> 'AB___'"),
    Function("concat", (TEXT,), 1, _text, lambda *s: "".join(s), lambda *c: F.concat(*c),
             "join texts (null if any is null)", "concat(country, '-', city) -> 'DE-Berlin'", varargs=True),
    Function("coalesce", ("any",), 1, _common, None, None,
             "first non-null argument", "coalesce(nickname, name) -> 'Ann'", varargs=True),
    Function("if", ("bool", "any", "any"), 3, lambda ts: _common(ts[1:]), None, None,
             "`a` when the condition is true, else `b` (a null condition picks `b`)",
             "if(total > 100, 'big', 'small') -> 'big'"),
    Function("fmt_time", (TEMPORAL, STR_LIT), 2, _text, _fmt_time_py, _fmt_time_spark,
             "format a DATE/DATETIME with %Y %m %d %H %M %S %f %y %j %%",
             "fmt_time(created_at, '%Y-%m') -> '2024-01'"),
    Function("iso", (ANY_TEMPORAL,), 1, _text, None, None,
             "ISO-8601 text with the column's fractional digits (same as the default S)",
             "iso(created_at) -> '2024-01-02T03:04:05.123456'"),
    Function("epoch_s", (TEMPORAL,), 1, _number(12), lambda v: _micros_py(v) // 1_000_000,
             _epoch_s_spark,
             "seconds since 1970-01-01T00:00:00 (the value read as UTC), floored",
             "epoch_s(created_at) -> 1704164645"),
    Function("epoch_ms", (TEMPORAL,), 1, _number(15), lambda v: _micros_py(v) // 1_000,
             lambda c: _floor_div_spark(_micros_spark(c), 1_000),
             "milliseconds since 1970-01-01T00:00:00 (UTC), floored", "epoch_ms(created_at) -> 1704164645123"),
    Function("crc32", (TEXT,), 1, _number(10), lambda s: zlib.crc32(s.encode("utf-8", "surrogatepass")),
             lambda c: F.crc32(c.cast("binary")), "CRC-32 of the UTF-8 text", "crc32('a') -> 3904355907"),
    Function("md5", (TEXT,), 1, _text, lambda s: hashlib.md5(s.encode("utf-8", "surrogatepass")).hexdigest(),
             lambda c: F.md5(c.cast("binary")), "MD5 of the UTF-8 text, lower-case hex",
             "md5('a') -> '0cc175b9c0f1b6a831c399e269772661'"),
    Function("hash_mod", (TEXT, INT_LIT), 2, _number(10),
             lambda s, n: zlib.crc32(s.encode("utf-8", "surrogatepass")) % n,
             lambda c, n: F.crc32(c.cast("binary")) % F.lit(n),
             "write sharding: crc32(text) mod n, identical in both engines",
             "hash_mod(customer_id, 8) -> 3"),
    Function("json", (TEXT,), 1, _json_result, lambda s: s, lambda c: c,
             "parse JSON text: objects -> M, arrays -> L, scalars -> N/S/BOOL/NULL", "json(payload)"),
    Function("str", ("any",), 1, _text, None, None, "the text form of any value", "str(total) -> '12.50'"),
    Function("num", ("any",), 1, _num_result, None, None,
             "a number from text (`[+-]digits[.digits]`, at most 38 significant digits) or boolean",
             "num('0012.50') -> 12.5"),
    Function("length", (TEXT,), 1, _number(10), lambda s: len(s), lambda c: F.char_length(c),
             "number of characters", "length(name) -> 3"),
]}

# function implementations that need the argument types (compilers call them specially)
TYPED_PY = {"num": _num_py}
TYPED_SPARK = {"num": _num_spark}
TYPED_ERROR_SPARK = {"num": _num_error_spark}
