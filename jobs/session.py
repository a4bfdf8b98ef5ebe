"""SparkSession and spark-submit with the project's jars on the classpath.

On EMR the connector is already installed (/usr/share/aws/emr/ddb/lib) and S3 is EMRFS; locally
the same jobs need the jars that `mysql2dynamo emr jars` (Maven) put in jars/ and an S3A
configuration that follows boto3's own endpoint variables (AWS_ENDPOINT_URL_S3), so code runs
unchanged against the local stack and against AWS.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from mysql2dynamo.emr.jars import HOW
from mysql2dynamo.ground.paths import CONVERTER_JAR, jars_dir

CONNECTOR_JAR_PREFIX = "emr-dynamodb-hadoop-"
JAVA_OPTIONS = "-Duser.timezone=UTC"
# a short local job (a cold `mysql2dynamo verify` of ~50k items) spent ~25 of its 65-70 JVM CPU seconds in the
# C2 JIT compiler; C1 alone compiles cheaply, though its code runs slower on a long job (~1.4x per row)
SHORT_JOB_CONF = {"spark.driver.extraJavaOptions": f"{JAVA_OPTIONS} -XX:TieredStopAtLevel=1"}


def on_emr() -> bool:
    return os.path.isdir("/usr/share/aws/emr")


def spark_url(url: str, scheme: str) -> str:
    """`url` for Spark to read or write: an s3:// (s3a://, s3n://) URL gets `scheme` (s3a locally, s3 for
    EMRFS on EMR); any other URL stays as it is."""
    for prefix in ("s3://", "s3a://", "s3n://"):
        if url.startswith(prefix):
            return f"{scheme}://" + url[len(prefix):]
    return url


def local_jars() -> list[Path]:
    """Every jar in jars/, the connector last; a clear error when the Maven step has not run.

    The connector jar on Maven Central is a fat jar that carries an older AWS SDK v2 (2.18),
    Jackson, Netty and others, unshaded. Spark's own libraries come first anyway (parent-first
    class loading), and listing the connector after the SDK 2.24 modules makes one SDK version
    win for both the connector and S3A; only the connector's own classes come from its jar.
    """
    jars = sorted(jars_dir().glob("*.jar"), key=lambda j: (j.name.startswith(CONNECTOR_JAR_PREFIX), j.name))
    if not any(j.name == CONVERTER_JAR for j in jars):
        raise FileNotFoundError(f"no {CONVERTER_JAR} in {jars_dir()}: {HOW}; `make setup` does it in a checkout")
    return jars


def s3a_conf(env: dict[str, str] | None = None) -> dict[str, str]:
    """Hadoop S3A settings (as spark.hadoop.*) that follow boto3's environment variables.

    Credentials are never copied into the Spark conf (it is shown in the UI and event logs):
    S3A reads them from the environment or the AWS default chain itself.
    """
    env = os.environ if env is None else env
    conf = {
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.aws.credentials.provider":
            "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider",
    }
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        conf["spark.hadoop.fs.s3a.endpoint.region"] = region
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        conf.update({
            "spark.hadoop.fs.s3a.endpoint": endpoint,
            "spark.hadoop.fs.s3a.path.style.access": "true",
            "spark.hadoop.fs.s3a.connection.ssl.enabled": str(endpoint.startswith("https")).lower(),
            # third-party S3 servers do not implement every checksum/signing feature
            "spark.hadoop.fs.s3a.change.detection.mode": "none",
        })
    return conf


def base_conf(master: str = "local[2]", shuffle_partitions: int = 4) -> dict[str, str]:
    """The configuration local sessions and local spark-submit share."""
    return {
        "spark.master": master,
        "spark.jars": ",".join(str(j) for j in local_jars()),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": JAVA_OPTIONS,
        "spark.executor.extraJavaOptions": JAVA_OPTIONS,
        "spark.pyspark.python": sys.executable,
        **s3a_conf(),
    }


def require_pyspark():
    """The pyspark module, or an error that names the extra that brings it (the base install has none)."""
    try:
        import pyspark
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError("pyspark is not installed: `pip install 'mysql2dynamo[spark]'` for local Spark "
                                  "(EMR brings its own)", name="pyspark") from e
    return pyspark


def local_spark(app_name: str = "mysql2dynamo", master: str = "local[2]", **extra: str):
    """A local SparkSession with the connector, S3A and JDBC jars (for tests, notebooks, `load`)."""
    require_pyspark()
    from pyspark.sql import SparkSession

    # in-process PySpark starts its workers with $PYSPARK_PYTHON (default: `python3` on PATH) and ignores
    # spark.pyspark.python: without this, workers of a venv run another interpreter, without the project
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    for key, value in {**base_conf(master), **extra}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


@contextmanager
def spark_starting(app_name: str, **extra: str) -> Iterator[Callable]:
    """`local_spark(app_name, **extra)` started in a background thread while the block runs (a snapshot, say): the
    block gets a function that waits for the session and returns it.

    Where this process runs a session already (tests, a notebook), that one is used and nothing is started.
    When the block fails, a session started here is stopped once its start is done (no half-started Spark
    outlives the error) and the block's own error is raised, not a later one of the start.
    """
    require_pyspark()
    from pyspark import SparkContext

    if SparkContext._active_spark_context is not None:  # getOrCreate would return it: nothing to overlap
        yield lambda: local_spark(app_name, **extra)
        return
    pool = ThreadPoolExecutor(1, thread_name_prefix="spark-start")
    started = pool.submit(local_spark, app_name, **extra)
    pool.shutdown(wait=False)
    try:
        yield started.result
    except BaseException:
        if started.exception() is None:  # waits for the start to finish
            started.result().stop()
        raise


def spark_submit_command(script: str | Path, args: list[str], master: str = "local[2]") -> list[str]:
    """`spark-submit` of pyspark's own install, with the same jars and settings as local_spark."""
    submit = Path(require_pyspark().__file__).parent / "bin" / "spark-submit"
    cmd = [str(submit)]
    for key, value in base_conf(master).items():
        cmd += ["--conf", f"{key}={value}"]
    return [*cmd, str(script), *args]
