"""The Lambda Runtime API (2018-06-01), served to one function process.

One job: speak the protocol a custom runtime (here the Rust `bootstrap`, via
`lambda_runtime`) talks to inside Lambda:

- `GET  /2018-06-01/runtime/invocation/next` long-polls until an invocation is
  submitted, then answers with the event and the headers
  `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms` (epoch ms,
  now + function timeout, computed at delivery like Lambda does, unless a test
  overrides it with a past or absurd value), `Lambda-Runtime-Invoked-Function-Arn`
  and `Lambda-Runtime-Trace-Id`;
- `POST /2018-06-01/runtime/invocation/{id}/response` and `/error` → 202, recorded;
- `POST /2018-06-01/runtime/init/error` → 202, recorded.

Starting, freezing and killing the process is `function.py`'s job; this module
only calls the `on_idle` / `on_submit` hooks it is given, under its lock, so
the function can freeze the process while it waits for work (as Lambda does)
and thaw it when work arrives without a race.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from .httpd import CLOSE, BackgroundServer, Reply, Request, ServedApp

API = "/2018-06-01/runtime"


def trace_id() -> str:
    return (f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};"
            f"Parent={secrets.token_hex(8)};Sampled=0;Lineage=1:{secrets.token_hex(4)}:0")


@dataclass
class PendingInvocation:
    """One invocation as the Runtime API sees it."""

    request_id: str
    payload: bytes
    timeout_s: float
    deadline_ms_override: int | None = None
    delivered: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    delivered_at: float | None = None  # time.monotonic() at delivery
    delivered_epoch: float | None = None  # time.time() at delivery
    deadline_ms: int | None = None  # the header value actually sent
    result_kind: str | None = None  # "response" | "error"
    result_body: bytes = b""
    result_headers: list[tuple[str, str]] = field(default_factory=list)
    result_count: int = 0  # how many /response or /error posts arrived (must be 1)


class RuntimeAPI(ServedApp):
    """Runtime API endpoint for one function (one process at a time)."""

    def __init__(self, function_arn: str, on_idle: Callable[[], None] | None = None,
                 on_submit: Callable[[], None] | None = None) -> None:
        self.function_arn = function_arn
        self._on_idle = on_idle
        self._on_submit = on_submit
        self._cond = threading.Condition()
        self._queue: deque[PendingInvocation] = deque()
        self._by_id: dict[str, PendingInvocation] = {}
        self.init_errors: list[tuple[list[tuple[str, str]], bytes]] = []
        self.unknown_posts: list[Request] = []
        self._server = BackgroundServer(self, name="runtime-api")

    def stop(self) -> None:
        with self._cond:
            self._cond.notify_all()
        super().stop()

    @property
    def address(self) -> str:
        """Value for AWS_LAMBDA_RUNTIME_API (host:port, no scheme)."""
        return f"127.0.0.1:{self._server.port}"

    def submit(self, payload: bytes, timeout_s: float, deadline_ms: int | None = None) -> PendingInvocation:
        pending = PendingInvocation(str(uuid.uuid4()), payload, timeout_s, deadline_ms)
        with self._cond:
            self._by_id[pending.request_id] = pending
            self._queue.append(pending)
            if self._on_submit:
                self._on_submit()
            self._cond.notify_all()
        return pending

    def withdraw(self, pending: PendingInvocation) -> None:
        """Drop an invocation that was never delivered (its process died)."""
        with self._cond:
            try:
                self._queue.remove(pending)
            except ValueError:
                pass

    # ------------------------------------------------------------------ HTTP
    def handle(self, request: Request, server: BackgroundServer) -> Any:
        path, method = request.path, request.method
        if method == "GET" and path == f"{API}/invocation/next":
            return self._next(server)
        if method == "POST" and path == f"{API}/init/error":
            with self._cond:
                self.init_errors.append((request.headers, request.body))
            return Reply.json(202, {"status": "OK"})
        if method == "POST" and path.startswith(f"{API}/invocation/"):
            parts = path[len(f"{API}/invocation/"):].split("/")
            if len(parts) == 2 and parts[1] in ("response", "error"):
                with self._cond:
                    pending = self._by_id.get(parts[0])
                    if pending is None:
                        self.unknown_posts.append(request)
                        return Reply.json(400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"})
                    pending.result_count += 1
                    if pending.result_kind is None:
                        pending.result_kind = parts[1]
                        pending.result_body = request.body
                        pending.result_headers = request.headers
                    pending.done.set()
                    self._cond.notify_all()
                return Reply.json(202, {"status": "OK"})
        return Reply.json(404, {"errorMessage": "Not found", "errorType": "NotFound"})

    def _next(self, server: BackgroundServer) -> Any:
        with self._cond:
            idle_announced = False
            while not self._queue:
                if server.stopping.is_set():
                    return CLOSE
                if not idle_announced and self._on_idle:
                    self._on_idle()
                    idle_announced = True
                self._cond.wait(0.2)
            pending = self._queue.popleft()
            now = time.time()
            pending.deadline_ms = (pending.deadline_ms_override if pending.deadline_ms_override is not None
                                   else int((now + pending.timeout_s) * 1000))
            pending.delivered_at = time.monotonic()
            pending.delivered_epoch = now
            pending.delivered.set()
        headers = {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": pending.request_id,
            "Lambda-Runtime-Deadline-Ms": str(pending.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": self.function_arn,
            "Lambda-Runtime-Trace-Id": trace_id(),
        }
        return Reply(200, pending.payload, headers)


def parse_payload(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8")) if body else None
    except (ValueError, UnicodeDecodeError):
        return body
