"""Rows of a binlog row event, decoded by code compiled once per table map.

Invariant: for every event it accepts, `decoded_rows(event)` returns what python-mysql-replication's
`event.rows` returns for the same bytes: the same dicts (keys in column order), values of the same
types and equal, the same none sources. So the repairs cdc/binlog.py applies to the library's
values apply unchanged. It accepts a table map whose columns all have names and types read here,
and an event whose images hold every column; for anything else (GEOMETRY, MySQL's binary JSON, the
pre-5.6 temporal types, a partial image) it hands the event to the library, so nothing changes there.

Why: the library reads each value through a generic chain (type dispatch, two packet wrappers, one
struct call per field, bit helpers), about 95% of a bare decode loop. Here the column dispatch is
resolved when the table map arrives: each table shape becomes one Python function that reads an
image with a null-bit test and a few byte operations per value. The library still does everything
else: the connection, the replication protocol, the event framing and the table maps.
"""

from __future__ import annotations

import codecs
import datetime as dt
import struct
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pymysqlreplication.constants import FIELD_TYPE, NONE_SOURCE
from pymysqlreplication.row_event import RowsEvent, UpdateRowsEvent

Image = Callable[[bytes, int], tuple[dict[str, Any], dict[str, str], int]]  # (data, pos) -> values, nones, pos
Reader = Callable[[bytes, int], tuple[Any, int]]  # (data, pos) -> value, pos (the rarer types)

_from_bytes = int.from_bytes
_EPOCH = dt.datetime(1970, 1, 1)
_FSP_BYTES = (0, 1, 1, 2, 2, 3, 3)  # fractional-second digits -> bytes
_DECIMAL_BYTES = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)  # leftover decimal digits -> bytes
_INTS = {  # type -> (size, signed format, unsigned format)
    FIELD_TYPE.TINY: (1, "<b", "<B"), FIELD_TYPE.SHORT: (2, "<h", "<H"), FIELD_TYPE.LONG: (4, "<i", "<I"),
    FIELD_TYPE.LONGLONG: (8, "<q", "<Q"), FIELD_TYPE.FLOAT: (4, "<f", "<f"), FIELD_TYPE.DOUBLE: (8, "<d", "<d"),
}
_CACHE_LIMIT = 4096  # table maps / shapes remembered (a table map arrives with every transaction)


def decoded_rows(event: RowsEvent) -> list[dict[str, Any]]:
    """`event.rows`, read by the table map's compiled image reader when there is one."""
    image = _image_reader(event)
    if image is None or not event.complete or not _full(event):
        return event.rows
    data = event.packet.read(event.event_size - event.packet.read_bytes)
    end, pos, rows = len(data), 0, []
    if isinstance(event, UpdateRowsEvent):
        while pos < end:
            before, before_nones, pos = image(data, pos)
            after, after_nones, pos = image(data, pos)
            rows.append({"before_values": before, "before_none_sources": before_nones,
                         "after_values": after, "after_none_sources": after_nones})
    else:
        while pos < end:
            values, nones, pos = image(data, pos)
            rows.append({"values": values, "none_sources": nones})
    return rows


_by_table_id: dict[int, tuple[list, Image | None]] = {}  # the table map the reader was compiled for
_by_shape: dict[str, Image | None] = {}


def _image_reader(event: RowsEvent) -> Image | None:
    """The compiled reader of this event's table map; a new table map of the same shape reuses one."""
    columns = event.columns
    seen = _by_table_id.get(event.table_id)
    if seen is not None and seen[0] is columns:
        return seen[1]
    shape = repr([vars(c) for c in columns])
    if shape not in _by_shape:
        if len(_by_shape) >= _CACHE_LIMIT:
            _by_shape.clear()
        _by_shape[shape] = compile_image(columns)
    if len(_by_table_id) >= _CACHE_LIMIT:
        _by_table_id.clear()
    _by_table_id[event.table_id] = (columns, _by_shape[shape])
    return _by_shape[shape]


def _full(event: RowsEvent) -> bool:
    """Every column is in the image(s) (binlog_row_image=FULL); the library reports partial images."""
    every = (1 << event.number_of_columns) - 1
    bitmaps = [event.columns_present_bitmap]
    if isinstance(event, UpdateRowsEvent):
        bitmaps.append(event.columns_present_bitmap2)
    return event.number_of_columns == len(event.columns) and all(
        _from_bytes(b, "little") == every for b in bitmaps)


# ---------------------------------------------------------------------------------- compiling


def compile_image(columns: list) -> Image | None:
    """A function reading one row image of a table with these columns, or None if one is not read here."""
    if not columns or any(not c.name for c in columns):
        return None
    names: dict[str, Any] = {"fb": _from_bytes, "NULL": NONE_SOURCE.NULL, "Decimal": Decimal, "date": dt.date,
                             "datetime": dt.datetime, "timedelta": dt.timedelta, "EPOCH": _EPOCH}
    null_bytes = (len(columns) + 7) // 8
    body = [f"nulls = {_little(null_bytes)}", f"p += {null_bytes}", "nones = {}"]
    for i, column in enumerate(columns):
        read = _read_value(column, i, names)
        if read is None:
            return None
        body += [f"if nulls & {1 << i}:", f"    v{i} = None", f"    nones[{column.name!r}] = NULL", "else:"]
        body += ["    " + line for line in read]
    values = ", ".join(f"{c.name!r}: v{i}" for i, c in enumerate(columns))
    body.append(f"return {{{values}}}, nones, p")
    source = "def image(data, p):\n" + "".join(f"    {line}\n" for line in body)
    exec(compile(source, "<row image>", "exec"), names)  # the source holds names only as repr() literals
    return names["image"]


def _read_value(column, i: int, names: dict[str, Any]) -> list[str] | None:
    """Lines that set v{i} to the column's value at `p` and move `p` past it; None if not read here."""
    t, v = column.type, f"v{i}"
    if t in _INTS:
        size, signed, unsigned = _INTS[t]
        names[f"u{i}"] = struct.Struct(unsigned if column.unsigned else signed).unpack_from
        return [f"{v} = u{i}(data, p)[0]", f"p += {size}"]
    if t == FIELD_TYPE.INT24:
        return [f"{v} = fb(data[p:p + 3], 'little', signed={not column.unsigned})", "p += 3"]
    if t == FIELD_TYPE.YEAR:
        return [f"{v} = data[p] + 1900", "p += 1"]
    if t in (FIELD_TYPE.VARCHAR, FIELD_TYPE.STRING, FIELD_TYPE.BLOB):
        return _read_string(column, v)
    if t == FIELD_TYPE.ENUM and column.enum_values:
        names[f"e{i}"] = column.enum_values
        return [f"{v} = e{i}[{_little(column.size)}]", f"p += {column.size}"]
    if t == FIELD_TYPE.BIT:
        mask, text = (1 << column.bits) - 1, f"0{column.bits}b"
        return [f"{v} = format(fb(data[p:p + {column.bytes}], 'big') & {mask}, {text!r})", f"p += {column.bytes}"]
    if t == FIELD_TYPE.NEWDECIMAL:
        return _read_decimal(column.precision, column.decimals, v)
    if t == FIELD_TYPE.DATE:
        return ["x = data[p] | data[p + 1] << 8 | data[p + 2] << 16", "p += 3",
                "year, month, day = x >> 9 & 0x7FFF, x >> 5 & 0xF, x & 0x1F",
                "if year and month and day:", f"    {v} = date(year, month, day)",
                "else:  # a zero date, or zero in a part", f"    {v} = None",
                f"    nones[{column.name!r}] = {NONE_SOURCE.OUT_OF_DATE_RANGE!r}"]
    if t == FIELD_TYPE.DATETIME2:
        return ["x = fb(data[p:p + 5], 'big')", *_read_fraction(column.fsp, 5), "ym = x >> 22 & 0x1FFFF", "try:",
                f"    {v} = datetime(ym // 13, ym % 13, x >> 17 & 0x1F, x >> 12 & 0x1F, x >> 6 & 0x3F, x & 0x3F, us)",
                "except ValueError:  # a zero date, or zero in a part", f"    {v} = None",
                f"    nones[{column.name!r}] = {NONE_SOURCE.OUT_OF_DATETIME2_RANGE!r}"]
    if t == FIELD_TYPE.TIMESTAMP2:  # the seconds read signed, as the library does
        return ["x = fb(data[p:p + 4], 'big', signed=True)", *_read_fraction(column.fsp, 4),
                f"{v} = EPOCH + timedelta(seconds=x, microseconds=us)"]
    if t == FIELD_TYPE.TIME2:
        names[f"r{i}"] = _time2(column.fsp)
        return [f"{v}, p = r{i}(data, p)"]
    if t == FIELD_TYPE.SET and column.set_values:
        names[f"r{i}"] = _set(column.size, column.set_values)
        return [f"{v}, p = r{i}(data, p)", f"if {v} is None:",
                f"    nones[{column.name!r}] = {NONE_SOURCE.EMPTY_SET!r}"]
    return None


def _little(size: int) -> str:
    """An expression for the unsigned little-endian integer of `size` bytes at p."""
    return {1: "data[p]", 2: "(data[p] | data[p + 1] << 8)"}.get(size, f"fb(data[p:p + {size}], 'little')")


def _read_string(column, v: str) -> list[str] | None:
    """CHAR, VARCHAR, BINARY, VARBINARY, TEXT, BLOB: a length, then the bytes, decoded as the library does."""
    width = column.length_size if column.type == FIELD_TYPE.BLOB else 2 if column.max_length > 255 else 1
    text = "data[p:p + n]"
    charset = column.character_set_name
    codec = RowsEvent.charset_to_encoding(charset) if charset is not None else "utf-8"
    try:
        codecs.lookup(codec)
        text += f".decode({codec!r})"
    except LookupError:  # the library keeps the bytes of a set Python has no codec for ('binary'), but
        text += ' or ""'  # Python decodes b"" to "" without looking the codec up: empty bytes arrive as ""
    return [f"n = {_little(width)}", f"p += {width}", f"{v} = {text}", "p += n"]


def _read_decimal(precision: int, scale: int, v: str) -> list[str]:
    """MySQL's packed DECIMAL: groups of 9 digits in 4 bytes big-endian (the leftover digits in fewer bytes),
    the sign in the first bit, a negative value stored inverted. The library concatenates the groups' digits
    as text with a point and parses that; here the groups make the unscaled integer, parsed with its exponent:
    the same Decimal (sign, digits and exponent)."""
    whole = precision - scale
    groups = [(_DECIMAL_BYTES[whole % 9], whole % 9)] + [(4, 9)] * (whole // 9 + scale // 9)
    groups += [(_DECIMAL_BYTES[scale % 9], scale % 9)]
    size = sum(n for n, _ in groups)
    unscaled, left = "", size * 8
    for n, digits in groups:
        left -= n * 8
        if n:
            group = f"(x >> {left} & {(1 << n * 8) - 1})"
            unscaled = f"({unscaled}) * {10**digits} + {group}" if unscaled else group
    sign_bit = 1 << (size * 8 - 1)
    return [f"x = fb(data[p:p + {size}], 'big')", f"p += {size}",
            f"if x & {sign_bit}:", f"    x ^= {sign_bit}", "    sign = ''",
            "else:", f"    x ^= {(1 << size * 8) - 1 ^ sign_bit}", "    sign = '-'",
            f"{v} = Decimal(f'{{sign}}{{{unscaled}}}E-{scale}')"]


def _read_fraction(fsp: int, skip: int) -> list[str]:
    """Lines that read the fraction of `fsp` digits after `skip` bytes at p into `us` (microseconds), moving p
    past both. Stored as big-endian digits (an odd count with a trailing 0): never negative here."""
    n = _FSP_BYTES[fsp]
    if not n:
        return ["us = 0", f"p += {skip}"]
    digits = f"fb(data[p + {skip}:p + {skip + n}], 'big')"
    return [f"us = {digits}{' // 10' if fsp % 2 else ''} * {10 ** (6 - fsp)}", f"p += {skip + n}"]


# ---------------------------------------------------------------------------------- rarer types, read by functions


def _time2(fsp: int) -> Reader:
    """3 bytes: sign, hours (10 bits), minutes, seconds; then the fraction. The arithmetic is the library's
    on purpose, including the way it gets a negative time with a fraction wrong: cdc/binlog.py repairs that."""
    n = _FSP_BYTES[fsp]

    def read(data: bytes, p: int) -> tuple[dt.timedelta, int]:
        x = _from_bytes(data[p:p + 3], "big", signed=True)
        sign = 1 if x >> 23 & 1 else -1
        if sign == -1:
            x = ~x + 1
        us = 0
        if n:
            us = _from_bytes(data[p + 3:p + 3 + n], "big", signed=True)
            if fsp % 2:
                us = int(us / 10)
            us *= 10 ** (6 - fsp)
        return dt.timedelta(hours=x >> 12 & 0x3FF, minutes=x >> 6 & 0x3F, seconds=x & 0x3F,
                            microseconds=us) * sign, p + 3 + n

    return read


def _set(size: int, members: list[str]) -> Reader:
    bits = [(1 << i, m) for i, m in enumerate(members)]

    def read(data: bytes, p: int) -> tuple[set[str] | None, int]:
        mask = _from_bytes(data[p:p + size], "little")
        return {m for bit, m in bits if mask & bit} or None, p + size

    return read
