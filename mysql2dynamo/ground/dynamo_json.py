"""DynamoDB-JSON text (what keymap produces) <-> boto3 low-level attribute values.

The two differ only in binary values: DynamoDB JSON carries base64 text, the boto3 client wants
bytes (and base64-encodes them itself on the wire).
"""

from __future__ import annotations

import base64
import json
from typing import Any


def to_client_value(value: dict[str, Any]) -> dict[str, Any]:
    (kind, v), = value.items()
    if kind == "B":
        return {"B": base64.b64decode(v)}
    if kind == "BS":
        return {"BS": [base64.b64decode(x) for x in v]}
    if kind == "M":
        return {"M": {k: to_client_value(x) for k, x in v.items()}}
    if kind == "L":
        return {"L": [to_client_value(x) for x in v]}
    return value


def to_client_item(item_json: str) -> dict[str, dict[str, Any]]:
    return {name: to_client_value(value) for name, value in json.loads(item_json).items()}


def from_client_value(value: dict[str, Any]) -> dict[str, Any]:
    (kind, v), = value.items()
    if kind == "B":
        return {"B": base64.b64encode(bytes(v)).decode()}
    if kind == "BS":
        return {"BS": sorted(base64.b64encode(bytes(x)).decode() for x in v)}
    if kind == "M":
        return {"M": {k: from_client_value(x) for k, x in v.items()}}
    if kind == "L":
        return {"L": [from_client_value(x) for x in v]}
    if kind in ("SS", "NS"):
        return {kind: sorted(v)}
    return value


def from_client_item(item: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A boto3 item as DynamoDB JSON (sets sorted), for comparing with keymap's output."""
    return {name: from_client_value(value) for name, value in item.items()}
