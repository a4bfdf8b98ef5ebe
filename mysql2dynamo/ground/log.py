"""Progress and messages for a person: one line on stderr, flushed, so stdout stays the result."""

from __future__ import annotations

import sys


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
