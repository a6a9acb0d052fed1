"""`make demo VENDOR=dynatrace`: the two-phase Dynatrace onboarding through the real binary.

What the template's Dynatrace resources do, in CloudFormation's order, against the sandbox's
Dynatrace emulator and moto, with one warm `bootstrap` process:
1. Create the registration (`DynatraceRegistration`): an AWS connection with an empty role ARN;
   its objectId is the `ExternalId`.
2. Create the monitoring role (in moto's IAM), trusting Dynatrace's AWS account with that
   external ID.
3. Create the role binding (`DynatraceRoleBinding`, `Phase: role-binding`): the role ARN goes
   into the connection, and the account gets its own monitoring configuration, made from the
   template configuration. The emulator refuses the first attempt to assume the new role, as
   Dynatrace does while IAM is still propagating a new role; the function retries.
4. Update the registration in place.
5. Delete the role binding: the account's configuration goes, and Dynatrace removes the
   connection with it.
6. Delete the role, then the registration: the connection is gone already, and the function
   checks that it is.
After each step it prints what CloudFormation was told and what Dynatrace holds.
"""

from __future__ import annotations


from .. import report
from ..harness import Sandbox
from ..paths import shown

ROLE_NAME = "DynatraceMonitoringRole"
REGISTRATION = ("DynatraceRegistration", "Custom::VendorRegistration")  # the template's logical id and type
BINDING = ("DynatraceRoleBinding", "Custom::VendorRoleBinding")


def run(show_logs: bool) -> int:
    with Sandbox() as sb:
        dt = sb.dynatrace
        arn = sb.dynatrace_secret()
        template_config = dt.add_monitoring_config("AWS monitoring (created by the Dynatrace admin)")
        print("Registrar sandbox: Dynatrace")
        print(f"  binary       {shown(sb.bootstrap)}")
        print(f"  moto         {sb.aws.url}  (Secrets Manager, STS, IAM)")
        print(f"  Dynatrace    {dt.url}  (emulating https://{dt.environment_host})")
        print(f"  ResponseURL  {sb.catcher.url}/cfn-response/…")
        print(f"  secret       {arn}")
        print(f"  template monitoring configuration {report.short_id(template_config)}")
        registration = sb.stack(name="registrar-demo", logical_id=REGISTRATION[0], resource_type=REGISTRATION[1])
        binding = registration.resource(*BINDING)
        fn = sb.function(sb.dynatrace_env())
        props = sb.dynatrace_props(arn, RoleName=ROLE_NAME)
        answers: list[bool] = []

        print(f"\n1. Create the registration   EnvironmentUrl=https://{dt.environment_host}")
        inv = fn.invoke(registration.create(props))
        answers.append(report.response(inv))
        report.dynatrace_state(sb, template_config)
        if not answers[-1]:
            return report.verdict(sb, answers, expected=5, show_logs=show_logs)
        registration_pid = inv.physical_id
        external_id, principal = inv.data["ExternalId"], inv.data["PrincipalAccountId"]

        print(f"\n2. CloudFormation creates the IAM role {ROLE_NAME}")
        print(f"   trusting arn:aws:iam::{principal}:root with sts:ExternalId = the connection's objectId")
        role_arn = sb.aws.create_role(ROLE_NAME, principal, external_id=external_id)
        print(f"   IAM ← {role_arn}")

        print(f"\n3. Create the role binding   Phase=role-binding, "
              f"MonitoringConfigId={report.short_id(template_config)}")
        print("   (the emulator refuses the first attempt to assume the new role, as Dynatrace does while "
              "IAM propagates it)")
        dt.set_role_validation(failures=1)
        binding_props = sb.dynatrace_props(arn, RoleName=ROLE_NAME, Phase="role-binding",
                                           RegistrationId=inv.data["RegistrationId"],
                                           MonitoringConfigId=template_config)
        inv = fn.invoke(binding.create(binding_props))
        answers.append(report.response(inv))
        rejections = dt.counters.role_rejections
        print(f"   Dynatrace refused the role {rejections} time{'s' if rejections != 1 else ''}, "
              "then accepted it")
        report.dynatrace_state(sb, template_config)
        binding_pid = inv.physical_id

        classic_url = "https://" + dt.environment_host.replace(".apps.", ".live.")
        print(f"\n4. Update the registration in place   OnDeleteError=retain, EnvironmentUrl={classic_url}")
        new_props = dict(props, OnDeleteError="retain", EnvironmentUrl=classic_url)
        inv = fn.invoke(registration.update(registration_pid, new_props, props))
        answers.append(report.response(inv))
        if inv.cfn and inv.physical_id != registration_pid:
            print("   (a new PhysicalResourceId: CloudFormation would now delete the old one)")
        report.dynatrace_state(sb, template_config)

        print("\n5. Delete the role binding   (the account's configuration goes; Dynatrace removes its connection)")
        inv = fn.invoke(binding.delete(binding_pid, binding_props))
        answers.append(report.response(inv))
        report.dynatrace_state(sb, template_config)

        print("\n6. CloudFormation deletes the role, then the registration")
        sb.aws.client("iam").delete_role(RoleName=ROLE_NAME)
        inv = fn.invoke(registration.delete(registration_pid, new_props))
        answers.append(report.response(inv))
        report.dynatrace_state(sb, template_config)

        return report.verdict(sb, answers, expected=5, show_logs=show_logs)
