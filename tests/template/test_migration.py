"""A StackSet of the legacy single template (legacy_template.yaml, the template.yaml of earlier
releases) that switches to the member template of its vendor (migration.migrate) keeps every
resource the member template has: the same logical id, type and resolved properties (so
CloudFormation neither replaces nor even updates the function, the roles, the access-key user
or the custom resources, and the vendor sees no Delete). Only Dynatrace's ingest resources leave
the member stack; the ingest StackSet creates them anew (docs/template.md, "Moving from
template.yaml"). tests/integration/test_template_switch.py runs the same switch through the binary."""

import copy

import pytest

from cfn import INGEST, LEGACY, MEMBER, Stack, load
from migration import INGEST_ONLY, migrate

DATADOG_ARN = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:registrar/datadog-AbCdEf"
DYNATRACE_ARN = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:registrar/dynatrace-AbCdEf"
INGEST_ARN = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:registrar/dynatrace-ingest-AbCdEf"
MRK_ARN = "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"
DT_URL = "https://abc12345.apps.dynatrace.com"
INGEST_RESOURCES = {"IngestKey", "LogBackupBucket", "LogDeliveryRole", "LogStream", "EventConnection", "EventDestination",
                    "EventDeliveryRole", "EventRule"}
# What this release changes on purpose, applied by any update of the stack, the switch or not
# (docs/permissions.md): the vendor principals' permissions boundaries are new; the roles, the
# user and the function's role change in place (PermissionsBoundary, ManagedPolicyArns and
# Policies of AWS::IAM::Role and AWS::IAM::User update with no interruption, CloudFormation's
# resource reference); the ingest key is now kept (an attribute, no update).
NEW_IN_THIS_RELEASE = {"DatadogPermissionsBoundary", "DynatracePermissionsBoundary"}
CHANGED_IN_THIS_RELEASE = {
    "FunctionRole": {"Policies"},
    "DatadogIntegrationRole": {"PermissionsBoundary", "ManagedPolicyArns"},
    "DatadogIntegrationUser": {"PermissionsBoundary", "ManagedPolicyArns"},
    "DynatraceMonitoringRole": {"PermissionsBoundary"},
    "IngestKey": {"DeletionPolicy", "UpdateReplacePolicy"},
}


def unchanged_part(logical_id, resource):
    """`resource` without what this release changes on purpose."""
    changed = CHANGED_IN_THIS_RELEASE.get(logical_id, set())
    out = {k: v for k, v in resource.items() if k not in changed}
    if "Properties" in out:
        out["Properties"] = {k: v for k, v in out["Properties"].items() if k not in changed}
    return out


# A packaged template's Code: the same uploaded zip before and after the switch.
PACKAGED_CODE = {"S3Bucket": "registrar-artifacts-111122223333-eu-west-1", "S3Key": "registrar/0123456789abcdef/bootstrap.zip"}

# (name, partition, region, the legacy StackSet's parameters)
LEGACY_STACKS = [
    ("datadog-default", "aws", "eu-west-1", {"SecretArn": DATADOG_ARN}),
    ("datadog-settings", "aws", "eu-west-1", {
        "Vendor": "datadog", "SecretArn": DATADOG_ARN, "DatadogSite": "datadoghq.eu", "IAMRoleName": "acme-datadog",
        "SecretRoleArn": "arn:aws:iam::111122223333:role/reader", "OnConflict": "adopt", "OnDeleteError": "retain",
        "DisableResourceCollection": "true", "DatadogRegions": "us-east-1,eu-west-1", "DatadogExcludeNamespaces": "AWS/SQS",
        "DatadogAutomuteEnabled": "false", "LogLevel": "DEBUG", "LogRetentionInDays": "30",
        # A Dynatrace value left in a Datadog StackSet: ignored before, dropped now.
        "EnvironmentUrl": DT_URL}),
    ("datadog-china-access-keys", "aws-cn", "cn-north-1", {
        "Vendor": "datadog", "DatadogAuthType": "access-keys", "DatadogAccessKeySerial": "3",
        "SecretArn": "arn:aws-cn:secretsmanager:cn-north-1:111122223333:secret:dd-AbCdEf"}),
    ("datadog-govcloud", "aws-us-gov", "us-gov-west-1", {
        "Vendor": "datadog", "DatadogSite": "ddog-gov.com", "SecretKmsKeyArn": MRK_ARN.replace("arn:aws:", "arn:aws-us-gov:"),
        "SecretArn": "arn:aws-us-gov:secretsmanager:us-gov-west-1:111122223333:secret:dd-AbCdEf"}),
    ("datadog-home-region-elsewhere", "aws", "us-east-1", {"SecretArn": DATADOG_ARN, "HomeRegion": "eu-west-1"}),
    ("dynatrace", "aws", "eu-west-1", {"Vendor": "dynatrace", "SecretArn": DYNATRACE_ARN, "EnvironmentUrl": DT_URL}),
    ("dynatrace-monitoring-config", "aws", "eu-west-1", {
        "Vendor": "dynatrace", "SecretArn": DYNATRACE_ARN, "EnvironmentUrl": "https://abc12345.sprint.apps.dynatracelabs.com",
        "MonitoringConfigId": "vu9U3hXa3q0AAAAB", "IAMRoleName": "acme-dynatrace", "SecretKmsKeyArn": MRK_ARN,
        # Datadog values left in a Dynatrace StackSet: ignored before, dropped now.
        "DatadogSite": "datadoghq.eu", "DisableMetricCollection": "true"}),
    ("dynatrace-ingest-home", "aws", "eu-west-1", {
        "Vendor": "dynatrace", "SecretArn": DYNATRACE_ARN, "EnvironmentUrl": DT_URL, "HomeRegion": "eu-west-1",
        "LogIngest": "true", "EventIngest": "true", "UseCustomerManagedKey": "true", "IngestSecretArn": INGEST_ARN,
        "SecretKmsKeyArn": MRK_ARN, "EventSources": "aws.health,aws.ec2"}),
    ("dynatrace-ingest-other-region", "aws", "ap-southeast-2", {
        "Vendor": "dynatrace", "SecretArn": DYNATRACE_ARN, "EnvironmentUrl": DT_URL, "HomeRegion": "eu-west-1",
        "LogIngest": "true", "IngestSecretArn": INGEST_ARN, "SecretKmsKeyArn": MRK_ARN}),
]


# Added to the ingest template after the split (Firehose error logging, docs/ingest.md).
NEW_INGEST_RESOURCES = {"LogErrorLogGroup", "LogErrorDestinationStream", "LogErrorBackupStream"}


def as_before(logical_id, resource):
    """An ingest resource with the changes made after the split undone, each named: the event
    connection's Api-Token scheme (the ingest token is an access token), Firehose's error
    logging and the key policy that lets CloudWatch Logs use the key for it, and the rule's
    event bus (EventBusName, whose default is the bus the legacy rule used)."""
    resource = copy.deepcopy(resource)
    props = resource["Properties"]
    if logical_id == "EventConnection":
        value = props["AuthParameters"]["ApiKeyAuthParameters"]
        assert value["ApiKeyValue"].startswith("Api-Token ")
        value["ApiKeyValue"] = "Bearer " + value["ApiKeyValue"].removeprefix("Api-Token ")
    elif logical_id == "LogStream":
        destination = props["HttpEndpointDestinationConfiguration"]
        del destination["CloudWatchLoggingOptions"], destination["S3Configuration"]["CloudWatchLoggingOptions"]
    elif logical_id == "LogDeliveryRole":
        (policy,) = props["Policies"]
        statements = policy["PolicyDocument"]["Statement"]
        policy["PolicyDocument"]["Statement"] = [s for s in statements if s.get("Sid") != "WriteErrorLogs"]
    elif logical_id == "EventRule":
        assert props.pop("EventBusName") == "default"
    elif logical_id == "IngestKey":
        del props["KeyPolicy"]
        props["Description"] = "Registrar log ingest - encrypts the Firehose stream and its backup bucket."
    return resource


def packaged(resources):
    """Resources as CloudFormation compares them: Code is the uploaded zip's S3 location."""
    out = {}
    for name, resource in resources.items():
        resource = {k: v for k, v in resource.items() if k not in ("Metadata", "Condition")}
        if resource["Type"] == "AWS::Lambda::Function":
            resource["Properties"] = {**resource["Properties"], "Code": PACKAGED_CODE}
        out[name] = resource
    return out


@pytest.mark.parametrize("name, partition, region, legacy", LEGACY_STACKS, ids=[s[0] for s in LEGACY_STACKS])
def test_switching_templates_changes_nothing_the_member_template_keeps(name, partition, region, legacy):
    old_stack = Stack(load(LEGACY), partition=partition, region=region, **legacy)
    assert old_stack.rule_failures() == [], "a StackSet of the legacy template that deploys"
    old = packaged(old_stack.resources())
    targets = migrate(legacy)
    vendor = legacy.get("Vendor", "datadog")
    member_path = MEMBER[vendor]
    assert list(targets)[0] == member_path
    new_stack = Stack(load(member_path), partition=partition, region=region, **targets[member_path])
    assert new_stack.rule_failures() == []
    new = packaged(new_stack.resources())

    # What the member stack keeps, CloudFormation finds unchanged: no update, no replacement.
    for logical_id, resource in new.items():
        if logical_id == "NothingElseHere" and logical_id not in old:
            continue  # a region that only ingested: a no-op handle instead
        if logical_id in NEW_IN_THIS_RELEASE:
            continue
        assert logical_id in old, f"{logical_id} would be created by the switch"
        assert unchanged_part(logical_id, resource) == unchanged_part(logical_id, old[logical_id]), \
            f"{logical_id} would change: {old[logical_id]} -> {resource}"
    # Everything the vendor knows about stays: registrations, steps, roles, the user and its key.
    kept = {n for n, r in old.items() if r["Type"].startswith("Custom::") or r["Type"].startswith("AWS::IAM::")
            or r["Type"].startswith("AWS::Lambda::") or r["Type"] == "AWS::SecretsManager::Secret"}
    kept -= INGEST_RESOURCES
    assert kept <= set(new), kept - set(new)
    # Only ingest leaves the member stack, and the ingest stack of that region creates it anew.
    gone = set(old) - set(new)
    assert gone <= INGEST_RESOURCES, gone
    if gone:
        assert INGEST in targets
        ingest_stack = Stack(load(INGEST), partition=partition, region=region, **targets[INGEST])
        assert ingest_stack.rule_failures() == []
        ingest = packaged(ingest_stack.resources())
        assert set(ingest) - NEW_INGEST_RESOURCES == gone
        for logical_id in gone:
            assert unchanged_part(logical_id, as_before(logical_id, ingest[logical_id])) == \
                unchanged_part(logical_id, old[logical_id]), \
                f"ingest resource {logical_id} differs from the legacy one"
    else:
        assert not any(legacy.get(p, "false") == "true" for p in ("LogIngest", "EventIngest"))


def test_every_legacy_parameter_has_a_home():
    # Each parameter of the legacy template is taken by the member template of a vendor, or by the
    # ingest template; only Vendor (the template now says it) goes away.
    legacy = set(load(LEGACY)["Parameters"])
    taken = set().union(*(load(path)["Parameters"] for path in MEMBER.values()), load(INGEST)["Parameters"])
    assert legacy - taken == {"Vendor"}
    assert INGEST_ONLY <= set(load(INGEST)["Parameters"])
    assert not INGEST_ONLY & set().union(*(load(path)["Parameters"] for path in MEMBER.values()))


def test_the_check_sees_a_changed_property():
    # The comparison can fail: a template that renamed the Datadog role would change it.
    legacy = {"SecretArn": DATADOG_ARN}
    old = packaged(Stack(load(LEGACY), **legacy).resources())
    member = load(MEMBER["datadog"])
    member["Resources"]["DatadogIntegrationRole"]["Properties"]["Path"] = "/registrar/"
    new = packaged(Stack(member, **legacy).resources())
    assert new["DatadogIntegrationRole"] != old["DatadogIntegrationRole"]
    assert new["VendorRegistration"] == old["VendorRegistration"]
