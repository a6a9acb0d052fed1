"""Emulator of one Dynatrace SaaS environment: AWS connections and AWS monitoring configurations.

By default it does what Dynatrace documents, and nothing more (docs/dynatrace-api.md lists each
fact with its public source; the comments below name the source of each behaviour):

- Settings 2.0 objects on the platform host, `Authorization: Bearer <platform token>`
  (Settings API reference, docs.dynatrace.com/docs/dynatrace-api/environment-api/settings):
  `GET/POST .../platform/classic/environment-api/v2/settings/objects` and
  `GET/PUT/DELETE .../settings/objects/{objectId}`.
  * List: `schemaIds` (or `nextPageKey` *alone*), `fields` (replaces the default
    `objectId,value`; the documented field names only), `pageSize` (max 500, default 100);
    answers `{"items", "totalCount", "pageSize", "nextPageKey"?}` with the *accessible*
    objects only.
  * POST takes a list of objects and answers a list of per-item results
    (`{"code", "objectId"}` or `{"code", "error", "invalidValue"}`) with HTTP 200 when all
    succeeded, 207 when some did, 400 when none did. `validateOnly=true` validates without
    saving (`{"code": 200}` per valid item).
  * objectIds are server-generated, base64url-like, never `:`; every object carries an
    `updateToken` that changes on each write; a PUT or DELETE that presents a stale one
    answers 409; one that presents none is unconditional (GET/PUT/DELETE object pages).
  * GET by id answers the documented `SettingsObjectByObjectIdResponse` fields, among them
    `owner` (an `Identity`: `{"type": "user", "id"}`), `createdBy`, `modifiedBy`,
    `resourceContext.operations`; DELETE answers 204, or 404 for an unknown id.
- Owner-based access control (the schema's `"ownerBasedAccessControl": true`; "Owner-based
  access control" and the object-permission pages): every token belongs to a user; an object
  belongs to the user whose token created it and is accessible to its owner and to those it is
  shared with (`share`, read or read-write). The list leaves the others out; GET, PUT and DELETE
  of an object the token cannot access answer 404 "No object available for the given
  objectId" (`set_hidden_status(403)` answers the other documented code, "Forbidden", instead);
  a write to an object shared read-only answers 403.
- The schema `builtin:hyperscaler-authentication.connections.aws` (the Terraform provider's
  copy of it, dynatrace-oss/terraform-provider-dynatrace): `name` 3-100 characters, no `:`,
  unique (per-item 400 "There is another connection defined under this name."): the schema's
  UNIQUE constraint names no owner, so by default among all of the schema's objects, and with
  `set_names_unique_per_owner(True)` among one owner's only (nothing public says which);
  `type` cannot change;
  `roleArn` must match the schema pattern, may be empty, cannot be changed once set (the
  Terraform provider's finding); a new non-empty role ARN is validated by assuming the role,
  which fails with 400 while IAM propagates (`set_role_validation`); `maxObjects` 3000.
- Monitoring configurations of `com.dynatrace.extension.da-aws`
  (`/platform/extensions/v2/extensions/com.dynatrace.extension.da-aws/monitoring-configurations`,
  the platform Extensions 2.0 API reference): GET returns `objectId`, `scope`, `value` and
  `modificationInfo`; PUT takes `{value}` and overwrites (no token, no 409: last writer
  wins); POST takes `{scope, value}` and answers 201 with the new `objectId`; DELETE answers 204
  and removes the connection the configuration maps when it maps exactly one ("Manage your AWS
  connections via API": deleting a monitoring configuration removes its mapped AWS connection in
  the background, each connection being paired one-to-one with a configuration; the delay is
  `set_connection_removal_delay`, 0 by default; what happens to the connections of a
  configuration that lists several is not documented: `set_delete_removes_every_connection`);
  the list pages with `page-size` (default 20, max 500) and `page-key` alone, the next key in
  `nextPageKey` (`set_next_page_key_field("next-page-key")` answers the other spelling). Errors
  are the platform APIs' envelope, violations under `error.details.constraintViolations`.
  `…/{id}/status` and `…/statuses` answer the latest execution status (`OK`, `PENDING`,
  `WARNING`, `ERROR`, `UNKNOWN`): here `OK` for an enabled configuration whose connections exist
  with a role bound, `PENDING` during `set_status_pending(s)` after it was written, `ERROR` for an
  enabled one that cannot poll, `UNKNOWN` for a disabled one, or what `set_config_status` says.
  The value is not validated beyond being an object (`set_strict_credentials(True)` checks each
  credential's fields). Nothing in the docs restricts configurations by owner, and nothing here
  does. `add_monitoring_config` makes a disabled configuration by default, as the organisation
  blueprint is documented (`"enabled": false`).
- Ingest (`sandbox/dynatrace_ingest.py`): generic events and Firehose logs, each checking the
  token type and scope it documents.
- Auth: no or a malformed `Authorization` header, or an unknown token → 401; a token without
  the scope the call needs (`revoke_scope`) → 403. Error bodies are Dynatrace's
  `ErrorEnvelope` `{"error": {"code", "message", "constraintViolations"?}}`.

Test control (plain methods; plus a small HTTP API under `/_sandbox/`): tokens of other users,
sharing, seeded connections and monitoring configurations, out-of-band removals, a latency
jitter on every API answer (`set_latency`), a concurrent writer that puts back a stale copy of
a monitoring configuration after the next write to it (`stale_writer`, the documented
last-writer-wins race made deterministic), faults (the shared step vocabulary of `faults.py`),
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

from .dynatrace_configs import (EXTENSION, MONITORING_PATH, MonitoringConfigs, _now_ms, _update_token,  # noqa: F401
                                error_envelope, object_id, platform_error, violation)
from .dynatrace_ingest import INGEST_PATHS, IngestEndpoints
from .faults import BAD_GATEWAY_PAGE, FaultRule, LoggedRequest, VendorFaults, crafted_reply
from .httpd import CLOSE, BackgroundServer, Reply, Request, ServedApp

SETTINGS_PATH = "/platform/classic/environment-api/v2/settings/objects"
CONNECTION_SCHEMA = "builtin:hyperscaler-authentication.connections.aws"
CONNECTION_TYPES = ("awsRoleBasedAuthentication", "awsWebIdentity")
# The consumers enum of the schema's versions, as dynatrace-oss/terraform-provider-dynatrace
# carries them (dynatrace/api/builtin/hyperscalerauthentication/connections/aws/schema.json):
# 0.0.25, and 0.0.26 (commit 0fc2f1235, "update to v0.0.26"), which dropped APP:dynatrace.biz.carbon. Checked only with `set_consumer_schema(version)`: which
# version a real environment runs is not knowable, and Registrar keeps whatever consumers it finds.
CONSUMERS_BY_SCHEMA = {
    "0.0.25": ("SVC:com.dynatrace.da", "DA", "APP:dynatrace.biz.carbon", "SVC:com.dynatrace.bo",
               "SVC:com.dynatrace.openpipeline", "SVC:com.dynatrace.grail", "NONE"),
    "0.0.26": ("SVC:com.dynatrace.da", "DA", "SVC:com.dynatrace.bo",
               "SVC:com.dynatrace.openpipeline", "SVC:com.dynatrace.grail", "NONE"),
}
ROLE_ARN_PATTERN = re.compile(r"^$|arn:aws:iam::(?:aws|\d+?):role\/.*$")  # the schema's pattern
NAME_TAKEN = "There is another connection defined under this name."  # the schema's customMessage
NO_OBJECT = "No object available for the given objectId"
MAX_OBJECTS = 3000  # the schema's maxObjects
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 100, 500
# The fields the list may be asked for (GET objects reference).
LIST_FIELDS = ("objectId", "summary", "searchSummary", "created", "modified", "createdBy", "modifiedBy",
               "author", "updateToken", "scope", "modificationInfo", "resourceContext", "owner", "schemaId",
               "schemaVersion", "value", "externalId")
SCHEMA_VERSION = "0.0.25"

SCOPE_READ, SCOPE_WRITE = "settings:objects:read", "settings:objects:write"
SCOPE_CONFIG_READ, SCOPE_CONFIG_WRITE = "extensions:configurations:read", "extensions:configurations:write"
ALL_SCOPES = (SCOPE_READ, SCOPE_WRITE, SCOPE_CONFIG_READ, SCOPE_CONFIG_WRITE)


@dataclass
class Counters:
    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    faults_served: int = 0
    unauthorized: int = 0
    forbidden: int = 0
    hidden: int = 0  # requests for an object the token's user cannot access
    created: int = 0
    validated: int = 0  # validateOnly POSTs
    updated: int = 0
    deleted: int = 0
    conflicts: int = 0  # 409s for a stale updateToken (connections)
    role_rejections: int = 0  # 400s while the role "propagates"
    config_writes: int = 0
    configs_created: int = 0
    configs_deleted: int = 0
    stale_writes: int = 0  # stale copies put back by `stale_writer`
    removed_with_config: int = 0  # connections removed because their configuration was deleted


class DynatraceEmulator(MonitoringConfigs, ServedApp, VendorFaults):
    """One Dynatrace environment, served over HTTP on 127.0.0.1."""

    MALFORMED_BODY = BAD_GATEWAY_PAGE + b"\n{\"items\":"
    MALFORMED_TYPE = "application/json"

    def __init__(self, token: str, environment_host: str = "abc12345.apps.dynatrace.com",
                 seed: int | None = None) -> None:
        self.token = token
        # The user the sandbox's token belongs to: a service user, as the deploy guide asks.
        self.user = str(uuid.uuid4())
        self.environment_host = environment_host
        self._lock = threading.RLock()
        self._random = random.Random(seed)
        self._server = BackgroundServer(self, name="dynatrace")
        self.ingest = IngestEndpoints()
        self.reset()

    # ------------------------------------------------------------------ lifecycle
    def reset(self) -> None:
        """Forget objects, configurations, other tokens, faults, logs, counters; all scopes granted."""
        with self._lock:
            self._tokens: dict[str, str] = {self.token: self.user}
            self._objects: dict[str, dict] = {}  # connections (settings objects), in creation order
            self._shares: dict[str, dict[str, str]] = {}  # objectId -> {user or "all-users": "r"|"rw"}
            self._configs: dict[str, dict] = {}  # monitoring configurations
            self._pages: dict[str, tuple[list[str], list[str], int, int]] = {}
            self._config_pages: dict[str, tuple[int, int]] = {}
            self._due: list[tuple[float, str, Any]] = []  # (when, what, argument): background work
            self._stale: dict[str, float] = {}  # config id -> delay of the stale writer armed for it
            self._faults: list[FaultRule] = []
            self._error_rate = 0.0
            self._scopes = set(ALL_SCOPES)
            self._page_cap = MAX_PAGE_SIZE
            self._hidden_status = 404
            self._latency = (0.0, 0.0)
            self._removal_delay = 0.0
            self._role_failures, self._role_seconds, self._role_status = 0, 0.0, 400
            self._role_attempts: dict[str, dict] = {}
            self._names_per_owner = False
            self._consumer_schema: str | None = None
            self._strict_credentials = False
            self._delete_removes_all = False
            self._next_key_field = "nextPageKey"
            self._status_override: dict[str, str] = {}
            self._pending_s = 0.0
            self._written_at: dict[str, float] = {}
            self.requests: list[LoggedRequest] = []
            self.counters = Counters()
        if hasattr(self, "ingest"):
            self.ingest.reset()

    # ------------------------------------------------------------------ test control
    def add_token(self, token: str, user: str | None = None) -> str:
        """A platform token of another user (a new one unless given); returns the user's id."""
        user = user or str(uuid.uuid4())
        with self._lock:
            self._tokens[token] = user
        return user

    def share(self, oid: str, user: str = "all-users", write: bool = True) -> None:
        """Share a connection with `user` (or every user), read-write or read-only."""
        with self._lock:
            self._shares.setdefault(oid, {})[user] = "rw" if write else "r"

    def transfer(self, oid: str, user: str) -> None:
        """Transfer a connection's ownership (the previous owner loses access unless shared)."""
        with self._lock:
            self._objects[oid]["owner"] = {"type": "user", "id": user}

    def set_hidden_status(self, status: int) -> None:
        """What GET, PUT and DELETE answer for an object the token cannot access: 404 (default) or 403."""
        assert status in (403, 404)
        with self._lock:
            self._hidden_status = status

    def set_names_unique_per_owner(self, on: bool = True) -> None:
        """Connection names unique among one owner's connections only (the other reading of the
        schema's UNIQUE constraint, which names no owner)."""
        with self._lock:
            self._names_per_owner = on

    def set_consumer_schema(self, version: str | None) -> None:
        """Check consumers against that schema version's enum (None: do not check)."""
        assert version is None or version in CONSUMERS_BY_SCHEMA
        with self._lock:
            self._consumer_schema = version

    def set_strict_credentials(self, on: bool = True) -> None:
        """Refuse a configuration whose credentials lack connectionId or enabled, or whose
        accountId is not 12 digits (undocumented; off by default)."""
        with self._lock:
            self._strict_credentials = on

    def set_latency(self, min_ms: float, max_ms: float) -> None:
        """Every API answer waits a uniformly random time in [min_ms, max_ms] (jitter)."""
        with self._lock:
            self._latency = (min_ms / 1000.0, max_ms / 1000.0)

    def set_connection_removal_delay(self, seconds: float) -> None:
        """How long after a monitoring configuration is deleted its connections are removed."""
        with self._lock:
            self._removal_delay = seconds

    def stale_writer(self, config_id: str, delay_s: float = 0.3) -> None:
        """Arms a concurrent writer of monitoring configuration `config_id`: it read the
        configuration just before the next PUT to it, and writes that copy back `delay_s` after
        that PUT, undoing it (last writer wins, as documented)."""
        with self._lock:
            self._stale[config_id] = delay_s

    def set_role_validation(self, failures: int = 0, seconds: float = 0.0, status: int = 400) -> None:
        """Make Dynatrace's assume-role check of a newly set role ARN fail (IAM propagation):
        the first `failures` attempts per ARN, and every attempt within `seconds` of the first."""
        with self._lock:
            self._role_failures, self._role_seconds, self._role_status = failures, seconds, status
            self._role_attempts.clear()

    def revoke_scope(self, scope: str) -> None:
        """The tokens lose a scope: calls that need it answer 403."""
        with self._lock:
            self._scopes.discard(scope)

    def set_page_cap(self, size: int) -> None:
        """Serve at most `size` settings objects or configurations per page (to exercise paging)."""
        with self._lock:
            self._page_cap = size

    def set_error_rate(self, rate: float) -> None:
        with self._lock:
            self._error_rate = rate

    def seed_connection(self, name: str, role_arn: str = "", consumers: list[str] | None = None,
                        type_: str = "awsRoleBasedAuthentication", owner: str | None = None) -> str:
        """Create a connection directly (as someone else would have, with a token of `owner`,
        by default the sandbox token's user); returns its objectId."""
        value: dict[str, Any] = {"name": name, "type": type_}
        if type_ == "awsRoleBasedAuthentication":
            value["awsRoleBasedAuthentication"] = {"roleArn": role_arn,
                                                   "consumers": list(consumers or ["SVC:com.dynatrace.da"])}
        with self._lock:
            return self._store(value, owner or self.user)["objectId"]

    def connections(self) -> list[dict]:
        """Every connection, whoever owns it, as the GET-object API returns it (copies)."""
        with self._lock:
            self._run_due()
            return copy.deepcopy(list(self._objects.values()))

    def connection(self, oid: str) -> dict | None:
        with self._lock:
            self._run_due()
            obj = self._objects.get(oid)
            return copy.deepcopy(obj) if obj else None

    def find_connection(self, name: str) -> dict | None:
        with self._lock:
            self._run_due()
            return next((copy.deepcopy(o) for o in self._objects.values() if o["value"]["name"] == name), None)

    def remove_connection(self, oid: str) -> None:
        """Delete a connection out of band (someone removed it in Settings)."""
        with self._lock:
            del self._objects[oid]
            self._shares.pop(oid, None)

    def requests_matching(self, method: str = "*", path_prefix: str = "/platform/") -> list[LoggedRequest]:
        return super().requests_matching(method, path_prefix)

    # ------------------------------------------------------------------ HTTP
    def handle(self, request: Request, server: BackgroundServer) -> Any:
        if request.path.startswith("/_sandbox/"):
            return self._control(request)
        entry, step, injected = self._inject(request, server)
        if injected is not None:
            return injected
        if request.path in INGEST_PATHS:
            reply = self.ingest.handle(request)
            self._finish(entry, reply)
            return reply
        with self._lock:
            low, high = self._latency
            wait = self._random.uniform(low, high) if high > 0 else 0.0
        if wait and server.stopping.wait(wait):
            return CLOSE
        user, denied = self._authorize(request)
        if denied is not None:
            return self._finish(entry, denied)
        with self._lock:
            self._run_due()
            reply = self._route(request, user)
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

    def _authorize(self, request: Request) -> tuple[str, Reply | None]:
        header = request.header("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            self.counters.unauthorized += 1
            return "", Reply.json(401, error_envelope(401, "Missing authorization parameter."))
        with self._lock:
            user = self._tokens.get(token.strip())
        if user is None:
            self.counters.unauthorized += 1
            return "", Reply.json(401, error_envelope(401, "Token Authentication failed"))
        needed = self._scope_for(request)
        with self._lock:
            granted = needed is None or needed in self._scopes
        if not granted:
            self.counters.forbidden += 1
            return user, Reply.json(403, error_envelope(403, f"Token is missing required scope. Use one of: {needed}"))
        return user, None

    @staticmethod
    def _scope_for(request: Request) -> str | None:
        reading = request.method == "GET"
        if request.path.startswith(SETTINGS_PATH):
            return SCOPE_READ if reading else SCOPE_WRITE
        if request.path.startswith(MONITORING_PATH):
            return SCOPE_CONFIG_READ if reading else SCOPE_CONFIG_WRITE
        return None

    # ------------------------------------------------------------------ background work
    def _run_due(self) -> None:
        """Does the background work whose time has come (caller holds the lock)."""
        now = time.monotonic()
        due = [d for d in self._due if d[0] <= now]
        self._due = [d for d in self._due if d[0] > now]
        for _, what, argument in sorted(due, key=lambda d: d[0]):
            if what == "remove-connection" and argument in self._objects:
                del self._objects[argument]
                self._shares.pop(argument, None)
                self.counters.removed_with_config += 1
            elif what == "stale-write":
                config_id, value = argument
                if config_id in self._configs:
                    self._configs[config_id]["value"] = value
                    self.counters.stale_writes += 1

    def _later(self, delay: float, what: str, argument: Any) -> None:
        self._due.append((time.monotonic() + delay, what, argument))
        if delay <= 0:
            self._run_due()

    # ------------------------------------------------------------------ routes
    def _route(self, request: Request, user: str) -> Reply:
        path, method = request.path, request.method
        if path.startswith(MONITORING_PATH + "/") and method == "GET":
            rest = urllib.parse.unquote(path[len(MONITORING_PATH) + 1:])
            if rest == "statuses":
                return Reply.json(200, {"items": [
                    {"configurationId": cid, "status": self._status(cid), "timestamp": str(_now_ms())}
                    for cid in self._configs]})
            cid, _, tail = rest.partition("/")
            if tail == "status":
                if cid not in self._configs:
                    return Reply.json(404, platform_error(404, f"Monitoring configuration {cid} not found"))
                return Reply.json(200, {"status": self._status(cid), "timestamp": str(_now_ms())})
        for collection, one, many in ((SETTINGS_PATH, self._object_route, self._objects_route),
                                      (MONITORING_PATH, self._config_route, self._configs_route)):
            if path == collection:
                return many(request, user)
            if path.startswith(collection + "/") and "/" not in path[len(collection) + 1:]:
                return one(urllib.parse.unquote(path[len(collection) + 1:]), request, user)
        return Reply.json(404, error_envelope(404, f"{method} {path} not found"))

    @staticmethod
    def _body(request: Request) -> tuple[Any, Reply | None]:
        try:
            return json.loads(request.body.decode("utf-8")), None
        except (ValueError, UnicodeDecodeError):
            return None, Reply.json(400, error_envelope(400, "Could not parse JSON request body"))

    # settings objects ---------------------------------------------------
    def _access(self, obj: dict, user: str) -> str:
        """What `user` may do with `obj`: "rw", "r" or "" (owner-based access control)."""
        if obj["owner"].get("id") == user:
            return "rw"
        shares = self._shares.get(obj["objectId"], {})
        granted = {shares.get(user, ""), shares.get("all-users", "")}
        return "rw" if "rw" in granted else ("r" if "r" in granted else "")

    def _visible(self, oid: str, user: str) -> dict | None:
        obj = self._objects.get(oid)
        return obj if obj is not None and self._access(obj, user) else None

    def _hidden(self, oid: str) -> Reply:
        if oid in self._objects:
            self.counters.hidden += 1
        if self._hidden_status == 403 and oid in self._objects:
            return Reply.json(403, error_envelope(403, "Forbidden"))
        return Reply.json(404, error_envelope(404, f"Setting not found ({NO_OBJECT}: {oid})"))

    def _objects_route(self, request: Request, user: str) -> Reply:
        if request.method == "GET":
            return self._list(request, user)
        if request.method == "POST":
            return self._post(request, user)
        return Reply.json(405, error_envelope(405, "Method not allowed"))

    def _object_route(self, oid: str, request: Request, user: str) -> Reply:
        obj = self._visible(oid, user)
        if obj is None:
            return self._hidden(oid)
        if request.method == "GET":
            return Reply.json(200, self._view(obj, user))
        if request.method not in ("PUT", "DELETE"):
            return Reply.json(405, error_envelope(405, "Method not allowed"))
        if self._access(obj, user) != "rw":
            self.counters.forbidden += 1
            return Reply.json(403, error_envelope(403, "Forbidden"))
        if request.method == "PUT":
            return self._put(obj, request, user)
        token = request.query.get("updateToken", [None])[0]
        if token is not None and token != obj["updateToken"]:
            self.counters.conflicts += 1
            return Reply.json(409, error_envelope(409, "The object was modified meanwhile (updateToken mismatch)"))
        del self._objects[oid]
        self._shares.pop(oid, None)
        self.counters.deleted += 1
        return Reply(204)

    def _view(self, obj: dict, user: str) -> dict:
        """The object as GET answers it, for `user` (its resourceContext says what they may do)."""
        view = copy.deepcopy(obj)
        operations = ["read", "write", "delete"] if self._access(obj, user) == "rw" else ["read"]
        view["resourceContext"] = {"operations": operations,
                                   "modifications": {"modifiablePaths": [], "nonModifiablePaths": []}}
        return view

    def _list(self, request: Request, user: str) -> Reply:
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
        # "Success. Accessible objects are returned."
        matching = [self._view(o, user) for o in self._objects.values()
                    if (o["schemaId"] in schemas or not schemas) and self._access(o, user)]
        served = min(size, self._page_cap)
        items = [{k: o[k] for k in fields if k in o} for o in matching[offset:offset + served]]
        body: dict[str, Any] = {"items": items, "totalCount": len(matching), "pageSize": served}
        if offset + served < len(matching):
            key = base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode()
            self._pages[key] = (schemas, fields, size, offset + served)
            body["nextPageKey"] = key
        return Reply.json(200, body)

    def _post(self, request: Request, user: str) -> Reply:
        body, error = self._body(request)
        if error:
            return error
        if not isinstance(body, list) or not body:
            return Reply.json(400, error_envelope(400, "The request body must be a non-empty list of settings objects"))
        validate_only = request.query.get("validateOnly", ["false"])[0].lower() == "true"
        results, succeeded = [], 0
        for item in body:
            result = self._post_one(item, user, validate_only)
            succeeded += result["code"] == 200
            results.append(result)
        status = 200 if succeeded == len(results) else (400 if succeeded == 0 else 207)
        return Reply.json(status, results)

    def _post_one(self, item: Any, user: str, validate_only: bool) -> dict:
        def failed(code: int, message: str, violations: list[dict] | None = None) -> dict:
            return {"code": code, "error": error_envelope(code, message, violations)["error"],
                    "invalidValue": copy.deepcopy(item.get("value") if isinstance(item, dict) else item)}

        if not isinstance(item, dict):
            return failed(400, "A settings object must be a JSON object")
        if item.get("schemaId") != CONNECTION_SCHEMA:
            return failed(404, f"Schema not found: {item.get('schemaId')}")
        if item.get("scope", "environment") != "environment":
            return failed(400, "Scope not allowed for this schema: allowed scopes: environment")
        value = item.get("value")
        violations = self._validate_connection(value, None, user)
        if violations:
            return failed(400, "Constraints violated.", violations)
        rejection = self._assume_role(value)
        if rejection:
            return failed(self._role_status, "Validation failed", [rejection])
        if validate_only:
            self.counters.validated += 1
            return {"code": 200}
        if len(self._objects) >= MAX_OBJECTS:
            return failed(400, f"The maximum number of objects ({MAX_OBJECTS}) has been reached")
        obj = self._store(value, user)
        self.counters.created += 1
        return {"code": 200, "objectId": obj["objectId"]}

    def _store(self, value: dict, user: str) -> dict:
        oid = object_id(CONNECTION_SCHEMA, "environment")
        now = _now_ms()
        obj = {"objectId": oid, "updateToken": _update_token(), "version": "1", "schemaId": CONNECTION_SCHEMA,
               "schemaVersion": SCHEMA_VERSION, "scope": "environment",
               "owner": {"type": "user", "id": user},
               "created": now, "createdBy": user, "modified": now, "modifiedBy": user, "author": user,
               "modificationInfo": {"deletable": True, "modifiable": True, "movable": False,
                                    "createdBy": user, "createdTime": now,
                                    "lastModifiedBy": user, "lastModifiedTime": now},
               "summary": value.get("name", ""), "value": copy.deepcopy(value)}
        self._objects[oid] = obj
        return obj

    def _put(self, obj: dict, request: Request, user: str) -> Reply:
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
        violations = self._validate_connection(value, obj, user)
        if violations:
            return Reply.json(400, error_envelope(400, "Constraints violated.", violations))
        old_arn = (obj["value"].get("awsRoleBasedAuthentication") or {}).get("roleArn", "")
        new_arn = (value.get("awsRoleBasedAuthentication") or {}).get("roleArn", "")
        if new_arn and new_arn != old_arn:
            rejection = self._assume_role(value)
            if rejection:
                return Reply.json(self._role_status, error_envelope(self._role_status, "Validation failed", [rejection]))
        now = _now_ms()
        obj["value"] = copy.deepcopy(value)
        obj["summary"] = value.get("name", "")
        obj["updateToken"] = _update_token()
        obj["version"] = str(int(obj["version"]) + 1)
        obj["modified"], obj["modifiedBy"], obj["author"] = now, user, user
        obj["modificationInfo"].update(lastModifiedTime=now, lastModifiedBy=user)
        self.counters.updated += 1
        return Reply.json(200, {"code": 200, "objectId": obj["objectId"]})

    def _validate_connection(self, value: Any, stored: dict | None, user: str) -> list[dict]:
        if not isinstance(value, dict):
            return [violation("", "The value must be an object")]
        out = []
        name = value.get("name")
        if not isinstance(name, str) or not 3 <= len(name) <= 100:
            out.append(violation("name", "Text length must be between 3 and 100 characters"))
        elif ":" in name:
            out.append(violation("name", "The symbol : is not allowed the name"))
        # The schema's UNIQUE constraint on name: among all of the schema's objects, or (switch)
        # among the objects of the same owner.
        elif any(o["value"].get("name") == name for o in self._objects.values()
                 if (stored is None or o["objectId"] != stored["objectId"])
                 and (not self._names_per_owner
                      or o["owner"].get("id") == (stored["owner"].get("id") if stored else user))):
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
                                     f"Invalid AWS IAM Role ARN, it does not adhere to pattern {ROLE_ARN_PATTERN.pattern}"))
            elif stored is not None:
                old = (stored["value"].get("awsRoleBasedAuthentication") or {}).get("roleArn", "")
                if old and arn != old:
                    out.append(violation("awsRoleBasedAuthentication/roleArn",
                                         "AWS Role ARN is already set and cannot be changed"))
            consumers = auth.get("consumers", ["SVC:com.dynatrace.da"])
            allowed = CONSUMERS_BY_SCHEMA.get(self._consumer_schema or "")
            if not isinstance(consumers, list) or not all(isinstance(c, str) for c in consumers):
                out.append(violation("awsRoleBasedAuthentication/consumers", "Must be a list of consumers"))
            elif allowed and any(c not in allowed for c in consumers):
                out.append(violation("awsRoleBasedAuthentication/consumers",
                                     f"Values must be among {', '.join(allowed)}"))
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

    # ------------------------------------------------------------------ HTTP control API
    def _control(self, request: Request) -> Reply:
        path, method = request.path, request.method
        try:
            body = request.json() if request.body else {}
        except ValueError:
            return Reply.json(400, {"error": "body is not JSON"})
        if path == "/_sandbox/state" and method == "GET":
            with self._lock:
                self._run_due()
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
        if path == "/_sandbox/latency" and method == "POST":
            self.set_latency(float(body.get("min_ms", 0)), float(body.get("max_ms", 0)))
            return Reply.json(200, {"ok": True})
        if path == "/_sandbox/faults" and method == "POST":
            self.add_fault(body.get("method", "*"), body.get("path_prefix", "/platform/"), body.get("steps", []),
                           bool(body.get("repeat", False)))
            return Reply.json(200, {"ok": True})
        if path == "/_sandbox/reset" and method == "POST":
            self.reset()
            return Reply.json(200, {"ok": True})
        return Reply.json(404, {"error": "unknown control endpoint"})
