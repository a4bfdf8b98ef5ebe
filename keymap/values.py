"""Canonical texts of values, written in Python to match what the Spark engine produces.

FLOAT and DOUBLE columns: `float_text`, computed with exact arithmetic here and in the JVM
(io.mysql2dynamo.emr.NumberText), so the text does not depend on the cluster's Java version.
Numbers inside JSON values go through Spark's variant and are printed by the JDK's
`Double.toString`; `java_float_text` reproduces Java 17's digits, and where they are not
reproducible (magnitudes >= 2**63, subnormal numbers) both engines reject the value instead of
guessing (see `float_in_safe_range`).
"""

from __future__ import annotations

import json
import math
import struct
from decimal import Context, Decimal

from mysql2dynamo.keymap.types import JSON_MAX_DEPTH

_CTX = Context(prec=200)
SAFE_FLOAT_MAX = 2.0**63
MIN_NORMAL = {True: 2.0**-126, False: 2.0**-1022}  # keyed by `single`


class BadValue(ValueError):
    """A value that has no DynamoDB representation; `reason` is the rejection reason code."""

    def __init__(self, message: str, reason: str = "bad_value"):
        super().__init__(message)
        self.reason = reason


def float_in_safe_range(x: float, single: bool) -> bool:
    """True when `java_float_text` is known to equal the JDK 17 text (and the value is finite)."""
    a = abs(x)
    return a == 0 or (MIN_NORMAL[single] <= a < SAFE_FLOAT_MAX)


def _insignificant_digits(p2: int) -> int:
    # the JDK drops this many low digits when printing an integer above 2**nSignificantBits
    return len(str(1 << p2)) - 1 if 1 < p2 < 64 else 0


def _java_layout(negative: bool, digits: str, point: int) -> str:
    """JDK layout: plain for 1e-3 <= |x| < 1e7, else `d.dddE<exp>`; value = 0.<digits> * 10**point."""
    sign = "-" if negative else ""
    if 0 < point < 8:
        if len(digits) <= point:
            return f"{sign}{digits}{'0' * (point - len(digits))}.0"
        return f"{sign}{digits[:point]}.{digits[point:]}"
    if -3 < point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{point - 1}"


def java_float_text(x: float, single: bool = False) -> str:
    """`String.valueOf(x)` of JDK 17 for a finite value in the safe range (Spark's cast to string).

    Integers below 2**63 print their exact digits (rounded at the JDK's insignificant-digit
    count); other values print the shortest round-tripping digits.
    """
    if not math.isfinite(x):
        raise BadValue(f"floating point value {x!r} is not a number DynamoDB can store")
    if not float_in_safe_range(x, single):
        raise BadValue(f"floating point value {x!r} is outside the portable range", "number_too_large")
    negative = math.copysign(1.0, x) < 0
    a = abs(x)
    if a == 0:
        return "-0.0" if negative else "0.0"
    if a == int(a):
        bin_exp = math.frexp(a)[1] - 1
        significant = 24 if single else 53
        drop = _insignificant_digits(bin_exp - significant - 1) if bin_exp > significant else 0
        v = int(a)
        if drop:
            v, rest = divmod(v, 10**drop)
            v += rest >= 10**drop // 2
        text = str(v)
        return _java_layout(negative, text.rstrip("0"), len(text) + drop)
    mantissa, exp = _shortest_scientific(a, single).split("e")
    return _java_layout(negative, mantissa.replace(".", "").rstrip("0"), int(exp) + 1)


DYNAMO_NUMBER_RANGE = (1e-130, 1e126)  # DynamoDB N magnitudes: 1E-130 <= |x| < 1E+126 (or 0)


def float_text(x: float, single: bool) -> str:
    """The canonical text of a MySQL FLOAT (`single`) or DOUBLE value, the same on every JVM.

    The fewest significant digits, rounded half-even from the exact binary value, that read back
    as the same binary32 (binary64) value, in Float.toString's layout. The Spark engine computes
    the same text in the JVM with exact BigDecimal arithmetic (io.mysql2dynamo.emr.NumberText in
    the converter jar), never with the JDK's own float printing, whose digits changed in Java 19.
    """
    if not math.isfinite(x):
        raise BadValue(f"floating point value {x!r} is not a number DynamoDB can store")
    negative = math.copysign(1.0, x) < 0
    a = abs(x)
    if a == 0:
        return "-0.0" if negative else "0.0"
    if not single and not DYNAMO_NUMBER_RANGE[0] <= a < DYNAMO_NUMBER_RANGE[1]:
        raise BadValue(f"floating point value {x!r} is outside DynamoDB's number range (1E-130 to 1E+126)",
                       "number_too_large")
    max_digits = 9 if single else 17
    text = f"{a:.{max_digits - 1}e}"
    for p in range(1, max_digits):
        candidate = f"{a:.{p - 1}e}"
        if (_reads_back_as_float32(candidate, a) if single else float(candidate) == a):
            text = candidate
            break
    mantissa, exp = text.split("e")
    return _java_layout(negative, mantissa.replace(".", "").rstrip("0"), int(exp) + 1)


def _reads_back_as_float32(text: str, a: float) -> bool:
    """Exactly: does decimal `text` round (half-even) to the positive binary32 value `a`?"""
    bits = struct.unpack("<I", struct.pack("<f", a))[0]
    exact = Decimal(a)
    below = Decimal(_float32_of(bits - 1))
    # above the largest float, the next step would be as wide as the one below it
    above = _CTX.subtract(_CTX.multiply(exact, 2), below) if bits == 0x7F7FFFFF else Decimal(_float32_of(bits + 1))
    low, high = _CTX.divide(_CTX.add(below, exact), 2), _CTX.divide(_CTX.add(exact, above), 2)
    d = Decimal(text)
    return low < d < high or (bits % 2 == 0 and d in (low, high))


def _float32_of(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def to_float32(x: float) -> float:
    """Round a Python float to binary32 (MySQL FLOAT), as Spark's FloatType holds it."""
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:  # rounds beyond the binary32 range: Java's float arithmetic gives Infinity
        return math.copysign(math.inf, x)


def _shortest_scientific(a: float, single: bool) -> str:
    """Shortest `d.ddde<exp>` text that reads back as `a` (binary32 when `single`)."""
    if not single:
        return _shortest_loop(a, lambda s: float(s) == a, 17)
    return _shortest_loop(a, lambda s: to_float32(float(s)) == a, 9)


def _shortest_loop(a: float, round_trips, max_digits: int) -> str:
    for p in range(max_digits):
        text = f"{a:.{p}e}"
        if round_trips(text):
            return text
    return f"{a:.{max_digits - 1}e}"


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def json_string(s: str) -> str:
    """A JSON string literal escaped exactly like Jackson (Spark's to_json)."""
    out = []
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch < " ":
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def decimal_text(d: Decimal) -> str:
    """Exact number text without exponent; `-0` prints as `0`."""
    if d == 0:
        d = abs(d)
    return f"{d:f}"


# --- JSON text -> DynamoDB JSON (mirrors Spark's parse_json + variant rules) -----------------


class _Num(str):
    """A JSON number token, kept as text until we know how Spark's variant would type it."""


def _pairs(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise BadValue("duplicate key in JSON object")
    return dict(pairs)


def _reject_constant(name: str):
    raise BadValue(f"JSON constant {name} is not allowed")


def parse_json(text: str):
    """Parse JSON text like Spark's `try_parse_json`: duplicate keys and NaN are errors."""
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_int=_Num, parse_float=_Num,
                          parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:
        raise BadValue(f"invalid JSON: {e}") from None


def json_number_text(token: str) -> str:
    """The DynamoDB number text of a JSON number token, as Spark's variant prints it.

    Spark's parse_json keeps integers as longs (else as decimals up to 38 digits), plain
    fractions as decimals (up to 38 digits, printed without trailing zeros) and everything
    else -- any exponent, or too many digits -- as a double (printed like Double.toString).
    """
    exponent = "e" in token or "E" in token
    if not exponent and "." not in token:
        v = int(token)
        if -(2**63) <= v < 2**63:
            return str(v)
    if not exponent:
        d = _CTX.create_decimal(token)
        _, digits, exp = d.as_tuple()
        if len(digits) <= 38 and -exp <= 38:
            return decimal_text(_CTX.normalize(d) if d != 0 else Decimal(0))
    x = float(token)
    if not math.isfinite(x):
        raise BadValue(f"JSON number {token} is out of range")
    return java_float_text(x)


def _java_order(item) -> bytes:
    """Spark's variant sorts object keys like Java strings: by UTF-16 code units."""
    return item[0].encode("utf-16-be", "surrogatepass")


def dynamo_json_value(value, depth: int = 1, max_depth: int = JSON_MAX_DEPTH) -> str:
    """DynamoDB-JSON text of a parsed JSON value (objects -> M with sorted keys, arrays -> L)."""
    if depth > max_depth:
        raise BadValue(f"JSON nested deeper than {max_depth} levels")
    if isinstance(value, dict):
        inner = ",".join(f"{json_string(k)}:{dynamo_json_value(v, depth + 1, max_depth)}"
                         for k, v in sorted(value.items(), key=_java_order))
        return '{"M":{' + inner + "}}"
    if isinstance(value, list):
        return '{"L":[' + ",".join(dynamo_json_value(v, depth + 1, max_depth) for v in value) + "]}"
    if isinstance(value, _Num):
        try:
            return '{"N":"' + json_number_text(value) + '"}'
        except BadValue as e:
            raise BadValue(str(e)) from None  # inside JSON every problem is a bad_value
    if value is True or value is False:
        return '{"BOOL":' + ("true" if value else "false") + "}"
    if value is None:
        return '{"NULL":true}'
    return '{"S":' + json_string(value) + "}"
