#!/bin/bash
# EMR bootstrap action: install mysql2dynamo (the wheel `emr submit` uploaded) on every node, so
# the Spark driver and the Python workers can import mysql2dynamo.jobs, .keymap, .cdc.
#   bootstrap.sh s3://bucket/mysql2dynamo/dist/mysql2dynamo-<version>-py3-none-any.whl
set -euo pipefail
WHEEL_URL="${1:?usage: bootstrap.sh s3://.../mysql2dynamo-*.whl}"
WORK="$(mktemp -d)"
aws s3 cp "$WHEEL_URL" "$WORK/"
PY="$(command -v python3)"
# the wheel's base dependencies only: pyspark is the [spark] extra, and EMR's Spark brings its own
sudo "$PY" -m pip install --quiet "$WORK"/*.whl
echo "mysql2dynamo installed: $("$PY" -c 'import mysql2dynamo.keymap, mysql2dynamo.jobs, mysql2dynamo.cdc; print("ok")')"
