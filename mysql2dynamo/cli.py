"""The `mysql2dynamo` command line: the group, assembled from mysql2dynamo/commands/ (one module per
verb group). A command's module is imported when the command runs (or its help is shown), so
`mysql2dynamo replay` does not pay for Spark, the snapshot writer or the cutover."""

from __future__ import annotations

import importlib

import click

from mysql2dynamo import __version__

# command name -> "module:attribute" under mysql2dynamo.commands
COMMANDS = {
    "local": "local:local",
    "sample": "sample:sample",
    "keymap": "keymap:keymap",
    "plan": "plan:plan",
    "stream": "stream:stream",
    "snapshot": "snapshot:snapshot",
    "load": "load:load",
    "emr": "emr:emr",
    "replay": "replay:replay",
    "cleanup-tombstones": "replay:cleanup",
    "deploy": "deploy:deploy",
    "create-tables": "deploy:create_tables",
    "verify": "verify:verify",
    "status": "status:status",
    "cutover": "cutover:cutover",
    "demo": "demo:demo",
}


class Commands(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, _, attribute = COMMANDS[name].partition(":")
        return getattr(importlib.import_module(f"mysql2dynamo.commands.{module}"), attribute)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mysql2dynamo")
def main() -> None:
    """Move live MySQL tables into DynamoDB with a new key design, with a sub-second write pause."""


if __name__ == "__main__":
    main()
