"""templates/datadog.yaml: Datadog's settings, principals, rules, role, permissions step and
access keys. The principal table is compared with the Rust code by `cargo test --test template`;
here it is compared with the Rules (every "no principal" cell must be rejected at deploy time,
everything else accepted)."""

import json
import re

import pytest

from cfn import ACCOUNT_ID, MEMBER, PARTITIONS, Stack, as_list, created_after, load, statements
from identities import check_no_data_reads, identity_grants, vendor_identities, data_reads
from test_member import FUNCTION_RESOURCES, HUB_ROLE_ARN, KMS_KEY_ARN, RESOURCES_OF, function_grants

NO_PRINCIPAL = "none"
DATADOG_SITES = {
    "datadoghq.com", "datadoghq.eu", "us3.datadoghq.com", "us5.datadoghq.com", "ddog-gov.com", "us2.ddog-gov.com",
    "ap1.datadoghq.com", "ap2.datadoghq.com", "uk1.datadoghq.com",
}
DATADOG_STEP_SIDS = {"WriteDatadogInlinePolicy", "AttachDatadogPolicies", "ManageDatadogPolicies", "FindDatadogPolicies"}
DATADOG_ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/DatadogIntegrationRole"
# The step's managed policies: the standard list's (a user's) and the resource-collection list's.
DATADOG_POLICIES_ARN = [f"arn:aws:iam::{ACCOUNT_ID}:policy/registrar/registrar-DatadogIntegrationRole-datadog-{kind}-*"
                        for kind in ("standard", "resource-collection")]
DENY_SIDS = {"KeepVendorBoundary", "KeepVendorBoundaryPolicy"}
SECURITY_AUDIT = "arn:aws:iam::aws:policy/SecurityAudit"


@pytest.fixture(scope="module")
def template():
    return load(MEMBER["datadog"])


def test_datadog_parameters(template):
    params = template["Parameters"]
    assert set(params["DatadogSite"]["AllowedValues"]) == DATADOG_SITES
    assert len(params["DatadogSite"]["AllowedValues"]) == 9
    assert params["DatadogSite"]["Default"] == "datadoghq.com"
    # Empty stands for DatadogIntegrationRole, IAMRoleName's old default, so existing stacks keep their role.
    assert Stack(template).resources()["DatadogIntegrationRole"]["Properties"]["RoleName"] == "DatadogIntegrationRole"
    for name in ("DisableMetricCollection", "DisableResourceCollection", "CloudSecurityPostureManagement"):
        assert params[name]["AllowedValues"] == ["true", "false"], name
        assert params[name]["Default"] == "false", name


def test_datadog_registration_passes_datadogs_settings(template):
    registration = template["Resources"]["VendorRegistration"]
    assert registration["Type"] == "Custom::VendorRegistration"
    props = registration["Properties"]
    for prop, parameter in {
        "Site": "DatadogSite",
        "DisableMetricCollection": "DisableMetricCollection",
        "DisableResourceCollection": "DisableResourceCollection",
        "CloudSecurityPostureManagement": "CloudSecurityPostureManagement",
    }.items():
        assert props[prop] == {"Ref": parameter}, prop
    assert props["AccountTags"] == [{"Fn::Sub": "aws_account:${AWS::AccountId}"}]
    assert not {"EnvironmentUrl", "MonitoringConfigId", "Phase", "RegistrationId"} & set(props)


# --------------------------------------------------------------------------- principals and rules


def principal_cell(template, site, partition):
    column = template["Mappings"]["PartitionKey"][partition]["Key"]
    return str(template["Mappings"]["DatadogPrincipalAccount"][site][column])


def test_principal_mapping_is_complete_and_well_formed(template):
    mappings = template["Mappings"]
    assert set(mappings["DatadogPrincipalAccount"]) == set(template["Parameters"]["DatadogSite"]["AllowedValues"])
    assert set(mappings["PartitionKey"]) == set(PARTITIONS)
    columns = {mappings["PartitionKey"][p]["Key"] for p in PARTITIONS}
    for site, row in mappings["DatadogPrincipalAccount"].items():
        assert set(row) == columns, site
        for partition in PARTITIONS:
            cell = principal_cell(template, site, partition)
            assert cell == NO_PRINCIPAL or re.fullmatch(r"[0-9]{12}", cell), (site, partition, cell)


@pytest.mark.parametrize("partition", PARTITIONS)
@pytest.mark.parametrize("site", sorted(DATADOG_SITES))
def test_rules_reject_exactly_the_sites_without_a_principal(template, site, partition):
    stack = Stack(template, partition=partition, DatadogSite=site)
    failures = stack.rule_failures()
    cell = principal_cell(template, site, partition)
    if cell == NO_PRINCIPAL:
        assert failures, f"{site} in {partition} has no Datadog principal, yet the Rules accept it"
        assert all(len(message) > 40 for message in failures)
    else:
        assert failures == []
        trust = statements(stack.resources()["DatadogIntegrationRole"]["Properties"]["AssumeRolePolicyDocument"])
        assert trust[0]["Principal"] == {"AWS": f"arn:{partition}:iam::{cell}:root"}


@pytest.mark.parametrize(
    "parameters, rejected",
    [
        ({"CloudSecurityPostureManagement": "true", "DisableResourceCollection": "true"}, True),
        ({"CloudSecurityPostureManagement": "true", "DisableResourceCollection": "false"}, False),
        ({"CloudSecurityPostureManagement": "false", "DisableResourceCollection": "true"}, False),
        ({"SecretRoleArn": HUB_ROLE_ARN, "SecretKmsKeyArn": KMS_KEY_ARN}, True),
        ({"SecretRoleArn": HUB_ROLE_ARN}, False),
        ({"SecretKmsKeyArn": KMS_KEY_ARN}, False),
    ],
)
def test_rules_reject_impossible_combinations(template, parameters, rejected):
    assert bool(Stack(template, **parameters).rule_failures()) == rejected


@pytest.mark.parametrize(
    "parameters, partition, message",
    [
        ({"DatadogIncludeNamespaces": "AWS/EC2", "DatadogExcludeNamespaces": "AWS/SQS"}, "aws", "DatadogIncludeNamespaces"),
        ({"DatadogIncludeNamespaces": "AWS/EC2"}, "aws", None),
        ({"DatadogExcludeNamespaces": "AWS/SQS"}, "aws", None),
        ({"DatadogAuthType": "access-keys"}, "aws", "access keys only for AWS China and GovCloud"),
        ({"DatadogAuthType": "role"}, "aws-cn", "access-keys"),
        ({"DatadogAuthType": "access-keys"}, "aws-cn", None),
        ({"DatadogAuthType": "access-keys", "DatadogSite": "datadoghq.com"}, "aws-us-gov", None),
        ({"DatadogAuthType": "access-keys", "DatadogSite": "ddog-gov.com"}, "aws-us-gov", None),
        ({"DatadogAuthType": "role", "DatadogSite": "datadoghq.com"}, "aws-us-gov", "access-keys"),
    ],
)
def test_rules_for_datadogs_settings_and_access_keys(template, parameters, partition, message):
    failures = Stack(template, partition=partition, **parameters).rule_failures()
    if message is None:
        assert failures == []
    else:
        (failure,) = failures
        assert message in failure, failure


# --------------------------------------------------------------------------- the role and its permissions


def test_vendor_role_trusts_the_mapped_principal_with_the_external_id(template):
    role = template["Resources"]["DatadogIntegrationRole"]["Properties"]
    registration = template["Resources"]["VendorRegistration"]["Properties"]
    told = registration["RoleName"]["Fn::If"]
    assert told[0] == "DatadogUsesRole" and role["RoleName"] == told[1], "the role Datadog is told about is the role created"
    (trust,) = statements(role["AssumeRolePolicyDocument"])
    assert trust["Effect"] == "Allow" and trust["Action"] == "sts:AssumeRole"
    assert trust["Principal"]["AWS"] == {
        "Fn::Sub": [
            "arn:${AWS::Partition}:iam::${PrincipalAccountId}:root",
            {"PrincipalAccountId": {"Fn::FindInMap": [
                "DatadogPrincipalAccount", {"Ref": "DatadogSite"},
                {"Fn::FindInMap": ["PartitionKey", {"Ref": "AWS::Partition"}, "Key"]}]}},
        ]
    }
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": {"Fn::GetAtt": ["VendorRegistration", "ExternalId"]}}}
    assert created_after(template, "DatadogIntegrationRole", "VendorRegistration")
    assert not created_after(template, "VendorRegistration", "DatadogIntegrationRole")


@pytest.mark.parametrize("parameters", [{}, {"CloudSecurityPostureManagement": "true"}, {"DisableResourceCollection": "true"}])
def test_datadog_role_gets_its_permissions_only_from_the_permissions_step(template, parameters):
    stack = Stack(template, **parameters)
    assert stack.rule_failures() == []
    resources = stack.resources()
    role = resources["DatadogIntegrationRole"]["Properties"]
    # Its trust, its boundary and, with resource collection on, SecurityAudit, as Datadog's
    # organisation template does (test_boundary.py); no hand-copied list.
    assert "Policies" not in role
    assert role["PermissionsBoundary"] == {"Ref": "DatadogPermissionsBoundary"}
    collects = parameters.get("DisableResourceCollection", "false") == "false"
    assert role.get("ManagedPolicyArns", []) == ([SECURITY_AUDIT] if collects else [])
    attached = [r for r in resources.values() if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy")]
    assert not [r for r in attached if {"Ref": "DatadogIntegrationRole"} in as_list(r["Properties"].get("Roles", [])) + as_list(r["Properties"].get("RoleName", []))]
    step = resources["DatadogRolePermissions"]["Properties"]
    assert step["Phase"] == "role-permissions" and step["Vendor"] == "datadog"
    assert step["DisableResourceCollection"] == parameters.get("DisableResourceCollection", "false")
    assert step["Site"] == "datadoghq.com"


def test_datadog_permissions_step_passes_what_it_needs_and_no_secret(template):
    step = template["Resources"]["DatadogRolePermissions"]
    assert step["Type"] == "Custom::VendorRolePermissions"
    props = step["Properties"]
    # The lists need no keys: the step reads no secret (fewer ways to fail).
    assert not {"SecretArn", "SecretRoleArn", "OnConflict", "AccountTags"} & set(props)
    # The role's or the user's name, by Ref: the step runs after the identity it writes on.
    assert props["RoleName"] == {"Fn::If": ["DatadogUsesRole", {"Ref": "DatadogIntegrationRole"}, {"Ref": "AWS::NoValue"}]}
    assert props["UserName"] == {"Fn::If": ["DatadogUsesAccessKeys", {"Ref": "DatadogIntegrationUser"}, {"Ref": "AWS::NoValue"}]}
    assert props["Site"] == {"Ref": "DatadogSite"}
    assert props["DisableResourceCollection"] == {"Ref": "DisableResourceCollection"}
    # After the role or the user (it writes their policies), deleted before it.
    assert created_after(template, "DatadogRolePermissions", "DatadogIntegrationRole")
    assert created_after(template, "DatadogRolePermissions", "DatadogIntegrationUser")


def test_the_function_writes_only_the_policies_of_datadogs_role(template):
    grants = {g["Sid"]: g for g in function_grants(Stack(template)) if g["Sid"] not in DENY_SIDS}
    expected = {
        # Only Datadog's role, only policies under our path and prefix for that role.
        "WriteDatadogInlinePolicy": ({"iam:PutRolePolicy", "iam:DeleteRolePolicy"}, DATADOG_ROLE_ARN),
        "AttachDatadogPolicies": ({"iam:AttachRolePolicy", "iam:DetachRolePolicy"}, DATADOG_ROLE_ARN),
        "ManageDatadogPolicies": ({"iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion",
                                   "iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions"}, DATADOG_POLICIES_ARN),
        # IAM cannot scope ListPolicies; it lists names only.
        "FindDatadogPolicies": ({"iam:ListPolicies"}, "*"),
    }
    for sid, (actions, resource) in expected.items():
        assert set(as_list(grants[sid]["Action"])) == actions, sid
        assert grants[sid]["Resource"] == resource, sid
        assert "*" not in json.dumps(grants[sid]["Action"]), sid
    assert grants["AttachDatadogPolicies"]["Condition"] == {"ArnLike": {"iam:PolicyARN": DATADOG_POLICIES_ARN}}
    for sid in expected.keys() - {"AttachDatadogPolicies"}:
        assert "Condition" not in grants[sid], sid


def test_function_may_write_the_policies_of_the_role_it_is_told_about(template):
    grants = {g["Sid"]: g for g in function_grants(Stack(template, IAMRoleName="acme-datadog"))}
    assert grants["WriteDatadogInlinePolicy"]["Resource"] == f"arn:aws:iam::{ACCOUNT_ID}:role/acme-datadog"
    assert [arn.rsplit("/", 1)[1] for arn in grants["ManageDatadogPolicies"]["Resource"]] == [
        "registrar-acme-datadog-datadog-standard-*", "registrar-acme-datadog-datadog-resource-collection-*"]


@pytest.mark.parametrize("parameters", [{}, {"DisableResourceCollection": "true"}], ids=["default", "no-resource-collection"])
def test_no_identity_datadog_uses_may_read_data_or_secrets(template, parameters):
    check_no_data_reads(Stack(template, **parameters), {"DatadogIntegrationRole"})


def test_outputs(template):
    outputs = template["Outputs"]
    assert outputs["VendorPrincipalAccountId"]["Value"] == {"Fn::GetAtt": ["VendorRegistration", "PrincipalAccountId"]}
    assert "Fn::FindInMap" in outputs["TrustedPrincipalAccountId"]["Value"]
    assert set(Stack(template).outputs()) == {"FunctionLogGroupName", "IntegrationRoleArn", "RegistrationId",
                                              "TrustedPrincipalAccountId", "VendorPrincipalAccountId",
                                              "DatadogPermissionsSource", "AuthType"}


# --------------------------------------------------------------------------- Datadog's settings

COLLECTION = {
    "DatadogRegions": ("Regions", "us-east-1,eu-west-1", ["us-east-1", "eu-west-1"]),
    "DatadogIncludeNamespaces": ("IncludeNamespaces", "AWS/EC2,AWS/Lambda", ["AWS/EC2", "AWS/Lambda"]),
    "DatadogExcludeNamespaces": ("ExcludeNamespaces", "AWS/SQS", ["AWS/SQS"]),
    "DatadogMetricTagFilters": ("MetricTagFilters", "AWS/EC2:env:prod", ["AWS/EC2:env:prod"]),
    "DatadogMetricNameFilters": ("MetricNameFilters", "AWS/EC2:aws.ec2.cpu*,AWS/RDS:!aws.rds.aurora*",
                                 ["AWS/EC2:aws.ec2.cpu*", "AWS/RDS:!aws.rds.aurora*"]),
    "DatadogLogSourceTagFilters": ("LogSourceTagFilters", "s3:env:prod", ["s3:env:prod"]),
    "DatadogLogForwarderArns": ("LogForwarderArns", f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:fwd",
                                [f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:fwd"]),
    "DatadogLogSources": ("LogSources", "s3,lambda", ["s3", "lambda"]),
    "DatadogXRayServices": ("XRayServices", "all", ["all"]),
}
FLAGS = {"DatadogAutomuteEnabled": "AutomuteEnabled", "DatadogCollectCustomMetrics": "CollectCustomMetrics",
         "DatadogCollectCloudWatchAlarms": "CollectCloudWatchAlarms"}


def test_datadog_settings_are_not_managed_by_default(template):
    props = Stack(template).resources()["VendorRegistration"]["Properties"]
    for _, (prop, _, _) in COLLECTION.items():
        assert prop not in props, f"{prop}: an empty parameter leaves the setting to Datadog"
    for parameter, prop in FLAGS.items():
        # Blank reads as absent in the function (props.rs): not managed.
        assert template["Parameters"][parameter]["Default"] == "" and props[prop] == "", prop
    assert props["AuthType"] == "role"


@pytest.mark.parametrize("parameter", sorted(COLLECTION))
def test_datadog_list_settings_are_passed_when_set(template, parameter):
    prop, value, sent = COLLECTION[parameter]
    assert template["Parameters"][parameter]["Type"] == "CommaDelimitedList"
    assert template["Parameters"][parameter]["Default"] == ""
    stack = Stack(template, **{parameter: value})
    assert stack.rule_failures() == []
    assert stack.resources()["VendorRegistration"]["Properties"][prop] == sent


@pytest.mark.parametrize("parameter", sorted(FLAGS))
def test_datadog_flags_are_passed_when_set(template, parameter):
    assert template["Parameters"][parameter]["AllowedValues"] == ["", "true", "false"]
    props = Stack(template, **{parameter: "false"}).resources()["VendorRegistration"]["Properties"]
    assert props[FLAGS[parameter]] == "false"


# --------------------------------------------------------------------------- access keys


def access_key_stack(template, partition="aws-cn", **more):
    return Stack(template, partition=partition, DatadogAuthType="access-keys", DatadogSite="datadoghq.com", **more)


ACCESS_KEY_RESOURCES = FUNCTION_RESOURCES | {"VendorRegistration", "DatadogRolePermissions", "DatadogIntegrationUser",
                                             "DatadogAccessKey", "DatadogAccessKeySecret", "DatadogPermissionsBoundary"}


@pytest.mark.parametrize("partition", ["aws-cn", "aws-us-gov"])
def test_an_access_key_stack_makes_a_user_its_key_and_a_secret_and_no_role(template, partition):
    stack = access_key_stack(template, partition)
    assert stack.rule_failures() == []
    resources = stack.resources()
    assert set(resources) == ACCESS_KEY_RESOURCES
    user = resources["DatadogIntegrationUser"]["Properties"]
    # No console (no LoginProfile), no groups, no policies of its own but SecurityAudit (with
    # resource collection on): only the permissions step's, inside its boundary.
    assert set(user) == {"UserName", "Path", "PermissionsBoundary", "ManagedPolicyArns"} and user["Path"] == "/registrar/"
    assert user["PermissionsBoundary"] == {"Ref": "DatadogPermissionsBoundary"}
    assert user["ManagedPolicyArns"] == [f"arn:{partition}:iam::aws:policy/SecurityAudit"]
    key = resources["DatadogAccessKey"]["Properties"]
    assert key == {"UserName": {"Ref": "DatadogIntegrationUser"}, "Serial": "1", "Status": "Active"}
    secret = resources["DatadogAccessKeySecret"]["Properties"]
    assert json.loads(secret["SecretString"]) == {"access_key_id": "${DatadogAccessKey}",
                                                  "secret_access_key": "${DatadogAccessKey.SecretAccessKey}"}
    props = resources["VendorRegistration"]["Properties"]
    assert props["AuthType"] == "access-keys" and "RoleName" not in props
    assert props["AccessKeySecretArn"] == {"Ref": "DatadogAccessKeySecret"}
    assert props["AccessKeyId"] == {"Ref": "DatadogAccessKey"}, "a rotation changes it: an Update"
    step = resources["DatadogRolePermissions"]["Properties"]
    assert step["UserName"] == {"Ref": "DatadogIntegrationUser"} and "RoleName" not in step
    # The secret key goes nowhere but the member account's secret: no property, no output.
    for name, resource in resources.items():
        if name != "DatadogAccessKeySecret":
            assert "SecretAccessKey" not in json.dumps(resource), name
    outputs = stack.outputs()
    assert "SecretAccessKey" not in json.dumps(outputs)
    assert set(outputs) == {"FunctionLogGroupName", "RegistrationId", "DatadogPermissionsSource", "AuthType",
                            "IntegrationUserArn"}, "no role, so no trusted principal"


def test_a_key_rotation_is_a_new_key_registered_before_the_old_one_goes(template):
    before = access_key_stack(template).resources()
    after = access_key_stack(template, DatadogAccessKeySerial="2").resources()
    assert before["DatadogAccessKey"]["Properties"]["Serial"] == "1"
    assert after["DatadogAccessKey"]["Properties"]["Serial"] == "2"
    # The registration reads the secret, which is built from the key: both are updated first.
    assert created_after(template, "VendorRegistration", "DatadogAccessKeySecret")
    assert created_after(template, "DatadogAccessKeySecret", "DatadogAccessKey")
    assert template["Parameters"]["DatadogAccessKeySerial"]["Type"] == "Number"


def test_the_function_may_read_exactly_the_key_secret_and_write_only_the_users_policies(template):
    grants = {g["Sid"]: g for g in function_grants(access_key_stack(template))}
    assert set(grants) == {"WriteOwnLogs", "ReadVendorSecret", "ReadDatadogAccessKey"} | DATADOG_STEP_SIDS | DENY_SIDS
    assert grants["ReadDatadogAccessKey"]["Action"] == "secretsmanager:GetSecretValue"
    assert grants["ReadDatadogAccessKey"]["Resource"] == {"Ref": "DatadogAccessKeySecret"}
    user_arn = f"arn:aws-cn:iam::{ACCOUNT_ID}:user/registrar/DatadogIntegrationUser"
    policies = [f"arn:aws-cn:iam::{ACCOUNT_ID}:policy/registrar/registrar-DatadogIntegrationUser-datadog-{kind}-*"
                for kind in ("standard", "resource-collection")]
    # A user's inline policies may total only 2,048 characters: the step writes none (it deletes
    # an earlier release's), every list is a managed policy.
    assert set(as_list(grants["WriteDatadogInlinePolicy"]["Action"])) == {"iam:DeleteUserPolicy"}
    assert grants["WriteDatadogInlinePolicy"]["Resource"] == user_arn
    assert set(grants["AttachDatadogPolicies"]["Action"]) == {"iam:AttachUserPolicy", "iam:DetachUserPolicy"}
    assert grants["AttachDatadogPolicies"]["Resource"] == user_arn
    assert grants["AttachDatadogPolicies"]["Condition"] == {"ArnLike": {"iam:PolicyARN": policies}}
    assert grants["ManageDatadogPolicies"]["Resource"] == policies
    assert not [g for g in grants.values() if g["Effect"] == "Allow" and "Role" in json.dumps(g["Action"])], "no role to write on"


def test_no_access_key_identity_may_read_data_or_secrets(template):
    stack = access_key_stack(template)
    assert set(vendor_identities(stack)) == {"DatadogIntegrationUser"}, "the test must see the user Datadog signs in as"
    grants, managed = identity_grants(stack, "DatadogIntegrationUser")
    assert data_reads(grants) == [] and managed == ["arn:aws-cn:iam::aws:policy/SecurityAudit"]
    assert set(stack.resources()) - set(RESOURCES_OF["datadog"]) == {"DatadogIntegrationUser", "DatadogAccessKey",
                                                                     "DatadogAccessKeySecret"}
