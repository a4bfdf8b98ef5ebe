"""Where a snapshot lives: a local directory or `s3://bucket/prefix` (boto3, multipart uploads).

Every path handed to a `Storage` is relative to the snapshot's root; `url(rel)` gives the full
address (what the manifest records next to the relative path). Small JSON documents are written
atomically (local: temp file + rename; S3: a PUT is atomic), so a reader never sees half a manifest.
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from pathlib import Path

from mysql2dynamo.ground.files import atomic_file, atomic_write, is_s3, split_s3

MB = 1024 * 1024


class Storage(ABC):
    """Where a snapshot's files go: a local folder or an S3 prefix."""

    root: str

    def url(self, rel: str) -> str:
        return f"{self.root.rstrip('/')}/{rel}"

    @abstractmethod
    def put_file(self, local: str | Path, rel: str) -> None: ...

    @abstractmethod
    def put_bytes(self, rel: str, data: bytes) -> None: ...

    @abstractmethod
    def get_bytes(self, rel: str) -> bytes | None: ...

    @abstractmethod
    def delete(self, rel: str) -> None: ...

    @abstractmethod
    def list(self, rel_prefix: str = "") -> list[str]: ...

    def exists(self, rel: str) -> bool:
        return self.get_bytes(rel) is not None


class LocalStorage(Storage):
    def __init__(self, root: str | Path) -> None:
        self.path = Path(root).expanduser().resolve()
        self.root = str(self.path)

    def _p(self, rel: str) -> Path:
        return self.path / rel

    def put_file(self, local: str | Path, rel: str) -> None:
        with open(local, "rb") as src, atomic_file(self._p(rel)) as dest:
            shutil.copyfileobj(src, dest)

    def put_bytes(self, rel: str, data: bytes) -> None:
        atomic_write(self._p(rel), data)

    def get_bytes(self, rel: str) -> bytes | None:
        try:
            return self._p(rel).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, rel: str) -> None:
        self._p(rel).unlink(missing_ok=True)

    def list(self, rel_prefix: str = "") -> list[str]:
        base = self._p(rel_prefix)
        if not base.exists():
            return []
        return sorted(str(p.relative_to(self.path)) for p in base.rglob("*") if p.is_file()
                      and not p.name.startswith("."))


class S3Storage(Storage):
    """`s3://bucket/prefix`; files above `multipart_mb` go up as multipart uploads."""

    def __init__(self, url: str, multipart_mb: int = 64, client=None) -> None:
        self.bucket, prefix = split_s3(url)
        self.prefix = prefix.strip("/")
        self.root = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        self.multipart_mb = multipart_mb
        self._client = client

    @property
    def client(self):
        if self._client is None:
            import boto3

            self._client = boto3.client("s3")
        return self._client

    def key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def put_file(self, local: str | Path, rel: str) -> None:
        from boto3.s3.transfer import TransferConfig

        part = max(5, self.multipart_mb) * MB  # S3's smallest part is 5 MiB
        cfg = TransferConfig(multipart_threshold=self.multipart_mb * MB, multipart_chunksize=part,
                             max_concurrency=4)
        self.client.upload_file(str(local), self.bucket, self.key(rel), Config=cfg)

    def put_bytes(self, rel: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.key(rel), Body=data)

    def get_bytes(self, rel: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key(rel))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None

    def delete(self, rel: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(rel))

    def list(self, rel_prefix: str = "") -> list[str]:
        out = []
        strip = len(self.prefix) + 1 if self.prefix else 0
        for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.key(rel_prefix)):
            out.extend(o["Key"][strip:] for o in page.get("Contents", ()))
        return sorted(out)


def open_storage(url: str | Path, multipart_mb: int = 64) -> Storage:
    """A `Storage` for `s3://bucket/prefix` (also `s3a://`, `s3n://`) or a local directory."""
    text = str(url)
    if is_s3(text):
        return S3Storage(text, multipart_mb)
    scheme, sep, path = text.partition("://")
    if not sep or scheme == "file":
        return LocalStorage(path if sep else text)
    raise ValueError(f"unsupported snapshot destination {text!r}: use a local path or s3://bucket/prefix")
