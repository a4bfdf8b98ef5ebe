"""Addresses and credentials of the local stack, and the environment that points clients at it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mysql2dynamo.ground.paths import data_home

# The local stack's dummy credentials. They only open throw-away servers on 127.0.0.1.
LOCAL_AWS_KEY = "local"
LOCAL_AWS_SECRET = "local-secret"
LOCAL_REGION = "us-east-1"
APP_USER, APP_PASSWORD = "m2d", "m2d"  # administrator of the local server
# the sample application's account: no SUPER / READ ONLY ADMIN, so a read_only fence stops it
SHOP_USER, SHOP_PASSWORD = "shop_app", "shop_app"
CDC_USER, CDC_PASSWORD = "cdc", "cdc"

# Every AWS service the tool (or its tests) calls besides DynamoDB and Kinesis, served by moto on one
# port: boto3 reads AWS_ENDPOINT_URL_<key> (the service id, upper case, `_` for spaces).
MOTO_SERVICES = {
    "S3": "S3", "EMR": "EMR", "EMR_SERVERLESS": "EMR Serverless", "LAMBDA": "Lambda", "IAM": "IAM", "STS": "STS",
    "SQS": "SQS", "SNS": "SNS", "CLOUDFORMATION": "CloudFormation", "CLOUDWATCH": "CloudWatch",
    "CLOUDWATCH_LOGS": "CloudWatch Logs", "SECRETS_MANAGER": "Secrets Manager",
}


def _port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass(frozen=True)
class StackConfig:
    """One local stack: its data folder and its ports (each overridable by `M2D_*_PORT`)."""

    home: Path = field(default_factory=data_home)
    host: str = "127.0.0.1"
    mysql_port: int = field(default_factory=lambda: _port("M2D_MYSQL_PORT", 13306))
    dynamodb_port: int = field(default_factory=lambda: _port("M2D_DYNAMODB_PORT", 14567))
    kinesis_port: int = field(default_factory=lambda: _port("M2D_KINESIS_PORT", 14568))
    moto_port: int = field(default_factory=lambda: _port("M2D_MOTO_PORT", 15000))

    def url(self, port: int) -> str:
        return f"http://{self.host}:{port}"

    @property
    def mysql_url(self) -> str:
        """Application/admin account (all privileges): what tests, samples and the loader use."""
        return f"mysql://{APP_USER}:{APP_PASSWORD}@{self.host}:{self.mysql_port}/"

    @property
    def app_mysql_url(self) -> str:
        """The sample application's account (what `sample traffic` writes with)."""
        return f"mysql://{SHOP_USER}:{SHOP_PASSWORD}@{self.host}:{self.mysql_port}/"

    @property
    def cdc_mysql_url(self) -> str:
        """The least-privilege account for the binlog reader and the snapshot."""
        return f"mysql://{CDC_USER}:{CDC_PASSWORD}@{self.host}:{self.mysql_port}/"

    def env(self) -> dict[str, str]:
        """Variables that make boto3, pymysql-based code and Spark reach this stack unchanged."""
        env = {
            "M2D_MYSQL_URL": self.mysql_url,
            "M2D_CDC_MYSQL_URL": self.cdc_mysql_url,
            "M2D_APP_MYSQL_URL": self.app_mysql_url,
            "AWS_ACCESS_KEY_ID": LOCAL_AWS_KEY,
            "AWS_SECRET_ACCESS_KEY": LOCAL_AWS_SECRET,
            "AWS_DEFAULT_REGION": LOCAL_REGION,
            "AWS_REGION": LOCAL_REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL_DYNAMODB": self.url(self.dynamodb_port),
            "AWS_ENDPOINT_URL_KINESIS": self.url(self.kinesis_port),
        }
        for service in MOTO_SERVICES:
            env[f"AWS_ENDPOINT_URL_{service}"] = self.url(self.moto_port)
        return env

    def client(self, service: str):
        """A boto3 client of this stack, whatever the caller's environment says."""
        import boto3
        import botocore.session

        # the variable boto3 itself would read: the service id, `_` for spaces (Secrets Manager, EMR Serverless)
        service_id = botocore.session.get_session().get_service_model(service).service_id
        return boto3.client(
            service, endpoint_url=self.env()[f"AWS_ENDPOINT_URL_{service_id.replace(' ', '_').upper()}"],
            region_name=LOCAL_REGION, aws_access_key_id=LOCAL_AWS_KEY,
            aws_secret_access_key=LOCAL_AWS_SECRET,
        )
