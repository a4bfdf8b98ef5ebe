"""The `mysql2dynamo` command line: the group, assembled from mysql2dynamo/commands/ (one module per
verb group)."""

from __future__ import annotations

import click

from mysql2dynamo import __version__
from mysql2dynamo.commands.cutover import cutover
from mysql2dynamo.commands.demo import demo
from mysql2dynamo.commands.deploy import deploy
from mysql2dynamo.commands.emr import emr
from mysql2dynamo.commands.keymap import keymap
from mysql2dynamo.commands.load import load
from mysql2dynamo.commands.local import local
from mysql2dynamo.commands.plan import plan
from mysql2dynamo.commands.replay import cleanup, replay
from mysql2dynamo.commands.sample import sample
from mysql2dynamo.commands.snapshot import snapshot
from mysql2dynamo.commands.status import status
from mysql2dynamo.commands.stream import stream
from mysql2dynamo.commands.verify import verify

COMMANDS = (local, sample, keymap, plan, stream, snapshot, load, emr, replay, cleanup, deploy, verify, status,
            cutover, demo)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mysql2dynamo")
def main() -> None:
    """Move live MySQL tables into DynamoDB with a new key design, with a sub-second write pause."""


for command in COMMANDS:
    main.add_command(command)


if __name__ == "__main__":
    main()
