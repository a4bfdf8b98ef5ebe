"""Deterministic generators of sample rows, shared by `sample create` and `sample traffic`.

Values are chosen to hit the edges a migration gets wrong: BIGINT UNSIGNED above 2**63,
38-digit decimals, BINARY(16) with trailing zero bytes, negative and >24 h TIME values,
DATETIME microseconds, JSON with nesting and nulls, emoji in names, empty SETs and NULLs.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal

from mysql2dynamo.sample.schema import CUSTOMER_COLUMNS, ITEM_COLUMNS, ORDER_COLUMNS

FIRST = ("Zoë", "José", "Łukasz", "李", "Ana 🌮", "Olu 🚀", "Ingrid", "Mohammed", "Aiko", "Chloé", "Sven", "Priya")
LAST = ("Müller", "O'Brien", "Nguyễn", "García", "Kowalski", "Smith", "Tanaka", "Okafor", "Dubois", "Ørsted")
COUNTRIES = ("US", "DE", "FR", "JP", "BR", "IN", "NG", "GB", "PL", "VN")
TIERS = ("free", "pro", "enterprise")
TAGS = ("newsletter", "beta", "vip")
STATUSES = ("draft", "placed", "paid", "shipped", "cancelled")
NEXT_STATUS = {"draft": "placed", "placed": "paid", "paid": "shipped"}
CURRENCIES = ("USD", "EUR", "JPY", "GBP", "BRL")
EPOCH = dt.datetime(2019, 1, 1)
HASH_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789./"
CITIES = ("Berlin", "São Paulo", "東京", "Lagos")


class SampleGenerator:
    """Rows for the three sample tables, reproducible from a seed."""

    def __init__(self, seed: int | None = 42) -> None:
        self.rng = random.Random(seed)

    # -------------------------------------------------------------- helpers

    def _maybe(self, p_null: float, value):
        return None if self.rng.random() < p_null else value

    def _timestamp(self) -> dt.datetime:
        return EPOCH + dt.timedelta(seconds=self.rng.randrange(0, 7 * 365 * 86400),
                                    microseconds=self.rng.randrange(0, 1_000_000))

    def money(self, max_units: int) -> Decimal:
        return Decimal(self.rng.randrange(0, max_units * 100)).scaleb(-2)

    def decimal_38_10(self) -> Decimal:
        if self.rng.random() < 0.05:  # the extremes of DECIMAL(38,10)
            sign = "-" if self.rng.random() < 0.5 else ""
            return Decimal(sign + "9" * 28 + "." + "9" * 10)
        digits = self.rng.randrange(1, 29)
        return Decimal(self.rng.randrange(0, 10**digits) * 10**10 + self.rng.randrange(0, 10**10)).scaleb(-10)

    def _time(self) -> dt.timedelta:
        if self.rng.random() < 0.1:  # TIME reaches -838:59:59 .. 838:59:59
            return dt.timedelta(hours=self.rng.randrange(-838, 839), minutes=self.rng.randrange(60))
        return dt.timedelta(hours=self.rng.randrange(24), minutes=self.rng.randrange(60),
                            seconds=self.rng.randrange(60))

    def _text(self, max_words: int) -> str:
        words = ("lorem", "ipsum", "größe", "naïve", "😀", "東京", "status", "ship", "fast", "🎁", "ok")
        return " ".join(self.rng.choice(words) for _ in range(self.rng.randrange(1, max_words)))

    def email(self) -> str:
        return f"{self.rng.choice(('ana', 'jo', 'li', 'zoe', 'sam'))}.{self.rng.getrandbits(48):012x}@example.com"

    # -------------------------------------------------------------- rows

    def customer(self) -> dict:
        rng = self.rng
        api_key = rng.randbytes(16) if rng.random() < 0.8 else rng.randbytes(12) + b"\0\0\0\0"
        profile = {
            "lang": rng.choice(("en", "de", "ja", "pt")),
            "marketing": rng.random() < 0.5,
            "score": round(rng.uniform(0, 10), 2),
            "nested": {"list": [1, 2.5, "x", None, {"deep": True}], "empty": {}},
            "emoji": "🎉",
        }
        return {
            "external_id": rng.randrange(2**63, 2**64) if rng.random() < 0.25 else rng.randrange(1, 10**9),
            "email": self.email(),
            "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            "country": rng.choice(COUNTRIES),
            "tier": rng.choice(TIERS),
            "tags": ",".join(t for t in TAGS if rng.random() < 0.4),
            "credit_limit": self.money(100_000),
            "lifetime_value": self.decimal_38_10(),
            "score": round(rng.uniform(0, 100), 3),
            "ratio": rng.uniform(-1, 1) * 10 ** rng.randrange(-6, 12),
            "avatar": self._maybe(0.3, rng.randbytes(rng.randrange(1, 2048))),
            "api_key": api_key,
            "birthday": self._maybe(0.2, dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 25000))),
            "created_at": self._timestamp(),
            "preferred_time": self._maybe(0.3, self._time()),
            "profile": self._maybe(0.2, json.dumps(profile, ensure_ascii=False)),
            "notes": self._maybe(0.5, self._text(300)),
            "password_hash": "$2b$12$" + "".join(rng.choice(HASH_ALPHABET) for _ in range(53)),
            "login_count": rng.choice((0, 1, rng.randrange(0, 10_000), 4_294_967_295)),
            "balance_cents": rng.choice((rng.randrange(-10**9, 10**9), -(2**63), 2**63 - 1)),
            "flags": rng.randrange(-128, 128),
            "age": self._maybe(0.2, rng.randrange(18, 100)),
        }

    def order(self, customer_id: int) -> dict:
        rng = self.rng
        status = rng.choice(STATUSES)
        created = self._timestamp()
        shipped = (created + dt.timedelta(days=rng.randrange(1, 10))).replace(
            microsecond=rng.randrange(0, 1000) * 1000) if status == "shipped" else None
        return {
            "customer_id": customer_id,
            "status": status,
            "total": self.money(5_000),
            "currency": rng.choice(CURRENCIES),
            "created_at": created,
            "shipped_at": shipped,
            "shipping": json.dumps({
                "method": rng.choice(("ground", "air", "pickup")),
                "address": {"city": rng.choice(CITIES), "zip": f"{rng.randrange(10**5):05d}"},
                "tracking": [f"T{rng.randrange(10**8)}" for _ in range(rng.randrange(0, 3))],
            }, ensure_ascii=False),
            "note": self._maybe(0.7, self._text(20)),
        }

    def items(self, order_id: int, first_line: int = 1, count: int | None = None) -> list[dict]:
        rng = self.rng
        count = rng.randrange(1, 5) if count is None else count
        return [{
            "order_id": order_id,
            "line_no": line,
            "sku": f"SKU-{rng.randrange(10**6):06d}",
            "qty": rng.randrange(1, 11),
            "unit_price": self.money(500),
            "weight_kg": self._maybe(0.2, round(rng.uniform(0.01, 40), 3)),
            "gift": int(rng.random() < 0.1),
        } for line in range(first_line, first_line + count)]


def insert_sql(table: str, columns: tuple[str, ...]) -> str:
    cols = ", ".join(f"`{c}`" for c in columns)
    return f"INSERT INTO `{table}` ({cols}) VALUES ({', '.join(['%s'] * len(columns))})"


def values(row: dict, columns: tuple[str, ...]) -> tuple:
    return tuple(row[c] for c in columns)


INSERT_CUSTOMER = insert_sql("customers", CUSTOMER_COLUMNS)
INSERT_ORDER = insert_sql("orders", ORDER_COLUMNS)
INSERT_ITEM = insert_sql("order_items", ITEM_COLUMNS)
