"""Faults injected where DynamoDB and S3 answer: boto3 client wrappers (in-process) and an HTTP proxy in
front of the local DynamoDB (for the JVM connector). They answer with the services' real error codes
and partial batches (UnprocessedItems); none drops what it refuses — the caller must retry.
"""

from __future__ import annotations

import json
import threading
import urllib.request
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.exceptions import ClientError

CODES = ("ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded")


class ThrottlingClient:
    """Wraps a real DynamoDB client: call i of batch_write_item fails with CODES[...] when
    i % every == 0 for the first `storm` calls, and every `partial`-th successful call writes only
    half of the batch and returns the rest as UnprocessedItems."""

    def __init__(self, client, every: int = 3, storm: int = 60, partial: int = 4):
        self.client, self.every, self.storm, self.partial = client, every, storm, partial
        self.calls = 0
        self.injected: dict[str, int] = {}
        self._lock = threading.Lock()

    def _count(self, code: str) -> None:
        self.injected[code] = self.injected.get(code, 0) + 1

    def batch_write_item(self, **kw):
        with self._lock:
            self.calls += 1
            i = self.calls
        if i <= self.storm and i % self.every == 0:
            code = CODES[(i // self.every) % len(CODES)]
            with self._lock:
                self._count(code)
            raise ClientError({"Error": {"Code": code, "Message": "injected"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, "BatchWriteItem")
        (table, requests), = kw["RequestItems"].items()
        if i % self.partial == 0 and len(requests) > 1:
            half = len(requests) // 2
            resp = self.client.batch_write_item(**{**kw, "RequestItems": {table: requests[:half]}})
            with self._lock:
                self._count("UnprocessedItems")
            resp["UnprocessedItems"] = {table: requests[half:]}
            return resp
        return self.client.batch_write_item(**kw)


class ThrottlingProxy:
    """An HTTP proxy to a DynamoDB endpoint that throttles BatchWriteItem like the real service:
    request n (counting BatchWriteItem only) gets

    - 400 RequestLimitExceeded for n in `limit_calls` (a set: the connector does not retry it,
      so its task fails and Spark runs it again),
    - 400 ProvisionedThroughputExceededException / ThrottlingException every `every`-th call,
    - calls in `partial_calls`: half the batch forwarded, the other half returned as UnprocessedItems,

    and everything else forwarded unchanged. x-amz-crc32 is recomputed for changed bodies (the SDK
    checks it).
    """

    def __init__(self, upstream: str, every: int = 5, partial_calls: frozenset[int] = frozenset(),
                 limit_calls: frozenset[int] = frozenset(), storm: int = 10_000):
        self.upstream = upstream.rstrip("/")
        self.every, self.partial_calls, self.limit_calls, self.storm = every, partial_calls, limit_calls, storm
        self.batch_calls = 0
        self.injected: dict[str, int] = {}
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                target = self.headers.get("X-Amz-Target", "")
                if target.endswith(".BatchWriteItem"):
                    status, headers, out = proxy._batch(dict(self.headers), body)
                else:
                    status, headers, out = proxy._forward(dict(self.headers), body)
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> ThrottlingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _forward(self, headers: dict, body: bytes) -> tuple[int, dict, bytes]:
        req = urllib.request.Request(self.upstream + "/", data=body, method="POST", headers={
            k: v for k, v in headers.items() if k.lower() not in ("host", "content-length", "connection")})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    @staticmethod
    def _json(status: int, doc: dict) -> tuple[int, dict, bytes]:
        out = json.dumps(doc).encode()
        return status, {"Content-Type": "application/x-amz-json-1.0", "x-amz-crc32": str(zlib.crc32(out))}, out

    def _batch(self, headers: dict, body: bytes) -> tuple[int, dict, bytes]:
        with self._lock:
            self.batch_calls += 1
            n = self.batch_calls
        code = None
        if n in self.limit_calls:
            code = "RequestLimitExceeded"
        elif n <= self.storm and n % self.every == 0:
            code = CODES[(n // self.every) % 2]
        if code:
            with self._lock:
                self.injected[code] = self.injected.get(code, 0) + 1
            msg = {"RequestLimitExceeded": "Throughput exceeds the current throughput limit for your account."}
            return self._json(400, {"__type": f"com.amazonaws.dynamodb.v20120810#{code}",
                                    "message": msg.get(code, "injected throttling")})
        doc = json.loads(body)
        (table, requests), = doc["RequestItems"].items()
        if n in self.partial_calls and len(requests) > 1:
            half = len(requests) // 2
            doc["RequestItems"] = {table: requests[:half]}
            status, h, out = self._forward(headers, json.dumps(doc).encode())
            if status != 200:
                return status, h, out
            resp = json.loads(out)
            resp["UnprocessedItems"] = {table: requests[half:]}
            with self._lock:
                self.injected["UnprocessedItems"] = self.injected.get("UnprocessedItems", 0) + 1
            return self._json(200, resp)
        return self._forward(headers, body)


class FailingS3:
    """Wraps a real S3 client: `get_object` of a key answers the next error code queued for it in `faults`
    (with S3's HTTP status for that code), then reads the real object as usual."""

    STATUS = {"SlowDown": 503, "InternalError": 500, "ServiceUnavailable": 503, "AccessDenied": 403,
              "NoSuchKey": 404}

    def __init__(self, client, faults: dict[str, list[str]]):
        self.client = client
        self.faults = {key: list(codes) for key, codes in faults.items()}
        self.answered: list[tuple[str, str]] = []

    def get_object(self, **kw):
        codes = self.faults.get(kw["Key"])
        if codes:
            code = codes.pop(0)
            self.answered.append((kw["Key"], code))
            raise ClientError({"Error": {"Code": code, "Message": "injected"},
                               "ResponseMetadata": {"HTTPStatusCode": self.STATUS[code]}}, "GetObject")
        return self.client.get_object(**kw)
