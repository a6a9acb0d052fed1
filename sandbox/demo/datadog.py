"""`make demo`: one registration's whole life through the real binary, printed readably.

Starts the sandbox (moto, the vendor emulator, the ResponseURL stand-in, the
Lambda Runtime API), stores the vendor keys in moto's Secrets Manager, then
sends Create → Update (in place: metric collection off, new account tags) →
Delete to one warm `bootstrap` process. After each step it prints what
CloudFormation was told and what the vendor now holds. Exits non-zero if any
step did not answer SUCCESS.

    .venv/bin/python -m sandbox.demo [--vendor datadog|dynatrace] [--logs]

`--vendor dynatrace` runs the two-phase Dynatrace onboarding instead (`demo.dynatrace`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..harness import Sandbox
from ..paths import REPO_ROOT, bootstrap_path


def _short(path: Any) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _on_off(value: Any) -> str:
    return "on" if value else "off"


def _print_response(inv, elapsed_note: bool = True) -> bool:
    if inv.cfn is None:
        print(f"   CloudFormation ← no answer at all ({inv.runtime_result[0]}: {inv.runtime_result[1]})")
        return False
    body = inv.body
    status = body.get("Status")
    mark = "✓" if status == "SUCCESS" else "✗"
    print(f"   CloudFormation ← {mark} {status}   ({inv.elapsed_s:.2f} s, {len(inv.cfn.raw)} bytes, "
          f"{inv.cfn_count} PUT)")
    print(f"     PhysicalResourceId       {body.get('PhysicalResourceId')}")
    if body.get("Reason"):
        print(f"     Reason                   {body['Reason']}")
    for key, value in (body.get("Data") or {}).items():
        print(f"     Data.{key:<19}{value}")
    return status == "SUCCESS"


def _print_datadog(sb: Sandbox) -> None:
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


def run_datadog(show_logs: bool) -> int:
    with Sandbox() as sb:
        arn = sb.datadog_secret()
        print("Registrar sandbox: Datadog")
        print(f"  binary       {_short(sb.bootstrap)}")
        print(f"  moto         {sb.aws.url}  (Secrets Manager, STS)")
        print(f"  Datadog      {sb.datadog.url}  (emulating api.{sb.datadog.site})")
        print(f"  ResponseURL  {sb.catcher.url}/cfn-response/…")
        print(f"  secret       {arn}")
        stack = sb.stack(name="registrar-demo")
        fn = sb.function()
        created_props = sb.datadog_props(arn, AccountTags=["team:platform"])
        updated_props = dict(created_props, DisableMetricCollection="true",
                             AccountTags=["team:platform", "env:demo"])

        results = []
        print("\n1. Create   AccountTags=[team:platform]")
        inv = fn.invoke(stack.create(created_props))
        results.append(_print_response(inv))
        _print_datadog(sb)
        pid = inv.physical_id if inv.cfn else None

        if pid:
            print("\n2. Update   DisableMetricCollection=true, AccountTags=[team:platform, env:demo]")
            inv = fn.invoke(stack.update(pid, updated_props, created_props))
            results.append(_print_response(inv))
            if inv.cfn and inv.physical_id != pid:
                print("   (a new PhysicalResourceId: CloudFormation would now delete the old one)")
            pid = inv.physical_id if inv.cfn else pid
            _print_datadog(sb)

            print("\n3. Delete")
            inv = fn.invoke(stack.delete(pid, updated_props))
            results.append(_print_response(inv))
            _print_datadog(sb)

        return _verdict(sb, fn, results, steps=3, show_logs=show_logs)


def _verdict(sb, fn, results: list[bool], *, steps: int, show_logs: bool) -> int:
    """Prints the logs if asked, the leak scan and the verdict; 0 when every one of `steps`
    steps answered SUCCESS and no secret leaked."""
    if show_logs:
        print("\nbinary logs (secrets redacted):")
        print(sb.all_logs())
    leaks = sb.leaks()
    if leaks:
        print("\n✗ secret values leaked: " + "; ".join(leaks))
    ok = len(results) == steps and all(results) and not leaks
    print(f"\n{'✓ every step answered SUCCESS' if ok else '✗ not every step answered SUCCESS'} "
          f"(one warm process, {fn.starts} start(s))")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--vendor", choices=["datadog", "dynatrace"], default="datadog")
    parser.add_argument("--logs", action="store_true", help="print the binary's logs (secrets redacted)")
    args = parser.parse_args(argv)
    if not bootstrap_path().exists():
        print(f"the bootstrap binary is missing at {bootstrap_path()}: run `cargo build` first", file=sys.stderr)
        return 2
    if args.vendor == "dynatrace":
        from .dynatrace import run_dynatrace  # registration → role → role binding → Delete
        return run_dynatrace(args.logs)
    return run_datadog(args.logs)


if __name__ == "__main__":
    sys.exit(main())
