"""`make demo`: a Datadog registration's whole life through the real binary.

Starts the sandbox (moto, the Datadog emulator, the ResponseURL stand-in, the Lambda Runtime
API), stores the vendor keys in moto's Secrets Manager, then sends the template's events in
CloudFormation's order to one warm `bootstrap` process:
1. Create the registration (`VendorRegistration`): Datadog answers the external ID.
2. CloudFormation creates the role Datadog assumes (in moto's IAM), requiring that external ID.
3. Create the role's permissions (`DatadogRolePermissions`, `Phase: role-permissions`): the
   lists Datadog publishes, fetched from the emulator, attached to the role.
4. Update the registration in place (metric collection off, new account tags).
5. Delete in reverse: the permissions, then the role, then the registration.
After each step it prints what CloudFormation was told and what Datadog (or IAM) now holds.
"""

from __future__ import annotations


from .. import report
from ..harness import Sandbox
from ..paths import shown

ROLE_NAME = "DatadogIntegrationRole"
PERMISSIONS = ("DatadogRolePermissions", "Custom::VendorRolePermissions")  # the template's logical id and type


def role_state(sb: Sandbox) -> None:
    """The role's policies in moto's IAM: the inline standard list and the managed chunks."""
    iam = sb.aws.client("iam")
    try:
        inline = iam.list_role_policies(RoleName=ROLE_NAME)["PolicyNames"]
        attached = [p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=ROLE_NAME)["AttachedPolicies"]]
    except iam.exceptions.NoSuchEntityException:
        print(f"   IAM: no role {ROLE_NAME}")
        return
    print(f"   IAM: role {ROLE_NAME} has {len(inline)} inline polic{'y' if len(inline) == 1 else 'ies'} "
          f"({', '.join(inline) or 'none'}) and {len(attached)} managed")
    for name in attached:
        print(f"     {name}")


def run(show_logs: bool) -> int:
    with Sandbox() as sb:
        arn = sb.datadog_secret()
        print("Registrar sandbox: Datadog")
        print(f"  binary       {shown(sb.bootstrap)}")
        print(f"  moto         {sb.aws.url}  (Secrets Manager, STS, IAM)")
        print(f"  Datadog      {sb.datadog.url}  (emulating api.{sb.datadog.site})")
        print(f"  ResponseURL  {sb.catcher.url}/cfn-response/…")
        print(f"  secret       {arn}")
        stack = sb.stack(name="registrar-demo")
        permissions = stack.resource(*PERMISSIONS)
        fn = sb.function()
        created_props = sb.datadog_props(arn, AccountTags=["team:platform"])
        updated_props = dict(created_props, DisableMetricCollection="true",
                             AccountTags=["team:platform", "env:demo"])
        permission_props = {"Vendor": "datadog", "Phase": "role-permissions", "RoleName": ROLE_NAME,
                            "Site": sb.datadog.site, "DisableResourceCollection": "false"}

        answers = []
        print("\n1. Create the registration   AccountTags=[team:platform]")
        inv = fn.invoke(stack.create(created_props))
        answers.append(report.response(inv))
        report.datadog_state(sb)
        if not answers[-1]:
            return report.verdict(sb, answers, expected=5, show_logs=show_logs)
        pid = inv.physical_id
        external_id, principal = inv.data["ExternalId"], inv.data["PrincipalAccountId"]

        print(f"\n2. CloudFormation creates the IAM role {ROLE_NAME}")
        print(f"   trusting arn:aws:iam::{principal}:root with sts:ExternalId = Datadog's external ID")
        role_arn = sb.aws.create_role(ROLE_NAME, principal, external_id=external_id)
        print(f"   IAM ← {role_arn}")

        print("\n3. Create the role's permissions   Phase=role-permissions (Datadog's published lists)")
        inv = fn.invoke(permissions.create(permission_props))
        answers.append(report.response(inv))
        permissions_pid = inv.physical_id if inv.cfn else None
        role_state(sb)

        print("\n4. Update the registration   DisableMetricCollection=true, AccountTags=[team:platform, env:demo]")
        inv = fn.invoke(stack.update(pid, updated_props, created_props))
        answers.append(report.response(inv))
        if inv.cfn and inv.physical_id != pid:
            print("   (a new PhysicalResourceId: CloudFormation would now delete the old one)")
        pid = inv.physical_id if inv.cfn else pid
        report.datadog_state(sb)

        print("\n5. Delete in reverse: the permissions, then the role, then the registration")
        if permissions_pid:
            inv = fn.invoke(permissions.delete(permissions_pid, permission_props))
            answers.append(report.response(inv))
            role_state(sb)
        sb.aws.client("iam").delete_role(RoleName=ROLE_NAME)
        print(f"   CloudFormation deletes the role {ROLE_NAME}")
        inv = fn.invoke(stack.delete(pid, updated_props))
        answers.append(report.response(inv))
        report.datadog_state(sb)

        return report.verdict(sb, answers, expected=5, show_logs=show_logs)
