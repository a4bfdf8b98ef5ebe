"""mysql2dynamo: move live MySQL tables into DynamoDB with a new key design.

Phases (see docs/architecture.md): capture (binlog -> Kinesis), snapshot (MySQL -> S3 Parquet),
load (Spark + keymap -> DynamoDB), replay (Kinesis -> DynamoDB through the same keymap),
verify and cutover. Each phase folder of the repository is installed as a subpackage:
`mysql2dynamo.keymap`, `mysql2dynamo.cdc`, `mysql2dynamo.jobs`, `mysql2dynamo.replay`, `mysql2dynamo.emr`.
"""

__version__ = "0.2.0"

# repository folders installed as `mysql2dynamo.<folder>` (setup.py and the wheel/zip builders read this)
PHASE_FOLDERS = ("keymap", "cdc", "jobs", "replay", "emr")
