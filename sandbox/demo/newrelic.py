"""`make demo VENDOR=newrelic`: the New Relic onboarding through the real binary.

What the template's New Relic resources do, in CloudFormation's order, against the sandbox's
NerdGraph emulator and moto, with one warm `bootstrap` process:
1. Create the IAM role (in moto's IAM), trusting New Relic's AWS account with the New Relic
   account id as external id (New Relic knows it before anything is registered).
2. Create the registration (`Vendor: newrelic`): `cloudLinkAccount` links the role. The emulator
   refuses the first attempt, as New Relic does while it cannot assume a new role yet; the
   function waits and links again.
3. Update the registration in place (the role renamed: the link is pointed at it).
4. Delete the registration (`cloudUnlinkAccount`), then the role.
5. Delete again: what is gone is success.
After each step it prints what CloudFormation was told and what New Relic holds.
"""

from __future__ import annotations


from .. import report
from ..harness import Sandbox
from ..paths import shown
from ..vendors import default_role

REGISTRATION = ("NewRelicRegistration", "Custom::VendorRegistration")


def state(sb: Sandbox) -> None:
    links = sb.newrelic.links()
    if not links:
        print("   New Relic holds no linked account")
    for link in links:
        print(f"   New Relic holds link {link['id']}  name={link['name']}")
        print(f"     authLabel={link['authLabel']}  mode={link['metricCollectionMode']}  "
              f"nrAccountId={link['nrAccountId']}")


def run(show_logs: bool) -> int:
    with Sandbox() as sb:
        nr = sb.newrelic
        arn = sb.newrelic_secret()
        role = default_role("newrelic")
        print("Registrar sandbox: New Relic")
        print(f"  binary       {shown(sb.bootstrap)}")
        print(f"  moto         {sb.aws.url}  (Secrets Manager, STS, IAM)")
        print(f"  NerdGraph    {nr.url}/graphql  (emulating https://api.newrelic.com/graphql)")
        print(f"  ResponseURL  {sb.catcher.url}/cfn-response/…")
        print(f"  secret       {arn}")
        registration = sb.stack(name="registrar-demo", logical_id=REGISTRATION[0], resource_type=REGISTRATION[1])
        fn = sb.function(sb.newrelic_env())
        props = sb.newrelic_props(arn, RoleName=role)
        answers: list[bool] = []

        principal, external_id = "754728514883", props["NewRelicAccountId"]
        print(f"\n1. CloudFormation creates the IAM role {role}")
        print(f"   trusting arn:aws:iam::{principal}:root with sts:ExternalId = {external_id} (NewRelicAccountId)")
        role_arn = sb.aws.create_role(role, principal, external_id=external_id)
        print(f"   IAM ← {role_arn}")

        print(f"\n2. Create the registration   NewRelicAccountId={external_id}, MetricCollectionMode=PULL")
        print("   (the emulator refuses the first link, as New Relic does while it cannot assume a new role)")
        nr.set_role_validation(failures=1)
        inv = fn.invoke(registration.create(props))
        answers.append(report.response(inv))
        state(sb)
        if not answers[-1]:
            return report.verdict(sb, answers, expected=4, show_logs=show_logs)
        pid = inv.physical_id
        if inv.data.get("PrincipalAccountId") != principal or inv.data.get("ExternalId") != external_id:
            print("   ✗ the answer's principal or external id is not the role's")
            answers.append(False)

        renamed = f"{role}-v2"
        print(f"\n3. Update the registration in place   RoleName={renamed}")
        new_props = dict(props, RoleName=renamed)
        inv = fn.invoke(registration.update(pid, new_props, props))
        answers.append(report.response(inv))
        state(sb)

        print("\n4. Delete the registration, then CloudFormation deletes the role")
        inv = fn.invoke(registration.delete(pid, new_props))
        answers.append(report.response(inv))
        sb.aws.client("iam").delete_role(RoleName=role)
        state(sb)

        print("\n5. Delete again (a retried Delete): what is gone is success")
        inv = fn.invoke(registration.delete(pid, new_props))
        answers.append(report.response(inv))
        state(sb)
        return report.verdict(sb, answers, expected=4, show_logs=show_logs)


def stack_set_parameters(sb: Sandbox, secret_arn: str) -> dict[str, str]:
    """The parameters of a StackSet of templates/newrelic.yaml (the audit step of the demo)."""
    return {"SecretArn": secret_arn, "IAMRoleName": "", "NewRelicAccountId": str(sb.newrelic.accounts[0])}


def seed_by_hand(sb: Sandbox, account: str) -> None:
    """A link someone made in New Relic's console (the audit step of the demo)."""
    sb.newrelic.seed_link("Production (console)", f"arn:aws:iam::{account}:role/NewRelic")
