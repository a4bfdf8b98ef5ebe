"""Guarded PutItem, two ways: through a boto3 client, or straight over DynamoDB's JSON protocol.

The apply engine's writes are all the same request: PutItem of an item the keymap already gave
as DynamoDB JSON text, with `attribute_not_exists(pk) OR ver < :ver`. boto3 parses that text
into Python, validates and re-serialises it and parses the answer back into objects: about half
a millisecond of CPU per write, which is most of a Lambda's time at a few thousand writes per
second. `HttpPutter` sends the text as it is, signed with botocore's SigV4 signer and the same
credential chain and endpoint as a boto3 client; `BotoPutter` keeps any client object (tests
wrap one to inject throttling). Both return DynamoDB's error code, or None on success.
"""

from __future__ import annotations

import json
from typing import Protocol

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import BotoCoreError, ClientError

from mysql2dynamo.ground.dynamo_json import to_client_item

CONDITION = "attribute_not_exists(#pk) OR #ver < :ver"
CONNECTION_ERROR = "ConnectionError"


class Putter(Protocol):
    def put(self, table: str, item_json: str, partition_key: str, version_attribute: str,
            ver: int) -> tuple[str | None, str]: ...


class BotoPutter:
    def __init__(self, client) -> None:
        self.client = client

    def put(self, table, item_json, partition_key, version_attribute, ver):
        try:
            self.client.put_item(
                TableName=table, Item=to_client_item(item_json), ConditionExpression=CONDITION,
                ExpressionAttributeNames={"#pk": partition_key, "#ver": version_attribute},
                ExpressionAttributeValues={":ver": {"N": str(ver)}})
            return None, ""
        except ClientError as e:
            return e.response.get("Error", {}).get("Code", "") or "Unknown", str(e)
        except BotoCoreError as e:  # connection reset, read timeout...
            return CONNECTION_ERROR, f"{type(e).__name__}: {e}"


class HttpPutter:
    """PutItem over DynamoDB's JSON protocol with the item text as the keymap wrote it."""

    def __init__(self, endpoint: str, region: str, credentials, pool_size: int = 32, timeout: float = 10.0) -> None:
        self.url = endpoint.rstrip("/") + "/"
        self.region = region
        self.credentials = credentials
        self.pool = urllib3.PoolManager(maxsize=pool_size, timeout=urllib3.Timeout(total=timeout), retries=False)

    @classmethod
    def from_client(cls, client) -> HttpPutter:
        """The endpoint, region and credentials a boto3 DynamoDB client would use."""
        import boto3

        credentials = boto3.Session().get_credentials()
        if credentials is None:
            raise RuntimeError("no AWS credentials found (environment, config files or instance role)")
        return cls(client.meta.endpoint_url, client.meta.region_name, credentials)

    def put(self, table, item_json, partition_key, version_attribute, ver):
        body = ('{"TableName":' + json.dumps(table) + ',"Item":' + item_json + ',"ConditionExpression":'
                + json.dumps(CONDITION) + ',"ExpressionAttributeNames":{"#pk":' + json.dumps(partition_key)
                + ',"#ver":' + json.dumps(version_attribute) + '},"ExpressionAttributeValues":{":ver":{"N":"'
                + str(ver) + '"}}}').encode()
        request = AWSRequest(method="POST", url=self.url, data=body, headers={
            "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.PutItem"})
        SigV4Auth(self.credentials.get_frozen_credentials(), "dynamodb", self.region).add_auth(request)
        try:
            response = self.pool.request("POST", self.url, body=body, headers=dict(request.headers))
        except urllib3.exceptions.HTTPError as e:
            return CONNECTION_ERROR, f"{type(e).__name__}: {e}"
        if response.status == 200:
            return None, ""
        try:
            error = json.loads(response.data)
            code = error.get("__type", "").rsplit("#", 1)[-1]
            message = error.get("message") or error.get("Message") or ""
        except ValueError:
            code, message = "", response.data[:200].decode(errors="replace")
        if not code:
            code = "InternalServerError" if response.status >= 500 else f"HTTP{response.status}"
        return code, f"{code}: {message}"
