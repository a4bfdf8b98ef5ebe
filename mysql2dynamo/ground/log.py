"""Progress and messages for a person: one line on stderr, flushed, so stdout stays the result.
`--quiet` (`set_quiet`) silences them; results and errors still print."""

from __future__ import annotations

import sys

_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def is_quiet() -> bool:
    return _quiet


def say(msg: str) -> None:
    if not _quiet:
        print(msg, file=sys.stderr, flush=True)
