"""MySQL character sets -> Python codecs that decode column bytes exactly as MySQL does.

python-mysql-replication decodes a string column with a Python codec named after the column's
character set, and many of those differ from MySQL: MySQL's `latin1` is cp1252 with the five bytes
cp1252 leaves undefined passed through (Python's cp1252 raises on 0x81); `utf16`, `utf32` and `ucs2`
are big-endian without a byte-order mark (Python's `utf16`/`utf32` want one: mojibake or a crash);
`utf16le` and `ucs2` are no Python codec names; several 8-bit sets have no Python codec at all
(armscii8, dec8, geostd8, hp8, keybcs2, swe7); and the East Asian sets differ in hundreds to
thousands of characters (MySQL's euckr is Microsoft's extension, ujis/eucjpms map user-defined
areas, sjis 0x815F is a backslash).

So the Unicode sets use Python's exact codecs, and every other set is learned from the server the
first time a captured column uses it: each byte sequence the set can hold, converted by MySQL itself
to utf8mb4, which is also what the snapshot's utf8mb4 connection receives. Learning costs one query
for an 8-bit set and 5-20 queries for a multi-byte one, once per process. A character set that
cannot be learned is a loud error naming it, never bytes passed on as text.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable

_UNICODE = {
    "utf8mb4": "utf-8", "utf8mb3": "utf-8", "utf8": "utf-8",
    "utf16": "utf-16-be", "utf16le": "utf-16-le", "utf32": "utf-32-be",
    "ucs2": "utf-16-be",  # UCS-2 is UTF-16 without surrogates: the BMP, big-endian
}
# python-mysql-replication names a column's character set by its own codec guess for these
# bytes per character of the multi-byte sets (every other set: 1); the binlog gives CHAR/VARCHAR lengths in bytes
_MAXLEN = {"utf8mb4": 4, "utf8mb3": 3, "utf8": 3, "utf16": 4, "utf16le": 4, "utf32": 4, "ucs2": 2, "big5": 2,
           "sjis": 2, "cp932": 2, "gbk": 2, "gb2312": 2, "euckr": 2, "ujis": 3, "eucjpms": 3, "gb18030": 4}
_LIBRARY_NAMES = {"cp1252": "latin1", "utf8": "utf8mb4", "koi8_r": "koi8r", "koi8_u": "koi8u"}
_PREFIX = "mysql_"
_BATCH = 2000  # conversions per query

_learned: dict[str, dict[bytes, str]] = {}  # character set -> byte sequence -> character
_server: Callable[[], object] | None = None  # opens a connection to learn from


class UnsupportedCharset(ValueError):
    """A column character set the capture cannot decode as MySQL does."""


def learn_from(connect: Callable[[], object]) -> None:
    """Where unknown character sets are learned: a function that opens a connection to the source."""
    global _server
    _server = connect


def python_codec(charset: str) -> str:
    """The Python codec for a column's character set (MySQL's name, or python-mysql-replication's)."""
    name = _LIBRARY_NAMES.get(charset, charset)
    if name == "binary":  # no codec: the library keeps the bytes (BINARY, VARBINARY, BLOB)
        return name
    if name in _UNICODE:
        return _UNICODE[name]
    if name not in _learned:
        if _server is None:
            raise UnsupportedCharset(f"character set {name!r}: no server to learn it from")
        _learned[name] = _learn(name)
    return _PREFIX + name


def max_bytes_per_char(collation: str | None) -> int:
    """Bytes a character of a collation's character set can take (`utf8mb4_general_ci` -> 4)."""
    return _MAXLEN.get((collation or "binary").split("_", 1)[0], 1)


def _sequences(maxlen: int) -> list[bytes]:
    """Every non-ASCII byte sequence a character of a multi-byte MySQL character set can be."""
    seqs = [bytes([b]) for b in range(0x80, 0x100)]
    seqs += [bytes([a, b]) for a in range(0x81, 0xFF) for b in range(0x40, 0xFF)]
    if maxlen >= 3:  # EUC-JP's JIS X 0212 plane (ujis, eucjpms)
        seqs += [bytes([0x8F, a, b]) for a in range(0xA1, 0xFF) for b in range(0xA1, 0xFF)]
    return seqs


def _learn(name: str) -> dict[bytes, str]:
    conn = _server()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT MAXLEN FROM information_schema.CHARACTER_SETS WHERE CHARACTER_SET_NAME = %s",
                        (name,))
            row = cur.fetchone()
            if row is None or row[0] > 3:
                raise UnsupportedCharset(f"character set {name!r} is unknown to the server or not learnable "
                                         "here: convert the column to utf8mb4 (ALTER TABLE ... CONVERT TO "
                                         "CHARACTER SET utf8mb4) or exclude it")
            if row[0] == 1:  # 8-bit: each byte is one character, whatever the server makes of it ('?' too)
                cur.execute(f"SELECT HEX(CONVERT(CONVERT(UNHEX('{bytes(range(256)).hex()}') USING `{name}`) "
                            "USING utf8mb4))")
                text = bytes.fromhex(cur.fetchone()[0]).decode("utf-8")
                if len(text) != 256:
                    raise UnsupportedCharset(f"character set {name!r}: the server converts 256 bytes to "
                                             f"{len(text)} characters")
                return {bytes([b]): c for b, c in enumerate(text)}
            table = {bytes([b]): chr(b) for b in range(0x80)}
            seqs = _sequences(row[0])
            for i in range(0, len(seqs), _BATCH):
                part = seqs[i:i + _BATCH]
                cur.execute("SELECT " + ", ".join(
                    f"HEX(CONVERT(CONVERT(UNHEX('{s.hex()}') USING `{name}`) USING utf8mb4))" for s in part))
                for seq, hex_text in zip(part, cur.fetchone(), strict=True):
                    text = bytes.fromhex(hex_text or "").decode("utf-8")
                    if len(text) == 1 and text != "?":  # one character: a sequence the set holds
                        table[seq] = text
    finally:
        conn.close()
    return table


def _decode(table: dict[bytes, str], data: bytes, errors: str = "strict") -> tuple[str, int]:
    out, i, n = [], 0, len(data)
    while i < n:
        for width in (3, 2, 1):
            char = table.get(bytes(data[i:i + width])) if i + width <= n else None
            if char is not None:
                out.append(char)
                i += width
                break
        else:
            if errors != "replace":
                raise UnicodeDecodeError("mysql", bytes(data), i, i + 1, "not a character of the column's set")
            out.append("\ufffd")
            i += 1
    return "".join(out), n


def _search(codec_name: str) -> codecs.CodecInfo | None:
    table = _learned.get(codec_name[len(_PREFIX):]) if codec_name.startswith(_PREFIX) else None
    if table is None:
        return None
    reverse = {c: s for s, c in table.items()}

    def encode(text: str, errors: str = "strict") -> tuple[bytes, int]:
        return b"".join(reverse[c] for c in text), len(text)

    return codecs.CodecInfo(name=codec_name, encode=encode,
                            decode=lambda data, errors="strict": _decode(table, data, errors))


codecs.register(_search)
