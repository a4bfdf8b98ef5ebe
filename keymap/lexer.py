"""Tokens of the keymap expression language."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mysql2dynamo.keymap.ast import KeymapError, Location

KEYWORDS = {"and", "or", "not", "is", "null", "in", "true", "false"}

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>'(?:[^']|'')*')
  | (?P<quoted>`[^`]+`)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|!=|<>|==|[-+*/%=<>(),])
""", re.VERBOSE)


@dataclass(frozen=True)
class Token:
    kind: str  # number string name keyword op end
    text: str
    pos: int

    def describe(self) -> str:
        return "end of expression" if self.kind == "end" else repr(self.text)


def tokenize(src: str, loc: Location) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m:
            what = "unterminated string" if src[pos] == "'" else f"unexpected character {src[pos]!r}"
            raise KeymapError(f"expected an expression, got {what}", loc.at(pos))
        kind = m.lastgroup
        text = m.group()
        if kind == "quoted":
            kind, text = "name", text[1:-1]
        elif kind == "name" and text.lower() in KEYWORDS:
            kind, text = "keyword", text.lower()
        elif kind == "op":
            text = {"<>": "!=", "==": "="}.get(text, text)
        if kind != "ws":
            tokens.append(Token(kind, text, pos))
        pos = m.end()
    tokens.append(Token("end", "", len(src)))
    return tokens
