"""What every member template (templates/<vendor>.yaml) must do, whatever the vendor: the
function and its role, the custom resources' contract, the home region, and nothing of another
vendor. A new vendor's template is checked here as soon as it is in MEMBER (cfn.py)."""

import importlib
import itertools
import json
import re

import pytest

from cfn import (
    ACCOUNT_ID,
    MEMBER,
    ROOT,
    SECRET_ARN,
    Stack,
    as_list,
    check_complete,
    created_after,
    load,
    member_templates,
    references,
    statements,
)
from identities import data_reads
from sandbox.vendors import VENDORS as VENDORS_TABLE

KMS_KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
HUB_ROLE_ARN = "arn:aws:iam::111122223333:role/registrar-secret-reader"
LAMBDA_MAX_TIMEOUT = 900
# Each vendor's facts are in member_<vendor>.py; the vendors are those Registrar knows.
OF = {vendor: importlib.import_module(f"member_{vendor}") for vendor in MEMBER}
# The parameters a stack of each vendor needs beyond the defaults.
REQUIRED = {vendor: of.REQUIRED for vendor, of in OF.items()}
# The custom resource's contract (the README's "Resource properties": the common ones, Phase and
# RegistrationId of the role-binding and role-permissions steps, and each vendor's own from its
# descriptor, sandbox/vendors.json): nothing else may be passed.
CONTRACT_PROPERTIES = {
    "Phase", "RegistrationId", "ServiceToken", "ServiceTimeout", "Vendor", "SecretArn", "SecretRoleArn", "RoleName",
    "AccountId", "Partition", "OnConflict", "OnDeleteError",
    *(p for v in VENDORS_TABLE["vendors"] for p in v["properties"]),
    *(p for of in OF.values() for p in of.MORE_PROPERTIES),
}
FUNCTION_RESOURCES = {"FunctionLogGroup", "FunctionRole", "Function", "FunctionEventInvokeConfig"}
# Per vendor: the registrations (custom resources that read the secret) with the role they name,
# the other custom resources (steps after the role), and what a default stack creates.
REGISTRATIONS = {vendor: of.REGISTRATIONS for vendor, of in OF.items()}
STEPS = {vendor: of.STEPS for vendor, of in OF.items()}
RESOURCES_OF = {vendor: FUNCTION_RESOURCES | of.RESOURCES for vendor, of in OF.items()}
DEFAULT_ROLE_NAME = {v["name"]: v["default_role"] for v in VENDORS_TABLE["vendors"]}
# Every vendor's own parameters: no member template may have another vendor's.
VENDOR_PARAMETER = {vendor: of.PARAMETER for vendor, of in OF.items()}
VENDORS = sorted(MEMBER)


@pytest.fixture(scope="module", params=VENDORS)
def vendor(request):
    return request.param


@pytest.fixture(scope="module")
def template(vendor):
    return load(MEMBER[vendor])


def member_stack(vendor, template, **parameters):
    return Stack(template, **{**REQUIRED[vendor], **parameters})


def test_the_member_templates_are_the_vendors():
    assert member_templates() == sorted(MEMBER.values())


# --------------------------------------------------------------------------- shape


def test_plain_cloudformation_without_transform(vendor, template):
    # Service-managed StackSets reject any Transform (SAM included) and macros.
    assert "Transform" not in template
    assert "Transform" not in re.sub(r"#.*", "", MEMBER[vendor].read_text())
    for name, resource in template["Resources"].items():
        assert not resource["Type"].startswith("AWS::Serverless::"), name
        assert resource["Type"] != "AWS::CloudFormation::Macro", name
    assert "Fn::Transform" not in json.dumps(template)


def test_no_parameter_of_another_vendor(vendor, template):
    for other, pattern in VENDOR_PARAMETER.items():
        if other != vendor:
            assert not [p for p in template["Parameters"] if pattern.match(p)], other
    assert "Vendor" not in template["Parameters"], "the template is the vendor"
    # Nor a resource type that some region lacks: ingest is a template of its own.
    assert not [r for r in template["Resources"].values() if r["Type"].startswith("AWS::Events::")]


def test_every_parameter_in_exactly_one_group(template):
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [p for g in groups for p in g["Parameters"]]
    assert sorted(grouped) == sorted(template["Parameters"])


def test_function_is_built_by_sam_for_arm64(vendor, template):
    function = template["Resources"]["Function"]
    props = function["Properties"]
    assert function["Metadata"]["BuildMethod"] == "rust-cargolambda"
    assert function["Metadata"]["BuildProperties"]["Binary"] == "bootstrap"
    assert props["Runtime"] == "provided.al2023"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "bootstrap"
    # A local path (the crate root, from templates/) that packaging replaces with the artefact.
    assert props["Code"] == ".."
    assert (MEMBER[vendor].parent / props["Code"] / "Cargo.toml").is_file()
    assert props["MemorySize"] == 128
    assert props["Timeout"] == 300


def test_function_logs_json_to_its_own_log_group_with_retention(template):
    logging = template["Resources"]["Function"]["Properties"]["LoggingConfig"]
    assert logging["LogFormat"] == "JSON"
    assert logging["LogGroup"] == {"Ref": "FunctionLogGroup"}
    group = template["Resources"]["FunctionLogGroup"]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert "RetentionInDays" in group["Properties"]
    # The runtime logs the raw event (with the pre-signed ResponseURL) at TRACE: never offer it.
    level = template["Parameters"]["LogLevel"]
    assert logging["ApplicationLogLevel"] == {"Ref": "LogLevel"}
    assert "TRACE" not in level["AllowedValues"] and level["Default"] == "INFO"


def test_no_endpoint_override_or_key_material_in_the_template(vendor, template):
    environment = template["Resources"]["Function"]["Properties"].get("Environment", {}).get("Variables", {})
    assert not [name for name in environment if name.startswith("REGISTRAR_")]
    assert "REGISTRAR_VENDOR_ENDPOINT" not in MEMBER[vendor].read_text()
    for name, spec in template["Parameters"].items():
        assert not re.search(r"api.?key|app.?key|token|password", name, re.I), name
        assert "{{resolve" not in str(spec.get("Default", "")), name
    assert "resolve:" not in json.dumps(template)


def test_shared_parameters(template):
    params = template["Parameters"]
    assert params["OnConflict"]["AllowedValues"] == ["fail", "adopt"] and params["OnConflict"]["Default"] == "fail"
    assert params["OnDeleteError"]["AllowedValues"] == ["fail", "retain"]
    assert params["OnDeleteError"]["Default"] == "fail"
    assert "Default" not in params["SecretArn"], "the secret must be chosen, never defaulted"
    assert params["SecretRoleArn"]["Default"] == "" and params["SecretKmsKeyArn"]["Default"] == ""
    assert params["IAMRoleName"]["Default"] == "" and params["HomeRegion"]["Default"] == ""


@pytest.mark.parametrize(
    "parameter, value, accepted",
    [
        ("SecretArn", SECRET_ARN, True),
        ("SecretArn", "arn:aws-us-gov:secretsmanager:us-gov-west-1:111122223333:secret:a/b_c+d=e.f@g-h-123456", True),
        ("SecretArn", "arn:aws:secretsmanager:eu-west-1:111122223333:secret:registrar/datadog", False),
        ("SecretArn", "registrar/datadog", False),
        ("SecretRoleArn", "", True),
        ("SecretRoleArn", HUB_ROLE_ARN, True),
        ("SecretRoleArn", "arn:aws:iam::111122223333:user/someone", False),
        ("SecretKmsKeyArn", "", True),
        ("SecretKmsKeyArn", KMS_KEY_ARN, True),
        ("SecretKmsKeyArn", "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab", True),
        ("SecretKmsKeyArn", "arn:aws:kms:eu-west-1:111122223333:alias/registrar", False),
        ("IAMRoleName", "DatadogIntegrationRole", True),
        ("IAMRoleName", "", True),
        ("IAMRoleName", "x" * 64, True),
        ("IAMRoleName", "has space", False),
        ("IAMRoleName", "x" * 65, False),
        ("HomeRegion", "", True),
        ("HomeRegion", "eu-west-1", True),
        ("HomeRegion", "us-gov-west-1", True),
        ("HomeRegion", "ap-southeast-5", True),
        ("HomeRegion", "EU-WEST-1", False),
        ("HomeRegion", "eu-west-1,us-east-1", False),
        ("HomeRegion", "eu west 1", False),
    ],
)
def test_shared_parameter_patterns(template, parameter, value, accepted):
    pattern = template["Parameters"][parameter]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) == accepted
    assert template["Parameters"][parameter]["ConstraintDescription"]


def test_every_rule_explains_itself(template):
    for name, rule in template["Rules"].items():
        for assertion in rule["Assertions"]:
            assert len(assertion.get("AssertDescription", "")) > 40, name


def test_secret_key_only_for_direct_reads(vendor, template):
    assert member_stack(vendor, template, SecretRoleArn=HUB_ROLE_ARN, SecretKmsKeyArn=KMS_KEY_ARN).rule_failures()
    assert member_stack(vendor, template, SecretRoleArn=HUB_ROLE_ARN).rule_failures() == []
    assert member_stack(vendor, template, SecretKmsKeyArn=KMS_KEY_ARN).rule_failures() == []


# --------------------------------------------------------------------------- the custom resources


def test_a_default_stack_creates_exactly_its_resources(vendor, template):
    stack = member_stack(vendor, template)
    assert stack.rule_failures() == []
    assert set(stack.resources()) == RESOURCES_OF[vendor]
    check_complete(stack)


def test_custom_resources_pass_exactly_the_contract(vendor, template):
    resources = template["Resources"]
    custom = {name for name, r in resources.items() if r["Type"].startswith("Custom::")}
    assert custom == set(REGISTRATIONS[vendor]) | STEPS[vendor]
    for name in custom:
        props = resources[name]["Properties"]
        assert set(props) <= CONTRACT_PROPERTIES, set(props) - CONTRACT_PROPERTIES
        assert props["ServiceToken"] == {"Fn::GetAtt": ["Function", "Arn"]}
        assert props["Vendor"] == vendor, "each template is one vendor's"
        assert props["OnDeleteError"] == {"Ref": "OnDeleteError"}
    for name, role in REGISTRATIONS[vendor].items():
        props = resources[name]["Properties"]
        assert props["SecretArn"] == {"Ref": "SecretArn"} and props["OnConflict"] == {"Ref": "OnConflict"}, name
        # The role the vendor is told about is the role the template creates (same expression);
        # Datadog's access-key registrations name none.
        role_name = props["RoleName"]
        if role_name.get("Fn::If", [None])[0] == "DatadogUsesRole":
            assert role_name["Fn::If"][2] == {"Ref": "AWS::NoValue"}
            role_name = role_name["Fn::If"][1]
        expected = {"Fn::If": ["UsesDefaultRoleName", DEFAULT_ROLE_NAME[vendor], {"Ref": "IAMRoleName"}]}
        assert role_name == expected == resources[role]["Properties"]["RoleName"], name


@pytest.mark.parametrize("iam_role_name", ["", "acme-vendor", "DatadogIntegrationRole"])
def test_role_name_defaults_to_the_vendors_name(vendor, template, iam_role_name):
    stack = member_stack(vendor, template, IAMRoleName=iam_role_name)
    resources = stack.resources()
    named = {n: resources[n]["Properties"]["RoleName"] for n in set(REGISTRATIONS[vendor]) | set(REGISTRATIONS[vendor].values())}
    assert set(named.values()) == {iam_role_name or DEFAULT_ROLE_NAME[vendor]}, named


def test_secret_role_is_omitted_when_empty(vendor, template):
    for name, resource in member_stack(vendor, template).resources().items():
        if name in REGISTRATIONS[vendor]:
            assert "SecretRoleArn" not in resource["Properties"], name
    with_role = member_stack(vendor, template, SecretRoleArn=HUB_ROLE_ARN).resources()
    for name in REGISTRATIONS[vendor]:
        assert with_role[name]["Properties"]["SecretRoleArn"] == HUB_ROLE_ARN, name


def test_service_timeout_is_just_above_the_function_timeout(vendor, template):
    resources = template["Resources"]
    timeout = resources["Function"]["Properties"]["Timeout"]
    max_event_age = resources["FunctionEventInvokeConfig"]["Properties"]["MaximumEventAgeInSeconds"]
    for name in set(REGISTRATIONS[vendor]) | STEPS[vendor]:
        service_timeout = resources[name]["Properties"]["ServiceTimeout"]
        # CloudFormation types ServiceTimeout as a String.
        assert isinstance(service_timeout, str) and service_timeout.isdigit()
        service_timeout = int(service_timeout)
        assert timeout < service_timeout <= LAMBDA_MAX_TIMEOUT, "never anywhere near the one-hour default"
        # An event may wait in Lambda's async queue up to max_event_age before its run starts.
        assert service_timeout >= timeout + max_event_age
        assert service_timeout <= timeout + 120, "just above, not minutes of idle waiting"


def test_async_retries_are_disabled(template):
    config = template["Resources"]["FunctionEventInvokeConfig"]
    assert config["Type"] == "AWS::Lambda::EventInvokeConfig"
    props = config["Properties"]
    assert props["FunctionName"] == {"Ref": "Function"}
    assert props["Qualifier"] == "$LATEST"
    assert props["MaximumRetryAttempts"] == 0
    assert props["MaximumEventAgeInSeconds"] == 60


def test_custom_resources_depend_on_everything_their_delete_needs(vendor, template):
    resources = template["Resources"]
    function = resources["Function"]
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    # The role carries the function's policy inline; separate policies attached to it count too.
    needed = {role, function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]}
    for other, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::RolePolicy", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            if {"Ref": role} in as_list(props.get("RoleName", [])) + as_list(props.get("Roles", [])):
                needed.add(other)
        if resource["Type"] == "AWS::Lambda::EventInvokeConfig" and props.get("FunctionName") == {"Ref": "Function"}:
            needed.add(other)
    assert {"FunctionRole", "FunctionLogGroup", "FunctionEventInvokeConfig"} <= needed
    for name in set(REGISTRATIONS[vendor]) | STEPS[vendor]:
        assert needed <= set(as_list(resources[name].get("DependsOn", []))), name
    assert resources[role]["Properties"]["Policies"], "the function's grants live in its role"


def test_every_vendor_role_is_created_after_its_registration(vendor, template):
    # Unless the vendor knows the external id before anything is registered (ROLE_FIRST), the
    # role trusts the id the registration answers, so it comes after it.
    for registration, role in REGISTRATIONS[vendor].items():
        if template["Resources"][registration]["Properties"].get("Phase") is None:
            first, then = (registration, role) if not OF[vendor].ROLE_FIRST else (role, registration)
            assert created_after(template, then, first)
            assert not created_after(template, first, then)


# --------------------------------------------------------------------------- the function's role


def function_grants(stack):
    """The statements of every policy that applies to the function's role."""
    resources = stack.resources()
    role = resources["FunctionRole"]["Properties"]
    assert "ManagedPolicyArns" not in role, "no managed policies: every grant is spelled out"
    grants = []
    for policy in role.get("Policies", []):
        grants.extend(statements(policy["PolicyDocument"]))
    for resource in resources.values():
        if resource["Type"] in ("AWS::IAM::RolePolicy", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            props = resource["Properties"]
            if {"Ref": "FunctionRole"} in as_list(props.get("RoleName", [])) + as_list(props.get("Roles", [])):
                grants.extend(statements(props["PolicyDocument"]))
    return grants


def test_function_role_trusts_only_lambda(template):
    trust = statements(template["Resources"]["FunctionRole"]["Properties"]["AssumeRolePolicyDocument"])
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    # The path is what the secret's resource policy and the KMS key policy match on.
    assert template["Resources"]["FunctionRole"]["Properties"]["Path"] == "/registrar/"


# What the function may do beyond reading its secret, per vendor (test_datadog.py checks Datadog's).
VENDOR_SIDS = {vendor: of.FUNCTION_SIDS for vendor, of in OF.items()}
# What it may never do, whatever else allows it: change the vendor's permissions boundary
# (test_boundary.py checks them).
DENY_SIDS = {"KeepVendorBoundary", "KeepVendorBoundaryPolicy"}


@pytest.mark.parametrize(
    "parameters, expected_sids",
    [
        ({}, {"WriteOwnLogs", "ReadVendorSecret"}),
        ({"SecretKmsKeyArn": KMS_KEY_ARN}, {"WriteOwnLogs", "ReadVendorSecret", "DecryptVendorSecret"}),
        ({"SecretRoleArn": HUB_ROLE_ARN}, {"WriteOwnLogs", "AssumeSecretRole"}),
    ],
    ids=["same-account-secret", "secret-with-customer-key", "secret-through-role"],
)
def test_function_role_reads_exactly_its_secret(vendor, template, parameters, expected_sids):
    stack = member_stack(vendor, template, **parameters)
    assert stack.rule_failures() == []
    grants = function_grants(stack)
    assert {g["Sid"] for g in grants} == expected_sids | VENDOR_SIDS[vendor] | DENY_SIDS
    grants = [g for g in grants if g["Sid"] not in DENY_SIDS]
    expected = {
        "WriteOwnLogs": ({"logs:CreateLogStream", "logs:PutLogEvents"}, {"Fn::GetAtt": ["FunctionLogGroup", "Arn"]}),
        "ReadVendorSecret": ({"secretsmanager:GetSecretValue"}, SECRET_ARN),
        "DecryptVendorSecret": ({"kms:Decrypt"}, KMS_KEY_ARN),
        "AssumeSecretRole": ({"sts:AssumeRole"}, HUB_ROLE_ARN),
    }
    for grant in grants:
        assert grant["Effect"] == "Allow"
        assert "NotAction" not in grant and "NotResource" not in grant
        if grant["Sid"] not in expected:
            continue
        actions, resource = expected[grant["Sid"]]
        assert set(as_list(grant["Action"])) == actions, grant["Sid"]
        assert grant["Resource"] == resource, grant["Sid"]
        if grant["Sid"] == "DecryptVendorSecret":
            # Only through Secrets Manager, in the secret's own region, for this very secret.
            assert grant["Condition"] == {
                "StringEquals": {
                    "kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com",
                    "kms:EncryptionContext:SecretARN": SECRET_ARN,
                }
            }
        else:
            assert "Condition" not in grant, grant["Sid"]


def test_kms_condition_follows_the_partition(vendor, template):
    stack = member_stack(
        vendor,
        template,
        partition="aws-cn",
        SecretArn="arn:aws-cn:secretsmanager:cn-northwest-1:111122223333:secret:dd-AbCdEf",
        SecretKmsKeyArn="arn:aws-cn:kms:cn-northwest-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        **({"DatadogAuthType": "access-keys"} if vendor == "datadog" else {}),
    )
    (decrypt,) = [g for g in function_grants(stack) if g["Sid"] == "DecryptVendorSecret"]
    assert decrypt["Condition"]["StringEquals"]["kms:ViaService"] == "secretsmanager.cn-northwest-1.amazonaws.com.cn"


# --------------------------------------------------------------------------- the home region


@pytest.mark.parametrize("region", ["eu-west-1", "us-east-1", "ap-southeast-2"])
def test_the_home_region_registers_and_the_others_hold_nothing(vendor, template, region):
    # Empty HomeRegion: this region is home (a StackSet in one region, or one stack).
    assert set(member_stack(vendor, template, region=region).resources()) == RESOURCES_OF[vendor]
    assert set(member_stack(vendor, template, region=region, HomeRegion=region).resources()) == RESOURCES_OF[vendor]
    elsewhere = member_stack(vendor, template, region=region, HomeRegion="sa-east-1")
    assert set(elsewhere.resources()) == {"NothingElseHere"}
    assert elsewhere.outputs() == {}
    check_complete(elsewhere)


def test_outputs_name_only_what_the_stack_creates(vendor, template):
    stack = member_stack(vendor, template)
    for name, output in template["Outputs"].items():
        if "Condition" in output and not stack.condition(output["Condition"]):
            continue
        missing = references(output["Value"]) - set(stack.resources()) - set(template["Parameters"])
        assert not {m for m in missing if not m.startswith("AWS::")}, name
    assert "FunctionLogGroupName" in stack.outputs()
    assert "ExternalId" not in json.dumps(template["Outputs"]), "the external ID is not published as an output"


def test_the_data_reading_check_catches_wildcards():
    # The check itself: the patterns the issue names, and wildcards that cover them.
    for pattern in ["*", "s3:*", "s3:Get*", "s3:GetObject", "dynamodb:GetItem", "dynamodb:*", "secretsmanager:GetSecretValue", "kms:Decrypt"]:
        assert data_reads([{"Effect": "Allow", "Action": pattern, "Resource": "*"}]), pattern
    for pattern in ["s3:GetBucketTagging", "dynamodb:Describe*", "cloudwatch:Get*", "ec2:Describe*"]:
        assert data_reads([{"Effect": "Allow", "Action": [pattern], "Resource": "*"}]) == [], pattern
    assert data_reads([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}])


# --------------------------------------------------------------------------- every combination

# Per vendor, the values that decide its conditions: the stacks of every combination of them
# (the shared parameters' here, the vendor's own and its partitions in member_<vendor>.py).
SHARED_DECIDING = {
    "HomeRegion": ["", "sa-east-1"],
    "IAMRoleName": ["", "acme"],
    "SecretRoleArn": ["", HUB_ROLE_ARN],
    "SecretKmsKeyArn": ["", KMS_KEY_ARN],
}
DECIDING = {vendor: {"partition": of.PARTITIONS, **SHARED_DECIDING, **of.DECIDING} for vendor, of in OF.items()}


def combinations(vendor):
    names = list(DECIDING[vendor])
    for values in itertools.product(*(DECIDING[vendor][n] for n in names)):
        parameters = dict(zip(names, values))
        partition = parameters.pop("partition")
        yield partition, {**parameters, **OF[vendor].IN_PARTITION.get(partition, {})}


def test_every_combination_names_only_what_it_creates(vendor, template):
    # Every condition of the template is decided both ways by these combinations, and no stack of
    # any of them refers to a resource it does not create (outputs, properties, DependsOn).
    seen = {name: set() for name in template["Conditions"]}
    stacks = 0
    for partition, parameters in combinations(vendor):
        stack = member_stack(vendor, template, partition=partition, **parameters)
        if stack.rule_failures():
            continue  # refused before anything is created
        check_complete(stack)
        for name in seen:
            seen[name].add(stack.condition(name))
        stacks += 1
    assert stacks > 30
    assert {name: values for name, values in seen.items() if values != {True, False}} == {}
