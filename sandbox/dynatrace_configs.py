"""The emulator's monitoring configurations of `com.dynatrace.extension.da-aws` (the platform
Extensions 2.0 API), and the helpers both halves of the emulator share: one job, the
configurations' routes, test control and status, as `sandbox/dynatrace.py`'s docstring describes
them (each behaviour's source is named there and in docs/dynatrace-api.md). A mixin of
`DynatraceEmulator`, which owns the state (`_configs`, `_objects`, the lock and the switches).
"""

from __future__ import annotations

import base64
import copy
import re
import time
import uuid
from typing import Any

from .httpd import Reply, Request

EXTENSION = "com.dynatrace.extension.da-aws"
MONITORING_PATH = f"/platform/extensions/v2/extensions/{EXTENSION}/monitoring-configurations"
CONFIG_STATUSES = ("OK", "PENDING", "WARNING", "ERROR", "UNKNOWN")
CONFIG_DEFAULT_PAGE_SIZE, CONFIG_MAX_PAGE_SIZE = 20, 500
_ACCOUNT_ID_RE = re.compile(r"^\d{12}$")


def error_envelope(code: int, message: str, violations: list[dict] | None = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if violations:
        error["constraintViolations"] = violations
    return {"error": error}


def platform_error(code: int, message: str, violations: list[dict] | None = None) -> dict:
    """The platform APIs' error envelope: what goes beyond code and message is under `details`
    (developer.dynatrace.com, "Error handling"; the Extensions API's ErrorEnvelope)."""
    error: dict[str, Any] = {"code": code, "message": message}
    if violations:
        error["details"] = {"constraintViolations": violations}
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


class MonitoringConfigs:
    """Routes, test control and status of the monitoring configurations (a mixin)."""

    def set_delete_removes_every_connection(self, on: bool = True) -> None:
        """Deleting a configuration that lists several connections removes every one of them
        (undocumented; by default only a configuration's single, paired connection goes)."""
        with self._lock:
            self._delete_removes_all = on

    def set_next_page_key_field(self, name: str) -> None:
        """The field of the configurations list that holds the next page's key."""
        assert name in ("nextPageKey", "next-page-key")
        with self._lock:
            self._next_key_field = name

    def set_config_status(self, config_id: str, status: str | None) -> None:
        """Force a configuration's reported status (None: computed again)."""
        assert status is None or status in CONFIG_STATUSES
        with self._lock:
            if status is None:
                self._status_override.pop(config_id, None)
            else:
                self._status_override[config_id] = status

    def set_status_pending(self, seconds: float) -> None:
        """A configuration reports PENDING for `seconds` after each write."""
        with self._lock:
            self._pending_s = seconds

    def config_status(self, config_id: str) -> str | None:
        with self._lock:
            self._run_due()
            return self._status(config_id) if config_id in self._configs else None

    def add_monitoring_config(self, description: str = "AWS monitoring", credentials: list[dict] | None = None,
                              enabled: bool = False) -> str:
        """A monitoring configuration of the da-aws extension, disabled unless `enabled` (the
        organisation blueprint is documented as created with `"enabled": false`: Dynatrace,
        "Create AWS connection via API"; dynatrace-oss/dtctl, cmd/enable_aws.go); its id."""
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
            self._run_due()
            config = self._configs.get(config_id)
            return copy.deepcopy(config) if config else None

    def monitoring_configs(self) -> list[dict]:
        with self._lock:
            self._run_due()
            return copy.deepcopy(list(self._configs.values()))

    def credentials(self, config_id: str) -> list[dict]:
        """The monitoring configuration's `value.aws.credentials`."""
        config = self.monitoring_config(config_id)
        assert config is not None, f"no monitoring configuration {config_id}"
        return list(config["value"].get("aws", {}).get("credentials") or [])

    def monitored_accounts(self) -> list[str]:
        """The account ids of every enabled credential of every enabled configuration whose
        connection exists: what Dynatrace would poll (one entry per configuration)."""
        with self._lock:
            self._run_due()
            return sorted(c.get("accountId", "") for config in self._configs.values() if config["value"].get("enabled")
                          for c in (config["value"].get("aws", {}).get("credentials") or [])
                          if c.get("enabled") and c.get("connectionId") in self._objects)

    def remove_monitoring_config(self, config_id: str) -> None:
        with self._lock:
            del self._configs[config_id]

    def _configs_route(self, request: Request, user: str) -> Reply:
        if request.method == "GET":
            return self._list_configs(request)
        if request.method == "POST":
            body, error = self._body(request)
            if error:
                return error
            if not isinstance(body, dict) or not isinstance(body.get("scope"), str) \
                    or not isinstance(body.get("value"), dict):
                return Reply.json(400, platform_error(400, "scope and value are required", [
                    violation("scope" if not isinstance(body, dict) or not isinstance(body.get("scope"), str)
                              else "value", "Required")]))
            problem = self._validate_config(body["value"])
            if problem:
                return Reply.json(400, platform_error(400, "Constraints violated.", [problem]))
            config = self._create_config(body["scope"], body["value"], user)
            self.counters.configs_created += 1
            return Reply.json(201, {"objectId": config["objectId"]})
        return Reply.json(405, platform_error(405, "Method not allowed"))

    def _list_configs(self, request: Request) -> Reply:
        query = request.query
        if "page-key" in query:
            if set(query) != {"page-key"}:
                return Reply.json(400, platform_error(400, "page-key must be the only query parameter when it is set",
                                                      [violation("page-key", "Must be the only parameter")]))
            page = self._config_pages.get(query["page-key"][0])
            if page is None:
                return Reply.json(400, platform_error(400, "Invalid page-key", [violation("page-key", "Unknown")]))
            size, offset = page
        else:
            try:
                size = int(query.get("page-size", [str(CONFIG_DEFAULT_PAGE_SIZE)])[0])
            except ValueError:
                size = -1
            if not 1 <= size <= CONFIG_MAX_PAGE_SIZE:
                return Reply.json(400, platform_error(400, f"page-size must be between 1 and {CONFIG_MAX_PAGE_SIZE}",
                                                      [violation("page-size", "Out of range")]))
            offset = 0
        configs = list(self._configs.values())
        served = min(size, self._page_cap)
        items = [{k: copy.deepcopy(c[k]) for k in ("objectId", "scope", "value")} for c in configs[offset:offset + served]]
        body: dict[str, Any] = {"items": items, "totalCount": len(configs)}
        if offset + served < len(configs):
            key = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()
            self._config_pages[key] = (size, offset + served)
            body[self._next_key_field] = key
        return Reply.json(200, body)

    def _create_config(self, scope: str, value: dict, user: str = "admin") -> dict:
        cid = object_id(f"ext:{EXTENSION}", scope)
        now = _now_ms()
        config = {"objectId": cid, "scope": scope,
                  "modificationInfo": {"createdBy": user, "createdTime": now,
                                       "lastModifiedBy": user, "lastModifiedTime": now},
                  "value": copy.deepcopy(value)}
        self._configs[cid] = config
        self._written_at[cid] = time.monotonic()
        return config

    def _status(self, cid: str) -> str:
        """The configuration's latest status, as the status endpoints answer it."""
        if cid in self._status_override:
            return self._status_override[cid]
        value = self._configs[cid]["value"]
        if not value.get("enabled"):
            return "UNKNOWN"
        if time.monotonic() - self._written_at.get(cid, 0.0) < self._pending_s:
            return "PENDING"
        credentials = [c for c in (value.get("aws") or {}).get("credentials") or [] if isinstance(c, dict)]
        connections = [self._objects.get(c.get("connectionId")) for c in credentials if c.get("enabled")]
        polls = bool(connections) and all(
            o is not None and (o["value"].get("awsRoleBasedAuthentication") or {}).get("roleArn")
            for o in connections)
        return "OK" if polls else "ERROR"

    def _config_route(self, cid: str, request: Request, user: str) -> Reply:
        config = self._configs.get(cid)
        if config is None:
            return Reply.json(404, platform_error(404, f"Monitoring configuration {cid} not found"))
        if request.method == "GET":
            return Reply.json(200, copy.deepcopy(config))
        if request.method == "DELETE":
            del self._configs[cid]
            self.counters.configs_deleted += 1
            # "Deleting a monitoring configuration ... automatically remove[s] its mapped AWS
            # connection" (in the background): the connection it is paired with one-to-one.
            mapped = [c["connectionId"] for c in (config["value"].get("aws") or {}).get("credentials") or []
                      if isinstance(c, dict) and isinstance(c.get("connectionId"), str)]
            if len(set(mapped)) == 1 or self._delete_removes_all:
                for connection in set(mapped):
                    self._later(self._removal_delay, "remove-connection", connection)
            return Reply(204)
        if request.method != "PUT":
            return Reply.json(405, platform_error(405, "Method not allowed"))
        body, error = self._body(request)
        if error:
            return error
        if not isinstance(body, dict) or not isinstance(body.get("value"), dict):
            return Reply.json(400, platform_error(400, "The request body must be an object with a value",
                                                  [violation("value", "Required")]))
        if "scope" in body and body["scope"] != config["scope"]:
            return Reply.json(400, platform_error(400, "Monitoring configuration scope cannot be updated",
                                                  [violation("scope", "Cannot be updated")]))
        problem = self._validate_config(body["value"])
        if problem:
            return Reply.json(400, platform_error(400, "Constraints violated.", [problem]))
        if cid in self._stale:
            self._later(self._stale.pop(cid), "stale-write", (cid, copy.deepcopy(config["value"])))
        # Documented: PUT overwrites. No token, no conflict check: the last writer wins.
        config["value"] = copy.deepcopy(body["value"])
        config["modificationInfo"].update(lastModifiedBy=user, lastModifiedTime=_now_ms())
        self._written_at[cid] = time.monotonic()
        self.counters.config_writes += 1
        return Reply.json(200, {"objectId": cid, "code": 200})

    def _validate_config(self, value: dict) -> dict | None:
        if not self._strict_credentials:
            return None
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
