"""Reading a snapshot table into Spark with exactly the manifest's files and types.

    df = read_table(spark, load_manifest("s3://bucket/snap"), "shop.customers")
    rules.apply(df, version=F.col(VER_COLUMN), keep=[...])

Every row gets `VER_COLUMN` (`_snapshot_ver`, a DecimalType(38,0)): the `ver` of the point its file
was dumped at (one value for a consistent snapshot; a resumed snapshot's later chunks carry the
later point's ver, which is what makes replay from `manifest.binlog` correct for them). Imported
dumps (no binlog position) get 0.
"""

from __future__ import annotations

from mysql2dynamo.keymap.types import spark_type

from .manifest import Manifest

VER_COLUMN = "_snapshot_ver"


def spark_schema(manifest: Manifest, name: str):
    from pyspark.sql import types as T

    return T.StructType([T.StructField(c.name, spark_type(c), True) for c in manifest.table(name).schema.columns])


def read_table(spark, manifest: Manifest, name: str, scheme: str | None = "s3a", with_ver: bool = True):
    """A DataFrame of one snapshot table: the manifest's files only, with the keymap Spark types."""
    from functools import reduce

    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    schema = spark_schema(manifest, name)
    groups = manifest.table(name).files_by_ver(scheme)
    frames = []
    for ver, urls in groups.items():
        df = spark.read.schema(schema).parquet(*urls)
        if with_ver:
            df = df.withColumn(VER_COLUMN, F.lit(ver or 0).cast(T.DecimalType(38, 0)))
        frames.append(df)
    if not frames:
        df = spark.createDataFrame([], schema)
        return df.withColumn(VER_COLUMN, F.lit(0).cast(T.DecimalType(38, 0))) if with_ver else df
    return reduce(lambda a, b: a.unionByName(b), frames)
