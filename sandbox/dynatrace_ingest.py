"""Dynatrace's ingest endpoints, as the emulator serves them: one job, checking that each request
carries a token of the type and scope the endpoint documents, and recording what was accepted.

- Generic events, `POST https://<id>.live.dynatrace.com/platform/ingest/v1/events` (OpenPipeline
  Ingest API, "POST Built-in generic events",
  https://docs.dynatrace.com/docs/platform/openpipeline/reference/openpipeline-ingest-api/generic-events/events-generic-builtin):
  an access token with `openpipeline.events` (`Authorization: Api-Token <token>`), or a platform
  token with `openpipeline:events:ingest` (`Authorization: Bearer <token>`; "How to ingest data
  (events)", https://docs.dynatrace.com/docs/platform/openpipeline/get-started/how-to-ingestion);
  one event or a list; 202 Accepted without a body.
- Amazon Data Firehose logs, `POST …/api/v2/logs/ingest/aws_firehose` (Dynatrace, "Stream logs
  via Amazon Data Firehose", and OpenPipeline's ingest sources,
  https://docs.dynatrace.com/docs/discover-dynatrace/platform/openpipeline/reference/api-ingestion-reference):
  an access token with `logs.ingest`, which Firehose sends as `X-Amz-Firehose-Access-Key`
  (Amazon Data Firehose, HTTP endpoint delivery request and response specifications,
  https://docs.aws.amazon.com/firehose/latest/dev/httpdeliveryrequestresponse.html); the answer
  echoes `requestId` and `timestamp`.

A token the endpoint does not know answers 401; a known token without the scope answers 403 with
Dynatrace's error envelope naming the scope. Access tokens are `dt0c01.…`, platform tokens
`dt0s16.…` (Dynatrace, "Tokens and authentication").
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .httpd import Reply, Request

EVENTS_PATH = "/platform/ingest/v1/events"
FIREHOSE_PATH = "/api/v2/logs/ingest/aws_firehose"
INGEST_PATHS = (EVENTS_PATH, FIREHOSE_PATH)

API_TOKEN, PLATFORM_TOKEN = "api", "platform"
EVENTS_API_SCOPE, EVENTS_PLATFORM_SCOPE = "openpipeline.events", "openpipeline:events:ingest"
LOGS_API_SCOPE = "logs.ingest"


def _envelope(code: int, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


@dataclass
class Ingested:
    events: list[Any] = field(default_factory=list)
    firehose_records: list[bytes] = field(default_factory=list)
    refused: list[tuple[str, int]] = field(default_factory=list)  # (path, status)


class IngestEndpoints:
    """The two ingest endpoints and the tokens they accept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, frozenset[str]]] = {}
        self.ingested = Ingested()

    def reset(self) -> None:
        with self._lock:
            self._tokens.clear()
            self.ingested = Ingested()

    def add_token(self, token: str, kind: str, scopes: list[str] | tuple[str, ...]) -> None:
        """A token of `kind` (`api` or `platform`) with `scopes`."""
        assert kind in (API_TOKEN, PLATFORM_TOKEN)
        with self._lock:
            self._tokens[token] = (kind, frozenset(scopes))

    def handle(self, request: Request) -> Reply:
        if request.method != "POST":
            return Reply.json(405, _envelope(405, "Method not allowed"))
        if request.path == EVENTS_PATH:
            return self._events(request)
        return self._firehose(request)

    def _token(self, presented: str | None, kind: str) -> tuple[frozenset[str] | None, Reply | None]:
        with self._lock:
            known = self._tokens.get((presented or "").strip())
        if not presented or known is None or known[0] != kind:
            return None, Reply.json(401, _envelope(401, "Token Authentication failed"))
        return known[1], None

    def _refuse(self, path: str, reply: Reply) -> Reply:
        with self._lock:
            self.ingested.refused.append((path, reply.status))
        return reply

    def _events(self, request: Request) -> Reply:
        scheme, _, token = (request.header("Authorization") or "").partition(" ")
        kind, scope = {"api-token": (API_TOKEN, EVENTS_API_SCOPE),
                       "bearer": (PLATFORM_TOKEN, EVENTS_PLATFORM_SCOPE)}.get(scheme.lower(), (None, None))
        if kind is None:
            return self._refuse(EVENTS_PATH, Reply.json(401, _envelope(401, "Missing authorization parameter.")))
        scopes, denied = self._token(token, kind)
        if denied:
            return self._refuse(EVENTS_PATH, denied)
        if scope not in scopes:
            return self._refuse(EVENTS_PATH, Reply.json(403, _envelope(
                403, f"Token is missing required scope. Use one of: {scope}")))
        try:
            body = json.loads(request.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return self._refuse(EVENTS_PATH, Reply.json(400, _envelope(400, "Could not parse JSON request body")))
        if not isinstance(body, (dict, list)):
            return self._refuse(EVENTS_PATH, Reply.json(400, _envelope(400, "An event or a list of events")))
        with self._lock:
            self.ingested.events.extend(body if isinstance(body, list) else [body])
        return Reply(202)

    def _firehose(self, request: Request) -> Reply:
        request_id = request.header("X-Amz-Firehose-Request-Id") or ""
        now = int(time.time() * 1000)

        def answer(status: int, message: str | None = None) -> Reply:
            body: dict[str, Any] = {"requestId": request_id, "timestamp": now}
            if message:
                body["errorMessage"] = message
            return Reply.json(status, body)

        scopes, denied = self._token(request.header("X-Amz-Firehose-Access-Key"), API_TOKEN)
        if denied:
            return self._refuse(FIREHOSE_PATH, answer(401, "Token Authentication failed"))
        if LOGS_API_SCOPE not in scopes:
            return self._refuse(FIREHOSE_PATH, answer(
                403, f"Token is missing required scope. Use one of: {LOGS_API_SCOPE}"))
        try:
            raw = request.body
            if (request.header("Content-Encoding") or "").lower() == "gzip":
                raw = gzip.decompress(raw)
            body = json.loads(raw.decode("utf-8"))
            records = [base64.b64decode(r["data"]) for r in body["records"]]
        except (ValueError, UnicodeDecodeError, KeyError, TypeError, OSError):
            return self._refuse(FIREHOSE_PATH, answer(400, "Not a Firehose delivery request"))
        with self._lock:
            self.ingested.firehose_records.extend(records)
        return answer(200)
