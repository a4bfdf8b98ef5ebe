"""verify starts Spark beside its snapshot (jobs.session.spark_starting): when the snapshot fails, the user
gets the snapshot's own error and no Spark session is left behind. Run in a fresh process: the test
run's shared session would be reused, not started."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
from pyspark import SparkContext
from mysql2dynamo.jobs.session import spark_starting

try:
    with spark_starting("m2d-test-start") as session:
        raise LookupError("snapshot: no table shop.nosuch")
except LookupError as e:
    print("raised:", e)
print("spark left running:", SparkContext._active_spark_context is not None)
"""


def test_a_failed_snapshot_raises_its_own_error_and_stops_the_spark_started_beside_it(local_stack):
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "raised: snapshot: no table shop.nosuch" in done.stdout, done.stdout
    assert "spark left running: False" in done.stdout, done.stdout + done.stderr[-2000:]
