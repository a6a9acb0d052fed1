"""cfn-lint over every template, for every region it deploys to, with no check ignored but W3002
(the function's local Code path, which packaging replaces).

Member templates and the foundation are linted for ALL_REGIONS: every region of every partition
cfn-lint knows, GovCloud and China included. The ingest template holds EventBridge API
destinations, which some regions lack; it is linted for exactly the aws partition's regions that
have every type it uses, and this test keeps that list exact."""

import json
import re

import pytest
from cfnlint.helpers import REGIONS

from cfn import INGEST, MEMBER, ROOT, TEMPLATES, Stack, cfn_lint, lint_specialised, load

ALL_REGIONS_TEMPLATES = sorted(MEMBER.values()) + [TEMPLATES / "foundation.yaml"]


def partition_of(region):
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if "-iso" in region:
        return "aws-iso"
    if region.startswith("eusc-"):
        return "aws-eusc"
    return "aws"


def lint_regions(path):
    return load(path)["Metadata"]["cfn-lint"]["config"]["regions"]


def test_all_regions_means_every_partition_registrar_supports():
    assert {"cn-north-1", "cn-northwest-1", "us-gov-west-1", "us-gov-east-1", "us-east-1"} <= set(REGIONS)
    assert {partition_of(r) for r in REGIONS} >= {"aws", "aws-cn", "aws-us-gov"}


def test_every_template_is_clean_in_its_regions():
    # Exactly `make lint`'s command: each template with the regions its Metadata names.
    assert sorted(TEMPLATES.glob("*.yaml")) == sorted(ALL_REGIONS_TEMPLATES + [INGEST]), "a new template: add it here"
    assert cfn_lint(*sorted(p.relative_to(ROOT) for p in TEMPLATES.glob("*.yaml"))) == (0, "")


@pytest.mark.parametrize("path", ALL_REGIONS_TEMPLATES, ids=lambda p: p.name)
def test_member_templates_and_the_foundation_are_clean_in_all_regions(path):
    assert lint_regions(path) == ["ALL_REGIONS"]
    assert cfn_lint("--regions", "ALL_REGIONS", "--", path) == (0, "")


def test_no_check_is_ignored_but_the_local_code_path():
    for path in TEMPLATES.glob("*.yaml"):
        ignored = re.findall(r"ignore_checks:\s*\[([^\]]*)\]", path.read_text())
        assert all(checks.strip() == "W3002" for checks in ignored), (path.name, ignored)


def test_the_ingest_templates_regions_are_exactly_those_with_its_resource_types():
    code, out = cfn_lint("--regions", "ALL_REGIONS", "--format", "parseable", "--", INGEST)
    findings = [line for line in out.splitlines() if line.strip()]
    missing = set()
    for line in findings:
        match = re.search(r":E3006:Resource type '(AWS::[A-Za-z:]+)' does not exist in '([a-z0-9-]+)'", line)
        assert match, f"only missing resource types may fail outside the template's regions: {line}"
        assert match[1].startswith("AWS::Events::"), line
        missing.add(match[2])
    assert code != 0 and missing, "the check must see the regions without API destinations"
    expected = [r for r in REGIONS if partition_of(r) == "aws" and r not in missing]
    assert lint_regions(INGEST) == expected
    assert cfn_lint("--", INGEST) == (0, "")


# --------------------------------------------------------------------------- every combination, linted

MEMBER_COMBINATIONS = {
    "datadog": [
        dict(),
        dict(IAMRoleName="acme", SecretRoleArn="arn:aws:iam::111122223333:role/reader"),
        dict(DisableResourceCollection="true", DatadogRegions="us-east-1", DatadogIncludeNamespaces="AWS/EC2"),
        dict(partition="aws-cn", DatadogAuthType="access-keys",
             SecretArn="arn:aws-cn:secretsmanager:cn-north-1:111122223333:secret:dd-AbCdEf"),
        dict(partition="aws-us-gov", DatadogSite="ddog-gov.com",
             SecretKmsKeyArn="arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234abcd-12ab"),
        dict(partition="aws-us-gov", DatadogAuthType="access-keys"),
        dict(HomeRegion="eu-west-1"),
    ],
    "dynatrace": [
        dict(EnvironmentUrl="https://abc12345.apps.dynatrace.com"),
        dict(EnvironmentUrl="https://abc12345.sprint.apps.dynatracelabs.com", MonitoringConfigId="abc-def",
             SecretKmsKeyArn="arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab"),
        dict(EnvironmentUrl="https://abc12345.apps.dynatrace.com", HomeRegion="eu-west-1"),
    ],
}
INGEST_REQUIRED = dict(EnvironmentUrl="https://abc12345.apps.dynatrace.com",
                       IngestSecretArn="arn:aws:secretsmanager:eu-west-1:111122223333:secret:registrar/dynatrace-ingest-AbCdEf",
                       SecretKmsKeyArn="arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab")
INGEST_COMBINATIONS = [dict(LogIngest="true"), dict(LogIngest="true", UseCustomerManagedKey="true"), dict(EventIngest="true"),
                       dict(LogIngest="true", EventIngest="true", UseCustomerManagedKey="true")]


def test_every_combination_is_cfn_lint_clean(tmp_path):
    stacks = [Stack(load(MEMBER[vendor]), **parameters) for vendor, combinations in MEMBER_COMBINATIONS.items()
              for parameters in combinations]
    stacks += [Stack(load(INGEST), **INGEST_REQUIRED, **parameters) for parameters in INGEST_COMBINATIONS]
    for stack in stacks:
        assert stack.rule_failures() == [], stack.values
    assert lint_specialised(stacks, tmp_path) == (0, "")
