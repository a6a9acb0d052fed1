"""The fault matrix: every external dependency × every failure mode, plus the lifecycle races,
each one test through the real binary, each checking the same invariants:

- exactly one answer, before the deadline (for the ResponseURL's own faults, where no answer may
  be possible: the binary gives up before the deadline and tells the runtime, never gets killed);
- the status a platform engineer wants, with a reason naming what to look at;
- vendor state as intended: no duplicate, no orphan made by us, the pre-existing registration of
  another account untouched;
- no secret in the logs, the answers or the vendor requests (checked here and again by the
  `sandbox` fixture after every test).

Dependencies: Secrets Manager and STS (moto behind `AwsFaultProxy`, reached through the SDK's
`AWS_ENDPOINT_URL_SECRETS_MANAGER` / `AWS_ENDPOINT_URL_STS`), the vendor API (the Datadog
emulator's fault steps), the ResponseURL (the catcher's fault steps). Connection refused is an
endpoint on a closed port. Hang cells run with short function timeouts (6–10 s).

The matrix is printed at the end of the run (conftest.py → matrix.py).
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from contract import MARKER_PREFIX, PHYSICAL_ID_RE, UNCONFIRMED_PREFIX, answered, is_ours
from matrix import Cell
from sandbox import Invocation
from sandbox.awsfaults import AwsFaultProxy

ACCOUNT = "123456789012"  # the member account of every stack (moto's default account)
FOREIGN_ACCOUNT = "999900001111"  # registered by someone else before the test: must stay untouched
CENTRAL = "999988887777"  # the account holding the secret in SecretRoleArn cells
ACCOUNTS = "/api/v2/integration/aws/accounts"
HANG_TIMEOUT_S = 8.0
SLOW_MS = 2000


# ---------------------------------------------------------------------------------- fixtures


@pytest.fixture
def aws_faults(sandbox):
    """A fault-injecting proxy in front of this session's moto (stopped before the sandbox)."""
    proxy = AwsFaultProxy(sandbox.aws.url).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def foreign(sandbox) -> dict:
    """Another account's registration made by someone else; every cell checks it is untouched."""
    return sandbox.datadog.seed_account(FOREIGN_ACCOUNT, account_tags=["team:someone-else"])


def closed_port_url() -> str:
    """A loopback URL nothing listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def central_secret(sb) -> tuple[str, str]:
    """A secret in a central account, readable through SecretRoleArn; (secret ARN, role ARN)."""
    role_arn = f"arn:aws:iam::{CENTRAL}:role/registrar-secret-reader"
    creds = sb.aws.assume_role(role_arn, "setup")
    sb.aws.create_role("registrar-secret-reader", ACCOUNT, credentials=creds)
    return sb.datadog_secret(credentials=creds), role_arn


def token(event: dict) -> str:
    return event["ResponseURL"].split("/cfn-response/", 1)[1].split("?", 1)[0]


# ---------------------------------------------------------------------------------- invariants


def describe(inv: Invocation) -> str:
    """`FAILED 7.4s`, or what happened instead of an answer."""
    took = ((inv.cfn.received_at - inv.delivered_epoch) if inv.cfn and inv.delivered_epoch
            else inv.elapsed_s)
    if inv.cfn is not None:
        return f"{inv.body.get('Status')} {took:.1f}s"
    return f"no answer; runtime {inv.runtime_result[0]} {took:.1f}s"


def holds(cell: Cell, sb, inv: Invocation, status: str, *, reason_names: tuple[str, ...] = (),
          registered: bool | None = None, foreign: dict | None = None) -> dict:
    """The shared invariants of one answered invocation; records each in the cell, then asserts
    them all (contract.answered() is the authority on the answer itself)."""
    cell.outcome = describe(inv)
    body: dict = {}
    try:
        body = answered(inv, status)
        cell.check("one answer before the deadline", True)
        cell.check(f"status {status}", True)
    except AssertionError:
        cell.check("one answer before the deadline", inv.cfn_count == 1 and not inv.timed_out)
        cell.check(f"status {status}", inv.cfn is not None and inv.status == status)
        raise
    finally:
        if body:
            reason = body.get("Reason") or ""
            cell.reason = sb.redact(reason)
            if reason_names:
                cell.check("reason names the cause", all(word.lower() in reason.lower() for word in reason_names))
            if status == "SUCCESS":
                cell.check("id names the registration", _names_registration(sb, body))
        if registered is not None:
            vendor_state(cell, sb, registered=registered, foreign=foreign)
        cell.check("no secret leaked", not sb.leaks())
    assert cell.broken() == [], f"invariants broken: {cell.broken()}\n{inv.describe()}"
    return body


def _names_registration(sb, body: dict) -> bool:
    match = PHYSICAL_ID_RE.match(body.get("PhysicalResourceId") or "")
    return bool(match) and sb.datadog.account(match.group("id")) is not None \
        and body["Data"]["RegistrationId"] == match.group("id")


def vendor_state(cell: Cell, sb, *, registered: bool, foreign: dict | None) -> None:
    """No duplicate; exactly one registration of ours if `registered`, none (no orphan) if not;
    the foreign registration untouched."""
    mine = sb.datadog.find(ACCOUNT)
    cell.check("no duplicate", len(mine) <= 1)
    if registered:
        cell.check("registered once, as ours", len(mine) == 1 and is_ours(mine[0]))
    else:
        cell.check("no orphan", mine == [])
    if foreign is not None:
        touched = [r for r in sb.datadog.mutating_requests() if foreign["id"] in r.path]
        cell.check("pre-existing untouched", sb.datadog.account(foreign["id"]) == foreign and not touched)


def gave_up_in_time(cell: Cell, sb, inv: Invocation, *, foreign: dict) -> None:
    """A ResponseURL that cannot take the answer: the binary stops trying before the deadline and
    reports an error to the runtime (no hang until the kill, no accepted PUT)."""
    cell.outcome = describe(inv)
    cell.reason = "runtime error: " + sb.redact(str(inv.runtime_result[1]))
    cell.check("no accepted answer (none possible)", inv.cfn_count == 0)
    cell.check("runtime told of the error", inv.runtime_result[0] == "error")
    cell.check("gave up before the deadline", not inv.timed_out and inv.elapsed_s < inv.timeout_s)
    vendor_state(cell, sb, registered=True, foreign=foreign)
    cell.check("no secret leaked", not sb.leaks())
    assert cell.broken() == [], f"invariants broken: {cell.broken()}\n{inv.describe()}"


# ---------------------------------------------------------------------------------- Secrets Manager, STS

SM = "Secrets Manager"
STS = "STS (SecretRoleArn)"
AWS = pytest.mark.parametrize("service", ["secretsmanager", "sts"])


def aws_cell(request, sb, service: str, proxy: AwsFaultProxy | None, mode: str, expected: str,
             steps: list[dict] | None, *, repeat: bool = False, timeout_s: float = 30.0,
             env: dict | None = None) -> tuple[Cell, Invocation, str]:
    """A Create whose key read meets `steps` at `service`: `secretsmanager` (GetSecretValue) or `sts`
    (AssumeRole of SecretRoleArn, before reading a central secret). Returns the cell, the
    invocation, and what a FAILED reason must name (the secret's ARN, or the role's)."""
    if service == "sts":
        arn, named = central_secret(sb)
        props, operation, dependency = sb.datadog_props(arn, SecretRoleArn=named), "AssumeRole", STS
    else:
        arn = named = sb.datadog_secret()
        props, operation, dependency = sb.datadog_props(arn), "GetSecretValue", SM
    cell = Cell.open(request, dependency, mode, expected)
    if steps:
        proxy.add_fault(service, operation, steps, repeat=repeat)
    variable = "AWS_ENDPOINT_URL_STS" if service == "sts" else "AWS_ENDPOINT_URL_SECRETS_MANAGER"
    inv = sb.invoke(sb.stack().create(props), env or {variable: proxy.url}, timeout_s=timeout_s)
    return cell, inv, named


@AWS
def test_aws_error_status_that_clears(request, sandbox, aws_faults, foreign, service):
    cell, inv, _ = aws_cell(request, sandbox, service, aws_faults, "HTTP 500, 503, then OK", "SUCCESS",
                            [{"status": 500}, {"status": 503}])
    holds(cell, sandbox, inv, "SUCCESS", registered=True, foreign=foreign)
    assert [r.status for r in aws_faults.calls(service)][-3:] == [500, 503, 200]


@AWS
def test_aws_error_status_permanent(request, sandbox, aws_faults, foreign, service):
    status, code, hint = {"secretsmanager": (400, "AccessDeniedException", "GetSecretValue permission"),
                          "sts": (403, "AccessDenied", "trust policy")}[service]
    cell, inv, named = aws_cell(request, sandbox, service, aws_faults, f"HTTP {status} {code}", "FAILED, names it",
                                [{"status": status, "code": code, "message": "not authorized"}], repeat=True)
    body = holds(cell, sandbox, inv, "FAILED", reason_names=(named, hint), registered=False, foreign=foreign)
    assert body["PhysicalResourceId"].startswith(MARKER_PREFIX)
    assert len(aws_faults.calls(service)) == 1, "a permanent error is not retried"


@AWS
def test_aws_throttling_that_clears(request, sandbox, aws_faults, foreign, service):
    cell, inv, _ = aws_cell(request, sandbox, service, aws_faults, "throttled twice, then OK", "SUCCESS",
                            [{"throttle": True}, {"throttle": True}])
    holds(cell, sandbox, inv, "SUCCESS", registered=True, foreign=foreign)


@AWS
def test_aws_throttling_persistent(request, sandbox, aws_faults, foreign, service):
    cell, inv, named = aws_cell(request, sandbox, service, aws_faults, "throttled, always", "FAILED, names it",
                                [{"throttle": True}], repeat=True, timeout_s=10)
    holds(cell, sandbox, inv, "FAILED", reason_names=(named,), registered=False, foreign=foreign)
    assert sandbox.datadog.requests_matching() == []


@AWS
def test_aws_connection_refused(request, sandbox, foreign, service):
    variable = "AWS_ENDPOINT_URL_STS" if service == "sts" else "AWS_ENDPOINT_URL_SECRETS_MANAGER"
    cell, inv, named = aws_cell(request, sandbox, service, None, "connection refused", "FAILED, names it", None,
                                timeout_s=10, env={variable: closed_port_url()})
    holds(cell, sandbox, inv, "FAILED", reason_names=(named,), registered=False, foreign=foreign)


@AWS
def test_aws_slow_answer(request, sandbox, aws_faults, foreign, service):
    cell, inv, _ = aws_cell(request, sandbox, service, aws_faults, f"answer after {SLOW_MS} ms", "SUCCESS",
                            [{"latency_ms": SLOW_MS}])
    holds(cell, sandbox, inv, "SUCCESS", registered=True, foreign=foreign)
    assert len(aws_faults.calls(service)) == 1, "a slow answer within the attempt timeout is awaited"


@AWS
def test_aws_hang(request, sandbox, aws_faults, foreign, service):
    cell, inv, named = aws_cell(request, sandbox, service, aws_faults, "no answer (hang)", "FAILED before deadline",
                                [{"hang": True}], repeat=True, timeout_s=HANG_TIMEOUT_S)
    # The guard's reason says what the work waited for: the role (STS) or the secret.
    waited_for = ("SecretRoleArn", "STS") if service == "sts" else ("Secrets Manager",)
    holds(cell, sandbox, inv, "FAILED", reason_names=waited_for, registered=False, foreign=foreign)


@AWS
def test_aws_malformed_body(request, sandbox, aws_faults, foreign, service):
    cell, inv, named = aws_cell(request, sandbox, service, aws_faults, "HTTP 200, body unreadable", "FAILED, names it",
                                [{"malformed": True}], repeat=True, timeout_s=10)
    holds(cell, sandbox, inv, "FAILED", reason_names=(named,), registered=False, foreign=foreign)


def test_sm_malformed_body_carrying_the_secret(request, sandbox, aws_faults, foreign):
    sb = sandbox
    arn = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:registrar/keys-AbCdEf"  # the proxy answers for it
    value = '{"api_key": "%s", "app_key": "%s"}' % (sb.api_key, sb.app_key)
    body = {"ARN": arn, "Name": "registrar/keys", "VersionId": str(uuid.uuid4()), "SecretString": value,
            "VersionStages": ["AWSCURRENT"], "CreatedDate": "yesterday"}  # CreatedDate must be a number
    aws_faults.add_fault("secretsmanager", "GetSecretValue", [{"status": 200, "body": body}], repeat=True)
    cell = Cell.open(request, SM, "HTTP 200, secret in body, bad field", "FAILED, no secret shown")
    inv = sb.invoke(sb.stack().create(sb.datadog_props(arn)), {"AWS_ENDPOINT_URL_SECRETS_MANAGER": aws_faults.url},
                    timeout_s=10)
    holds(cell, sb, inv, "FAILED", reason_names=(arn,), registered=False, foreign=foreign)


def test_sts_malformed_body_carrying_credentials(request, sandbox, aws_faults, foreign):
    secret_key, session_token = uuid.uuid4().hex + uuid.uuid4().hex, "FQoGZXIvYXdzE" + uuid.uuid4().hex * 4
    sandbox.add_secret_value("STS SecretAccessKey", secret_key)
    sandbox.add_secret_value("STS SessionToken", session_token)
    xml = ('<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>'
           f"<Credentials><AccessKeyId>ASIAFAKEFAKEFAKE1234</AccessKeyId><SecretAccessKey>{secret_key}"
           f"</SecretAccessKey><SessionToken>{session_token}</SessionToken><Expiration>soon</Expiration>"
           "</Credentials></AssumeRoleResult></AssumeRoleResponse>")
    cell, inv, role = aws_cell(request, sandbox, "sts", aws_faults, "HTTP 200, credentials in body, bad field",
                               "FAILED, no secret shown",
                               [{"status": 200, "body": xml, "content_type": "text/xml"}], repeat=True,
                               timeout_s=10)
    holds(cell, sandbox, inv, "FAILED", reason_names=(role,), registered=False, foreign=foreign)


# ---------------------------------------------------------------------------------- vendor API

VENDOR = "vendor API (Datadog)"


def vendor_cell(request, sb, mode: str, expected: str, faults: list[tuple[str, str, list[dict], bool]], *,
                timeout_s: float = 30.0, env: dict | None = None) -> tuple[Cell, Invocation, dict]:
    cell = Cell.open(request, VENDOR, mode, expected)
    arn = sb.datadog_secret()
    for method, path, steps, repeat in faults:
        sb.datadog.add_fault(method, path, steps, repeat=repeat)
    event = sb.stack().create(sb.datadog_props(arn))
    return cell, sb.invoke(event, env, timeout_s=timeout_s), event


def test_vendor_error_status_that_clears(request, sandbox, foreign):
    cell, inv, _ = vendor_cell(request, sandbox, "HTTP 5xx on GET and POST, then OK", "SUCCESS",
                               [("GET", ACCOUNTS, [{"status": 503}], False),
                                ("POST", ACCOUNTS, [{"status": 500}, {"status": 502}], False)])
    holds(cell, sandbox, inv, "SUCCESS", registered=True, foreign=foreign)


def test_vendor_error_status_persistent(request, sandbox, foreign):
    cell, inv, _ = vendor_cell(request, sandbox, "HTTP 503, always", "FAILED before deadline",
                               [("*", "/api/", [{"status": 503}], True)], timeout_s=HANG_TIMEOUT_S)
    holds(cell, sandbox, inv, "FAILED", reason_names=("Datadog", "503", "retrying the stack operation is safe"),
          registered=False, foreign=foreign)


def test_vendor_throttling_that_clears(request, sandbox, foreign):
    throttled = {"status": 429, "headers": {"X-RateLimit-Reset": "1", "X-RateLimit-Period": "2"}}
    cell, inv, _ = vendor_cell(request, sandbox, "HTTP 429 (Reset 1 s) twice, then OK", "SUCCESS",
                               [("POST", ACCOUNTS, [throttled, throttled], False)])
    holds(cell, sandbox, inv, "SUCCESS", registered=True, foreign=foreign)


def test_vendor_throttling_persistent(request, sandbox, foreign):
    throttled = {"status": 429, "headers": {"X-RateLimit-Reset": "1", "X-RateLimit-Period": "1"}}
    cell, inv, _ = vendor_cell(request, sandbox, "HTTP 429, always", "FAILED before deadline",
                               [("*", "/api/", [throttled], True)], timeout_s=HANG_TIMEOUT_S)
    holds(cell, sandbox, inv, "FAILED", reason_names=("Datadog", "429"), registered=False, foreign=foreign)
    assert len(sandbox.datadog.requests) <= 8, "429s are waited out, not hammered"


def test_vendor_connection_refused(request, sandbox, foreign):
    cell, inv, _ = vendor_cell(request, sandbox, "connection refused", "FAILED before deadline", [],
                               timeout_s=HANG_TIMEOUT_S, env={"REGISTRAR_VENDOR_ENDPOINT": closed_port_url()})
    holds(cell, sandbox, inv, "FAILED", reason_names=("Datadog", "connection refused"), registered=False,
          foreign=foreign)


def test_vendor_slow_answer(request, sandbox, foreign):
    cell, inv, _ = vendor_cell(request, sandbox, f"answer after {SLOW_MS} ms", "SUCCESS",
                               [("POST", ACCOUNTS, [{"latency_ms": SLOW_MS}], False)])
    holds(cell, sandbox, inv, "SUCCESS", registered=True, foreign=foreign)
    assert len(sandbox.datadog.requests_matching("POST")) == 1, "a slow answer is awaited, not re-sent"


def test_vendor_hang(request, sandbox, foreign):
    cell, inv, _ = vendor_cell(request, sandbox, "no answer (hang)", "FAILED before deadline",
                               [("*", "/api/", [{"hang": True}], True)], timeout_s=HANG_TIMEOUT_S)
    # The first call is the registration (POST): the reason names it.
    holds(cell, sandbox, inv, "FAILED", reason_names=("Datadog", "POST"), registered=False, foreign=foreign)


def test_vendor_malformed_body(request, sandbox, foreign):
    cell, inv, _ = vendor_cell(request, sandbox, "HTTP 200, body not JSON", "FAILED",
                               [("*", "/api/", [{"malformed": True}], True)])
    holds(cell, sandbox, inv, "FAILED", reason_names=("Datadog", "cannot read"), registered=False,
          foreign=foreign)


@pytest.mark.parametrize("variant", ["garbled", "late"])
def test_vendor_did_the_work_but_the_answer_was_lost(request, sandbox, foreign, variant):
    # garbled: the POST is done, its answer is unreadable; the Create looks again and finds what
    # its request made. late: the POST is processed after 7 s, the function times out at 6 s (work
    # deadline 5 s); the Create answers the unconfirmed marker, whose Delete removes what that
    # request made.
    mode, step, timeout_s = {"garbled": ("POST done, answer garbled", {"garble_response": True}, 30.0),
                             "late": ("POST lands after the deadline", {"latency_ms": 7000}, 6.0)}[variant]
    cell, inv, event = vendor_cell(request, sandbox, mode, "no orphan after rollback",
                                   [("POST", ACCOUNTS, [step], False)], timeout_s=timeout_s)
    deadline = time.monotonic() + 10
    while not sandbox.datadog.find(ACCOUNT) and time.monotonic() < deadline:
        time.sleep(0.1)  # the vendor finishes the late POST
    _rollback_then_no_orphan(cell, sandbox, inv, event, foreign)


def _rollback_then_no_orphan(cell: Cell, sb, inv: Invocation, event: dict, foreign: dict) -> None:
    """The Create must answer; if FAILED, CloudFormation's rollback Delete of the id it gave must
    leave no registration of ours behind."""
    cell.outcome = describe(inv)
    body = answered(inv, inv.status or "FAILED")
    cell.reason = sb.redact(body.get("Reason") or "")
    cell.check("one answer before the deadline", True)
    if body["Status"] == "FAILED":
        stack_event = dict(event)
        delete = dict(stack_event, RequestType="Delete", PhysicalResourceId=body["PhysicalResourceId"],
                      RequestId=str(uuid.uuid4()), ResponseURL=sb.catcher.issue().url)
        answered(sb.invoke(delete), "SUCCESS")
        cell.outcome += " → rollback Delete SUCCESS"
        vendor_state(cell, sb, registered=False, foreign=foreign)
    else:
        vendor_state(cell, sb, registered=True, foreign=foreign)
    cell.check("no secret leaked", not sb.leaks())
    assert cell.broken() == [], f"invariants broken: {cell.broken()}\n{inv.describe()}"


# ---------------------------------------------------------------------------------- ResponseURL

RURL = "ResponseURL (S3)"


def rurl_cell(request, sb, mode: str, expected: str, faults: list[dict], *, timeout_s: float = 30.0,
              url: str | None = None) -> tuple[Cell, Invocation]:
    cell = Cell.open(request, RURL, mode, expected)
    arn = sb.datadog_secret()
    event = sb.stack().create(sb.datadog_props(arn))
    if faults:
        sb.catcher.add_faults(faults, token=token(event))
    if url is not None:
        event["ResponseURL"] = url + event["ResponseURL"][len(sb.catcher.url):]
    return cell, sb.invoke(event, timeout_s=timeout_s)


def test_rurl_error_status_that_clears(request, sandbox, foreign):
    cell, inv = rurl_cell(request, sandbox, "HTTP 503, 500, then OK", "one accepted PUT",
                          [{"status": 503}, {"status": 500}])
    holds(cell, sandbox, inv, "SUCCESS", registered=True, foreign=foreign)
    cell.check("retried, then accepted once", [r.served_status for r in inv.cfn_attempts] == [503, 500, 200])
    assert cell.broken() == []


def test_rurl_error_status_permanent(request, sandbox, foreign):
    cell, inv = rurl_cell(request, sandbox, "HTTP 403 AccessDenied (expired URL)", "gives up at once",
                          [{"status": 403}] * 3)
    gave_up_in_time(cell, sandbox, inv, foreign=foreign)
    cell.check("a 403 is final (one attempt)", len(inv.cfn_attempts) == 1)
    assert cell.broken() == []


def test_rurl_throttling_that_clears(request, sandbox, foreign):
    cell, inv = rurl_cell(request, sandbox, "HTTP 503 SlowDown twice, then OK", "one accepted PUT",
                          [{"status": 503, "code": "SlowDown"}] * 2)
    holds(cell, sandbox, inv, "SUCCESS", registered=True, foreign=foreign)


def test_rurl_connection_refused(request, sandbox, foreign):
    cell, inv = rurl_cell(request, sandbox, "connection refused", "gives up before deadline", [],
                          timeout_s=HANG_TIMEOUT_S, url=closed_port_url())
    gave_up_in_time(cell, sandbox, inv, foreign=foreign)


def test_rurl_slow_answer(request, sandbox, foreign):
    cell, inv = rurl_cell(request, sandbox, f"answer after {SLOW_MS} ms", "one accepted PUT",
                          [{"latency_ms": SLOW_MS}])
    holds(cell, sandbox, inv, "SUCCESS", registered=True, foreign=foreign)
    cell.check("awaited, not re-sent", len(inv.cfn_attempts) == 1)
    assert cell.broken() == []


def test_rurl_hang(request, sandbox, foreign):
    cell, inv = rurl_cell(request, sandbox, "no answer (hang), always", "gives up before deadline",
                          [{"hang": True}] * 4, timeout_s=HANG_TIMEOUT_S)
    gave_up_in_time(cell, sandbox, inv, foreign=foreign)


def test_rurl_malformed_answer(request, sandbox, foreign):
    cell, inv = rurl_cell(request, sandbox, "answer not HTTP, then OK", "one accepted PUT", [{"malformed": True}])
    holds(cell, sandbox, inv, "SUCCESS", registered=True, foreign=foreign)
    cell.check("retried once", len(inv.cfn_attempts) == 2)
    assert cell.broken() == []


# ---------------------------------------------------------------------------------- lifecycle races

RACE = "lifecycle race"


@pytest.mark.parametrize("delete_id", [
    "made-up id",
    # What the guard answers when it cuts a Create short while its POST is still on the way.
    "unconfirmed marker of the running Create",
])
def test_delete_arriving_while_create_runs(request, sandbox, foreign, delete_id):
    cell = Cell.open(request, RACE, f"Delete ({delete_id}) during Create", "no orphan")
    sb = sandbox
    arn = sb.datadog_secret()
    stack = sb.stack()
    props = sb.datadog_props(arn)
    create = stack.create(props)
    sb.datadog.add_fault("POST", ACCOUNTS, [{"latency_ms": 3000}])  # the Create is mid-flight
    physical = (f"{stack.name}-{stack.logical_id}-{uuid.uuid4().hex[:12].upper()}" if delete_id == "made-up id"
                else f"{UNCONFIRMED_PREFIX}{create['RequestId']}")
    creator, deleter = sb.function(), sb.function()
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(creator.invoke, create)
        _wait_for(lambda: sb.datadog.requests_matching("POST"), 10)
        deleted = deleter.invoke(stack.delete(physical, props))
        created = running.result(timeout=60)
    cell.outcome = f"Delete {describe(deleted)}, Create {describe(created)}"
    answered(deleted, "SUCCESS")
    answered(created, created.status or "SUCCESS")
    cell.check("one answer before the deadline", True)
    vendor_state(cell, sb, registered=False, foreign=foreign)
    cell.check("no secret leaked", not sb.leaks())
    assert cell.broken() == [], f"invariants broken: {cell.broken()}"


def test_create_delivered_twice_at_once(request, sandbox, foreign):
    cell = Cell.open(request, RACE, "same Create to two processes at once", "one registration")
    sb = sandbox
    arn = sb.datadog_secret()
    event = sb.stack().create(sb.datadog_props(arn))
    # The first POST is held for 3 s before the emulator acts on it: meanwhile the other process
    # looks (nothing yet) and registers; the held POST then meets that registration (409).
    sb.datadog.add_fault("POST", ACCOUNTS, [{"latency_ms": 3000}])
    fns = [sb.function(), sb.function()]
    barrier = threading.Barrier(2)

    def deliver(fn):
        barrier.wait(5)
        return fn.invoke(event)

    with ThreadPoolExecutor(2) as pool:
        invs = list(pool.map(deliver, fns))
    # Both deliveries share one ResponseURL, so the PUTs are told apart by count, not by process.
    puts = sb.catcher.records(token(event), accepted_only=True)
    cell.outcome = " / ".join(f"{p.body_json['Status']} {p.received_at - min(i.delivered_epoch for i in invs):.1f}s"
                              for p in puts)
    cell.check("each delivery answered once", len(puts) == 2 and all(i.runtime_result[0] == "response" for i in invs))
    cell.check("status SUCCESS", all(p.body_json["Status"] == "SUCCESS" for p in puts))
    cell.check("same PhysicalResourceId", len({p.body_json["PhysicalResourceId"] for p in puts}) == 1)
    cell.check("one answer before the deadline",
               not any(i.timed_out for i in invs) and all(p.received_at * 1000 < min(i.deadline_ms for i in invs)
                                                           for p in puts))
    cell.check("both POSTed (the race happened)", len(sb.datadog.requests_matching("POST")) == 2)
    vendor_state(cell, sb, registered=True, foreign=foreign)
    cell.check("no secret leaked", not sb.leaks())
    assert cell.broken() == [], f"invariants broken: {cell.broken()}\n" + "\n".join(i.describe() for i in invs)


def created(sb, **overrides) -> tuple:
    """A stack whose Create succeeded: (stack, its warm function, the properties, the physical id)."""
    stack, fn, props = sb.stack(), sb.function(), sb.datadog_props(sb.datadog_secret(), **overrides)
    return stack, fn, props, answered(fn.invoke(stack.create(props)), "SUCCESS")["PhysicalResourceId"]


def test_rollback_update_with_swapped_properties(request, sandbox, foreign):
    cell = Cell.open(request, RACE, "rollback Update (swapped), PATCH 503 once", "SUCCESS, old settings")
    sb = sandbox
    stack, fn, old, pid = created(sb, AccountTags=["team:a"])
    new = dict(old, DisableMetricCollection="true", AccountTags=["team:b"])
    answered(fn.invoke(stack.update(pid, new, old)), "SUCCESS")
    sb.datadog.add_fault("PATCH", ACCOUNTS + "/", [{"status": 503}])  # the vendor stumbles during the rollback
    inv = fn.invoke(stack.update(pid, old, new))  # UPDATE_ROLLBACK_IN_PROGRESS
    body = holds(cell, sb, inv, "SUCCESS", registered=True, foreign=foreign)
    [reg] = sb.datadog.find(ACCOUNT)
    cell.check("same PhysicalResourceId", body["PhysicalResourceId"] == pid)
    cell.check("old settings back", reg["attributes"]["metrics_config"]["enabled"] is True
               and "team:a" in reg["attributes"]["account_tags"] and "team:b" not in reg["attributes"]["account_tags"])
    cell.check("no re-create", len(sb.datadog.requests_matching("POST")) == 1)
    assert cell.broken() == []


def test_update_after_an_out_of_band_delete(request, sandbox, foreign):
    cell = Cell.open(request, RACE, "Update after out-of-band delete, POST 500 once", "SUCCESS, re-registered")
    sb = sandbox
    stack, fn, props, pid = created(sb)
    sb.datadog.remove_account(sb.datadog.find(ACCOUNT)[0]["id"])  # removed in the Datadog UI
    sb.datadog.add_fault("POST", ACCOUNTS, [{"status": 500}])  # and the re-registration stumbles once
    inv = fn.invoke(stack.update(pid, dict(props, DisableMetricCollection="true"), props))
    body = holds(cell, sb, inv, "SUCCESS", registered=True, foreign=foreign)
    if body["PhysicalResourceId"] != pid:
        # A new id is a replacement: CloudFormation deletes the old id, which must not touch the new one.
        answered(fn.invoke(stack.delete(pid, props)), "SUCCESS")
        cell.outcome += " → cleanup Delete SUCCESS"
    vendor_state(cell, sb, registered=True, foreign=foreign)
    assert cell.broken() == []


def _wait_for(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
