"""Replay: apply the captured changes to DynamoDB through the compiled key mapping, idempotently."""
