"""Create, Update and Delete of one registration through the real binary (the README's "Lifecycle rules")."""

from __future__ import annotations

from contract import MARKER_PREFIX, PRINCIPAL, answered, is_ours, physical_id, tags_of

ACCOUNT = "123456789012"


def test_create_update_in_place_then_delete(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    stack = sb.stack()
    fn = sb.function()
    props = sb.datadog_props(arn, AccountTags=["team:platform", "env:prod"])

    created = answered(fn.invoke(stack.create(props)), "SUCCESS")
    [reg] = sb.datadog.accounts()
    attrs = reg["attributes"]
    pid = created["PhysicalResourceId"]
    assert pid == physical_id("datadoghq.com", ACCOUNT, reg["id"])
    assert attrs["aws_account_id"] == ACCOUNT and attrs["aws_partition"] == "aws"
    assert attrs["auth_config"]["role_name"] == "DatadogIntegrationRole"
    assert {"team:platform", "env:prod"} <= set(tags_of(reg)) and is_ours(reg)
    assert attrs["metrics_config"]["enabled"] is True
    assert attrs["resources_config"] == {"cloud_security_posture_management_collection": False,
                                         "extended_collection": True}
    external_id = attrs["auth_config"]["external_id"]
    assert created["Data"] == {"ExternalId": external_id, "RegistrationId": reg["id"],
                               "PrincipalAccountId": PRINCIPAL["datadoghq.com"], "AuthType": "role"}

    mark = len(sb.datadog.requests)
    new_props = dict(props, DisableMetricCollection="true", CloudSecurityPostureManagement="true",
                     AccountTags=["team:observability"])
    updated = answered(fn.invoke(stack.update(pid, new_props, props)), "SUCCESS")
    assert updated["PhysicalResourceId"] == pid, "an in-place update must keep the PhysicalResourceId"
    [reg2] = sb.datadog.accounts()
    assert reg2["id"] == reg["id"]
    assert reg2["attributes"]["metrics_config"]["enabled"] is False
    assert reg2["attributes"]["resources_config"]["cloud_security_posture_management_collection"] is True
    tags = tags_of(reg2)
    assert "team:observability" in tags and "team:platform" not in tags and "env:prod" not in tags
    assert is_ours(reg2)
    assert reg2["attributes"]["auth_config"]["external_id"] == external_id
    assert updated["Data"]["ExternalId"] == external_id
    assert [r.method for r in sb.datadog.requests[mark:] if r.method in ("POST", "DELETE")] == [], \
        "an in-place update must not re-create the registration"

    deleted = answered(fn.invoke(stack.delete(pid, new_props)), "SUCCESS")
    assert deleted["PhysicalResourceId"] == pid
    assert sb.datadog.accounts() == []
    assert fn.starts == 1, "one warm process should have served all three events"


def test_defaults_come_from_the_stack(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    stack = sb.stack()
    props = sb.datadog_props(arn, DisableMetricCollection=None, DisableResourceCollection=None,
                             CloudSecurityPostureManagement=None)
    body = answered(sb.invoke(stack.create(props)), "SUCCESS")
    [reg] = sb.datadog.accounts()
    assert body["PhysicalResourceId"] == physical_id("datadoghq.com", ACCOUNT, reg["id"])
    assert f"aws_account:{ACCOUNT}" in tags_of(reg)
    assert reg["attributes"]["metrics_config"]["enabled"] is True
    assert reg["attributes"]["resources_config"]["extended_collection"] is True
    assert reg["attributes"]["resources_config"]["cloud_security_posture_management_collection"] is False


def test_update_changing_site_is_a_replacement(sandbox):
    sb = sandbox
    us1, ap1 = sb.datadog, sb.datadog_site("ap1.datadoghq.com")
    # Each Datadog site is its own organisation behind its own host; the sandbox gives each its
    # own port, so each event is routed to the site it concerns.
    at_us1 = {"REGISTRAR_VENDOR_ENDPOINT": us1.url}
    at_ap1 = {"REGISTRAR_VENDOR_ENDPOINT": ap1.url}
    arn = sb.datadog_secret()
    stack = sb.stack()
    props = sb.datadog_props(arn)

    old_pid = answered(sb.invoke(stack.create(props), at_us1), "SUCCESS")["PhysicalResourceId"]
    [old_reg] = us1.accounts()

    new_props = dict(props, Site="ap1.datadoghq.com")
    updated = answered(sb.invoke(stack.update(old_pid, new_props, props), at_ap1), "SUCCESS")
    [new_reg] = ap1.accounts()
    assert updated["PhysicalResourceId"] == physical_id("ap1.datadoghq.com", ACCOUNT, new_reg["id"])
    assert updated["PhysicalResourceId"] != old_pid
    assert updated["Data"]["PrincipalAccountId"] == PRINCIPAL["ap1.datadoghq.com"]
    assert updated["Data"]["ExternalId"] == new_reg["attributes"]["auth_config"]["external_id"]
    assert is_ours(new_reg)
    assert [a["id"] for a in us1.accounts()] == [old_reg["id"]], "the old site is cleaned up by CloudFormation's Delete"

    # UPDATE_COMPLETE_CLEANUP_IN_PROGRESS: CloudFormation deletes the old physical id.
    deleted = answered(sb.invoke(stack.delete(old_pid, props), at_us1), "SUCCESS")
    assert deleted["PhysicalResourceId"] == old_pid
    assert us1.accounts() == []
    assert [a["id"] for a in ap1.accounts()] == [new_reg["id"]]


def test_rollback_update_restores_the_old_settings(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    stack = sb.stack()
    fn = sb.function()
    old = sb.datadog_props(arn, AccountTags=["team:a"])
    new = dict(old, DisableResourceCollection="true", AccountTags=["team:b"])
    pid = answered(fn.invoke(stack.create(old)), "SUCCESS")["PhysicalResourceId"]
    assert answered(fn.invoke(stack.update(pid, new, old)), "SUCCESS")["PhysicalResourceId"] == pid
    assert sb.datadog.accounts()[0]["attributes"]["resources_config"]["extended_collection"] is False
    # UPDATE_ROLLBACK_IN_PROGRESS: the same Update with old and new swapped.
    assert answered(fn.invoke(stack.update(pid, old, new)), "SUCCESS")["PhysicalResourceId"] == pid
    [reg] = sb.datadog.accounts()
    assert reg["attributes"]["resources_config"]["extended_collection"] is True
    assert "team:a" in tags_of(reg) and "team:b" not in tags_of(reg)


def test_update_recreates_a_registration_removed_out_of_band(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    stack = sb.stack()
    fn = sb.function()
    props = sb.datadog_props(arn)
    pid = answered(fn.invoke(stack.create(props)), "SUCCESS")["PhysicalResourceId"]
    sb.datadog.remove_account(sb.datadog.accounts()[0]["id"])  # someone removed it in the Datadog UI

    new_props = dict(props, DisableMetricCollection="true")
    updated = answered(fn.invoke(stack.update(pid, new_props, props)), "SUCCESS")
    [reg] = sb.datadog.accounts()
    assert is_ours(reg) and reg["attributes"]["metrics_config"]["enabled"] is False
    assert updated["PhysicalResourceId"] == physical_id("datadoghq.com", ACCOUNT, reg["id"])
    assert updated["Data"]["ExternalId"] == reg["attributes"]["auth_config"]["external_id"]
    if updated["PhysicalResourceId"] != pid:
        # A new id is a replacement: CloudFormation then deletes the old id, which must not
        # touch the new registration.
        answered(fn.invoke(stack.delete(pid, props)), "SUCCESS")
        assert [a["id"] for a in sb.datadog.accounts()] == [reg["id"]]


def test_update_of_a_failed_create_marker_acts_as_create(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    stack = sb.stack()
    props = sb.datadog_props(arn)
    marker = f"{MARKER_PREFIX}{stack.stack_id.rsplit('/', 1)[1]}"
    body = answered(sb.invoke(stack.update(marker, props, dict(props, RoleName="Old"))), "SUCCESS")
    [reg] = sb.datadog.accounts()
    assert body["PhysicalResourceId"] == physical_id("datadoghq.com", ACCOUNT, reg["id"])
    assert is_ours(reg)


def test_a_failed_update_keeps_its_physical_id(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    stack = sb.stack()
    fn = sb.function()
    props = sb.datadog_props(arn)
    pid = answered(fn.invoke(stack.create(props)), "SUCCESS")["PhysicalResourceId"]
    before = sb.datadog.accounts()
    sb.datadog.add_fault("PATCH", "/api/v2/integration/aws/accounts/", [{"status": 400}], repeat=True)

    failed = answered(fn.invoke(stack.update(pid, dict(props, RoleName="Renamed"), props)), "FAILED")
    # A different id would turn the failed Update into a replacement followed by a Delete.
    assert failed["PhysicalResourceId"] == pid
    assert sb.datadog.accounts() == before


def test_an_explicit_account_id_is_registered_and_changing_it_replaces(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    stack = sb.stack()
    fn = sb.function()
    props = sb.datadog_props(arn, AccountId="210987654321")
    first = answered(fn.invoke(stack.create(props)), "SUCCESS")
    [reg] = sb.datadog.accounts()
    assert reg["attributes"]["aws_account_id"] == "210987654321"
    assert first["PhysicalResourceId"] == physical_id("datadoghq.com", "210987654321", reg["id"])

    moved = dict(props, AccountId="345678901234")
    second = answered(fn.invoke(stack.update(first["PhysicalResourceId"], moved, props)), "SUCCESS")
    assert second["PhysicalResourceId"] != first["PhysicalResourceId"]
    assert sorted(a["attributes"]["aws_account_id"] for a in sb.datadog.accounts()) == ["210987654321", "345678901234"]
    answered(fn.invoke(stack.delete(first["PhysicalResourceId"], props)), "SUCCESS")
    assert [a["attributes"]["aws_account_id"] for a in sb.datadog.accounts()] == ["345678901234"]
