"""Emulator of one Dynatrace SaaS environment: AWS connections and AWS monitoring configurations.

Faithful to shared/reference/dynatrace.md §2a and the Settings 2.0 / Extensions 2.0 API
references where they say what the real service does:
- Settings 2.0 objects on the platform host, `Authorization: Bearer <platform token>`:
  `GET/POST .../platform/classic/environment-api/v2/settings/objects` and
  `GET/PUT/DELETE .../settings/objects/{objectId}`.
  * List: `schemaIds` (or `nextPageKey` *alone*), `fields` (replaces the default
    `objectId,value`), `pageSize` (max 500, default 100); answers
    `{"items", "totalCount", "pageSize", "nextPageKey"?}`.
  * POST takes a list of objects and answers a list of per-item results
    (`{"code", "objectId"}` or `{"code", "error", "invalidValue"}`) with HTTP 200 when all
    succeeded, 207 when some did, 400 when none did.
  * objectIds are server-generated, base64url-like (~100-130 characters, never `:`); every
    object carries an `updateToken` that changes on each write; a PUT or DELETE that presents
    a stale one answers 409; one that presents none is unconditional (as documented).
  * DELETE answers 204, or 404 for an unknown id.
- The schema `builtin:hyperscaler-authentication.connections.aws`: `name` 3-100 characters,
  no `:`, unique across connections (per-item 400 "There is another connection defined under
  this name"); `type` cannot change; `roleArn` must match the schema pattern, may be empty,
  cannot be changed once set (the terraform provider's finding); a new non-empty role ARN is
  validated by assuming the role, which fails with 400 while IAM propagates
  (`set_role_validation`: for a number of attempts and/or seconds per ARN).
- Monitoring configurations of `com.dynatrace.extension.da-aws`
  (`/platform/extensions/v2/extensions/com.dynatrace.extension.da-aws/monitoring-configurations`):
  GET/PUT/DELETE by id, POST, list. The API reference documents no concurrency token; the
  emulator treats them as the settings objects they are (same objectId shape) and hands out an
  `updateToken` on GET that a PUT may present: stale → 409. This is the optimistic-concurrency
  contract Registrar's client is written against (src/vendor/dynatrace.rs says so too).
- Auth: no or a malformed `Authorization` header, or an unknown token → 401; a known token
  without the scope the call needs (`revoke_scope`) → 403. Error bodies are Dynatrace's
  `ErrorEnvelope` `{"error": {"code", "message", "constraintViolations"?}}`.

Test control (plain methods; plus a small HTTP API under `/_sandbox/`): seed connections and
monitoring configurations, remove them out of band, inject faults (the shared step vocabulary of
`faults.py`: status codes, 429, latency, hang, malformed, dropped connection, lost answer),
random 5xx, a page-size cap to force paging. Every API request is logged with its headers and
body, and counters are kept.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import re
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

from .faults import BAD_GATEWAY_PAGE, FaultRule, LoggedRequest, VendorFaults, crafted_reply
from .httpd import CLOSE, BackgroundServer, Reply, Request, ServedApp

SETTINGS_PATH = "/platform/classic/environment-api/v2/settings/objects"
EXTENSION = "com.dynatrace.extension.da-aws"
MONITORING_PATH = f"/platform/extensions/v2/extensions/{EXTENSION}/monitoring-configurations"
CONNECTION_SCHEMA = "builtin:hyperscaler-authentication.connections.aws"
CONNECTION_TYPES = ("awsRoleBasedAuthentication", "awsWebIdentity")
CONSUMERS = ("SVC:com.dynatrace.da", "DA", "APP:dynatrace.biz.carbon", "SVC:com.dynatrace.bo",
             "SVC:com.dynatrace.openpipeline", "SVC:com.dynatrace.grail", "NONE")
ROLE_ARN_PATTERN = re.compile(r"^$|arn:aws:iam::(?:aws|\d+?):role\/.*$")  # the schema's pattern
NAME_TAKEN = "There is another connection defined under this name"
MAX_OBJECTS = 3000
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 100, 500
LIST_FIELDS = ("objectId", "value", "updateToken", "schemaId", "schemaVersion", "scope", "summary",
               "modificationInfo", "externalId", "owner")
SCHEMA_VERSION = "1.0.27"
_ACCOUNT_ID_RE = re.compile(r"^\d{12}$")

SCOPE_READ, SCOPE_WRITE = "settings:objects:read", "settings:objects:write"
SCOPE_CONFIG_READ, SCOPE_CONFIG_WRITE = "extensions:configurations:read", "extensions:configurations:write"
ALL_SCOPES = (SCOPE_READ, SCOPE_WRITE, SCOPE_CONFIG_READ, SCOPE_CONFIG_WRITE)


def error_envelope(code: int, message: str, violations: list[dict] | None = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if violations:
        error["constraintViolations"] = violations
    return {"error": error}


def violation(path: str, message: str) -> dict:
    return {"path": path, "message": message, "parameterLocation": "PAYLOAD_BODY", "location": None}


def object_id(schema: str, scope: str) -> str:
    """A settings objectId: base64url of a binary header, the schema, the scope and a UUID."""
    raw = (b"\xbe\xefT\xde\x15\xda\xde\xad\x00\x00\x00\x01" + bytes([len(schema)]) + schema.encode()
           + bytes([len(scope)]) + scope.encode() + uuid.uuid4().bytes)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _update_token() -> str:
    return base64.b64encode(b"\x00\x01" + uuid.uuid4().bytes + uuid.uuid4().bytes[:6]).decode()


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Counters:
    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    faults_served: int = 0
    unauthorized: int = 0
    forbidden: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    conflicts: int = 0  # 409s for a stale updateToken
    role_rejections: int = 0  # 400s while the role "propagates"
    config_writes: int = 0


class DynatraceEmulator(ServedApp, VendorFaults):
    """One Dynatrace environment, served over HTTP on 127.0.0.1."""

    MALFORMED_BODY = BAD_GATEWAY_PAGE + b"\n{\"items\":"
    MALFORMED_TYPE = "application/json"

    def __init__(self, token: str, environment_host: str = "abc12345.apps.dynatrace.com",
                 seed: int | None = None) -> None:
        self.token = token
        self.environment_host = environment_host
        self._lock = threading.RLock()
        self._random = random.Random(seed)
        self._server = BackgroundServer(self, name="dynatrace")
        self.reset()

    # ------------------------------------------------------------------ lifecycle
    def reset(self) -> None:
        """Forget objects, configurations, faults, logs, counters; all scopes granted."""
        with self._lock:
            self._objects: dict[str, dict] = {}  # connections (settings objects), in creation order
            self._configs: dict[str, dict] = {}  # monitoring configurations
            self._pages: dict[str, tuple[list[str], list[str], int, int]] = {}
            self._faults: list[FaultRule] = []
            self._error_rate = 0.0
            self._scopes = set(ALL_SCOPES)
            self._page_cap = MAX_PAGE_SIZE
            self._role_failures, self._role_seconds, self._role_status = 0, 0.0, 400
            self._role_attempts: dict[str, dict] = {}
            self.requests: list[LoggedRequest] = []
            self.counters = Counters()

    # ------------------------------------------------------------------ test control
    def set_role_validation(self, failures: int = 0, seconds: float = 0.0, status: int = 400) -> None:
        """Make Dynatrace's assume-role check of a newly set role ARN fail (IAM propagation):
        the first `failures` attempts per ARN, and every attempt within `seconds` of the first."""
        with self._lock:
            self._role_failures, self._role_seconds, self._role_status = failures, seconds, status
            self._role_attempts.clear()

    def revoke_scope(self, scope: str) -> None:
        """The token loses a scope: calls that need it answer 403."""
        with self._lock:
            self._scopes.discard(scope)

    def set_page_cap(self, size: int) -> None:
        """Serve at most `size` settings objects per page (to exercise `nextPageKey`)."""
        with self._lock:
            self._page_cap = size

    def set_error_rate(self, rate: float) -> None:
        with self._lock:
            self._error_rate = rate

    def seed_connection(self, name: str, role_arn: str = "", consumers: list[str] | None = None,
                        type_: str = "awsRoleBasedAuthentication") -> str:
        """Create a connection directly (as someone else would have); returns its objectId."""
        value: dict[str, Any] = {"name": name, "type": type_}
        if type_ == "awsRoleBasedAuthentication":
            value["awsRoleBasedAuthentication"] = {"roleArn": role_arn,
                                                   "consumers": list(consumers or ["SVC:com.dynatrace.da"])}
        with self._lock:
            return self._store(value)["objectId"]

    def connections(self) -> list[dict]:
        """Every connection, as the GET-object API returns it (copies)."""
        with self._lock:
            return copy.deepcopy(list(self._objects.values()))

    def connection(self, oid: str) -> dict | None:
        with self._lock:
            obj = self._objects.get(oid)
            return copy.deepcopy(obj) if obj else None

    def find_connection(self, name: str) -> dict | None:
        with self._lock:
            return next((copy.deepcopy(o) for o in self._objects.values() if o["value"]["name"] == name), None)

    def remove_connection(self, oid: str) -> None:
        """Delete a connection out of band (someone removed it in Settings)."""
        with self._lock:
            del self._objects[oid]

    def add_monitoring_config(self, description: str = "AWS monitoring", credentials: list[dict] | None = None,
                              enabled: bool = True) -> str:
        """A monitoring configuration of the da-aws extension; returns its id."""
        value = {
            "enabled": enabled, "description": description, "version": "1.0.9",
            "featureSets": ["ec2_essential", "lambda_essential"], "activationContext": "DATA_ACQUISITION",
            "aws": {"deploymentRegion": "us-east-1", "credentials": copy.deepcopy(credentials or []),
                    "regionFiltering": ["us-east-1"], "tagFiltering": [], "tagEnrichment": [],
                    "smartscapeConfiguration": {"enabled": True},
                    "metricsConfiguration": {"enabled": True, "regions": ["us-east-1"]},
                    "cloudWatchLogsConfiguration": {"enabled": False, "regions": []},
                    "namespaces": [], "configurationMode": "QUICK_START", "deploymentMode": "AUTOMATED",
                    "deploymentScope": "SINGLE_ACCOUNT"},
        }
        with self._lock:
            return self._create_config("integration-aws", value)["objectId"]

    def monitoring_config(self, config_id: str) -> dict | None:
        with self._lock:
            config = self._configs.get(config_id)
            return copy.deepcopy(config) if config else None

    def credentials(self, config_id: str) -> list[dict]:
        """The monitoring configuration's `value.aws.credentials`."""
        config = self.monitoring_config(config_id)
        assert config is not None, f"no monitoring configuration {config_id}"
        return list(config["value"].get("aws", {}).get("credentials") or [])

    def remove_monitoring_config(self, config_id: str) -> None:
        with self._lock:
            del self._configs[config_id]

    def requests_matching(self, method: str = "*", path_prefix: str = "/platform/") -> list[LoggedRequest]:
        return super().requests_matching(method, path_prefix)

    # ------------------------------------------------------------------ HTTP
    def handle(self, request: Request, server: BackgroundServer) -> Any:
        if request.path.startswith("/_sandbox/"):
            return self._control(request)
        entry, step, injected = self._inject(request, server)
        if injected is not None:
            return injected
        denied = self._authorize(request)
        if denied is not None:
            return self._finish(entry, denied)
        with self._lock:
            reply = self._route(request)
        self._finish(entry, reply)
        if step is not None and step.get("drop_response"):
            return CLOSE
        return reply

    def _random_error(self, status: int) -> Reply:
        return Reply.json(status, error_envelope(status, "Internal Server Error"))

    def _fault_reply(self, step: dict) -> Reply:
        status = int(step["status"])
        headers = {str(k): str(v) for k, v in (step.get("headers") or {}).items()}
        if "body" in step:
            return crafted_reply(step, status, "application/json", headers)
        if status == 429:
            # Dynatrace throttles by capacity and documents no rate-limit headers; Retry-After is
            # the generic hint a gateway would add. The step's headers win.
            return Reply.json(429, error_envelope(429, "Too Many Requests"), headers={"Retry-After": "1", **headers})
        messages = {401: "Missing authorization parameter.", 403: "Token is missing required scope.",
                    404: "Not found", 409: "Conflict"}
        return Reply.json(status, error_envelope(status, messages.get(status, f"injected {status}")), headers=headers)

    def _authorize(self, request: Request) -> Reply | None:
        header = request.header("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            self.counters.unauthorized += 1
            return Reply.json(401, error_envelope(401, "Missing authorization parameter."))
        if token.strip() != self.token:
            self.counters.unauthorized += 1
            return Reply.json(401, error_envelope(401, "Token Authentication failed"))
        needed = self._scope_for(request)
        with self._lock:
            granted = needed is None or needed in self._scopes
        if not granted:
            self.counters.forbidden += 1
            return Reply.json(403, error_envelope(403, f"Token is missing required scope. Use one of: {needed}"))
        return None

    @staticmethod
    def _scope_for(request: Request) -> str | None:
        reading = request.method == "GET"
        if request.path.startswith(SETTINGS_PATH):
            return SCOPE_READ if reading else SCOPE_WRITE
        if request.path.startswith(MONITORING_PATH):
            return SCOPE_CONFIG_READ if reading else SCOPE_CONFIG_WRITE
        return None

    # ------------------------------------------------------------------ routes
    def _route(self, request: Request) -> Reply:
        path, method = request.path, request.method
        for collection, one, many in ((SETTINGS_PATH, self._object_route, self._objects_route),
                                      (MONITORING_PATH, self._config_route, self._configs_route)):
            if path == collection:
                return many(request)
            if path.startswith(collection + "/") and "/" not in path[len(collection) + 1:]:
                return one(urllib.parse.unquote(path[len(collection) + 1:]), request)
        return Reply.json(404, error_envelope(404, f"{method} {path} not found"))

    @staticmethod
    def _body(request: Request) -> tuple[Any, Reply | None]:
        try:
            return json.loads(request.body.decode("utf-8")), None
        except (ValueError, UnicodeDecodeError):
            return None, Reply.json(400, error_envelope(400, "Could not parse JSON request body"))

    # settings objects ---------------------------------------------------
    def _objects_route(self, request: Request) -> Reply:
        if request.method == "GET":
            return self._list(request)
        if request.method == "POST":
            return self._post(request)
        return Reply.json(405, error_envelope(405, "Method not allowed"))

    def _object_route(self, oid: str, request: Request) -> Reply:
        if request.method == "GET":
            obj = self._objects.get(oid)
            if obj is None:
                return self._no_object(oid)
            return Reply.json(200, copy.deepcopy(obj))
        if request.method == "PUT":
            return self._put(oid, request)
        if request.method == "DELETE":
            obj = self._objects.get(oid)
            if obj is None:
                return self._no_object(oid)
            token = request.query.get("updateToken", [None])[0]
            if token is not None and token != obj["updateToken"]:
                self.counters.conflicts += 1
                return Reply.json(409, error_envelope(409, "The object was modified meanwhile (updateToken mismatch)"))
            del self._objects[oid]
            self.counters.deleted += 1
            return Reply(204)
        return Reply.json(405, error_envelope(405, "Method not allowed"))

    @staticmethod
    def _no_object(oid: str) -> Reply:
        return Reply.json(404, error_envelope(404, f"Setting not found (no object available for objectId {oid})"))

    def _list(self, request: Request) -> Reply:
        query = request.query
        if "nextPageKey" in query:
            if set(query) != {"nextPageKey"}:
                return Reply.json(400, error_envelope(
                    400, "nextPageKey must be the only query parameter when it is set"))
            page = self._pages.get(query["nextPageKey"][0])
            if page is None:
                return Reply.json(400, error_envelope(400, "Invalid nextPageKey"))
            schemas, fields, size, offset = page
        else:
            schemas = [s for s in (query.get("schemaIds", [""])[0]).split(",") if s]
            if not schemas and not query.get("scopes"):
                return Reply.json(400, error_envelope(400, "schemaIds or scopes must be set to load the first page"))
            unknown = [s for s in schemas if s != CONNECTION_SCHEMA]
            if unknown:
                return Reply.json(404, error_envelope(404, f"Schema(s) not found: {', '.join(unknown)}"))
            fields = [f for f in (query.get("fields", ["objectId,value"])[0]).split(",") if f]
            bad = [f for f in fields if f not in LIST_FIELDS]
            if bad:
                return Reply.json(400, error_envelope(400, f"Unsupported field(s): {', '.join(bad)}"))
            try:
                size = int(query.get("pageSize", [str(DEFAULT_PAGE_SIZE)])[0])
            except ValueError:
                size = -1
            if not 1 <= size <= MAX_PAGE_SIZE:
                return Reply.json(400, error_envelope(400, f"pageSize must be between 1 and {MAX_PAGE_SIZE}"))
            offset = 0
        matching = [o for o in self._objects.values() if o["schemaId"] in schemas or not schemas]
        served = min(size, self._page_cap)
        items = [{k: copy.deepcopy(o[k]) for k in fields if k in o} for o in matching[offset:offset + served]]
        body: dict[str, Any] = {"items": items, "totalCount": len(matching), "pageSize": served}
        if offset + served < len(matching):
            key = base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode()
            self._pages[key] = (schemas, fields, size, offset + served)
            body["nextPageKey"] = key
        return Reply.json(200, body)

    def _post(self, request: Request) -> Reply:
        body, error = self._body(request)
        if error:
            return error
        if not isinstance(body, list) or not body:
            return Reply.json(400, error_envelope(400, "The request body must be a non-empty list of settings objects"))
        results, created = [], 0
        for item in body:
            result = self._post_one(item)
            created += result["code"] == 200
            results.append(result)
        status = 200 if created == len(results) else (400 if created == 0 else 207)
        return Reply.json(status, results)

    def _post_one(self, item: Any) -> dict:
        def failed(code: int, message: str, violations: list[dict] | None = None) -> dict:
            return {"code": code, "error": error_envelope(code, message, violations)["error"],
                    "invalidValue": copy.deepcopy(item.get("value") if isinstance(item, dict) else item)}

        if not isinstance(item, dict):
            return failed(400, "A settings object must be a JSON object")
        if item.get("schemaId") != CONNECTION_SCHEMA:
            return failed(404, f"Schema not found: {item.get('schemaId')}")
        if item.get("scope", "environment") != "environment":
            return failed(400, "Scope not allowed for this schema: allowed scopes: environment")
        if len(self._objects) >= MAX_OBJECTS:
            return failed(400, f"The maximum number of objects ({MAX_OBJECTS}) has been reached")
        value = item.get("value")
        violations = self._validate_connection(value, None)
        if violations:
            return failed(400, "Constraints violated.", violations)
        rejection = self._assume_role(value)
        if rejection:
            return failed(self._role_status, "Validation failed", [rejection])
        obj = self._store(value)
        self.counters.created += 1
        return {"code": 200, "objectId": obj["objectId"]}

    def _store(self, value: dict) -> dict:
        oid = object_id(CONNECTION_SCHEMA, "environment")
        now = _now_ms()
        obj = {"objectId": oid, "updateToken": _update_token(), "version": "1", "schemaId": CONNECTION_SCHEMA,
               "schemaVersion": SCHEMA_VERSION, "scope": "environment",
               "modificationInfo": {"deletable": True, "modifiable": True, "movable": False,
                                    "createdBy": "registrar-token", "createdTime": now,
                                    "lastModifiedBy": "registrar-token", "lastModifiedTime": now},
               "summary": value.get("name", ""), "value": copy.deepcopy(value)}
        self._objects[oid] = obj
        return obj

    def _put(self, oid: str, request: Request) -> Reply:
        obj = self._objects.get(oid)
        if obj is None:
            return self._no_object(oid)
        body, error = self._body(request)
        if error:
            return error
        if not isinstance(body, dict) or not isinstance(body.get("value"), dict):
            return Reply.json(400, error_envelope(400, "The request body must be an object with a value"))
        token = body.get("updateToken")
        if token is not None and token != obj["updateToken"]:
            self.counters.conflicts += 1
            return Reply.json(409, error_envelope(409, "The object was modified meanwhile (updateToken mismatch)"))
        value = body["value"]
        violations = self._validate_connection(value, obj)
        if violations:
            return Reply.json(400, error_envelope(400, "Constraints violated.", violations))
        old_arn = (obj["value"].get("awsRoleBasedAuthentication") or {}).get("roleArn", "")
        new_arn = (value.get("awsRoleBasedAuthentication") or {}).get("roleArn", "")
        if new_arn and new_arn != old_arn:
            rejection = self._assume_role(value)
            if rejection:
                return Reply.json(self._role_status, error_envelope(self._role_status, "Validation failed", [rejection]))
        obj["value"] = copy.deepcopy(value)
        obj["summary"] = value.get("name", "")
        obj["updateToken"] = _update_token()
        obj["version"] = str(int(obj["version"]) + 1)
        obj["modificationInfo"]["lastModifiedTime"] = _now_ms()
        self.counters.updated += 1
        return Reply.json(200, {"code": 200, "objectId": oid})

    def _validate_connection(self, value: Any, stored: dict | None) -> list[dict]:
        if not isinstance(value, dict):
            return [violation("", "The value must be an object")]
        out = []
        name = value.get("name")
        if not isinstance(name, str) or not 3 <= len(name) <= 100:
            out.append(violation("name", "Text length must be between 3 and 100 characters"))
        elif ":" in name:
            out.append(violation("name", "Text must not contain ':'"))
        elif any(o["value"].get("name") == name for o in self._objects.values()
                 if stored is None or o["objectId"] != stored["objectId"]):
            out.append(violation("name", NAME_TAKEN))
        kind = value.get("type")
        if kind not in CONNECTION_TYPES:
            out.append(violation("type", f"Value must be one of {', '.join(CONNECTION_TYPES)}"))
        elif stored is not None and kind != stored["value"].get("type"):
            out.append(violation("type", "The value of this property cannot be modified"))
        if kind == "awsRoleBasedAuthentication":
            auth = value.get("awsRoleBasedAuthentication")
            if not isinstance(auth, dict):
                out.append(violation("awsRoleBasedAuthentication", "Required property missing"))
                return out
            arn = auth.get("roleArn")
            if not isinstance(arn, str) or not ROLE_ARN_PATTERN.search(arn):
                out.append(violation("awsRoleBasedAuthentication/roleArn",
                                     f"Text must match pattern {ROLE_ARN_PATTERN.pattern}"))
            elif stored is not None:
                old = (stored["value"].get("awsRoleBasedAuthentication") or {}).get("roleArn", "")
                if old and arn != old:
                    out.append(violation("awsRoleBasedAuthentication/roleArn",
                                         "AWS Role ARN is already set and cannot be changed"))
            consumers = auth.get("consumers", ["SVC:com.dynatrace.da"])
            if not isinstance(consumers, list) or any(c not in CONSUMERS for c in consumers):
                out.append(violation("awsRoleBasedAuthentication/consumers",
                                     f"Values must be among {', '.join(CONSUMERS)}"))
        return out

    def _assume_role(self, value: dict) -> dict | None:
        """Dynatrace assumes the role to validate it; fails while IAM 'propagates'."""
        arn = (value.get("awsRoleBasedAuthentication") or {}).get("roleArn", "")
        if not arn:
            return None
        now = time.monotonic()
        state = self._role_attempts.setdefault(arn, {"attempts": 0, "first": now})
        state["attempts"] += 1
        if state["attempts"] <= self._role_failures or now - state["first"] < self._role_seconds:
            self.counters.role_rejections += 1
            request_id = uuid.uuid4()
            return violation("awsRoleBasedAuthentication/roleArn",
                             f"Unable to assume role {arn}: Not authorized to perform sts:AssumeRoleWithWebIdentity "
                             f"(Service: Sts, Status Code: 403, Request ID: {request_id}) (AccessDenied)")
        return None

    # monitoring configurations -----------------------------------------
    def _configs_route(self, request: Request) -> Reply:
        if request.method == "GET":
            items = [{k: copy.deepcopy(c[k]) for k in ("objectId", "scope", "value")} for c in self._configs.values()]
            return Reply.json(200, {"items": items, "totalCount": len(items), "pageSize": len(items)})
        if request.method == "POST":
            body, error = self._body(request)
            if error:
                return error
            if not isinstance(body, dict) or not isinstance(body.get("scope"), str) \
                    or not isinstance(body.get("value"), dict):
                return Reply.json(400, error_envelope(400, "scope and value are required"))
            problem = self._validate_config(body["value"])
            if problem:
                return Reply.json(400, error_envelope(400, "Constraints violated.", [problem]))
            config = self._create_config(body["scope"], body["value"])
            return Reply.json(201, {"objectId": config["objectId"], "code": 201})
        return Reply.json(405, error_envelope(405, "Method not allowed"))

    def _create_config(self, scope: str, value: dict) -> dict:
        cid = object_id(f"ext:{EXTENSION}", scope)
        now = _now_ms()
        config = {"objectId": cid, "scope": scope, "updateToken": _update_token(),
                  "modificationInfo": {"createdBy": "admin", "createdTime": now,
                                       "lastModifiedBy": "admin", "lastModifiedTime": now},
                  "value": copy.deepcopy(value)}
        self._configs[cid] = config
        return config

    def _config_route(self, cid: str, request: Request) -> Reply:
        config = self._configs.get(cid)
        if config is None:
            return Reply.json(404, error_envelope(404, f"Monitoring configuration {cid} not found"))
        if request.method == "GET":
            return Reply.json(200, copy.deepcopy(config))
        if request.method == "DELETE":
            del self._configs[cid]
            return Reply(204)
        if request.method != "PUT":
            return Reply.json(405, error_envelope(405, "Method not allowed"))
        body, error = self._body(request)
        if error:
            return error
        if not isinstance(body, dict) or not isinstance(body.get("value"), dict):
            return Reply.json(400, error_envelope(400, "The request body must be an object with a value"))
        if "scope" in body and body["scope"] != config["scope"]:
            return Reply.json(400, error_envelope(400, "Monitoring configuration scope cannot be updated"))
        token = body.get("updateToken")
        if token is not None and token != config["updateToken"]:
            self.counters.conflicts += 1
            return Reply.json(409, error_envelope(
                409, "The monitoring configuration was modified meanwhile (updateToken mismatch); read it again"))
        problem = self._validate_config(body["value"])
        if problem:
            return Reply.json(400, error_envelope(400, "Constraints violated.", [problem]))
        config["value"] = copy.deepcopy(body["value"])
        config["updateToken"] = _update_token()
        config["modificationInfo"]["lastModifiedTime"] = _now_ms()
        self.counters.config_writes += 1
        return Reply.json(200, {"objectId": cid, "code": 200})

    @staticmethod
    def _validate_config(value: dict) -> dict | None:
        aws = value.get("aws")
        if aws is None:
            return None
        if not isinstance(aws, dict):
            return violation("aws", "Must be an object")
        credentials = aws.get("credentials", [])
        if not isinstance(credentials, list):
            return violation("aws/credentials", "Must be a list")
        for i, entry in enumerate(credentials):
            if not isinstance(entry, dict) or not isinstance(entry.get("connectionId"), str) \
                    or not isinstance(entry.get("enabled"), bool):
                return violation(f"aws/credentials/{i}", "Each credential needs a connectionId and enabled")
            if "accountId" in entry and not (isinstance(entry["accountId"], str)
                                             and _ACCOUNT_ID_RE.match(entry["accountId"])):
                return violation(f"aws/credentials/{i}/accountId", "Must be a 12-digit AWS account id")
        return None

    # ------------------------------------------------------------------ HTTP control API
    def _control(self, request: Request) -> Reply:
        path, method = request.path, request.method
        try:
            body = request.json() if request.body else {}
        except ValueError:
            return Reply.json(400, {"error": "body is not JSON"})
        if path == "/_sandbox/state" and method == "GET":
            with self._lock:
                state = {"environment": self.environment_host, "connections": copy.deepcopy(list(self._objects.values())),
                         "monitoringConfigurations": copy.deepcopy(list(self._configs.values())),
                         "counters": self.counters.__dict__.copy()}
            state["counters"]["by_status"] = {str(k): v for k, v in state["counters"]["by_status"].items()}
            return Reply.json(200, state)
        if path == "/_sandbox/connections" and method == "POST":
            return Reply.json(200, {"objectId": self.seed_connection(body.get("name", "seeded"),
                                                                     body.get("roleArn", ""))})
        if path == "/_sandbox/monitoring-configurations" and method == "POST":
            return Reply.json(200, {"objectId": self.add_monitoring_config(body.get("description", "AWS monitoring"),
                                                                           body.get("credentials"))})
        if path == "/_sandbox/role-validation" and method == "POST":
            self.set_role_validation(int(body.get("failures", 0)), float(body.get("seconds", 0.0)),
                                     int(body.get("status", 400)))
            return Reply.json(200, {"ok": True})
        if path == "/_sandbox/faults" and method == "POST":
            self.add_fault(body.get("method", "*"), body.get("path_prefix", "/platform/"), body.get("steps", []),
                           bool(body.get("repeat", False)))
            return Reply.json(200, {"ok": True})
        if path == "/_sandbox/reset" and method == "POST":
            self.reset()
            return Reply.json(200, {"ok": True})
        return Reply.json(404, {"error": "unknown control endpoint"})
