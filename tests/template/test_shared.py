"""The parts every member template shares are written out in each (no build step), marked
"shared" in the files, and must be identical: this test is what keeps them so. A new vendor's
template copies them from an existing one (docs/template.md, "Layout")."""

import pytest

from cfn import MEMBER, load

# What every member template has, identically (descriptions of parameters may name the vendor).
SHARED_PARAMETERS = ["SecretArn", "SecretRoleArn", "SecretKmsKeyArn", "IAMRoleName", "OnConflict", "OnDeleteError",
                     "LogLevel", "LogRetentionInDays", "HomeRegion"]
SHARED_RULES = ["SecretKeyOnlyForDirectReads"]
SHARED_CONDITIONS = ["IsHomeRegion", "HasNothingElse", "UsesDefaultRoleName", "UsesSecretRole", "ReadsSecretDirectly",
                     "DecryptsSecretDirectly"]
SHARED_RESOURCES = ["NothingElseHere", "FunctionLogGroup", "Function", "FunctionEventInvokeConfig"]
SHARED_OUTPUTS = ["FunctionLogGroupName"]
# FunctionRole: everything but its statements after these (a vendor's own grants follow them).
SHARED_STATEMENTS = 4

TEMPLATES = {vendor: load(path) for vendor, path in MEMBER.items()}
FIRST = sorted(TEMPLATES)[0]


def without_description(spec):
    return {k: v for k, v in spec.items() if k != "Description"}


def function_role_shared(template):
    role = template["Resources"]["FunctionRole"]
    (policy,) = role["Properties"]["Policies"]
    statements = policy["PolicyDocument"]["Statement"]
    shared = {**role, "Properties": {**role["Properties"], "Policies": [
        {**policy, "PolicyDocument": {**policy["PolicyDocument"], "Statement": statements[:SHARED_STATEMENTS]}}]}}
    return shared, statements[SHARED_STATEMENTS:]


@pytest.mark.parametrize("vendor", sorted(TEMPLATES))
def test_shared_parts_are_identical(vendor):
    template, first = TEMPLATES[vendor], TEMPLATES[FIRST]
    for name in SHARED_PARAMETERS:
        assert without_description(template["Parameters"][name]) == without_description(first["Parameters"][name]), name
    for section, names in [("Rules", SHARED_RULES), ("Conditions", SHARED_CONDITIONS), ("Resources", SHARED_RESOURCES),
                           ("Outputs", SHARED_OUTPUTS)]:
        for name in names:
            assert template[section][name] == first[section][name], f"{section}.{name} differs from {MEMBER[FIRST].name}'s"
    assert function_role_shared(template)[0] == function_role_shared(first)[0]


@pytest.mark.parametrize("vendor", sorted(TEMPLATES))
def test_a_vendors_own_grants_follow_the_shared_ones(vendor):
    # The shared statements are the secret's; a vendor's own never reads a secret or a key but
    # its own (Datadog's access-key secret, by Ref).
    _, own = function_role_shared(TEMPLATES[vendor])
    shared_sids = {s["Fn::If"][1]["Sid"] if "Fn::If" in s else s["Sid"]
                   for s in function_role_shared(TEMPLATES[vendor])[0]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]}
    assert shared_sids == {"WriteOwnLogs", "ReadVendorSecret", "DecryptVendorSecret", "AssumeSecretRole"}
    for statement in own:
        body = statement["Fn::If"][1] if "Fn::If" in statement else statement
        assert body["Sid"] not in shared_sids

