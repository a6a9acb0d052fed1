"""`make demo VENDOR=dynatrace`: the two-phase Dynatrace onboarding through the real binary.

What the template's resources would do, in CloudFormation's order, against the sandbox's
Dynatrace emulator and moto, with one warm `bootstrap` process:
1. Create the registration: the AWS connection (empty role ARN); its objectId is `ExternalId`.
2. Create the vendor IAM role (in moto) trusting Dynatrace's principal with that external id.
3. Create the role binding (`Phase: role-binding`): the role ARN goes into the connection
   (Dynatrace first fails to assume the role once, as while IAM propagates) and the account
   gets its own monitoring configuration, made from the template configuration.
4. Update the registration in place.
5. Delete the role binding (the account's configuration goes, and Dynatrace removes the
   connection with it), then
6. Delete the registration (the connection is gone already: Registrar checks that it is).
After each step it prints what CloudFormation was told and what Dynatrace holds. Exits non-zero
if a step did not answer SUCCESS or a secret leaked.
"""

from __future__ import annotations

import json

from .datadog import _print_response, _short, _verdict
from ..harness import Sandbox

ROLE_NAME = "DynatraceMonitoringRole"


def _short_id(object_id: str) -> str:
    return f"{object_id[:16]}…{object_id[-6:]} ({len(object_id)} chars)"


def _print_dynatrace(sb: Sandbox, template_id: str) -> None:
    dt = sb.dynatrace
    connections = dt.connections()
    print(f"   Dynatrace ({dt.environment_host}) holds {len(connections)} AWS connection(s)")
    for conn in connections:
        value = conn["value"]
        auth = value.get("awsRoleBasedAuthentication") or {}
        print(f"     {value['name']}")
        print(f"       objectId {_short_id(conn['objectId'])}  owner {conn['owner']['type']}:{conn['owner']['id']}")
        print(f"       roleArn  {auth.get('roleArn') or '(empty: not bound yet)'}")
    for config in dt.monitoring_configs():
        kind = "template" if config["objectId"] == template_id else "account's own"
        credentials = config["value"].get("aws", {}).get("credentials") or []
        print(f"   monitoring configuration {_short_id(config['objectId'])} ({kind}): "
              f"{len(credentials)} credential(s)")
        for entry in credentials:
            print(f"     account {entry.get('accountId')}  connection {_short_id(entry['connectionId'])}  "
                  f"enabled {entry.get('enabled')}")


def _binding(stack, request_type: str, props: dict, physical_id: str | None = None,
             old_props: dict | None = None) -> dict:
    event = stack.event(request_type, props, physical_id=physical_id, old_props=old_props)
    event["LogicalResourceId"] = "VendorRoleBinding"
    event["ResourceType"] = "Custom::VendorRoleBinding"
    return event


def run_dynatrace(show_logs: bool) -> int:
    with Sandbox() as sb:
        dt = sb.dynatrace
        arn = sb.dynatrace_secret()
        config_id = dt.add_monitoring_config("AWS monitoring (created by the Dynatrace admin)")
        print("Registrar sandbox: Dynatrace")
        print(f"  binary       {_short(sb.bootstrap)}")
        print(f"  moto         {sb.aws.url}  (Secrets Manager, STS, IAM)")
        print(f"  Dynatrace    {dt.url}  (emulating https://{dt.environment_host})")
        print(f"  ResponseURL  {sb.catcher.url}/cfn-response/…")
        print(f"  secret       {arn}")
        stack = sb.stack(name="registrar-demo")
        fn = sb.function(sb.dynatrace_env())
        props = sb.dynatrace_props(arn, RoleName=ROLE_NAME)
        results: list[bool] = []

        print("\n1. Create registration   EnvironmentUrl=https://" + dt.environment_host)
        inv = fn.invoke(stack.create(props))
        results.append(_print_response(inv))
        _print_dynatrace(sb, config_id)
        if not results[-1]:
            return 1
        registration_pid = inv.physical_id
        external_id, principal = inv.data["ExternalId"], inv.data["PrincipalAccountId"]

        print(f"\n2. CloudFormation creates IAM role {ROLE_NAME}, trusting arn:aws:iam::{principal}:root "
              f"with sts:ExternalId = the connection's objectId")
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{principal}:root"}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": external_id}}}]}
        role = sb.aws.client("iam").create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))
        print(f"   IAM ← {role['Role']['Arn']}")

        print(f"\n3. Create role binding   Phase=role-binding, MonitoringConfigId={_short_id(config_id)}")
        print("   (Dynatrace cannot assume the new role at first, as while IAM propagates)")
        dt.set_role_validation(failures=1)
        binding_props = sb.dynatrace_props(arn, RoleName=ROLE_NAME, Phase="role-binding",
                                           RegistrationId=inv.data["RegistrationId"], MonitoringConfigId=config_id)
        inv = fn.invoke(_binding(stack, "Create", binding_props))
        results.append(_print_response(inv))
        print(f"   Dynatrace rejected the role {dt.counters.role_rejections} time(s) before accepting it")
        _print_dynatrace(sb, config_id)
        binding_pid = inv.physical_id

        print("\n4. Update registration  (in place: OnDeleteError=retain; EnvironmentUrl as the classic URL)")
        new_props = dict(props, OnDeleteError="retain",
                         EnvironmentUrl="https://" + dt.environment_host.replace(".apps.", ".live."))
        inv = fn.invoke(stack.update(registration_pid, new_props, props))
        results.append(_print_response(inv))
        if inv.cfn and inv.physical_id != registration_pid:
            print("   (a new PhysicalResourceId: CloudFormation would now delete the old one)")
        _print_dynatrace(sb, config_id)

        print("\n5. Delete role binding  (the account's configuration goes; Dynatrace removes its connection)")
        inv = fn.invoke(_binding(stack, "Delete", binding_props, binding_pid))
        results.append(_print_response(inv))
        _print_dynatrace(sb, config_id)

        print("\n6. Delete registration  (after CloudFormation deleted the role)")
        sb.aws.client("iam").delete_role(RoleName=ROLE_NAME)
        inv = fn.invoke(stack.delete(registration_pid, new_props))
        results.append(_print_response(inv))
        _print_dynatrace(sb, config_id)

        return _verdict(sb, fn, results, steps=5, show_logs=show_logs)
