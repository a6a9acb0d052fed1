"""Access-key registrations through the real binary (`AuthType: access-keys`): an AWS China stack
and a GovCloud stack on a commercial Datadog site register with an IAM user's key read from a
secret in the member account; the key never appears in a log or a response; a rotation leaves
Datadog holding only the new key; changing AuthType replaces the registration; a Delete needs no
key; access keys are refused where Datadog does not offer them."""

from __future__ import annotations

import json

import pytest

from contract import MARKER_PREFIX, answered

ACCOUNT = "123456789012"
OLD_KEY = ("AKIAOLDKEY00000001", "old/secret+key/wJalrXUtnFEMIK7MDENG")
NEW_KEY = ("AKIANEWKEY00000002", "new/secret+key/bPxRfiCYEXAMPLEKEY")

PLACES = {
    "aws-cn": "cn-north-1",
    "aws-us-gov": "us-gov-west-1",
}


def key_secret(sb, region: str, key: tuple[str, str]) -> str:
    sb.add_secret_value(f"IAM user secret key {key[0]}", key[1])
    return sb.aws.create_secret({"access_key_id": key[0], "secret_access_key": key[1]}, region=region)


def put_key(sb, arn: str, region: str, key: tuple[str, str]) -> None:
    sb.add_secret_value(f"IAM user secret key {key[0]}", key[1])
    sb.aws.client("secretsmanager", region).put_secret_value(
        SecretId=arn, SecretString=json.dumps({"access_key_id": key[0], "secret_access_key": key[1]}))


def key_props(sb, region: str, key_arn: str, key_id: str | None, **more):
    return sb.datadog_props(sb.datadog_secret(region), RoleName=None, AuthType="access-keys",
                            AccessKeySecretArn=key_arn, AccessKeyId=key_id, **more)


@pytest.mark.parametrize("partition", sorted(PLACES))
def test_an_access_key_account_registers_and_rotates_without_a_deleted_key_at_datadog(sandbox, partition):
    sb = sandbox
    region = PLACES[partition]
    stack = sb.stack(partition=partition, region=region)
    key_arn = key_secret(sb, region, OLD_KEY)
    props = key_props(sb, region, key_arn, OLD_KEY[0], Site="datadoghq.com")
    fn = sb.function()
    created = answered(fn.invoke(stack.create(props)), "SUCCESS")
    data = created["Data"]
    assert data["AuthType"] == "access-keys"
    assert data["PrincipalAccountId"] == "" and data["ExternalId"] == "", "no role to trust"
    [reg] = sb.datadog.accounts()
    assert reg["attributes"]["aws_partition"] == partition
    assert reg["attributes"]["auth_config"] == {"access_key_id": OLD_KEY[0]}, "the secret key is never answered"
    assert sb.datadog.held_key(reg["id"]) == OLD_KEY
    assert "role_name" not in json.dumps(sb.datadog.requests_matching("POST")[-1].json())

    # Rotation: CloudFormation creates the new key and writes it into the secret, then the
    # Update registers it (the old key is deleted only afterwards, in the cleanup).
    put_key(sb, key_arn, region, NEW_KEY)
    rotated = dict(props, AccessKeyId=NEW_KEY[0])
    updated = answered(fn.invoke(stack.update(created["PhysicalResourceId"], rotated, props)), "SUCCESS")
    assert updated["PhysicalResourceId"] == created["PhysicalResourceId"], "rotation is in place"
    [reg] = sb.datadog.accounts()
    assert sb.datadog.held_key(reg["id"]) == NEW_KEY, "Datadog holds only the new key"
    assert sb.leaks() == []


def test_a_secret_that_still_holds_the_old_key_is_refused_before_datadog_is_called(sandbox):
    sb = sandbox
    region = PLACES["aws-cn"]
    stack = sb.stack(partition="aws-cn", region=region)
    key_arn = key_secret(sb, region, OLD_KEY)
    props = key_props(sb, region, key_arn, OLD_KEY[0])
    fn = sb.function()
    created = answered(fn.invoke(stack.create(props)), "SUCCESS")
    mark = len(sb.datadog.requests)
    rotated = dict(props, AccessKeyId=NEW_KEY[0])
    failed = answered(fn.invoke(stack.update(created["PhysicalResourceId"], rotated, props)), "FAILED")
    assert NEW_KEY[0] in failed["Reason"] and "AccessKeyId" in failed["Reason"], failed["Reason"]
    assert sb.datadog.requests[mark:] == []
    [reg] = sb.datadog.accounts()
    assert sb.datadog.held_key(reg["id"]) == OLD_KEY
    assert sb.leaks() == []


def test_changing_auth_type_replaces_the_registration(sandbox):
    sb = sandbox
    region = PLACES["aws-us-gov"]
    stack = sb.stack(partition="aws-us-gov", region=region)
    role_props = sb.datadog_props(sb.datadog_secret(region), Site="ddog-gov.com")
    fn = sb.function()
    created = answered(fn.invoke(stack.create(role_props)), "SUCCESS")
    assert created["Data"]["AuthType"] == "role" and created["Data"]["PrincipalAccountId"] == "065115117704"
    key_arn = key_secret(sb, region, OLD_KEY)
    props = key_props(sb, region, key_arn, OLD_KEY[0], Site="ddog-gov.com")
    updated = answered(fn.invoke(stack.update(created["PhysicalResourceId"], props, role_props)), "SUCCESS")
    assert updated["PhysicalResourceId"] != created["PhysicalResourceId"], "a replacement: a new id"
    assert updated["Data"]["RegistrationId"] != created["Data"]["RegistrationId"]
    [reg] = sb.datadog.accounts()
    assert reg["id"] == updated["Data"]["RegistrationId"] and sb.datadog.held_key(reg["id"]) == OLD_KEY
    assert "short gap in monitoring" in fn.output_text()
    # CloudFormation's cleanup deletes the old id: already gone, success, the new one stays.
    answered(fn.invoke(stack.delete(created["PhysicalResourceId"], role_props)), "SUCCESS")
    assert [a["id"] for a in sb.datadog.accounts()] == [reg["id"]]
    assert sb.leaks() == []


def test_a_delete_reads_no_key(sandbox):
    sb = sandbox
    region = PLACES["aws-cn"]
    stack = sb.stack(partition="aws-cn", region=region)
    key_arn = key_secret(sb, region, OLD_KEY)
    props = key_props(sb, region, key_arn, OLD_KEY[0])
    fn = sb.function()
    created = answered(fn.invoke(stack.create(props)), "SUCCESS")
    sb.aws.client("secretsmanager", region).delete_secret(SecretId=key_arn, ForceDeleteWithoutRecovery=True)
    answered(fn.invoke(stack.delete(created["PhysicalResourceId"], props)), "SUCCESS")
    assert sb.datadog.accounts() == []


@pytest.mark.parametrize("partition,site,auth,name", [
    ("aws", "datadoghq.com", "access-keys", "AuthType"),
    ("aws-cn", "datadoghq.com", "role", None),
    ("aws-us-gov", "datadoghq.com", "role", None),
])
def test_each_partition_gets_the_auth_datadog_offers_it(sandbox, partition, site, auth, name):
    sb = sandbox
    region = {"aws": "us-east-1", **PLACES}[partition]
    stack = sb.stack(partition=partition, region=region)
    missing = f"arn:{partition}:secretsmanager:{region}:{ACCOUNT}:secret:absent-AbCdEf"
    props = sb.datadog_props(missing, Site=site, AuthType=auth)
    if auth == "access-keys":
        props["AccessKeySecretArn"] = missing
    failed = answered(sb.invoke(stack.create(props)), "FAILED")
    reason = failed["Reason"]
    if name:
        assert reason.startswith(f"The {name} property "), reason
    else:
        assert "AuthType to access-keys" in reason or "AuthType access-keys" in reason, reason
    assert failed["PhysicalResourceId"].startswith(MARKER_PREFIX)
    assert sb.datadog.requests_matching() == []
