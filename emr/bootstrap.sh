#!/bin/bash
# EMR bootstrap action: install mysql2dynamo (the wheel `emr submit` uploaded) into the nodes' Python
# (the one Spark runs: PYSPARK_PYTHON), so the Spark driver and the Python workers can import
# mysql2dynamo.jobs, .keymap, .cdc. Every dependency comes from the wheelhouse `emr submit` uploaded
# (wheels for this Python and platform, at the versions of the pins file), never from an index: no
# node reaches PyPI, and none installs a newer, untested release. pip itself runs from its wheel in the
# wheelhouse, so the node's Python needs no pip of its own.
#   bootstrap.sh s3://b/m2d/dist/mysql2dynamo-<version>-py3-none-any.whl s3://b/m2d/dist/pins.txt \
#                s3://b/m2d/dist/wheels/ /usr/bin/python3.11
set -euo pipefail
USAGE="usage: bootstrap.sh s3://.../mysql2dynamo-*.whl s3://.../pins.txt s3://.../wheels/ PYTHON"
WHEEL_URL="${1:?$USAGE}"
PINS_URL="${2:?$USAGE}"
WHEELS_URL="${3:?$USAGE}"
PY="${4:?$USAGE}"
WORK="$(mktemp -d)"
aws s3 cp --quiet --recursive "${WHEELS_URL%/}/" "$WORK/wheels/"
aws s3 cp --quiet "$WHEEL_URL" "$WORK/wheels/"
aws s3 cp --quiet "$PINS_URL" "$WORK/pins.txt"
PIP=("$WORK"/wheels/pip-*.whl)
SUDO=sudo
[ "$(id -u)" = 0 ] && SUDO=
# the wheel's base dependencies only: pyspark is the [spark] extra, and EMR's Spark brings its own
$SUDO "$PY" "${PIP[0]}/pip" install --quiet --no-index --find-links "$WORK/wheels" --constraint "$WORK/pins.txt" \
  "$WORK/wheels/$(basename "$WHEEL_URL")"
# a failed import fails the action (and so the cluster's start)
cd "$WORK"
CHECK="$("$PY" -c 'import mysql2dynamo.keymap, mysql2dynamo.jobs, mysql2dynamo.cdc; print("ok")')"
echo "mysql2dynamo installed: $CHECK"
