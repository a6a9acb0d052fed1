"""What `make demo` and `make invoke` print: CloudFormation's answer and what the vendor holds.

One job: turn an `Invocation` and the emulators' (and moto's) state into lines a person reads.
Nothing here decides anything about the binary; the tests assert, this module only shows.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from .function import Invocation
from .harness import Sandbox



def _fields(rows: list[tuple[str, Any]]) -> None:
    """Label-value lines, the values aligned one column after the longest label."""
    width = max(len(label) for label, _ in rows) + 2
    for label, value in rows:
        print(f"     {label:<{width}}{value}")


def _on_off(value: Any) -> str:
    return "on" if value else "off"


def short_id(object_id: str) -> str:
    """A Dynatrace objectId (over 100 characters) shortened to its two ends."""
    return object_id if len(object_id) <= 30 else f"{object_id[:16]}…{object_id[-6:]}"


def response(inv: Invocation) -> bool:
    """Prints the answer CloudFormation received for `inv`; True when it was SUCCESS."""
    if inv.cfn is None:
        print(f"   CloudFormation ← no answer at all ({inv.runtime_result[0]}: {inv.runtime_result[1]})")
        return False
    body = inv.body
    status = body.get("Status")
    mark = "✓" if status == "SUCCESS" else "✗"
    puts = "1 PUT" if inv.cfn_count == 1 else f"{inv.cfn_count} PUTs"
    print(f"   CloudFormation ← {mark} {status}   ({inv.elapsed_s:.2f} s, {len(inv.cfn.raw)} bytes, {puts})")
    rows: list[tuple[str, Any]] = [("PhysicalResourceId", body.get("PhysicalResourceId"))]
    if body.get("Reason"):
        rows.append(("Reason", body["Reason"]))
    rows += [(f"Data.{key}", value) for key, value in (body.get("Data") or {}).items()]
    _fields(rows)
    return status == "SUCCESS"


def datadog_state(sb: Sandbox) -> None:
    """The AWS accounts the Datadog emulator holds, with their settings and tags."""
    accounts = sb.datadog.accounts()
    print(f"   Datadog ({sb.datadog.site}) holds {len(accounts)} AWS account(s)")
    for account in accounts:
        a = account["attributes"]
        print(f"     {a['aws_account_id']} ({a['aws_partition']})  id {account['id']}")
        print(f"       role {a['auth_config']['role_name']}, external id {a['auth_config']['external_id']}")
        print(f"       metrics {_on_off(a['metrics_config']['enabled'])}, "
              f"resources {_on_off(a['resources_config']['extended_collection'])}, "
              f"CSPM {_on_off(a['resources_config']['cloud_security_posture_management_collection'])}")
        print(f"       tags {', '.join(a.get('account_tags') or []) or '(none)'}")


def dynatrace_state(sb: Sandbox, template_config: str | None = None) -> None:
    """The AWS connections and monitoring configurations the Dynatrace emulator holds."""
    dt = sb.dynatrace
    connections = dt.connections()
    print(f"   Dynatrace ({dt.environment_host}) holds {len(connections)} AWS connection(s)")
    for conn in connections:
        value = conn["value"]
        auth = value.get("awsRoleBasedAuthentication") or {}
        print(f"     {value['name']}")
        print(f"       objectId {short_id(conn['objectId'])}, owner {conn['owner']['type']}:{conn['owner']['id']}")
        print(f"       roleArn  {auth.get('roleArn') or '(empty: not bound yet)'}")
    for config in dt.monitoring_configs():
        kind = "the template" if config["objectId"] == template_config else "an account's own"
        credentials = config["value"].get("aws", {}).get("credentials") or []
        print(f"   monitoring configuration {short_id(config['objectId'])} ({kind}), "
              f"{len(credentials)} credential(s)")
        for entry in credentials:
            state = "enabled" if entry.get("enabled") else "disabled"
            print(f"     account {entry.get('accountId')}, connection {short_id(entry['connectionId'])}, {state}")


def role_policies(sb: Sandbox, role_name: str, region: str = "us-east-1") -> None:
    """The policies of IAM role `role_name` in moto (what the permissions step wrote)."""
    iam = sb.aws.client("iam", region)
    try:
        inline = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
        attached = iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]
    except iam.exceptions.NoSuchEntityException:
        print(f"   IAM role {role_name} does not exist")
        return
    print(f"   IAM role {role_name}: {len(inline)} inline and {len(attached)} managed policies")
    for name in inline:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
        print(f"     inline  {name}: {_action_count(document)} actions")
    for policy in attached:
        version = iam.get_policy(PolicyArn=policy["PolicyArn"])["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=policy["PolicyArn"], VersionId=version)["PolicyVersion"]["Document"]
        print(f"     managed {policy['PolicyName']}: {_action_count(document)} actions")


def _action_count(document: Any) -> int:
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    statements = document.get("Statement") or []
    statements = statements if isinstance(statements, list) else [statements]
    count = 0
    for statement in statements:
        actions = statement.get("Action") or []
        count += len(actions) if isinstance(actions, list) else 1
    return count


def verdict(sb: Sandbox, answers: list[bool], *, expected: int, show_logs: bool) -> int:
    """Prints the logs if asked, the leak scan's verdict and the overall verdict; 0 when all
    `expected` CloudFormation answers were SUCCESS and no secret leaked."""
    if show_logs:
        print("\nbinary logs (secrets redacted):")
        print(sb.all_logs())
    scan = sb.leak_scan()
    starts = sum(fn.starts for fn in sb.functions)
    ok = len(answers) == expected and all(answers)
    print()
    print(scan.verdict())
    starts_note = f"{starts} process start{'s' if starts != 1 else ''}"
    if ok:
        which = "the CloudFormation answer was" if expected == 1 else f"all {expected} CloudFormation answers were"
        print(f"✓ {which} SUCCESS ({starts_note})")
    else:
        print(f"✗ {sum(answers)} of {expected} CloudFormation answers were SUCCESS ({starts_note})")
    return 0 if ok and not scan.leaks else 1
