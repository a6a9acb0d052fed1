"""Emulator of Datadog's v2 AWS-integration API (one Datadog site = one organisation).

It answers as the official API client's recorded answers of the real API show
(DataDog/datadog-api-client-python, tests/v2/cassettes/test_scenarios/; the bodies used here are
copied, with their source path and commit, into tests/data/datadog/):
- `GET/POST /api/v2/integration/aws/accounts`, `GET/PATCH/DELETE .../accounts/{id}`;
  POST answers **200** (not 201) with a server-generated 32-hex `external_id`, DELETE answers
  204 with no body, responses are `application/vnd.api+json` (create_200, delete_204).
- Error bodies follow the recordings, not the OpenAPI spec (`{"errors":["string"]}`): 409
  "Account already exists" (create_409); not found is 404 "Account not found" for GET, PATCH
  and DELETE (get_404, patch_404, delete_404); an id that is not a UUID is 400 "Invalid
  Parameter" (get_400_not_a_uuid, delete_400_not_a_uuid); an invalid partition is 400 "Generic
  Error" (create_400_partition).
- Accounts registered with access keys hold `auth_config: {access_key_id}`: no external ID, the
  secret key is never answered (create_keys_200, list_200); a PATCH that switches between role
  and keys is 400 "cannot switch between role and key based auth" (patch_400_switch_auth).
- A PATCH keeps what it leaves out: top-level attributes it omits, and keys it omits inside an
  object attribute (patch_200 omits `aws_regions` and `metrics_config.namespace_filters`, sends
  `traces_config: {}`, and the answer still has all three).
- `GET /api/v2/integration/aws/iam_permissions/standard` and `.../resource_collection` answer
  `data.attributes.permissions` (iam_permissions_standard, iam_permissions_resource_collection)
  without API keys: Datadog's own organisation template calls them with none
  (DataDog/cloudformation-template, aws_organizations/attach_integration_permissions.py).
  With `?chunked=true` (as that template asks) the list comes as a list of lists, one per IAM
  managed policy; the chunk boundaries are not recorded, so the emulator cuts chunks that fit
  IAM's 6,144-character limit, and the client must not rely on where they fall.
- Auth with `DD-API-KEY` + `DD-APPLICATION-KEY`, else 403 `{"errors":["Forbidden"]}`.
- An organisation-wide, calendar-aligned fixed-window rate limit (off unless
  `set_rate_limit`) with the documented `X-RateLimit-*` headers on every API answer.

Unrecorded behaviour sits behind switches that are off by default: `set_not_found_style("400")`
answers "not found" as a 400 "... does not exist", a v1-era variant that Datadog's own
CloudFormation resource provider tolerates but no v2 recording shows.

Test control (plain Python methods, since the tests run in-process, plus a small
HTTP control API under `/_sandbox/` for the demo and manual poking):
seed accounts made "by someone else" (with a role or with access keys), read state, set the
permission lists, inject faults (status codes, 429 with headers, latency, hang, malformed
body, dropped connection, random 5xx), reset. Every API request is logged with its headers
and body, and counters are kept.
"""

from __future__ import annotations

import copy
import json
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .faults import BAD_GATEWAY_PAGE, FaultRule, LoggedRequest, VendorFaults, crafted_reply
from .httpd import CLOSE, BackgroundServer, Reply, Request, ServedApp
from .paths import DATADOG_RECORDINGS

ACCOUNTS_PATH = "/api/v2/integration/aws/accounts"
IAM_PERMISSIONS_PATH = "/api/v2/integration/aws/iam_permissions"
# IAM's limit on one customer-managed policy document, whitespace not counted.
MANAGED_POLICY_LIMIT = 6144
NEW_EXTERNAL_ID_PATH = "/api/v2/integration/aws/generate_new_external_id"
PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
JSONAPI = "application/vnd.api+json"
RATE_LIMIT_NAME = "integration_aws_accounts"
# When the limiter is off the headers are still sent (Datadog always sends them),
# with a nominal limit so large that a well-behaved client never throttles itself.
NOMINAL_LIMIT, NOMINAL_PERIOD = 100_000, 60

# Attributes that are one of several shapes (`{include_all}` or `{include_only}`): a new value
# replaces the old one whole (create_409's first POST sends `aws_regions: {include_only}` and
# the answer has no `include_all`). Nested ones (`namespace_filters`, `xray_services`) are
# replaced whole by the one-level merge anyway.
ONE_OF_ATTRIBUTES = {"aws_regions"}
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_ACCOUNT_ID_RE = re.compile(r"^\d{12}$")
_BOOL_FIELDS = {
    "metrics_config": ("enabled", "automute_enabled", "collect_cloudwatch_alarms", "collect_custom_metrics"),
    "resources_config": ("cloud_security_posture_management_collection", "extended_collection"),
}


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _jsonapi_error(status: int, title: str, detail: str) -> dict:
    return {"errors": [{"status": str(status), "title": title, "detail": detail}]}


def recorded(name: str) -> dict:
    """A recorded answer (tests/data/datadog/<name>.json): source, request, response."""
    return json.loads((DATADOG_RECORDINGS / f"{name}.json").read_text())


def recorded_body(name: str) -> dict:
    return recorded(name)["response"]["body"]


def recorded_permissions(kind: str) -> list[str]:
    """Datadog's recorded `standard` or `resource_collection` permission list."""
    return list(recorded_body(f"iam_permissions_{kind}")["data"]["attributes"]["permissions"])


def policy_chunks(actions: list[str], limit: int = MANAGED_POLICY_LIMIT) -> list[list[str]]:
    """`actions` cut into runs whose managed-policy documents fit `limit` characters."""
    def size(chunk: list[str]) -> int:
        return len(json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": chunk, "Resource": "*"}]}, separators=(",", ":")))
    chunks: list[list[str]] = []
    for action in actions:
        if chunks and size(chunks[-1] + [action]) <= limit:
            chunks[-1].append(action)
        else:
            chunks.append([action])
    return chunks


def default_attributes() -> dict:
    """What Datadog fills in for a new account config when the request leaves it out."""
    return {
        "account_tags": [],
        "aws_partition": "aws",
        "aws_regions": {"include_all": True},
        "logs_config": {"lambda_forwarder": {"lambdas": [], "sources": []}},
        "metrics_config": {
            "enabled": True,
            "automute_enabled": True,
            "collect_cloudwatch_alarms": False,
            "collect_custom_metrics": False,
            "namespace_filters": {"exclude_only": ["AWS/SQS", "AWS/ElasticMapReduce", "AWS/Usage"]},
            "tag_filters": [],
        },
        "resources_config": {"cloud_security_posture_management_collection": False, "extended_collection": True},
        "traces_config": {"xray_services": {"include_only": []}},
    }


@dataclass
class Counters:
    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    rate_limited: int = 0  # 429s served by the rate limiter (not injected ones)
    faults_served: int = 0
    forbidden: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0


class DatadogEmulator(ServedApp, VendorFaults):
    """One Datadog site's organisation, served over HTTP on 127.0.0.1."""

    MALFORMED_BODY = BAD_GATEWAY_PAGE + b"\n{\"data\":"
    MALFORMED_TYPE = JSONAPI

    def __init__(self, api_key: str, app_key: str, site: str = "datadoghq.com",
                 not_found_style: str = "404", seed: int | None = None) -> None:
        self.api_key = api_key
        self.app_key = app_key
        self.site = site
        self._lock = threading.RLock()
        self._random = random.Random(seed)
        self._server = BackgroundServer(self, name=f"datadog-{site}")
        self._not_found_style = "404"
        self.set_not_found_style(not_found_style)
        self.reset()

    # ------------------------------------------------------------------ lifecycle
    def reset(self) -> None:
        """Forget accounts, faults, logs, counters; rate limit and error rate off."""
        with self._lock:
            self._accounts: dict[str, dict] = {}
            # The secret access key of each access-key account: held, never answered.
            self._secret_keys: dict[str, str] = {}
            self._faults: list[FaultRule] = []
            self.requests: list[LoggedRequest] = []
            self.counters = Counters()
            self._error_rate = 0.0
            self._limit: int | None = None
            self._period = NOMINAL_PERIOD
            self._window: tuple[int, int] = (-1, 0)  # (window index, requests counted)
            self._permissions = {kind: recorded_permissions(kind) for kind in ("standard", "resource_collection")}

    # ------------------------------------------------------------------ test control
    def set_permissions(self, standard: list[str] | None = None, resource_collection: list[str] | None = None) -> None:
        """Replace the permission lists the iam_permissions endpoints answer (None keeps a list)."""
        with self._lock:
            if standard is not None:
                self._permissions["standard"] = list(standard)
            if resource_collection is not None:
                self._permissions["resource_collection"] = list(resource_collection)

    def permissions(self, kind: str) -> list[str]:
        with self._lock:
            return list(self._permissions[kind])

    def set_not_found_style(self, style: str) -> None:
        """'404' (every recorded v2 answer, the default) or '400' (the unrecorded 'does not exist' variant)."""
        if style not in ("404", "400"):
            raise ValueError("not_found_style must be '404' or '400'")
        self._not_found_style = style

    def set_rate_limit(self, limit: int | None, period_s: int = 10) -> None:
        """Organisation-wide limit of `limit` API requests per calendar-aligned `period_s` window."""
        with self._lock:
            self._limit = limit
            self._period = period_s if limit is not None else NOMINAL_PERIOD
            self._window = (-1, 0)

    def set_error_rate(self, rate: float, seed: int | None = None) -> None:
        """Answer this fraction of API requests with a random 5xx (load tests); `seed` for repeatability."""
        with self._lock:
            self._error_rate = rate
            if seed is not None:
                self._random.seed(seed)

    def seed_account(self, aws_account_id: str, role_name: str = "DatadogIntegrationRole",
                     account_tags: list[str] | None = None, access_key_id: str | None = None,
                     **attributes: Any) -> dict:
        """Register an account directly (as someone else would have), with a role, or with access
        keys when `access_key_id` is given; returns the response `data`."""
        auth = {"access_key_id": access_key_id} if access_key_id else {"role_name": role_name}
        attrs = {"aws_account_id": aws_account_id, "auth_config": auth, "account_tags": list(account_tags or [])}
        attrs.update(attributes)
        with self._lock:
            data = self._create(attrs)
        return copy.deepcopy(data)

    def accounts(self) -> list[dict]:
        """Every account config the organisation holds, as API `data` objects (copies)."""
        with self._lock:
            return copy.deepcopy(list(self._accounts.values()))

    def account(self, config_id: str) -> dict | None:
        with self._lock:
            data = self._accounts.get(config_id)
            return copy.deepcopy(data) if data else None

    def find(self, aws_account_id: str) -> list[dict]:
        with self._lock:
            return copy.deepcopy([a for a in self._accounts.values()
                                  if a["attributes"]["aws_account_id"] == aws_account_id])

    def edit_account(self, config_id: str, **attributes: Any) -> dict:
        """Change settings out of band (someone edited the account in the Datadog UI): each named
        attribute replaces the stored one whole; returns the stored `data` (a copy)."""
        with self._lock:
            stored = self._accounts[config_id]["attributes"]
            stored.update(copy.deepcopy(attributes))
            stored["modified_at"] = _now_iso()
            return copy.deepcopy(self._accounts[config_id])

    def held_key(self, config_id: str) -> tuple[str, str | None] | None:
        """(access_key_id, secret_access_key) an access-key account holds; None for a role."""
        with self._lock:
            data = self._accounts.get(config_id)
            key_id = data and data["attributes"]["auth_config"].get("access_key_id")
            return (key_id, self._secret_keys.get(config_id)) if key_id else None

    def remove_account(self, config_id: str) -> None:
        """Delete a config out of band (someone clicked 'remove' in the Datadog UI)."""
        with self._lock:
            del self._accounts[config_id]

    def requests_matching(self, method: str = "*", path_prefix: str = "/api/") -> list[LoggedRequest]:
        return super().requests_matching(method, path_prefix)

    # ------------------------------------------------------------------ HTTP
    def handle(self, request: Request, server: BackgroundServer) -> Any:
        if request.path.startswith("/_sandbox/"):
            return self._control(request)
        entry, step, injected = self._inject(request, server)
        if injected is not None:
            return injected
        if request.path.startswith(IAM_PERMISSIONS_PATH + "/"):
            # Public lists: no keys, not the organisation's rate limit (see the module doc).
            return self._finish(entry, self._iam_permissions(request))
        if request.header("DD-API-KEY") != self.api_key or request.header("DD-APPLICATION-KEY") != self.app_key:
            self.counters.forbidden += 1
            return self._finish(entry, Reply.json(403, {"errors": ["Forbidden"]}))
        with self._lock:
            limited, rl_headers = self._rate_limit()
            if limited:
                self.counters.rate_limited += 1
                return self._finish(entry, Reply.json(429, {"errors": ["Rate limit exceeded"]}, headers=rl_headers))
            reply = self._route(request)
        reply.headers.update(rl_headers)
        self._finish(entry, reply)
        if step is not None and step.get("drop_response"):
            return CLOSE
        if step is not None and step.get("garble_response"):
            return self._malformed()
        return reply

    def _random_error(self, status: int) -> Reply:
        message = "Internal Server Error" if status == 500 else "Service Unavailable"
        return Reply.json(status, {"errors": [message]})

    def _fault_reply(self, step: dict) -> Reply:
        status = int(step["status"])
        headers = {str(k): str(v) for k, v in (step.get("headers") or {}).items()}
        if "body" in step:
            return crafted_reply(step, status, "application/json", headers)
        if status == 429:
            # Injected 429s carry the documented header set; the step's headers win.
            rl = {"X-RateLimit-Limit": "100", "X-RateLimit-Period": "10", "X-RateLimit-Remaining": "0",
                  "X-RateLimit-Reset": "1", "X-RateLimit-Name": RATE_LIMIT_NAME}
            rl.update(headers)
            return Reply.json(429, {"errors": ["Rate limit exceeded"]}, headers=rl)
        if status >= 500:
            return Reply.json(status, {"errors": ["Internal Server Error"]}, headers=headers)
        if status == 403:
            return Reply.json(403, {"errors": ["Forbidden"]}, headers=headers)
        return Reply.json(status, _jsonapi_error(status, "Error", f"injected {status}"), JSONAPI, headers)

    def _rate_limit(self) -> tuple[bool, dict[str, str]]:
        """Calendar-aligned fixed window: windows start at multiples of the period (epoch seconds)."""
        now = time.time()
        period = self._period
        index = int(now // period)
        reset = max(1, int(period - (now % period) + 0.999))  # whole seconds until the window ends
        limit = self._limit if self._limit is not None else NOMINAL_LIMIT
        win_index, count = self._window
        if win_index != index:
            count = 0
        limited = self._limit is not None and count >= self._limit
        if not limited:
            count += 1
        self._window = (index, count)
        return limited, {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Period": str(period),
            "X-RateLimit-Remaining": str(max(0, limit - count)),
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Name": RATE_LIMIT_NAME,
        }

    # ------------------------------------------------------------------ API routes
    def _route(self, request: Request) -> Reply:
        path, method = request.path, request.method
        if path == ACCOUNTS_PATH:
            if method == "GET":
                return self._list(request)
            if method == "POST":
                return self._post(request)
            return Reply.json(405, {"errors": ["Method Not Allowed"]})
        if path.startswith(ACCOUNTS_PATH + "/") and path.count("/") == ACCOUNTS_PATH.count("/") + 1:
            config_id = path.rsplit("/", 1)[1]
            if method in ("GET", "PATCH", "DELETE") and not is_uuid(config_id):
                # Recorded for GET and DELETE (get_400_not_a_uuid, delete_400_not_a_uuid).
                return Reply.json(400, recorded_body("get_400_not_a_uuid"), JSONAPI)
            if method == "GET":
                return self._get(config_id)
            if method == "PATCH":
                return self._patch(config_id, request)
            if method == "DELETE":
                return self._delete(config_id)
            return Reply.json(405, {"errors": ["Method Not Allowed"]})
        if path == NEW_EXTERNAL_ID_PATH and method == "POST":
            return Reply.json(200, {"data": {"id": "external_id", "type": "external_id",
                                             "attributes": {"external_id": uuid.uuid4().hex}}}, JSONAPI)
        return Reply.json(404, {"errors": ["Not Found"]})

    def _iam_permissions(self, request: Request) -> Reply:
        kind = request.path[len(IAM_PERMISSIONS_PATH) + 1:]
        if request.method != "GET" or kind not in ("standard", "resource_collection"):
            return Reply.json(404, {"errors": ["Not Found"]})
        permissions: list = self.permissions(kind)
        if request.query.get("chunked", ["false"])[0] == "true":
            permissions = policy_chunks(permissions)
        return Reply.json(200, {"data": {"id": "permissions", "type": "permissions",
                                         "attributes": {"permissions": permissions}}}, JSONAPI)

    def _not_found(self, config_id: str) -> Reply:
        if self._not_found_style == "400":
            # Datadog's alternative answer, treated as NotFound by DataDog/datadog-cloudformation-resources
            # (handlers.py checks for "does not exist" in the errors).
            return Reply.json(400, _jsonapi_error(400, "Bad Request",
                                                  f"AWS account config {config_id} does not exist"), JSONAPI)
        return Reply.json(404, recorded_body("delete_404"), JSONAPI)

    def _list(self, request: Request) -> Reply:
        wanted = request.query.get("aws_account_id", [None])[0]
        data = [a for a in self._accounts.values()
                if wanted is None or a["attributes"]["aws_account_id"] == wanted]
        return Reply.json(200, {"data": copy.deepcopy(data)}, JSONAPI)

    def _get(self, config_id: str) -> Reply:
        data = self._accounts.get(config_id)
        if data is None:
            return self._not_found(config_id)
        return Reply.json(200, {"data": copy.deepcopy(data)}, JSONAPI)

    def _delete(self, config_id: str) -> Reply:
        if config_id not in self._accounts:
            return self._not_found(config_id)
        del self._accounts[config_id]
        self._secret_keys.pop(config_id, None)
        self.counters.deleted += 1
        return Reply(204)

    def _parse_body(self, request: Request, creating: bool) -> tuple[dict | None, Reply | None]:
        def bad(detail: str) -> tuple[None, Reply]:
            return None, Reply.json(400, _jsonapi_error(400, "Bad Request", detail), JSONAPI)

        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            return bad("request body is not valid JSON")
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            return bad("missing required field 'data'")
        if data.get("type") != "account":
            return bad("data.type must be 'account'")
        attrs = data.get("attributes")
        if not isinstance(attrs, dict):
            return bad("missing required field 'data.attributes'")
        account_id = attrs.get("aws_account_id")
        if not isinstance(account_id, str) or not account_id:
            return bad("missing required field 'aws_account_id'")
        if not _ACCOUNT_ID_RE.match(account_id):
            return bad("aws_account_id must be a 12-digit AWS account ID")
        if "aws_partition" in attrs and attrs["aws_partition"] not in PARTITIONS:
            # Recorded (create_400_partition): a "Generic Error" without a status.
            return None, Reply.json(400, {"errors": [{"title": "Generic Error",
                                                       "detail": f"invalid partition: {attrs['aws_partition']}"}]},
                                    JSONAPI)
        auth = attrs.get("auth_config")
        if creating or auth is not None:
            if not isinstance(auth, dict):
                return bad("missing required field 'auth_config'")
            if creating and not (isinstance(auth.get("role_name"), str) and auth["role_name"]) \
                    and not (isinstance(auth.get("access_key_id"), str) and auth["access_key_id"]):
                return bad("missing required field 'auth_config.role_name'")
            if "role_name" in auth and not (isinstance(auth["role_name"], str) and auth["role_name"]):
                return bad("auth_config.role_name must be a non-empty string")
        tags = attrs.get("account_tags")
        if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
            return bad("account_tags must be a list of strings")
        for section, names in _BOOL_FIELDS.items():
            value = attrs.get(section)
            if value is None:
                continue
            if not isinstance(value, dict):
                return bad(f"{section} must be an object")
            for name in names:
                if name in value and not isinstance(value[name], bool):
                    return bad(f"{section}.{name} must be a boolean")
        return attrs, None

    def _post(self, request: Request) -> Reply:
        attrs, error = self._parse_body(request, creating=True)
        if error:
            return error
        if any(a["attributes"]["aws_account_id"] == attrs["aws_account_id"] for a in self._accounts.values()):
            return Reply.json(409, recorded_body("create_409"), JSONAPI)
        data = self._create(attrs)
        self.counters.created += 1
        return Reply.json(200, {"data": copy.deepcopy(data)}, JSONAPI)  # 200, not 201 (create_200)

    def _create(self, attrs: dict) -> dict:
        merged = default_attributes()
        for key, value in copy.deepcopy(attrs).items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict) and key not in ONE_OF_ATTRIBUTES:
                merged[key].update(value)
            else:
                merged[key] = value
        auth = dict(merged.get("auth_config") or {})
        config_id = str(uuid.uuid4())
        if auth.get("access_key_id"):
            if auth.get("secret_access_key"):
                self._secret_keys[config_id] = auth["secret_access_key"]
            auth = {"access_key_id": auth["access_key_id"]}  # no external ID, no secret (create_keys_200)
        else:
            auth.setdefault("external_id", uuid.uuid4().hex)  # Datadog generates it: 32 hex
        merged["auth_config"] = auth
        stamp = _now_iso()
        merged["created_at"] = stamp
        merged["modified_at"] = stamp
        data = {"id": config_id, "type": "account", "attributes": merged}
        self._accounts[config_id] = data
        return data

    def _patch(self, config_id: str, request: Request) -> Reply:
        current = self._accounts.get(config_id)
        if current is None:
            return self._not_found(config_id)
        attrs, error = self._parse_body(request, creating=False)
        if error:
            return error
        stored = current["attributes"]
        external_id = stored["auth_config"].get("external_id")
        auth = attrs.get("auth_config")
        if isinstance(auth, dict) and bool(auth.get("access_key_id")) != bool(stored["auth_config"].get("access_key_id")):
            return Reply.json(400, recorded_body("patch_400_switch_auth"), JSONAPI)
        # Merge as recorded (patch_200): absent attributes are kept; an object attribute is
        # merged key by key (so `namespace_filters` left out of `metrics_config` stays);
        # lists and scalars are replaced.
        for key, value in copy.deepcopy(attrs).items():
            if key in ("created_at", "modified_at"):
                continue
            if isinstance(value, dict) and isinstance(stored.get(key), dict) and key not in ONE_OF_ATTRIBUTES:
                stored[key].update(value)
            else:
                stored[key] = value
        # The recorded PATCH with auth_config {role_name} kept the external_id (patch_200).
        if external_id and not stored["auth_config"].get("external_id"):
            stored["auth_config"]["external_id"] = external_id
        # The secret key is held, never answered (create_keys_200, list_200 show only the id).
        secret_key = stored["auth_config"].pop("secret_access_key", None)
        if secret_key:
            self._secret_keys[config_id] = secret_key
        stored["modified_at"] = _now_iso()
        self.counters.updated += 1
        return Reply.json(200, {"data": copy.deepcopy(current)}, JSONAPI)

    # ------------------------------------------------------------------ HTTP control API
    def _control(self, request: Request) -> Reply:
        path, method = request.path, request.method
        try:
            body = request.json() if request.body else {}
        except ValueError:
            return Reply.json(400, {"error": "body is not JSON"})
        if path == "/_sandbox/state" and method == "GET":
            with self._lock:
                state = {"site": self.site, "accounts": copy.deepcopy(list(self._accounts.values())),
                         "counters": self.counters.__dict__.copy(),
                         "faults": [r.__dict__.copy() for r in self._faults]}
            state["counters"]["by_status"] = {str(k): v for k, v in state["counters"]["by_status"].items()}
            return Reply.json(200, state)
        if path == "/_sandbox/accounts" and method == "POST":
            aws_account_id = body.pop("aws_account_id", None)
            if not aws_account_id:
                return Reply.json(400, {"error": "aws_account_id is required"})
            return Reply.json(200, {"data": self.seed_account(aws_account_id, **body)})
        if path.startswith("/_sandbox/accounts/") and method == "DELETE":
            try:
                self.remove_account(path.rsplit("/", 1)[1])
            except KeyError:
                return Reply.json(404, {"error": "no such account"})
            return Reply(204)
        if path == "/_sandbox/faults" and method == "POST":
            self.add_fault(body.get("method", "*"), body.get("path_prefix", "/api/"), body.get("steps", []),
                           bool(body.get("repeat", False)))
            return Reply.json(200, {"ok": True})
        if path == "/_sandbox/rate-limit" and method == "POST":
            self.set_rate_limit(body.get("limit"), int(body.get("period", 10)))
            return Reply.json(200, {"ok": True})
        if path == "/_sandbox/permissions" and method == "POST":
            self.set_permissions(body.get("standard"), body.get("resource_collection"))
            return Reply.json(200, {"ok": True})
        if path == "/_sandbox/reset" and method == "POST":
            self.reset()
            return Reply.json(200, {"ok": True})
        return Reply.json(404, {"error": "unknown control endpoint"})


def is_uuid(value: str) -> bool:
    return bool(_UUID_RE.match(value))
