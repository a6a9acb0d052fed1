"""Ownership lives at the vendor: registrations made by someone else are never taken or deleted
unless `OnConflict=adopt`; retried events and deletes of what is gone are harmless (issue #124 of
Datadog's own template is the failure these guard against)."""

from __future__ import annotations

import pytest

from contract import MARKER_PREFIX, UNCONFIRMED_PREFIX, answered, is_ours, physical_id, tags_of

ACCOUNT = "123456789012"


def test_someone_elses_registration_fails_the_create_and_survives_the_rollback(sandbox):
    sb = sandbox
    theirs = sb.datadog.seed_account(ACCOUNT, account_tags=["team:someone-else"])
    before = sb.datadog.accounts()
    arn = sb.datadog_secret()
    stack = sb.stack()
    fn = sb.function()
    props = sb.datadog_props(arn)

    failed = answered(fn.invoke(stack.create(props)), "FAILED")
    assert "OnConflict" in failed["Reason"], f"the reason should say how to adopt: {failed['Reason']!r}"
    marker = failed["PhysicalResourceId"]
    assert marker.startswith(MARKER_PREFIX), marker

    mark = len(sb.datadog.requests)
    # CREATE_FAILED → ROLLBACK: CloudFormation deletes the physical id the FAILED answer gave.
    deleted = answered(fn.invoke(stack.delete(marker, props)), "SUCCESS")
    assert deleted["PhysicalResourceId"] == marker
    assert sb.datadog.requests[mark:] == [], "a marker's Delete must not call the vendor"
    assert sb.datadog.accounts() == before, "the pre-existing registration must be untouched"
    # The Create registers first (one call on the happy path); Datadog refused it with 409.
    assert [(r.method, r.status) for r in sb.datadog.mutating_requests()] == [("POST", 409)]
    assert sb.datadog.changes() == [], "someone else's registration was modified"
    assert sb.datadog.account(theirs["id"]) == theirs


def test_adopt_takes_over_someone_elses_registration(sandbox):
    sb = sandbox
    theirs = sb.datadog.seed_account(ACCOUNT, role_name="OldRole", account_tags=["team:someone-else"])
    arn = sb.datadog_secret()
    stack = sb.stack()
    fn = sb.function()
    props = sb.datadog_props(arn, OnConflict="adopt", DisableMetricCollection="true",
                             AccountTags=["team:platform"])

    adopted = answered(fn.invoke(stack.create(props)), "SUCCESS")
    assert adopted["PhysicalResourceId"] == physical_id("datadoghq.com", ACCOUNT, theirs["id"])
    [reg] = sb.datadog.accounts()
    assert reg["id"] == theirs["id"]
    assert is_ours(reg), f"adopted registration should carry the ownership mark: {tags_of(reg)}"
    assert "team:platform" in tags_of(reg)
    assert reg["attributes"]["auth_config"]["role_name"] == "DatadogIntegrationRole"
    assert reg["attributes"]["metrics_config"]["enabled"] is False
    external_id = theirs["attributes"]["auth_config"]["external_id"]
    assert reg["attributes"]["auth_config"]["external_id"] == external_id
    assert adopted["Data"]["ExternalId"] == external_id
    assert [r for r in sb.datadog.changes() if r.method != "PATCH"] == []

    # Adopted means owned: the stack's Delete now removes it.
    answered(fn.invoke(stack.delete(adopted["PhysicalResourceId"], props)), "SUCCESS")
    assert sb.datadog.accounts() == []


def test_another_registrar_stacks_registration_is_not_ours(sandbox):
    sb = sandbox
    sb.datadog.seed_account(ACCOUNT, account_tags=["managed_by:registrar",
                                                   "registrar_stack:eu-west-1/some-other-stack"])
    before = sb.datadog.accounts()
    arn = sb.datadog_secret()
    stack = sb.stack()
    failed = answered(sb.invoke(stack.create(sb.datadog_props(arn))), "FAILED")
    assert failed["PhysicalResourceId"].startswith(MARKER_PREFIX)
    assert sb.datadog.accounts() == before and sb.datadog.changes() == []


def test_a_create_delivered_twice_registers_once(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    stack = sb.stack()
    fn = sb.function()
    event = stack.create(sb.datadog_props(arn))

    first = answered(fn.invoke(event), "SUCCESS")
    # Lambda's asynchronous retry delivers the very same event again.
    second = answered(fn.invoke(event), "SUCCESS")
    [reg] = sb.datadog.accounts()
    expected = physical_id("datadoghq.com", ACCOUNT, reg["id"])
    assert first["PhysicalResourceId"] == second["PhysicalResourceId"] == expected
    assert first["Data"] == second["Data"]
    # The second delivery registers too, Datadog answers 409, and it finds its own.
    assert [r.status for r in sb.datadog.requests_matching("POST")] == [200, 409]

    # And again from a cold process (another execution environment).
    third = answered(sb.invoke(event), "SUCCESS")
    assert third["PhysicalResourceId"] == first["PhysicalResourceId"]
    assert len(sb.datadog.accounts()) == 1


@pytest.mark.parametrize("foreign_id", [
    "2026/01/01/[$LATEST]0123456789abcdef0123456789abcdef",  # what Datadog's own template returned
    "PREEXISTING",
    "arn:aws:cloudformation:us-east-1:123456789012:stack/x/y_VendorRegistration_ABCDEFGH",
])
def test_a_delete_of_a_foreign_physical_id_touches_nothing(sandbox, foreign_id):
    sb = sandbox
    theirs = sb.datadog.seed_account(ACCOUNT, account_tags=["team:someone-else"])
    arn = sb.datadog_secret()
    stack = sb.stack()
    body = answered(sb.invoke(stack.delete(foreign_id, sb.datadog_props(arn))), "SUCCESS")
    assert body["PhysicalResourceId"] == foreign_id, "a Delete echoes the id it was given"
    assert sb.datadog.mutating_requests() == [] and sb.datadog.accounts() == [theirs]


@pytest.mark.parametrize("physical", ["made-up", "unconfirmed"])
@pytest.mark.parametrize("cannot_look", ["properties without SecretArn", "a secret that does not exist"])
def test_a_delete_of_an_unanswered_create_never_fails(sandbox, physical, cannot_look):
    """A Delete whose id Registrar never answered (CloudFormation made it up, or the Create could
    not tell whether it registered) may look for this stack's registration, but it must not block
    the stack when it cannot look."""
    sb = sandbox
    theirs = sb.datadog.seed_account(ACCOUNT, account_tags=["team:someone-else"])
    stack = sb.stack()
    if cannot_look == "properties without SecretArn":
        props = sb.datadog_props(sb.datadog_secret())
        del props["SecretArn"]
    else:
        props = sb.datadog_props(f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:registrar/does-not-exist-AbCdEf")
    unanswered_id = {"made-up": f"{stack.name}-{stack.logical_id}-ABCDEF123456",
                   "unconfirmed": f"{UNCONFIRMED_PREFIX}0b9f7c1e-5d2a-4c3b-9e8f-1a2b3c4d5e6f"}[physical]
    body = answered(sb.invoke(stack.delete(unanswered_id, props)), "SUCCESS")
    assert body["PhysicalResourceId"] == unanswered_id, "a Delete echoes the id it was given"
    assert sb.datadog.mutating_requests() == [] and sb.datadog.accounts() == [theirs]


@pytest.mark.parametrize("not_found_style", ["404", "400"])
def test_delete_of_an_already_gone_registration_succeeds(sandbox, not_found_style):
    sb = sandbox
    arn = sb.datadog_secret()
    stack = sb.stack()
    fn = sb.function()
    props = sb.datadog_props(arn)
    pid = answered(fn.invoke(stack.create(props)), "SUCCESS")["PhysicalResourceId"]
    sb.datadog.remove_account(sb.datadog.accounts()[0]["id"])
    sb.datadog.set_not_found_style(not_found_style)

    deleted = answered(fn.invoke(stack.delete(pid, props)), "SUCCESS")
    assert deleted["PhysicalResourceId"] == pid
    # Deleting twice (a retried Delete) is just as harmless.
    answered(fn.invoke(stack.delete(pid, props)), "SUCCESS")


def test_delete_removes_only_its_own_registration(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    stack = sb.stack()
    fn = sb.function()
    props = sb.datadog_props(arn)
    pid = answered(fn.invoke(stack.create(props)), "SUCCESS")["PhysicalResourceId"]
    # Out of band, the registration is replaced by someone else's for the same account.
    sb.datadog.remove_account(sb.datadog.accounts()[0]["id"])
    theirs = sb.datadog.seed_account(ACCOUNT, account_tags=["team:someone-else"])

    answered(fn.invoke(stack.delete(pid, props)), "SUCCESS")
    assert sb.datadog.accounts() == [theirs], "Delete must act on the registration it created, not on the account"


@pytest.mark.parametrize("on_delete_error,expected", [("fail", "FAILED"), ("retain", "SUCCESS")])
def test_a_permanent_delete_error_follows_on_delete_error(sandbox, on_delete_error, expected):
    sb = sandbox
    arn = sb.datadog_secret()
    stack = sb.stack()
    fn = sb.function()
    props = sb.datadog_props(arn, OnDeleteError=on_delete_error)
    pid = answered(fn.invoke(stack.create(props)), "SUCCESS")["PhysicalResourceId"]
    # The application key was revoked: every DELETE is refused.
    sb.datadog.add_fault("DELETE", "/api/v2/integration/aws/accounts/", [{"status": 403}], repeat=True)

    body = answered(fn.invoke(stack.delete(pid, props)), expected)
    assert body["PhysicalResourceId"] == pid
    assert len(sb.datadog.accounts()) == 1, "the registration is still there (retained or failed)"
    if expected == "FAILED":
        assert "403" in body["Reason"] or "Forbidden" in body["Reason"], body["Reason"]


def test_transient_delete_errors_are_retried(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    stack = sb.stack()
    fn = sb.function()
    props = sb.datadog_props(arn)
    pid = answered(fn.invoke(stack.create(props)), "SUCCESS")["PhysicalResourceId"]
    sb.datadog.add_fault("DELETE", "/api/v2/integration/aws/accounts/", [{"status": 503}, {"status": 502}])
    answered(fn.invoke(stack.delete(pid, props)), "SUCCESS")
    assert sb.datadog.accounts() == []
    assert [r.status for r in sb.datadog.requests_matching("DELETE")] == [503, 502, 204]
