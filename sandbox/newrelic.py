"""Emulator of New Relic's NerdGraph for AWS linked accounts.

By default it does what New Relic publishes, and nothing more (docs/newrelic-api.md lists each
fact with its public source; the comments below name the source of each behaviour):

- One GraphQL endpoint, `POST /graphql`, body `{"query", "variables"}`, the user key in the
  `API-Key` header (newrelic-client-go `internal/http/auth.go`; `pkg/region/region_constants.go`
  for the hosts api.newrelic.com and api.eu.newrelic.com). A GraphQL answer is HTTP 200 with
  `data` and/or a top-level `errors` list (`internal/http/graphql.go`, `GraphQLError`: `message`,
  `extensions.errorClass`); a missing or unknown key is HTTP 401 with
  `extensions.error_code: BAD_API_KEY` (`GraphQLErrorResponse.IsUnauthorized`).
- The operations newrelic-client-go's `pkg/cloud/cloud_api.go` sends, recognised by their root
  field (this is not a GraphQL parser):
  * `cloudLinkAccount(accountId: Int!, accounts: CloudLinkCloudAccountsInput!)`, with `aws:
    [CloudAwsLinkAccountInput {arn, metricCollectionMode?, name}]` (`pkg/cloud/types.go`);
    answers `{errors: [...], linkedAccounts: [...]}`. `metricCollectionMode` is PULL or PUSH
    (`CloudMetricCollectionModeTypes`), PULL when left out (Terraform's
    `newrelic_cloud_aws_link_account`: "Defaults to `PULL` if empty"). New Relic checks the role
    by assuming it; until it can, the item fails with "The ARN you entered does not permit the
    correct access to your AWS account" (the Terraform provider retries on these words);
    `set_role_validation` makes that happen for a number of attempts or seconds.
  * `cloudUpdateAccount(accountId, accounts: {aws: [CloudAwsUpdateAccountInput {linkedAccountId,
    name?, arn?, disabled?}]})`: answers `{linkedAccounts}` only, without an `errors` field; an
    unknown id is left out (the Terraform provider reads an empty list as "no linked account
    found"). There is no field to change `metricCollectionMode` (Terraform: ForceNew).
  * `cloudRenameAccount(accountId, accounts: [{linkedAccountId, name}])`.
  * `cloudUnlinkAccount(accountId, accounts: [CloudUnlinkAccountsInput {linkedAccountId}])`:
    answers `{errors, unlinkedAccounts}`.
  * `actor { cloud { linkedAccounts(provider) } }`: every linked account of every New Relic
    account the key can reach, in one list (no cursor in the schema); `CloudLinkedAccount` has
    `id`, `name`, `authLabel` (the role ARN), `externalId` (the AWS account id),
    `metricCollectionMode`, `nrAccountId`, `disabled`, `createdAt`, `updatedAt`.
- Retryable failures: HTTP 429, 500 and 502+ (`internal/http/retry.go`), and HTTP 200 answers whose
  first error's `errorClass` is TIMEOUT, INTERNAL_SERVER_ERROR, SERVER_ERROR or
  TOO_MANY_REQUESTS (`graphql.go`, `retry.go`; their unit tests in `client_test.go`).

Not published, so behind switches that are OFF by default, and the product is tested under each:
- `refuse_duplicate_links`: whether New Relic refuses a second link of a role ARN already linked
  to the same New Relic account (nothing documents either way; by default a second link is made);
- the words of errors New Relic does not document (an unknown linked account id in an unlink, an
  account the key cannot reach) are this emulator's own and the product never matches them.

Test control (plain methods): seeded links, out-of-band removals, role validation, faults (the
shared step vocabulary of `faults.py`, plus `{"graphql_error": "<errorClass>"}` for a 200 answer
with that error class, and `{"drop_response": True}`), random 5xx, latency. Requests are logged
under the path `/graphql/<root field>` so faults and assertions can name one operation.
"""

from __future__ import annotations

import copy
import json
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .faults import BAD_GATEWAY_PAGE, FaultRule, LoggedRequest, VendorFaults, crafted_reply
from .httpd import CLOSE, BackgroundServer, Reply, Request, ServedApp

PATH = "/graphql"
OPERATIONS = ("cloudLinkAccount", "cloudUnlinkAccount", "cloudUpdateAccount", "cloudRenameAccount",
              "linkedAccounts")
MODES = ("PULL", "PUSH")
ROLE_NOT_READY = "The ARN you entered does not permit the correct access to your AWS account"
ROLE_ARN = re.compile(r"^arn:(aws|aws-us-gov):iam::(\d{12}):role/[\w+=,.@/-]+$")
GRAPHQL_INT_MAX = 2**31 - 1  # a GraphQL Int is a signed 32-bit integer (GraphQL spec, "Int")


@dataclass
class Counters:
    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    faults_served: int = 0
    unauthorized: int = 0
    linked: int = 0
    unlinked: int = 0
    updated: int = 0
    role_rejections: int = 0
    duplicate_refusals: int = 0


def graphql_errors(message: str, **extensions: str) -> dict:
    error: dict[str, Any] = {"message": message}
    if extensions:
        error["extensions"] = extensions
    return {"errors": [error]}


class NewRelicEmulator(ServedApp, VendorFaults):
    """NerdGraph for the New Relic accounts one user key reaches, over HTTP on 127.0.0.1."""

    MALFORMED_BODY = BAD_GATEWAY_PAGE
    MALFORMED_TYPE = "text/html"

    def __init__(self, api_key: str, accounts: tuple[int, ...] = (1234567,), seed: int | None = None) -> None:
        self.api_key = api_key
        self.accounts = tuple(accounts)
        self._lock = threading.RLock()
        self._random = random.Random(seed)
        self._server = BackgroundServer(self, name="newrelic")
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._links: dict[int, dict] = {}
            self._next_id = 1_000_001
            self._faults: list[FaultRule] = []
            self._error_rate = 0.0
            self._latency = (0.0, 0.0)
            self._role_failures, self._role_seconds = 0, 0.0
            self._role_attempts: dict[str, dict] = {}
            self.refuse_duplicate_links = False
            self.requests: list[LoggedRequest] = []
            self.counters = Counters()

    # ------------------------------------------------------------------ test control
    def set_error_rate(self, rate: float) -> None:
        with self._lock:
            self._error_rate = rate

    def set_latency(self, min_ms: float, max_ms: float) -> None:
        with self._lock:
            self._latency = (min_ms / 1000.0, max_ms / 1000.0)

    def set_role_validation(self, failures: int = 0, seconds: float = 0.0) -> None:
        """The next `failures` link attempts per role ARN, or those within `seconds` of its first,
        fail as New Relic does while it cannot assume the role yet."""
        with self._lock:
            self._role_failures, self._role_seconds = failures, seconds
            self._role_attempts.clear()

    def seed_link(self, name: str, arn: str, nr_account: int | None = None, mode: str = "PULL") -> int:
        """A link made by someone else (console, Terraform); returns its id."""
        with self._lock:
            return self._store(nr_account or self.accounts[0], arn, name, mode)["id"]

    def disable_link(self, link_id: int | str) -> None:
        """Disables a link as a console user would (`cloudUpdateAccount` with `disabled: true`)."""
        with self._lock:
            self._links[int(link_id)]["disabled"] = True

    def links(self, nr_account: int | None = None) -> list[dict]:
        with self._lock:
            return [copy.deepcopy(link) for link in self._links.values()
                    if nr_account is None or link["nrAccountId"] == nr_account]

    def link(self, link_id: int | str) -> dict | None:
        with self._lock:
            link = self._links.get(int(link_id))
            return copy.deepcopy(link) if link else None

    def links_of(self, aws_account: str) -> list[dict]:
        return [link for link in self.links() if link["externalId"] == aws_account]

    def remove_link(self, link_id: int | str) -> None:
        """Unlinks out of band (a console user)."""
        with self._lock:
            self._links.pop(int(link_id), None)

    def requests_matching(self, method: str = "*", path_prefix: str = PATH) -> list[LoggedRequest]:
        return super().requests_matching(method, path_prefix)

    def mutating_requests(self) -> list[LoggedRequest]:
        """The mutations sent (every NerdGraph call is a POST; queries change nothing)."""
        return [r for r in self.requests_matching("POST") if not r.path.endswith("/linkedAccounts")]

    # ------------------------------------------------------------------ serving
    def handle(self, request: Request, server: BackgroundServer) -> Any:
        operation = self._operation(request)
        logged = Request(request.method, f"{PATH}/{operation}" if operation else request.path, request.raw_query,
                         request.headers, request.body, request.received_at)
        entry, step, injected = self._inject(logged, server)
        if injected is not None:
            return injected
        if step is not None and step.get("graphql_error"):
            return self._finish(entry, Reply.json(200, graphql_errors("injected", errorClass=step["graphql_error"])))
        with self._lock:
            low, high = self._latency
            wait = self._random.uniform(low, high) if high > 0 else 0.0
        if wait and server.stopping.wait(wait):
            return CLOSE
        reply = self._serve(request, operation)
        self._finish(entry, reply)
        if step is not None and step.get("drop_response"):
            return CLOSE
        return reply

    def _random_error(self, status: int) -> Reply:
        return Reply(status, BAD_GATEWAY_PAGE, {"Content-Type": "text/html"})

    def _fault_reply(self, step: dict) -> Reply:
        status = int(step["status"])
        headers = {str(k): str(v) for k, v in (step.get("headers") or {}).items()}
        if "body" in step:
            return crafted_reply(step, status, "application/json", headers)
        if status == 401:
            return Reply.json(401, graphql_errors("Invalid API key", error_code="BAD_API_KEY"), headers=headers)
        return Reply(status, BAD_GATEWAY_PAGE, {"Content-Type": "text/html", **headers})

    @staticmethod
    def _operation(request: Request) -> str | None:
        try:
            query = json.loads(request.body.decode("utf-8")).get("query", "")
        except (ValueError, AttributeError, UnicodeDecodeError):
            return None
        if not isinstance(query, str):
            return None
        for name in OPERATIONS:
            if re.search(rf"\b{name}\s*\(", query) or re.search(rf"\b{name}\s*\{{", query):
                return name
        return None

    def _serve(self, request: Request, operation: str | None) -> Reply:
        if request.path != PATH:
            return Reply(404, b"Not Found", {"Content-Type": "text/plain"})
        if request.method != "POST":
            return Reply.json(405, graphql_errors("Method not allowed"))
        key = request.header("API-Key")
        if not key or key.strip() != self.api_key:
            with self._lock:
                self.counters.unauthorized += 1
            return Reply.json(401, graphql_errors("Invalid API key", error_code="BAD_API_KEY"))
        try:
            body = json.loads(request.body.decode("utf-8"))
        except ValueError:
            return Reply.json(400, graphql_errors("Unparseable request body"))
        variables = body.get("variables") or {}
        if not isinstance(variables, dict):
            return Reply.json(200, graphql_errors("Variables must be an object"))
        if operation is None:
            return Reply.json(200, graphql_errors("Unsupported operation (emulator)"))
        with self._lock:
            if operation == "linkedAccounts":
                return self._linked_accounts(variables)
            account_id = variables.get("accountId")
            if not isinstance(account_id, int) or isinstance(account_id, bool) or not 0 < account_id <= GRAPHQL_INT_MAX:
                return Reply.json(200, graphql_errors("Variable $accountId of type Int! was provided invalid value"))
            if account_id not in self.accounts:
                return Reply.json(200, graphql_errors("Access denied to the account (emulator's words)"))
            accounts = variables.get("accounts")
            handler = {"cloudLinkAccount": self._link, "cloudUnlinkAccount": self._unlink,
                       "cloudUpdateAccount": self._update, "cloudRenameAccount": self._rename}[operation]
            return handler(account_id, accounts)

    # ------------------------------------------------------------------ operations
    def _store(self, nr_account: int, arn: str, name: str, mode: str) -> dict:
        match = ROLE_ARN.match(arn)
        now = int(time.time())
        link = {"id": self._next_id, "name": name, "authLabel": arn, "externalId": match.group(2) if match else "",
                "metricCollectionMode": mode, "nrAccountId": nr_account, "disabled": False,
                "hasDimensionalMetrics": mode == "PUSH", "createdAt": now, "updatedAt": now}
        self._next_id += 1
        self._links[link["id"]] = link
        return link

    @staticmethod
    def _view(link: dict) -> dict:
        return copy.deepcopy(link)

    def _role_ready(self, arn: str) -> bool:
        now = time.monotonic()
        state = self._role_attempts.setdefault(arn, {"attempts": 0, "first": now})
        state["attempts"] += 1
        return not (state["attempts"] <= self._role_failures or now - state["first"] < self._role_seconds)

    def _link(self, nr_account: int, accounts: Any) -> Reply:
        items = accounts.get("aws") if isinstance(accounts, dict) else None
        if not isinstance(items, list):
            return Reply.json(200, graphql_errors("Variable $accounts of type CloudLinkCloudAccountsInput! was provided invalid value"))
        errors, linked = [], []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("arn"), str) or not isinstance(item.get("name"), str):
                return Reply.json(200, graphql_errors("Variable $accounts: CloudAwsLinkAccountInput needs arn and name"))
            arn, name, mode = item["arn"], item["name"], item.get("metricCollectionMode") or "PULL"
            if mode not in MODES:
                return Reply.json(200, graphql_errors(f"Expected type CloudMetricCollectionMode, found {mode}"))
            failure = {"linkedAccountId": None, "nrAccountId": nr_account, "providerSlug": "aws", "type": "ERROR"}
            if not ROLE_ARN.match(arn) or not self._role_ready(arn):
                self.counters.role_rejections += 1
                errors.append({**failure, "message": ROLE_NOT_READY})
                continue
            if self.refuse_duplicate_links and any(
                    l["authLabel"] == arn and l["nrAccountId"] == nr_account for l in self._links.values()):
                self.counters.duplicate_refusals += 1
                errors.append({**failure, "message": "This AWS account is already linked (emulator's words)"})
                continue
            linked.append(self._view(self._store(nr_account, arn, name, mode)))
            self.counters.linked += 1
        return Reply.json(200, {"data": {"cloudLinkAccount": {"errors": errors, "linkedAccounts": linked}}})

    def _unlink(self, nr_account: int, accounts: Any) -> Reply:
        if not isinstance(accounts, list):
            return Reply.json(200, graphql_errors("Variable $accounts of type [CloudUnlinkAccountsInput!]! was provided invalid value"))
        errors, unlinked = [], []
        for item in accounts:
            link_id = item.get("linkedAccountId") if isinstance(item, dict) else None
            link = self._links.get(link_id) if isinstance(link_id, int) else None
            if link is None or link["nrAccountId"] != nr_account:
                errors.append({"linkedAccountId": link_id, "nrAccountId": nr_account, "providerSlug": None,
                               "type": "ERROR", "message": "Linked account not found (emulator's words)"})
                continue
            del self._links[link_id]
            unlinked.append(self._view(link))
            self.counters.unlinked += 1
        return Reply.json(200, {"data": {"cloudUnlinkAccount": {"errors": errors, "unlinkedAccounts": unlinked}}})

    def _update(self, nr_account: int, accounts: Any) -> Reply:
        items = accounts.get("aws") if isinstance(accounts, dict) else None
        if not isinstance(items, list):
            return Reply.json(200, graphql_errors("Variable $accounts of type CloudUpdateCloudAccountsInput! was provided invalid value"))
        updated = []
        for item in items:
            link_id = item.get("linkedAccountId") if isinstance(item, dict) else None
            link = self._links.get(link_id) if isinstance(link_id, int) else None
            if link is None or link["nrAccountId"] != nr_account:
                continue
            if set(item) - {"linkedAccountId", "name", "arn", "disabled"}:
                return Reply.json(200, graphql_errors("Variable $accounts: unknown field of CloudAwsUpdateAccountInput"))
            if isinstance(item.get("name"), str) and item["name"]:
                link["name"] = item["name"]
            if isinstance(item.get("arn"), str) and item["arn"]:
                if not ROLE_ARN.match(item["arn"]):
                    continue
                link["authLabel"] = item["arn"]
                link["externalId"] = ROLE_ARN.match(item["arn"]).group(2)
            if isinstance(item.get("disabled"), bool):
                link["disabled"] = item["disabled"]
            link["updatedAt"] = int(time.time())
            updated.append(self._view(link))
            self.counters.updated += 1
        return Reply.json(200, {"data": {"cloudUpdateAccount": {"linkedAccounts": updated}}})

    def _rename(self, nr_account: int, accounts: Any) -> Reply:
        if not isinstance(accounts, list):
            return Reply.json(200, graphql_errors("Variable $accounts of type [CloudRenameAccountsInput!]! was provided invalid value"))
        renamed = []
        for item in accounts:
            link = self._links.get(item.get("linkedAccountId")) if isinstance(item, dict) else None
            if link is not None and link["nrAccountId"] == nr_account and isinstance(item.get("name"), str):
                link["name"] = item["name"]
                renamed.append(self._view(link))
        return Reply.json(200, {"data": {"cloudRenameAccount": {"errors": [], "linkedAccounts": renamed}}})

    def _linked_accounts(self, variables: dict) -> Reply:
        provider = variables.get("provider")
        links = [self._view(l) for l in self._links.values() if l["nrAccountId"] in self.accounts]
        if provider not in (None, "aws"):
            links = []
        return Reply.json(200, {"data": {"actor": {"cloud": {"linkedAccounts": links}}}})
