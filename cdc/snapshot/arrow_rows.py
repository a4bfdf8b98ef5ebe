"""MySQL rows -> Arrow tables with the snapshot's types (`keymap.types.arrow_type` / `snapshot_value`).

Two inputs give the same table: rows pymysql decoded (`BatchConverter.convert`: imported dumps) and
rows read raw (`convert_raw`: the dump workers, through `raw_connection`: pymysql with `RAW_CONV` or
mysqlclient, which give the same rows), whose numbers, dates and text Arrow parses a column at a
time. Zero/invalid dates follow the zero-date policy and are counted.
"""

from __future__ import annotations

from decimal import Decimal
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import pymysql.converters

from mysql2dynamo.keymap.schema import TableSchema
from mysql2dynamo.keymap.types import SPATIAL, Column, arrow_type, snapshot_value

from .consistent import SnapshotError
from .manifest import arrow_schema

if TYPE_CHECKING:
    import pyarrow as pa

# Worker connections decode nothing (pymysql's encoders only, for query parameters): numbers and
# dates arrive as the server's text and are parsed column-wise by Arrow (BatchConverter.convert_raw).
RAW_CONV = {k: v for k, v in pymysql.converters.conversions.items() if not isinstance(k, int)}
_CAST_TYPES = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year", "decimal", "float", "double",
               "date", "datetime", "timestamp"}
_STRING_TYPES = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "json"}
_BLOB_TYPES = {"varbinary", "tinyblob", "blob", "mediumblob", "longblob"} | SPATIAL
DATE_TYPES = ("date", "datetime", "timestamp")


class ValueProblem(SnapshotError):
    pass


class BatchConverter:
    """MySQL rows (pymysql values) -> an Arrow table with the snapshot's types.

    Values go through `keymap.types.snapshot_value`; zero/invalid dates (which pymysql returns as
    text) follow the zero-date policy and are counted per column.
    """

    def __init__(self, schema: TableSchema, zero_dates: str = "null") -> None:
        import pyarrow as pa

        self.schema = schema
        self.zero_dates = zero_dates
        self.types = [arrow_type(c) for c in schema.columns]
        self.arrow_schema = arrow_schema(schema)
        self.zero_counts: dict[str, int] = {}
        self.pk_index = [schema.names.index(c) for c in schema.primary_key]
        self._pa = pa

    def row_key(self, row: tuple) -> str:
        if not self.pk_index:
            return "(no primary key) " + repr(row)[:200]
        cols = self.schema.columns
        return ", ".join(f"{cols[j].name}={_key_value(cols[j], row[j])!r}" for j in self.pk_index)

    def _column(self, col: Column, values: tuple | list, rows: list[tuple]) -> list:
        dtp = col.data_type
        if dtp in DATE_TYPES:
            out = []
            for i, v in enumerate(values):
                if isinstance(v, str):  # '0000-00-00', '2020-00-10': not a date, pymysql returns the text
                    if self.zero_dates == "error":
                        raise ValueProblem(f"{self.schema.full_name}.{col.name}: zero/invalid date {v!r} at "
                                           f"{self.row_key(rows[i])} (zero-date policy 'error'; "
                                           "use --zero-dates null to write NULL)")
                    self.zero_counts[col.name] = self.zero_counts.get(col.name, 0) + 1
                    v = None
                out.append(v)
            return out
        if dtp == "bit":  # pymysql returns BIT as big-endian bytes; the snapshot holds the number
            values = [int.from_bytes(v, "big") if isinstance(v, bytes | bytearray) else v for v in values]
        return [snapshot_value(col, v) for v in values]

    def convert(self, rows: list[tuple]) -> pa.Table:
        pa = self._pa
        columns = _columns(rows, len(self.types))
        arrays = [self._array(col, atype, values, rows)
                  for col, atype, values in zip(self.schema.columns, self.types, columns, strict=True)]
        return pa.Table.from_arrays(arrays, schema=self.arrow_schema)

    def convert_raw(self, rows: list[tuple]) -> pa.Table:
        """Rows read with RAW_CONV (text/bytes as the server sent them) -> the same Arrow table as
        `convert` gives for pymysql's decoded values: numbers and dates are cast by Arrow a column at
        a time; a batch Arrow cannot parse (a zero date, ...) and the other types go value by value
        through pymysql's own decoders and `snapshot_value`."""
        pa = self._pa
        import pyarrow.compute as pc

        columns = _columns(rows, len(self.types))
        arrays = []
        for col, atype, values in zip(self.schema.columns, self.types, columns, strict=True):
            dtp = col.data_type
            arr = None
            try:
                if dtp in _CAST_TYPES and not (dtp == "decimal" and col.precision > 38):
                    text = pa.array(values, pa.binary()).cast(pa.string())
                    if dtp == "float":  # parse as the double pymysql would make, then round to binary32
                        arr = pc.cast(pc.cast(text, pa.float64()), atype)
                    else:
                        arr = pc.cast(text, atype)
                elif dtp in _STRING_TYPES or dtp in _BLOB_TYPES:  # text: str, or utf-8 bytes Arrow validates
                    arr = pa.array(values, atype)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                arr = None
            if arr is None:
                arr = self._array(col, atype, [_pymysql_value(col, v) for v in values], rows)
            arrays.append(arr)
        return pa.Table.from_arrays(arrays, schema=self.arrow_schema)

    def _array(self, col: Column, atype: pa.DataType, values: tuple | list, rows: list[tuple]) -> pa.Array:
        """One column of pymysql values as an Arrow array; a value that does not fit names its row."""
        pa = self._pa
        converted = self._column(col, values, rows)
        try:
            return pa.array(converted, type=atype)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError) as e:
            raise self._explain(col, atype, converted, rows, e) from e

    def _explain(self, col: Column, atype: pa.DataType, values: list, rows: list[tuple],
                 err: Exception) -> ValueProblem:
        pa = self._pa
        for i, v in enumerate(values):
            try:
                pa.array([v], type=atype)
            except Exception:  # noqa: BLE001 - we only look for the offending value
                return ValueProblem(f"{self.schema.full_name}.{col.name} ({col.column_type or col.data_type}): value "
                                    f"{v!r} at {self.row_key(rows[i])} does not fit {atype}: {err}")
        return ValueProblem(f"{self.schema.full_name}.{col.name}: cannot build {atype}: {err}")


def _columns(rows: list[tuple], n: int) -> list[list]:
    """The `n` columns of `rows` (each row of `n` values): one C-level pass per column, several
    times faster than `zip(*rows)`, which builds one call of len(rows) arguments."""
    widths = set(map(len, rows)) - {n}
    if widths:
        raise ValueError(f"rows of {sorted(widths)} values for {n} columns")
    return [list(map(itemgetter(j), rows)) for j in range(n)]


def _key_value(col: Column, value: Any) -> Any:
    """A primary key value for messages, decoded when the row came raw."""
    if isinstance(value, bytes | bytearray | str) and col.data_type not in _STRING_TYPES | {"set"}:
        return _pymysql_value(col, value)
    return value


def _pymysql_value(col: Column, raw: bytes | str | None) -> Any:
    """What pymysql's default decoders return for a raw (text protocol) value of `col`."""
    if raw is None:
        return None
    dtp = col.data_type
    if dtp in _BLOB_TYPES or dtp in ("binary", "bit"):
        return bytes(raw)
    text = raw.decode() if isinstance(raw, bytes | bytearray) else raw
    if dtp in ("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"):
        return int(text)
    if dtp == "decimal":
        return Decimal(text)
    if dtp in ("float", "double"):
        return float(text)
    if dtp == "date":
        return pymysql.converters.convert_date(text)
    if dtp in ("datetime", "timestamp"):
        return pymysql.converters.convert_datetime(text)
    if dtp == "time":
        return pymysql.converters.convert_timedelta(text)
    return text

