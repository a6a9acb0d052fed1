"""The switch of a StackSet from the legacy single template (template.yaml of earlier releases)
to its vendor's member template, through the real binary: the custom resources' properties
before (the legacy template's) and after (the member template's) are evaluated from the
templates themselves, with the interpreter and the migration table of tests/template. They are
equal, so CloudFormation sends nothing; and were it to send an Update, the function keeps the
PhysicalResourceId and the vendor sees no Delete and no new registration (Datadog's Update
PATCHes the same settings onto the same integration)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "template"))

from cfn import LEGACY, MEMBER, Stack, load  # noqa: E402
from contract import answered  # noqa: E402
from dynatrace_events import account_configs, role_arn, role_of  # noqa: E402
from migration import migrate  # noqa: E402


def properties(path, logical_id, stack, parameters, **attributes):
    """The ResourceProperties a stack of `path` with `parameters` sends for `logical_id` (the
    sandbox's events.Stack adds ServiceToken and ServiceTimeout); GetAtt of another resource
    becomes `attributes[<its logical id>]`."""
    template = Stack(load(path), region=stack.region, stack_name=stack.name, **parameters)
    template.values["AWS::AccountId"] = stack.account
    props = template.resources()[logical_id]["Properties"]
    assert props.pop("ServiceToken") == {"Fn::GetAtt": ["Function", "Arn"]}
    assert props.pop("ServiceTimeout") == stack.service_timeout
    for key, value in list(props.items()):
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            props[key] = attributes[value["Fn::GetAtt"][0]]
    return props


def creates_or_deletes(requests, mark):
    """The vendor requests since `mark` that create or delete something (a PATCH of the same
    settings, as Datadog's Update sends, changes neither the registration nor its id)."""
    return [(r.method, r.path) for r in requests[mark:] if r.method in ("POST", "PUT", "DELETE")]


def test_a_datadog_stack_set_switching_templates_keeps_its_registration(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    stack = sb.stack()
    fn = sb.function()
    legacy = {"Vendor": "datadog", "SecretArn": arn, "DatadogSite": "datadoghq.com", "IAMRoleName": "acme-datadog",
              "DatadogRegions": "us-east-1,eu-west-1", "DatadogAutomuteEnabled": "false", "OnDeleteError": "retain",
              "EnvironmentUrl": "", "HomeRegion": ""}
    (member, parameters), = migrate(legacy).items()
    assert member == MEMBER["datadog"] and "Vendor" not in parameters and "EnvironmentUrl" not in parameters
    before = properties(LEGACY, "VendorRegistration", stack, legacy)
    after = properties(member, "VendorRegistration", stack, parameters)
    assert after == before, "CloudFormation finds nothing to update"

    created = answered(fn.invoke(stack.create(before)), "SUCCESS")
    [registration] = sb.datadog.accounts()
    mark = len(sb.datadog.requests)
    updated = answered(fn.invoke(stack.update(created["PhysicalResourceId"], after, before)), "SUCCESS")
    assert updated["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert creates_or_deletes(sb.datadog.requests, mark) == [], "no Delete, no new registration at Datadog"
    [still] = sb.datadog.accounts()
    assert still["id"] == registration["id"]
    assert still["attributes"]["auth_config"] == registration["attributes"]["auth_config"], "same role, same external ID"

    # The stack of the member template still deregisters on its Delete.
    answered(fn.invoke(stack.delete(updated["PhysicalResourceId"], after)), "SUCCESS")
    assert sb.datadog.accounts() == []


def test_a_dynatrace_stack_set_with_ingest_switching_templates_keeps_its_connection(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    config = dt.add_monitoring_config("organisation template")
    arn = sb.dynatrace_secret()
    stack = sb.stack()
    fn = sb.function(sb.dynatrace_env())
    legacy = {"Vendor": "dynatrace", "SecretArn": arn, "EnvironmentUrl": f"https://{dt.environment_host}",
              "MonitoringConfigId": config, "HomeRegion": stack.region, "LogIngest": "true",
              "IngestSecretArn": "arn:aws:secretsmanager:us-east-1:111122223333:secret:registrar/dynatrace-ingest-AbCdEf",
              "SecretKmsKeyArn": "arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"}
    targets = migrate(legacy)
    parameters = targets[MEMBER["dynatrace"]]
    assert len(targets) == 2, "ingest moves to the ingest StackSet"
    assert not {"LogIngest", "IngestSecretArn", "Vendor"} & set(parameters)

    registration = stack.resource("DynatraceRegistration", "Custom::VendorRegistration")
    before = properties(LEGACY, "DynatraceRegistration", registration, legacy)
    after = properties(MEMBER["dynatrace"], "DynatraceRegistration", registration, parameters)
    assert after == before
    created = answered(fn.invoke(registration.create(before)), "SUCCESS")
    [connection] = dt.connections()
    oid = connection["objectId"]

    binding = stack.resource("DynatraceRoleBinding", "Custom::VendorRoleBinding")
    bound_before = properties(LEGACY, "DynatraceRoleBinding", binding, legacy, DynatraceRegistration=oid)
    bound_after = properties(MEMBER["dynatrace"], "DynatraceRoleBinding", binding, parameters, DynatraceRegistration=oid)
    assert bound_after == bound_before and bound_after["MonitoringConfigId"] == config
    bound = answered(fn.invoke(binding.create(bound_before)), "SUCCESS")
    [own] = account_configs(dt, oid)

    mark = len(dt.requests)
    updated = answered(fn.invoke(registration.update(created["PhysicalResourceId"], after, before)), "SUCCESS")
    rebound = answered(fn.invoke(binding.update(bound["PhysicalResourceId"], bound_after, bound_before)), "SUCCESS")
    assert updated["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert rebound["PhysicalResourceId"] == bound["PhysicalResourceId"]
    assert creates_or_deletes(dt.requests, mark) == [], "no Delete, no new connection or configuration at Dynatrace"
    assert [c["objectId"] for c in dt.connections()] == [oid] and role_of(dt.connection(oid)) == role_arn()
    assert account_configs(dt, oid) == [own]
