"""Polling a condition with a deadline: the one loop behind every "wait until ..." of the shell."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(done: Callable[[], bool], timeout_s: float, poll_s: float) -> bool:
    """True once `done()` is; False when `timeout_s` passed first (the caller says what it waited for)."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll_s)
    return True
