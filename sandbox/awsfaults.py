"""A fault-injecting proxy in front of moto, for Secrets Manager and STS.

One job: stand between the binary and moto (point `AWS_ENDPOINT_URL_SECRETS_MANAGER`,
`AWS_ENDPOINT_URL_STS` or `AWS_ENDPOINT_URL` at `url`), forward every request to moto
untouched, and, when a fault rule matches, shape the answer instead. Rules match the
service (from the SigV4 credential scope: `secretsmanager`, `sts`) and the operation
(`X-Amz-Target` for Secrets Manager's JSON protocol, `Action=` for STS's query
protocol), as the synthetic path `/<service>/<Operation>`.

The step vocabulary is the one every emulator shares (`faults.py`), with AWS's
error bodies: `{"status": 500}` (the protocol's error body; `"code"` picks the error
code), `{"throttle": True}` (HTTP 400 `ThrottlingException` for Secrets Manager,
`Throttling` for STS), `{"latency_ms": N}` (then forward), `{"hang": True}`,
`{"malformed": True}` (HTTP 200 with a body that is not the protocol's),
`{"close": True}` (drop the connection unanswered), and `{"status": 200, "body": ...}`
(any answer the test crafts).
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import urllib.parse
import uuid
from typing import Any

from .faults import BAD_GATEWAY_PAGE, FaultRule, LoggedRequest, crafted_reply, queue_fault, serve_step, take_fault_step
from .httpd import BackgroundServer, Reply, Request, ServedApp

FORWARD_TIMEOUT_S = 30.0
_SCOPE_RE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/(?P<service>[a-z0-9-]+)/aws4_request")
# Hop-by-hop headers are not forwarded (RFC 9110 §7.6.1); Host is rewritten by http.client.
_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection", "host",
        "content-length"}
_DEFAULT_CODES = {
    ("secretsmanager", 500): "InternalServiceError", ("secretsmanager", 503): "ServiceUnavailable",
    ("secretsmanager", 400): "InvalidRequestException", ("secretsmanager", 403): "AccessDeniedException",
    ("sts", 500): "InternalFailure", ("sts", 503): "ServiceUnavailable", ("sts", 400): "InvalidParameterValue",
    ("sts", 403): "AccessDenied",
}
THROTTLE_CODE = {"secretsmanager": "ThrottlingException", "sts": "Throttling"}


def operation_of(request: Request) -> tuple[str, str]:
    """(service, operation) of an AWS API request; '' where it cannot be told."""
    match = _SCOPE_RE.search(request.header("Authorization") or "")
    service = match.group("service") if match else ""
    target = request.header("X-Amz-Target") or ""
    if target:
        return service or target.split(".", 1)[0].lower(), target.rsplit(".", 1)[-1]
    form = urllib.parse.parse_qs(request.body.decode("utf-8", "replace"))
    return service, form.get("Action", [""])[0]


def error_reply(service: str, status: int, code: str, message: str) -> Reply:
    """The error answer of `service`'s protocol (JSON 1.1 for Secrets Manager, query/XML for STS)."""
    request_id = str(uuid.uuid4())
    if service == "sts":
        kind = "Receiver" if status >= 500 else "Sender"
        body = (f'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>{kind}</Type>'
                f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId>"
                "</ErrorResponse>")
        return Reply(status, body.encode(), {"Content-Type": "text/xml", "x-amzn-RequestId": request_id})
    return Reply(status, json.dumps({"__type": code, "message": message}).encode(),
                 {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": request_id,
                  "x-amzn-ErrorType": code})


class AwsFaultProxy(ServedApp):
    """Forwards to `upstream` (moto's URL); logs every request; serves queued fault steps."""

    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self._upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self._lock = threading.Lock()
        self._faults: list[FaultRule] = []
        self.requests: list[LoggedRequest] = []
        self._server = BackgroundServer(self, name="aws-faults")

    def add_fault(self, service: str, operation: str, steps: list[dict], repeat: bool = False) -> FaultRule:
        """Queue steps for `service` (`secretsmanager`, `sts`) calls of `operation` ("" = any)."""
        return queue_fault(self._faults, self._lock, "*", f"/{service}/{operation}", steps, repeat)

    def calls(self, service: str, operation: str = "") -> list[LoggedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(f"/{service}/{operation}")]

    def handle(self, request: Request, server: BackgroundServer) -> Any:
        service, operation = operation_of(request)
        entry = LoggedRequest(request.method, f"/{service}/{operation}", request.raw_query, request.headers,
                              request.body, request.received_at)
        with self._lock:
            self.requests.append(entry)
            step = take_fault_step(self._faults, "*", entry.path)
        entry.fault = step
        reply = serve_step(step, server, lambda s: self._fault(s, service))
        if reply is None:
            reply = self._forward(request)
        if isinstance(reply, Reply):
            entry.status = reply.status
        return reply

    def _fault(self, step: dict, service: str) -> Reply:
        """The answer to a step past the connection-level ones (`serve_step`), with AWS's error bodies."""
        if step.get("malformed"):
            return Reply(200, BAD_GATEWAY_PAGE + b"\n{\"ARN\":", {"Content-Type": "text/html"})
        if step.get("throttle"):
            return error_reply(service, 400, THROTTLE_CODE.get(service, "ThrottlingException"), "Rate exceeded")
        status = int(step.get("status", 500))
        if "body" in step:
            return crafted_reply(step, status, "application/x-amz-json-1.1")
        code = step.get("code") or _DEFAULT_CODES.get((service, status), "InternalFailure")
        return error_reply(service, status, code, step.get("message", f"injected {status}"))

    def _forward(self, request: Request) -> Reply:
        conn = http.client.HTTPConnection(*self._upstream, timeout=FORWARD_TIMEOUT_S)
        try:
            target = request.path + (f"?{request.raw_query}" if request.raw_query else "")
            headers = {k: v for k, v in request.headers if k.lower() not in _HOP}
            conn.request(request.method, target, body=request.body, headers=headers)
            answer = conn.getresponse()
            body = answer.read()
            headers = {k: v for k, v in answer.getheaders() if k.lower() not in _HOP}
            return Reply(answer.status, body, headers)
        except OSError as err:
            return Reply(502, f"aws-faults: moto unreachable: {err}".encode(), {"Content-Type": "text/plain"})
        finally:
            conn.close()
