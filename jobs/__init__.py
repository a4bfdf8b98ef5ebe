"""Spark side of mysql2dynamo: spark-submit entry points and the sinks they write through."""
