"""The ground every layer may stand on: MySQL URLs and connections, where state and jars live,
DynamoDB JSON <-> client items, small text files on S3 or disk. Imports nothing of the project."""
