"""The one YAML config file: `source:` (where MySQL is) and `tables:` (the keymap mapping).

```yaml
version: 1
source:
  mysql_url: "${M2D_MYSQL_URL}"              # ${VAR} or ${VAR:-default}; secrets stay in the environment
tables:
  shop.customers: {...}                      # handed to keymap.spec
```

Only the `source:` section is interpolated: `tables:` holds templates whose `{...}` (and any
`$`) belong to the keymap DSL.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from mysql2dynamo.keymap.ast import KeymapError, Location
from mysql2dynamo.keymap.spec import Mapping, load_mapping

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(ValueError):
    """A config problem, with the file (and the variable) it concerns."""


@dataclass(frozen=True)
class SourceConfig:
    mysql_url: str


@dataclass(frozen=True)
class Config:
    path: str
    source: SourceConfig
    mapping: Mapping


def interpolate(text: str, env: AbcMapping[str, str], where: str) -> str:
    """Replace `${VAR}` / `${VAR:-default}`; an unset variable without default is an error."""

    def repl(m: re.Match) -> str:
        name, default = m.group(1), m.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise ConfigError(f"{where}: environment variable {name} is not set (write ${{{name}:-default}} "
                                  f"for a fallback)")
            return default
        return value

    return _VAR.sub(repl, text)


def _interpolate_tree(node, env: AbcMapping[str, str], where: str):
    if isinstance(node, str):
        return interpolate(node, env, where)
    if isinstance(node, dict):
        return {k: _interpolate_tree(v, env, f"{where}.{k}") for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate_tree(v, env, f"{where}[{i}]") for i, v in enumerate(node)]
    return node


def load_config_text(text: str, path: str = "<config>", env: AbcMapping[str, str] | None = None) -> Config:
    """Parse a config document; `env` defaults to os.environ."""
    env = os.environ if env is None else env
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.MarkedYAMLError as e:
        m = e.problem_mark
        raise KeymapError(f"invalid YAML: {e.problem}", Location(path, m.line + 1, m.column + 1)) from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping with source: and tables:")
    source = _interpolate_tree(doc.get("source") or {}, env, f"{path}: source")
    url = source.get("mysql_url") if isinstance(source, dict) else None
    if not url:
        raise ConfigError(f"{path}: expected source.mysql_url (e.g. \"${{M2D_MYSQL_URL}}\")")
    return Config(path, SourceConfig(str(url)), load_mapping(text, path))


def load_config(path: str | Path, env: AbcMapping[str, str] | None = None) -> Config:
    return load_config_text(Path(path).read_text(), str(path), env)
