"""The role-permissions step (`Phase: role-permissions`) through the real binary, against moto's IAM
behind the sandbox's IAM quota layer and the Datadog emulator's permission endpoints: the role
gets exactly Datadog's lists (the standard one inline, the resource-collection one as managed
policies; a user both as managed policies), within IAM's quotas, an Update swaps them without a
moment without permissions, a Delete leaves no policy of ours, an action that reads data or is
not read-only never reaches the role, and when Datadog cannot be reached the bundled lists are
used and the log says so."""

from __future__ import annotations

import fnmatch
import json
import urllib.parse

import pytest
from cfnlint.decode import decode

from contract import answered
from sandbox.awsfaults import AwsFaultProxy
from sandbox.datadog import IAM_PERMISSIONS_PATH, policy_chunks
from sandbox.harness import with_overrides
from sandbox.paths import REPO_ROOT

ACCOUNT = "123456789012"
ROLE = "DatadogIntegrationRole"
INLINE = "registrar-datadog-standard"
PREFIX = f"registrar-{ROLE}-datadog-resource-collection-"
PHYSICAL_ID = f"registrar:permissions:datadog:aws:{ACCOUNT}:{ROLE}"
# The one action of Datadog's published lists the step refuses: Keyspaces' Select reads a
# table's rows (src/permissions/deny.rs).
REFUSED_FROM_DATADOG = {"cassandra:Select"}


def accepted(actions: list[str]) -> list[list[str]]:
    """Datadog's (flat) list as the step writes it: without the actions it refuses, cut into
    policies that fit IAM's 6,144 characters."""
    return policy_chunks([a for a in actions if a not in REFUSED_FROM_DATADOG])


def make_role(sb, name: str = ROLE) -> None:
    sb.aws.create_role(name, "464622532012")


def props(**overrides) -> dict:
    out = {"Vendor": "datadog", "Phase": "role-permissions", "RoleName": ROLE, "Site": "datadoghq.com",
           "DisableResourceCollection": "false"}
    return with_overrides(out, overrides)


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
    assert managed == accepted(resource_collection), "one managed policy per chunk Datadog answered"
    assert sum(len(c) for c in managed) == len(resource_collection) - len(REFUSED_FROM_DATADOG)
    assert created["Data"] == {"PermissionsSource": "datadog", "StandardPermissionCount": str(len(standard)),
                               "ResourceCollectionPermissionCount": str(sum(len(c) for c in managed)),
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



def holder_policies(sb, kind: str, name: str) -> tuple[dict[str, str], dict[str, str]]:
    """(inline policy name → document text, attached policy name → default version's document text)."""
    client = iam(sb)
    if kind == "role":
        names = client.list_role_policies(RoleName=name)["PolicyNames"]
        inline = {n: client.get_role_policy(RoleName=name, PolicyName=n)["PolicyDocument"] for n in names}
        attached = client.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    else:
        names = client.list_user_policies(UserName=name)["PolicyNames"]
        inline = {n: client.get_user_policy(UserName=name, PolicyName=n)["PolicyDocument"] for n in names}
        attached = client.list_attached_user_policies(UserName=name)["AttachedPolicies"]
    managed = {}
    for policy in attached:
        meta = client.get_policy(PolicyArn=policy["PolicyArn"])["Policy"]
        version = client.get_policy_version(PolicyArn=policy["PolicyArn"], VersionId=meta["DefaultVersionId"])
        managed[policy["PolicyName"]] = version["PolicyVersion"]["Document"]
    as_text = lambda doc: json.dumps(document(doc), separators=(",", ":"))  # noqa: E731
    return {n: as_text(d) for n, d in inline.items()}, {n: as_text(d) for n, d in managed.items()}


def actions_of(documents) -> list[str]:
    out = []
    for text in documents:
        (statement,) = json.loads(text)["Statement"]
        assert statement["Effect"] == "Allow" and statement["Resource"] == "*"
        out.extend(statement["Action"])
    return out


def user_props(user: str, **more) -> dict:
    return props(RoleName=None, UserName=user, **more)


def test_an_access_key_user_gets_datadogs_lists_as_managed_policies_and_delete_leaves_nothing(sandbox):
    # Access-key accounts (AuthType: access-keys): the same lists, on the IAM user Datadog signs
    # in as (`UserName`), never on a role; all of them managed policies, since a user's inline
    # policies may total only 2,048 characters and the standard list alone is longer. The
    # sandbox refuses an inline standard list on the user as IAM does (LimitExceeded): this test
    # fails if the step puts it back inline.
    sb = sandbox
    user = "DatadogIntegrationUser"
    iam(sb).create_user(UserName=user, Path="/registrar/")
    stack = sb.stack(logical_id="DatadogRolePermissions", resource_type="Custom::VendorRolePermissions")
    fn = sb.function()
    created = answered(fn.invoke(stack.create(user_props(user))), "SUCCESS")
    assert created["PhysicalResourceId"] == f"registrar:permissions:datadog:aws:{ACCOUNT}:user/{user}"
    inline, managed = holder_policies(sb, "user", user)
    assert inline == {}, "nothing inline on a user"
    standard_names = sorted(n for n in managed if n.startswith(f"registrar-{user}-datadog-standard-"))
    rc_names = sorted((n for n in managed if n.startswith(f"registrar-{user}-datadog-resource-collection-")),
                      key=lambda n: int(n.rsplit("-", 1)[1]))
    assert standard_names == [f"registrar-{user}-datadog-standard-1"]
    assert sorted(standard_names + rc_names) == sorted(managed), "only policies of ours"
    assert actions_of(managed[n] for n in standard_names) == sb.datadog.permissions("standard")
    assert [actions_of([managed[n]]) for n in rc_names] == accepted(
        sb.datadog.permissions("resource_collection"))
    assert all(len(text) <= 6144 for text in managed.values()) and len(managed) <= 10
    assert created["Data"]["PolicyCount"] == str(len(managed))
    assert iam(sb).list_roles()["Roles"] == [], "no role is made or written"

    # An Update that changes both lists: the new versions are in force, nothing is ever inline.
    standard = sb.datadog.permissions("standard")[:-1] + ["newservice:ListThings"]
    sb.datadog.set_permissions(standard=standard, resource_collection=sb.datadog.permissions("resource_collection")[:40])
    answered(fn.invoke(stack.update(created["PhysicalResourceId"], user_props(user), user_props(user))), "SUCCESS")
    inline, managed = holder_policies(sb, "user", user)
    assert inline == {}
    assert sorted(managed) == [f"registrar-{user}-datadog-resource-collection-1", f"registrar-{user}-datadog-standard-1"]
    assert actions_of([managed[f"registrar-{user}-datadog-standard-1"]]) == standard

    answered(fn.invoke(stack.delete(created["PhysicalResourceId"], user_props(user))), "SUCCESS")
    assert holder_policies(sb, "user", user) == ({}, {})
    assert our_policies(sb) == []


def test_a_users_inline_standard_list_of_an_earlier_release_goes_only_after_the_managed_one_is_attached(sandbox):
    sb = sandbox
    user = "DatadogIntegrationUser"
    client = iam(sb)
    client.create_user(UserName=user, Path="/registrar/")
    # What an earlier release wrote (a list short enough for IAM to have taken it inline).
    client.put_user_policy(UserName=user, PolicyName=INLINE, PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ec2:Describe*"], "Resource": "*"}]}))
    stack = sb.stack(logical_id="DatadogRolePermissions", resource_type="Custom::VendorRolePermissions")
    proxy = AwsFaultProxy(sb.aws.url).start()
    try:
        inv = sb.invoke(stack.update(f"registrar:permissions:datadog:aws:{ACCOUNT}:user/{user}",
                                     user_props(user), user_props(user)), {"AWS_ENDPOINT_URL_IAM": proxy.url})
        answered(inv, "SUCCESS")
        calls = [r.path.rsplit("/", 1)[1] for r in proxy.calls("iam")]
    finally:
        proxy.stop()
    assert "PutUserPolicy" not in calls
    assert calls.index("DeleteUserPolicy") > max(i for i, c in enumerate(calls) if c == "AttachUserPolicy"), calls
    inline, managed = holder_policies(sb, "user", user)
    assert inline == {} and f"registrar-{user}-datadog-standard-1" in managed


@pytest.mark.parametrize("kind", ["role", "user"])
def test_quotas_measured_on_the_vendors_principal_with_security_audit(sandbox, kind, capsys):
    # The principal as the template makes it with resource collection on: SecurityAudit attached
    # (a stand-in here: moto does not load AWS managed policies), then the step's policies.
    # The figures are printed for the release notes; the quota layer holds them to IAM's limits.
    sb = sandbox
    client = iam(sb)
    name = ROLE if kind == "role" else "DatadogIntegrationUser"
    audit = client.create_policy(PolicyName="SecurityAudit-stand-in", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["iam:Get*"], "Resource": "*"}]}))
    if kind == "role":
        make_role(sb)
        client.attach_role_policy(RoleName=name, PolicyArn=audit["Policy"]["Arn"])
        step = props()
    else:
        client.create_user(UserName=name, Path="/registrar/")
        client.attach_user_policy(UserName=name, PolicyArn=audit["Policy"]["Arn"])
        step = user_props(name)
    stack = sb.stack(logical_id="DatadogRolePermissions", resource_type="Custom::VendorRolePermissions")
    answered(sb.invoke(stack.create(step)), "SUCCESS")
    inline, managed = holder_policies(sb, kind, name)
    inline_total = sum(len(t) for t in inline.values())
    with capsys.disabled():
        print(f"\n[{kind}] inline policies: {len(inline)}, {inline_total} characters in total "
              f"(quota {10240 if kind == 'role' else 2048}); attached managed policies: {len(managed)} (quota 10); "
              + ", ".join(f"{n}: {len(t)}" for n, t in sorted(managed.items())) + " characters (quota 6144 each)")
    assert inline_total <= (10240 if kind == "role" else 2048)
    assert len(managed) <= 10 and all(len(t) <= 6144 for t in managed.values())


@pytest.mark.parametrize("kind", ["role", "user"])
def test_the_attachment_quota_fails_with_what_to_do(sandbox, kind):
    sb = sandbox
    client = iam(sb)
    name = ROLE if kind == "role" else "DatadogIntegrationUser"
    if kind == "role":
        make_role(sb)
    else:
        client.create_user(UserName=name, Path="/registrar/")
    # Someone else's policies take nine of the ten places; Datadog's lists need more than one.
    for i in range(9):
        arn = client.create_policy(PolicyName=f"theirs-{i}", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ec2:Describe*"], "Resource": "*"}]}
        ))["Policy"]["Arn"]
        (client.attach_role_policy(RoleName=name, PolicyArn=arn) if kind == "role"
         else client.attach_user_policy(UserName=name, PolicyArn=arn))
    stack = sb.stack(logical_id="DatadogRolePermissions", resource_type="Custom::VendorRolePermissions")
    failed = answered(sb.invoke(stack.create(props() if kind == "role" else user_props(name))), "FAILED")
    reason = failed["Reason"]
    assert f"{kind} {name}" in reason and "LimitExceeded" in reason, reason
    assert f"Managed policies per {kind}" in reason and "Service Quotas" in reason, reason


def test_an_over_broad_list_never_reaches_the_role(sandbox):
    # Datadog's endpoint answers with iam:PassRole, s3:GetObject and other actions no vendor
    # role should hold: the step refuses each, logs it, and the role never holds them.
    sb = sandbox
    make_role(sb)
    stack = sb.stack(logical_id="DatadogRolePermissions", resource_type="Custom::VendorRolePermissions")
    standard = sb.datadog.permissions("standard")
    rc = sb.datadog.permissions("resource_collection")[:20]
    over_broad = ["iam:PassRole", "s3:GetObject", "ec2:*", "iam:CreateAccessKey", "logs:GetLogEvents", "s3:Put*"]
    sb.datadog.set_permissions(standard=standard + over_broad[:3], resource_collection=rc + over_broad[3:])
    inv = sb.invoke(stack.create(props()))
    assert answered(inv, "SUCCESS")["Data"]["PermissionsSource"] == "datadog"
    inline, managed = role_state(sb)
    assert inline == standard and managed == [rc]
    held = inline + [a for chunk in managed for a in chunk]
    assert not set(over_broad) & set(held)
    refused = {r["action"] for r in inv_records(inv) if r.get("message", "").startswith("refusing an action")}
    assert refused == set(over_broad)
    # What the role may effectively do: its policies, within the boundary the template sets.
    for action in ("iam:PassRole", "s3:GetObject", "ec2:RunInstances", "logs:GetLogEvents"):
        assert not effectively_allowed(sb, action), action
    assert effectively_allowed(sb, "ec2:DescribeInstances")


def test_the_boundary_alone_stops_what_a_policy_grants(sandbox):
    # A policy written around the step (by hand, or by a compromised function) grants
    # iam:PassRole and s3:GetObject: the role's effective permissions still exclude them.
    sb = sandbox
    make_role(sb)
    iam(sb).put_role_policy(RoleName=ROLE, PolicyName="around-the-step", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["iam:PassRole", "s3:GetObject", "s3:*", "ec2:DescribeInstances"],
             "Resource": "*"}]}))
    assert not effectively_allowed(sb, "iam:PassRole")
    assert not effectively_allowed(sb, "s3:GetObject")
    assert not effectively_allowed(sb, "s3:PutObject")
    assert effectively_allowed(sb, "ec2:DescribeInstances")
    assert effectively_allowed(sb, "s3:GetBucketTagging")
    # The boundary itself is a policy IAM accepts: within 6,144 characters, every service named.
    iam(sb).create_policy(PolicyName="DatadogPermissionsBoundary", Path="/registrar/", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": datadog_boundary()}))


def datadog_boundary() -> list[dict]:
    """The statements of the boundary the Datadog member template sets on Datadog's role."""
    template, matches = decode(str(REPO_ROOT / "templates" / "datadog.yaml"))
    assert not matches
    document = template["Resources"]["DatadogPermissionsBoundary"]["Properties"]["PolicyDocument"]
    return [dict(statement) for statement in document["Statement"]]


def effectively_allowed(sb, action: str, role: str = ROLE) -> bool:
    """IAM's evaluation for one action on any resource: allowed by one of the role's policies and
    by its permissions boundary, denied by neither
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html)."""
    inline, managed = holder_policies(sb, "role", role)
    identity = [st for text in [*inline.values(), *managed.values()] for st in json.loads(text)["Statement"]]

    def verdicts(statements):
        hits = [st["Effect"] for st in statements
                if any(fnmatch.fnmatchcase(action.lower(), str(p).lower())
                       for p in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]]))]
        return "Allow" in hits, "Deny" in hits

    allow, deny = verdicts(identity)
    bounded, bounded_deny = verdicts(datadog_boundary())
    return allow and bounded and not deny and not bounded_deny
