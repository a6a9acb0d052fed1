"""The fault-step vocabulary shared by every emulator.

Tests shape an emulator's answers by queueing *steps*: dicts served one per matching
request, in order (`FaultRule`, `queue_fault`, `take_fault_step`). Every emulator — the
Datadog and Dynatrace emulators, the AWS fault proxy, the ResponseURL catcher — reads the
same words:

- `{"latency_ms": N}`: wait N ms, then answer as usual (the connection is dropped instead
  if the sandbox stops meanwhile);
- `{"hang": True}`: never answer; the connection is held until the sandbox stops;
- `{"close": True}`: drop the connection unanswered;
- `{"malformed": True}`: an answer whose body is not what the protocol promises
  (typically a gateway's HTML page, `BAD_GATEWAY_PAGE`);
- `{"status": N}`: an error answer in the vendor's own form, where the emulator allows
  with a crafted `"body"` (bytes, text or JSON, see `crafted_reply`).

The first three are the same everywhere and are served by `serve_step`; what a malformed
answer or an error body looks like, and any vendor words (`throttle`, `code`,
`drop_response`, `garble_response`), stay in each emulator. `VendorFaults` is the request
log, fault queue and random-5xx plumbing the two vendor emulators (Datadog, Dynatrace) share.
"""

from __future__ import annotations

import json
import random
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable

from .httpd import CLOSE, HANG, BackgroundServer, Reply, Request

BAD_GATEWAY_PAGE = b"<html><body>502 Bad Gateway</body></html>"


@dataclass
class LoggedRequest:
    """One request the emulator received, and what it answered."""

    method: str
    path: str
    raw_query: str
    headers: list[tuple[str, str]]
    body: bytes
    received_at: float
    status: int | None = None  # None: no answer (hang / dropped connection)
    fault: dict | None = None  # the injected fault step that shaped the answer, if any

    @property
    def query(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(self.raw_query, keep_blank_values=True)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


@dataclass
class FaultRule:
    """Steps served, in order, to requests matching method and path prefix."""

    method: str  # "*" for any
    path_prefix: str
    steps: list[dict]
    repeat: bool = False  # keep serving the last step forever
    served: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method == "*" or self.method.upper() == method) and path.startswith(self.path_prefix)


def queue_fault(rules: list[FaultRule], lock: Any, method: str, path_prefix: str, steps: list[dict],
                repeat: bool = False) -> FaultRule:
    """Append a rule serving (copies of) `steps` to `rules`, under `lock`; at least one step."""
    rule = FaultRule(method, path_prefix, [dict(s) for s in steps], repeat)
    if not rule.steps:
        raise ValueError("a fault rule needs at least one step")
    with lock:
        rules.append(rule)
    return rule


def take_fault_step(rules: list[FaultRule], method: str, path: str) -> dict | None:
    """The next step of the first rule matching `method` and `path` (caller holds the lock); a
    rule is dropped once its steps are served, except that a `repeat` rule serves its last step
    forever."""
    for rule in rules:
        if rule.matches(method, path):
            if rule.repeat and len(rule.steps) == 1:
                step = rule.steps[0]
            else:
                step = rule.steps.pop(0)
                if not rule.steps:
                    rules.remove(rule)
            rule.served += 1
            return step
    return None


def serve_step(step: dict | None, server: BackgroundServer, vendor: Callable[[dict], Any]) -> Any:
    """What a fault step makes of a request: `CLOSE` or `HANG` for the connection-level steps,
    else whatever `vendor(step)` answers (the emulator's malformed body, error statuses, ...).
    None means "answer as usual": no step, a latency that has passed, or `vendor` said so."""
    if step is None:
        return None
    if "latency_ms" in step:
        return CLOSE if server.stopping.wait(step["latency_ms"] / 1000.0) else None
    if step.get("hang"):
        return HANG
    if step.get("close"):
        return CLOSE
    return vendor(step)


def crafted_reply(step: dict, status: int, content_type: str, headers: dict[str, str] | None = None) -> Reply:
    """The answer to a step that crafts its own `"body"`: bytes as they are, text UTF-8 encoded,
    anything else as JSON; the step's `"content_type"` wins over the emulator's `content_type`."""
    body = step["body"]
    if isinstance(body, bytes):
        raw = body
    else:
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return Reply(status, raw, {"Content-Type": step.get("content_type", content_type), **(headers or {})})


class VendorFaults:
    """Request log and fault queue of a vendor emulator (Datadog, Dynatrace).

    The emulator provides `_lock` (an RLock), `_faults`, `requests`, `counters` (with
    `requests`, `by_status` and `faults_served`), `_error_rate` and `_random` (random 5xx),
    `requests_matching()` (its API's path prefix as the default), `MALFORMED_BODY`,
    `MALFORMED_TYPE`, and the vendor's error bodies: `_fault_reply(step)` for a
    `{"status": N}` step, `_random_error(status)` for a random 5xx.
    """

    _lock: threading.RLock
    _faults: list[FaultRule]
    _error_rate: float
    _random: random.Random
    requests: list[LoggedRequest]
    counters: Any
    MALFORMED_BODY: bytes
    MALFORMED_TYPE: str

    def add_fault(self, method: str, path_prefix: str, steps: list[dict], repeat: bool = False) -> FaultRule:
        """Queue fault steps for requests matching `method` ("*" = any) and `path_prefix`.

        Steps: {"status": 500} (the vendor's error body; "body"/"headers" optional),
        {"status": 429, "headers": {...}}, {"latency_ms": N} (then serve normally),
        {"hang": True}, {"malformed": True}, {"close": True} (drop the connection unanswered),
        {"drop_response": True} (do the work, then drop the connection: the answer is lost),
        {"garble_response": True} (Datadog only: do the work, then answer 200 with a body that is not JSON).
        """
        return queue_fault(self._faults, self._lock, method, path_prefix, steps, repeat)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def requests_matching(self, method: str = "*", path_prefix: str = "/") -> list[LoggedRequest]:
        with self._lock:
            return [r for r in self.requests
                    if (method == "*" or r.method == method.upper()) and r.path.startswith(path_prefix)]

    def mutating_requests(self) -> list[LoggedRequest]:
        return [r for r in self.requests_matching() if r.method in ("POST", "PATCH", "PUT", "DELETE")]

    def changes(self) -> list[LoggedRequest]:
        """The mutating requests the vendor carried out (answered 2xx); a refused one changed nothing."""
        return [r for r in self.mutating_requests() if r.status is not None and 200 <= r.status < 300]

    def _fault_reply(self, step: dict) -> Reply:
        raise NotImplementedError

    def _random_error(self, status: int) -> Reply:
        raise NotImplementedError

    def _inject(self, request: Request, server: BackgroundServer) -> tuple[LoggedRequest, dict | None, Any]:
        """Log and count an API request, then apply what the test injected before it is served:
        its fault step (see `serve_step`), else a random 5xx (`set_error_rate`). Returns the log
        entry, the step, and the injected answer (None: serve the request as usual)."""
        entry = LoggedRequest(request.method, request.path, request.raw_query, request.headers,
                              request.body, request.received_at)
        with self._lock:
            self.requests.append(entry)
            self.counters.requests += 1
            step = take_fault_step(self._faults, request.method, request.path)
        if step is not None:
            entry.fault = step
            self.counters.faults_served += 1

        def vendor(step: dict) -> Reply | None:
            if step.get("malformed"):
                return self._finish(entry, self._malformed())
            if "status" in step:
                return self._finish(entry, self._fault_reply(step))
            return None

        answer = serve_step(step, server, vendor)
        if answer is None:
            with self._lock:
                if self._error_rate and self._random.random() < self._error_rate:
                    answer = self._finish(entry, self._random_error(self._random.choice((500, 502, 503))))
        return entry, step, answer

    def _malformed(self) -> Reply:
        return Reply(200, self.MALFORMED_BODY, {"Content-Type": self.MALFORMED_TYPE})

    def _finish(self, entry: LoggedRequest, reply: Reply) -> Reply:
        entry.status = reply.status
        with self._lock:
            self.counters.by_status[reply.status] = self.counters.by_status.get(reply.status, 0) + 1
        return reply
