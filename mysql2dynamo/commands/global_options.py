"""The options every command takes, as an AWS user expects them: `--profile`, `--region`,
`--endpoint-url`, `--output text|json`, `--log-level`, `--debug`, `--quiet`. They act through the
process: the AWS ones through boto3's default session and environment (so Spark jobs and the
processes a command starts see them too), the others through logging and `ground.log`.

`--endpoint-url` wins over the per-service endpoints the local stack sets (AWS_ENDPOINT_URL_<SERVICE>),
as the AWS CLI's flag does."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import click

from mysql2dynamo.ground.log import set_quiet

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
GLOBAL_FLAGS = ("--debug", "--quiet", "-q")
GLOBAL_VALUES = ("--profile", "--region", "--endpoint-url", "--output", "-o", "--log-level")


@dataclass(frozen=True)
class Globals:
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    output: str = "text"
    log_level: str | None = None
    debug: bool = False
    quiet: bool = False

    def apply(self) -> None:
        if self.profile:
            os.environ["AWS_PROFILE"] = self.profile
        if self.region:
            os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = self.region
        if self.endpoint_url:
            for name in [v for v in os.environ if v.startswith("AWS_ENDPOINT_URL_")]:
                del os.environ[name]
            os.environ["AWS_ENDPOINT_URL"] = self.endpoint_url
        if self.profile or self.region:
            import boto3

            boto3.setup_default_session(profile_name=self.profile, region_name=self.region)
        level = "DEBUG" if self.debug else self.log_level
        if level:
            logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                                stream=sys.stderr)
        set_quiet(self.quiet)


def global_options(f: Callable) -> Callable:
    options = [
        click.option("--profile", default=None, help="AWS profile (as AWS_PROFILE)."),
        click.option("--region", default=None, help="AWS region (as AWS_REGION)."),
        click.option("--endpoint-url", default=None,
                     help="One AWS endpoint for every service (a local stack, a VPC endpoint)."),
        click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True,
                     help="Results (and errors, on stderr) as text or JSON."),
        click.option("--log-level", type=click.Choice(LOG_LEVELS, case_sensitive=False), default=None,
                     help="Python logging level of the libraries (default: their own)."),
        click.option("--debug", is_flag=True, help="Show the traceback of a failure; log at DEBUG."),
        click.option("--quiet", "-q", is_flag=True, help="No progress lines or bars: only results and errors."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def current() -> Globals:
    """The global options of the running command (the defaults outside a command line)."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx else None
    return obj if isinstance(obj, Globals) else Globals()


def wants_json(flag: bool = False) -> bool:
    """The command's own `--json`, or `--output json`."""
    return flag or current().output == "json"
