"""Always exactly one answer, before the deadline, whatever the vendor, the runtime or the
binary itself does: retries on 5xx/429/dropped connections, a vendor that hangs, panics,
deadlines that are past or absurd, a ResponseURL that fails at first."""

from __future__ import annotations

import time
import urllib.request

import pytest

from contract import MARKER_PREFIX, UNCONFIRMED_PREFIX, answered

ACCOUNTS = "/api/v2/integration/aws/accounts"


def test_vendor_5xx_twice_then_success(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    sb.datadog.add_fault("POST", ACCOUNTS, [{"status": 500}, {"status": 500}])
    answered(sb.invoke(sb.stack().create(sb.datadog_props(arn))), "SUCCESS")
    assert [r.status for r in sb.datadog.requests_matching("POST")] == [500, 500, 200]
    assert len(sb.datadog.accounts()) == 1


def test_429_waits_for_the_rate_limit_reset(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    # Datadog sends the whole X-RateLimit-* set; a short period keeps a binary that spreads its
    # retries over the next window(s) quick to test.
    sb.datadog.add_fault("POST", ACCOUNTS, [{"status": 429, "headers": {"X-RateLimit-Reset": "1",
                                                                       "X-RateLimit-Period": "2"}}])
    answered(sb.invoke(sb.stack().create(sb.datadog_props(arn))), "SUCCESS")
    posts = sb.datadog.requests_matching("POST")
    assert [r.status for r in posts] == [429, 200]
    gap = posts[1].received_at - posts[0].received_at
    assert gap >= 0.9, f"retried {gap:.2f}s after a 429 that said X-RateLimit-Reset: 1"


def test_the_organisation_rate_limit_is_honoured(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    stack = sb.stack()
    event = stack.create(sb.datadog_props(arn))
    sb.datadog.set_rate_limit(1, period_s=2)
    # Start at the beginning of a window and spend it, as other stack instances of the StackSet would.
    time.sleep(2 - time.time() % 2 + 0.05)
    keys = {"DD-API-KEY": sb.api_key, "DD-APPLICATION-KEY": sb.app_key}
    urllib.request.urlopen(urllib.request.Request(sb.datadog.url + ACCOUNTS, headers=keys), timeout=5).read()

    answered(sb.invoke(event), "SUCCESS")
    assert len(sb.datadog.accounts()) == 1
    assert sb.datadog.counters.rate_limited >= 1
    # Honouring X-RateLimit-Reset means few 429s, not a retry storm.
    assert sb.datadog.counters.rate_limited <= 4, f"{sb.datadog.counters.rate_limited} requests hit the limit"


def test_a_dropped_connection_is_retried(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    sb.datadog.add_fault("GET", ACCOUNTS, [{"close": True}])
    answered(sb.invoke(sb.stack().create(sb.datadog_props(arn))), "SUCCESS")
    assert len(sb.datadog.accounts()) == 1


def test_a_vendor_that_hangs_still_gets_a_failed_answer_before_the_deadline(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    sb.datadog.add_fault("*", "/api/", [{"hang": True}], repeat=True)
    stack = sb.stack()
    props = sb.datadog_props(arn)
    inv = sb.invoke(stack.create(props), timeout_s=8)
    body = answered(inv, "FAILED")  # includes: arrived before the deadline, process not killed
    # The registration (POST, the first call) was sent and never answered: it may have been made.
    assert body["PhysicalResourceId"].startswith(UNCONFIRMED_PREFIX)
    assert inv.cfn.received_at * 1000 < inv.deadline_ms
    sb.datadog.clear_faults()
    answered(sb.invoke(stack.delete(body["PhysicalResourceId"], props)), "SUCCESS")
    assert sb.datadog.accounts() == []


def test_a_vendor_that_answers_garbage_gets_a_failed_answer(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    sb.datadog.add_fault("*", "/api/", [{"malformed": True}], repeat=True)
    stack = sb.stack()
    props = sb.datadog_props(arn)
    body = answered(sb.invoke(stack.create(props), timeout_s=20), "FAILED")
    # An unreadable answer to the registration: it may have been made.
    assert body["PhysicalResourceId"].startswith(UNCONFIRMED_PREFIX)
    assert "cannot read" in body["Reason"]
    sb.datadog.clear_faults()
    answered(sb.invoke(stack.delete(body["PhysicalResourceId"], props)), "SUCCESS")
    assert sb.datadog.accounts() == []


# A panic in the work is answered FAILED with a failed Create's marker, and the vendor is left
# untouched: tests/handler.rs (`a_panic_in_the_work_is_answered_failed`) checks it through the
# real handler; the binary has no way to be made to panic.


@pytest.mark.parametrize("deadline", ["cargo-lambda 600000", "past", "ten years away"])
def test_an_unusable_runtime_deadline_falls_back_to_the_budget(sandbox, deadline):
    sb = sandbox
    arn = sb.datadog_secret()
    now_ms = int(time.time() * 1000)
    deadline_ms = {"cargo-lambda 600000": 600000, "past": now_ms - 60_000,
                   "ten years away": now_ms + 10 * 365 * 86_400_000}[deadline]
    fn = sb.function({"REGISTRAR_FALLBACK_BUDGET_SECONDS": "5"}, timeout_s=20)
    stack = sb.stack()

    # A healthy vendor: the event is handled normally.
    answered(fn.invoke(stack.create(sb.datadog_props(arn)), deadline_ms=deadline_ms), "SUCCESS")

    # A vendor that hangs: the answer comes within the fallback budget, not at the kill.
    sb.datadog.add_fault("*", "/api/", [{"hang": True}], repeat=True)
    other = sb.stack()
    inv = fn.invoke(other.create(sb.datadog_props(arn)), deadline_ms=deadline_ms)
    answered(inv, "FAILED")
    took = inv.cfn.received_at - inv.delivered_epoch
    assert took <= 5.5, f"answered {took:.1f}s after delivery with a 5s fallback budget"


@pytest.mark.parametrize("faults", [
    [{"status": 503}, {"status": 500}],
    [{"close": True}],
    [{"hang": True}],
], ids=["5xx", "dropped", "hang"])
def test_the_response_put_is_retried(sandbox, faults):
    sb = sandbox
    arn = sb.datadog_secret()
    event = sb.stack().create(sb.datadog_props(arn))
    token = event["ResponseURL"].split("/cfn-response/", 1)[1].split("?", 1)[0]
    sb.catcher.add_faults(faults, token=token)
    inv = sb.invoke(event, timeout_s=30)
    answered(inv, "SUCCESS")
    assert len(inv.cfn_attempts) == len(faults) + 1


def test_a_create_whose_answer_was_lost_is_recovered(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    # Datadog registers the account, but the connection drops before the answer arrives;
    # the retried POST then meets the registration it made itself (409).
    sb.datadog.add_fault("POST", ACCOUNTS, [{"drop_response": True}])
    body = answered(sb.invoke(sb.stack().create(sb.datadog_props(arn))), "SUCCESS")
    [reg] = sb.datadog.accounts()
    assert body["Data"]["RegistrationId"] == reg["id"]
    assert body["PhysicalResourceId"].endswith(":" + reg["id"])


def test_a_stackset_rollout_against_a_rate_limited_flaky_vendor(sandbox):
    """Several member accounts at once (StackSet MaxConcurrentCount) against one Datadog org
    with a tight organisation-wide rate limit and 20% random 5xx: every instance succeeds."""
    from concurrent.futures import ThreadPoolExecutor

    sb = sandbox
    arn = sb.datadog_secret()
    accounts = [f"10000000{n:04d}" for n in range(1, 7)]
    stacks = [sb.stack(account=account) for account in accounts]
    functions = [sb.function(timeout_s=40) for _ in accounts]
    sb.datadog.set_rate_limit(4, period_s=2)
    sb.datadog.set_error_rate(0.2, seed=7)
    with ThreadPoolExecutor(len(accounts)) as pool:
        invocations = list(pool.map(lambda pair: pair[0].invoke(pair[1].create(sb.datadog_props(arn))),
                                    zip(functions, stacks, strict=True)))
    for inv in invocations:
        answered(inv, "SUCCESS")
    registered = sorted(a["attributes"]["aws_account_id"] for a in sb.datadog.accounts())
    assert registered == accounts, "each member account registered exactly once"
    assert sb.datadog.counters.created == len(accounts)
    statuses = sb.datadog.counters.by_status
    assert sb.datadog.counters.rate_limited + sum(n for s, n in statuses.items() if s >= 500) > 0, \
        "the scenario should have produced 429s or 5xx for the binary to ride out"


def test_an_aws_endpoint_that_hangs_still_gets_a_failed_answer_before_the_deadline(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    hole = sb.blackhole()  # Secrets Manager (and STS) accept the connection and never answer
    inv = sb.invoke(sb.stack().create(sb.datadog_props(arn)), {"AWS_ENDPOINT_URL": hole.url}, timeout_s=8)
    body = answered(inv, "FAILED")
    assert hole.requests, "the secret read should have been attempted"
    assert body["PhysicalResourceId"].startswith(MARKER_PREFIX)
    assert sb.datadog.requests == []
