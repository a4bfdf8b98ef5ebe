"""Connections to the source MySQL/MariaDB from a URL, and the URL as it may be shown.

    mysql://user:password@host:port/db?ssl_ca=/etc/ca.pem&ssl_verify_identity=true
    mysql://user@host/db?auth=rds-iam&ssl_ca=/etc/rds-ca.pem      (an RDS IAM token per connection)
    secretsmanager://NAME           (the secret: a mysql:// URL, or RDS's JSON: username, password, host, ...)

Invariants:
- a password never reaches a message: `redact` replaces whatever stands between the user and the
  last `@` (the password may hold `#`, `/`, `?`, `@` or `:`, raw or percent-encoded), and every
  error here shows the URL through it;
- the password is the URL's, else `MYSQL_PWD` (the mysql client's variable, kept out of `ps`);
  either may be `secretsmanager://NAME` (the secret's string, or the `password` of its JSON);
- TLS asked for is TLS or an error: the `ssl_*` options go to every connection (pymysql's and the
  binlog reader's, through `connection_settings`); pymysql refuses a server that does not offer TLS
  (error 2026) instead of speaking to it in clear;
- utf8mb4 on every connection, so emoji survive.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import pymysql
import pymysql.cursors

SCHEMES = ("mysql", "mariadb", "mysql+pymysql")
SECRET = "secretsmanager://"
PASSWORD_ENV = "MYSQL_PWD"
TLS_OPTIONS = {"ssl_ca": str, "ssl_cert": str, "ssl_key": str, "ssl_verify_cert": bool, "ssl_verify_identity": bool}
RDS_IAM = "rds-iam"


def _split(url: str) -> tuple[str, str, str, str]:
    """(scheme, user, password, host part): the user information ends at the last `@`."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    if not at:
        return scheme, "", "", rest
    user, _, password = userinfo.partition(":")
    return scheme, user, password, hostpart


def redact(url: str) -> str:
    """The URL with its password replaced, for messages and logs."""
    scheme, user, password, hostpart = _split(url)
    if not password:
        return url
    return f"{scheme}://{user}:***@{hostpart}"


def read_secret(name: str) -> str:
    import boto3

    return boto3.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"]


def _flag(name: str, value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}: expected true or false, got {value!r}")


@dataclass(frozen=True)
class MySQLTarget:
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str | None
    tls: dict[str, Any] = field(default_factory=dict)  # pymysql's ssl_* arguments
    iam_region: str | None = None  # RDS IAM authentication: a fresh token is the password of each connection

    @classmethod
    def parse(cls, url: str, env: Mapping[str, str] | None = None) -> MySQLTarget:
        env = os.environ if env is None else env
        if url.startswith(SECRET):
            url = _secret_url(url[len(SECRET):])
        scheme, user, password, hostpart = _split(url)
        if scheme not in SCHEMES or "://" not in url:
            raise ValueError(f"not a MySQL URL (expected mysql://user:password@host:port/db): {redact(url)}")
        try:
            u = urlsplit("//" + hostpart)
            port = u.port or 3306
        except ValueError as e:
            raise ValueError(f"{redact(url)}: {e}") from None
        tls, auth, region = {}, None, None
        for name, value in parse_qsl(u.query, keep_blank_values=True):
            if name in TLS_OPTIONS:
                tls[name] = _flag(name, value) if TLS_OPTIONS[name] is bool else value
            elif name == "auth":
                auth = value
            elif name == "region":
                region = value
            else:
                raise ValueError(f"{redact(url)}: unknown option {name!r}; expected {', '.join(TLS_OPTIONS)}, "
                                 f"auth={RDS_IAM}, region")
        if auth not in (None, RDS_IAM):
            raise ValueError(f"{redact(url)}: auth={auth!r}: the only choice is auth={RDS_IAM}")
        password = unquote(password) or env.get(PASSWORD_ENV, "")
        if password.startswith(SECRET):
            password = _secret_password(password[len(SECRET):])
        if auth == RDS_IAM:
            region = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
            if not region or not tls.get("ssl_ca"):
                raise ValueError(f"{redact(url)}: auth={RDS_IAM} needs region (or AWS_REGION) and ssl_ca "
                                 "(RDS accepts IAM tokens over TLS only)")
        return cls(host=u.hostname or "127.0.0.1", port=port, user=unquote(user) or "root", password=password,
                   database=unquote(u.path.lstrip("/")) or None, tls=tls, iam_region=region if auth else None)

    def connection_settings(self) -> dict[str, Any]:
        """pymysql.connect's arguments for this server (the binlog reader takes the same)."""
        password = self.password
        if self.iam_region:
            import boto3

            password = boto3.client("rds", region_name=self.iam_region).generate_db_auth_token(
                DBHostname=self.host, Port=self.port, DBUsername=self.user, Region=self.iam_region)
        return {"host": self.host, "port": self.port, "user": self.user, "password": password, **self.tls}

    def connect(self, database: str | None = None, *, streaming: bool = False, autocommit: bool = True,
                **kw) -> pymysql.Connection:
        """A pymysql connection; `streaming=True` uses a server-side cursor (rows not buffered)."""
        try:
            conn = pymysql.connect(
                **self.connection_settings(), database=database or self.database, charset="utf8mb4",
                autocommit=autocommit, cursorclass=pymysql.cursors.SSCursor if streaming else pymysql.cursors.Cursor,
                **kw,
            )
        except pymysql.err.OperationalError as e:  # the same error, saying where (never with the password)
            code, message = (e.args[0], e.args[1]) if len(e.args) > 1 else (0, str(e))
            raise type(e)(code, f"{self.user}@{self.host}:{self.port}: {message}") from e
        return conn

    def url(self) -> str:
        """This target as a URL again (TLS and IAM options included), for another process to parse."""
        options = [*((k, str(v).lower()) for k, v in self.tls.items()),
                   *([("auth", RDS_IAM), ("region", self.iam_region)] if self.iam_region else [])]
        query = ("?" + "&".join(f"{k}={quote(v, safe='/')}" for k, v in options)) if options else ""
        return (f"mysql://{quote(self.user, safe='')}:{quote(self.password, safe='')}@{self.host}:{self.port}/"
                f"{quote(self.database or '', safe='')}{query}")

    def jdbc_url(self, database: str | None = None) -> str:
        return f"jdbc:mariadb://{self.host}:{self.port}/{database or self.database or ''}"


def _secret_url(name: str) -> str:
    """A secret holding the whole connection: a mysql:// URL, or RDS's JSON (username, password, host,
    port, dbname)."""
    text = read_secret(name)
    if not text.lstrip().startswith("{"):
        return text.strip()
    doc = json.loads(text)
    return (f"mysql://{quote(doc['username'], safe='')}:{quote(doc['password'], safe='')}@{doc['host']}:"
            f"{doc.get('port', 3306)}/{doc.get('dbname', '')}")


def _secret_password(name: str) -> str:
    """A secret holding the password: the string itself, or the `password` of its JSON."""
    text = read_secret(name)
    if text.lstrip().startswith("{"):
        return json.loads(text)["password"]
    return text


def connect(url: str, database: str | None = None, **kw) -> pymysql.Connection:
    return MySQLTarget.parse(url).connect(database, **kw)
