"""Which IAM identities of a stack a vendor uses, what they are granted, and whether any grant
reads data or secrets: shared by the Datadog and Dynatrace template tests."""

import fnmatch
import json
from pathlib import Path

from cfn import as_list, references, statements

# Actions that read data or secrets; no identity a vendor uses may be allowed one, by name or by
# a wildcard covering it. The same list is DATA_READING_ACTIONS in src/permissions/deny.rs.
DATA_READING_ACTIONS = json.loads((Path(__file__).with_name("data_reading_actions.json")).read_text())["actions"]
# AWS managed policies a vendor identity may carry: metadata only (each one reviewed).
METADATA_ONLY_MANAGED_POLICIES = {"ViewOnlyAccess"}
# AWS managed policies a vendor identity may carry only inside a permissions boundary that denies
# every data read: SecurityAudit (AWS's audit policy, configuration reads; Datadog attaches it with
# resource collection on). test_boundary.py checks the boundaries themselves.
BOUNDED_MANAGED_POLICIES = {"SecurityAudit"}


def vendor_identities(stack):
    """Every role or user a vendor uses: a role whose trust names a principal outside this
    account (AWS account principals, as the vendors' principals are), or a user whose access
    key is handed to a custom resource. Returns {logical id: resource}."""
    resources = stack.resources()
    found = {}
    for name, resource in resources.items():
        if resource["Type"] == "AWS::IAM::Role":
            for statement in statements(resource["Properties"]["AssumeRolePolicyDocument"]):
                principal = statement.get("Principal")
                if principal == "*" or (isinstance(principal, dict) and "AWS" in principal):
                    found[name] = resource
    keys = {name: r for name, r in resources.items() if r["Type"] == "AWS::IAM::AccessKey"}
    for key_name, key in keys.items():
        handed = any(key_name in references(r.get("Properties", {})) for r in resources.values() if r["Type"].startswith("Custom::"))
        user = key["Properties"]["UserName"]
        user_name = user.get("Ref") if isinstance(user, dict) else user
        if handed and user_name in resources:
            found[user_name] = resources[user_name]
    return found


def identity_grants(stack, name):
    """Every statement and AWS managed policy that applies to identity `name`."""
    resources = stack.resources()
    props = resources[name]["Properties"]
    grants = []
    for policy in props.get("Policies", []):
        grants.extend(statements(policy["PolicyDocument"]))
    managed = list(props.get("ManagedPolicyArns", []))
    for resource in resources.values():
        p = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::RolePolicy", "AWS::IAM::UserPolicy"):
            named = as_list(p.get("Roles", [])) + as_list(p.get("RoleName", [])) + as_list(p.get("Users", [])) + as_list(p.get("UserName", []))
            if {"Ref": name} in named:
                grants.extend(statements(p["PolicyDocument"]))
        if resource["Type"] == "AWS::IAM::ManagedPolicy" and {"Ref": name} in as_list(p.get("Roles", [])) + as_list(p.get("Users", [])):
            grants.extend(statements(p["PolicyDocument"]))
    return grants, managed


def data_reads(grants):
    """The (granted pattern, data-reading action) pairs the grants allow."""
    found = []
    for grant in grants:
        if grant.get("Effect") != "Allow":
            continue
        if "NotAction" in grant:
            found.append((f"NotAction {grant['NotAction']}", "everything else"))
            continue
        for pattern in as_list(grant["Action"]):
            for action in DATA_READING_ACTIONS:
                if fnmatch.fnmatchcase(action.lower(), str(pattern).lower()):
                    found.append((pattern, action))
    return found


def check_no_data_reads(stack, expected):
    """The identities a vendor uses are `expected`, and none may read data or secrets."""
    identities = vendor_identities(stack)
    assert set(identities) == expected, "the test must see every identity a vendor uses"
    for name in identities:
        grants, managed = identity_grants(stack, name)
        assert data_reads(grants) == [], f"{name} may read data or secrets"
        for arn in managed:
            policy = arn.rsplit("/", 1)[-1]
            if policy in BOUNDED_MANAGED_POLICIES:
                assert boundary_denies_every_data_read(stack, name), f"{name}: {arn} without a boundary denying data reads"
            else:
                assert policy in METADATA_ONLY_MANAGED_POLICIES, f"{name}: {arn} is not known to be metadata-only"


def boundary_denies_every_data_read(stack, name):
    """Whether identity `name`'s permissions boundary (a policy of this stack) denies every data read."""
    resources = stack.resources()
    ref = resources[name]["Properties"].get("PermissionsBoundary")
    if not (isinstance(ref, dict) and ref.get("Ref") in resources):
        return False
    denied = [a for s in statements(resources[ref["Ref"]]["Properties"]["PolicyDocument"]) if s["Effect"] == "Deny"
              for a in as_list(s["Action"])]
    return all(any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in denied) for action in DATA_READING_ACTIONS)

