"""Recursive-descent parser for keymap expressions and templates.

Errors say where (`file:line:col`, the YAML position of the string plus the offset inside it)
and what was expected, e.g. `shop.yaml:7:31: expected ')' got end of expression`.
"""

from __future__ import annotations

import re
from decimal import Decimal

from mysql2dynamo.keymap.ast import BinOp, Call, Col, Expr, In, IsNull, KeymapError, Lit, Location, Not, Template
from mysql2dynamo.keymap.lexer import Token, tokenize

_COMPARE = {"=", "!=", "<", "<=", ">", ">="}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class _Parser:
    def __init__(self, src: str, loc: Location, base: int = 0):
        self.loc, self.base = loc, base
        self.tokens = tokenize(src, loc.at(base)) if src.strip() else [Token("end", "", 0)]
        self.i = 0

    # -- helpers -------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, expected: str, tok: Token | None = None) -> KeymapError:
        tok = tok or self.tok
        return KeymapError(f"expected {expected}, got {tok.describe()}", self.loc.at(self.base + tok.pos))

    def take(self, kind: str, text: str | None = None) -> Token | None:
        t = self.tok
        if t.kind == kind and (text is None or t.text == text):
            self.i += 1
            return t
        return None

    def expect(self, kind: str, text: str, expected: str) -> Token:
        t = self.take(kind, text)
        if t is None:
            raise self.error(expected)
        return t

    def p(self, t: Token) -> int:
        return self.base + t.pos

    # -- grammar -------------------------------------------------------------------------
    def parse(self) -> Expr:
        e = self.or_expr()
        if self.tok.kind != "end":
            raise self.error("an operator or end of expression")
        return e

    def or_expr(self) -> Expr:
        e = self.and_expr()
        while t := self.take("keyword", "or"):
            e = BinOp("or", e, self.and_expr(), self.p(t))
        return e

    def and_expr(self) -> Expr:
        e = self.not_expr()
        while t := self.take("keyword", "and"):
            e = BinOp("and", e, self.not_expr(), self.p(t))
        return e

    def not_expr(self) -> Expr:
        if t := self.take("keyword", "not"):
            return Not(self.not_expr(), self.p(t))
        return self.comparison()

    def comparison(self) -> Expr:
        e = self.additive()
        t = self.tok
        if t.kind == "op" and t.text in _COMPARE:
            self.i += 1
            return BinOp(t.text, e, self.additive(), self.p(t))
        if self.take("keyword", "is"):
            negated = self.take("keyword", "not") is not None
            self.expect("keyword", "null", "'null' after 'is'")
            return IsNull(e, negated, self.p(t))
        negated = False
        if t.kind == "keyword" and t.text == "not" and self.tokens[self.i + 1].text == "in":
            self.i += 1
            negated = True
        if self.take("keyword", "in"):
            self.expect("op", "(", "'(' after 'in'")
            items = self.arguments()
            if not items:
                raise self.error("at least one value in 'in (...)'")
            return In(e, tuple(items), negated, self.p(t))
        return e

    def additive(self) -> Expr:
        e = self.term()
        while self.tok.kind == "op" and self.tok.text in "+-":
            t = self.tokens[self.i]
            self.i += 1
            e = BinOp(t.text, e, self.term(), self.p(t))
        return e

    def term(self) -> Expr:
        e = self.unary()
        while self.tok.kind == "op" and self.tok.text in ("*", "/", "%"):
            t = self.tokens[self.i]
            self.i += 1
            e = BinOp(t.text, e, self.unary(), self.p(t))
        return e

    def unary(self) -> Expr:
        if t := self.take("op", "-"):
            operand = self.unary()
            if isinstance(operand, Lit) and isinstance(operand.value, (int, Decimal)) \
                    and not isinstance(operand.value, bool):
                return Lit(-operand.value, self.p(t))
            return BinOp("-", Lit(0, self.p(t)), operand, self.p(t))
        return self.primary()

    def primary(self) -> Expr:
        t = self.tok
        if t.kind == "number":
            self.i += 1
            return Lit(Decimal(t.text) if "." in t.text else int(t.text), self.p(t))
        if t.kind == "string":
            self.i += 1
            return Lit(t.text[1:-1].replace("''", "'"), self.p(t))
        if t.kind == "keyword" and t.text in ("true", "false", "null"):
            self.i += 1
            return Lit({"true": True, "false": False, "null": None}[t.text], self.p(t))
        if t.kind == "name":
            self.i += 1
            if self.take("op", "("):
                return Call(t.text.lower(), tuple(self.arguments()), self.p(t))
            return Col(t.text, self.p(t))
        if self.take("op", "("):
            e = self.or_expr()
            self.expect("op", ")", "')'")
            return e
        raise self.error("a column, literal, function call or '('")

    def arguments(self) -> list[Expr]:
        """Comma-separated expressions up to and including the closing ')'."""
        args: list[Expr] = []
        if self.take("op", ")"):
            return args
        while True:
            args.append(self.or_expr())
            if self.take("op", ")"):
                return args
            if not self.take("op", ","):
                raise self.error("',' or ')'")


def parse_expression(src: str, loc: Location = Location(), base: int = 0) -> Expr:
    """Parse one expression (`where`, the inside of a template hole)."""
    return _Parser(src, loc, base).parse()


def _hole_end(src: str, start: int, loc: Location) -> int:
    """Index of the `}` closing the hole opened at `start` (skips quoted strings)."""
    i, quoted = start + 1, False
    while i < len(src):
        ch = src[i]
        if ch == "'":
            quoted = not quoted
        elif ch == "}" and not quoted:
            return i
        i += 1
    raise KeymapError("expected '}' closing the '{' of this template hole, got end of string", loc.at(start))


def parse_template(src: str, loc: Location = Location()) -> Template:
    """Parse `TEXT{expr}TEXT...`; `{{` and `}}` are literal braces."""
    parts: list = []
    text, i = [], 0
    while i < len(src):
        ch = src[i]
        if src.startswith("{{", i) or src.startswith("}}", i):
            text.append(ch)
            i += 2
        elif ch == "{":
            end = _hole_end(src, i, loc)
            if text:
                parts.append("".join(text))
                text = []
            parts.append(parse_expression(src[i + 1:end], loc, i + 1))
            i = end + 1
        elif ch == "}":
            raise KeymapError("expected text or '{', got a lone '}' (write '}}' for a brace)", loc.at(i))
        else:
            text.append(ch)
            i += 1
    if text:
        parts.append("".join(text))
    return Template(tuple(parts), 0)


def parse_value(value: object, loc: Location = Location()) -> Expr:
    """Parse an attribute or key value as written in the mapping.

    - `"{expr}"` (one hole, nothing else): the expression, keeping its natural type;
    - a template with text, e.g. `"CUSTOMER#{id}"`: a string;
    - `"'Customer'"`: a string literal;
    - a bare name, e.g. `email`: the column (or, when no such column exists, the text itself,
      which is resolved by the checker: `SK: PROFILE`);
    - other text without braces: that text; YAML numbers and booleans: literals.
    """
    if isinstance(value, bool) or value is None:
        return Lit(value)
    if isinstance(value, (int, float)):
        return Lit(Decimal(str(value)) if isinstance(value, float) else value)
    if not isinstance(value, str):
        raise KeymapError(f"expected a string, number or boolean, got {type(value).__name__}", loc)
    s = value
    if "{" in s or "}" in s:
        t = parse_template(s, loc)
        if len(t.parts) == 1 and not isinstance(t.parts[0], str):
            return t.parts[0]
        return t
    stripped = s.strip()
    if len(stripped) >= 2 and stripped[0] == "'" and stripped[-1] == "'":
        return parse_expression(stripped, loc, s.index("'"))
    if _IDENT.match(stripped):
        return Col(stripped, s.index(stripped))
    return Template((s,), 0)
