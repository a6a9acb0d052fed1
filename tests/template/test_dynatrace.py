"""templates/dynatrace.yaml: the two-phase registration (DynatraceRegistration, then
DynatraceMonitoringRole, then DynatraceRoleBinding), the principal chosen from EnvironmentUrl,
and the read-only role. The EnvironmentUrl samples in dynatrace_environment_urls.json are also
read by `cargo test --test template`, which compares them with the Rust code."""

import json
import re
from pathlib import Path

import pytest

from cfn import MEMBER, PARTITIONS, Stack, as_list, created_after, load, statements
from identities import check_no_data_reads

DYNATRACE_URLS = json.loads((Path(__file__).with_name("dynatrace_environment_urls.json")).read_text())
PRODUCTION_URL = "https://abc12345.apps.dynatrace.com"
NON_PRODUCTION_URL = "https://abc12345.sprint.apps.dynatracelabs.com"
DYNATRACE_PRINCIPALS = {"Production": "314146291599", "NonProduction": "476114158034"}
MONITORING_CONFIG_ID = "vu9U3hXa3q0AAAABACVleHQ6Y29tLmR5bmF0cmFjZS5leHRlbnNpb24uZGEtYXdz"
VIEW_ONLY_ACCESS = "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"
READ_ONLY_ACTION = re.compile(r"^[a-z0-9-]+:(Describe|Get|List|BatchGet|Lookup|View|Select|Filter|Test|GET)")
DYNATRACE_ACTIONS = {"cloudwatch:GetMetricData", "cloudwatch:ListMetrics", "tag:GetResources", "tag:GetTagKeys",
                     "tag:GetTagValues"}
DYNATRACE_PRINCIPAL_CHOICE = {
    "Fn::If": [
        "DynatraceProductionEnvironment",
        {"Fn::FindInMap": ["DynatracePrincipalAccount", "Production", "AccountId"]},
        {"Fn::FindInMap": ["DynatracePrincipalAccount", "NonProduction", "AccountId"]},
    ]
}


@pytest.fixture(scope="module")
def template():
    return load(MEMBER["dynatrace"])


def dynatrace_stack(template, **overrides):
    return Stack(template, **{"EnvironmentUrl": PRODUCTION_URL, **overrides})


@pytest.mark.parametrize(
    "parameter, value, accepted",
    [
        ("EnvironmentUrl", "", False),
        ("MonitoringConfigId", "", True),
        ("MonitoringConfigId", MONITORING_CONFIG_ID, True),
        ("MonitoringConfigId", "a-b_c=d+e/f.g", True),
        ("MonitoringConfigId", "x" * 500, True),
        # The function refuses these (src/integrations/dynatrace/): ':' separates the binding's id parts.
        ("MonitoringConfigId", "a:b", False),
        ("MonitoringConfigId", "has space", False),
        ("MonitoringConfigId", "-", False),
        ("MonitoringConfigId", "x" * 501, False),
    ]
    + [("EnvironmentUrl", sample["url"], True) for sample in DYNATRACE_URLS["accepted"]]
    + [("EnvironmentUrl", sample["url"], False) for sample in DYNATRACE_URLS["rejected"]],
)
def test_parameter_patterns(template, parameter, value, accepted):
    pattern = template["Parameters"][parameter]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) == accepted
    assert template["Parameters"][parameter]["ConstraintDescription"]


def test_dynatrace_parameters(template):
    params = template["Parameters"]
    assert "Default" not in params["EnvironmentUrl"], "a Dynatrace stack needs its environment"
    assert params["MonitoringConfigId"]["Default"] == ""


def test_registration_and_binding_pass_dynatraces_settings(template):
    resources = template["Resources"]
    registration = resources["DynatraceRegistration"]
    binding = resources["DynatraceRoleBinding"]
    assert registration["Type"] == "Custom::VendorRegistration"
    assert binding["Type"] == "Custom::VendorRoleBinding"
    for resource in (registration, binding):
        assert resource["Properties"]["EnvironmentUrl"] == {"Ref": "EnvironmentUrl"}
    # The registration is the default phase; the binding names it by its RegistrationId.
    assert not {"Phase", "RegistrationId", "MonitoringConfigId"} & set(registration["Properties"])
    props = binding["Properties"]
    assert props["Phase"] == "role-binding"
    assert props["RegistrationId"] == {"Fn::GetAtt": ["DynatraceRegistration", "RegistrationId"]}
    assert props["MonitoringConfigId"] == {"Fn::If": ["JoinsMonitoringConfig", {"Ref": "MonitoringConfigId"}, {"Ref": "AWS::NoValue"}]}
    # Everything else the binding passes is what the registration passes.
    shared = set(registration["Properties"])
    assert set(props) - shared == {"Phase", "RegistrationId", "MonitoringConfigId"}
    assert {k: props[k] for k in shared} == registration["Properties"]


@pytest.mark.parametrize(
    "parameters, monitoring_config",
    [({}, None), ({"MonitoringConfigId": MONITORING_CONFIG_ID}, MONITORING_CONFIG_ID)],
    ids=["no-monitoring-configuration", "joins-a-monitoring-configuration"],
)
def test_binding_joins_the_monitoring_configuration_only_when_given(template, parameters, monitoring_config):
    stack = dynatrace_stack(template, **parameters)
    assert stack.rule_failures() == []
    props = stack.resources()["DynatraceRoleBinding"]["Properties"]
    assert props.get("MonitoringConfigId") == monitoring_config
    assert props["EnvironmentUrl"] == PRODUCTION_URL and props["Vendor"] == "dynatrace"


def test_registration_then_role_then_binding(template):
    """Create: registration (answers ExternalId) -> role (trusts it) -> binding (Dynatrace assumes
    the role). CloudFormation deletes in reverse: binding, role, registration."""
    binding = template["Resources"]["DynatraceRoleBinding"]
    # Explicit: Dynatrace checks the role by assuming it, so the role must exist first, and the
    # binding must leave the monitoring configuration before the role goes.
    assert "DynatraceMonitoringRole" in as_list(binding["DependsOn"])
    for earlier, later in [
        ("DynatraceRegistration", "DynatraceMonitoringRole"),
        ("DynatraceMonitoringRole", "DynatraceRoleBinding"),
        ("DynatraceRegistration", "DynatraceRoleBinding"),
    ]:
        assert created_after(template, later, earlier)
        assert not created_after(template, earlier, later), f"{earlier} must not wait for {later}: a cycle"


@pytest.mark.parametrize("iam_role_name", ["", "acme-dynatrace"])
def test_binding_names_the_role_the_template_creates(template, iam_role_name):
    # The function binds arn:<partition>:iam::<account>:role/<RoleName>: the role must sit at
    # the root path with exactly that name.
    resources = dynatrace_stack(template, IAMRoleName=iam_role_name).resources()
    role = resources["DynatraceMonitoringRole"]["Properties"]
    assert role["Path"] == "/"
    assert resources["DynatraceRoleBinding"]["Properties"]["RoleName"] == role["RoleName"]
    assert role["RoleName"] == (iam_role_name or "DynatraceMonitoringRole")


@pytest.mark.parametrize("partition", PARTITIONS)
def test_rules_reject_the_partitions_dynatrace_does_not_serve(template, partition):
    failures = dynatrace_stack(template, partition=partition).rule_failures()
    if partition == "aws":
        assert failures == []
    else:
        (message,) = failures
        assert partition in message and "Dynatrace" in message


# --------------------------------------------------------------------------- the role


def test_role_trusts_the_mapped_principal_with_the_registrations_external_id(template):
    assert template["Mappings"]["DynatracePrincipalAccount"] == {
        row: {"AccountId": account} for row, account in DYNATRACE_PRINCIPALS.items()
    }
    role = template["Resources"]["DynatraceMonitoringRole"]
    (trust,) = statements(role["Properties"]["AssumeRolePolicyDocument"])
    assert trust["Effect"] == "Allow" and trust["Action"] == "sts:AssumeRole"
    assert trust["Principal"]["AWS"] == {
        "Fn::Sub": ["arn:${AWS::Partition}:iam::${PrincipalAccountId}:root", {"PrincipalAccountId": DYNATRACE_PRINCIPAL_CHOICE}]
    }
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": {"Fn::GetAtt": ["DynatraceRegistration", "ExternalId"]}}}


@pytest.mark.parametrize("sample", DYNATRACE_URLS["accepted"], ids=lambda sample: sample["url"])
def test_principal_follows_the_environment_url(template, sample):
    # The same samples and principals as `cargo test --test template`, which compares them with
    # principal_account_id() in src/integrations/dynatrace/.
    stack = dynatrace_stack(template, EnvironmentUrl=sample["url"])
    assert stack.rule_failures() == []
    (trust,) = statements(stack.resources()["DynatraceMonitoringRole"]["Properties"]["AssumeRolePolicyDocument"])
    assert trust["Principal"] == {"AWS": f"arn:aws:iam::{sample['principal']}:root"}
    assert stack.outputs()["DynatraceTrustedPrincipalAccountId"] == sample["principal"]
    assert dynatrace_stack(template, EnvironmentUrl=NON_PRODUCTION_URL).condition("DynatraceProductionEnvironment") is False


def test_role_is_read_only_and_metadata_only(template):
    role = dynatrace_stack(template).resources()["DynatraceMonitoringRole"]["Properties"]
    assert role["ManagedPolicyArns"] == [VIEW_ONLY_ACCESS]
    (policy,) = role["Policies"]
    by_sid = {s["Sid"]: s for s in statements(policy["PolicyDocument"])}
    assert set(by_sid) == {"DynatraceMetricPolling", "DynatraceTagDiscovery"}
    actions = [a for s in by_sid.values() for a in as_list(s["Action"])]
    assert set(actions) == DYNATRACE_ACTIONS and len(actions) == len(set(actions))
    assert [a for a in actions if not READ_ONLY_ACTION.match(a)] == []
    assert not [a for a in actions if "*" in a], "no wildcards"
    for statement in by_sid.values():
        assert statement["Effect"] == "Allow" and statement["Resource"] == "*"
        assert "NotAction" not in statement and "Condition" not in statement
    # The policy follows the partition.
    assert template["Resources"]["DynatraceMonitoringRole"]["Properties"]["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/job-function/ViewOnlyAccess"}]
    check_no_data_reads(dynatrace_stack(template), {"DynatraceMonitoringRole"})


def test_outputs(template):
    outputs = template["Outputs"]
    assert outputs["DynatraceVendorPrincipalAccountId"]["Value"] == {"Fn::GetAtt": ["DynatraceRegistration", "PrincipalAccountId"]}
    assert outputs["DynatraceTrustedPrincipalAccountId"]["Value"] == DYNATRACE_PRINCIPAL_CHOICE
    assert outputs["DynatraceMonitoringRoleArn"]["Value"] == {"Fn::GetAtt": ["DynatraceMonitoringRole", "Arn"]}
    assert outputs["DynatraceBoundRoleArn"]["Value"] == {"Fn::GetAtt": ["DynatraceRoleBinding", "RoleArn"]}
    # Dynatrace's registration id is the connection's objectId, which is the external ID.
    assert ["DynatraceRegistration", "RegistrationId"] not in [o["Value"].get("Fn::GetAtt") for o in outputs.values() if isinstance(o["Value"], dict)]
    assert set(dynatrace_stack(template).outputs()) == {"FunctionLogGroupName", "DynatraceMonitoringRoleArn", "DynatraceBoundRoleArn",
                                                        "DynatraceTrustedPrincipalAccountId", "DynatraceVendorPrincipalAccountId"}
