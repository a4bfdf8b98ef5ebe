"""A snapshot worker's connection, values left as the server sent them: through the C driver
(mysqlclient's `MySQLdb`) when it is installed, else through pymysql.

Invariant: for one SELECT both drivers give the same rows (the server's text of numbers and dates:
str from pymysql, bytes from mysqlclient; binary and BIT columns as bytes, text columns as str
decoded from utf8mb4, NULL as None), so
`arrow_rows.BatchConverter.convert_raw` builds the same Arrow table from either; the snapshot's
exactness tests run through both. TLS asked for is TLS or an error on both: the URL's `ssl_*`
options map to mysqlclient's `ssl` and `ssl_mode`, never weaker than pymysql's checks. RDS IAM
authentication (a fresh token, sent through the clear-text plugin) stays on pymysql, where it is tested.

Why two: the C driver parses a batch of rows in C (`fetchmany` on a use_result cursor), about ten
times pymysql's per-value Python, which was 85% of a worker's time (docs/snapshot.md). It builds from
source (Debian libmariadb-dev, pkg-config), so it is an extra (`mysql2dynamo[snapshot]`): a host
without it, such as an EMR node installing from manylinux wheels, reads through pymysql.
"""

from __future__ import annotations

from typing import Any

from mysql2dynamo.ground.mysql import MySQLTarget

from .arrow_rows import RAW_CONV

DRIVERS = ("auto", "mysqlclient", "pymysql")


def _mysqldb() -> Any:
    try:
        import MySQLdb
        import MySQLdb.converters
        import MySQLdb.cursors
    except ImportError:
        return None
    return MySQLdb


def choose_driver(target: MySQLTarget, driver: str = "auto") -> str:
    """The driver the workers read `target` with: `driver`, or for `auto` mysqlclient when it can."""
    if driver not in DRIVERS:
        raise ValueError(f"unknown snapshot driver {driver!r} (one of {', '.join(DRIVERS)})")
    if driver == "pymysql":
        return driver
    if _mysqldb() is None:
        why = "mysqlclient is not installed (pip install 'mysql2dynamo[snapshot]'; it builds against libmariadb-dev)"
    elif target.iam_region:
        why = "RDS IAM authentication is read through pymysql"
    else:
        return "mysqlclient"
    if driver == "mysqlclient":
        raise ValueError(f"snapshot driver mysqlclient: {why}")
    return "pymysql"


def connect_raw(target: MySQLTarget, driver: str) -> Any:
    """A DB-API connection to `target` (autocommit, utf8mb4, `cursor()` streams: rows not buffered)
    that decodes no value but text; `driver` as `choose_driver` returned it."""
    if driver == "pymysql":
        return target.connect(streaming=True, conv=RAW_CONV)
    mysqldb = _mysqldb()
    settings = target.connection_settings()
    tls = {k: settings.pop(k) for k in list(settings) if k.startswith("ssl_")}
    # the encoders only (keys are Python types): query parameters escaped, results not decoded
    encoders = {k: v for k, v in mysqldb.converters.conversions.items() if not isinstance(k, int)}
    try:
        return mysqldb.connect(**settings, **({"database": target.database} if target.database else {}),
                               charset="utf8mb4", autocommit=True, conv=encoders,
                               cursorclass=mysqldb.cursors.SSCursor, **tls_arguments(tls))
    except mysqldb.OperationalError as e:  # the same error, saying where (never with the password)
        code, message = (e.args[0], e.args[1]) if len(e.args) > 1 else (0, str(e))
        raise mysqldb.OperationalError(code, f"{target.user}@{target.host}:{target.port}: {message}") from e


def tls_arguments(tls: dict[str, Any]) -> dict[str, Any]:
    """pymysql's `ssl_*` options as mysqlclient's `ssl` and `ssl_mode`, checking at least as much:
    a CA given (or `ssl_verify_cert`) verifies the certificate, `ssl_verify_identity` the host name too,
    any option alone still requires TLS."""
    if not tls:
        return {}
    files = {k[len("ssl_"):]: tls[k] for k in ("ssl_ca", "ssl_cert", "ssl_key") if tls.get(k)}
    verify_cert = tls.get("ssl_verify_cert")
    if verify_cert is None:
        verify_cert = "ca" in files
    mode = "VERIFY_IDENTITY" if tls.get("ssl_verify_identity") else "VERIFY_CA" if verify_cert else "REQUIRED"
    return {"ssl_mode": mode, **({"ssl": files} if files else {})}
