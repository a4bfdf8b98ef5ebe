"""What every command shares: the `--config` option and its precedence, the source URL, options
derived from a dataclass's option facts, and the one message helper (`say`, on stderr)."""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any

import click
import pymysql
from click.core import ParameterSource

from mysql2dynamo.commands.errors import USAGE, RuntimeFailure
from mysql2dynamo.commands.global_options import wants_json
from mysql2dynamo.config import Config, ConfigError, load_config
from mysql2dynamo.ground.log import say
from mysql2dynamo.ground.mysql import MySQLTarget, connect
from mysql2dynamo.ground.options import facts, from_values
from mysql2dynamo.keymap.ast import KeymapError

__all__ = ["say", "configured", "source_url", "fact_options", "from_facts", "default_of", "connect_source",
           "stream_name", "ConfigFailure", "RuntimeFailure", "wants_json", "confirm_destructive"]


class ConfigFailure(click.ClickException):
    """A usage or config error: exit code 2, like click's usage errors."""

    exit_code = USAGE


def read_config(path: str) -> Config:
    try:
        return load_config(path)
    except (KeymapError, ConfigError) as e:
        raise ConfigFailure(str(e)) from None


def _config_values(ctx: click.Context, cfg: Config, sections: tuple[str, ...]) -> dict[str, Any]:
    """The sections' settings for the parameters the command line left at their defaults."""
    out: dict[str, Any] = {}
    params = {p.name: p for p in ctx.command.params}
    settings = []
    for spec in sections:  # "load": the whole section; "stream.stream": one key of it
        section, _, only = spec.partition(".")
        settings += [(section, name, value) for name, value in cfg.section(section).items() if name == only or not only]
    for section, name, value in settings:
        if name not in params or name in out or ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None):
            continue
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        try:
            out[name] = params[name].type_cast_value(ctx, value)
        except click.BadParameter as e:
            raise ConfigFailure(f"{cfg.path}: {section}.{name}: {e.message}") from None
    return out


def configured(*sections: str, required: bool = False, help: str = "The mysql2dynamo config YAML.") \
        -> Callable[[Callable], Callable]:
    """Add `--config` to a command and call it with the Config (or None) first; the options the user did
    not give take the values of the config's `sections` ("load", or "stream.stream" for one key; the
    first that has the key wins): flag > config > environment > default."""

    def wrap(f: Callable) -> Callable:
        @functools.wraps(f)
        def run(config: str | None, **kwargs: Any) -> Any:
            cfg = read_config(config) if config else None
            if cfg is not None:
                try:
                    kwargs.update(_config_values(click.get_current_context(), cfg, sections))
                except ConfigError as e:
                    raise ConfigFailure(str(e)) from None
            return f(cfg, **kwargs)

        return click.option("--config", required=required, type=click.Path(exists=True, dir_okay=False),
                            help=help)(run)

    return wrap


ENV_URLS = ("M2D_MYSQL_URL",)


def source_url(flag: str | None, cfg: Config | None, env: tuple[str, ...] = ENV_URLS) -> str:
    """Where MySQL is: --mysql-url, else the config's source.mysql_url, else the environment; no URL
    anywhere is a usage error (no fallback to the local stack)."""
    try:
        named = [("--mysql-url", flag), (f"{cfg.path}: source.mysql_url" if cfg else "", cfg and cfg.mysql_url)]
    except ConfigError as e:
        raise ConfigFailure(str(e)) from None
    where, url = next(((w, u) for w, u in [*named, *((f"${v}", os.environ.get(v)) for v in env)] if u), ("", None))
    if not url:
        raise ConfigFailure("no MySQL server named: pass --mysql-url, set source.mysql_url in the --config file, "
                            f"or set {' or '.join(env)}")
    try:
        MySQLTarget.parse(url)
    except ValueError as e:
        raise ConfigFailure(f"{where}: {e}") from None
    return url


def confirm_destructive(what: str, yes: bool) -> None:
    """Go on only with `--yes` or a person's yes at the terminal; without a terminal it is a usage error."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise ConfigFailure(f"{what}: pass --yes to confirm (no terminal to ask)")
    click.confirm(f"{what}. Go on?", abort=True, err=True)


def yes_option(f: Callable) -> Callable:
    return click.option("--yes", "-y", is_flag=True, help="Do not ask before changing or deleting data.")(f)


def stream_name(stream: str | None) -> str:
    """The change stream's name: --stream, else the config's stream.stream."""
    if not stream:
        raise click.UsageError("no stream: pass --stream NAME or set stream.stream in the --config file")
    return stream


def mysql_url_option(f: Callable) -> Callable:
    return click.option("--mysql-url", default=None, show_default="the config's source.mysql_url, else $M2D_MYSQL_URL",
                        help="Source MySQL as mysql://user:password@host:port/")(f)


def progress_table_option(required: bool = False,
                          help: str = "DynamoDB progress table written by capture and replay (default: the local "
                                      "files).") -> Callable[[Callable], Callable]:
    from mysql2dynamo.cdc.progress import PROGRESS_ENV

    return click.option("--progress-table", default=None, envvar=PROGRESS_ENV, show_envvar=True, required=required,
                        help=help)


def fact_options(cls: type, skip: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """One click option per option fact of the dataclass `cls` (type, default, help, choices)."""

    def wrap(f: Callable) -> Callable:
        for fact in reversed([x for x in facts(cls) if x.name not in skip]):
            kind = click.Choice(fact.choices) if fact.choices else str if fact.many else fact.type
            default = None if fact.required else fact.default
            if fact.type is bool:
                f = click.option(fact.flag, is_flag=True, help=fact.help)(f)
                continue
            help = fact.help + (" Required (here or in the config)." if fact.required else "")
            f = click.option(fact.flag, type=kind, default=default, help=help, show_default=default is not None)(f)
        return f

    return wrap


def from_facts(cls: type, values: dict[str, Any], section: str, **fixed: Any) -> Any:
    """An instance of `cls` from the settled option values; a missing required option is a usage error."""
    missing = [f.flag for f in facts(cls) if f.required and values.get(f.name) is None and f.name not in fixed]
    if missing:
        raise ConfigFailure(f"missing {', '.join(missing)} (or {section}.{missing[0][2:].replace('-', '_')} "
                            "in the --config file)")
    try:
        return from_values(cls, values, **fixed)
    except ValueError as e:
        raise ConfigFailure(str(e)) from None


def default_of(function: Callable, name: str) -> Any:
    """The default of a parameter of a function or dataclass: an option's default is the code's, written once."""
    return inspect.signature(function).parameters[name].default


def connect_source(url: str) -> pymysql.Connection:
    """A connection to the source with TIMESTAMP values in UTC, as the change contract says."""
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
    return conn
