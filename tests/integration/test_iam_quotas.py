"""The sandbox's IAM quota layer (`sandbox/iam_quotas.py`), through boto3 against the sandbox's
moto: each limit IAM documents is refused one character (or one policy) over it, with IAM's
error code, HTTP status and message, and accepted at it. Sources: the IAM User Guide's "IAM and
AWS STS quotas" page and the IAM API Reference (cited beside each limit in the layer)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from sandbox.iam_quotas import (ATTACHED_POLICIES_LIMIT, MANAGED_POLICY_LIMIT, ROLE_INLINE_LIMIT,
                                TRUST_POLICY_LIMIT, USER_INLINE_LIMIT, size)

TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::464622532012:root"}, "Action": "sts:AssumeRole"}]}


@pytest.fixture
def iam(moto):
    moto.reset()
    return moto.client("iam")


def sized(n: int, pretty: bool = False) -> str:
    """A policy document of exactly `n` characters as IAM counts them (white space not counted)."""
    def text(action: str) -> str:
        doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [action], "Resource": "*"}]}
        return json.dumps(doc, indent=4 if pretty else None, separators=None if pretty else (",", ":"))
    base = size(text("a:"))
    out = text("a:" + "B" * (n - base))
    assert size(out) == n
    return out


def refused(call, code: str, status: int) -> str:
    with pytest.raises(ClientError) as err:
        call()
    assert err.value.response["Error"]["Code"] == code, err.value.response
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    return err.value.response["Error"]["Message"]


def test_a_roles_inline_policies_may_total_10240_characters_and_no_more(iam):
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.put_role_policy(RoleName="r", PolicyName="a", PolicyDocument=sized(6000))
    message = refused(lambda: iam.put_role_policy(RoleName="r", PolicyName="b",
                                                  PolicyDocument=sized(ROLE_INLINE_LIMIT - 6000 + 1)),
                      "LimitExceeded", 409)
    assert message == "Maximum policy size of 10240 bytes exceeded for role r"
    # White space is not counted; at the limit is fine; replacing a policy counts it once.
    iam.put_role_policy(RoleName="r", PolicyName="b", PolicyDocument=sized(ROLE_INLINE_LIMIT - 6000, pretty=True))
    iam.put_role_policy(RoleName="r", PolicyName="a", PolicyDocument=sized(6000))
    assert sorted(iam.list_role_policies(RoleName="r")["PolicyNames"]) == ["a", "b"]


def test_a_users_inline_policies_may_total_2048_characters_and_no_more(iam):
    iam.create_user(UserName="u")
    message = refused(lambda: iam.put_user_policy(UserName="u", PolicyName="a",
                                                  PolicyDocument=sized(USER_INLINE_LIMIT + 1)),
                      "LimitExceeded", 409)
    assert message == "Maximum policy size of 2048 bytes exceeded for user u"
    iam.put_user_policy(UserName="u", PolicyName="a", PolicyDocument=sized(USER_INLINE_LIMIT))
    refused(lambda: iam.put_user_policy(UserName="u", PolicyName="b", PolicyDocument=sized(100)), "LimitExceeded", 409)


def test_a_managed_policy_may_hold_6144_characters_and_no_more(iam):
    for call in (lambda doc: iam.create_policy(PolicyName="p2", PolicyDocument=doc),):
        message = refused(lambda: call(sized(MANAGED_POLICY_LIMIT + 1)), "LimitExceeded", 409)
        assert message == "Cannot exceed quota for PolicySize: 6144"
    arn = iam.create_policy(PolicyName="p", PolicyDocument=sized(MANAGED_POLICY_LIMIT, pretty=True))["Policy"]["Arn"]
    refused(lambda: iam.create_policy_version(PolicyArn=arn, PolicyDocument=sized(MANAGED_POLICY_LIMIT + 1)),
            "LimitExceeded", 409)
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=sized(MANAGED_POLICY_LIMIT), SetAsDefault=True)


@pytest.mark.parametrize("kind", ["role", "user"])
def test_ten_managed_policies_may_be_attached_and_no_more(iam, kind):
    if kind == "role":
        iam.create_role(RoleName="h", AssumeRolePolicyDocument=json.dumps(TRUST))
        attach = lambda arn: iam.attach_role_policy(RoleName="h", PolicyArn=arn)  # noqa: E731
    else:
        iam.create_user(UserName="h")
        attach = lambda arn: iam.attach_user_policy(UserName="h", PolicyArn=arn)  # noqa: E731
    arns = [iam.create_policy(PolicyName=f"p{i}", PolicyDocument=sized(100))["Policy"]["Arn"]
            for i in range(ATTACHED_POLICIES_LIMIT + 1)]
    for arn in arns[:ATTACHED_POLICIES_LIMIT]:
        attach(arn)
    attach(arns[0])  # attaching what is attached changes nothing
    message = refused(lambda: attach(arns[-1]), "LimitExceeded", 409)
    per = "PoliciesPerRole" if kind == "role" else "PoliciesPerUser"
    assert message == f"Cannot exceed quota for {per}: 10"


def test_a_trust_policy_may_hold_2048_characters(iam):
    message = refused(lambda: iam.create_role(RoleName="r", AssumeRolePolicyDocument=sized(TRUST_POLICY_LIMIT + 1)),
                      "LimitExceeded", 409)
    assert "ACLSizePerRole: 2048" in message
    padded = dict(TRUST, Id="x" * (TRUST_POLICY_LIMIT - size(json.dumps(TRUST)) - len('"Id":"",')))
    assert size(json.dumps(padded)) == TRUST_POLICY_LIMIT
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(padded))


def test_names_paths_and_document_characters_are_iams(iam):
    trust = json.dumps(TRUST)
    assert "64" in refused(lambda: iam.create_role(RoleName="r" * 65, AssumeRolePolicyDocument=trust),
                           "ValidationError", 400)
    iam.create_role(RoleName="r" * 64, AssumeRolePolicyDocument=trust)
    assert "64" in refused(lambda: iam.create_user(UserName="u" * 65), "ValidationError", 400)
    iam.create_user(UserName="u" * 64)
    refused(lambda: iam.create_user(UserName="a/b"), "ValidationError", 400)
    assert "128" in refused(lambda: iam.create_policy(PolicyName="p" * 129, PolicyDocument=sized(100)),
                            "ValidationError", 400)
    iam.create_policy(PolicyName="p" * 128, PolicyDocument=sized(100))
    refused(lambda: iam.put_role_policy(RoleName="r" * 64, PolicyName="q" * 129, PolicyDocument=sized(100)),
            "ValidationError", 400)
    assert "512" in refused(lambda: iam.create_user(UserName="v", Path="/" + "p" * 511 + "/"), "ValidationError", 400)
    iam.create_user(UserName="v", Path="/" + "p" * 510 + "/")
    refused(lambda: iam.create_user(UserName="w", Path="no-slashes"), "ValidationError", 400)
    # Policy documents: U+0009, U+000A, U+000D and U+0020..U+00FF only.
    outside = sized(100).replace("BBB", "B\u0100B")
    assert "regular expression" in refused(
        lambda: iam.put_role_policy(RoleName="r" * 64, PolicyName="q", PolicyDocument=outside), "ValidationError", 400)
    iam.put_role_policy(RoleName="r" * 64, PolicyName="q", PolicyDocument=sized(100).replace("BBB", "B\u00e9B"))
    # A document that is not a policy: moto's own validation answers as IAM does.
    refused(lambda: iam.create_policy(PolicyName="bad", PolicyDocument="{}"), "MalformedPolicyDocument", 400)


def test_an_action_may_not_name_its_service_by_wildcard(iam):
    # IAM refuses `*:Get*` (MalformedPolicyDocument); a boundary that reads "every service's
    # Get" must name each service.
    wildcard = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["*:Get*", "ec2:Describe*"], "Resource": "*"}]})
    message = refused(lambda: iam.create_policy(PolicyName="w", PolicyDocument=wildcard), "MalformedPolicyDocument", 400)
    assert "must not contain wildcards" in message
    iam.create_policy(PolicyName="w", PolicyDocument=wildcard.replace('"*:Get*", ', ""))
    iam.create_policy(PolicyName="star", PolicyDocument=wildcard.replace('"*:Get*"', '"*"'))
