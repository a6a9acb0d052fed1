"""The permissions boundary on every principal a vendor uses, SecurityAudit under resource
collection, and the function's inability to change either (docs/permissions.md).

The boundaries hold the same lists as the permissions step (`data_reading_actions.json`, kept
equal to src/permissions/ by Rust tests): each Allow is a named service with a read-only verb
(IAM refuses a wildcard service) or one of Datadog's documented others, and the Deny is every
data-reading action. The Datadog boundary covers everything Datadog's bundled lists name, except
what the step refuses."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pytest

from cfn import INGEST, MEMBER, ROOT, Stack, as_list, load, statements
from test_dynatrace import DYNATRACE_ACTIONS, PRODUCTION_URL

RULES = json.loads((Path(__file__).with_name("data_reading_actions.json")).read_text())
BUNDLED = ROOT / "src/integrations/datadog/bundled"
MANAGED_POLICY_LIMIT = 6144  # IAM and AWS STS quotas: one managed policy, white space not counted


def member_template(vendor: str) -> dict:
    return load(INGEST if vendor == "dynatrace-ingest" else MEMBER[vendor])


def bundled_actions() -> list[str]:
    out = []
    for name in ("standard", "resource_collection"):
        permissions = json.loads((BUNDLED / f"iam_permissions_{name}.json").read_text())["answer"]["data"]["attributes"]["permissions"]
        out.extend(a for item in permissions for a in (item if isinstance(item, list) else [item]))
    return out


def allows(patterns, action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in patterns)


def boundary_of(stack: Stack, principal: str) -> tuple[str, dict]:
    resources = stack.resources()
    ref = resources[principal]["Properties"].get("PermissionsBoundary")
    assert isinstance(ref, dict) and set(ref) == {"Ref"}, f"{principal} has no boundary of this template"
    return ref["Ref"], resources[ref["Ref"]]


def vendor_principals(stack: Stack) -> list[str]:
    """Every role or user the stack creates for the vendor (not the function's, not AWS services')."""
    out = []
    for name, resource in stack.resources().items():
        if resource["Type"] == "AWS::IAM::User":
            out.append(name)
        elif resource["Type"] == "AWS::IAM::Role":
            trusted = json.dumps(resource["Properties"]["AssumeRolePolicyDocument"])
            if '"AWS"' in trusted:  # trusts an account (the vendor's), not a service
                out.append(name)
    return out


DATADOG_ROLE = {}
DATADOG_USER = {"DatadogAuthType": "access-keys", "DatadogAccessKeySerial": "1"}
STACKS = {
    "datadog-role": ("datadog", DATADOG_ROLE, ["DatadogIntegrationRole"]),
    "datadog-role-no-resource-collection": ("datadog", {"DisableResourceCollection": "true"}, ["DatadogIntegrationRole"]),
    "datadog-user": ("datadog", DATADOG_USER, ["DatadogIntegrationUser"]),
    "dynatrace": ("dynatrace", {"EnvironmentUrl": PRODUCTION_URL}, ["DynatraceMonitoringRole"]),
    "newrelic": ("newrelic", {"NewRelicAccountId": "1234567"}, ["NewRelicIntegrationRole"]),
}


def stack_for(case: str, **more) -> Stack:
    vendor, parameters, _ = STACKS[case]
    template = member_template(vendor)
    return Stack(template, **parameters, **more)


@pytest.mark.parametrize("case", sorted(STACKS))
def test_every_vendor_principal_has_the_read_only_boundary(case):
    stack = stack_for(case)
    principals = vendor_principals(stack)
    assert principals == STACKS[case][2], "the test must see every principal a vendor uses"
    for principal in principals:
        name, boundary = boundary_of(stack, principal)
        assert boundary["Type"] == "AWS::IAM::ManagedPolicy"
        grants = statements(boundary["Properties"]["PolicyDocument"])
        for grant in grants:
            assert "NotAction" not in grant and "Condition" not in grant and grant["Resource"] == "*"
        allowed = [a for g in grants if g["Effect"] == "Allow" for a in as_list(g["Action"])]
        denied = [a for g in grants if g["Effect"] == "Deny" for a in as_list(g["Action"])]
        # Allow: a named service with a read-only verb, or one of Datadog's documented others.
        for pattern in allowed:
            service, _, action = pattern.partition(":")
            assert service and "*" not in service and "?" not in service, pattern
            assert (action.endswith("*") and action[:-1] in RULES["read_only_verbs"]) \
                or pattern in RULES["documented_others"], pattern
        # Deny: every data read; and none of them is allowed by a pattern that survives the deny.
        assert sorted(denied) == sorted(RULES["actions"]), principal
        for read in ["iam:PassRole", "iam:CreateAccessKey", "sts:AssumeRole", "s3:PutObject", "ec2:RunInstances"]:
            assert not allows(allowed, read), read
        text = json.dumps(boundary["Properties"]["PolicyDocument"], separators=(",", ":"))
        assert len(text) <= MANAGED_POLICY_LIMIT, f"{name}: {len(text)} characters"


def test_the_datadog_boundary_covers_datadogs_published_lists():
    _, boundary = boundary_of(stack_for("datadog-role"), "DatadogIntegrationRole")
    grants = statements(boundary["Properties"]["PolicyDocument"])
    allowed = [a for g in grants if g["Effect"] == "Allow" for a in as_list(g["Action"])]
    denied = [a for g in grants if g["Effect"] == "Deny" for a in as_list(g["Action"])]
    outside = [a for a in bundled_actions() if not allows(allowed, a) or allows(denied, a)]
    assert outside == ["cassandra:Select"], "the boundary lacks a service Datadog's lists name"
    # CSPM reads key policies through SecurityAudit.
    assert allows(allowed, "kms:GetKeyPolicy") and not allows(allowed, "kms:Decrypt")


def test_the_dynatrace_boundary_covers_its_own_policies():
    _, boundary = boundary_of(stack_for("dynatrace"), "DynatraceMonitoringRole")
    allowed = [a for g in statements(boundary["Properties"]["PolicyDocument"]) if g["Effect"] == "Allow"
               for a in as_list(g["Action"])]
    for action in DYNATRACE_ACTIONS | {"ec2:DescribeInstances", "rds:DescribeDBInstances", "lambda:ListFunctions"}:
        assert allows(allowed, action), action


def test_the_new_relic_boundary_covers_its_own_policies():
    stack = stack_for("newrelic")
    _, boundary = boundary_of(stack, "NewRelicIntegrationRole")
    allowed = [a for g in statements(boundary["Properties"]["PolicyDocument"]) if g["Effect"] == "Allow"
               for a in as_list(g["Action"])]
    role = stack.resources()["NewRelicIntegrationRole"]["Properties"]
    granted = [a for p in role["Policies"] for g in statements(p["PolicyDocument"]) for a in as_list(g["Action"])]
    assert len(granted) > 20, "the test must see New Relic's own reads"
    # Its own reads, and what ViewOnlyAccess gives that New Relic's inventory reads.
    for action in granted + ["ec2:DescribeInstances", "rds:DescribeDBInstances", "lambda:ListFunctions"]:
        assert allows(allowed, action), action


@pytest.mark.parametrize("case, audit", [("datadog-role", True), ("datadog-user", True),
                                         ("datadog-role-no-resource-collection", False)])
@pytest.mark.parametrize("partition", ["aws", "aws-us-gov"])
def test_security_audit_whenever_resource_collection_is_on(case, audit, partition):
    # As Datadog's organisation template does (aws_organizations/main_organizations.yaml,
    # condition ResourceCollectionPermissions).
    stack = stack_for(case, partition=partition)
    (principal,) = STACKS[case][2]
    arns = stack.resources()[principal]["Properties"].get("ManagedPolicyArns", [])
    assert arns == ([f"arn:{partition}:iam::aws:policy/SecurityAudit"] if audit else [])


@pytest.mark.parametrize("case", sorted(STACKS))
def test_the_function_cannot_change_or_remove_the_boundary(case):
    stack = stack_for(case)
    resources = stack.resources()
    (principal,) = STACKS[case][2]
    name, _ = boundary_of(stack, principal)
    grants = [g for p in resources["FunctionRole"]["Properties"]["Policies"] for g in statements(p["PolicyDocument"])]
    by_sid = {g["Sid"]: g for g in grants}
    keep = by_sid["KeepVendorBoundary"]
    assert keep["Effect"] == "Deny" and keep["Resource"] == "*"
    assert set(as_list(keep["Action"])) == {"iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary",
                                            "iam:PutUserPermissionsBoundary", "iam:DeleteUserPermissionsBoundary"}
    policy = by_sid["KeepVendorBoundaryPolicy"]
    assert policy["Effect"] == "Deny" and policy["Resource"] == {"Ref": name}
    assert set(as_list(policy["Action"])) == {"iam:CreatePolicyVersion", "iam:DeletePolicyVersion",
                                              "iam:SetDefaultPolicyVersion", "iam:DeletePolicy"}
    # And no allow of the function reaches the boundary policy by name.
    for grant in grants:
        if grant["Effect"] == "Allow":
            for resource in as_list(grant["Resource"]):
                assert "Permissions" not in json.dumps(resource), grant["Sid"]


def test_the_ingest_key_outlives_the_backup_bucket_it_encrypts():
    template = member_template("dynatrace-ingest")
    resources = template["Resources"]
    for name in ("IngestKey", "LogBackupBucket"):
        assert resources[name].get("DeletionPolicy") == "Retain", name
        assert resources[name].get("UpdateReplacePolicy") == "Retain", name
