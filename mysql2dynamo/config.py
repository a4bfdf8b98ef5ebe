"""The config file, read one way for every command.

```yaml
# yaml-language-server: $schema=https://.../mysql2dynamo/config.schema.json
version: 1
source:
  mysql_url: "${M2D_MYSQL_URL}"      # ${VAR} or ${VAR:-default}; secrets stay in the environment
tables: {...}                        # the keymap mapping (docs/keymap.md)
snapshot: {to: s3://bucket/snap}     # one section per command: its options, named as the flags
load: {max_wcu: 4000}
emr: {artifacts: s3://bucket/m2d/}
```

- `${VAR}` / `${VAR:-default}` is replaced everywhere except in the keymap templates of `tables:`
  (`key`, `attributes`, `where`: their `{...}` and `$` belong to the DSL). A section is interpolated
  when a command reads it, so `emr submit` does not need the variables of `source:`.
- Precedence, for every command: a flag given on the command line, then the config, then the
  environment (`M2D_MYSQL_URL`, ...), then the option's default. Only `local`, `sample` and `demo`
  fall back to the local stack; any other command that needs MySQL and finds no URL is an error.
- Unknown keys are an error with a "did you mean", at file:line:col; the keymap section keeps
  keymap's own errors. The rules are published as a JSON Schema (config.schema.json, docs/operations.md).
"""

from __future__ import annotations

import copy
import difflib
import json
import os
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mysql2dynamo.ground.interpolate import UnsetVariable, interpolate_nodes, where
from mysql2dynamo.keymap.spec import Mapping, compose, mapping_from_config

SCHEMA_PATH = Path(__file__).with_name("config.schema.json")
MAPPING_KEYS = ("version", "version_attribute", "tables")  # read by keymap
_TAGS = {
    "string": ("tag:yaml.org,2002:str",),
    "integer": ("tag:yaml.org,2002:int",),
    "number": ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"),
    "boolean": ("tag:yaml.org,2002:bool",),
    "null": ("tag:yaml.org,2002:null",),
    "object": ("tag:yaml.org,2002:map",),
    "array": ("tag:yaml.org,2002:seq",),
}


class ConfigError(ValueError):
    """A config problem, at the file:line:col it concerns."""


def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def _suggest(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _construct(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check(node: yaml.Node, rules: dict, file: str, dotted: str, values: bool) -> None:
    """Keys (and with `values`, types and choices) of `node` against its schema `rules`."""
    if values:
        kinds = rules.get("type")
        kinds = [kinds] if isinstance(kinds, str) else kinds or []
        if kinds and node.tag not in {t for k in kinds for t in _TAGS[k]}:
            raise ConfigError(f"{where(node, file)}: {dotted}: expected {' or '.join(kinds)}, got {node.value!r}"
                              if isinstance(node, yaml.ScalarNode) else
                              f"{where(node, file)}: {dotted}: expected {' or '.join(kinds)}")
        if "enum" in rules and _construct(node) not in rules["enum"]:
            raise ConfigError(f"{where(node, file)}: {dotted}: expected one of "
                              f"{', '.join(map(str, rules['enum']))}, got {node.value!r}")
    if isinstance(node, yaml.MappingNode):
        known = rules.get("properties", {})
        extra = rules.get("additionalProperties", True)
        for key, value in node.value:
            name = str(key.value)
            if name in known:
                _check(value, known[name], file, f"{dotted}.{name}" if dotted else name, values)
            elif extra is False:
                place = f" in {dotted}:" if dotted else ""
                raise ConfigError(f"{where(key, file)}: unknown key '{name}'{place}{_suggest(name, known)}; "
                                  f"expected one of {', '.join(known)}")
            elif isinstance(extra, dict):
                _check(value, extra, file, f"{dotted}.{name}", values)
    elif isinstance(node, yaml.SequenceNode) and isinstance(rules.get("items"), dict):
        for item in node.value:
            _check(item, rules["items"], file, f"{dotted}[]", values)


@dataclass
class Config:
    path: str
    mapping: Mapping
    nodes: dict[str, yaml.Node]  # the sections other than the mapping, as written
    env: AbcMapping[str, str]
    rules: dict
    _read: dict[str, dict] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        """One section, interpolated and checked ({} when absent); errors name file:line:col."""
        if name not in self._read:
            node = self.nodes.get(name)
            if node is None:
                self._read[name] = {}
            else:
                node = copy.deepcopy(node)
                try:
                    interpolate_nodes(node, self.env, self.path)
                except UnsetVariable as e:
                    raise ConfigError(str(e)) from None
                _check(node, self.rules["properties"][name], self.path, name, values=True)
                self._read[name] = _construct(node) or {}
        return self._read[name]

    @property
    def mysql_url(self) -> str | None:
        return self.section("source").get("mysql_url")


def load_config_text(text: str, path: str = "<config>", env: AbcMapping[str, str] | None = None) -> Config:
    """Parse and check a config document; `env` (for `${VAR}`) defaults to os.environ."""
    env = os.environ if env is None else env
    rules = schema()
    doc = compose(text, path)  # keymap's reader: its YAML errors carry file:line:col
    if not isinstance(doc.node, yaml.MappingNode):
        raise ConfigError(f"{path}: expected a mapping with tables: (and source:, load:, ...)")
    # keys only (values are interpolated when read); `tables:` is keymap's to check
    _check(doc.node, {**rules, "properties": {**rules["properties"], "tables": {}}}, path, "", values=False)
    nodes = {str(k.value): v for k, v in doc.node.value if k.value not in MAPPING_KEYS}
    try:
        mapping = mapping_from_config(text, path, env)
    except UnsetVariable as e:
        raise ConfigError(str(e)) from None
    return Config(path, mapping, nodes, env, rules)


def load_config(path: str | Path, env: AbcMapping[str, str] | None = None) -> Config:
    return load_config_text(Path(path).read_text(), str(path), env)
