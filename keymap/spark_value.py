"""What Spark implementations build on: `F`, the keymap's Spark SQL expression builder (keymap.spark_sql,
pyspark's `functions` API without a JVM call per node), and `SV`, a compiled value with its rejection reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from mysql2dynamo.keymap import spark_sql as F
from mysql2dynamo.keymap.spark_sql import Column


@dataclass(frozen=True)
class SV:
    """A compiled value: the Column and a reason-code Column that is non-null on a bad value."""

    col: Column
    err: Column | None = None


def first_error(*errs: Column | None) -> Column | None:
    """The first non-null reason of `errs` (None: nothing can be rejected)."""
    real = [e for e in errs if e is not None]
    if not real:
        return None
    return real[0] if len(real) == 1 else F.coalesce(*real)


def null_text() -> Column:
    return F.lit(None).cast("string")
