"""Small files on S3 or on disk: the one S3-URL parser, text read/write, the one atomic write.

`split_s3` is the only place that takes an `s3://` (or Hadoop's `s3a://`, `s3n://`) URL apart.
`atomic_file` is the only temp-file-and-rename writer: a reader sees the old file or the new one,
never half of one. `zip_bytes` writes archives that depend on their contents only (the Lambda zip,
the EMR wheel). boto3 is imported only when an S3 URL is used.
"""

from __future__ import annotations

import io
import os
import threading
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

S3_SCHEMES = ("s3", "s3a", "s3n")


def is_s3(url: str | Path) -> bool:
    """True for `s3://`, `s3a://` and `s3n://` URLs."""
    scheme, sep, _ = str(url).partition("://")
    return bool(sep) and scheme in S3_SCHEMES


def split_s3(url: str) -> tuple[str, str]:
    """`s3://bucket/some/key` -> ("bucket", "some/key"); the key may be "" (`s3://bucket`)."""
    if not is_s3(url):
        raise ValueError(f"expected an s3://bucket/key URL, got {url!r}")
    bucket, _, key = url.partition("://")[2].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {url!r}")
    return bucket, key.lstrip("/")


def _s3(client):
    if client is not None:
        return client
    import boto3

    return boto3.client("s3")


def read_text(url: str | Path, s3=None) -> str:
    """A small text file from a local path or an S3 URL."""
    if is_s3(url):
        bucket, key = split_s3(str(url))
        return _s3(s3).get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return Path(url).read_text()


def write_text(url: str | Path, text: str, s3=None) -> None:
    """A small text file to an S3 URL (one PUT, atomic) or a local path (`atomic_write`)."""
    if is_s3(url):
        bucket, key = split_s3(str(url))
        _s3(s3).put_object(Bucket=bucket, Key=key, Body=text.encode())
        return
    atomic_write(url, text)


@contextmanager
def atomic_file(path: str | Path, durable: bool = False) -> Iterator[IO[bytes]]:
    """A binary file opened at a hidden temporary name beside `path` (its folder is created), renamed
    onto `path` when the block ends without error and removed otherwise. `durable` fsyncs the data
    before the rename (checkpoints)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # unique per process and thread; open() (unlike mkstemp) gives the umask's usual permissions
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            yield f
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | Path, data: str | bytes, durable: bool = False) -> None:
    """Replace `path` with `data` (text is written as UTF-8) in one rename."""
    with atomic_file(path, durable) as f:
        f.write(data.encode() if isinstance(data, str) else data)


def zip_bytes(entries: Iterable[tuple[str, bytes]]) -> bytes:
    """A deflated zip of (name, data) in the given order with a fixed timestamp and permissions, so the
    same entries give the same bytes (and sha256) on any machine, at any time, under any umask."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, wherever it is built
            z.writestr(info, data, compresslevel=9)
    return buf.getvalue()
