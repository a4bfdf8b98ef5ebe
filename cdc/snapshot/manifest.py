"""The snapshot manifest (`manifest.json` next to the data) and the API the bulk load / verify use.

    m = load_manifest("s3://bucket/prefix")          # or a local dir, or the manifest.json itself
    m.binlog, m.ver, m.consistent                    # where replay starts; the snapshot's `ver`
    for name in m.table_names:
        t = m.table(name)
        t.schema                                     # keymap.schema.TableSchema (type the mapping)
        t.arrow_schema()                             # the Parquet schema (keymap.types.arrow_type)
        t.file_urls()                                # exactly the files of this snapshot
        t.files_by_ver()                             # {ver: [urls]}: one entry unless resumed

Read only the files the manifest lists: a destination can hold files of an interrupted run that
no manifest references. While a run is going the state lives in `_snapshot_state.json` (same shape,
`status: "running"`); `manifest.json` exists only once every chunk is done. See docs/snapshot.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from mysql2dynamo.cdc.position import BinlogPosition
from mysql2dynamo.ground.files import is_s3, split_s3
from mysql2dynamo.keymap.schema import ForeignKey, TableSchema
from mysql2dynamo.keymap.types import Column, arrow_type

from .storage import Storage, open_storage

FORMAT = "mysql2dynamo-snapshot"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
STATE = "_snapshot_state.json"


class ManifestError(RuntimeError):
    pass


# ------------------------------------------------------------------ schema <-> JSON

def column_to_dict(col: Column) -> dict:
    return {
        "name": col.name, "data_type": col.data_type, "column_type": col.column_type, "nullable": col.nullable,
        "unsigned": col.unsigned, "precision": col.precision, "scale": col.scale, "fsp": col.fsp,
        "length": col.length, "members": list(col.members), "arrow_type": str(arrow_type(col)),
    }


def column_from_dict(d: dict) -> Column:
    return Column(name=d["name"], data_type=d["data_type"], nullable=d["nullable"], unsigned=d["unsigned"],
                  precision=d["precision"], scale=d["scale"], fsp=d["fsp"], length=d["length"],
                  members=tuple(d["members"]), column_type=d.get("column_type", ""))


def schema_to_dict(s: TableSchema) -> dict:
    return {
        "db": s.db, "table": s.name, "columns": [column_to_dict(c) for c in s.columns],
        "primary_key": list(s.primary_key),
        "foreign_keys": [{"name": f.name, "columns": list(f.columns), "parent": f.parent,
                          "on_delete": f.on_delete, "on_update": f.on_update} for f in s.foreign_keys],
        "unsupported": [list(u) for u in s.unsupported],
    }


def schema_from_dict(d: dict) -> TableSchema:
    return TableSchema(d["db"], d["table"], tuple(column_from_dict(c) for c in d["columns"]),
                       tuple(d["primary_key"]),
                       tuple(ForeignKey(f["name"], tuple(f["columns"]), f["parent"], f["on_delete"], f["on_update"])
                             for f in d.get("foreign_keys", ())),
                       tuple((name, type_) for name, type_ in d.get("unsupported", ())))


def arrow_schema(schema: TableSchema):
    import pyarrow as pa

    return pa.schema([pa.field(c.name, arrow_type(c), nullable=True) for c in schema.columns])


# ------------------------------------------------------------------ reading

@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the manifest's directory
    url: str  # absolute, as written
    rows: int
    bytes: int
    sha256: str
    chunk: int
    point: int | None  # index into Manifest.points (None for imported dumps)
    ver: int | None  # `ver` of the rows in this file (the point's ver)


@dataclass(frozen=True)
class TableEntry:
    name: str  # db.table
    schema: TableSchema
    rows: int
    files: tuple[FileEntry, ...]
    raw: dict

    def arrow_schema(self):
        return arrow_schema(self.schema)

    def file_urls(self, scheme: str | None = None) -> list[str]:
        """Absolute file addresses; `scheme="s3a"` rewrites s3:// for Hadoop's S3A."""
        return [_scheme(f.url, scheme) for f in self.files]

    def files_by_ver(self, scheme: str | None = None) -> dict[int | None, list[str]]:
        out: dict[int | None, list[str]] = {}
        for f in self.files:
            out.setdefault(f.ver, []).append(_scheme(f.url, scheme))
        return out


def _scheme(url: str, scheme: str | None) -> str:
    if scheme and is_s3(url):
        bucket, key = split_s3(url)
        return f"{scheme}://{bucket}/{key}"
    return url


@dataclass(frozen=True)
class Manifest:
    raw: dict
    root: str  # directory (local path or s3://bucket/prefix) the relative file paths start from

    @property
    def snapshot_id(self) -> str:
        return self.raw["snapshot_id"]

    @property
    def kind(self) -> str:
        return self.raw["kind"]

    @property
    def binlog(self) -> BinlogPosition | None:
        """Where replay starts: the earliest point any file was dumped at (None: an imported dump,
        replay from the beginning of the captured stream)."""
        b = self.raw.get("binlog")
        return BinlogPosition(b["file"], b["pos"], b.get("gtid")) if b else None

    @property
    def ver(self) -> int | None:
        """The snapshot's `ver` (of `binlog`); every file's rows carry their own `FileEntry.ver`,
        equal to this one when `consistent`."""
        return self.raw.get("ver")

    @property
    def consistent(self) -> bool:
        return bool(self.raw.get("consistent"))

    @property
    def points(self) -> list[dict]:
        return list(self.raw.get("points", ()))

    @property
    def table_names(self) -> list[str]:
        return list(self.raw["tables"])

    def table(self, name: str) -> TableEntry:
        try:
            t = self.raw["tables"][name]
        except KeyError:
            raise ManifestError(f"table {name} is not in snapshot {self.snapshot_id} "
                                f"(it has {', '.join(self.table_names)})") from None
        files = tuple(FileEntry(f["path"], f.get("url") or f"{self.root.rstrip('/')}/{f['path']}", f["rows"],
                                f["bytes"], f["sha256"], f["chunk"], f.get("point"), f.get("ver"))
                      for f in t["files"])
        return TableEntry(name, schema_from_dict(t), t["rows"], files, t)

    def read_arrow(self, name: str, storage: Storage | None = None, verify: bool = True):
        """All rows of one table as one Arrow table (small tables, checks and tests; Spark reads the
        files itself). With `verify`, every file's size and sha256 are checked first."""
        import io

        import pyarrow as pa
        import pyarrow.parquet as pq

        storage = storage or open_storage(self.root)
        entry = self.table(name)
        parts = []
        for f in entry.files:
            data = storage.get_bytes(f.path)
            if data is None:
                raise ManifestError(f"{name}: {storage.url(f.path)} is missing")
            if verify and (len(data) != f.bytes or hashlib.sha256(data).hexdigest() != f.sha256):
                raise ManifestError(f"{name}: {storage.url(f.path)} does not match its size/sha256 in the manifest")
            parts.append(pq.read_table(io.BytesIO(data), schema=entry.arrow_schema()))
        return pa.concat_tables(parts) if parts else entry.arrow_schema().empty_table()

    def verify_files(self, storage: Storage | None = None) -> list[str]:
        """Problems with the data files (missing, wrong size or checksum); empty when all is well."""
        storage = storage or open_storage(self.root)
        problems = []
        for name in self.table_names:
            for f in self.table(name).files:
                data = storage.get_bytes(f.path)
                if data is None:
                    problems.append(f"{name}: {f.path} is missing")
                elif len(data) != f.bytes or hashlib.sha256(data).hexdigest() != f.sha256:
                    problems.append(f"{name}: {f.path} does not match its size/sha256 in the manifest")
        return problems


def load_manifest(url: str | Path) -> Manifest:
    """Read a finished snapshot's manifest from its directory (or the manifest.json's own address)."""
    text = str(url).rstrip("/")
    if text.endswith(".json"):
        root, name = text.rsplit("/", 1)
    else:
        root, name = text, MANIFEST
    storage = open_storage(root)
    data = storage.get_bytes(name)
    if data is None:
        state = " (an interrupted snapshot is there: resume it)" if storage.exists(STATE) else ""
        raise ManifestError(f"no snapshot manifest at {storage.url(name)}{state}")
    raw = json.loads(data)
    if raw.get("format") != FORMAT or raw.get("format_version") != FORMAT_VERSION:
        raise ManifestError(f"{storage.url(name)} is not a {FORMAT} v{FORMAT_VERSION} manifest")
    if raw.get("status") != "complete":
        raise ManifestError(f"snapshot {raw.get('snapshot_id')} at {storage.root} is not complete")
    return Manifest(raw, storage.root)


def dumps(doc: dict) -> bytes:
    return json.dumps(doc, indent=1, sort_keys=False, default=str).encode()


def utc_timestamp() -> str:
    """Now, as the manifest and the state write their times: ISO-8601 UTC in milliseconds, `Z`."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
