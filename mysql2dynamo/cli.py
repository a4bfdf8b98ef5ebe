"""The `mysql2dynamo` command line: the group, assembled from mysql2dynamo/commands/ (one module per
verb group), its global options and its one error handler (mysql2dynamo/commands/errors.py: one
line, a documented exit code). A command's module is imported when the command runs (or its help is
shown), so `mysql2dynamo replay` does not pay for Spark, the snapshot writer or the cutover.

Global options may come before or after the verb (`mysql2dynamo --quiet load ...` or `mysql2dynamo
load ... --quiet`), as the AWS CLI allows; the arguments `local submit` passes to its script are left
alone."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

import click

from mysql2dynamo import __version__
from mysql2dynamo.commands.errors import fail
from mysql2dynamo.commands.global_options import GLOBAL_FLAGS, GLOBAL_VALUES, Globals, global_options

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
    "report": "report:report",
}
PASSTHROUGH = ("local", "submit")  # what follows is the script's own command line


def hoist_globals(args: list[str]) -> list[str]:
    """The arguments with the global options moved in front of the verb."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--" or tuple(rest[-2:]) == PASSTHROUGH:
            rest += args[i:]
            break
        name = a.split("=", 1)[0]
        if name in GLOBAL_FLAGS or (name in GLOBAL_VALUES and "=" in a):
            front.append(a)
        elif name in GLOBAL_VALUES and i + 1 < len(args):
            front += args[i:i + 2]
            i += 1
        else:
            rest.append(a)
        i += 1
    return front + rest


class Commands(click.Group):
    """A group whose commands are imported on first use, and whose failures end in one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, _, attribute = COMMANDS[name].partition(":")
        return getattr(importlib.import_module(f"mysql2dynamo.commands.{module}"), attribute)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any) -> Any:
        args = hoist_globals(list(sys.argv[1:] if args is None else args))
        prog = prog_name or "mysql2dynamo"
        debug = "--debug" in args
        as_json = any(a in ("--output=json", "-o=json") for a in args) or any(
            a in ("--output", "-o") and b == "json" for a, b in zip(args, args[1:], strict=False))
        try:
            returned = super().main(args, prog, standalone_mode=False, **extra)
        except click.Abort as e:  # click turns Ctrl-C into Abort
            code = 130 if isinstance(e.__context__, KeyboardInterrupt) else fail(e, prog, debug, as_json)
        except Exception as e:  # noqa: BLE001 - the one place failures become a line and an exit code
            code = fail(e, prog, debug, as_json)
        else:
            code = returned if isinstance(returned, int) else 0  # click returns --help's exit code
        sys.exit(code)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mysql2dynamo")
@global_options
@click.pass_context
def main(ctx: click.Context, **values: Any) -> None:
    """Move live MySQL tables into DynamoDB with a new key design, with a sub-second write pause.

    \b
    Exit codes (every command):
      0  done
      1  done, and the answer is no: differences found, not ready, a check failed
      2  usage or config error (nothing was changed)
      3  runtime failure (a server unreachable, an AWS error, a failed job)
    """
    ctx.obj = Globals(**values)
    ctx.obj.apply()


if __name__ == "__main__":
    main()
