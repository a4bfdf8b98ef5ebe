"""Phase 2: consistent, chunked, parallel snapshot of MySQL tables to Parquet + a manifest.

Entry points: `run_snapshot` (dump a live server), `import_dump` (existing mysqldump --tab /
INTO OUTFILE files), `load_manifest` (what the bulk load and verify read). See docs/snapshot.md.
"""

from .manifest import FileEntry, Manifest, ManifestError, TableEntry, load_manifest

__all__ = ["FileEntry", "Manifest", "ManifestError", "TableEntry", "load_manifest"]
