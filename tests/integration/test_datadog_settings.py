"""Datadog's collection settings through the real binary: each property is sent on Create,
changed by an Update, and held by the emulator in the recorded shapes; a setting the stack does
not manage keeps what Datadog's UI set; a managed one that drifted is repaired by the next
Update; bad values answer FAILED naming the property before any key is read."""

from __future__ import annotations

import pytest

from contract import MARKER_PREFIX, answered

ACCOUNT = "123456789012"
FORWARDER = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:DatadogForwarder"
OTHER_FORWARDER = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:DatadogForwarder2"

# property -> (Create value, Update value, path in the stored attributes, stored after Create,
# stored after Update). Shapes: DataDog/datadog-api-client-python's v2 models (aws_regions*,
# aws_metrics_config, aws_namespace_filters*, aws_namespace_tag_filter, aws_lambda_forwarder_config,
# x_ray_services_*) and the create cassette's recorded answer.
SETTINGS = {
    "Regions": (["us-east-1", "eu-west-1"], [], ("aws_regions",),
                {"include_only": ["us-east-1", "eu-west-1"]}, {"include_all": True}),
    "IncludeNamespaces": (["AWS/EC2"], ["AWS/EC2", "AWS/Lambda"], ("metrics_config", "namespace_filters"),
                          {"include_only": ["AWS/EC2"]}, {"include_only": ["AWS/EC2", "AWS/Lambda"]}),
    "ExcludeNamespaces": (["AWS/SQS"], ["AWS/Usage", "AWS/ElasticMapReduce"], ("metrics_config", "namespace_filters"),
                          {"exclude_only": ["AWS/SQS"]}, {"exclude_only": ["AWS/Usage", "AWS/ElasticMapReduce"]}),
    "MetricTagFilters": (["AWS/EC2:env:prod", "AWS/EC2:!region:us-east-1"], ["AWS/RDS:team:db"],
                         ("metrics_config", "tag_filters"),
                         [{"namespace": "AWS/EC2", "tags": ["env:prod", "!region:us-east-1"]}],
                         [{"namespace": "AWS/RDS", "tags": ["team:db"]}]),
    "AutomuteEnabled": ("false", "true", ("metrics_config", "automute_enabled"), False, True),
    "CollectCustomMetrics": ("true", "false", ("metrics_config", "collect_custom_metrics"), True, False),
    "CollectCloudWatchAlarms": ("true", "false", ("metrics_config", "collect_cloudwatch_alarms"), True, False),
    "LogForwarderArns": ([FORWARDER], [OTHER_FORWARDER], ("logs_config", "lambda_forwarder", "lambdas"),
                         [FORWARDER], [OTHER_FORWARDER]),
    "LogSources": (["s3", "lambda"], ["elb"], ("logs_config", "lambda_forwarder", "sources"),
                   ["s3", "lambda"], ["elb"]),
    "XRayServices": (["AWS/Lambda"], "all", ("traces_config", "xray_services"),
                     {"include_only": ["AWS/Lambda"]}, {"include_all": True}),
}


def at(attributes: dict, path: tuple[str, ...]):
    for key in path:
        attributes = attributes[key]
    return attributes


def sent(sb, method: str) -> dict:
    return sb.datadog.requests_matching(method)[-1].json()["data"]["attributes"]


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_each_setting_is_sent_on_create_changed_by_update_and_held(sandbox, name):
    sb = sandbox
    first, second, path, held_first, held_second = SETTINGS[name]
    stack = sb.stack()
    secret = sb.datadog_secret()
    props = sb.datadog_props(secret, **{name: first})
    fn = sb.function()
    created = answered(fn.invoke(stack.create(props)), "SUCCESS")
    assert at(sent(sb, "POST"), path) == held_first, "Create sends it"
    [reg] = sb.datadog.accounts()
    assert at(reg["attributes"], path) == held_first, "Datadog holds it"

    new = sb.datadog_props(secret, **{name: second})
    answered(fn.invoke(stack.update(created["PhysicalResourceId"], new, props)), "SUCCESS")
    assert at(sent(sb, "PATCH"), path) == held_second, "Update sends the new value"
    [reg] = sb.datadog.accounts()
    assert at(reg["attributes"], path) == held_second, "Datadog holds the new value"
    assert sb.leaks() == []


def test_unmanaged_settings_keep_what_the_ui_set_and_managed_ones_are_repaired(sandbox):
    sb = sandbox
    stack = sb.stack()
    secret = sb.datadog_secret()
    props = sb.datadog_props(secret, Regions=["us-east-1"], LogSources=["s3"])
    fn = sb.function()
    created = answered(fn.invoke(stack.create(props)), "SUCCESS")
    sent_first = sent(sb, "POST")
    for unmanaged in ("traces_config",):
        assert unmanaged not in sent_first, "an unmanaged setting is never sent"
    assert set(sent_first["metrics_config"]) == {"enabled"}
    [reg] = sb.datadog.accounts()
    # Someone edits the account in Datadog's UI: settings the stack does not manage, and a
    # managed one (regions), and the half of the log forwarder the stack does not manage.
    ui_metrics = dict(reg["attributes"]["metrics_config"], automute_enabled=False, collect_custom_metrics=True,
                      namespace_filters={"include_only": ["AWS/EC2"]},
                      tag_filters=[{"namespace": "AWS/EC2", "tags": ["env:ui"]}])
    sb.datadog.edit_account(
        reg["id"],
        metrics_config=ui_metrics,
        traces_config={"xray_services": {"include_all": True}},
        aws_regions={"include_all": True},
        logs_config={"lambda_forwarder": {"lambdas": [FORWARDER], "sources": ["cloudtrail"]}},
    )
    answered(fn.invoke(stack.update(created["PhysicalResourceId"], props, props)), "SUCCESS")
    [reg] = sb.datadog.accounts()
    a = reg["attributes"]
    assert a["aws_regions"] == {"include_only": ["us-east-1"]}, "a managed setting's drift is repaired"
    assert a["logs_config"]["lambda_forwarder"] == {"lambdas": [FORWARDER], "sources": ["s3"]}, \
        "the managed half is repaired, the UI's forwarder kept"
    assert a["traces_config"] == {"xray_services": {"include_all": True}}
    m = a["metrics_config"]
    assert (m["automute_enabled"], m["collect_custom_metrics"]) == (False, True)
    assert m["namespace_filters"] == {"include_only": ["AWS/EC2"]}
    assert m["tag_filters"] == [{"namespace": "AWS/EC2", "tags": ["env:ui"]}]

    # Removing a property stops managing it: the value stays as it is.
    unmanaged = sb.datadog_props(secret, LogSources=["s3"])
    answered(fn.invoke(stack.update(created["PhysicalResourceId"], unmanaged, props)), "SUCCESS")
    assert "aws_regions" not in sent(sb, "PATCH")
    [reg] = sb.datadog.accounts()
    assert reg["attributes"]["aws_regions"] == {"include_only": ["us-east-1"]}


def test_a_new_account_gets_datadogs_defaults_for_what_the_stack_does_not_manage(sandbox):
    sb = sandbox
    answered(sb.invoke(sb.stack().create(sb.datadog_props(sb.datadog_secret()))), "SUCCESS")
    body = sent(sb, "POST")
    for absent in ("aws_regions", "logs_config", "traces_config"):
        assert absent not in body
    [reg] = sb.datadog.accounts()
    assert reg["attributes"]["aws_regions"] == {"include_all": True}
    assert reg["attributes"]["traces_config"] == {"xray_services": {"include_only": []}}


@pytest.mark.parametrize("props,partition,name", [
    ({"Regions": ["eu-west-1"]}, "aws-cn", "Regions"),
    ({"Regions": ["us-gov-west-1"]}, "aws", "Regions"),
    ({"IncludeNamespaces": ["AWS/EC2"], "ExcludeNamespaces": ["AWS/SQS"]}, "aws", "IncludeNamespaces"),
    ({"MetricTagFilters": ["AWS/EC2"]}, "aws", "MetricTagFilters"),
    ({"LogForwarderArns": [f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f"]}, "aws-us-gov", "LogForwarderArns"),
    ({"LogForwarderArns": ["arn:aws:sqs:us-east-1:123456789012:queue"]}, "aws", "LogForwarderArns"),
    ({"XRayServices": ["all", "AWS/Lambda"]}, "aws", "XRayServices"),
])
def test_bad_values_fail_naming_the_property_before_any_key_is_read(sandbox, props, partition, name):
    sb = sandbox
    region = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}[partition]
    stack = sb.stack(partition=partition, region=region)
    site = "ddog-gov.com" if partition == "aws-us-gov" else "datadoghq.com"
    # A secret that does not exist: reading it would fail with another message.
    missing = f"arn:{partition}:secretsmanager:{region}:{ACCOUNT}:secret:absent-AbCdEf"
    failed = answered(sb.invoke(stack.create(sb.datadog_props(missing, Site=site, **props))), "FAILED")
    assert failed["Reason"].startswith(f"The {name} property "), failed["Reason"]
    assert failed["PhysicalResourceId"].startswith(MARKER_PREFIX)
    assert sb.datadog.requests_matching() == []
