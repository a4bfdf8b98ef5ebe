"""What Spark implementations build on: `F`, `pyspark.sql.functions` imported on first use (the
replay Lambda ships without pyspark), and `SV`, a compiled value with its rejection reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import Column


class _LazySparkFunctions:
    """`pyspark.sql.functions`, imported on first use."""

    def __getattr__(self, name: str) -> Any:
        from pyspark.sql import functions

        return getattr(functions, name)


F = _LazySparkFunctions()


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
