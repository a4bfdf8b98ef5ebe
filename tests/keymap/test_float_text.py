"""FLOAT and DOUBLE texts are the same from both engines on any JVM.

Before, the Spark engine printed with the JDK's Float.toString / Double.toString, whose digits are not
always the shortest before Java 19 (FLT_MIN, -1.1754943508222875e-38, was "-1.17549435E-38" in Spark
on Java 17 and "-1.1754944E-38" in Python): the item depended on the cluster's JVM. Now both engines
compute one canonical text with exact arithmetic: Python in keymap.values.float_text, the JVM in
io.mysql2dynamo.emr.NumberText (the converter jar), called by the Spark engine through reflect().
"""

from __future__ import annotations

import math
import random
import struct

import pytest
from pyspark.sql import functions as F

from mysql2dynamo.keymap.values import BadValue, float_text, to_float32

NUMBER_TEXT = "io.mysql2dynamo.emr.NumberText"


def f32(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", bits))[0]


FLT_MIN = 0x00800000  # the smallest normal float


@pytest.mark.parametrize(("bits", "text"), [
    (FLT_MIN, "1.1754944E-38"), (FLT_MIN - 1, "1.1754942E-38"), (FLT_MIN + 1, "1.1754945E-38"),
    (FLT_MIN - 2, "1.1754941E-38"), (FLT_MIN + 2, "1.1754946E-38"),
    (1, "1.0E-45"), (2, "3.0E-45"), (0x7F7FFFFF, "3.4028235E38"), (0x3DCCCCCD, "0.1"), (0x42C80000, "100.0"),
    (0x3A83126F, "0.001"), (0x4B18967F, "9999999.0"), (0x4B189680, "1.0E7"), (0x3A83126E, "9.999999E-4"),
])
def test_float_texts(bits, text):
    assert float_text(f32(bits), True) == text
    assert float_text(-f32(bits), True) == "-" + text


def test_double_texts_and_dynamodb_range():
    assert float_text(0.1, False) == "0.1"
    assert float_text(2.0**60, False) == "1.152921504606847E18"  # Java 17 prints 1.15292150460684698E18
    assert float_text(-0.0, False) == "-0.0"
    assert float_text(1e-130, False) == "1.0E-130"
    for outside in (1e126, 5e-324, 1e-131, -1e300):
        with pytest.raises(BadValue) as e:
            float_text(outside, False)
        assert e.value.reason == "number_too_large"
    with pytest.raises(BadValue):
        float_text(math.nan, True)


def _samples() -> list[tuple[float, float]]:
    rng = random.Random(13)
    floats = [f32(b) for b in [FLT_MIN + d for d in range(-3, 4)] + [1, 2, 3, 0x7F7FFFFF, 0x7F7FFFFE]]
    floats += [x for x in (f32(rng.getrandbits(32)) for _ in range(12_000)) if math.isfinite(x)]
    doubles = [2.0**60, 0.1, 1e-130, 123456789012345678.0, 2.0**-44, 1e23]
    while len(doubles) < len(floats):
        x = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if math.isfinite(x) and 1e-130 <= abs(x) < 1e126:
            doubles.append(x)
    return list(zip(floats + [-f for f in floats], doubles + [-d for d in doubles], strict=True))


def test_the_jvm_computes_the_same_texts(spark):
    rows = spark.createDataFrame(_samples(), "f float, d double").select(
        "f", "d", F.reflect(F.lit(NUMBER_TEXT), F.lit("floatText"), "f").alias("ft"),
        F.reflect(F.lit(NUMBER_TEXT), F.lit("doubleText"), "d").alias("dt")).collect()
    assert len(rows) > 20_000
    wrong = [(r.f, r.ft, float_text(r.f, True)) for r in rows if r.ft != float_text(r.f, True)]
    wrong += [(r.d, r.dt, float_text(r.d, False)) for r in rows if r.dt != float_text(r.d, False)]
    assert wrong == []
    assert all(to_float32(float(r.ft)) == r.f for r in rows)  # the text reads back as the value
