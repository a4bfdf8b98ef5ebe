"""`${VAR}` / `${VAR:-default}` in config values: the one implementation, for the shell's config
reader and for the jobs and the Lambda that read a mapping on their own.

Works on the YAML node tree, so every error keeps its file:line:col, and a plain scalar is typed
after the substitution (`max_wcu: ${MAX_WCU:-2000}` is the number 2000).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import yaml

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class UnsetVariable(ValueError):
    """A `${VAR}` without default whose variable is not set."""

    def __init__(self, name: str, where: str) -> None:
        super().__init__(f"{where}: environment variable {name} is not set "
                         f"(set it, or write ${{{name}:-default}} for a fallback)")
        self.name = name


def interpolate(text: str, env: Mapping[str, str], where: str) -> str:
    """`text` with `${VAR}` replaced by env[VAR] and `${VAR:-default}` by the default when VAR is
    unset or empty; an unset variable without default raises UnsetVariable naming `where`."""

    def repl(m: re.Match) -> str:
        name, default = m.group(1), m.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise UnsetVariable(name, where)
            return default
        return value

    return _VAR.sub(repl, text)


def where(node: yaml.Node, file: str) -> str:
    m = node.start_mark
    return f"{file}:{m.line + 1}:{m.column + 1}"


Path = tuple[str, ...]


def interpolate_nodes(node: yaml.Node, env: Mapping[str, str], file: str,
                      literal: Callable[[Path], bool] = lambda path: False, path: Path = ()) -> None:
    """Interpolate every scalar value under `node` in place, except where `literal(path)` is true
    (path: the mapping keys from `node`). Keys are never interpolated; an unset variable raises."""
    if literal(path):
        return
    if isinstance(node, yaml.ScalarNode):
        if "${" not in node.value:
            return
        value = node.value = interpolate(node.value, env, where(node, file))
        if node.style is None:  # a plain scalar gets the type of its new text
            node.tag = yaml.resolver.Resolver().resolve(yaml.ScalarNode, value, (True, False))
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            interpolate_nodes(value, env, file, literal, (*path, str(key.value)))
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            interpolate_nodes(item, env, file, literal, path)
