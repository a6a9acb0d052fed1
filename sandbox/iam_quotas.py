"""IAM's quotas, enforced in front of moto: what AWS refuses, the sandbox refuses too.

One job: a WSGI middleware around moto's server application that looks at every IAM request
(query protocol: `Action=` in a form body, signed for the `iam` service) and answers as IAM
does when the request breaks one of IAM's documented limits; anything else goes to moto
untouched. moto stores IAM policies but enforces none of these (moto 5.2.5 only lists some of
them in GetAccountSummary), so without this layer the sandbox accepts what AWS refuses.

Every limit cites its source. "Quotas" below is the IAM User Guide page "IAM and AWS STS
quotas", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html; each
parameter's length and pattern are the IAM API Reference's for that action
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_<Action>.html). Error codes and HTTP
statuses are the API Reference's: `LimitExceeded` 409 (e.g. API_PutRolePolicy.html, "Errors"),
`MalformedPolicyDocument` 400 (also for an action naming its service by wildcard), `NoSuchEntity` 404, and `ValidationError` 400 for a parameter
outside its constraints (CommonErrors.html). The XML error body is the query protocol's
(`<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`).

Sizes are counted as Quotas says: characters of the document, white space not counted.

The checks read the current state (the holder's other inline policies, its attachments) from
moto's own backend, in this process; IAM writes are serialised so two concurrent calls cannot
both squeeze under a limit.
"""

from __future__ import annotations

import io
import json
import re
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

# ---------------------------------------------------------------------------------- the limits
# Quotas, "IAM and STS character limits" and "IAM object quotas": aggregate size of all inline
# policies of one role, 10,240 characters; of one user, 2,048; one managed policy, 6,144;
# managed policies attached to one role or one user, 10 (the default: adjustable to 20 through
# Service Quotas, which is why `AttachedPoliciesQuota` is a parameter here).
ROLE_INLINE_LIMIT = 10_240
USER_INLINE_LIMIT = 2_048
MANAGED_POLICY_LIMIT = 6_144
ATTACHED_POLICIES_LIMIT = 10
# Quotas, "IAM and STS character limits": role trust policy, 2,048 characters (adjustable to 4,096).
TRUST_POLICY_LIMIT = 2_048
# API Reference, PolicyDocument of PutRolePolicy, PutUserPolicy, CreatePolicy, CreatePolicyVersion,
# CreateRole (AssumeRolePolicyDocument): length 1 to 131,072, pattern [\u0009\u000A\u000D\u0020-\u00FF]+.
# Quotas, "IAM name requirements": "Policy documents can contain only the following Unicode
# characters: horizontal tab (U+0009), linefeed (U+000A), carriage return (U+000D), and characters
# in the range U+0020 to U+00FF."
DOCUMENT_MAX = 131_072
DOCUMENT_PATTERN = re.compile(r"[\u0009\u000A\u000D\u0020-\u00FF]+")
# API Reference, RoleName and UserName (CreateRole, CreateUser, and every call naming one):
# length 1 to 64, pattern [\w+=,.@-]+; Quotas, "IAM and STS character limits": role and user
# names 64 characters.
NAME_PATTERN = re.compile(r"[\w+=,.@-]+", re.ASCII)
# API Reference, PolicyName (CreatePolicy, PutRolePolicy, PutUserPolicy): length 1 to 128.
# Path (CreateRole, CreateUser, CreatePolicy): length 1 to 512, pattern (\u002F)|(\u002F[\u0021-\u007E]+\u002F).
PATH_PATTERN = re.compile(r"(/)|(/[\u0021-\u007E]+/)")
# API Reference, Description (CreateRole, CreatePolicy): length 0 to 1,000.
DESCRIPTION_MAX = 1_000

_NAMES = {"RoleName": 64, "UserName": 64, "PolicyName": 128}
_DOCUMENTS = ("PolicyDocument", "AssumeRolePolicyDocument")
_WRITES = {"CreateRole", "CreateUser", "CreatePolicy", "CreatePolicyVersion", "PutRolePolicy", "PutUserPolicy",
           "AttachRolePolicy", "AttachUserPolicy", "UpdateAssumeRolePolicy", "PutRolePermissionsBoundary",
           "PutUserPermissionsBoundary"}
_SCOPE_RE = re.compile(r"Credential=(?P<key>[^/]+)/\d{8}/(?P<region>[^/]+)/(?P<service>[a-z0-9-]+)/aws4_request")


@dataclass(frozen=True)
class Refusal:
    """IAM's answer to a request over a limit."""

    status: int
    code: str
    message: str

    def body(self, request_id: str) -> bytes:
        kind = "Receiver" if self.status >= 500 else "Sender"
        return (f'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>{kind}</Type>'
                f"<Code>{self.code}</Code><Message>{_xml(self.message)}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>").encode()


def size(document: str) -> int:
    """A policy's size as IAM counts it against its quotas: characters, white space not counted."""
    return sum(1 for c in document if not c.isspace())


def limit_exceeded(message: str) -> Refusal:
    return Refusal(409, "LimitExceeded", message)


def validation_error(value: str, member: str, constraint: str) -> Refusal:
    shown = value if len(value) <= 200 else value[:200] + "…"
    return Refusal(400, "ValidationError", f"1 validation error detected: Value '{shown}' at '{member}' failed to "
                                           f"satisfy constraint: {constraint}")


# ------------------------------------------------------------------------- the state it reads
class Holder:
    """What the checks need to know about a role or a user: its inline policies and attachments."""

    def __init__(self, inline: dict[str, str], attached: Iterable[str]) -> None:
        self.inline = inline
        self.attached = set(attached)


class IamState:
    """The IAM state the checks read: moto's backend for the caller's account and partition."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def role(self, name: str) -> Holder | None:
        try:
            role = self._backend.get_role(name)
        except Exception:  # noqa: BLE001 - moto's NoSuchEntity; moto answers it itself
            return None
        return Holder(dict(role.policies), role.managed_policies.keys())

    def user(self, name: str) -> Holder | None:
        try:
            user = self._backend.get_user(name)
        except Exception:  # noqa: BLE001
            return None
        return Holder(dict(user.policies), user.managed_policies.keys())


def moto_state(access_key: str, region: str) -> IamState:
    """moto's IAM backend for the account `access_key` acts in, as moto itself picks it."""
    from moto.iam.models import get_account_id_from, iam_backends
    from moto.utilities.utils import get_partition

    return IamState(iam_backends[get_account_id_from(access_key)][get_partition(region)])


# ------------------------------------------------------------------------------- the checks
def check(action: str, params: dict[str, str], state: IamState,
          attached_quota: int = ATTACHED_POLICIES_LIMIT) -> Refusal | None:
    """IAM's refusal of `action` with `params` (the form's parameters), or None if IAM accepts it."""
    for member, longest in _NAMES.items():
        if member in params:
            refused = _name(params[member], member[0].lower() + member[1:], longest)
            if refused:
                return refused
    if "Path" in params:
        refused = _path(params["Path"])
        if refused:
            return refused
    if len(params.get("Description", "")) > DESCRIPTION_MAX:
        return validation_error(params["Description"], "description",
                                f"Member must have length less than or equal to {DESCRIPTION_MAX}")
    for member in _DOCUMENTS:
        if member in params:
            refused = _document(params[member], member[0].lower() + member[1:])
            if refused:
                return refused
    refused = _action_vendors(params.get("PolicyDocument", ""))
    if refused:
        return refused
    rule = _RULES.get(action)
    return rule(params, state, attached_quota) if rule else None


def _action_vendors(document: str) -> Refusal | None:
    """IAM refuses a policy whose action names a service by wildcard (`*:Get*`): "Action vendors
    (e.g., aws, ec2, etc.) must not contain wildcards" (IAM's MalformedPolicyDocument answer, as
    reported in boogy/iam-policy-validator pull request 172). moto accepts it."""
    try:
        statements = json.loads(document).get("Statement", [])
    except (ValueError, AttributeError):
        return None  # moto's own validation answers a document that is not a policy
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict):
            continue
        for key in ("Action", "NotAction"):
            actions = statement.get(key, [])
            for action in actions if isinstance(actions, list) else [actions]:
                if isinstance(action, str) and ":" in action and any(c in action.split(":", 1)[0] for c in "*?"):
                    return Refusal(400, "MalformedPolicyDocument",
                                   "Action vendors (e.g., aws, ec2, etc.) must not contain wildcards")
    return None


def _name(value: str, member: str, longest: int) -> Refusal | None:
    if len(value) > longest:
        return validation_error(value, member, f"Member must have length less than or equal to {longest}")
    if not value:
        return validation_error(value, member, "Member must have length greater than or equal to 1")
    if not NAME_PATTERN.fullmatch(value):
        return validation_error(value, member, "Member must satisfy regular expression pattern: [\\w+=,.@-]+")
    return None


def _path(value: str) -> Refusal | None:
    if len(value) > 512:
        return validation_error(value, "path", "Member must have length less than or equal to 512")
    if not PATH_PATTERN.fullmatch(value):
        return validation_error(value, "path", "Member must satisfy regular expression pattern: "
                                               "(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)")
    return None


def _document(value: str, member: str) -> Refusal | None:
    if len(value) > DOCUMENT_MAX:
        return validation_error(value, member, f"Member must have length less than or equal to {DOCUMENT_MAX}")
    if not value or not DOCUMENT_PATTERN.fullmatch(value):
        return validation_error(value, member, "Member must satisfy regular expression pattern: "
                                               "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+")
    return None


def _inline(kind: str, limit: int) -> Callable[[dict[str, str], IamState, int], Refusal | None]:
    def rule(params: dict[str, str], state: IamState, _quota: int) -> Refusal | None:
        name = params.get(f"{kind.capitalize()}Name", "")
        holder = state.role(name) if kind == "role" else state.user(name)
        if holder is None:
            return None  # moto answers NoSuchEntity itself
        others = sum(size(doc) for policy, doc in holder.inline.items() if policy != params.get("PolicyName"))
        if others + size(params.get("PolicyDocument", "")) > limit:
            # The message IAM answers (AWS re:Post knowledge center, "iam-increase-policy-size":
            # "Maximum policy size of xxxxx bytes exceeded for user or role").
            return limit_exceeded(f"Maximum policy size of {limit} bytes exceeded for {kind} {name}")
        return None
    return rule


def _managed_size(params: dict[str, str], _state: IamState, _quota: int) -> Refusal | None:
    if size(params.get("PolicyDocument", "")) > MANAGED_POLICY_LIMIT:
        return limit_exceeded(f"Cannot exceed quota for PolicySize: {MANAGED_POLICY_LIMIT}")
    return None


def _attach(kind: str) -> Callable[[dict[str, str], IamState, int], Refusal | None]:
    def rule(params: dict[str, str], state: IamState, quota: int) -> Refusal | None:
        holder = state.role(params.get("RoleName", "")) if kind == "role" else state.user(params.get("UserName", ""))
        if holder is None or params.get("PolicyArn") in holder.attached:
            return None  # attaching what is attached changes nothing
        if len(holder.attached) >= quota:
            per = "PoliciesPerRole" if kind == "role" else "PoliciesPerUser"
            return limit_exceeded(f"Cannot exceed quota for {per}: {quota}")
        return None
    return rule


def _trust(params: dict[str, str], _state: IamState, _quota: int) -> Refusal | None:
    document = params.get("AssumeRolePolicyDocument", params.get("PolicyDocument", ""))
    if size(document) > TRUST_POLICY_LIMIT:
        return limit_exceeded(f"Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_LIMIT}")
    return None


_RULES: dict[str, Callable[[dict[str, str], IamState, int], Refusal | None]] = {
    "PutRolePolicy": _inline("role", ROLE_INLINE_LIMIT),
    "PutUserPolicy": _inline("user", USER_INLINE_LIMIT),
    "CreatePolicy": _managed_size,
    "CreatePolicyVersion": _managed_size,
    "AttachRolePolicy": _attach("role"),
    "AttachUserPolicy": _attach("user"),
    "CreateRole": _trust,
    "UpdateAssumeRolePolicy": _trust,
}


# ------------------------------------------------------------------------------ the middleware
class IamQuotas:
    """WSGI middleware: IAM requests over a limit get IAM's refusal; all else reaches `app`."""

    def __init__(self, app: Callable, state: Callable[[str, str], IamState] = moto_state,
                 attached_quota: int = ATTACHED_POLICIES_LIMIT) -> None:
        self.app = app
        self.state = state
        self.attached_quota = attached_quota
        self.refused: list[tuple[str, Refusal]] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        scope = _SCOPE_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if not scope or scope.group("service") != "iam" or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if not length:  # no form to read (a query string only): moto answers
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        params = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace"),
                                                             keep_blank_values=True).items()}
        action = params.get("Action", "")
        if action not in _WRITES:
            return self.app(environ, start_response)
        with self._lock:  # check and write as one step: two calls never both fit under a limit
            refusal = check(action, params, self.state(scope.group("key"), scope.group("region")),
                            self.attached_quota)
            if refusal is None:
                # Drain moto's answer inside the lock, so the write is done when the next check reads.
                chunks: list[bytes] = []
                answer: dict[str, Any] = {}

                def capture(status: str, headers: list, exc_info: Any = None) -> Callable:
                    answer["status"], answer["headers"] = status, headers
                    return chunks.append

                result = self.app(environ, capture)
                try:
                    chunks.extend(result)
                finally:
                    close = getattr(result, "close", None)
                    if close:
                        close()
                start_response(answer["status"], answer["headers"])
                return [b"".join(chunks)]
        self.refused.append((action, refusal))
        request_id = str(uuid.uuid4())
        body = refusal.body(request_id)
        start_response(f"{refusal.status} {_REASONS[refusal.status]}",
                       [("Content-Type", "text/xml"), ("Content-Length", str(len(body))),
                        ("x-amzn-RequestId", request_id)])
        return [body]


_REASONS = {400: "Bad Request", 409: "Conflict"}


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---------------------------------------------------------------------------------- the server
def serve(host: str, port: int) -> None:
    """moto's server (as `moto_server -H host -p port` runs it), behind `IamQuotas`."""
    import os
    import signal
    import sys

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    moto = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, IamQuotas(moto), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="moto's server with IAM's quotas enforced")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    serve(args.host, args.port)
