"""The bulk load's sinks, by name, each one object behind the `base.Sink` protocol:

- `emr-connector` (connector.py): the emr-dynamodb-connector's DynamoDBOutputFormat (JVM);
- `dynamodb` (dynamodb.py): a Spark Python data source, boto3 BatchWriteItem;
- `s3-import` (s3_import.py): DynamoDB JSON files on S3, then ImportTable into a new table.

The sink modules are imported when a sink is made: they need pyspark, slow to import, and the
command line only needs the names.
"""

from __future__ import annotations

from dataclasses import fields

from .base import Sink

SINKS = ("emr-connector", "dynamodb", "s3-import")


def make_sink(name: str, options: object) -> Sink:
    """The sink called `name`, each of its fields read from the load option of that name in `options`
    (a LoadOptions); ValueError when an option it needs is missing."""
    from .connector import ConnectorSink
    from .dynamodb import DynamoDBSink
    from .s3_import import S3ImportSink

    kind = {sink.name: sink for sink in (ConnectorSink, DynamoDBSink, S3ImportSink)}[name]
    return kind(**{f.name: getattr(options, f.name) for f in fields(kind)})
