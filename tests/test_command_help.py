"""Every command documents itself."""

from __future__ import annotations

import click
from click.testing import CliRunner

from mysql2dynamo.cli import main


def _commands(group: click.Group, path: tuple[str, ...] = ()):
    yield path
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*path, name))
        else:
            yield (*path, name)


def test_every_command_has_help():
    runner = CliRunner()
    paths = list(_commands(main))
    assert ("local", "up") in paths and ("sample", "traffic") in paths and ("demo",) in paths
    for path in paths:
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output
        assert len(result.output.split("\n\n")[1].strip()) > 10, f"{path} has no description"
