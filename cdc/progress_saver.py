"""Capture's position in the DynamoDB progress table, written off the capture loop.

Invariant: the table gets the latest position offered, never an older one after a newer, and
capture's loop never waits for DynamoDB. `offer` only records the position (O(1), no I/O); one
thread writes whatever is latest when it is free, so a slow table coalesces positions instead of
queueing stale ones (a PutItem of 160 ms under a 0.05 s checkpoint interval writes every fourth
position, not all of them late). `close` flushes the latest (a clean stop, SIGTERM). A failed write
is retried with backoff until one succeeds; meanwhile `error` says what failed and since when, for
capture's log and metrics (and so `status`); a saver thread that died is an error capture raises
(`check`), never a silent stop of the table's updates. The progress table itself refuses a move
backwards (cdc.progress).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from mysql2dynamo.cdc.binlog import CaptureError
from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.cdc.progress import ProgressTable

RETRY_S = (0.2, 5.0)  # first and longest wait between failed writes


class SaverDead(CaptureError):
    pass


class ProgressSaver:
    def __init__(self, progress: ProgressTable, started: BinlogPosition, say: Callable[[str], None]) -> None:
        self.progress, self.started, self.say = progress, started, say
        self.saved: BinlogPosition | None = None  # the last position the table took
        self.error: str | None = None  # while writes fail: the last failure, since when, how many
        self.failures = 0
        self._failing_since: str | None = None
        self._latest: BinlogPosition | None = None
        self._closing = False
        self._died: BaseException | None = None
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"progress-saver-{progress.stream}", daemon=True)
        self._thread.start()

    def offer(self, position: BinlogPosition) -> None:
        """The position to write next (an older one than already offered is ignored); returns at once."""
        with self._wake:
            if self._latest is None or position > self._latest:
                self._latest = position
                self._wake.notify()

    def check(self) -> None:
        """SaverDead when the thread has died (capture must not run on without its table's updates)."""
        if self._died is not None:
            raise SaverDead(f"the progress-table saver for {self.progress} stopped: {self._died!r}; its capture "
                            "position is no longer written") from self._died

    def _due(self) -> BinlogPosition | None:
        latest = self._latest
        return latest if latest is not None and (self.saved is None or latest > self.saved) else None

    def _run(self) -> None:
        try:
            wait = RETRY_S[0]
            while True:
                with self._wake:
                    while self._due() is None and not self._closing:
                        self._wake.wait()
                    position = self._due()
                if position is None:  # closing, nothing left
                    return
                if self._write(position):
                    wait = RETRY_S[0]
                    continue
                with self._wake:
                    if self._closing:  # one try more at close, no waiting
                        return
                    self._wake.wait(wait)
                wait = min(wait * 2, RETRY_S[1])
        except BaseException as e:  # a bug, not a failed write: capture raises it at its next offer
            self._died = e
            raise

    def _write(self, position: BinlogPosition) -> bool:
        try:
            self.progress.save_capture(position, self.started)
        except Exception as e:
            self.failures += 1
            first = self._failing_since is None
            if first:
                self._failing_since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
            self.error = (f"{type(e).__name__}: {e} (capture position not written since {self._failing_since}, "
                          f"{self.failures} failed writes)")
            if first:
                self.say(f"WARNING: progress table {self.progress}: capture position {position} not written: "
                         f"{type(e).__name__}: {e}; retrying (status shows it until a write succeeds)")
            return False
        if self.error is not None:
            self.say(f"progress table {self.progress}: writes work again ({self.failures} failed), at {position}")
        self.saved, self.error, self.failures, self._failing_since = position, None, 0, None
        return True

    def close(self, timeout: float = 30.0) -> bool:
        """Write the latest position (waiting up to `timeout`) and stop; whether the table holds it."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join(timeout)
        return self._due() is None and self.error is None
