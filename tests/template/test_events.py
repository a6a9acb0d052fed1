"""Every file in events/ is an event the custom resources of a member template would send: the
template of the event's vendor (templates/<Vendor>.yaml).

Each event's stack is evaluated with the test's template interpreter (cfn.Stack) for the
parameters the event's properties imply (SecretArn, DatadogSite, IAMRoleName, the flags...) and
the account, region and stack name of its StackId. The resource the event names
must exist in that stack with the event's ResourceType, and its properties must be exactly the
event's: the same names, the same values (ServiceTimeout, Phase, RoleName, AccountTags...); the
GetAtt values are checked for their shape (ServiceToken: a Lambda function of that stack's
account and region; RegistrationId: the registration's id, as the PhysicalResourceId carries it).
The parameter values must pass the template's own patterns, allowed values and rules. The event
itself looks as CloudFormation sends it: the ResponseURL is a pre-signed S3 URL for this stack,
resource and request, and an Update or Delete names a PhysicalResourceId of Registrar's format.
"""

import json
import re
import urllib.parse

import pytest

from cfn import MEMBER, ROOT, Stack, load
from sandbox.vendors import VENDORS, names

EVENTS = ROOT / "events"
EVENT_FILES = sorted(EVENTS.rglob("*.json"))
STACK_ID = re.compile(r"^arn:(?P<partition>aws[a-z-]*):cloudformation:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
                      r"stack/(?P<name>[A-Za-z][A-Za-z0-9-]*)/[0-9a-f-]{36}$")
# Resource property -> the template parameter it carries (when the template passes a Ref).
PARAMETER_OF = {
    "SecretArn": "SecretArn",
    "SecretRoleArn": "SecretRoleArn",
    "OnConflict": "OnConflict",
    "OnDeleteError": "OnDeleteError",
    "Site": "DatadogSite",
    "DisableMetricCollection": "DisableMetricCollection",
    "DisableResourceCollection": "DisableResourceCollection",
    "CloudSecurityPostureManagement": "CloudSecurityPostureManagement",
    "EnvironmentUrl": "EnvironmentUrl",
    "MonitoringConfigId": "MonitoringConfigId",
    "AutomuteEnabled": "DatadogAutomuteEnabled",
    "CollectCustomMetrics": "DatadogCollectCustomMetrics",
    "CollectCloudWatchAlarms": "DatadogCollectCloudWatchAlarms",
    "AuthType": "DatadogAuthType",
}
# What a Ref of these types returns: the name.
IAM_NAME_OF = {"AWS::IAM::Role": "RoleName", "AWS::IAM::User": "UserName"}
DEFAULT_ROLE_NAME = {v["name"]: v["default_role"] for v in VENDORS["vendors"]}
PHYSICAL_ID = {
    "registration": re.compile(rf"^registrar:({'|'.join(names())}):[a-z0-9.-]+:aws[a-z-]*:\d{{12}}:[A-Za-z0-9_-]+$"),
    "role-binding": re.compile(r"^registrar:binding:dynatrace:[a-z0-9.-]+:aws[a-z-]*:\d{12}:[^:]+:[A-Za-z0-9_-]+$"),
    "role-permissions": re.compile(r"^registrar:permissions:datadog:aws[a-z-]*:\d{12}:[\w+=,.@-]+$"),
}


TEMPLATES = {vendor: load(path) for vendor, path in MEMBER.items()}
# Every other vendor property (each vendor's descriptor, sandbox/vendors.json) that its template
# passes from a parameter of the same name.
PARAMETER_OF.update({prop: prop for v in VENDORS["vendors"] for prop in v["properties"]
                     if prop not in PARAMETER_OF and prop in TEMPLATES[v["name"]]["Parameters"]})


def template_of(event):
    return TEMPLATES[event["ResourceProperties"]["Vendor"]]


def event_id(path):
    return path.relative_to(EVENTS).as_posix()


def parameters_of(template, props):
    """The template parameters an event's properties imply (everything else: the defaults)."""
    values = {PARAMETER_OF[k]: v for k, v in props.items() if k in PARAMETER_OF}
    vendor = props["Vendor"]
    values["IAMRoleName"] = "" if props["RoleName"] == DEFAULT_ROLE_NAME[vendor] else props["RoleName"]
    unknown = set(values) - set(template["Parameters"])
    assert not unknown, f"the template has no parameters {sorted(unknown)}"
    return values


def stack_for(template, event, props):
    where = STACK_ID.fullmatch(event["StackId"])
    assert where, f"StackId {event['StackId']!r} is not a CloudFormation stack ARN"
    stack = Stack(template, partition=where["partition"], region=where["region"], stack_name=where["name"],
                  **parameters_of(template, props))
    stack.values["AWS::AccountId"] = where["account"]
    return stack, where


def check_parameters(template, stack, props):
    for name, value in parameters_of(template, props).items():
        spec = template["Parameters"][name]
        if "AllowedValues" in spec:
            assert value in [str(v) for v in spec["AllowedValues"]], (name, value)
        if "AllowedPattern" in spec:
            assert re.fullmatch(spec["AllowedPattern"], value), (name, value)
    assert stack.rule_failures() == []


def check_properties(template, event, props, label):
    """`props` (ResourceProperties or OldResourceProperties) are what the template sends."""
    stack, where = stack_for(template, event, props)
    check_parameters(template, stack, props)
    resources = stack.resources()
    name = event["LogicalResourceId"]
    assert name in resources, f"{label}: the stack these parameters make has no resource {name}"
    resource = resources[name]
    assert resource["Type"] == event["ResourceType"], label
    expected = resource["Properties"]
    assert set(props) == set(expected), (f"{label}: properties differ from the template's: "
                                         f"only in the event {sorted(set(props) - set(expected))}, "
                                         f"only in the template {sorted(set(expected) - set(props))}")
    for key, value in expected.items():
        if key == "ServiceToken":
            assert value == {"Fn::GetAtt": ["Function", "Arn"]}
            assert re.fullmatch(rf"arn:{where['partition']}:lambda:{where['region']}:{where['account']}:"
                                r"function:[A-Za-z0-9_-]{1,64}", props[key]), props[key]
            assert props[key] == event["ServiceToken"], f"{label}: ServiceToken differs from the event's"
        elif key == "RegistrationId":
            assert value == {"Fn::GetAtt": ["DynatraceRegistration", "RegistrationId"]}
            assert re.fullmatch(r"[A-Za-z0-9_-]{60,140}", props[key]), props[key]
            if "PhysicalResourceId" in event:
                assert event["PhysicalResourceId"].endswith(":" + props[key]), "binding of another registration"
        elif isinstance(value, dict) and resources.get(value.get("Ref", ""), {}).get("Type") in IAM_NAME_OF:
            # Ref of the role (or user) the template creates: its name.
            named = resources[value["Ref"]]
            assert props[key] == named["Properties"][IAM_NAME_OF[named["Type"]]], f"{label}: {key}"
        else:
            assert props[key] == value, f"{label}: {key} is {props[key]!r}, the template sends {value!r}"


@pytest.mark.parametrize("path", EVENT_FILES, ids=event_id)
def test_event_properties_are_the_templates(path):
    event = json.loads(path.read_text())
    template = template_of(event)
    check_properties(template, event, event["ResourceProperties"], "ResourceProperties")
    if event["RequestType"] == "Update":
        check_properties(template, event, event["OldResourceProperties"], "OldResourceProperties")
        assert event["OldResourceProperties"] != event["ResourceProperties"], "an Update changes something"
    else:
        assert "OldResourceProperties" not in event


@pytest.mark.parametrize("path", EVENT_FILES, ids=event_id)
def test_event_is_shaped_as_cloudformation_sends_it(path):
    event = json.loads(path.read_text())
    assert event["RequestType"] in ("Create", "Update", "Delete")
    assert event["ServiceToken"] == event["ResourceProperties"]["ServiceToken"]
    url = urllib.parse.urlsplit(event["ResponseURL"])
    assert url.scheme == "https" and url.hostname.endswith(".amazonaws.com"), event["ResponseURL"]
    assert urllib.parse.unquote(url.path) == f"/{event['StackId']}|{event['LogicalResourceId']}|{event['RequestId']}"
    assert "X-Amz-Signature" in urllib.parse.parse_qs(url.query)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", event["RequestId"])
    phase = event["ResourceProperties"].get("Phase", "registration")
    if event["RequestType"] == "Create":
        assert "PhysicalResourceId" not in event
    else:
        assert PHYSICAL_ID[phase].fullmatch(event["PhysicalResourceId"]), event["PhysicalResourceId"]


def test_request_ids_are_unique():
    ids = [json.loads(path.read_text())["RequestId"] for path in EVENT_FILES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("vendor", sorted(MEMBER))
def test_every_custom_resource_of_every_template_has_events(vendor):
    custom = {name for name, resource in TEMPLATES[vendor]["Resources"].items() if resource["Type"].startswith("Custom::")}
    covered = {}
    for path in EVENT_FILES:
        event = json.loads(path.read_text())
        if event["ResourceProperties"]["Vendor"] == vendor:
            assert path.parent.name == vendor, f"{path}: a {vendor} event lives in events/{vendor}/"
            covered.setdefault(event["LogicalResourceId"], set()).add(event["RequestType"])
    assert set(covered) == custom
    for name, kinds in covered.items():
        assert kinds == {"Create", "Update", "Delete"}, (name, kinds)
