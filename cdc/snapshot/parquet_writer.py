"""One chunk's Arrow batches -> Parquet files of at most ~`file_mb`, each checksummed and uploaded.

Row groups are written to a local temporary file; the file is closed once it reaches `file_mb` on
disk, its sha256 taken, and it is uploaded to the snapshot's storage (S3: multipart above
`multipart_mb`). An empty chunk still gets one (empty) file carrying the schema.

Dictionary encoding only where it pays: a column is dictionary-encoded when at most half of the first
`DICTIONARY_SAMPLE` rows of its file are distinct (a status, a currency); keys, timestamps and free
text are written plain, which halves the writer's time on the bench table and makes smaller files
(Parquet would try a dictionary, fill it, and fall back). The encoding never changes a value.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import TYPE_CHECKING

from .arrow_rows import BatchConverter
from .manifest import FileEntry
from .options import SnapshotOptions
from .storage import MB, Storage

DICTIONARY_SAMPLE = 10_000

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq


def data_path(table: str, point: int | None, chunk: int, part: int) -> str:
    db, name = table.split(".", 1)
    tag = f"p{point}" if point is not None else "import"
    return f"{db}/{name}/{tag}-c{chunk:05d}-{part:03d}.parquet"


class ChunkWriter:
    """Writes one chunk's rows as Parquet files of at most ~`file_mb`, uploading each when closed."""

    def __init__(self, storage: Storage, table: str, chunk: int, point: int | None, ver: int | None,
                 converter: BatchConverter, opts: SnapshotOptions, tmpdir: str) -> None:
        self.storage, self.table, self.chunk, self.point, self.ver = storage, table, chunk, point, ver
        self.converter, self.opts, self.tmpdir = converter, opts, tmpdir
        self.files: list[FileEntry] = []
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.writer: pq.ParquetWriter | None = None
        self.file_rows = 0
        self.tmp_path = ""

    def add(self, table: pa.Table) -> None:
        self.pending.append(table)
        self.pending_rows += table.num_rows
        if self.pending_rows >= self.opts.row_group_rows:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.writer is None:
            self.tmp_path = os.path.join(self.tmpdir, f"part-{uuid.uuid4().hex}.parquet")
            self.writer = pq.ParquetWriter(self.tmp_path, self.converter.arrow_schema,
                                           compression=self.opts.compression,
                                           use_dictionary=dictionary_columns(self.pending))
            self.file_rows = 0
        if self.pending:
            self.writer.write_table(pa.concat_tables(self.pending), row_group_size=max(self.pending_rows, 1))
            self.file_rows += self.pending_rows
        self.pending, self.pending_rows = [], 0
        if os.path.getsize(self.tmp_path) >= self.opts.file_mb * MB:
            self._close_file()

    def _close_file(self) -> None:
        self.writer.close()
        self.writer = None
        rel = data_path(self.table, self.point, self.chunk, len(self.files))
        digest = hashlib.sha256()
        with open(self.tmp_path, "rb") as f:
            for block in iter(lambda: f.read(4 * MB), b""):
                digest.update(block)
        size = os.path.getsize(self.tmp_path)
        self.storage.put_file(self.tmp_path, rel)
        os.unlink(self.tmp_path)
        self.files.append(FileEntry(rel, self.storage.url(rel), self.file_rows, size, digest.hexdigest(),
                                     self.chunk, self.point, self.ver))

    def finish(self) -> list[FileEntry]:
        if self.pending or self.writer is not None or not self.files:
            self._flush()  # an empty chunk still gets one (empty) file carrying the schema
            if self.writer is not None:
                self._close_file()
        return self.files


def dictionary_columns(tables: list[pa.Table]) -> list[str]:
    """The columns worth a dictionary: at most half of the first `DICTIONARY_SAMPLE` rows distinct."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not tables:
        return []
    sample = pa.concat_tables(tables).slice(0, DICTIONARY_SAMPLE)
    chosen = []
    for field in sample.schema:
        if pa.types.is_list(field.type):  # a SET's list<string>: Arrow counts no distinct lists; plain
            continue
        distinct = pc.count_distinct(sample.column(field.name), mode="all").as_py()
        if sample.num_rows and distinct * 2 <= sample.num_rows:
            chosen.append(field.name)
    return chosen
