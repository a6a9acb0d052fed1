"""`make demo`: a Datadog registration's Create → Update → Delete through the real binary.

Starts the sandbox (moto, the Datadog emulator, the ResponseURL stand-in, the Lambda Runtime
API), stores the vendor keys in moto's Secrets Manager, then sends Create → Update (in place:
metric collection off, new account tags) → Delete to one warm `bootstrap` process. After each
step it prints what CloudFormation was told and what Datadog now holds.
"""

from __future__ import annotations

from .. import report
from ..harness import Sandbox
from ..paths import shown


def run(show_logs: bool) -> int:
    with Sandbox() as sb:
        arn = sb.datadog_secret()
        print("Registrar sandbox: Datadog")
        print(f"  binary       {shown(sb.bootstrap)}")
        print(f"  moto         {sb.aws.url}  (Secrets Manager, STS)")
        print(f"  Datadog      {sb.datadog.url}  (emulating api.{sb.datadog.site})")
        print(f"  ResponseURL  {sb.catcher.url}/cfn-response/…")
        print(f"  secret       {arn}")
        stack = sb.stack(name="registrar-demo")
        fn = sb.function()
        created_props = sb.datadog_props(arn, AccountTags=["team:platform"])
        updated_props = dict(created_props, DisableMetricCollection="true",
                             AccountTags=["team:platform", "env:demo"])

        answers = []
        print("\n1. Create   AccountTags=[team:platform]")
        inv = fn.invoke(stack.create(created_props))
        answers.append(report.response(inv))
        report.datadog_state(sb)
        pid = inv.physical_id if inv.cfn else None

        if pid:
            print("\n2. Update   DisableMetricCollection=true, AccountTags=[team:platform, env:demo]")
            inv = fn.invoke(stack.update(pid, updated_props, created_props))
            answers.append(report.response(inv))
            if inv.cfn and inv.physical_id != pid:
                print("   (a new PhysicalResourceId: CloudFormation would now delete the old one)")
            pid = inv.physical_id if inv.cfn else pid
            report.datadog_state(sb)

            print("\n3. Delete")
            inv = fn.invoke(stack.delete(pid, updated_props))
            answers.append(report.response(inv))
            report.datadog_state(sb)

        return report.verdict(sb, answers, expected=3, show_logs=show_logs)
