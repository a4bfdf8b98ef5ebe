"""Change data capture: the binlog -> Kinesis stream, and the consistent snapshot to S3."""
