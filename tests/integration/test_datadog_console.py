"""Settings set in Datadog's console survive every stack Update, whatever Datadog's PATCH does
with the keys it leaves out of an object it is sent: each test runs under the emulator's three
PATCH semantics (`recorded`, the default, which replays what the recordings show; `merge`;
`replace`; see sandbox/datadog.py), through the real binary.

An Update reads the account config and sends each object it touches whole, Datadog's keys with
the stack's managed settings written over them (src/integrations/datadog/overlay.rs), so:
- what the console set and the stack does not manage is what Datadog holds after the Update,
- what the stack manages is what it says, even if the console changed it meanwhile,
- every request keeps to Datadog's OpenAPI description (checked after every test, conftest.py).
"""

from __future__ import annotations

import pytest

from contract import answered

ACCOUNT = "123456789012"
FORWARDER = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:DatadogForwarder"
SEMANTICS = ["recorded", "merge", "replace"]

# What a platform team sets in Datadog's console (shapes of the Terraform provider's recording
# TestAccIntegrationAwsAccount_RoleBased and the v2 models).
CONSOLE_METRIC_NAME_FILTERS = [{"namespace": "AWS/EC2", "include_only": ["aws.ec2.network_in"]},
                               {"namespace": "AWS/RDS", "exclude_only": ["aws.rds.aurora*"]}]
CONSOLE_LOG_TAG_FILTERS = [{"source": "s3", "tags": ["env:console"]}]


def console_edit(sb, config_id: str) -> None:
    """The console sets automute, metric name filters, log-source tag filters and extended
    collection, and changes a managed setting (the log sources) too."""
    [held] = [a for a in sb.datadog.accounts() if a["id"] == config_id]
    a = held["attributes"]
    metrics = dict(a["metrics_config"], automute_enabled=False, metric_name_filters=CONSOLE_METRIC_NAME_FILTERS)
    forwarder = dict(a["logs_config"]["lambda_forwarder"], sources=["cloudtrail"],
                     log_source_config={"tag_filters": CONSOLE_LOG_TAG_FILTERS})
    resources = dict(a["resources_config"], extended_collection=False)
    sb.datadog.edit_account(config_id, metrics_config=metrics, logs_config={"lambda_forwarder": forwarder},
                            resources_config=resources)


@pytest.mark.parametrize("semantics", SEMANTICS)
def test_console_settings_survive_an_update_that_changes_managed_ones(sandbox, semantics):
    sb = sandbox
    sb.datadog.set_patch_semantics(semantics)
    secret = sb.datadog_secret()
    stack = sb.stack()
    fn = sb.function()
    # The stack manages regions, custom metrics, the forwarder's Lambdas and sources, and CSPM;
    # not automute, metric name filters, log-source tag filters or extended collection.
    first = sb.datadog_props(secret, DisableResourceCollection=None, Regions=["us-east-1"],
                             CollectCustomMetrics="false", LogForwarderArns=[FORWARDER], LogSources=["s3"])
    created = answered(fn.invoke(stack.create(first)), "SUCCESS")
    [reg] = sb.datadog.accounts()
    console_edit(sb, reg["id"])

    changed = sb.datadog_props(secret, DisableResourceCollection=None, Regions=["us-east-1", "eu-west-1"],
                               CollectCustomMetrics="true", LogForwarderArns=[FORWARDER], LogSources=["s3", "lambda"],
                               CloudSecurityPostureManagement="false")
    answered(fn.invoke(stack.update(created["PhysicalResourceId"], changed, first)), "SUCCESS")
    [reg] = sb.datadog.accounts()
    a = reg["attributes"]
    # What the console set survives...
    assert a["metrics_config"]["automute_enabled"] is False
    assert a["metrics_config"]["metric_name_filters"] == CONSOLE_METRIC_NAME_FILTERS
    assert a["logs_config"]["lambda_forwarder"]["log_source_config"] == {"tag_filters": CONSOLE_LOG_TAG_FILTERS}
    assert a["resources_config"]["extended_collection"] is False
    # ... and the managed settings converge, the console's change of one of them included.
    assert a["aws_regions"] == {"include_only": ["us-east-1", "eu-west-1"]}
    assert a["metrics_config"]["collect_custom_metrics"] is True
    assert a["metrics_config"]["enabled"] is True
    assert a["logs_config"]["lambda_forwarder"]["lambdas"] == [FORWARDER]
    assert a["logs_config"]["lambda_forwarder"]["sources"] == ["s3", "lambda"]
    assert a["resources_config"]["cloud_security_posture_management_collection"] is False
    # The Update read the account first and sent the objects it touched whole.
    methods = [r.method for r in sb.datadog.requests_matching("*", "/api/v2/integration/aws/accounts/")]
    assert methods == ["GET", "PATCH"]


@pytest.mark.parametrize("semantics", SEMANTICS)
def test_managed_filters_converge_and_the_forwarder_keeps_what_the_stack_does_not_manage(sandbox, semantics):
    sb = sandbox
    sb.datadog.set_patch_semantics(semantics)
    secret = sb.datadog_secret()
    stack = sb.stack()
    fn = sb.function()
    props = sb.datadog_props(secret, MetricNameFilters=["AWS/EC2:aws.ec2.cpu*"], LogSourceTagFilters=["s3:env:prod"])
    created = answered(fn.invoke(stack.create(props)), "SUCCESS")
    [reg] = sb.datadog.accounts()
    a = reg["attributes"]
    assert a["metrics_config"]["metric_name_filters"] == [{"namespace": "AWS/EC2", "include_only": ["aws.ec2.cpu*"]}]
    assert a["logs_config"]["lambda_forwarder"]["log_source_config"] == {
        "tag_filters": [{"source": "s3", "tags": ["env:prod"]}]}
    # The console changes both managed filters and sets what the stack leaves alone.
    sb.datadog.edit_account(reg["id"], metrics_config=dict(a["metrics_config"], automute_enabled=False,
                                                           metric_name_filters=CONSOLE_METRIC_NAME_FILTERS),
                            logs_config={"lambda_forwarder": {"lambdas": [FORWARDER], "sources": ["elb"],
                                                              "log_source_config": {"tag_filters": CONSOLE_LOG_TAG_FILTERS}}})
    new = sb.datadog_props(secret, MetricNameFilters=["AWS/RDS:!aws.rds.aurora*"], LogSourceTagFilters=["elb:team:web"])
    answered(fn.invoke(stack.update(created["PhysicalResourceId"], new, props)), "SUCCESS")
    [reg] = sb.datadog.accounts()
    a = reg["attributes"]
    assert a["metrics_config"]["metric_name_filters"] == [{"namespace": "AWS/RDS", "exclude_only": ["aws.rds.aurora*"]}]
    assert a["metrics_config"]["automute_enabled"] is False
    assert a["logs_config"]["lambda_forwarder"] == {
        "lambdas": [FORWARDER], "sources": ["elb"],
        "log_source_config": {"tag_filters": [{"source": "elb", "tags": ["team:web"]}]}}


def test_a_bad_filter_fails_naming_the_property_before_any_key_is_read(sandbox):
    sb = sandbox
    missing = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:absent-AbCdEf"
    for name, value in [("MetricNameFilters", ["AWS/EC2:aws.ec2.cpu", "AWS/EC2:!aws.ec2.disk"]),
                        ("LogSourceTagFilters", ["s3"])]:
        failed = answered(sb.invoke(sb.stack().create(sb.datadog_props(missing, **{name: value}))), "FAILED")
        assert failed["Reason"].startswith(f"The {name} property "), failed["Reason"]
    assert sb.datadog.requests_matching() == []


def test_an_unknown_field_in_what_datadog_holds_is_sent_back_and_fails_the_spec_check(sandbox):
    """A field Datadog answers that the spec (and Registrar) does not know is kept as Datadog
    answered it; the emulator's check against the spec notices it in the PATCH (the check that
    makes every other test fail on a field the API does not define)."""
    sb = sandbox
    secret = sb.datadog_secret()
    stack = sb.stack()
    fn = sb.function()
    props = sb.datadog_props(secret, CollectCustomMetrics="true")
    created = answered(fn.invoke(stack.create(props)), "SUCCESS")
    [reg] = sb.datadog.accounts()
    sb.datadog.edit_account(reg["id"], metrics_config=dict(reg["attributes"]["metrics_config"], future_field={"x": 1}))
    answered(fn.invoke(stack.update(created["PhysicalResourceId"], props, props)), "SUCCESS")
    sent = sb.datadog.requests_matching("PATCH")[-1].json()["data"]["attributes"]["metrics_config"]
    assert sent["future_field"] == {"x": 1}, "kept as Datadog answered it"
    violations = sb.datadog.take_spec_violations()
    unknown = [v for v in violations if v.unknown_field and v.body == "request"]
    assert [v.operation for v in unknown] == ["update_aws_account"], violations
    assert "'future_field' was unexpected" in unknown[0].message
