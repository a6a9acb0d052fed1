"""Stand-in for the pre-signed S3 URL CloudFormation hands out as `ResponseURL`.

One job: issue realistic pre-signed URLs (`/cfn-response/<token>?X-Amz-...`)
and record every request made to them exactly as it arrived: method, path,
query string, all headers in their original form (so an *empty* Content-Type
can be told from an absent one) and the raw body bytes.

Like S3, a request is only accepted (200) when it is a PUT carrying the
signature that was issued for that token; anything else gets S3's 403 XML.
Tests can queue faults (a status such as 500/503, a hang, a dropped
connection) to be served before the URL starts accepting, to exercise the
binary's retrying responder. `wait_for(token, timeout)` blocks (bounded)
until an accepted response for the token arrives.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .faults import BAD_GATEWAY_PAGE, serve_step
from .httpd import BackgroundServer, Raw, Reply, Request, ServedApp

PREFIX = "/cfn-response/"

_S3_ERROR = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>"
             "<RequestId>{rid}</RequestId></Error>")


@dataclass
class ResponseRecord:
    """One request that reached a ResponseURL."""

    seq: int
    token: str | None
    method: str
    path: str
    raw_query: str
    headers: list[tuple[str, str]]  # exactly as sent: original case and order, duplicates kept
    raw: bytes  # the body bytes
    received_at: float  # time.time() when the whole request had arrived
    served_status: int | None  # None when a fault hung or dropped the connection

    @property
    def accepted(self) -> bool:
        return self.served_status == 200

    @property
    def body(self) -> Any:
        """The body parsed as JSON (None when it is not JSON)."""
        try:
            return json.loads(self.raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None

    @property
    def content_type(self) -> str | None:
        """'' when sent empty, None when absent."""
        return self.header("Content-Type")

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    @property
    def body_json(self) -> Any:
        """The body parsed as JSON; raises if it is not JSON."""
        return json.loads(self.raw.decode("utf-8"))


@dataclass
class IssuedURL:
    token: str
    url: str
    raw_query: str
    signature: str


class ResponseCatcher(ServedApp):
    """Records CloudFormation responses PUT to sandbox ResponseURLs."""

    def __init__(self) -> None:
        self._server = BackgroundServer(self, name="cfn-responses")
        self._cond = threading.Condition()
        self._records: list[ResponseRecord] = []
        self._issued: dict[str, IssuedURL] = {}
        self._faults: list[tuple[str | None, dict]] = []  # (token or None for any, step)

    def stop(self) -> None:
        with self._cond:
            self._cond.notify_all()
        super().stop()

    # ------------------------------------------------------------------ issuing
    def issue(self, region: str = "us-east-1") -> IssuedURL:
        """A fresh pre-signed-looking URL. Its query string is a secret (a write capability)."""
        token = str(uuid.uuid4())
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        signature = secrets.token_hex(32)
        key_id = "ASIA" + secrets.token_hex(8).upper()
        query = urllib.parse.urlencode([
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Date", stamp),
            ("X-Amz-SignedHeaders", "host"),
            ("X-Amz-Expires", "7200"),
            ("X-Amz-Credential", f"{key_id}/{stamp[:8]}/{region}/s3/aws4_request"),
            ("X-Amz-Security-Token", base64.b64encode(secrets.token_bytes(96)).decode()),
            ("X-Amz-Signature", signature),
        ], quote_via=urllib.parse.quote)
        issued = IssuedURL(token, f"{self.url}{PREFIX}{token}?{query}", query, signature)
        with self._cond:
            self._issued[token] = issued
        return issued

    def issued(self) -> list[IssuedURL]:
        with self._cond:
            return list(self._issued.values())

    # ------------------------------------------------------------------ faults
    def add_faults(self, steps: list[dict], token: str | None = None) -> None:
        """Serve these steps before accepting: {"status": 503} (S3's XML error; "code", e.g. "SlowDown",
        names it), {"hang": True}, {"close": True}, {"malformed": True} (bytes that are not HTTP), or
        {"latency_ms": N} (then accept)."""
        with self._cond:
            self._faults.extend((token, dict(step)) for step in steps)

    # ------------------------------------------------------------------ reading
    @property
    def seq(self) -> int:
        with self._cond:
            return len(self._records)

    def records(self, token: str | None = None, since_seq: int = 0,
                accepted_only: bool = False) -> list[ResponseRecord]:
        with self._cond:
            return [r for r in self._records[since_seq:]
                    if (token is None or r.token == token) and (r.accepted or not accepted_only)]

    def wait_for(self, token: str, timeout: float, since_seq: int = 0) -> ResponseRecord | None:
        """First accepted response for `token` (after `since_seq`), or None after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for record in self._records[since_seq:]:
                    if record.token == token and record.accepted:
                        return record
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(min(remaining, 0.25))

    # ------------------------------------------------------------------ HTTP
    def handle(self, request: Request, server: BackgroundServer) -> Any:
        token = request.path[len(PREFIX):] if request.path.startswith(PREFIX) else None
        with self._cond:
            record = ResponseRecord(len(self._records) + 1, token, request.method, request.path,
                                    request.raw_query, request.headers, request.body,
                                    request.received_at, None)
            self._records.append(record)
            step = None
            for i, (fault_token, _step) in enumerate(self._faults):
                if fault_token is None or fault_token == token:
                    step = self._faults.pop(i)[1]
                    break
            issued = self._issued.get(token or "")
        try:
            shaped = serve_step(step, server, lambda s: self._fault(s, record))  # None: answer as usual
            if shaped is not None:
                return shaped
            signature = urllib.parse.parse_qs(request.raw_query).get("X-Amz-Signature", [None])[0]
            if issued is None or signature != issued.signature:
                record.served_status = 403
                return self._s3_error(403, "SignatureDoesNotMatch",
                                      "The request signature we calculated does not match the signature you provided.")
            if request.method != "PUT":
                # The method is part of the pre-signed signature.
                record.served_status = 403
                return self._s3_error(403, "SignatureDoesNotMatch",
                                      "The request signature we calculated does not match the signature you provided.")
            record.served_status = 200
            return Reply(200, b"", {"ETag": f"\"{uuid.uuid4().hex}\"",
                                    "x-amz-request-id": uuid.uuid4().hex[:16].upper()})
        finally:
            with self._cond:
                self._cond.notify_all()

    def _fault(self, step: dict, record: ResponseRecord) -> Any:
        """The answer to a step past the connection-level ones (`serve_step`): bytes that are not
        HTTP, or S3's XML error."""
        if step.get("malformed"):
            return Raw(BAD_GATEWAY_PAGE + b"\r\n")
        status = int(step.get("status", 500))
        record.served_status = status
        code = step.get("code") or ("InternalError" if status >= 500 else "AccessDenied")
        return self._s3_error(status, code, "We encountered an internal error. Please try again."
                              if status >= 500 else "Access Denied")

    @staticmethod
    def _s3_error(status: int, code: str, message: str) -> Reply:
        body = _S3_ERROR.format(code=code, message=message, rid=uuid.uuid4().hex[:16].upper()).encode()
        return Reply(status, body, {"Content-Type": "application/xml"})
