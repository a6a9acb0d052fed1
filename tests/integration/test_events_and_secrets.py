"""Malformed events and secret handling: every problem becomes a FAILED answer with a clear
reason; the secret is read in its own region, optionally through an assumed role."""

from __future__ import annotations

import secrets

import pytest

from contract import MARKER_PREFIX, answered, is_ours, physical_id

ACCOUNT = "123456789012"


def test_an_unknown_request_type_is_answered_failed(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    stack = sb.stack()
    event = stack.event("Frobnicate", sb.datadog_props(arn))
    body = answered(sb.invoke(event), "FAILED")
    assert "Frobnicate" in body["Reason"] or "RequestType" in body["Reason"], body["Reason"]
    assert sb.datadog.requests == []


@pytest.mark.parametrize("case", ["no SecretArn", "no ResourceProperties", "unknown Vendor", "bad flag", "bad Site"])
def test_bad_properties_fail_the_create_with_a_clear_reason(sandbox, case):
    sb = sandbox
    arn = sb.datadog_secret()
    stack = sb.stack()
    props = sb.datadog_props(arn)
    expected_word = {
        "no SecretArn": "SecretArn", "no ResourceProperties": "ResourceProperties",
        "unknown Vendor": "Vendor", "bad flag": "DisableMetricCollection", "bad Site": "Site",
    }[case]
    if case == "no SecretArn":
        del props["SecretArn"]
        event = stack.create(props)
    elif case == "no ResourceProperties":
        event = stack.create(props)
        del event["ResourceProperties"]
    elif case == "unknown Vendor":
        event = stack.create(dict(props, Vendor="sumologic"))
    elif case == "bad flag":
        event = stack.create(dict(props, DisableMetricCollection="perhaps"))
    else:
        event = stack.create(dict(props, Site="datadoghq.org"))
    body = answered(sb.invoke(event), "FAILED")
    assert expected_word in body["Reason"], f"reason should name {expected_word}: {body['Reason']!r}"
    assert body["PhysicalResourceId"].startswith(MARKER_PREFIX)
    assert sb.datadog.mutating_requests() == []


def test_a_missing_secret_is_named_in_the_reason(sandbox):
    sb = sandbox
    missing = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:registrar/does-not-exist-AbCdEf"
    body = answered(sb.invoke(sb.stack().create(sb.datadog_props(missing))), "FAILED")
    assert missing in body["Reason"] or "registrar/does-not-exist" in body["Reason"], body["Reason"]
    assert body["PhysicalResourceId"].startswith(MARKER_PREFIX)
    assert sb.datadog.requests == []


def test_a_secret_without_the_app_key_is_reported_without_its_value(sandbox):
    sb = sandbox
    lone_key = secrets.token_hex(16)
    sb.add_secret_value("lone api_key", lone_key)
    arn = sb.aws.create_secret({"api_key": lone_key})
    body = answered(sb.invoke(sb.stack().create(sb.datadog_props(arn))), "FAILED")
    assert "app_key" in body["Reason"], body["Reason"]
    assert sb.datadog.requests == []


def test_keys_the_vendor_rejects_fail_with_the_vendor_reason(sandbox):
    sb = sandbox
    arn = sb.datadog_secret(api_key=secrets.token_hex(16), app_key=secrets.token_hex(20))
    body = answered(sb.invoke(sb.stack().create(sb.datadog_props(arn))), "FAILED")
    assert "403" in body["Reason"] or "Forbidden" in body["Reason"], body["Reason"]
    assert sb.datadog.counters.forbidden >= 1 and sb.datadog.accounts() == []


def test_the_secret_is_read_in_its_own_region(sandbox):
    sb = sandbox
    arn = sb.datadog_secret(region="eu-west-1")
    assert ":eu-west-1:" in arn
    fn = sb.function()
    assert fn.env["AWS_REGION"] == "us-east-1"
    answered(fn.invoke(sb.stack().create(sb.datadog_props(arn))), "SUCCESS")
    assert len(sb.datadog.accounts()) == 1


def test_secret_role_arn_is_assumed_before_reading_the_secret(sandbox):
    sb = sandbox
    central = "999988887777"
    role_arn = f"arn:aws:iam::{central}:role/registrar-secret-reader"
    central_creds = sb.aws.assume_role(role_arn, "setup")
    assert sb.aws.create_role("registrar-secret-reader", ACCOUNT, credentials=central_creds) == role_arn
    arn = sb.datadog_secret(credentials=central_creds)
    assert f":{central}:secret:" in arn

    # Without the role the member account cannot read the central secret (moto keeps accounts apart) ...
    stack = sb.stack()
    without = answered(sb.invoke(stack.create(sb.datadog_props(arn))), "FAILED")
    assert without["PhysicalResourceId"].startswith(MARKER_PREFIX)
    # ... with it, the registration succeeds.
    body = answered(sb.invoke(stack.create(sb.datadog_props(arn, SecretRoleArn=role_arn))), "SUCCESS")
    [reg] = sb.datadog.accounts()
    assert is_ours(reg) and body["Data"]["RegistrationId"] == reg["id"]
    assert reg["attributes"]["aws_account_id"] == ACCOUNT, "the member account is registered, not the central one"


def test_a_secret_role_that_cannot_be_assumed_fails_clearly(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    body = answered(sb.invoke(sb.stack().create(sb.datadog_props(arn, SecretRoleArn="not-a-role-arn"))), "FAILED")
    assert "SecretRoleArn" in body["Reason"] or "not-a-role-arn" in body["Reason"], body["Reason"]


def test_govcloud_registers_with_the_government_site_principal(sandbox):
    sb = sandbox
    gov = sb.datadog_site("ddog-gov.com")
    region = "us-gov-west-1"
    arn = sb.datadog_secret(region=region)
    assert arn.startswith("arn:aws-us-gov:")
    stack = sb.stack(region=region, partition="aws-us-gov")
    env = {"REGISTRAR_VENDOR_ENDPOINT": gov.url, "AWS_REGION": region, "AWS_DEFAULT_REGION": region}
    body = answered(sb.invoke(stack.create(sb.datadog_props(arn, Site="ddog-gov.com")), env), "SUCCESS")
    [reg] = gov.accounts()
    assert reg["attributes"]["aws_partition"] == "aws-us-gov"
    assert body["PhysicalResourceId"] == physical_id("ddog-gov.com", ACCOUNT, reg["id"], partition="aws-us-gov")
    # Datadog's GovCloud principal for US1-FED (Datadog's organisation template, Mappings.DdAccountIdBySite; DataDog/cloudformation-template issue #71).
    assert body["Data"]["PrincipalAccountId"] == "065115117704"


@pytest.mark.parametrize("partition,region,site", [
    ("aws-us-gov", "us-gov-west-1", "datadoghq.com"),  # a commercial site cannot reach GovCloud
    ("aws-cn", "cn-north-1", "datadoghq.com"),  # no Datadog site serves China
])
def test_a_partition_the_site_cannot_serve_fails_clearly(sandbox, partition, region, site):
    sb = sandbox
    arn = sb.datadog_secret(region=region)
    stack = sb.stack(region=region, partition=partition)
    env = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region}
    body = answered(sb.invoke(stack.create(sb.datadog_props(arn, Site=site)), env), "FAILED")
    assert partition in body["Reason"], body["Reason"]
    assert body["PhysicalResourceId"].startswith(MARKER_PREFIX)
    assert sb.datadog.requests == []


def test_a_misconfigured_function_answers_failed_instead_of_hanging(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    # Not a usable base URL (wrong scheme): the configuration problem is the reason of every answer.
    env = {"REGISTRAR_VENDOR_ENDPOINT": "ftp://127.0.0.1:9/"}
    body = answered(sb.invoke(sb.stack().create(sb.datadog_props(arn)), env), "FAILED")
    assert "REGISTRAR_VENDOR_ENDPOINT" in body["Reason"], body["Reason"]
    assert sb.datadog.requests == []
