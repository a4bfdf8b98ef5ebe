#!/bin/bash
# EMR bootstrap action: install mysql2dynamo (the wheel `emr submit` uploaded) on every node, so
# the Spark driver and the Python workers can import mysql2dynamo.jobs, .keymap, .cdc; every
# dependency at the version pinned in the pins file `emr submit` uploaded next to it (the versions
# installed where it ran), so no node installs a newer, untested release.
#   bootstrap.sh s3://bucket/m2d/dist/mysql2dynamo-<version>-py3-none-any.whl s3://bucket/m2d/dist/pins.txt
set -euo pipefail
WHEEL_URL="${1:?usage: bootstrap.sh s3://.../mysql2dynamo-*.whl s3://.../pins.txt}"
PINS_URL="${2:?usage: bootstrap.sh s3://.../mysql2dynamo-*.whl s3://.../pins.txt}"
WORK="$(mktemp -d)"
aws s3 cp "$WHEEL_URL" "$WORK/"
aws s3 cp "$PINS_URL" "$WORK/pins.txt"
PY="$(command -v python3)"
# the wheel's base dependencies only: pyspark is the [spark] extra, and EMR's Spark brings its own
sudo "$PY" -m pip install --quiet --constraint "$WORK/pins.txt" "$WORK"/*.whl
echo "mysql2dynamo installed: $("$PY" -c 'import mysql2dynamo.keymap, mysql2dynamo.jobs, mysql2dynamo.cdc; print("ok")')"
