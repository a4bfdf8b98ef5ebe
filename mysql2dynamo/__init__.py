"""mysql2dynamo: move live MySQL tables into DynamoDB with a new key design.

Phases (see docs/architecture.md): capture (binlog -> Kinesis), snapshot (MySQL -> S3 Parquet),
load (Spark + keymap -> DynamoDB), replay (Kinesis -> DynamoDB through the same keymap),
verify and cutover.
"""

__version__ = "0.1.0"
