"""What the replay needs at start: the compiled mapping, the snapshot's `ver`, the dead letters.

Built once per Lambda container (cold start) or once per local runner, from:

| variable | meaning |
|---|---|
| `M2D_CONFIG` | the mysql2dynamo config (YAML with `tables:`), a path in the package or `s3://...` |
| `M2D_MANIFEST` | the snapshot's manifest (path or `s3://...`): source schemas and the snapshot `ver` |
| `M2D_SNAPSHOT_VER` | overrides the manifest's `ver` (0: apply every change on the stream) |
| `M2D_DEAD_LETTER` | `s3://bucket/prefix`, an SQS queue URL, or a local folder |
| `M2D_TOMBSTONE_TTL_DAYS` | lifetime of delete tombstones (default 7) |
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from mysql2dynamo.ground.files import read_text
from mysql2dynamo.keymap.checker import check
from mysql2dynamo.keymap.compile_python import PythonMapper, compile_python
from mysql2dynamo.keymap.schema import TableSchema
from mysql2dynamo.keymap.spec import Mapping, mapping_from_config
from mysql2dynamo.replay.apply import ApplyEngine
from mysql2dynamo.replay.dead_letter import DeadLetter, open_dead_letter


@dataclass
class ReplayRuntime:
    engine: ApplyEngine
    dead_letter: DeadLetter

    @classmethod
    def build(cls, mapping: Mapping, schemas: dict[str, TableSchema], snapshot_ver: int | None,
              dead_letter: DeadLetter, dynamodb=None, tombstone_ttl_days: float = 7.0) -> ReplayRuntime:
        mapper: PythonMapper = compile_python(check(mapping, schemas))
        if dynamodb is None:
            import boto3

            from mysql2dynamo.replay.writers import HttpPutter

            dynamodb = HttpPutter.from_client(boto3.client("dynamodb"))
        engine = ApplyEngine(mapper, dynamodb, snapshot_ver=snapshot_ver, tombstone_ttl_days=tombstone_ttl_days)
        return cls(engine, dead_letter)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ReplayRuntime:
        from mysql2dynamo.cdc.snapshot.manifest import load_manifest

        env = dict(os.environ if env is None else env)
        missing = [v for v in ("M2D_CONFIG", "M2D_MANIFEST", "M2D_DEAD_LETTER") if not env.get(v)]
        if missing:
            raise RuntimeError(f"replay is not configured: set {', '.join(missing)}")
        config = env["M2D_CONFIG"]
        mapping = mapping_from_config(read_text(config), config, env)
        manifest = load_manifest(env["M2D_MANIFEST"])
        schemas = {s: manifest.table(s).schema for s in mapping.sources}
        ver = int(env["M2D_SNAPSHOT_VER"]) if env.get("M2D_SNAPSHOT_VER") else manifest.ver
        return cls.build(mapping, schemas, ver, open_dead_letter(env["M2D_DEAD_LETTER"]),
                         tombstone_ttl_days=float(env.get("M2D_TOMBSTONE_TTL_DAYS", "7")))
