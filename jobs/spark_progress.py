"""Progress of Spark work, read on the driver from Spark's status tracker while the jobs run: the
completed tasks of every stage of the jobs started inside the block (its job group), over their
tasks. With a known total (items to write) the count shown is that total times the task share, an
estimate marked `~`; without one, tasks are shown. Rendered by `ground.progress.Bar` (a bar on a
terminal, plain lines otherwise, nothing with --quiet); progress never breaks the job."""

from __future__ import annotations

import threading
import uuid

from mysql2dynamo.ground.progress import Bar


class SparkProgress:
    def __init__(self, spark, label: str, total_items: int | None = None, interval: float = 10.0) -> None:
        self.sc = spark.sparkContext
        self.label, self.total_items, self.interval = label, total_items, interval
        self.group = f"m2d-{uuid.uuid4().hex[:12]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.bar: Bar | None = None

    def tasks(self) -> tuple[int, int]:
        """(completed, total) tasks of the stages of the group's jobs that Spark knows so far."""
        tracker = self.sc.statusTracker()
        done = total = 0
        for job_id in tracker.getJobIdsForGroup(self.group):
            job = tracker.getJobInfo(job_id)
            for stage_id in job.stageIds if job else []:
                stage = tracker.getStageInfo(stage_id)
                if stage is not None:
                    done += stage.numCompletedTasks
                    total += stage.numTasks
        return done, total

    def _tick(self) -> None:
        done, total = self.tasks()
        if self.total_items is None:
            self.bar.update(done, total or None)
        elif total:
            self.bar.update(self.total_items * done / total)

    def _run(self) -> None:
        while not self._stop.wait(min(self.interval, 1.0)):
            try:
                self._tick()
            except Exception:  # noqa: BLE001 - progress must never break the job
                pass

    def __enter__(self) -> SparkProgress:
        self.sc.setJobGroup(self.group, self.label, interruptOnCancel=False)
        if self.interval > 0:
            unit = "tasks" if self.total_items is None else "items"
            self.bar = Bar(self.label, self.total_items, unit, self.interval, approx=self.total_items is not None)
            self._thread = threading.Thread(target=self._run, daemon=True, name="m2d-spark-progress")
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.bar is not None and exc[0] is None:
            self.bar.update(self.total_items if self.total_items is not None else self.tasks()[0])
            self.bar.close()
        self.sc.setLocalProperty("spark.jobGroup.id", None)
