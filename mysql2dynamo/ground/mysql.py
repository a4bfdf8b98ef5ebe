"""Connections to the source MySQL/MariaDB from a URL (`mysql://user:pass@host:port/db`).

utf8mb4 on every connection, so emoji survive; the URL usually comes from the config's
`source.mysql_url` or `M2D_MYSQL_URL`, never from a log line (`redact` hides the password).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import pymysql
import pymysql.cursors


@dataclass(frozen=True)
class MySQLTarget:
    host: str
    port: int
    user: str
    password: str
    database: str | None

    @classmethod
    def parse(cls, url: str) -> MySQLTarget:
        u = urlparse(url)
        if u.scheme not in ("mysql", "mariadb", "mysql+pymysql"):
            raise ValueError(f"not a MySQL URL (expected mysql://user:password@host:port/db): {redact(url)}")
        return cls(
            host=u.hostname or "127.0.0.1", port=u.port or 3306,
            user=unquote(u.username or "root"), password=unquote(u.password or ""),
            database=u.path.lstrip("/") or None,
        )

    def connect(self, database: str | None = None, *, streaming: bool = False, autocommit: bool = True,
                **kw) -> pymysql.Connection:
        """A pymysql connection; `streaming=True` uses a server-side cursor (rows not buffered)."""
        return pymysql.connect(
            host=self.host, port=self.port, user=self.user, password=self.password,
            database=database or self.database, charset="utf8mb4", autocommit=autocommit,
            cursorclass=pymysql.cursors.SSCursor if streaming else pymysql.cursors.Cursor, **kw,
        )

    def jdbc_url(self, database: str | None = None) -> str:
        return f"jdbc:mariadb://{self.host}:{self.port}/{database or self.database or ''}"


def connect(url: str, database: str | None = None, **kw) -> pymysql.Connection:
    return MySQLTarget.parse(url).connect(database, **kw)


def redact(url: str) -> str:
    """The URL with its password replaced, for messages and logs."""
    u = urlparse(url)
    if not u.password:
        return url
    return url.replace(f":{u.password}@", ":***@", 1)
