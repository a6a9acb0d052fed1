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
- A PATCH keeps the top-level attributes it leaves out (both recordings below). What it does
  with the keys it leaves out inside an object it sends is recorded per field, not as one rule,
  and `set_patch_semantics` picks one of three:
  - `"recorded"` (the default): what the recordings show. An object attribute is merged one level
    deep: keys it leaves out are kept (patch_200, the official client's recording of 2024-10-28,
    leaves `metrics_config.namespace_filters` out and sends `traces_config: {}`; the answer keeps
    `namespace_filters: {include_only: [AWS/EC2]}` and `xray_services: {include_only:
    [AWS/AppSync]}`), a key it sends is replaced whole (lambda_forwarder included), except that a
    `metrics_config` sent without `metric_name_filters` drops them (tf_role_based, the Terraform
    provider's recording of 2025-08-22: PATCH #2 leaves them out and the answer has none).
  - `"merge"`: every object sent is merged key by key at every depth (a value of one of several
    shapes, such as `aws_regions`, is replaced whole).
  - `"replace"`: every object attribute sent replaces the one held, whole.
  In all three, `auth_config: {role_name}` keeps the generated `external_id` (patch_200).
- Every request body and every 2xx answer is checked against Datadog's OpenAPI description
  (sandbox/datadog_openapi.py): a request the spec refuses (a missing required property such as
  `aws_partition`, a wrong type, a value of no allowed shape) answers 400 in the shape Datadog
  answers since 2025-08 (create_400_meta: `meta` names the field); a property the spec does not
  define is noted (`spec_violations`) and fails the integration tests, as does an answer of the
  emulator that breaks the spec.
- `GET /api/v2/integration/aws/iam_permissions/standard` and `.../resource_collection` answer
  `data.attributes.permissions` (iam_permissions_standard, iam_permissions_resource_collection:
  the Terraform provider's recordings of 2025-10-03 and 2025-10-06) without API keys: Datadog's
  own organisation template calls them with none (DataDog/cloudformation-template,
  aws_organizations/attach_integration_permissions.py). That template asks `?chunked=true`; the
  spec defines no such parameter and no recording shows a chunked answer, so the list is
  answered flat unless `set_chunk_boundaries(True)`, which cuts it into lists that fit IAM's
  6,144-character policy limit (boundaries of the emulator's own choosing).
- Auth with `DD-API-KEY` + `DD-APPLICATION-KEY`, else 403 `{"errors":["Forbidden"]}`.
- An organisation-wide, calendar-aligned fixed-window rate limit (off unless `set_rate_limit`)
  with the documented `X-RateLimit-*` headers (<https://docs.datadoghq.com/api/latest/rate-limits/>)
  on every API answer while it is on; their values are the test's limit, no recording shows
  Datadog's own, so with the limit off no such header is sent.

Unrecorded behaviour sits behind switches that are off by default: `set_not_found_style("400")`
answers "not found" as a 400 "... does not exist", a v1-era variant that Datadog's own
CloudFormation resource provider tolerates but no v2 recording shows; `set_patch_bad_id_400(True)`
answers a PATCH of an id that is not a UUID as GET and DELETE are recorded to (400 "Invalid
Parameter"), while by default it is an id Datadog does not hold (404, as recorded for PATCH).

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

from .datadog_control import DatadogControl
from .datadog_openapi import Violation
from .datadog_patch import PATCH_SEMANTICS, apply_patch, field_of, reason_of, spec
from .faults import BAD_GATEWAY_PAGE, FaultRule, LoggedRequest, VendorFaults, crafted_reply
from .httpd import CLOSE, BackgroundServer, Reply, Request, ServedApp
from .paths import DATADOG_RECORDINGS

ACCOUNTS_PATH = "/api/v2/integration/aws/accounts"
IAM_PERMISSIONS_PATH = "/api/v2/integration/aws/iam_permissions"
# IAM's limit on one customer-managed policy document, whitespace not counted.
MANAGED_POLICY_LIMIT = 6144
NEW_EXTERNAL_ID_PATH = "/api/v2/integration/aws/generate_new_external_id"
JSONAPI = "application/vnd.api+json"
RATE_LIMIT_NAME = "integration_aws_accounts"
DEFAULT_PERIOD = 10

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_ACCOUNT_ID_RE = re.compile(r"^\d{12}$")


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


class DatadogEmulator(DatadogControl, ServedApp, VendorFaults):
    """One Datadog site's organisation, served over HTTP on 127.0.0.1."""

    MALFORMED_BODY = BAD_GATEWAY_PAGE + b"\n{\"data\":"
    MALFORMED_TYPE = JSONAPI

    def __init__(self, api_key: str, app_key: str, site: str = "datadoghq.com",
                 not_found_style: str = "404", seed: int | None = None, check_spec: bool = True) -> None:
        self.api_key = api_key
        self.app_key = app_key
        self.site = site
        self._lock = threading.RLock()
        self._random = random.Random(seed)
        self._server = BackgroundServer(self, name=f"datadog-{site}")
        self._not_found_style = "404"
        # The OpenAPI checks cost a few ms a request: benchmarks that time the binary turn them off.
        self.check_spec = check_spec
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
            self._period = DEFAULT_PERIOD
            self._patch_semantics = "recorded"
            self._patch_bad_id_400 = False
            self._chunk_boundaries = False
            self.spec_violations: list[Violation] = []
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

    def set_rate_limit(self, limit: int | None, period_s: int = DEFAULT_PERIOD) -> None:
        """Organisation-wide limit of `limit` API requests per calendar-aligned `period_s` window
        (None: off, and no `X-RateLimit-*` headers)."""
        with self._lock:
            self._limit = limit
            self._period = period_s
            self._window = (-1, 0)

    def set_patch_semantics(self, semantics: str) -> None:
        """What a PATCH does with the keys it leaves out of an object it sends: "recorded" (the
        default), "merge" or "replace" (see the module's doc)."""
        if semantics not in PATCH_SEMANTICS:
            raise ValueError(f"patch semantics must be one of {PATCH_SEMANTICS}")
        with self._lock:
            self._patch_semantics = semantics

    def set_patch_bad_id_400(self, on: bool) -> None:
        """Unrecorded: answer a PATCH of a non-UUID id with the 400 recorded for GET and DELETE."""
        self._patch_bad_id_400 = on

    def set_chunk_boundaries(self, on: bool) -> None:
        """Unrecorded: answer `?chunked=true` with the list cut into policy-sized lists."""
        self._chunk_boundaries = on

    def take_spec_violations(self) -> list[Violation]:
        """The OpenAPI violations noted so far, forgotten (a test that provokes one on purpose)."""
        with self._lock:
            taken, self.spec_violations = self.spec_violations, []
            return taken

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
            reply = self._iam_permissions(request)
            if not (self._chunk_boundaries and request.query.get("chunked", ["false"])[0] == "true"):
                with self._lock:
                    self._check_answer(request, reply)  # a chunked answer is not in the spec
            return self._finish(entry, reply)
        if request.header("DD-API-KEY") != self.api_key or request.header("DD-APPLICATION-KEY") != self.app_key:
            self.counters.forbidden += 1
            return self._finish(entry, Reply.json(403, {"errors": ["Forbidden"]}))
        with self._lock:
            limited, rl_headers = self._rate_limit()
            if limited:
                self.counters.rate_limited += 1
                return self._finish(entry, Reply.json(429, {"errors": ["Rate limit exceeded"]}, headers=rl_headers))
            reply = self._refused_by_spec(request) or self._route(request)
            self._check_answer(request, reply)
        reply.headers.update(rl_headers)
        self._finish(entry, reply)
        if step is not None and step.get("drop_response"):
            return CLOSE
        if step is not None and step.get("garble_response"):
            return self._malformed()
        return reply

    def _refused_by_spec(self, request: Request) -> Reply | None:
        """Checks the body against the operation's schema: notes every violation, and answers
        400 (the shape of create_400_meta, naming the field) for one the spec refuses."""
        if not self.check_spec or spec().operation(request.method, request.path) is None:
            return None
        try:
            body = request.json() if request.body else None
        except (ValueError, UnicodeDecodeError):
            return Reply.json(400, _jsonapi_error(400, "Bad Request", "request body is not valid JSON"), JSONAPI)
        violations = spec().check_request(request.method, request.path, body)
        self.spec_violations.extend(violations)
        refused = [v for v in violations if not v.unknown_field]
        if not refused:
            return None
        meta = {field_of(v): reason_of(v, body) for v in refused}
        return Reply.json(400, {"errors": [{"status": "400", "title": "Bad Request", "detail": "invalid value",
                                            "meta": meta}]}, JSONAPI)

    def _check_answer(self, request: Request, reply: Reply) -> None:
        if not self.check_spec:
            return
        try:
            body = json.loads(reply.body) if reply.body else None
        except ValueError:
            body = reply.body
        self.spec_violations.extend(spec().check_answer(request.method, request.path, reply.status, body))

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
        if self._limit is None:
            return False, {}
        limit = self._limit
        win_index, count = self._window
        if win_index != index:
            count = 0
        limited = count >= limit
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
            bad_id_400 = ("GET", "DELETE", "PATCH") if self._patch_bad_id_400 else ("GET", "DELETE")
            if method in bad_id_400 and not is_uuid(config_id):
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
        if self._chunk_boundaries and request.query.get("chunked", ["false"])[0] == "true":
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
        # An invalid `aws_partition` is refused by the spec's enum, in the shape recorded in
        # 2025-08 (create_400_meta); the 2024-10 recording answered a "Generic Error"
        # (create_400_partition), which the client still reads.
        auth = attrs.get("auth_config")
        if creating or auth is not None:
            if not isinstance(auth, dict):
                return bad("missing required field 'auth_config'")
            if creating and not (isinstance(auth.get("role_name"), str) and auth["role_name"]) \
                    and not (isinstance(auth.get("access_key_id"), str) and auth["access_key_id"]):
                return bad("missing required field 'auth_config.role_name'")
            if "role_name" in auth and not (isinstance(auth["role_name"], str) and auth["role_name"]):
                return bad("auth_config.role_name must be a non-empty string")
        # Types, shapes and required properties: checked against the spec before (_refused_by_spec).
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
        # What the request leaves out gets Datadog's default; an object sent is completed key by
        # key from the defaults (create_200's answer to a body without `namespace_filters`).
        merged = default_attributes()
        apply_patch(merged, copy.deepcopy(attrs), "recorded")
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
        apply_patch(stored, copy.deepcopy(attrs), self._patch_semantics)
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


def is_uuid(value: str) -> bool:
    return bool(_UUID_RE.match(value))
