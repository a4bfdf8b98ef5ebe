"""Creating, updating and deleting the migration's stack with boto3 (CloudFormation waits for every
resource: the role exists before the function that assumes it, the code before the event source).

Invariant: the replay package is uploaded under a content address (`replay-SHA256.zip`), so an
update with new code changes the template and a redeploy of the same tree changes nothing. Deleting
the stack keeps the target tables (their DeletionPolicy is Retain) unless they are deleted by name
afterwards, one by one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from botocore.exceptions import ClientError, WaiterError

from mysql2dynamo.ground.files import split_s3

TEMPLATE_BODY_LIMIT = 51_200  # bytes CloudFormation takes inline; larger templates go through S3
NO_UPDATES = "No updates are to be performed"


class StackError(RuntimeError):
    """The stack did not reach a complete state; the message holds the failed resources' reasons."""


@dataclass
class Artifacts:
    bucket: str
    prefix: str

    @classmethod
    def of(cls, url: str) -> Artifacts:
        bucket, prefix = split_s3(url)
        return cls(bucket, prefix.strip("/"))

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name


def package_key(package: bytes) -> str:
    return f"replay-{hashlib.sha256(package).hexdigest()[:32]}.zip"


def ensure_bucket(s3, bucket: str) -> bool:
    """Create the artifacts bucket when it does not exist (new buckets block public access and encrypt
    by default); True when created."""
    try:
        s3.head_bucket(Bucket=bucket)
        return False
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
            raise
    region = s3.meta.region_name
    where = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **where)
    return True


def upload(s3, artifacts: Artifacts, name: str, body: bytes) -> str:
    key = artifacts.key(name)
    s3.put_object(Bucket=artifacts.bucket, Key=key, Body=body)
    return key


def _failures(cf, stack: str) -> str:
    events = cf.describe_stack_events(StackName=stack)["StackEvents"]
    failed = [f"{e['LogicalResourceId']} ({e['ResourceType']}): {e.get('ResourceStatusReason', '')}"
              for e in events if e["ResourceStatus"].endswith("_FAILED")]
    return "; ".join(failed[:10]) or "no failed resource reported"


def _wait(cf, waiter: str, stack: str) -> None:
    try:
        cf.get_waiter(waiter).wait(StackName=stack, WaiterConfig={"Delay": 2, "MaxAttempts": 900})
    except WaiterError as e:
        raise StackError(f"stack {stack}: {e.last_response.get('Stacks', [{}])[0].get('StackStatus', e)}: "
                         f"{_failures(cf, stack)}") from None


def _status(cf, stack: str) -> str | None:
    try:
        return cf.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    except ClientError as e:
        if "does not exist" in str(e):
            return None
        raise


def deploy_stack(cf, s3, artifacts: Artifacts, stack: str, template: dict) -> dict:
    """Create the stack, or update it; returns the action and the stack's outputs."""
    body = json.dumps(template, separators=(",", ":"), sort_keys=True)
    source = ({"TemplateBody": body} if len(body.encode()) <= TEMPLATE_BODY_LIMIT else
              {"TemplateURL": _template_url(s3, artifacts, stack, body)})
    args = {"StackName": stack, "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"], **source}
    status = _status(cf, stack)
    if status == "ROLLBACK_COMPLETE":  # a first create that failed: it can only be deleted
        cf.delete_stack(StackName=stack)
        _wait(cf, "stack_delete_complete", stack)
        status = None
    if status is None:
        cf.create_stack(**args, OnFailure="ROLLBACK")
        _wait(cf, "stack_create_complete", stack)
        action = "created"
    else:
        try:
            cf.update_stack(**args)
            _wait(cf, "stack_update_complete", stack)
            action = "updated"
        except ClientError as e:
            if NO_UPDATES not in str(e):
                raise
            action = "unchanged"
    outputs = cf.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    return {"stack": stack, "action": action, "outputs": {o["OutputKey"]: o["OutputValue"] for o in outputs}}


def _template_url(s3, artifacts: Artifacts, stack: str, body: str) -> str:
    key = upload(s3, artifacts, f"{stack}.template.json", body.encode())
    return f"https://{artifacts.bucket}.s3.amazonaws.com/{key}"


def delete_stack(cf, dynamodb, stack: str, tables: list[str]) -> dict:
    """Delete the stack, then the named target tables (the stack keeps them)."""
    if _status(cf, stack) is not None:
        cf.delete_stack(StackName=stack)
        _wait(cf, "stack_delete_complete", stack)
    deleted = []
    for table in tables:
        try:
            dynamodb.delete_table(TableName=table)
            deleted.append(table)
        except dynamodb.exceptions.ResourceNotFoundException:
            pass
    return {"stack": stack, "action": "deleted", "tables_deleted": deleted}
