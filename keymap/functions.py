"""The closed set of keymap functions: ONE entry per function in `FUNCTIONS`, with all its facts
(parameters and their checks, type rule, null behaviour, injectivity, size bound) and its Python
(replay) and Spark (bulk load) implementations side by side. keymap/function_entry.py says what each
fact means; the type checker, the lints, both compilers, the docs test and the differential test
read them from here. Adding a function means adding one `Function(...)` entry below.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import zlib
from collections.abc import Callable
from typing import Any

from mysql2dynamo.keymap.function_entry import Arg, Function, Nulls, Param, largest, registry, text_of, unbounded
from mysql2dynamo.keymap.geometry import geojson
from mysql2dynamo.keymap.spark_sql import Column
from mysql2dynamo.keymap.spark_value import SV, F, first_error, null_text
from mysql2dynamo.keymap.types import Kind, VType
from mysql2dynamo.keymap.values import _CTX, BadValue

Fn = Callable[[dict], Any]  # a compiled Python argument: row -> value

# --- parameters ----------------------------------------------------------------------------------


def _positive(v: int, where: str) -> str | None:
    return None if v > 0 else f"expected a positive integer for {where}"


def _non_empty(v: str, where: str) -> str | None:
    return None if v else f"expected a non-empty fill text for {where}"


def _time_format(v: str, where: str) -> str | None:
    try:
        strftime_tokens(v)
    except ValueError as err:
        return str(err)
    return None


TEXT = Param("a value", as_text=True)
ANY = Param("a value")
BRANCH = Param("a value", branch=True)
CONDITION = Param("a condition", kinds=frozenset({Kind.BOOL}))
TEMPORAL = Param("a DATE or DATETIME", kinds=frozenset({Kind.DATE, Kind.DATETIME}))
TEMPORAL_TEXT = Param("a DATE, DATETIME or TIME", kinds=frozenset({Kind.DATE, Kind.DATETIME, Kind.TIME}),
                      as_text=True)
GEOMETRY = Param("a geometry (WKB bytes)", kinds=frozenset({Kind.BINARY}))
INT = Param("an integer literal", literal=int)
POSITIVE = Param("an integer literal", literal=int, check=_positive)
FILL = Param("a string literal", literal=str, check=_non_empty)
TIME_FORMAT = Param("a string literal", literal=str, check=_time_format)
STR = Param("a string literal", literal=str)

# --- type rules ----------------------------------------------------------------------------------


def _number(p: int) -> Callable[[list[VType]], VType]:
    return lambda _: VType(Kind.NUMBER, precision=p)


def _text(_: list[VType]) -> VType:
    return VType(Kind.STRING)


def _json_result(_: list[VType]) -> VType:
    return VType(Kind.JSON)


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


# --- size rules ----------------------------------------------------------------------------------


def _first_text(args: list[Arg]) -> int | None:
    """Never longer than the first argument's text."""
    return text_of(args[0])


def _case_size(args: list[Arg]) -> int | None:
    """Unicode case mapping can expand a character up to three."""
    size = text_of(args[0])
    return None if size is None else 3 * size


def _pad_size(args: list[Arg]) -> int | None:
    """The text, and at most `width` fill characters of up to 4 bytes each."""
    size = text_of(args[0])
    return None if size is None else size + 4 * args[1].value


def _fmt_time_size(args: list[Arg]) -> int | None:
    """Every byte of the format gives at most 6 (`%f`: six digits for two bytes)."""
    return 6 * len(args[1].value.encode())


# --- implementations -----------------------------------------------------------------------------


def _same(v: Any) -> Any:
    return v


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


NUMBER_TEXT = r"[+-]?[0-9]+(\.[0-9]+)?"  # what num() accepts: ASCII digits only, the whole text


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


def _coalesce_py(*args: Fn) -> Fn:
    def run(row: dict) -> Any:
        for f in args:
            if (v := f(row)) is not None:
                return v
        return None
    return run


def _coalesce_spark(*args: SV) -> SV:
    """Later arguments' errors count only where all earlier values are null."""
    err = args[-1].err
    for a in reversed(args[:-1]):
        err = first_error(a.err, F.when(a.col.isNull(), err) if err is not None else None)
    return SV(F.coalesce(*[a.col for a in args]), err)


def _if_py(cond: Fn, a: Fn, b: Fn) -> Fn:
    return lambda row: a(row) if cond(row) is True else b(row)


def _if_spark(cond: SV, a: SV, b: SV) -> SV:
    """Only the chosen branch's error counts."""
    branch = None
    if a.err is not None or b.err is not None:
        branch = F.when(cond.col, a.err if a.err is not None else null_text()) \
            .otherwise(b.err if b.err is not None else null_text())
    return SV(F.when(cond.col, a.col).otherwise(b.col), first_error(cond.err, branch))


def _num_py(v: Any, *, types: list[VType]) -> Any:
    kind = types[0].kind
    if kind is Kind.BOOL:
        return 1 if v else 0
    if kind is Kind.NUMBER:
        return v
    if not re.fullmatch(NUMBER_TEXT, v):
        raise BadValue(f"num(): {v[:40]!r} is not a number")
    d = _CTX.create_decimal(v)
    if len(_CTX.normalize(d).as_tuple().digits) > 38 and d != 0:
        raise BadValue(f"num(): {v[:40]!r} has more than 38 significant digits", "number_too_large")
    return d


def _is_number_text(c: Column) -> Column:
    return c.rlike(f"^(?:{NUMBER_TEXT})\\z")  # Java's `$` would also match before a final newline


def _num_spark(c: Column, *, types: list[VType]) -> Column:
    kind = types[0].kind
    if kind is Kind.BOOL:
        return c.cast("long")
    if kind is Kind.NUMBER:
        return c
    return F.when(_is_number_text(c), _num_spark_text(c))


def _num_reject_spark(c: Column, *, types: list[VType]) -> Column | None:
    """Reason code of num(): bad_value for text that is no number, number_too_large over 38 digits."""
    if types[0].kind is not Kind.STRING:
        return None
    return (F.when(c.isNull(), null_text())
            .when(~_is_number_text(c), F.lit("bad_value"))
            .when(_sig_digits_spark(c) > 38, F.lit("number_too_large")))


GEOJSON_CLASS = "io.mysql2dynamo.emr.GeoJson"  # in the converter jar: the same text as keymap.geometry.geojson


def _geojson_text_spark(c: Column) -> Column:
    # reflect() gives the text "null" for a null result: only non-null values go in
    return F.when(c.isNotNull(), F.reflect(F.lit(GEOJSON_CLASS), F.lit("geojson"), F.hex(c)))


def _geojson_spark(c: Column) -> Column:
    text = _geojson_text_spark(c)
    return F.when(~text.startswith("!"), text)


def _geojson_reject_spark(c: Column) -> Column:
    """The reason the JVM gives ("!bad_value", "!number_too_large") for a value it cannot write."""
    text = _geojson_text_spark(c)
    return F.when(text.startswith("!"), F.substring(text, 2, 40))


# --- the entries ---------------------------------------------------------------------------------

FUNCTIONS: dict[str, Function] = registry(
    Function(name="lower", params=(TEXT,), min_args=1, result=_text, nulls=Nulls.ANY, injective=False,
             size=_case_size, py=str.lower, spark=lambda c: F.lower(c),
             doc="lower case", example="lower(email) -> 'ann@example.com'"),
    Function(name="upper", params=(TEXT,), min_args=1, result=_text, nulls=Nulls.ANY, injective=False,
             size=_case_size, py=str.upper, spark=lambda c: F.upper(c),
             doc="upper case", example="upper(country) -> 'DE'"),
    Function(name="trim", params=(TEXT,), min_args=1, result=_text, nulls=Nulls.ANY, injective=False,
             size=_first_text, py=lambda s: s.strip(" "), spark=lambda c: F.trim(c),
             doc="remove leading and trailing spaces", example="trim('  a ') -> 'a'"),
    Function(name="substr", params=(TEXT, INT, INT), min_args=2, result=_text, nulls=Nulls.ANY, injective=False,
             size=_first_text, py=_substr_py,
             spark=lambda c, pos, n=None: F.substring(c, pos, n if n is not None else 2**31 - 1),
             doc="characters from 1-based `pos` (negative: from the end), at most `len` of them",
             example="substr('ORDER-42', 7) -> '42'"),
    Function(name="replace", params=(TEXT, STR, STR), min_args=3, result=_text, nulls=Nulls.ANY, injective=False,
             size=unbounded, py=lambda s, a, b: s.replace(a, b) if a else s,
             spark=lambda c, a, b: F.replace(c, F.lit(a), F.lit(b)),
             doc="replace every occurrence of a text", example="replace(sku, '-', '') -> 'AB12'"),
    Function(name="pad", params=(TEXT, POSITIVE, FILL), min_args=2, result=_text, nulls=Nulls.ANY, injective=True,
             size=_pad_size, py=_pad_py, spark=_pad_spark,
             doc="left-pad to a width with '0' (or the given fill); longer values are kept whole",
             example="pad(id, 10) -> '0000000042'"),
    Function(name="rpad", params=(TEXT, POSITIVE, FILL), min_args=2, result=_text, nulls=Nulls.ANY, injective=True,
             size=_pad_size, py=lambda s, w, f="0": _pad_py(s, w, f, True),
             spark=lambda c, w, f="0": _pad_spark(c, w, f, True),
             doc="right-pad to a width with '0' (or the given fill)", example="rpad(code, 5, '_') -> 'AB___'"),
    Function(name="concat", params=(TEXT,), min_args=1, varargs=True, result=_text, nulls=Nulls.ANY,
             injective=True, size=lambda args: text_of(*args), py=lambda *s: "".join(s),
             spark=lambda *c: F.concat(*c),
             doc="join texts (null if any is null)", example="concat(country, '-', city) -> 'DE-Berlin'"),
    Function(name="coalesce", params=(BRANCH,), min_args=1, varargs=True, result=_common, nulls=Nulls.ALL,
             injective=False, size=largest, py=_coalesce_py, spark=_coalesce_spark,
             doc="first non-null argument", example="coalesce(nickname, name) -> 'Ann'"),
    Function(name="if", params=(CONDITION, BRANCH, BRANCH), min_args=3, result=lambda ts: _common(ts[1:]),
             nulls=Nulls.BRANCH, injective=False, size=lambda args: largest(args[1:]), py=_if_py, spark=_if_spark,
             doc="`a` when the condition is true, else `b` (a null condition picks `b`)",
             example="if(total > 100, 'big', 'small') -> 'big'"),
    Function(name="fmt_time", params=(TEMPORAL, TIME_FORMAT), min_args=2, result=_text, nulls=Nulls.ANY,
             injective=False, size=_fmt_time_size, py=_fmt_time_py, spark=_fmt_time_spark,
             doc="format a DATE/DATETIME with %Y %m %d %H %M %S %f %y %j %%",
             example="fmt_time(created_at, '%Y-%m') -> '2024-01'"),
    Function(name="iso", params=(TEMPORAL_TEXT,), min_args=1, result=_text, nulls=Nulls.ANY, injective=True,
             size=_first_text, py=_same, spark=_same,
             doc="ISO-8601 text with the column's fractional digits (same as the default S)",
             example="iso(created_at) -> '2024-01-02T03:04:05.123456'"),
    Function(name="epoch_s", params=(TEMPORAL,), min_args=1, result=_number(12), nulls=Nulls.ANY, injective=False,
             size=unbounded, py=lambda v: _micros_py(v) // 1_000_000, spark=_epoch_s_spark,
             doc="seconds since 1970-01-01T00:00:00 (the value read as UTC), floored",
             example="epoch_s(created_at) -> 1704164645"),
    Function(name="epoch_ms", params=(TEMPORAL,), min_args=1, result=_number(15), nulls=Nulls.ANY, injective=False,
             size=unbounded, py=lambda v: _micros_py(v) // 1_000,
             spark=lambda c: _floor_div_spark(_micros_spark(c), 1_000),
             doc="milliseconds since 1970-01-01T00:00:00 (UTC), floored",
             example="epoch_ms(created_at) -> 1704164645123"),
    Function(name="crc32", params=(TEXT,), min_args=1, result=_number(10), nulls=Nulls.ANY, injective=False,
             size=unbounded, py=lambda s: zlib.crc32(s.encode("utf-8", "surrogatepass")),
             spark=lambda c: F.crc32(c.cast("binary")),
             doc="CRC-32 of the UTF-8 text",
             example="crc32('a') -> 3904355907"),
    Function(name="md5", params=(TEXT,), min_args=1, result=_text, nulls=Nulls.ANY, injective=False,
             size=lambda _: 32, py=lambda s: hashlib.md5(s.encode("utf-8", "surrogatepass")).hexdigest(),
             spark=lambda c: F.md5(c.cast("binary")), doc="MD5 of the UTF-8 text, lower-case hex",
             example="md5('a') -> '0cc175b9c0f1b6a831c399e269772661'"),
    Function(name="hash_mod", params=(TEXT, POSITIVE), min_args=2, result=_number(10), nulls=Nulls.ANY,
             injective=False, size=unbounded, py=lambda s, n: zlib.crc32(s.encode("utf-8", "surrogatepass")) % n,
             spark=lambda c, n: F.crc32(c.cast("binary")) % F.lit(n),
             doc="write sharding: crc32(text) mod n, identical in both engines",
             example="hash_mod(customer_id, 8) -> 3"),
    # the text passes through: the attribute writers parse it (compile_python.attr_value, compile_spark.json_to_dynamo)
    Function(name="json", params=(TEXT,), min_args=1, result=_json_result, nulls=Nulls.ANY_OR_BAD, injective=True,
             size=unbounded, py=_same, spark=_same,
             doc="parse JSON text: objects -> M, arrays -> L, scalars -> N/S/BOOL/NULL", example="json(payload)"),
    Function(name="geojson", params=(GEOMETRY,), min_args=1, result=_json_result, nulls=Nulls.ANY_OR_BAD,
             injective=True, size=unbounded, py=geojson, spark=_geojson_spark, spark_reject=_geojson_reject_spark,
             doc="a geometry (WKB) as GeoJSON: M with type and coordinates (geometries for a collection)",
             example="geojson(location) -> {type: Point, coordinates: [1.5, -2.0]}"),
    Function(name="str", params=(TEXT,), min_args=1, result=_text, nulls=Nulls.ANY, injective=True,
             size=_first_text, py=_same, spark=_same,
             doc="the text form of any value",
             example="str(total) -> '12.50'"),
    Function(name="num", params=(ANY,), min_args=1, result=_num_result, nulls=Nulls.ANY_OR_BAD, injective=True,
             size=unbounded, typed=True, py=_num_py, spark=_num_spark, spark_reject=_num_reject_spark,
             doc="a number from text (`[+-]digits[.digits]`, at most 38 significant digits) or boolean",
             example="num('0012.50') -> 12.5"),
    Function(name="length", params=(TEXT,), min_args=1, result=_number(10), nulls=Nulls.ANY, injective=False,
             size=unbounded, py=len, spark=lambda c: F.char_length(c),
             doc="number of characters", example="length(name) -> 3"),
)
