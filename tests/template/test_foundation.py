"""Checks of templates/foundation.yaml, with the interpreter of cfn.py.

foundation.yaml is deployed once, in the account that keeps the vendor's keys. Its outputs are the
member template's parameters; its key policy and secret policies must let exactly Registrar's
readers in the organisation decrypt and read, and nothing secret may leave it.
"""

import fnmatch
import re

import pytest

from cfn import (FOUNDATION, INGEST, MEMBER as MEMBER_TEMPLATES, ROOT, Stack, as_list, cfn_lint, lint_specialised, load,
                 references, statements)
from test_ingest import MRK_ARN, ingest_stack, regional

ORG = "o-a1b2c3d4e5"
ACCOUNT = "444455556666"  # the interpreter's AWS::AccountId
MEMBER = "555566667777"
FUNCTION_ROLE = f"arn:aws:iam::{MEMBER}:role/registrar/StackSet-registrar-0b5e-FunctionRole-1A2B3C4D5E6F"
LOG_DELIVERY_ROLE = f"arn:aws:iam::{MEMBER}:role/registrar/ingest/StackSet-registrar-0b5e-LogDeliveryRole-9Z8Y7X"
STACKSETS_EXEC_ROLE = f"arn:aws:iam::{MEMBER}:role/stacksets-exec-0123456789abcdef0123456789abcdef"
OTHER_ROLE = f"arn:aws:iam::{MEMBER}:role/Admin"


@pytest.fixture(scope="module")
def foundation():
    return load(FOUNDATION)


@pytest.fixture(scope="module")
def ingest():
    return load(INGEST)


def deploy(foundation, vendor="dynatrace", ingest="true", regions="", region="eu-west-1", **more):
    return Stack(foundation, region=region, OrganizationId=ORG, Vendor=vendor, CreateIngestSecret=ingest, IngestRegions=regions, **more)


def condition_matches(condition, values):
    """Whether an IAM Condition block holds for the given context keys (the operators used here)."""
    for operator, tests in condition.items():
        for key, expected in tests.items():
            actual = values[key]
            patterns = as_list(expected)
            if operator == "StringEquals" and actual not in patterns:
                return False
            if operator in ("StringLike", "ArnLike") and not any(fnmatch.fnmatchcase(actual, p) for p in patterns):
                return False
            if operator == "ArnNotLike" and any(fnmatch.fnmatchcase(actual, p) for p in patterns):
                return False
    return True


def allowed(policy, action, context):
    return any(
        grant["Effect"] == "Allow" and action in as_list(grant["Action"]) and condition_matches(grant.get("Condition", {}), context)
        for grant in statements(policy)
        if grant.get("Principal") == {"AWS": "*"}
    )


# --------------------------------------------------------------------------- outputs and secrecy


@pytest.mark.parametrize("vendor, ingest", [("datadog", "false"), ("dynatrace", "false"), ("dynatrace", "true")])
def test_outputs_are_exactly_member_parameters(foundation, vendor, ingest):
    stack = deploy(foundation, vendor=vendor, ingest=ingest)
    member = load(MEMBER_TEMPLATES[vendor])
    assert stack.rule_failures() == []
    outputs = stack.outputs()
    expected = {"SecretArn", "SecretKmsKeyArn"} | ({"IngestSecretArn"} if ingest == "true" else set())
    assert set(outputs) == expected
    # Every output is a parameter of that name of the template that takes it.
    assert {"SecretArn", "SecretKmsKeyArn"} <= set(member["Parameters"])
    if ingest == "true":
        assert {"IngestSecretArn", "SecretKmsKeyArn"} <= set(load(INGEST)["Parameters"])
    assert outputs["SecretArn"] == {"Ref": "VendorSecret"}  # a secret's Ref is its full ARN
    assert outputs["SecretKmsKeyArn"] == {"Fn::GetAtt": ["Key", "Arn"]}
    if ingest == "true":
        assert outputs["IngestSecretArn"] == {"Ref": "IngestSecret"}


def test_no_secret_leaves_the_stack(foundation):
    secret_parameters = {name for name, spec in foundation["Parameters"].items() if spec.get("NoEcho")}
    assert secret_parameters == {"SecretValue", "IngestSecretValue"}
    for name in secret_parameters:
        assert foundation["Parameters"][name]["Default"] == "", "no default value for a secret"
    # Secret values go into the secrets' SecretString and nowhere else.
    assert not references(foundation["Outputs"]) & secret_parameters
    for name, resource in foundation["Resources"].items():
        used = references(resource.get("Properties", {})) & secret_parameters
        assert used == ({"SecretValue"} if name == "VendorSecret" else {"IngestSecretValue"} if name == "IngestSecret" else set()), name
        if used:
            assert references(resource["Properties"]["SecretString"]) - {"AWS::NoValue"} == used
    text = FOUNDATION.read_text()
    assert not re.search(r"dt0[a-z][0-9]{2}\.[A-Z0-9]", text), "no token in the template"


@pytest.mark.parametrize("given", [False, True])
def test_secret_values_are_optional(foundation, given):
    values = {"SecretValue": '{"token": "x"}', "IngestSecretValue": '{"api_key": "y"}'} if given else {}
    resources = deploy(foundation, **values).resources()
    for name, parameter in (("VendorSecret", "SecretValue"), ("IngestSecret", "IngestSecretValue")):
        properties = resources[name]["Properties"]
        if given:
            assert properties["SecretString"] == values[parameter]
        else:
            # Neither SecretString nor GenerateSecretString: an empty secret, put-secret-value later.
            assert "SecretString" not in properties and "GenerateSecretString" not in properties


# --------------------------------------------------------------------------- the key


def key_policy(stack):
    return stack.resources()["Key"]["Properties"]["KeyPolicy"]


def test_key_is_customer_managed_rotating_multi_region_and_kept(foundation):
    key = deploy(foundation).resources()["Key"]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["Properties"]["MultiRegion"] is True, "its replicas encrypt the ingest secret's replicas"
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"


@pytest.mark.parametrize("ingest", ["false", "true"])
def test_key_policy_lets_only_registrars_readers_decrypt_through_secrets_manager(foundation, ingest):
    stack = deploy(foundation, ingest=ingest)
    policy = key_policy(stack)
    by_sid = {s["Sid"]: s for s in statements(policy)}
    admin = by_sid.pop("ThisAccountAdministersTheKey")
    assert admin["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert set(by_sid) == {"RegistrarFunctionsDecryptTheVendorSecret"} | ({"IngestReadersDecryptTheIngestSecret"} if ingest == "true" else set())
    for grant in by_sid.values():
        assert grant["Action"] == "kms:Decrypt", "decrypt only: no Encrypt, no GenerateDataKey, no grants"
        assert grant["Condition"]["StringEquals"] == {"aws:PrincipalOrgID": ORG}
        assert grant["Condition"]["StringLike"]["kms:ViaService"] == "secretsmanager.*.amazonaws.com"

    def context(principal, secret):
        return {
            "aws:PrincipalOrgID": ORG,
            "aws:PrincipalArn": principal,
            "kms:ViaService": "secretsmanager.us-east-1.amazonaws.com",
            "kms:EncryptionContext:SecretARN": secret,
        }

    vendor_secret = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:registrar/dynatrace-AbCdEf"
    ingest_secret = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:registrar/dynatrace-ingest-GhIjKl"
    assert allowed(policy, "kms:Decrypt", context(FUNCTION_ROLE, vendor_secret))
    assert not allowed(policy, "kms:Decrypt", context(FUNCTION_ROLE, ingest_secret)), "the function never reads the ingest token"
    assert not allowed(policy, "kms:Decrypt", context(LOG_DELIVERY_ROLE, vendor_secret)), "ingest roles never read the settings token"
    assert not allowed(policy, "kms:Decrypt", context(OTHER_ROLE, vendor_secret))
    assert not allowed(policy, "kms:Decrypt", {**context(FUNCTION_ROLE, vendor_secret), "aws:PrincipalOrgID": "o-zzzzzzzzzz"})
    assert not allowed(policy, "kms:Decrypt", {**context(FUNCTION_ROLE, vendor_secret), "kms:ViaService": "s3.us-east-1.amazonaws.com"})
    for reader in (LOG_DELIVERY_ROLE, STACKSETS_EXEC_ROLE):
        assert allowed(policy, "kms:Decrypt", context(reader, ingest_secret)) == (ingest == "true")
    assert not allowed(policy, "kms:Decrypt", context(OTHER_ROLE, ingest_secret))


# --------------------------------------------------------------------------- the secrets


def secret_policy(stack, name):
    resource = stack.resources()[name]["Properties"]
    assert resource["BlockPublicPolicy"] is True
    return resource["ResourcePolicy"]


def test_secret_policies_share_each_secret_with_its_readers_only(foundation):
    stack = deploy(foundation)
    resources = stack.resources()
    assert resources["VendorSecretPolicy"]["Properties"]["SecretId"] == {"Ref": "VendorSecret"}
    assert resources["IngestSecretPolicy"]["Properties"]["SecretId"] == {"Ref": "IngestSecret"}
    vendor, ingest = secret_policy(stack, "VendorSecretPolicy"), secret_policy(stack, "IngestSecretPolicy")
    for policy in (vendor, ingest):
        for grant in statements(policy):
            assert grant["Action"] == "secretsmanager:GetSecretValue", "read only; never PutResourcePolicy"
            assert grant["Condition"]["StringEquals"] == {"aws:PrincipalOrgID": ORG}

    def reads(policy, principal, org=ORG):
        return allowed(policy, "secretsmanager:GetSecretValue", {"aws:PrincipalOrgID": org, "aws:PrincipalArn": principal})

    assert reads(vendor, FUNCTION_ROLE) and not reads(vendor, FUNCTION_ROLE, org="o-zzzzzzzzzz")
    assert not reads(vendor, LOG_DELIVERY_ROLE) and not reads(vendor, STACKSETS_EXEC_ROLE) and not reads(vendor, OTHER_ROLE)
    assert reads(ingest, LOG_DELIVERY_ROLE) and reads(ingest, STACKSETS_EXEC_ROLE)
    assert not reads(ingest, FUNCTION_ROLE) and not reads(ingest, OTHER_ROLE)


def test_secrets_are_named_encrypted_and_kept(foundation):
    resources = deploy(foundation, Name="acme").resources()
    assert resources["VendorSecret"]["Properties"]["Name"] == "acme/dynatrace"
    assert resources["IngestSecret"]["Properties"]["Name"] == "acme/dynatrace-ingest"
    for name in ("VendorSecret", "IngestSecret"):
        assert resources[name]["Properties"]["KmsKeyId"] == {"Ref": "Key"}
        assert resources[name]["DeletionPolicy"] == "Retain", "member stacks need the keys until the last Delete"


def test_what_member_deletes_need_outlives_the_foundation(foundation):
    # Every member stack's Delete reads the secret through its resource policy and decrypts it
    # with the key: none of the three may go with the foundation stack, nor be replaced away.
    resources = deploy(foundation).resources()
    kept = {"Key", "VendorSecret", "VendorSecretPolicy", "IngestSecret", "IngestSecretPolicy"}
    assert kept <= set(resources), "the test must see every resource a member's Delete needs"
    for name in kept:
        assert resources[name].get("DeletionPolicy") == "Retain", name
        assert resources[name].get("UpdateReplacePolicy") == "Retain", name


@pytest.mark.parametrize(
    "regions, region, replicas",
    [
        ("", "eu-west-1", []),
        ("eu-west-1", "eu-west-1", []),
        ("eu-west-1,us-east-1,ap-southeast-2", "eu-west-1", ["us-east-1", "ap-southeast-2"]),
        ("us-east-1,ap-southeast-2", "eu-west-1", ["us-east-1", "ap-southeast-2"]),
        ("us-east-1,eu-west-1,ap-southeast-2", "eu-west-1", ["us-east-1", "ap-southeast-2"]),
        (",".join(f"r{i}-x-1".replace("r", "aa") for i in range(8)), "eu-west-1", [f"aa{i}-x-1" for i in range(8)]),
    ],
)
def test_ingest_secret_is_replicated_with_the_keys_replicas(foundation, ingest, regions, region, replicas):
    stack = deploy(foundation, regions=regions, region=region)
    assert stack.rule_failures() == []
    got = stack.resources()["IngestSecret"]["Properties"]["ReplicaRegions"]
    assert [r["Region"] for r in got] == replicas
    key_id = MRK_ARN.split("/")[-1]
    for replica in got:
        # The replica of the multi-Region key in that region: the same key id.
        assert replica["KmsKeyId"] == f"arn:aws:kms:{replica['Region']}:{ACCOUNT}:key/${{Key}}"
        # And the ingest stack in that region reads exactly that replica and that key.
        # Its outputs, as the ingest StackSet gets them (the primary secret and key, in eu-west-1):
        ingest_secret = f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:registrar/dynatrace-ingest-AbCdEf"
        key_arn = f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}"
        ingest_in_region = ingest_stack(ingest, replica["Region"], logs="true", IngestSecretArn=ingest_secret, SecretKmsKeyArn=key_arn)
        (policy,) = ingest_in_region.resources()["LogDeliveryRole"]["Properties"]["Policies"]
        grants = {g["Sid"]: g for g in statements(policy["PolicyDocument"])}
        assert grants["ReadIngestSecret"]["Resource"] == regional(ingest_secret, replica["Region"])
        assert grants["DecryptIngestSecret"]["Resource"] == replica["KmsKeyId"].replace("${Key}", key_id)


@pytest.mark.parametrize(
    "value, accepted",
    [
        ("", True),
        ("us-east-1", True),
        ("us-east-1,eu-west-1", True),
        (",".join(["us-east-1"] * 8), True),
        (",".join(["us-east-1"] * 9), False),  # Replica1..Replica8: a ninth would be dropped silently
        ("us-east-1, eu-west-1", False),
    ],
)
def test_at_most_eight_replica_regions(foundation, value, accepted):
    assert bool(re.fullmatch(foundation["Parameters"]["IngestRegions"]["AllowedPattern"], value)) == accepted
    assert sum(name.startswith("Replica") for name in foundation["Conditions"]) == 8


@pytest.mark.parametrize(
    "parameters, message",
    [
        ({"vendor": "datadog", "ingest": "true"}, "Vendor=dynatrace"),
        ({"ingest": "false", "IngestSecretValue": '{"api_key": "y"}'}, "CreateIngestSecret=true"),
        ({"ingest": "false", "regions": "us-east-1"}, "CreateIngestSecret=true"),
    ],
)
def test_rules_refuse_what_cannot_work(foundation, parameters, message):
    (failure,) = deploy(foundation, **parameters).rule_failures()
    assert message in failure


def test_datadog_foundation_has_no_ingest_secret(foundation):
    stack = deploy(foundation, vendor="datadog", ingest="false")
    assert set(stack.resources()) == {"Key", "KeyAlias", "VendorSecret", "VendorSecretPolicy"}
    assert stack.resources()["VendorSecret"]["Properties"]["Name"] == "registrar/datadog"


@pytest.mark.parametrize(
    "parameter, value, accepted",
    [("OrganizationId", ORG, True), ("OrganizationId", "o-short", False), ("OrganizationId", "r-a1b2", False), ("Name", "registrar", True), ("Name", "Bad/Name", False)],
)
def test_foundation_parameter_patterns(foundation, parameter, value, accepted):
    assert bool(re.fullmatch(foundation["Parameters"][parameter]["AllowedPattern"], value)) == accepted


def test_foundation_is_cfn_lint_clean_as_written_and_for_every_combination(foundation, tmp_path):
    stacks = []
    for vendor, ingest, regions in [
        ("datadog", "false", ""),
        ("dynatrace", "false", ""),
        ("dynatrace", "true", ""),
        ("dynatrace", "true", "eu-west-1,us-east-1,ap-southeast-2"),
    ]:
        stack = deploy(foundation, vendor=vendor, ingest=ingest, regions=regions)
        assert stack.rule_failures() == []
        stacks.append(stack)
    assert cfn_lint("--", FOUNDATION) == (0, "")
    assert lint_specialised(stacks, tmp_path) == (0, "")


def test_the_guides_commands_hold_no_secret_values():
    # Secret values are read from files (or a prompt), never typed into a command line.
    guide = (ROOT / "docs" / "deploy.md").read_text()
    commands = "\n".join(re.findall(r"```sh\n(.*?)```", guide, re.S))
    assert "put-secret-value" in commands and "create-secret" in commands
    for option in re.findall(r"--secret-string\s+(\S+)", commands):
        assert option.startswith("file://"), option
    assert not re.search(r"(Ingest)?SecretValue=", commands), "NoEcho values only from a parameters file"
    assert not re.search(r"dt0[a-z][0-9]{2}\.[A-Z0-9]{8,}", guide), "no token in the guide"
    assert not re.search(r'"api_key":\s*"[0-9a-f]{16,}', guide), "no key in the guide"
