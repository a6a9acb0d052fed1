"""Checks of template.yaml that cfn-lint cannot make.

The template is parsed with cfn-lint's own decoder (it understands the short tags: !Ref,
!GetAtt, !Sub, ...). Conditions, Rules, Fn::If, Fn::FindInMap and Fn::Sub are evaluated by a
small interpreter below, so the assertions are about what CloudFormation would actually create
for given parameters, not about how the YAML happens to be written.

The vendor principal tables are compared with the Rust code by `cargo test --test template`;
here they are compared with the Rules (every Datadog "no principal" cell, and every partition
Dynatrace does not serve, must be rejected at deploy time, everything else accepted) and with the
EnvironmentUrl samples in dynatrace_environment_urls.json, which the Rust test reads too.

Both vendors are checked: Datadog (one custom resource, VendorRegistration, then its role) and
Dynatrace (DynatraceRegistration, then DynatraceMonitoringRole, then DynatraceRoleBinding).
"""

import fnmatch
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

NO_PRINCIPAL = "none"
PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
REGION_OF = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}
URL_SUFFIX_OF = {"aws": "amazonaws.com", "aws-cn": "amazonaws.com.cn", "aws-us-gov": "amazonaws.com"}
DATADOG_SITES = {
    "datadoghq.com",
    "datadoghq.eu",
    "us3.datadoghq.com",
    "us5.datadoghq.com",
    "ddog-gov.com",
    "us2.ddog-gov.com",
    "ap1.datadoghq.com",
    "ap2.datadoghq.com",
    "uk1.datadoghq.com",
}
# The custom resource's contract (the README's "Resource properties", with Phase/RegistrationId
# of the role-binding and role-permissions steps, and Dynatrace's EnvironmentUrl/MonitoringConfigId
# from src/integrations/dynatrace/): nothing else may be passed.
CONTRACT_PROPERTIES = {
    "Phase",
    "RegistrationId",
    "EnvironmentUrl",
    "MonitoringConfigId",
    "ServiceToken",
    "ServiceTimeout",
    "Vendor",
    "SecretArn",
    "SecretRoleArn",
    "RoleName",
    "AccountId",
    "Partition",
    "OnConflict",
    "OnDeleteError",
    "Site",
    "AccountTags",
    "DisableMetricCollection",
    "DisableResourceCollection",
    "CloudSecurityPostureManagement",
    # Datadog's collection settings and access keys (src/integrations/datadog/).
    "Regions",
    "IncludeNamespaces",
    "ExcludeNamespaces",
    "MetricTagFilters",
    "AutomuteEnabled",
    "CollectCustomMetrics",
    "CollectCloudWatchAlarms",
    "LogForwarderArns",
    "LogSources",
    "XRayServices",
    "AuthType",
    "AccessKeySecretArn",
    "AccessKeyId",
    # The permissions step for the access-key user (src/permissions/).
    "UserName",
}
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:registrar/datadog-AbCdEf"
KMS_KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
HUB_ROLE_ARN = "arn:aws:iam::111122223333:role/registrar-secret-reader"
ACCOUNT_ID = "444455556666"
LAMBDA_MAX_TIMEOUT = 900
READ_ONLY_ACTION = re.compile(r"^[a-z0-9-]+:(Describe|Get|List|BatchGet|Lookup|View|Select|Filter|Test|GET)")
# Actions that read data or secrets; no identity a vendor uses may be allowed one, by name or by
# a wildcard covering it. The same list is DATA_READING_ACTIONS in src/permissions/deny.rs.
DATA_READING_ACTIONS = json.loads((Path(__file__).with_name("data_reading_actions.json")).read_text())["actions"]
# AWS managed policies a vendor identity may carry: metadata only (each one reviewed).
METADATA_ONLY_MANAGED_POLICIES = {"ViewOnlyAccess"}

# Dynatrace.
DYNATRACE_URLS = json.loads((Path(__file__).with_name("dynatrace_environment_urls.json")).read_text())
PRODUCTION_URL = "https://abc12345.apps.dynatrace.com"
NON_PRODUCTION_URL = "https://abc12345.sprint.apps.dynatracelabs.com"
DYNATRACE_PRINCIPALS = {"Production": "314146291599", "NonProduction": "476114158034"}
DYNATRACE = {"Vendor": "dynatrace", "EnvironmentUrl": PRODUCTION_URL}
MONITORING_CONFIG_ID = "vu9U3hXa3q0AAAABACVleHQ6Y29tLmR5bmF0cmFjZS5leHRlbnNpb24uZGEtYXdz"
# The AWS managed policy the Dynatrace role gets: view resources and basic metadata, no data.
VIEW_ONLY_ACCESS = "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"
DYNATRACE_ACTIONS = {
    "cloudwatch:GetMetricData",
    "cloudwatch:ListMetrics",
    "tag:GetResources",
    "tag:GetTagKeys",
    "tag:GetTagValues",
}

# The custom resources, by vendor: logical id -> the vendor IAM role it belongs with.
CUSTOM_RESOURCES = {
    "VendorRegistration": "DatadogIntegrationRole",
    "DynatraceRegistration": "DynatraceMonitoringRole",
    "DynatraceRoleBinding": "DynatraceMonitoringRole",
}
VENDOR_OF = {"VendorRegistration": "datadog", "DynatraceRegistration": "dynatrace", "DynatraceRoleBinding": "dynatrace"}
FUNCTION_RESOURCES = {"FunctionLogGroup", "FunctionRole", "Function", "FunctionEventInvokeConfig"}
# Custom resources that are steps after the role, not registrations (no secret, no OnConflict).
STEP_RESOURCES = {"DatadogRolePermissions": "DatadogIntegrationRole"}
RESOURCES_OF = {
    "datadog": FUNCTION_RESOURCES | {"VendorRegistration", "DatadogIntegrationRole", "DatadogRolePermissions"},
    "dynatrace": FUNCTION_RESOURCES | {"DynatraceRegistration", "DynatraceMonitoringRole", "DynatraceRoleBinding"},
}
DEFAULT_ROLE_NAME = {"datadog": "DatadogIntegrationRole", "dynatrace": "DynatraceMonitoringRole"}


# --------------------------------------------------------------------------- the interpreter

NO_VALUE = object()


def load(path=TEMPLATE):
    template, matches = decode(str(path))
    assert not matches, f"{path.name} does not parse: {matches}"
    return template


class Stack:
    """One deployment of the template: parameter values plus pseudo parameters."""

    def __init__(self, template, partition="aws", region=None, stack_name="StackSet-registrar-0b5e4b10", **overrides):
        self.template = template
        self.values = {}
        for name, spec in template["Parameters"].items():
            if name in overrides:
                self.values[name] = str(overrides.pop(name))
            elif "Default" in spec:
                self.values[name] = str(spec["Default"])
        assert not overrides, f"unknown parameters {sorted(overrides)}"
        self.values.setdefault("SecretArn", SECRET_ARN)
        self.values.update(
            {
                "AWS::Partition": partition,
                "AWS::Region": region or REGION_OF[partition],
                "AWS::AccountId": ACCOUNT_ID,
                "AWS::URLSuffix": URL_SUFFIX_OF[partition],
                "AWS::StackName": stack_name,
            }
        )

    # Conditions and rule functions -----------------------------------------------------
    def truth(self, node):
        (fn, arg), = node.items()
        if fn == "Fn::Equals":
            left, right = (self.scalar(a) for a in arg)
            return left == right
        if fn == "Fn::Not":
            return not self.truth(arg[0])
        if fn == "Fn::And":
            return all(self.truth(a) for a in arg)
        if fn == "Fn::Or":
            return any(self.truth(a) for a in arg)
        if fn == "Fn::Contains":
            return self.scalar(arg[1]) in [self.scalar(a) for a in arg[0]]
        if fn == "Fn::EachMemberEquals":
            return all(member == self.scalar(arg[1]) for member in self.resolve(arg[0]))
        if fn == "Condition":
            return self.condition(arg)
        raise AssertionError(f"the test's interpreter does not know {fn}; teach it")

    def condition(self, name):
        return self.truth(self.template["Conditions"][name])

    def scalar(self, node):
        value = self.resolve(node)
        assert isinstance(value, str), f"expected a string, got {value!r}"
        return value

    def rule_failures(self):
        """The AssertDescription of every rule assertion this stack violates."""
        failures = []
        for rule in self.template.get("Rules", {}).values():
            if "RuleCondition" in rule and not self.truth(rule["RuleCondition"]):
                continue
            for assertion in rule["Assertions"]:
                if not self.truth(assertion["Assert"]):
                    failures.append(assertion["AssertDescription"])
        return failures

    # Values -----------------------------------------------------------------------------
    def resolve(self, node):
        """Evaluate the intrinsics the checks need; leave GetAtt and resource Refs symbolic."""
        if isinstance(node, dict):
            if len(node) == 1:
                (fn, arg), = node.items()
                if fn == "Ref":
                    if arg == "AWS::NoValue":
                        return NO_VALUE
                    if arg in self.values:
                        if self.template["Parameters"].get(arg, {}).get("Type") == "CommaDelimitedList":
                            return self.values[arg].split(",")  # "" is [""], as CloudFormation has it
                        return self.values[arg]
                    return {"Ref": str(arg)}
                if fn == "Fn::If":
                    name, yes, no = arg
                    return self.resolve(yes if self.condition(name) else no)
                if fn == "Fn::FindInMap":
                    mapping, first, second = (self.scalar(a) for a in arg)
                    return str(self.template["Mappings"][mapping][first][second])
                if fn == "Fn::Sub":
                    text, variables = (arg, {}) if isinstance(arg, str) else arg
                    local = {k: self.scalar(v) for k, v in variables.items()}

                    def substitute(match):
                        name = match.group(1)
                        if name in local:
                            return local[name]
                        if name.split(".")[0] in self.template["Resources"]:
                            return "${" + name + "}"  # a resource's Ref or attribute: left symbolic
                        assert name in self.values, f"Fn::Sub: unknown variable {name}"
                        return self.values[name]

                    return re.sub(r"\$\{([^}!]+)\}", substitute, str(text))
                if fn == "Fn::Select":
                    index, items = arg
                    return self.resolve(items)[int(index)]
                if fn == "Fn::Split":
                    separator, text = arg
                    return self.scalar(text).split(separator)
                if fn == "Fn::Join":
                    separator, items = arg
                    return separator.join(self.scalar(item) for item in self.resolve(items))
            out = {}
            for key, value in node.items():
                value = self.resolve(value)
                if value is not NO_VALUE:
                    out[str(key)] = value
            return out
        if isinstance(node, list):
            return [v for v in (self.resolve(item) for item in node) if v is not NO_VALUE]
        if isinstance(node, str):
            return str(node)
        return node

    def resources(self):
        """The resources this stack creates, properties resolved."""
        out = {}
        for name, resource in self.template["Resources"].items():
            if "Condition" in resource and not self.condition(resource["Condition"]):
                continue
            out[name] = self.resolve(resource)
        return out

    def outputs(self):
        """The outputs this stack has, values resolved."""
        return {
            name: self.resolve(output["Value"])
            for name, output in self.template["Outputs"].items()
            if "Condition" not in output or self.condition(output["Condition"])
        }


def as_list(value):
    return value if isinstance(value, list) else [value]


def statements(policy_document):
    return [dict(s) for s in policy_document["Statement"]]


def references(node):
    """The logical names a node refers to (Ref, Fn::GetAtt, and ${Name} / ${Name.Attr} in Fn::Sub)."""
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add((value.split(".")[0] if isinstance(value, str) else value[0]))
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found.update(name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", str(text)))
                found |= references(value)
            else:
                found |= references(value)
    elif isinstance(node, list):
        for item in node:
            found |= references(item)
    return found


def dependencies(template, name):
    """What resource `name` waits for on create (and outlives on delete): DependsOn plus references."""
    resources = template["Resources"]
    resource = resources[name]
    named = set(as_list(resource.get("DependsOn", []))) | references(resource.get("Properties", {}))
    return {n for n in named if n in resources}


def created_after(template, later, earlier):
    """Whether `later` transitively depends on `earlier` (so it is created after, deleted before)."""
    seen, todo = set(), [later]
    while todo:
        for dependency in dependencies(template, todo.pop()):
            if dependency == earlier:
                return True
            if dependency not in seen:
                seen.add(dependency)
                todo.append(dependency)
    return False


@pytest.fixture(scope="module")
def template():
    return load()


@pytest.fixture(scope="module")
def function(template):
    return template["Resources"]["Function"]


@pytest.fixture(scope="module")
def registration(template):
    return template["Resources"]["VendorRegistration"]


def dynatrace_stack(template, **overrides):
    return Stack(template, **{**DYNATRACE, **overrides})


# --------------------------------------------------------------------------- cfn-lint, shape


def test_cfn_lint_reports_nothing():
    # Exactly `cfn-lint template.yaml`, run from the repository root, with this interpreter's cfn-lint.
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())", "template.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_plain_cloudformation_without_transform(template):
    # Service-managed StackSets reject any Transform (SAM included) and macros.
    assert "Transform" not in template
    text = TEMPLATE.read_text()
    assert "Transform" not in re.sub(r"#.*", "", text)
    for name, resource in template["Resources"].items():
        assert not resource["Type"].startswith("AWS::Serverless::"), name
        assert resource["Type"] != "AWS::CloudFormation::Macro", name
    assert "Fn::Transform" not in json.dumps(template)


def test_template_fits_a_stackset_template_body():
    # create-stack-set --template-body takes at most 51,200 bytes; `sam package` only rewrites
    # Function.Code (a few hundred bytes more). Past this, the docs' commands need --template-url.
    assert len(TEMPLATE.read_bytes()) < 48_000


def test_function_is_built_by_sam_for_arm64(function):
    props = function["Properties"]
    assert function["Metadata"]["BuildMethod"] == "rust-cargolambda"
    assert function["Metadata"]["BuildProperties"]["Binary"] == "bootstrap"
    assert props["Runtime"] == "provided.al2023"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "bootstrap"
    # A local path (the crate root) that `sam build` / `sam package` replace with the artefact.
    assert props["Code"] == "."
    assert (ROOT / props["Code"] / "Cargo.toml").is_file()
    assert props["MemorySize"] == 128
    assert props["Timeout"] == 300


def test_function_logs_json_to_its_own_log_group_with_retention(template, function):
    logging = function["Properties"]["LoggingConfig"]
    assert logging["LogFormat"] == "JSON"
    assert logging["LogGroup"] == {"Ref": "FunctionLogGroup"}
    group = template["Resources"]["FunctionLogGroup"]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert "RetentionInDays" in group["Properties"]
    # The runtime logs the raw event (with the pre-signed ResponseURL) at TRACE: never offer it.
    level = template["Parameters"]["LogLevel"]
    assert logging["ApplicationLogLevel"] == {"Ref": "LogLevel"}
    assert "TRACE" not in level["AllowedValues"] and level["Default"] == "INFO"


def test_no_endpoint_override_or_key_material_in_the_template(template, function):
    environment = function["Properties"].get("Environment", {}).get("Variables", {})
    assert not [name for name in environment if name.startswith("REGISTRAR_")]
    text = TEMPLATE.read_text()
    assert "REGISTRAR_VENDOR_ENDPOINT" not in text
    for name in template["Parameters"]:
        assert not re.search(r"api.?key|app.?key|token|password", name, re.I), name


# --------------------------------------------------------------------------- the custom resource


ROLE_NAME = {
    "Fn::If": [
        "UsesDefaultRoleName",
        {"Fn::FindInMap": ["DefaultRoleName", {"Ref": "Vendor"}, "Name"]},
        {"Ref": "IAMRoleName"},
    ]
}


@pytest.mark.parametrize("name", sorted(CUSTOM_RESOURCES))
def test_custom_resources_pass_exactly_the_contract(template, name):
    resource = template["Resources"][name]
    props = resource["Properties"]
    assert set(props) <= CONTRACT_PROPERTIES, set(props) - CONTRACT_PROPERTIES
    assert props["ServiceToken"] == {"Fn::GetAtt": ["Function", "Arn"]}
    for prop, parameter in {
        "Vendor": "Vendor",
        "SecretArn": "SecretArn",
        "OnConflict": "OnConflict",
        "OnDeleteError": "OnDeleteError",
    }.items():
        assert props[prop] == {"Ref": parameter}, (name, prop)
    # The role the vendor is told about is the role the template creates (same expression);
    # Datadog's access-key registrations name none.
    role_name = props["RoleName"]
    if name == "VendorRegistration":
        assert role_name["Fn::If"][0] == "DatadogUsesRole" and role_name["Fn::If"][2] == {"Ref": "AWS::NoValue"}
        role_name = role_name["Fn::If"][1]
    assert role_name == ROLE_NAME == template["Resources"][CUSTOM_RESOURCES[name]]["Properties"]["RoleName"]
    assert resource["Condition"] == {"datadog": "IsDatadog", "dynatrace": "IsDynatrace"}[VENDOR_OF[name]]


def test_datadog_registration_passes_datadogs_settings(registration):
    assert registration["Type"] == "Custom::VendorRegistration"
    props = registration["Properties"]
    expected_refs = {
        "Site": "DatadogSite",
        "DisableMetricCollection": "DisableMetricCollection",
        "DisableResourceCollection": "DisableResourceCollection",
        "CloudSecurityPostureManagement": "CloudSecurityPostureManagement",
    }
    for prop, parameter in expected_refs.items():
        assert props[prop] == {"Ref": parameter}, prop
    assert props["AccountTags"] == [{"Fn::Sub": "aws_account:${AWS::AccountId}"}]
    assert not {"EnvironmentUrl", "MonitoringConfigId", "Phase", "RegistrationId"} & set(props)


def test_dynatrace_registration_and_binding_pass_dynatraces_settings(template):
    resources = template["Resources"]
    registration = resources["DynatraceRegistration"]
    binding = resources["DynatraceRoleBinding"]
    datadog_only = {"Site", "AccountTags", "DisableMetricCollection", "DisableResourceCollection", "CloudSecurityPostureManagement"}
    assert registration["Type"] == "Custom::VendorRegistration"
    assert binding["Type"] == "Custom::VendorRoleBinding"
    for resource in (registration, binding):
        assert resource["Properties"]["EnvironmentUrl"] == {"Ref": "EnvironmentUrl"}
        assert not datadog_only & set(resource["Properties"])
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
def test_dynatrace_binding_joins_the_monitoring_configuration_only_when_given(template, parameters, monitoring_config):
    stack = dynatrace_stack(template, **parameters)
    assert stack.rule_failures() == []
    props = stack.resources()["DynatraceRoleBinding"]["Properties"]
    assert props.get("MonitoringConfigId") == monitoring_config
    assert props["EnvironmentUrl"] == PRODUCTION_URL and props["Vendor"] == "dynatrace"


@pytest.mark.parametrize("vendor", sorted(RESOURCES_OF))
def test_each_vendor_creates_exactly_its_resources(template, vendor):
    stack = Stack(template, Vendor=vendor, EnvironmentUrl=PRODUCTION_URL if vendor == "dynatrace" else "")
    assert stack.rule_failures() == []
    resources = stack.resources()
    assert set(resources) == RESOURCES_OF[vendor]
    # No output of a stack refers to a resource that stack does not create.
    for name, output in template["Outputs"].items():
        if "Condition" in output and not stack.condition(output["Condition"]):
            continue
        missing = references(output["Value"]) - set(resources) - set(template["Parameters"])
        assert not {m for m in missing if not m.startswith("AWS::")}, name


@pytest.mark.parametrize(
    "parameters, role_name",
    [
        ({}, "DatadogIntegrationRole"),
        ({"IAMRoleName": "DatadogIntegrationRole"}, "DatadogIntegrationRole"),
        ({"IAMRoleName": "acme-datadog"}, "acme-datadog"),
        (DYNATRACE, "DynatraceMonitoringRole"),
        ({**DYNATRACE, "IAMRoleName": "acme-dynatrace"}, "acme-dynatrace"),
    ],
)
def test_role_name_defaults_to_the_vendors_name(template, parameters, role_name):
    stack = Stack(template, **parameters)
    assert stack.rule_failures() == []
    resources = stack.resources()
    vendor = parameters.get("Vendor", "datadog")
    names = {
        name: resources[name]["Properties"]["RoleName"]
        for name in resources
        if name in CUSTOM_RESOURCES or name in CUSTOM_RESOURCES.values()
    }
    assert len(names) == (2 if vendor == "datadog" else 3)
    assert set(names.values()) == {role_name}, names


@pytest.mark.parametrize("vendor_parameters", [{}, DYNATRACE], ids=["datadog", "dynatrace"])
def test_secret_role_is_omitted_when_empty(template, vendor_parameters):
    for name, resource in Stack(template, **vendor_parameters).resources().items():
        if name in CUSTOM_RESOURCES:
            assert "SecretRoleArn" not in resource["Properties"], name
    with_role = Stack(template, SecretRoleArn=HUB_ROLE_ARN, **vendor_parameters).resources()
    custom = [name for name in with_role if name in CUSTOM_RESOURCES]
    assert custom
    for name in custom:
        assert with_role[name]["Properties"]["SecretRoleArn"] == HUB_ROLE_ARN, name


@pytest.mark.parametrize("name", sorted(CUSTOM_RESOURCES | STEP_RESOURCES))
def test_service_timeout_is_just_above_the_function_timeout(template, function, name):
    service_timeout = template["Resources"][name]["Properties"]["ServiceTimeout"]
    # CloudFormation types ServiceTimeout as a String.
    assert isinstance(service_timeout, str) and service_timeout.isdigit()
    service_timeout = int(service_timeout)
    timeout = function["Properties"]["Timeout"]
    max_event_age = template["Resources"]["FunctionEventInvokeConfig"]["Properties"]["MaximumEventAgeInSeconds"]
    assert service_timeout > timeout
    assert service_timeout <= LAMBDA_MAX_TIMEOUT, "never anywhere near the one-hour default"
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


@pytest.mark.parametrize("name", sorted(CUSTOM_RESOURCES | STEP_RESOURCES))
def test_custom_resources_depend_on_everything_their_delete_needs(template, name):
    resources = template["Resources"]
    function = resources["Function"]
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    # The role carries the function's policy inline; separate policies attached to it count too.
    needed = {role}
    for other, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::RolePolicy", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            attached = as_list(props.get("RoleName", [])) + as_list(props.get("Roles", []))
            if {"Ref": role} in attached:
                needed.add(other)
        if resource["Type"] == "AWS::Lambda::EventInvokeConfig" and props.get("FunctionName") == {"Ref": "Function"}:
            needed.add(other)
    needed.add(function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"])
    assert {"FunctionRole", "FunctionLogGroup", "FunctionEventInvokeConfig"} <= needed
    assert needed <= set(as_list(resources[name].get("DependsOn", [])))
    assert resources[role]["Properties"]["Policies"], "the function's grants live in its role"


def test_dynatrace_runs_registration_then_role_then_binding(template):
    """Create: registration (answers ExternalId) -> role (trusts it) -> binding (Dynatrace assumes
    the role). CloudFormation deletes in reverse: binding, role, registration."""
    resources = template["Resources"]
    binding = resources["DynatraceRoleBinding"]
    # Explicit: Dynatrace checks the role by assuming it, so the role must exist first, and the
    # binding must leave the monitoring configuration before the role goes.
    assert "DynatraceMonitoringRole" in as_list(binding["DependsOn"])
    assert created_after(template, "DynatraceMonitoringRole", "DynatraceRegistration")
    assert created_after(template, "DynatraceRoleBinding", "DynatraceMonitoringRole")
    assert created_after(template, "DynatraceRoleBinding", "DynatraceRegistration")
    for earlier, later in [
        ("DynatraceMonitoringRole", "DynatraceRegistration"),
        ("DynatraceRoleBinding", "DynatraceMonitoringRole"),
        ("DynatraceRoleBinding", "DynatraceRegistration"),
    ]:
        assert not created_after(template, later, earlier), f"{later} must not wait for {earlier}: a cycle"
    # Datadog: registration, then role.
    assert created_after(template, "DatadogIntegrationRole", "VendorRegistration")
    assert not created_after(template, "VendorRegistration", "DatadogIntegrationRole")


@pytest.mark.parametrize("iam_role_name", ["", "acme-dynatrace"])
def test_dynatrace_binding_names_the_role_the_template_creates(template, iam_role_name):
    # The function binds arn:<partition>:iam::<account>:role/<RoleName>: the role must sit at
    # the root path with exactly that name.
    resources = dynatrace_stack(template, IAMRoleName=iam_role_name).resources()
    role = resources["DynatraceMonitoringRole"]["Properties"]
    assert role["Path"] == "/"
    assert resources["DynatraceRoleBinding"]["Properties"]["RoleName"] == role["RoleName"]
    assert role["RoleName"] == (iam_role_name or "DynatraceMonitoringRole")


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


DATADOG_STEP_SIDS = {"WriteDatadogInlinePolicy", "AttachDatadogPolicies", "ManageDatadogPolicies", "FindDatadogPolicies"}
DATADOG_ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/DatadogIntegrationRole"
DATADOG_POLICIES_ARN = f"arn:aws:iam::{ACCOUNT_ID}:policy/registrar/registrar-DatadogIntegrationRole-datadog-resource-collection-*"


@pytest.mark.parametrize(
    "parameters, expected_sids",
    [
        ({}, {"WriteOwnLogs", "ReadVendorSecret"}),
        ({"SecretKmsKeyArn": KMS_KEY_ARN}, {"WriteOwnLogs", "ReadVendorSecret", "DecryptVendorSecret"}),
        ({"SecretRoleArn": HUB_ROLE_ARN}, {"WriteOwnLogs", "AssumeSecretRole"}),
    ],
    ids=["same-account-secret", "secret-with-customer-key", "secret-through-role"],
)
@pytest.mark.parametrize("vendor_parameters", [{}, DYNATRACE], ids=["datadog", "dynatrace"])
def test_function_role_is_least_privilege(template, parameters, expected_sids, vendor_parameters):
    # The same for every vendor: the function reads the secret, and for Datadog it also writes
    # the policies of ours on Datadog's role (the permissions step); the vendor does the rest.
    stack = Stack(template, **{**vendor_parameters, **parameters})
    assert stack.rule_failures() == []
    grants = function_grants(stack)
    datadog = vendor_parameters != DYNATRACE
    assert {g["Sid"] for g in grants} == expected_sids | (DATADOG_STEP_SIDS if datadog else set())
    expected = {
        "WriteOwnLogs": ({"logs:CreateLogStream", "logs:PutLogEvents"}, {"Fn::GetAtt": ["FunctionLogGroup", "Arn"]}),
        "ReadVendorSecret": ({"secretsmanager:GetSecretValue"}, SECRET_ARN),
        "DecryptVendorSecret": ({"kms:Decrypt"}, KMS_KEY_ARN),
        "AssumeSecretRole": ({"sts:AssumeRole"}, HUB_ROLE_ARN),
        # Only Datadog's role, only policies under our path and prefix for that role.
        "WriteDatadogInlinePolicy": ({"iam:PutRolePolicy", "iam:DeleteRolePolicy"}, DATADOG_ROLE_ARN),
        "AttachDatadogPolicies": ({"iam:AttachRolePolicy", "iam:DetachRolePolicy"}, DATADOG_ROLE_ARN),
        "ManageDatadogPolicies": ({"iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion",
                                   "iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions"}, DATADOG_POLICIES_ARN),
        # IAM cannot scope ListPolicies; it lists names only.
        "FindDatadogPolicies": ({"iam:ListPolicies"}, "*"),
    }
    for grant in grants:
        assert grant["Effect"] == "Allow"
        assert "NotAction" not in grant and "NotResource" not in grant
        actions, resource = expected[grant["Sid"]]
        assert set(as_list(grant["Action"])) == actions, grant["Sid"]
        assert grant["Resource"] == resource, grant["Sid"]
        assert "*" not in json.dumps(grant["Action"]), grant["Sid"]
        if grant["Sid"] == "DecryptVendorSecret":
            # Only through Secrets Manager, in the secret's own region, for this very secret.
            assert grant["Condition"] == {
                "StringEquals": {
                    "kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com",
                    "kms:EncryptionContext:SecretARN": SECRET_ARN,
                }
            }
        elif grant["Sid"] == "AttachDatadogPolicies":
            # Attach and detach only our policies.
            assert grant["Condition"] == {"ArnLike": {"iam:PolicyARN": DATADOG_POLICIES_ARN}}
        else:
            assert "Condition" not in grant, grant["Sid"]


def test_function_may_write_the_policies_of_the_role_it_is_told_about(template):
    stack = Stack(template, IAMRoleName="acme-datadog")
    grants = {g["Sid"]: g for g in function_grants(stack)}
    assert grants["WriteDatadogInlinePolicy"]["Resource"] == f"arn:aws:iam::{ACCOUNT_ID}:role/acme-datadog"
    assert grants["ManageDatadogPolicies"]["Resource"].endswith("/registrar/registrar-acme-datadog-datadog-resource-collection-*")


def test_kms_condition_follows_the_partition(template):
    stack = Stack(
        template,
        partition="aws-cn",
        SecretArn="arn:aws-cn:secretsmanager:cn-northwest-1:111122223333:secret:dd-AbCdEf",
        SecretKmsKeyArn="arn:aws-cn:kms:cn-northwest-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    )
    (decrypt,) = [g for g in function_grants(stack) if g["Sid"] == "DecryptVendorSecret"]
    assert decrypt["Condition"]["StringEquals"]["kms:ViaService"] == "secretsmanager.cn-northwest-1.amazonaws.com.cn"


# --------------------------------------------------------------------------- parameters and rules


def test_datadog_parameters(template):
    params = template["Parameters"]
    assert set(params["DatadogSite"]["AllowedValues"]) == DATADOG_SITES
    assert len(params["DatadogSite"]["AllowedValues"]) == 9
    assert params["DatadogSite"]["Default"] == "datadoghq.com"
    # Empty stands for the vendor's default name; for Datadog that is still DatadogIntegrationRole,
    # IAMRoleName's default before Dynatrace, so existing Datadog stacks keep their role.
    assert params["IAMRoleName"]["Default"] == ""
    assert template["Mappings"]["DefaultRoleName"] == {k: {"Name": v} for k, v in DEFAULT_ROLE_NAME.items()}
    assert Stack(template).resources()["DatadogIntegrationRole"]["Properties"]["RoleName"] == "DatadogIntegrationRole"
    for name in ("DisableMetricCollection", "DisableResourceCollection", "CloudSecurityPostureManagement"):
        assert params[name]["AllowedValues"] == ["true", "false"], name
        assert params[name]["Default"] == "false", name
    assert params["Vendor"]["AllowedValues"] == ["datadog", "dynatrace"]
    assert params["Vendor"]["Default"] == "datadog"
    assert params["OnConflict"]["AllowedValues"] == ["fail", "adopt"] and params["OnConflict"]["Default"] == "fail"
    assert params["OnDeleteError"]["AllowedValues"] == ["fail", "retain"]
    assert params["OnDeleteError"]["Default"] == "fail"
    assert "Default" not in params["SecretArn"], "the secret must be chosen, never defaulted"
    assert params["SecretRoleArn"]["Default"] == "" and params["SecretKmsKeyArn"]["Default"] == ""


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
        ("EnvironmentUrl", "", True),
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
    # Optional in the template (Datadog stacks leave them empty); the Rules require the URL.
    assert params["EnvironmentUrl"]["Default"] == "" and params["MonitoringConfigId"]["Default"] == ""
    groups = {g["Label"]["default"]: g["Parameters"] for g in template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]}
    assert groups["Dynatrace (Vendor=dynatrace)"] == ["EnvironmentUrl", "MonitoringConfigId"]
    assert "IAMRoleName" in groups["Vendor and its keys"], "the role name applies to every vendor"
    grouped = [p for ps in groups.values() for p in ps]
    assert sorted(grouped) == sorted(params), "every parameter in exactly one group"


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


@pytest.mark.parametrize("partition", PARTITIONS)
def test_dynatrace_rules_reject_the_partitions_dynatrace_does_not_serve(template, partition):
    failures = dynatrace_stack(template, partition=partition).rule_failures()
    if partition == "aws":
        assert failures == []
    else:
        (message,) = failures
        assert partition in message and "Dynatrace" in message


def test_dynatrace_needs_an_environment_url(template):
    (message,) = Stack(template, Vendor="dynatrace").rule_failures()
    assert "EnvironmentUrl" in message and "https://" in message
    assert Stack(template, Vendor="datadog").rule_failures() == [], "Datadog needs no EnvironmentUrl"


@pytest.mark.parametrize("partition", PARTITIONS)
@pytest.mark.parametrize("site", sorted(DATADOG_SITES))
def test_datadog_settings_never_stand_in_the_way_of_dynatrace(template, site, partition):
    # Every Datadog site, and a Datadog combination its own rules refuse, with Vendor=dynatrace:
    # only Dynatrace's own rules apply.
    stack = dynatrace_stack(
        template,
        partition=partition,
        DatadogSite=site,
        CloudSecurityPostureManagement="true",
        DisableResourceCollection="true",
    )
    failures = stack.rule_failures()
    assert len(failures) == (0 if partition == "aws" else 1), failures
    assert all("Dynatrace" in m for m in failures), failures


@pytest.mark.parametrize("partition", PARTITIONS)
def test_dynatrace_settings_never_stand_in_the_way_of_datadog(template, partition):
    site = "ddog-gov.com" if partition == "aws-us-gov" else "datadoghq.com"
    stack = Stack(template, partition=partition, DatadogSite=site, EnvironmentUrl=PRODUCTION_URL, MonitoringConfigId=MONITORING_CONFIG_ID)
    failures = stack.rule_failures()
    assert not [m for m in failures if "Dynatrace" in m or "EnvironmentUrl" in m]
    if partition != "aws-cn":
        assert failures == []
        assert set(stack.resources()) == RESOURCES_OF["datadog"]


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


def test_every_rule_explains_itself(template):
    for name, rule in template["Rules"].items():
        for assertion in rule["Assertions"]:
            assert len(assertion.get("AssertDescription", "")) > 40, name


# --------------------------------------------------------------------------- the vendor's role


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
            {
                "PrincipalAccountId": {
                    "Fn::FindInMap": [
                        "DatadogPrincipalAccount",
                        {"Ref": "DatadogSite"},
                        {"Fn::FindInMap": ["PartitionKey", {"Ref": "AWS::Partition"}, "Key"]},
                    ]
                }
            },
        ]
    }
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": {"Fn::GetAtt": ["VendorRegistration", "ExternalId"]}}}


@pytest.mark.parametrize("parameters", [{}, {"CloudSecurityPostureManagement": "true"}, {"DisableResourceCollection": "true"}])
def test_datadog_role_gets_its_permissions_only_from_the_permissions_step(template, parameters):
    stack = Stack(template, **parameters)
    assert stack.rule_failures() == []
    resources = stack.resources()
    role = resources["DatadogIntegrationRole"]["Properties"]
    # Only its trust: no hand-copied list, no SecurityAudit (the resource-collection list replaces it).
    assert not {"Policies", "ManagedPolicyArns", "PermissionsBoundary"} & set(role)
    attached = [r for r in resources.values() if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy")]
    assert not [r for r in attached if {"Ref": "DatadogIntegrationRole"} in as_list(r["Properties"].get("Roles", [])) + as_list(r["Properties"].get("RoleName", []))]
    step = resources["DatadogRolePermissions"]["Properties"]
    assert step["Phase"] == "role-permissions" and step["Vendor"] == "datadog"
    assert step["DisableResourceCollection"] == parameters.get("DisableResourceCollection", "false")
    assert step["Site"] == "datadoghq.com"


def test_datadog_permissions_step_passes_what_it_needs_and_no_secret(template):
    step = template["Resources"]["DatadogRolePermissions"]
    assert step["Type"] == "Custom::VendorRolePermissions"
    assert step["Condition"] == "IsDatadog"
    props = step["Properties"]
    assert set(props) <= CONTRACT_PROPERTIES
    # The lists need no keys: the step reads no secret (fewer ways to fail).
    assert not {"SecretArn", "SecretRoleArn", "OnConflict", "AccountTags"} & set(props)
    assert props["ServiceToken"] == {"Fn::GetAtt": ["Function", "Arn"]}
    # The role's or the user's name, by Ref: the step runs after the identity it writes on.
    assert props["RoleName"] == {"Fn::If": ["DatadogUsesRole", {"Ref": "DatadogIntegrationRole"}, {"Ref": "AWS::NoValue"}]}
    assert props["UserName"] == {"Fn::If": ["DatadogUsesAccessKeys", {"Ref": "DatadogIntegrationUser"}, {"Ref": "AWS::NoValue"}]}
    assert props["Site"] == {"Ref": "DatadogSite"}
    assert props["DisableResourceCollection"] == {"Ref": "DisableResourceCollection"}
    assert props["OnDeleteError"] == {"Ref": "OnDeleteError"}
    # After the role or the user (it writes their policies), deleted before it.
    assert created_after(template, "DatadogRolePermissions", "DatadogIntegrationRole")
    assert created_after(template, "DatadogRolePermissions", "DatadogIntegrationUser")


# --------------------------------------------------------------------------- what vendors may do


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


@pytest.mark.parametrize("vendor_parameters", [{}, {"DisableResourceCollection": "true"}, DYNATRACE],
                         ids=["datadog", "datadog-no-resource-collection", "dynatrace"])
def test_no_identity_a_vendor_uses_may_read_data_or_secrets(template, vendor_parameters):
    stack = Stack(template, **vendor_parameters)
    identities = vendor_identities(stack)
    expected = {"DynatraceMonitoringRole"} if vendor_parameters == DYNATRACE else {"DatadogIntegrationRole"}
    assert set(identities) == expected, "the test must see every identity a vendor uses"
    for name in identities:
        grants, managed = identity_grants(stack, name)
        assert data_reads(grants) == [], f"{name} may read data or secrets"
        for arn in managed:
            assert arn.rsplit("/", 1)[-1] in METADATA_ONLY_MANAGED_POLICIES, f"{name}: {arn} is not known to be metadata-only"


def test_the_data_reading_check_catches_wildcards():
    # The check itself: the patterns the issue names, and wildcards that cover them.
    for pattern in ["*", "s3:*", "s3:Get*", "s3:GetObject", "dynamodb:GetItem", "dynamodb:*", "secretsmanager:GetSecretValue", "kms:Decrypt"]:
        assert data_reads([{"Effect": "Allow", "Action": pattern, "Resource": "*"}]), pattern
    for pattern in ["s3:GetBucketTagging", "dynamodb:Describe*", "cloudwatch:Get*", "ec2:Describe*"]:
        assert data_reads([{"Effect": "Allow", "Action": [pattern], "Resource": "*"}]) == [], pattern
    assert data_reads([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}])


# --------------------------------------------------------------------------- Dynatrace's role

DYNATRACE_PRINCIPAL_CHOICE = {
    "Fn::If": [
        "DynatraceProductionEnvironment",
        {"Fn::FindInMap": ["DynatracePrincipalAccount", "Production", "AccountId"]},
        {"Fn::FindInMap": ["DynatracePrincipalAccount", "NonProduction", "AccountId"]},
    ]
}


def test_dynatrace_role_trusts_the_mapped_principal_with_the_registrations_external_id(template):
    assert template["Mappings"]["DynatracePrincipalAccount"] == {
        row: {"AccountId": account} for row, account in DYNATRACE_PRINCIPALS.items()
    }
    role = template["Resources"]["DynatraceMonitoringRole"]
    assert role["Condition"] == "IsDynatrace"
    (trust,) = statements(role["Properties"]["AssumeRolePolicyDocument"])
    assert trust["Effect"] == "Allow" and trust["Action"] == "sts:AssumeRole"
    assert trust["Principal"]["AWS"] == {
        "Fn::Sub": ["arn:${AWS::Partition}:iam::${PrincipalAccountId}:root", {"PrincipalAccountId": DYNATRACE_PRINCIPAL_CHOICE}]
    }
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": {"Fn::GetAtt": ["DynatraceRegistration", "ExternalId"]}}}


@pytest.mark.parametrize("sample", DYNATRACE_URLS["accepted"], ids=lambda sample: sample["url"])
def test_dynatrace_principal_follows_the_environment_url(template, sample):
    # The same samples and principals as `cargo test --test template`, which compares them with
    # principal_account_id() in src/integrations/dynatrace/.
    stack = dynatrace_stack(template, EnvironmentUrl=sample["url"])
    assert stack.rule_failures() == []
    (trust,) = statements(stack.resources()["DynatraceMonitoringRole"]["Properties"]["AssumeRolePolicyDocument"])
    assert trust["Principal"] == {"AWS": f"arn:aws:iam::{sample['principal']}:root"}
    assert stack.outputs()["DynatraceTrustedPrincipalAccountId"] == sample["principal"]


def test_dynatrace_principal_condition_survives_an_empty_url(template):
    # CloudFormation evaluates every condition, also in Datadog stacks where EnvironmentUrl is empty.
    assert Stack(template).condition("DynatraceProductionEnvironment") is False
    assert dynatrace_stack(template).condition("DynatraceProductionEnvironment") is True
    assert dynatrace_stack(template, EnvironmentUrl=NON_PRODUCTION_URL).condition("DynatraceProductionEnvironment") is False


def test_dynatrace_role_is_read_only_and_metadata_only(template):
    role = dynatrace_stack(template).resources()["DynatraceMonitoringRole"]["Properties"]
    assert role["ManagedPolicyArns"] == [VIEW_ONLY_ACCESS]
    (policy,) = role["Policies"]
    by_sid = {s["Sid"]: s for s in statements(policy["PolicyDocument"])}
    assert set(by_sid) == {"DynatraceMetricPolling", "DynatraceTagDiscovery"}
    actions = [a for s in by_sid.values() for a in as_list(s["Action"])]
    assert set(actions) == DYNATRACE_ACTIONS and len(actions) == len(set(actions))
    assert [a for a in actions if not READ_ONLY_ACTION.match(a)] == []
    assert not [a for a in actions if "*" in a], "no wildcards"
    assert not [a for a in actions if a.startswith(("iam:", "sts:", "kms:", "secretsmanager:", "s3:"))]
    for statement in by_sid.values():
        assert statement["Effect"] == "Allow" and statement["Resource"] == "*"
        assert "NotAction" not in statement and "Condition" not in statement
    # No ReadOnlyAccess (it reads data: s3:GetObject, table items, ...), no SecurityAudit.
    assert not [arn for arn in role["ManagedPolicyArns"] if arn.endswith(("/ReadOnlyAccess", "/SecurityAudit", "/AdministratorAccess"))]


def test_dynatrace_role_policy_follows_the_partition_expression(template):
    role = template["Resources"]["DynatraceMonitoringRole"]["Properties"]
    assert role["ManagedPolicyArns"] == [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/job-function/ViewOnlyAccess"}]


# --------------------------------------------------------------------------- outputs


def test_outputs_expose_both_principals(template):
    outputs = template["Outputs"]
    assert outputs["VendorPrincipalAccountId"]["Value"] == {"Fn::GetAtt": ["VendorRegistration", "PrincipalAccountId"]}
    assert "Fn::FindInMap" in outputs["TrustedPrincipalAccountId"]["Value"]
    assert outputs["DynatraceVendorPrincipalAccountId"]["Value"] == {"Fn::GetAtt": ["DynatraceRegistration", "PrincipalAccountId"]}
    assert outputs["DynatraceTrustedPrincipalAccountId"]["Value"] == DYNATRACE_PRINCIPAL_CHOICE
    assert outputs["DynatraceMonitoringRoleArn"]["Value"] == {"Fn::GetAtt": ["DynatraceMonitoringRole", "Arn"]}
    assert outputs["DynatraceBoundRoleArn"]["Value"] == {"Fn::GetAtt": ["DynatraceRoleBinding", "RoleArn"]}
    assert "ExternalId" not in json.dumps(outputs), "the external ID is not published as an output"
    # Dynatrace's registration id is the connection's objectId, which is the external ID.
    assert ["DynatraceRegistration", "RegistrationId"] not in [o["Value"].get("Fn::GetAtt") for o in outputs.values() if isinstance(o["Value"], dict)]


@pytest.mark.parametrize("vendor", sorted(RESOURCES_OF))
def test_outputs_per_vendor(template, vendor):
    stack = Stack(template, Vendor=vendor, EnvironmentUrl=PRODUCTION_URL if vendor == "dynatrace" else "")
    names = set(stack.outputs())
    datadog = {"IntegrationRoleArn", "RegistrationId", "TrustedPrincipalAccountId", "VendorPrincipalAccountId", "DatadogPermissionsSource", "AuthType"}
    dynatrace = {"DynatraceMonitoringRoleArn", "DynatraceBoundRoleArn", "DynatraceTrustedPrincipalAccountId", "DynatraceVendorPrincipalAccountId"}
    assert names == {"FunctionLogGroupName"} | (datadog if vendor == "datadog" else dynatrace)


# --------------------------------------------------------------------------- regions and ingest
#
# HomeRegion: the registration (function, its role, the vendor's role, the custom resources) is
# created in one region of the StackSet only, because IAM is global. Dynatrace's log and event
# ingest (LogIngest, EventIngest) is per region: in every region of the StackSet. docs/ingest.md.

INGEST_SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:registrar/dynatrace-ingest-AbCdEf"
MRK_ARN = "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"
HOME = "eu-west-1"
THREE_REGIONS = ("eu-west-1", "us-east-1", "ap-southeast-2")
LOG_RESOURCES = {"LogBackupBucket", "LogDeliveryRole", "LogStream"}
EVENT_RESOURCES = {"EventConnection", "EventDestination", "EventDeliveryRole", "EventRule"}
INGEST = {"IngestSecretArn": INGEST_SECRET_ARN, "SecretKmsKeyArn": MRK_ARN}
# The name property of each type this template creates; None: the type takes no name.
NAME_PROPERTY = {
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Lambda::EventInvokeConfig": None,
    "AWS::S3::Bucket": "BucketName",
    "AWS::KMS::Key": None,
    "AWS::KinesisFirehose::DeliveryStream": "DeliveryStreamName",
    "AWS::Events::Connection": "Name",
    "AWS::Events::ApiDestination": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::CloudFormation::WaitConditionHandle": None,
    "Custom::VendorRegistration": None,
    "Custom::VendorRoleBinding": None,
}
# Names that are global (one namespace for every region of an account, or of all AWS).
GLOBAL_NAMES = {"AWS::IAM::Role", "AWS::S3::Bucket"}


def in_region(region, home="", vendor="dynatrace", logs="false", events="false", key="false", **more):
    parameters = {"Vendor": vendor, "HomeRegion": home, "LogIngest": logs, "EventIngest": events, "UseCustomerManagedKey": key}
    if vendor == "dynatrace":
        parameters["EnvironmentUrl"] = PRODUCTION_URL
    if "true" in (logs, events):
        parameters.update(INGEST)
    return lambda template: Stack(template, region=region, **{**parameters, **more})


def regional(arn, region):
    parts = arn.split(":")
    return ":".join(parts[:3] + [region] + parts[4:])


COMBINATIONS = [
    (vendor, logs, events, home, key)
    for vendor in ("datadog", "dynatrace")
    for logs in ("false", "true")
    for events in ("false", "true")
    for home in (True, False)
    for key in ("false", "true")
    if not (key == "true" and logs == "false")  # the key only exists with log ingest
]


def combination_id(combination):
    vendor, logs, events, home, key = combination
    return f"{vendor}-logs:{logs}-events:{events}-{'home' if home else 'other'}-region-key:{key}"


def combination_stack(template, combination):
    vendor, logs, events, home, key = combination
    return in_region("us-east-1", home="" if home else HOME, vendor=vendor, logs=logs, events=events, key=key)(template)


@pytest.mark.parametrize("combination", COMBINATIONS, ids=combination_id)
def test_every_combination_creates_exactly_its_resources(template, combination):
    vendor, logs, events, home, key = combination
    stack = combination_stack(template, combination)
    failures = stack.rule_failures()
    if vendor == "datadog" and "true" in (logs, events):
        (message,) = failures
        assert "Vendor=datadog" in message and "Dynatrace" in message
        return
    assert failures == []
    expected = set(RESOURCES_OF[vendor]) if home else set()
    if vendor == "dynatrace":
        expected |= (LOG_RESOURCES if logs == "true" else set()) | (EVENT_RESOURCES if events == "true" else set())
        expected |= {"IngestKey"} if key == "true" and logs == "true" else set()
    expected = expected or {"NothingElseHere"}
    resources = stack.resources()
    assert set(resources) == expected
    # No output and no resource refers to a resource this stack does not create.
    for name, output in stack.outputs().items():
        assert references(output) <= set(resources) | set(template["Parameters"]) | {"AWS::NoValue"}, name
    for name, resource in resources.items():
        missing = references(resource.get("Properties", {})) - set(resources) - set(template["Parameters"])
        assert not {m for m in missing if not m.startswith("AWS::")}, (name, missing)
        for dependency in as_list(resource.get("DependsOn", [])):
            assert dependency in resources, (name, dependency)
    for name in resources:
        if resources[name]["Type"] == "AWS::IAM::Role":
            check_least_privilege(stack, name)


def check_least_privilege(stack, role):
    """Every role's grants: named resources, no wildcard actions, a trust that names one service."""
    resources = stack.resources()
    properties = resources[role]["Properties"]
    assert "ManagedPolicyArns" not in properties or role in CUSTOM_RESOURCES.values() or role == "DatadogIntegrationRole"
    for policy in properties.get("Policies", []):
        for grant in statements(policy["PolicyDocument"]):
            assert grant["Effect"] == "Allow" and "NotAction" not in grant and "NotResource" not in grant, (role, grant)
            assert not [a for a in as_list(grant["Action"]) if a == "*" or a.endswith(":*")], (role, grant)
            if role in INGEST_ROLE_GRANTS:
                assert "*" not in json.dumps(grant.get("Resource")).replace("/*", ""), (role, grant)


# The ingest roles, statement by statement: what they may do, on what.
INGEST_ROLE_GRANTS = {
    "LogDeliveryRole": {
        "WriteFailedRecords": {
            "s3:AbortMultipartUpload",
            "s3:GetBucketLocation",
            "s3:GetObject",
            "s3:ListBucket",
            "s3:ListBucketMultipartUploads",
            "s3:PutObject",
        },
        "ReadIngestSecret": {"secretsmanager:GetSecretValue"},
        "DecryptIngestSecret": {"kms:Decrypt"},
        "UseIngestKey": {"kms:Decrypt", "kms:GenerateDataKey"},
    },
    "EventDeliveryRole": {"InvokeDynatrace": {"events:InvokeApiDestination"}},
}


def grants_of(stack, role):
    (policy,) = stack.resources()[role]["Properties"]["Policies"]
    return {grant["Sid"]: grant for grant in statements(policy["PolicyDocument"])}


@pytest.mark.parametrize("key", ["false", "true"])
@pytest.mark.parametrize("region", THREE_REGIONS)
def test_log_delivery_role_only_writes_its_bucket_and_reads_its_secret_here(template, region, key):
    stack = in_region(region, home=HOME, logs="true", key=key)(template)
    assert stack.rule_failures() == []
    role = stack.resources()["LogDeliveryRole"]["Properties"]
    # The central ingest secret's policy (foundation.yaml) trusts this path, and only this one.
    assert role["Path"] == "/registrar/ingest/"
    assert "RoleName" not in role, "named by CloudFormation: no collision between regions"
    (trust,) = statements(role["AssumeRolePolicyDocument"])
    assert trust["Principal"] == {"Service": "firehose.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    # Firehose assumes its delivery role with this account's id as external ID (its documented trust).
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": ACCOUNT_ID}}, "no confused deputy"
    grants = grants_of(stack, "LogDeliveryRole")
    expected = {"WriteFailedRecords", "ReadIngestSecret", "DecryptIngestSecret"} | ({"UseIngestKey"} if key == "true" else set())
    assert set(grants) == expected
    for sid, grant in grants.items():
        assert set(as_list(grant["Action"])) == INGEST_ROLE_GRANTS["LogDeliveryRole"][sid], sid
    assert grants["WriteFailedRecords"]["Resource"] == [
        {"Fn::GetAtt": ["LogBackupBucket", "Arn"]},
        "${LogBackupBucket.Arn}/*",  # Fn::Sub of the bucket's own ARN
    ]
    # The replica in this very region: the same ARN but for the region (Secrets Manager's rule).
    assert grants["ReadIngestSecret"]["Resource"] == regional(INGEST_SECRET_ARN, region)
    assert grants["DecryptIngestSecret"]["Resource"] == regional(MRK_ARN, region)
    assert grants["DecryptIngestSecret"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}
    }
    if key == "true":
        assert grants["UseIngestKey"]["Resource"] == {"Fn::GetAtt": ["IngestKey", "Arn"]}
        assert grants["UseIngestKey"]["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}}


@pytest.mark.parametrize("region", THREE_REGIONS)
def test_event_delivery_role_only_invokes_its_api_destination(template, region):
    stack = in_region(region, home=HOME, events="true")(template)
    role = stack.resources()["EventDeliveryRole"]["Properties"]
    assert "RoleName" not in role and "Path" not in role, "no path the ingest secret trusts: it reads nothing"
    (trust,) = statements(role["AssumeRolePolicyDocument"])
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}
    grants = grants_of(stack, "EventDeliveryRole")
    assert grants == {
        "InvokeDynatrace": {
            "Sid": "InvokeDynatrace",
            "Effect": "Allow",
            "Action": "events:InvokeApiDestination",
            "Resource": {"Fn::GetAtt": ["EventDestination", "Arn"]},
        }
    }
    rule = stack.resources()["EventRule"]["Properties"]
    assert rule["Targets"] == [
        {"Id": "dynatrace", "Arn": {"Fn::GetAtt": ["EventDestination", "Arn"]}, "RoleArn": {"Fn::GetAtt": ["EventDeliveryRole", "Arn"]}}
    ]


@pytest.mark.parametrize(
    "environment_url, ingest_host",
    [
        ("https://abc12345.apps.dynatrace.com", "abc12345.live.dynatrace.com"),
        ("https://abc12345.live.dynatrace.com/", "abc12345.live.dynatrace.com"),
        ("https://abc12345.sprint.apps.dynatracelabs.com", "abc12345.sprint.dynatracelabs.com"),
        ("https://xyz-9.dev.dynatracelabs.com", "xyz-9.dev.dynatracelabs.com"),
    ],
)
def test_ingest_goes_to_the_environments_documented_endpoints(template, environment_url, ingest_host):
    stack = in_region("us-east-1", home=HOME, logs="true", events="true", EnvironmentUrl=environment_url)(template)
    assert stack.rule_failures() == []
    resources = stack.resources()
    destination = resources["LogStream"]["Properties"]["HttpEndpointDestinationConfiguration"]
    # Dynatrace's Firehose log ingest endpoint, with the token as Firehose's access key.
    assert destination["EndpointConfiguration"] == {"Name": "Dynatrace", "Url": f"https://{ingest_host}/api/v2/logs/ingest/aws_firehose"}
    assert destination["SecretsManagerConfiguration"] == {
        "Enabled": True,
        "SecretARN": regional(INGEST_SECRET_ARN, "us-east-1"),
        "RoleARN": {"Fn::GetAtt": ["LogDeliveryRole", "Arn"]},
    }
    assert "AccessKey" not in destination["EndpointConfiguration"], "the token never sits in the template"
    assert destination["S3BackupMode"] == "FailedDataOnly"
    assert destination["S3Configuration"]["BucketARN"] == {"Fn::GetAtt": ["LogBackupBucket", "Arn"]}
    assert destination["BufferingHints"] == {"IntervalInSeconds": 60, "SizeInMBs": 1}
    assert destination["RequestConfiguration"] == {"ContentEncoding": "GZIP"}
    api = resources["EventDestination"]["Properties"]
    assert api["InvocationEndpoint"] == f"https://{ingest_host}/platform/ingest/v1/events"
    assert api["HttpMethod"] == "POST"


def test_event_connection_takes_the_token_from_the_regional_secret(template):
    for region in THREE_REGIONS:
        stack = in_region(region, home=HOME, events="true", EventSources="aws.health,aws.ec2")(template)
        connection = stack.resources()["EventConnection"]["Properties"]
        assert connection["AuthorizationType"] == "API_KEY"
        assert connection["AuthParameters"] == {
            "ApiKeyAuthParameters": {
                "ApiKeyName": "Authorization",
                "ApiKeyValue": "Bearer {{resolve:secretsmanager:" + regional(INGEST_SECRET_ARN, region) + ":SecretString:api_key}}",
            }
        }
        assert stack.resources()["EventRule"]["Properties"]["EventPattern"] == {"source": ["aws.health", "aws.ec2"]}
    assert template["Parameters"]["EventSources"]["Default"] == "aws.health", "Dynatrace's default event source"


@pytest.mark.parametrize("key", ["false", "true"])
def test_customer_managed_key_encrypts_the_stream_and_the_backup_bucket(template, key):
    resources = in_region("us-east-1", home=HOME, logs="true", key=key)(template).resources()
    stream = resources["LogStream"]["Properties"]
    bucket = resources["LogBackupBucket"]
    assert bucket["DeletionPolicy"] == "Retain", "failed records are not lost with the stack"
    assert "BucketName" not in bucket["Properties"]
    if key == "true":
        assert resources["IngestKey"]["Properties"]["EnableKeyRotation"] is True
        assert stream["DeliveryStreamEncryptionConfigurationInput"] == {"KeyType": "CUSTOMER_MANAGED_CMK", "KeyARN": {"Fn::GetAtt": ["IngestKey", "Arn"]}}
        (rule,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": ["IngestKey", "Arn"]}}
    else:
        assert "DeliveryStreamEncryptionConfigurationInput" not in stream
        assert "BucketEncryption" not in bucket["Properties"], "S3's default encryption (SSE-S3)"


@pytest.mark.parametrize(
    "parameters, message",
    [
        ({"Vendor": "datadog", "LogIngest": "true", **INGEST}, "Vendor=datadog"),
        ({"Vendor": "datadog", "EventIngest": "true", **INGEST}, "Vendor=datadog"),
        ({**DYNATRACE, "LogIngest": "true", "SecretKmsKeyArn": MRK_ARN}, "IngestSecretArn"),
        ({**DYNATRACE, "EventIngest": "true", "IngestSecretArn": INGEST_SECRET_ARN}, "SecretKmsKeyArn"),
        ({**DYNATRACE, "EventIngest": "true", "IngestSecretArn": INGEST_SECRET_ARN, "SecretRoleArn": HUB_ROLE_ARN}, "SecretKmsKeyArn"),
    ],
)
def test_rules_refuse_ingest_that_cannot_work(template, parameters, message):
    failures = Stack(template, **parameters).rule_failures()
    assert [m for m in failures if message in m], failures


@pytest.mark.parametrize(
    "parameter, value, accepted",
    [
        ("HomeRegion", "", True),
        ("HomeRegion", "eu-west-1", True),
        ("HomeRegion", "us-gov-west-1", True),
        ("HomeRegion", "ap-southeast-5", True),
        ("HomeRegion", "EU-WEST-1", False),
        ("HomeRegion", "eu-west-1,us-east-1", False),
        ("HomeRegion", "eu west 1", False),
        ("IngestSecretArn", "", True),
        ("IngestSecretArn", INGEST_SECRET_ARN, True),
        ("IngestSecretArn", "arn:aws:secretsmanager:eu-west-1:111122223333:secret:registrar/dt", False),
        ("IngestSecretArn", "arn:aws-cn:secretsmanager:cn-north-1:111122223333:secret:registrar/dt-AbCdEf", False),
        ("IngestSecretArn", "dt0s16.SECRETVALUE", False),
        ("EventSources", "aws.health", True),
        ("EventSources", "aws.health,aws.ec2", True),
        ("EventSources", "aws.health, aws.ec2", False),
        ("EventSources", "", False),
    ],
)
def test_ingest_parameter_patterns(template, parameter, value, accepted):
    assert bool(re.fullmatch(template["Parameters"][parameter]["AllowedPattern"], value)) == accepted


def test_home_region_default_keeps_single_region_deployments_unchanged(template):
    # Empty HomeRegion: this region is home, so `sam deploy` and existing StackSets behave as before.
    assert template["Parameters"]["HomeRegion"]["Default"] == ""
    for region in THREE_REGIONS:
        assert set(in_region(region, vendor="datadog")(template).resources()) == RESOURCES_OF["datadog"]
        assert set(in_region(region)(template).resources()) == RESOURCES_OF["dynatrace"]
    # A named home region: only there.
    assert set(in_region("us-east-1", home="us-east-1")(template).resources()) == RESOURCES_OF["dynatrace"]
    assert set(in_region("us-east-1", home=HOME)(template).resources()) == {"NothingElseHere"}


def physical_names(stack, stack_id):
    """(namespace, name) of every resource the stack creates: the name its properties give it, or
    for an unnamed resource the one CloudFormation generates, unique to the stack and resource."""
    names = []
    for logical, resource in stack.resources().items():
        kind = resource["Type"]
        assert kind in NAME_PROPERTY, f"{logical}: teach NAME_PROPERTY the name property of {kind}"
        prop = NAME_PROPERTY[kind]
        given = resource.get("Properties", {}).get(prop) if prop else None
        name = given if given is not None else f"generated:{stack_id}:{logical}"
        namespace = "global" if kind in GLOBAL_NAMES else stack.values["AWS::Region"]
        names.append(((namespace, kind), name))
    return names


def three_region_rollout(template, home):
    stacks = []
    for index, region in enumerate(THREE_REGIONS):
        # A StackSet's stack instances of one account: the same parameters in every region.
        stacks.append(
            in_region(region, home=home, logs="true", events="true", key="true", stack_name=f"StackSet-registrar-{index}")(template)
        )
    return stacks


def test_three_region_rollout_of_one_account_has_no_name_collision(template):
    stacks = three_region_rollout(template, home=HOME)
    names = [entry for index, stack in enumerate(stacks) for entry in physical_names(stack, index)]
    duplicates = {entry for entry in names if names.count(entry) > 1}
    assert not duplicates, duplicates
    # The registration exists once, in the home region; ingest in all three.
    assert sum("DynatraceMonitoringRole" in stack.resources() for stack in stacks) == 1
    assert all(LOG_RESOURCES | EVENT_RESOURCES <= set(stack.resources()) for stack in stacks)


def test_three_region_rollout_without_home_region_would_collide(template):
    # The check above can fail: without HomeRegion every region creates the named vendor role.
    stacks = three_region_rollout(template, home="")
    names = [entry for index, stack in enumerate(stacks) for entry in physical_names(stack, index)]
    duplicates = {name for (_, kind), name in names if names.count(((_, kind), name)) > 1}
    assert duplicates == {"DynatraceMonitoringRole"}


def test_no_secret_in_outputs_or_defaults(template):
    for name, spec in template["Parameters"].items():
        default = str(spec.get("Default", ""))
        assert "{{resolve" not in default and not re.search(r"dt0[a-z][0-9]{2}\.", default), name
    assert "resolve:" not in json.dumps(template["Outputs"])
    # The only dynamic reference is the event connection's, to the ingest secret's api_key.
    text = json.dumps(template["Resources"])
    assert text.count("{{resolve:") == 1
    assert json.dumps(template["Resources"]["EventConnection"]).count("{{resolve:secretsmanager:") == 1


# --------------------------------------------------------------------------- every combination, linted


def specialise(stack):
    """The template as CloudFormation would see it for this stack: the resources and outputs it
    creates, every Fn::If decided. cfn-lint then checks that exact template."""

    def decide(node):
        if isinstance(node, dict):
            if len(node) == 1 and "Fn::If" in node:
                name, yes, no = node["Fn::If"]
                return decide(yes if stack.condition(name) else no)
            return {k: decide(v) for k, v in node.items()}
        if isinstance(node, list):
            return [decide(item) for item in node]
        return node

    out = {k: v for k, v in stack.template.items() if k not in ("Conditions", "Resources", "Outputs")}
    out["Resources"] = {
        name: decide({k: v for k, v in resource.items() if k != "Condition"})
        for name, resource in stack.template["Resources"].items()
        if "Condition" not in resource or stack.condition(resource["Condition"])
    }
    out["Outputs"] = {
        name: decide({k: v for k, v in output.items() if k != "Condition"})
        for name, output in stack.template["Outputs"].items()
        if "Condition" not in output or stack.condition(output["Condition"])
    }
    # The stack's parameter values become the defaults, so that cfn-lint resolves what this stack
    # would resolve; mappings that only the resources left out use go with them.
    out["Parameters"] = {
        name: {**spec, "Default": stack.values[name]} if stack.values.get(name, str(spec.get("Default"))) != str(spec.get("Default")) else spec
        for name, spec in stack.template["Parameters"].items()
    }
    used = json.dumps([out["Resources"], out["Outputs"], out.get("Rules", {})])
    out["Mappings"] = {name: table for name, table in stack.template.get("Mappings", {}).items() if f'"{name}"' in used}
    if not out["Mappings"]:
        del out["Mappings"]
    return json.loads(json.dumps(out, default=str))


def lint(paths):
    # W2001 (unused parameter) is a product of specialising: the parameters that only fed
    # conditions are unused once the conditions are decided.
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())", "--ignore-checks", "W2001", "--", *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return result.returncode, result.stdout + result.stderr


def test_every_combination_is_cfn_lint_clean(template, tmp_path):
    paths = []
    for combination in COMBINATIONS:
        stack = combination_stack(template, combination)
        if stack.rule_failures():
            continue  # refused before anything is created
        path = tmp_path / f"{combination_id(combination).replace(':', '-')}.json"
        path.write_text(json.dumps(specialise(stack), indent=1))
        paths.append(path)
    assert len(paths) >= 10
    assert lint(paths) == (0, "")


# --------------------------------------------------------------------------- Datadog's settings

COLLECTION = {
    "DatadogRegions": ("Regions", "us-east-1,eu-west-1", ["us-east-1", "eu-west-1"]),
    "DatadogIncludeNamespaces": ("IncludeNamespaces", "AWS/EC2,AWS/Lambda", ["AWS/EC2", "AWS/Lambda"]),
    "DatadogExcludeNamespaces": ("ExcludeNamespaces", "AWS/SQS", ["AWS/SQS"]),
    "DatadogMetricTagFilters": ("MetricTagFilters", "AWS/EC2:env:prod", ["AWS/EC2:env:prod"]),
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
        # Dynatrace stacks ignore Datadog's settings.
        ({**DYNATRACE, "DatadogAuthType": "access-keys", "DatadogIncludeNamespaces": "A", "DatadogExcludeNamespaces": "B"}, "aws", None),
    ],
)
def test_rules_for_datadogs_settings_and_access_keys(template, parameters, partition, message):
    failures = Stack(template, partition=partition, **parameters).rule_failures()
    if message is None:
        assert failures == []
    else:
        (failure,) = failures
        assert message in failure, failure


def access_key_stack(template, partition="aws-cn", **more):
    site = {"DatadogSite": "datadoghq.com"}
    return Stack(template, partition=partition, DatadogAuthType="access-keys", **site, **more)


ACCESS_KEY_RESOURCES = FUNCTION_RESOURCES | {"VendorRegistration", "DatadogRolePermissions", "DatadogIntegrationUser",
                                             "DatadogAccessKey", "DatadogAccessKeySecret"}


@pytest.mark.parametrize("partition", ["aws-cn", "aws-us-gov"])
def test_an_access_key_stack_makes_a_user_its_key_and_a_secret_and_no_role(template, partition):
    stack = access_key_stack(template, partition)
    assert stack.rule_failures() == []
    resources = stack.resources()
    assert set(resources) == ACCESS_KEY_RESOURCES
    user = resources["DatadogIntegrationUser"]["Properties"]
    # No console (no LoginProfile), no groups, no policies of its own: only the permissions step's.
    assert set(user) == {"UserName", "Path"} and user["Path"] == "/registrar/"
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
    stack = access_key_stack(template)
    grants = {g["Sid"]: g for g in function_grants(stack)}
    assert set(grants) == {"WriteOwnLogs", "ReadVendorSecret", "ReadDatadogAccessKey"} | DATADOG_STEP_SIDS
    assert grants["ReadDatadogAccessKey"]["Action"] == "secretsmanager:GetSecretValue"
    assert grants["ReadDatadogAccessKey"]["Resource"] == {"Ref": "DatadogAccessKeySecret"}
    user_arn = f"arn:aws-cn:iam::{ACCOUNT_ID}:user/registrar/DatadogIntegrationUser"
    policies = f"arn:aws-cn:iam::{ACCOUNT_ID}:policy/registrar/registrar-DatadogIntegrationUser-datadog-resource-collection-*"
    assert set(grants["WriteDatadogInlinePolicy"]["Action"]) == {"iam:PutUserPolicy", "iam:DeleteUserPolicy"}
    assert grants["WriteDatadogInlinePolicy"]["Resource"] == user_arn
    assert set(grants["AttachDatadogPolicies"]["Action"]) == {"iam:AttachUserPolicy", "iam:DetachUserPolicy"}
    assert grants["AttachDatadogPolicies"]["Resource"] == user_arn
    assert grants["AttachDatadogPolicies"]["Condition"] == {"ArnLike": {"iam:PolicyARN": policies}}
    assert grants["ManageDatadogPolicies"]["Resource"] == policies
    assert not [g for g in grants.values() if "Role" in json.dumps(g["Action"])], "no role to write on"


def test_no_access_key_identity_may_read_data_or_secrets(template):
    stack = access_key_stack(template)
    identities = vendor_identities(stack)
    assert set(identities) == {"DatadogIntegrationUser"}, "the test must see the user Datadog signs in as"
    grants, managed = identity_grants(stack, "DatadogIntegrationUser")
    assert data_reads(grants) == [] and managed == []
