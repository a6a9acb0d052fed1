"""The role-permissions step (`Phase: role-permissions`) through the real binary, against moto's IAM
and the Datadog emulator's permission endpoints: the role gets exactly Datadog's lists (the
standard one inline, the resource-collection one as managed policies), an Update swaps them
without a moment without permissions, a Delete leaves no policy of ours, and when Datadog cannot
be reached the bundled lists are used and the log says so."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from contract import answered
from sandbox.awsfaults import AwsFaultProxy
from sandbox.datadog import IAM_PERMISSIONS_PATH, policy_chunks
from sandbox.paths import REPO_ROOT

ACCOUNT = "123456789012"
ROLE = "DatadogIntegrationRole"
INLINE = "registrar-datadog-standard"
PREFIX = f"registrar-{ROLE}-datadog-resource-collection-"
PHYSICAL_ID = f"registrar:permissions:datadog:aws:{ACCOUNT}:{ROLE}"


def make_role(sb, name: str = ROLE) -> None:
    sb.aws.create_role(name, "464622532012")


def props(**overrides) -> dict:
    out = {"Vendor": "datadog", "Phase": "role-permissions", "RoleName": ROLE, "Site": "datadoghq.com",
           "DisableResourceCollection": "false"}
    for key, value in overrides.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def iam(sb):
    return sb.aws.client("iam")


def document(text) -> dict:
    return json.loads(urllib.parse.unquote(text)) if isinstance(text, str) else text


def role_state(sb, role: str = ROLE) -> tuple[list[str] | None, list[list[str]]]:
    """(the inline policy's actions, or None; the attached policies' actions, in name order)."""
    client = iam(sb)
    inline = None
    if INLINE in client.list_role_policies(RoleName=role)["PolicyNames"]:
        (statement,) = document(client.get_role_policy(RoleName=role, PolicyName=INLINE)["PolicyDocument"])["Statement"]
        assert statement["Effect"] == "Allow" and statement["Resource"] == "*"
        inline = statement["Action"]
    attached = sorted(client.list_attached_role_policies(RoleName=role)["AttachedPolicies"],
                      key=lambda p: int(p["PolicyName"].rsplit("-", 1)[1]))
    managed = []
    for policy in attached:
        assert policy["PolicyName"].startswith(f"registrar-{role}-datadog-resource-collection-"), policy
        assert "/registrar/" in policy["PolicyArn"]
        meta = client.get_policy(PolicyArn=policy["PolicyArn"])["Policy"]
        version = client.get_policy_version(PolicyArn=policy["PolicyArn"], VersionId=meta["DefaultVersionId"])
        (statement,) = document(version["PolicyVersion"]["Document"])["Statement"]
        managed.append(statement["Action"])
    return inline, managed


def our_policies(sb) -> list[str]:
    return [p["PolicyName"] for p in iam(sb).list_policies(Scope="Local")["Policies"]]


def test_create_attaches_exactly_datadogs_lists_and_delete_leaves_nothing(sandbox):
    sb = sandbox
    make_role(sb)
    stack = sb.stack(logical_id="DatadogRolePermissions", resource_type="Custom::VendorRolePermissions")
    fn = sb.function()
    created = answered(fn.invoke(stack.create(props())), "SUCCESS")
    assert created["PhysicalResourceId"] == PHYSICAL_ID
    standard = sb.datadog.permissions("standard")
    resource_collection = sb.datadog.permissions("resource_collection")
    inline, managed = role_state(sb)
    assert inline == standard
    assert managed == policy_chunks(resource_collection), "one managed policy per chunk Datadog answered"
    assert sum(len(c) for c in managed) == len(resource_collection)
    assert created["Data"] == {"PermissionsSource": "datadog", "StandardPermissionCount": str(len(standard)),
                               "ResourceCollectionPermissionCount": str(len(resource_collection)),
                               "PolicyCount": str(1 + len(managed))}
    # The lists need no keys: none were sent, and no secret was read.
    for request in sb.datadog.requests_matching("GET", IAM_PERMISSIONS_PATH):
        assert request.header("DD-API-KEY") is None and request.header("DD-APPLICATION-KEY") is None
    assert [r.raw_query for r in sb.datadog.requests_matching("GET", IAM_PERMISSIONS_PATH + "/resource_collection")] \
        == ["chunked=true"]
    assert sb.datadog.requests_matching("*", "/api/v2/integration/aws/accounts") == []

    deleted = answered(fn.invoke(stack.delete(PHYSICAL_ID, props())), "SUCCESS")
    assert deleted["PhysicalResourceId"] == PHYSICAL_ID
    assert role_state(sb) == (None, [])
    assert [p for p in our_policies(sb) if p.startswith("registrar-")] == [], "no policy of ours is left"
    # A repeated Delete (or one after the role is gone) is just as fine.
    iam(sb).delete_role(RoleName=ROLE)
    answered(fn.invoke(stack.delete(PHYSICAL_ID, props())), "SUCCESS")


def test_update_with_changed_lists_replaces_them_and_removes_surplus_policies(sandbox):
    sb = sandbox
    make_role(sb)
    stack = sb.stack(logical_id="DatadogRolePermissions", resource_type="Custom::VendorRolePermissions")
    fn = sb.function()
    answered(fn.invoke(stack.create(props())), "SUCCESS")
    _, before = role_state(sb)
    assert len(before) >= 2
    # Datadog publishes new lists: a changed standard list, and a resource-collection list that
    # fits in one policy.
    standard = sb.datadog.permissions("standard")[:-1] + ["newservice:ListThings"]
    resource_collection = sb.datadog.permissions("resource_collection")[:40]
    sb.datadog.set_permissions(standard=standard, resource_collection=resource_collection)
    updated = answered(fn.invoke(stack.update(PHYSICAL_ID, props(), props())), "SUCCESS")
    assert updated["PhysicalResourceId"] == PHYSICAL_ID, "an Update never looks like a replacement"
    inline, managed = role_state(sb)
    assert inline == standard and managed == [resource_collection]
    assert [p for p in our_policies(sb) if p.startswith(PREFIX)] == [f"{PREFIX}1"], "surplus policies deleted"
    arn = f"arn:aws:iam::{ACCOUNT}:policy/registrar/{PREFIX}1"
    versions = iam(sb).list_policy_versions(PolicyArn=arn)["Versions"]
    assert len(versions) == 1, "old versions are not kept"
    assert updated["Data"]["PolicyCount"] == "2"

    # Resource collection turned off: only the standard list stays.
    answered(fn.invoke(stack.update(PHYSICAL_ID, props(DisableResourceCollection="true"), props())), "SUCCESS")
    assert role_state(sb) == (standard, [])
    assert [p for p in our_policies(sb) if p.startswith(PREFIX)] == []


def test_an_update_of_a_changed_chunk_keeps_iams_five_versions_limit(sandbox):
    sb = sandbox
    make_role(sb)
    stack = sb.stack(logical_id="DatadogRolePermissions", resource_type="Custom::VendorRolePermissions")
    fn = sb.function()
    answered(fn.invoke(stack.create(props())), "SUCCESS")
    arn = f"arn:aws:iam::{ACCOUNT}:policy/registrar/{PREFIX}1"
    base = sb.datadog.permissions("resource_collection")[:30]
    for n in range(7):
        sb.datadog.set_permissions(resource_collection=base + [f"svc{n}:ListThings"])
        answered(fn.invoke(stack.update(PHYSICAL_ID, props(), props())), "SUCCESS")
        assert role_state(sb)[1] == [base + [f"svc{n}:ListThings"]]
        assert len(iam(sb).list_policy_versions(PolicyArn=arn)["Versions"]) <= 5


def test_datadog_unreachable_means_the_bundled_lists_and_a_log_line(sandbox):
    sb = sandbox
    make_role(sb)
    stack = sb.stack(logical_id="DatadogRolePermissions", resource_type="Custom::VendorRolePermissions")
    sb.datadog.add_fault("GET", IAM_PERMISSIONS_PATH, [{"status": 503}], repeat=True)
    inv = sb.invoke(stack.create(props()), timeout_s=60)
    body = answered(inv, "SUCCESS")
    inline, managed = role_state(sb)
    bundled = json.loads((REPO_ROOT / "src/integrations/datadog/bundled/iam_permissions_standard.json").read_text())
    bundled_rc = json.loads((REPO_ROOT / "src/integrations/datadog/bundled/iam_permissions_resource_collection.json")
                            .read_text())
    # Where the lists came from: the bundle, with the dates its lists were taken.
    assert body["Data"]["PermissionsSource"] == f"bundled:{bundled['taken']},{bundled_rc['taken']}"
    assert inline == bundled["answer"]["data"]["attributes"]["permissions"]
    assert body["Data"]["StandardPermissionCount"] == str(len(inline))
    assert managed and body["Data"]["ResourceCollectionPermissionCount"] == str(sum(len(c) for c in managed))
    warnings = [r for r in inv_records(inv) if r.get("level") == "WARN" and "bundled" in r.get("message", "")]
    assert warnings, "a WARN line says the bundled lists were used"
    assert warnings[0]["bundled_taken"] == bundled["taken"]


def test_a_data_reading_action_in_datadogs_list_is_refused_and_logged(sandbox):
    sb = sandbox
    make_role(sb)
    stack = sb.stack(logical_id="DatadogRolePermissions", resource_type="Custom::VendorRolePermissions")
    standard = sb.datadog.permissions("standard")
    sb.datadog.set_permissions(standard=standard + ["s3:Get*", "secretsmanager:GetSecretValue"],
                               resource_collection=sb.datadog.permissions("resource_collection")[:10] + ["dynamodb:*"])
    inv = sb.invoke(stack.create(props()))
    body = answered(inv, "SUCCESS")
    inline, managed = role_state(sb)
    assert inline == standard
    assert managed == [sb.datadog.permissions("resource_collection")[:10]]
    refused = {r["action"] for r in inv_records(inv) if "reads data" in r.get("message", "")}
    assert refused == {"s3:Get*", "secretsmanager:GetSecretValue", "dynamodb:*"}
    assert body["Data"]["PermissionsSource"] == "datadog"


def test_a_failed_create_is_cleaned_up_by_its_rollback(sandbox):
    sb = sandbox
    stack = sb.stack(logical_id="DatadogRolePermissions", resource_type="Custom::VendorRolePermissions")
    fn = sb.function()
    # The role does not exist: IAM refuses. The FAILED Create names the role, so that its
    # rollback Delete removes whatever it wrote (here: nothing, and the role is gone: SUCCESS).
    failed = answered(fn.invoke(stack.create(props())), "FAILED")
    assert "role" in failed["Reason"] and "NoSuchEntity" in failed["Reason"], failed["Reason"]
    assert failed["PhysicalResourceId"] == PHYSICAL_ID
    answered(fn.invoke(stack.delete(failed["PhysicalResourceId"], props())), "SUCCESS")
    assert [p for p in our_policies(sb) if p.startswith("registrar-")] == []


def test_a_create_cut_short_answers_the_roles_id_and_its_rollback_removes_what_it_wrote(sandbox):
    sb = sandbox
    make_role(sb)
    stack = sb.stack(logical_id="DatadogRolePermissions", resource_type="Custom::VendorRolePermissions")
    proxy = AwsFaultProxy(sb.aws.url).start()
    try:
        # The inline policy is written and the first managed policy created; attaching it never
        # gets an answer, and the function's deadline comes.
        proxy.add_fault("iam", "AttachRolePolicy", [{"hang": True}], repeat=True)
        inv = sb.invoke(stack.create(props()), {"AWS_ENDPOINT_URL_IAM": proxy.url}, timeout_s=6)
        failed = answered(inv, "FAILED")
        assert failed["PhysicalResourceId"] == PHYSICAL_ID, "not a marker: the rollback must clean up"
        assert "AttachRolePolicy" in failed["Reason"] or "attaching" in failed["Reason"], failed["Reason"]
        assert role_state(sb)[0] is not None and f"{PREFIX}1" in our_policies(sb), "it had written"
    finally:
        proxy.stop()
    answered(sb.invoke(stack.delete(PHYSICAL_ID, props())), "SUCCESS")
    assert role_state(sb) == (None, [])
    assert [p for p in our_policies(sb) if p.startswith("registrar-")] == [], "the unattached policy too"


@pytest.mark.parametrize("vendor", ["dynatrace"])
def test_only_datadog_has_a_permissions_step(sandbox, vendor):
    sb = sandbox
    stack = sb.stack(logical_id="Perms", resource_type="Custom::VendorRolePermissions")
    failed = answered(sb.invoke(stack.create(props(Vendor=vendor))), "FAILED")
    assert "Phase" in failed["Reason"] and "only Datadog" in failed["Reason"], failed["Reason"]


# ---------------------------------------------------------------------------------- helpers


def inv_records(inv) -> list[dict]:
    out = []
    for line in inv.log_lines:
        if line.stream != "stdout":
            continue
        try:
            record = json.loads(line.text)
        except ValueError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out



def test_an_access_key_user_gets_exactly_datadogs_lists_and_delete_leaves_nothing(sandbox):
    # Access-key accounts (AuthType: access-keys): the same lists, on the IAM user Datadog signs
    # in as (`UserName`), never on a role.
    sb = sandbox
    user = "DatadogIntegrationUser"
    iam(sb).create_user(UserName=user, Path="/registrar/")
    stack = sb.stack(logical_id="DatadogRolePermissions", resource_type="Custom::VendorRolePermissions")
    fn = sb.function()
    created = answered(fn.invoke(stack.create(props(RoleName=None, UserName=user))), "SUCCESS")
    assert created["PhysicalResourceId"] == f"registrar:permissions:datadog:aws:{ACCOUNT}:user/{user}"
    client = iam(sb)
    assert client.list_user_policies(UserName=user)["PolicyNames"] == [INLINE]
    (statement,) = document(client.get_user_policy(UserName=user, PolicyName=INLINE)["PolicyDocument"])["Statement"]
    assert set(statement["Action"]) == set(sb.datadog.permissions("standard"))
    attached = client.list_attached_user_policies(UserName=user)["AttachedPolicies"]
    assert attached and all(p["PolicyName"].startswith(f"registrar-{user}-datadog-resource-collection-") for p in attached)
    assert client.list_roles()["Roles"] == [], "no role is made or written"
    answered(fn.invoke(stack.delete(created["PhysicalResourceId"], props(RoleName=None, UserName=user))), "SUCCESS")
    assert client.list_user_policies(UserName=user)["PolicyNames"] == []
    assert client.list_attached_user_policies(UserName=user)["AttachedPolicies"] == []
    assert our_policies(sb) == []
