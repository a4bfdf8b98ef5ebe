#!/bin/bash
# EMR bootstrap action: install mysql2dynamo (the wheel `emr submit` uploaded) on every node, so
# the Spark driver and the Python workers can import jobs/, keymap/, cdc/.
#   bootstrap.sh s3://bucket/mysql2dynamo/mysql2dynamo-<version>-py3-none-any.whl
set -euo pipefail
WHEEL_URL="${1:?usage: bootstrap.sh s3://.../mysql2dynamo-*.whl}"
WORK="$(mktemp -d)"
aws s3 cp "$WHEEL_URL" "$WORK/"
PY="$(command -v python3)"
# pyspark comes with EMR's Spark; install only what the jobs import beyond it
sudo "$PY" -m pip install --quiet --no-deps "$WORK"/*.whl
sudo "$PY" -m pip install --quiet "pyyaml>=6" "pyarrow>=15" "boto3>=1.34" "pymysql>=1.1"
echo "mysql2dynamo installed: $("$PY" -c 'import keymap, jobs, cdc; print("ok")')"
