"""Verify's canonical item text is the same in the JVM (io.mysql2dynamo.emr.Canonical, what the Spark
side of verify computes) and in Python (jobs.canonical, what the in-flight re-check, the fenced check and
repair compute): the keys of the two must match character for character, or an in-flight key would be
judged twice."""

from __future__ import annotations

import json
import os
import random

from mysql2dynamo.jobs.canonical import CANONICAL_CLASS, canonical_item, canonical_number

# every kind of character that matters to sorting and escaping: ASCII, controls, quotes and backslashes,
# Latin, CJK, the private use area after the surrogates, and characters outside the BMP (UTF-16 pairs)
CHARS = ('abcXYZ09 _-.#"\\\b\f\n\r\t\x00\x1f\x7féİ東京\ue000\uffeb\U00010000\U0001f600\U0001f9ff')
NUMBERS = ["0", "-0", "0.000", "990.90", "1E+40", "1.5E+41", "-1E-40", "12345678901234567890123456789012345678",
           "0.00000000000000000000000000000000000001", "1E-6", "1E-7", "100", "-7.250", "1E+125", "-1E-130"]
SEED = int(os.environ.get("M2D_CANONICAL_SEED", "1130"))
ITEMS = int(os.environ.get("M2D_CANONICAL_ITEMS", "3000"))  # a longer run: more items, another seed


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(CHARS) for _ in range(rng.randint(0, 6)))


def _number(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return rng.choice(NUMBERS)
    digits = str(rng.randint(-(10**38) + 1, 10**38 - 1))[: rng.randint(1, 39)].rstrip("-") or "0"
    exponent = rng.choice([0, 0, rng.randint(-130, 126)])
    return digits + (f"E{exponent:+d}" if exponent else "")


def _value(rng: random.Random, depth: int = 0) -> dict:
    kind = rng.choice(["S", "N", "BOOL", "NULL", "B", "SS", "NS", "BS"] + (["M", "L"] if depth < 3 else []))
    if kind == "S":
        return {"S": _text(rng)}
    if kind == "N":
        return {"N": _number(rng)}
    if kind in ("BOOL", "NULL"):
        return {kind: kind == "NULL" or rng.random() < 0.5}
    if kind == "B":
        return {"B": rng.choice(["", "AA==", "/+8=", "aGk="])}
    if kind == "SS":
        return {"SS": list(dict.fromkeys(_text(rng) for _ in range(rng.randint(1, 4))))}
    if kind == "NS":
        return {"NS": list(dict.fromkeys(_number(rng) for _ in range(rng.randint(1, 4))))}
    if kind == "BS":
        return {"BS": list(dict.fromkeys(rng.choice(["AA==", "/+8=", "aGk="]) for _ in range(3)))}
    if kind == "M":
        return {"M": {_text(rng): _value(rng, depth + 1) for _ in range(rng.randint(0, 3))}}
    return {"L": [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]}


def _item(rng: random.Random) -> dict:
    return {_text(rng): _value(rng) for _ in range(rng.randint(1, 5))} | {"_ver": {"N": "17"}}


def _jvm(spark, rows: list[tuple[str, str]], method: str) -> list[str]:
    """Canonical.<method>(item, names) for each (item JSON, names JSON), in the order given."""
    frame = spark.createDataFrame([(i, item, names) for i, (item, names) in enumerate(rows)],
                                  "i int, item string, names string")
    out = frame.selectExpr("i", f"reflect('{CANONICAL_CLASS}', '{method}', item, names) AS text").collect()
    return [r.text for r in sorted(out, key=lambda r: r.i)]


def test_the_jvm_and_python_give_the_same_canonical_text(spark):
    """Seeded random items (M2D_CANONICAL_SEED, M2D_CANONICAL_ITEMS for a longer run): every kind of value,
    nested maps and lists, every kind of character; dropped and kept attributes."""
    rng = random.Random(SEED)
    batch = [(item, rng.sample(sorted(item), k=min(len(item), rng.randint(0, 2)))) for item in
             (_item(rng) for _ in range(ITEMS))]
    items = [(json.dumps(item, ensure_ascii=False), names) for item, names in batch]
    dropped = _jvm(spark, [(text, json.dumps([*names, "_ver"], ensure_ascii=False)) for text, names in items], "item")
    kept = _jvm(spark, [(text, json.dumps(names, ensure_ascii=False)) for text, names in items], "keep")
    for (item, names), drop_text, keep_text in zip(batch, dropped, kept, strict=True):
        assert drop_text == canonical_item(item, drop=(*names, "_ver")), (SEED, item)
        assert keep_text == canonical_item({k: v for k, v in item.items() if k in names}), (SEED, item)


def test_numbers_keep_all_38_digits_and_one_text_per_value(spark):
    """A difference in the 38th digit is a difference (Python's default 28-digit context rounded it away)."""
    a, b = "12345678901234567890123456789012345678", "12345678901234567890123456789012345679"
    assert canonical_number(a) != canonical_number(b) and canonical_number(a) == a
    cases = {"990.90": "990.9", "-0": "0", "0E+5": "0", "1.500E+3": "1500", "1E+39": "1" + "0" * 39,
             "1E+40": "1E+40", "15E+40": "1.5E+41", "-1.20E-40": "-1.2E-40", "0.000001": "0.000001"}
    for text, want in cases.items():
        assert canonical_number(text) == want
    jvm = _jvm(spark, [(json.dumps({"n": {"N": t}}), "[]") for t in [*cases, a]], "item")
    assert jvm == [json.dumps({"n": {"N": w}}, separators=(",", ":")) for w in [*cases.values(), a]]
