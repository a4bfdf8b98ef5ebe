"""Packaging of mysql2dynamo (the user asked for setup.py; tool settings live in pyproject.toml).

The repository keeps one top-level folder per phase (keymap/, cdc/, jobs/, replay/, emr/); the
distribution installs each of them under the `mysql2dynamo` namespace (`import mysql2dynamo.keymap`),
never as a generic top-level module. The version is written once, in mysql2dynamo/__init__.py.
"""

import ast
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent


def _init_constant(name: str):
    """A literal assigned in mysql2dynamo/__init__.py (read as text: setup must not import the package)."""
    tree = ast.parse((ROOT / "mysql2dynamo" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return ast.literal_eval(node.value)
    raise LookupError(f"mysql2dynamo/__init__.py does not define {name}")


PHASES = _init_constant("PHASE_FOLDERS")
packages = find_packages(include=["mysql2dynamo", "mysql2dynamo.*"])
package_dir = {}
for folder in PHASES:
    for sub in find_packages(where=folder):
        packages.append(f"mysql2dynamo.{folder}.{sub}")
        package_dir[f"mysql2dynamo.{folder}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"
    packages.append(f"mysql2dynamo.{folder}")
    package_dir[f"mysql2dynamo.{folder}"] = folder

SPARK = [
    # the Spark line of the newest EMR release (emr-spark-8.0.0: Spark 4.0.2); EMR brings its own
    "pyspark>=4.0.2,<4.1",
    # pyspark 4.0 warns on pandas 3
    "pandas>=2.2,<3",
]
LOCAL = [
    # the local stack's S3/EMR/Lambda/CloudFormation stand-in (`mysql2dynamo local up`)
    "moto[server]>=5.0",
]
REPORT = [
    # `mysql2dynamo report` / the demo's HTML page: charts with plotly.js inlined (no network to view)
    "plotly>=5.20",
]
SNAPSHOT = [
    # the snapshot workers' C driver, ~3x their rows/s (cdc/snapshot/raw_connection.py); it builds from
    # source against Debian's libmariadb-dev and pkg-config, so an extra: without it (EMR nodes install
    # manylinux wheels only) the workers read through pymysql
    "mysqlclient>=2.2",
]

setup(
    name="mysql2dynamo",
    version=_init_constant("__version__"),
    description="Move live MySQL tables into DynamoDB with a new key design (Spark bulk load + CDC replay)",
    python_requires=">=3.10",
    packages=packages,
    package_dir=package_dir,
    package_data={
        "mysql2dynamo": ["*.json"],
        "mysql2dynamo.local": ["*.js"],
        "mysql2dynamo.sample": ["*.yaml"],
        "mysql2dynamo.keymap": ["examples/*.yaml"],
        "mysql2dynamo.emr": ["*.yaml", "*.sh", "pom.xml", "converter/src/main/java/io/mysql2dynamo/emr/*.java",
                             "converter/src/main/resources/**/*"],
        "mysql2dynamo.replay": ["*.yaml", "requirements.txt"],
    },
    install_requires=[
        "pyarrow>=15",
        "boto3>=1.34",
        "pymysql>=1.1",
        # capture's envelope serializer (cdc/publisher.py): a fifth of the standard library's time per change
        "orjson>=3.9",
        "mysql-replication>=1.0.9,<2",
        "click>=8.1",
        "pyyaml>=6",
        # progress bars on a terminal
        "rich>=13",
    ],
    extras_require={
        "spark": SPARK,
        "local": LOCAL + REPORT,
        "report": REPORT,
        "snapshot": SNAPSHOT,
        "dev": SPARK + LOCAL + REPORT + SNAPSHOT + [
            "pytest>=8",
            "chispa>=0.10",
            "hypothesis>=6.100",
            # tests/cdc/test_aggregate.py reads our aggregated records with AWS's own deaggregator
            "aws-kinesis-agg>=1.2",
            "ruff>=0.6",
            "build>=1.2",
            "jsonschema>=4.21",
            # the deploy stack's template is linted by the tests
            "cfn-lint>=1.20",
            "cfn-lint-serverless>=0.3",
            # notebooks/ are executed by the tests
            "nbclient>=0.10",
            "nbformat>=5.10",
            "ipykernel>=6.29",
            "matplotlib>=3.8",
            # tests/test_report.py drives Debian's chromium (the Makefile installs it; no browser download)
            "playwright>=1.40",
        ],
    },
    entry_points={"console_scripts": ["mysql2dynamo=mysql2dynamo.cli:main"]},
)
