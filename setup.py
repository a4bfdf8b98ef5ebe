"""Packaging of mysql2dynamo (the user asked for setup.py; tool settings live in pyproject.toml)."""

from setuptools import find_packages, setup

setup(
    name="mysql2dynamo",
    version="0.1.0",
    description="Move live MySQL tables into DynamoDB with a new key design (Spark bulk load + CDC replay)",
    python_requires=">=3.10",
    packages=find_packages(include=["mysql2dynamo*", "keymap*", "cdc*", "jobs*", "replay*", "emr*"]),
    package_data={"mysql2dynamo.local": ["*.js"], "mysql2dynamo.sample": ["*.yaml"], "keymap": ["examples/*.yaml"]},
    install_requires=[
        # the Spark line of the newest EMR release (emr-spark-8.0.0: Spark 4.0.2)
        "pyspark==4.0.2",
        # pyspark 4.0 warns on pandas 3
        "pandas>=2.2,<3",
        "pyarrow>=15",
        "boto3>=1.34",
        "pymysql>=1.1",
        "mysql-replication>=1.0.9,<2",
        "click>=8.1",
        "pyyaml>=6",
        # the local stack's S3/EMR/Lambda stand-in (`mysql2dynamo local up`)
        "moto[server]>=5.0",
    ],
    extras_require={
        "dev": [
            "pytest>=8",
            "chispa>=0.10",
            "hypothesis>=6.100",
            "ruff>=0.6",
            # notebooks/ are executed by the tests
            "nbclient>=0.10",
            "nbformat>=5.10",
            "ipykernel>=6.29",
            "matplotlib>=3.8",
        ],
    },
    entry_points={"console_scripts": ["mysql2dynamo=mysql2dynamo.cli:main"]},
)
