"""The config's JSON Schema (mysql2dynamo/config.schema.json), generated from the commands, so a
section's keys, types, defaults and help are the options' own. Regenerate after changing an option:

    python -m mysql2dynamo.commands.schema > mysql2dynamo/config.schema.json

(tests/test_config.py fails while the published file differs from this output).
"""

from __future__ import annotations

import json
from typing import Any

import click
import yaml

# section -> (the command whose options it holds, options that are not settings of a run)
SECTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "snapshot": ("snapshot", ("resume", "dump_dir", "dump_format", "schema_path", "database")),
    "stream": ("stream", ("from_position", "until_position", "max_seconds", "stop_at_end")),
    "load": ("load", ("master", "print_submit", "emr_artifacts")),
    "replay": ("replay", ("until_caught_up", "max_seconds")),
    "verify": ("verify", ("snapshot", "report")),
    "cutover": ("cutover", ("no_verify", "release_fence", "lift_fence", "report")),
    "deploy": ("deploy", ("stream", "shards", "retention_hours", "manifest", "dead_letter", "claim_check", "checkpoint",
                          "template_path", "zip_path", "dry_run", "delete", "delete_tables")),
}
NOT_SETTINGS = ("config", "mysql_url", "help")
FREE_MAPS = ("tags", "spark_conf")  # emr: any keys
MYSQL_URL = 'mysql://user:password@host:port/ (e.g. "${M2D_MYSQL_URL}": secrets stay in the environment).'
RULE = {
    "type": "object",
    "description": "How rows of one source table become items (docs/keymap.md).",
    "additionalProperties": False,
    "required": ["target", "key"],
    "properties": {
        "name": {"type": "string", "description": "Tells apart several rules of one source table."},
        "target": {"type": "string", "description": "The DynamoDB table."},
        "key": {"type": "object", "description": "Key attributes: name -> template ({column}, functions).",
                "additionalProperties": {"type": ["string", "number"]}},
        "attributes": {"type": "object", "description": "Attributes: name -> template, column or 'literal'.",
                       "additionalProperties": {"type": ["string", "number", "boolean"]}},
        "exclude": {"type": "array", "items": {"type": "string"}, "description": "Columns not copied by rest."},
        "rest": {"type": "boolean", "description": "Copy all other columns with the default types."},
        "where": {"type": "string", "description": "Rows outside this filter are not in DynamoDB."},
        "nulls": {"enum": ["omit", "null"], "description": "NULL columns: omit the attribute or write NULL."},
        "ttl": {"type": "string", "description": "Attribute DynamoDB's TTL reads."},
    },
}


def _json_type(param: click.Parameter) -> dict[str, Any]:
    t = param.type
    if isinstance(t, click.Choice):
        return {"enum": list(t.choices)}
    if param.name == "tables":
        return {"type": ["string", "array"], "items": {"type": "string"}}
    if isinstance(param, click.Option) and param.is_flag:  # a flag's type is a BoolParamType of its own
        return {"type": "boolean"}
    return {"type": {click.INT: "integer", click.FLOAT: "number", click.BOOL: "boolean"}.get(t, "string")}


def _section(command: click.Command, skip: tuple[str, ...]) -> dict[str, Any]:
    props = {}
    for p in command.params:
        if not isinstance(p, click.Option) or p.name in (*NOT_SETTINGS, *skip):
            continue
        prop = {**_json_type(p), "description": (p.help or "").strip()}
        if isinstance(p.default, (str, int, float)) and not p.is_flag:
            prop["default"] = p.default
        props[p.name] = prop
    return {"type": "object", "additionalProperties": False, "properties": props,
            "description": f"Settings of `mysql2dynamo {command.name}` (a flag on the command line wins)."}


def _from_example(value: Any, name: str) -> dict[str, Any]:
    if isinstance(value, dict):
        if name in FREE_MAPS:
            return {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}
        return {"type": "object", "additionalProperties": False,
                "properties": {k: _from_example(v, k) for k, v in value.items()}}
    if isinstance(value, list):
        return {"type": "array"}
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    return {"type": ["string", "null"]}


def build_schema() -> dict[str, Any]:
    from mysql2dynamo.cli import main
    from mysql2dynamo.emr.definitions import CLUSTER_YAML

    ctx = click.Context(main)
    commands = {name: main.get_command(ctx, name) for name in main.list_commands(ctx)}
    emr = _from_example(yaml.safe_load(CLUSTER_YAML.read_text()), "emr")
    emr["properties"]["artifacts"]["type"] = "string"
    emr["description"] = "Overrides of emr/cluster.yaml for `mysql2dynamo emr submit`."
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "mysql2dynamo config",
        "description": "The config file of every mysql2dynamo command (docs/operations.md). ${VAR} and "
                       "${VAR:-default} are replaced from the environment, except in key/attributes/where.",
        "type": "object",
        "additionalProperties": False,
        "required": ["tables"],
        "properties": {
            "version": {"enum": [1], "description": "The config format version."},
            "version_attribute": {"type": "string", "default": "_ver",
                                  "description": "The item attribute holding the change version."},
            "source": {"type": "object", "additionalProperties": False, "description": "Where MySQL is.",
                       "properties": {"mysql_url": {"type": "string", "description": MYSQL_URL}}},
            "tables": {"type": "object", "description": "The key mapping: db.table -> rule or list of rules.",
                       "propertyNames": {"pattern": "^[^.]+\\.[^.]+$"},
                       "additionalProperties": {"oneOf": [{"$ref": "#/$defs/rule"},
                                                          {"type": "array", "items": {"$ref": "#/$defs/rule"}}]}},
            **{name: _section(commands[cmd], skip) for name, (cmd, skip) in SECTIONS.items()},
            "emr": emr,
        },
        "$defs": {"rule": RULE},
    }


if __name__ == "__main__":
    print(json.dumps(build_schema(), indent=2))
