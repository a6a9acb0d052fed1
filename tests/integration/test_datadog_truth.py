"""Datadog as the real service behaves, through the real binary: accounts registered with access
keys are conflicts (Datadog cannot switch them to a role), a registration carries one stable mark
and nothing request-level, the previous release's marks are still recognised, a Create is one
call on the happy path, a 403 names the application-key scope the call needs, and Secrets
Manager throttling is waited out past the SDK's own attempts."""

from __future__ import annotations

import pytest

from contract import MARKER_PREFIX, UNCONFIRMED_PREFIX, answered, is_ours, marks_of, physical_id, tags_of
from sandbox.awsfaults import AwsFaultProxy

ACCOUNT = "123456789012"
ACCOUNTS = "/api/v2/integration/aws/accounts"


def stack_tag(stack) -> str:
    return f"registrar_stack:{stack.region}/{stack.name}".lower()


@pytest.mark.parametrize("on_conflict", ["fail", "adopt"])
def test_an_access_key_registration_is_a_conflict_and_its_rollback_touches_nothing(sandbox, on_conflict):
    sb = sandbox
    theirs = sb.datadog.seed_account(ACCOUNT, access_key_id="AKIA514950102505", account_tags=["team:legacy"])
    assert "external_id" not in theirs["attributes"]["auth_config"]
    stack = sb.stack()
    props = sb.datadog_props(sb.datadog_secret(), OnConflict=on_conflict)
    fn = sb.function()

    failed = answered(fn.invoke(stack.create(props)), "FAILED")
    reason = failed["Reason"]
    assert "access keys" in reason and theirs["id"] in reason, reason
    assert "cannot switch" in reason and "remove that registration in Datadog" in reason, reason
    assert "cannot read" not in reason and "Retrying the stack operation is safe" not in reason
    assert failed["PhysicalResourceId"].startswith(MARKER_PREFIX)
    mark = len(sb.datadog.requests)
    answered(fn.invoke(stack.delete(failed["PhysicalResourceId"], props)), "SUCCESS")
    assert sb.datadog.requests[mark:] == [], "the rollback's Delete makes no call"
    assert sb.datadog.accounts() == [theirs] and sb.datadog.changes() == [], "nothing changed"
    assert [r.method for r in sb.datadog.requests_matching("PATCH")] == [], "no attempt to switch it"


def test_a_create_is_one_call_and_leaves_one_stable_mark(sandbox):
    sb = sandbox
    stack = sb.stack()
    props = sb.datadog_props(sb.datadog_secret())
    created = answered(sb.invoke(stack.create(props)), "SUCCESS")
    assert [(r.method, r.path) for r in sb.datadog.requests_matching()] == [("POST", ACCOUNTS)]
    [reg] = sb.datadog.accounts()
    assert is_ours(reg) and marks_of(reg) == [stack_tag(stack)]
    assert tags_of(reg) == [f"aws_account:{ACCOUNT}", stack_tag(stack)]
    assert created["PhysicalResourceId"] == physical_id("datadoghq.com", ACCOUNT, reg["id"])


def test_a_registration_of_the_previous_release_is_recognised_and_its_marks_rewritten(sandbox):
    sb = sandbox
    stack = sb.stack()
    old = sb.datadog.seed_account(ACCOUNT, account_tags=[
        "team:platform", "managed_by:registrar", stack_tag(stack), "registrar_request:0b9f7c1e-5d2a-4c3b-9e8f"])
    props = sb.datadog_props(sb.datadog_secret(), AccountTags=["team:platform"])
    created = answered(sb.invoke(stack.create(props)), "SUCCESS")
    assert created["Data"]["RegistrationId"] == old["id"], "recognised as this stack's, not a conflict"
    [reg] = sb.datadog.accounts()
    assert tags_of(reg) == ["team:platform", stack_tag(stack)], "one mark left, the customer's tag kept"
    assert len([r for r in sb.datadog.requests_matching("POST") if r.status == 200]) == 0


def test_an_update_of_an_unconfirmed_marker_keeps_what_it_owns_after_the_markers_delete(sandbox):
    sb = sandbox
    stack = sb.stack()
    props = sb.datadog_props(sb.datadog_secret())
    fn = sb.function()
    marker = f"{UNCONFIRMED_PREFIX}0b9f7c1e-5d2a-4c3b-9e8f-1a2b3c4d5e6f"
    # The Create's answer was unconfirmed; its POST had landed: this stack's registration exists.
    landed = sb.datadog.seed_account(ACCOUNT, account_tags=[stack_tag(stack)])
    updated = answered(fn.invoke(stack.update(marker, props, props)), "SUCCESS")
    assert updated["Data"]["RegistrationId"] == landed["id"]
    # CloudFormation then deletes the marker (the old id): the registration stays, one mark left.
    answered(fn.invoke(stack.delete(marker, props)), "SUCCESS")
    [reg] = sb.datadog.accounts()
    assert reg["id"] == landed["id"] and marks_of(reg) == [stack_tag(stack)]
    assert [r.method for r in sb.datadog.requests_matching("DELETE")] == []


@pytest.mark.parametrize("method, call, scope", [
    ("PATCH", "PATCH account", "aws_configuration_edit"),
    ("DELETE", "DELETE account", "aws_configurations_manage"),
])
def test_a_403_names_the_scope_the_call_needs(sandbox, method, call, scope):
    sb = sandbox
    stack = sb.stack()
    props = sb.datadog_props(sb.datadog_secret())
    fn = sb.function()
    pid = answered(fn.invoke(stack.create(props)), "SUCCESS")["PhysicalResourceId"]
    sb.datadog.add_fault(method, ACCOUNTS + "/", [{"status": 403}], repeat=True)
    event = (stack.update(pid, dict(props, DisableMetricCollection="true"), props) if method == "PATCH"
             else stack.delete(pid, props))
    failed = answered(fn.invoke(event), "FAILED")
    assert f"Datadog refused {call} with HTTP 403" in failed["Reason"], failed["Reason"]
    assert f"needs the application key's {scope} scope" in failed["Reason"], failed["Reason"]


def test_secrets_manager_throttling_is_waited_out_past_the_sdks_attempts(sandbox):
    sb = sandbox
    proxy = AwsFaultProxy(sb.aws.url).start()
    try:
        arn = sb.datadog_secret()
        # The SDK alone gives up after 4 attempts; 7 throttled answers in a row, then the secret.
        proxy.add_fault("secretsmanager", "GetSecretValue", [{"throttle": True}] * 7)
        inv = sb.invoke(sb.stack().create(sb.datadog_props(arn)),
                        {"AWS_ENDPOINT_URL_SECRETS_MANAGER": proxy.url}, timeout_s=60)
        answered(inv, "SUCCESS")
        calls = proxy.calls("secretsmanager")
        assert len(calls) == 8 and calls[-1].status == 200, [c.status for c in calls]
    finally:
        proxy.stop()
