"""The binary's contract as the tests check it: names, formats and one shared assertion.

One job: say once what every CloudFormation answer must look like (CloudFormation's
custom-resource response rules and the README's "Contract"), so each test only adds what is
specific to its scenario:
- exactly one accepted PUT to the event's ResponseURL, before the deadline;
- an empty Content-Type header, a body of at most 4096 bytes that is JSON;
- StackId, RequestId and LogicalResourceId copied verbatim;
- a non-empty PhysicalResourceId of at most 1 KB; a Reason on FAILED;
- the runtime told "response" (not an error), so Lambda's asynchronous retry
  never replays the event (Lambda's asynchronous invocation retries a function error).
"""

from __future__ import annotations

import re

from sandbox import Invocation

# Registrar's marks on a Datadog registration: one stable stack tag (src/integrations/datadog/marks.rs);
# the previous release also wrote the other two, and a transient claim may stand for a moment.
STACK_TAG_PREFIX = "registrar_stack:"
LEGACY_MANAGED_TAG = "managed_by:registrar"
LEGACY_REQUEST_TAG_PREFIX = "registrar_request:"
CLAIM_TAG_PREFIX = "registrar_claims:"
MARKER_PREFIX = "registrar:create-failed:"
UNCONFIRMED_PREFIX = "registrar:create-unconfirmed:"
PHYSICAL_ID_RE = re.compile(
    r"^registrar:datadog:(?P<site>[a-z0-9.-]+):(?P<partition>aws|aws-cn|aws-us-gov):(?P<account>\d{12}):"
    r"(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
# Datadog's AWS account per site in the aws partition (Mappings.DatadogPrincipalAccount).
PRINCIPAL = {"datadoghq.com": "464622532012", "ap1.datadoghq.com": "417141415827", "datadoghq.eu": "464622532012"}
MAX_BODY = 4096


def physical_id(site: str, account: str, registration_id: str, partition: str = "aws") -> str:
    return f"registrar:datadog:{site}:{partition}:{account}:{registration_id}"


def answered(inv: Invocation, status: str) -> dict:
    """Assert the invocation answered CloudFormation correctly with `status`; return the body."""
    why = inv.describe()
    assert inv.cfn is not None, f"no CloudFormation response arrived\n{why}"
    assert inv.cfn_count == 1, f"expected exactly one response PUT, got {inv.cfn_count}\n{why}"
    record = inv.cfn
    assert record.method == "PUT", why
    assert record.content_type == "", f"Content-Type must be sent and empty, got {record.content_type!r}"
    assert len(record.raw) <= MAX_BODY, f"response body is {len(record.raw)} bytes (> {MAX_BODY})"
    length = record.header("Content-Length")
    assert length is not None and int(length) == len(record.raw), \
        f"Content-Length {length!r} vs {len(record.raw)} bytes"
    body = record.body_json
    event = inv.event
    for field in ("StackId", "RequestId", "LogicalResourceId"):
        assert body.get(field) == event.get(field), f"{field} not copied verbatim: {body.get(field)!r}\n{why}"
    pid = body.get("PhysicalResourceId")
    assert isinstance(pid, str) and pid.strip(), f"empty PhysicalResourceId\n{why}"
    assert len(pid.encode()) <= 1024, f"PhysicalResourceId longer than 1 KB: {len(pid)}"
    assert body.get("Status") == status, f"expected {status}, got {body.get('Status')!r}: {body.get('Reason')!r}\n{why}"
    if status == "FAILED":
        assert isinstance(body.get("Reason"), str) and body["Reason"].strip(), f"FAILED without a Reason\n{why}"
    if "Data" in body:
        assert isinstance(body["Data"], dict), f"Data must be an object: {body['Data']!r}"
    if inv.deadline_ms is not None and not inv.deadline_overridden:
        # A real deadline (not a past/absurd override): the answer came before it.
        assert record.received_at * 1000 < inv.deadline_ms, "response arrived after the deadline"
    assert not inv.timed_out, f"the function was killed at its deadline\n{why}"
    assert inv.runtime_result[0] == "response", (
        f"the handler should return success to the runtime after answering CloudFormation "
        f"(an error makes Lambda retry the async invoke); got {inv.runtime_result!r}")
    return body


def tags_of(account: dict) -> list[str]:
    return list(account["attributes"].get("account_tags") or [])


def marks_of(account: dict) -> list[str]:
    """Registrar's tags on a registration, of this release or the previous one."""
    return [t for t in (t.lower() for t in tags_of(account))
            if t == LEGACY_MANAGED_TAG or t.startswith((STACK_TAG_PREFIX, LEGACY_REQUEST_TAG_PREFIX, CLAIM_TAG_PREFIX))]


def is_ours(account: dict) -> bool:
    """Marked as a Registrar stack's with exactly one tag: the stack tag, nothing request-level."""
    marks = marks_of(account)
    return len(marks) == 1 and marks[0].startswith(STACK_TAG_PREFIX)
