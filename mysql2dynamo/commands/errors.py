"""The command line's one error handler and its exit codes: every failure a user can meet ends in one
line on stderr naming what failed and where, and a documented exit code; the traceback only with
`--debug`. The codes are documented in README.md
("Exit codes") and in `mysql2dynamo --help`.

Exceptions are classified by class name and module, so no phase is imported to tell its errors apart
(an error of a module that was never imported cannot have been raised).
"""

from __future__ import annotations

import json
import sys
import traceback

import click

USAGE, FAILURE = 2, 3  # 0 done, 1 "no" (differences, not ready): the commands exit with those themselves

# "module:Class" -> (exit code, what failed); subclasses count too
EXPECTED: dict[str, tuple[int, str]] = {
    "mysql2dynamo.config:ConfigError": (USAGE, "config"),
    "mysql2dynamo.keymap.ast:KeymapError": (USAGE, "mapping"),
    "mysql2dynamo.ground.interpolate:UnsetVariable": (USAGE, "config"),
    "mysql2dynamo.emr.definitions:EmrConfigError": (USAGE, "emr config"),
    "yaml.error:YAMLError": (USAGE, "YAML"),
    "botocore.exceptions:ProfileNotFound": (USAGE, "AWS profile"),
    "botocore.exceptions:NoRegionError": (USAGE, "AWS region"),
    "botocore.exceptions:NoCredentialsError": (USAGE, "AWS credentials"),
    "botocore.exceptions:EndpointConnectionError": (FAILURE, "AWS endpoint unreachable"),
    "botocore.exceptions:ClientError": (FAILURE, "AWS"),
    "botocore.exceptions:BotoCoreError": (FAILURE, "AWS"),
    "pymysql.err:OperationalError": (FAILURE, "MySQL"),
    "pymysql.err:MySQLError": (FAILURE, "MySQL"),
    "mysql2dynamo.cdc.snapshot.consistent:SnapshotError": (FAILURE, "snapshot"),
    "mysql2dynamo.cdc.snapshot.manifest:ManifestError": (FAILURE, "snapshot manifest"),
    "mysql2dynamo.cdc.binlog:CaptureError": (FAILURE, "capture"),
    "mysql2dynamo.cdc.publisher:PublishError": (FAILURE, "publish"),
    "mysql2dynamo.cdc.charsets:UnsupportedCharset": (FAILURE, "capture"),
    "mysql2dynamo.jobs.bulk_load:LoadError": (FAILURE, "load"),
    "mysql2dynamo.jobs.sinks.dynamodb:WriteError": (FAILURE, "load"),
    "mysql2dynamo.jobs.sinks.s3_import:ImportError_": (FAILURE, "S3 import"),
    "mysql2dynamo.cutover:CutoverError": (FAILURE, "cutover"),
    "mysql2dynamo.local.services:StackError": (FAILURE, "local stack"),
    "mysql2dynamo.emr.jars:JarsError": (FAILURE, "jars"),
    "py4j.protocol:Py4JJavaError": (FAILURE, "Spark"),
    "builtins:OSError": (FAILURE, "system"),
}


class RuntimeFailure(click.ClickException):
    """A runtime failure the command recognised itself: exit code 3."""

    exit_code = FAILURE


def _classify(e: BaseException) -> tuple[int, str] | None:
    for cls in type(e).__mro__:
        found = EXPECTED.get(f"{cls.__module__}:{cls.__qualname__}")
        if found:
            return found
    return None


def _text(e: BaseException) -> str:
    if type(e).__module__ == "pymysql.err" and len(e.args) == 2:
        return f"{e.args[1]} (error {e.args[0]})"
    if isinstance(e, OSError) and e.filename:
        return f"{e.filename}: {e.strerror or e}"
    return " ".join(str(e).split()) or type(e).__name__


def message_and_code(e: BaseException) -> tuple[str, int]:
    """The one line and the exit code of an exception that ended a command."""
    if isinstance(e, click.ClickException):
        return " ".join(e.format_message().split()), e.exit_code
    if isinstance(e, click.Abort):
        return "aborted: nothing was changed", USAGE
    found = _classify(e)
    if found:
        code, what = found
        return f"{what}: {_text(e)}", code
    return f"unexpected {type(e).__name__}: {_text(e)} (run with --debug for the traceback)", FAILURE


def fail(e: BaseException, prog: str, debug: bool, as_json: bool) -> int:
    """Print the error (its traceback too with `debug`) and return the exit code."""
    text, code = message_and_code(e)
    if debug:
        traceback.print_exception(e, file=sys.stderr)
    if as_json:
        click.echo(json.dumps({"error": text, "exit_code": code}), err=True)
    else:
        click.echo(f"{prog}: error: {text}", err=True)
    return code
