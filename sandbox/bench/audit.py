"""`registrar audit` at organisation scale: an organisation of N member accounts in moto, a
StackSet with an instance in each, and N registrations at the vendor (Datadog or Dynatrace), a
few of them broken on purpose (closed accounts, hand-made registrations, failed instances,
registrations of accounts outside the organisation); then one audit through the real
`registrar` binary.

    .venv/bin/python -m sandbox.bench.audit [--accounts 5000] [--vendor datadog|dynatrace] \\
        [--latency-ms 0]

The binary is the release build (`cargo build --release -p registrar-cli`) or $REGISTRAR_CLI.
It prints the set-up time, the audit's wall time, the vendor calls and the AWS calls by
operation, and the verdicts; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections import Counter

from .. import MotoServer
from ..datadog import DatadogEmulator
from ..dynatrace import DynatraceEmulator
from ..paths import registrar_path
from ..stackset import InstanceStatusShim, Organisation, audit_env, create_stack_set, run_audit
from .benchlib import table

NAME = "registrar"
SECRET_ARN_REGION = "us-east-1"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--vendor", choices=["datadog", "dynatrace"], default="datadog")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="added to every vendor call (Dynatrace emulator only)")
    args = parser.parse_args()
    binary = registrar_path("release")
    if not binary.exists():
        raise SystemExit(f"no registrar binary at {binary}: run `cargo build --release -p registrar-cli` "
                         "(or set REGISTRAR_CLI)")
    n = args.accounts
    with MotoServer() as aws:
        shim = InstanceStatusShim(aws.url).start()
        try:
            started = time.monotonic()
            org = Organisation(aws)
            accounts = org.add_accounts(n)
            broken = accounts[:10]
            closed, failed, foreign = broken[0:3], broken[3:6], broken[6:8]
            for account in closed:
                org.close(account)
            if args.vendor == "datadog":
                # No OpenAPI checks: they would add to the time measured (the tests make them).
                vendor = DatadogEmulator("a" * 32, "b" * 40, check_spec=False).start()
                arn = aws.create_secret({"api_key": "a" * 32, "app_key": "b" * 40}, region=SECRET_ARN_REGION)
                parameters = {"SecretArn": arn, "DatadogSite": "datadoghq.com"}  # templates/datadog.yaml's
            else:
                vendor = DynatraceEmulator("dt0s16.BENCH.TOKEN").start()
                if args.latency_ms:
                    vendor.set_latency(args.latency_ms, args.latency_ms)
                arn = aws.create_secret({"token": "dt0s16.BENCH.TOKEN"}, region=SECRET_ARN_REGION)
                parameters = {"SecretArn": arn,  # templates/dynatrace.yaml's
                              "EnvironmentUrl": f"https://{vendor.environment_host}"}
            create_stack_set(aws, NAME, parameters, targets=[org.root])
            for account in failed:
                shim.fail(account, "Datadog refused POST accounts with HTTP 403: Forbidden.")
            outside = [f"{900000000000 + i}" for i in range(5)]
            registered = [a for a in accounts if a not in foreign] + outside
            for account in registered:
                stack = f"us-east-1/StackSet-{NAME}-{uuid.uuid4()}"
                register(vendor, args.vendor, account, stack)
            for account in foreign:
                register(vendor, args.vendor, account, None)
            setup = time.monotonic() - started

            vendor_before = len(vendor.requests)
            aws_before = len(shim.requests)
            env = audit_env(aws, vendor.url, shim.url)
            env["AWS_ENDPOINT_URL"] = shim.url  # count every AWS call
            run = run_audit(["--stack-set", NAME, "--format", "json"], env, binary=binary, timeout_s=600)
            if run.exit_code not in (0, 1):
                raise SystemExit(f"the audit could not run (exit {run.exit_code}): {run.stderr}")
            report = run.json()
            vendor_calls = len(vendor.requests) - vendor_before
            aws_calls = Counter(r.path for r in shim.requests[aws_before:])
            servers = sandbox_answer_times(aws, shim, vendor, args.vendor)
        finally:
            shim.stop()
            vendor.stop()
    registrations = len(registered) + len(foreign)
    print(f"registrar audit: {n} member accounts (+ the management account), {registrations} "
          f"{args.vendor} registrations, binary {binary.name} ({binary.parent.name}); set-up in moto and the emulator took {setup:.0f} s")
    print(table([(f"{n} accounts / {registrations} registrations", f"{run.elapsed_s:.2f}",
                  str(vendor_calls), str(sum(aws_calls.values())), str(len(report["findings"])))],
                ("audit", "seconds (wall, process start to exit)", f"{args.vendor} calls", "AWS calls",
                 "lines")))
    print("AWS calls: " + ", ".join(f"{path.strip('/')} {count}" for path, count in sorted(aws_calls.items())))
    print("the same reads made from Python straight to the sandbox's servers (moto, the shim, the emulator), "
          "for comparison: " + ", ".join(f"{what} {seconds:.2f} s" for what, seconds in servers.items()))
    print("verdicts: " + ", ".join(f"{count} {verdict}" for verdict, count in report["summary"].items() if count))
    return 0


def sandbox_answer_times(aws: MotoServer, shim: InstanceStatusShim, vendor, kind: str) -> dict[str, float]:
    """How long the sandbox's own servers take to answer the audit's reads (every page)."""
    import urllib.request
    times = {}
    started = time.monotonic()
    for _ in aws.client("organizations").get_paginator("list_accounts").paginate():
        pass
    times["ListAccounts (every page)"] = time.monotonic() - started
    started = time.monotonic()
    import boto3
    cfn = boto3.session.Session(region_name="us-east-1", aws_access_key_id="testing",
                                aws_secret_access_key="testing").client("cloudformation", endpoint_url=shim.url)
    cfn.list_stack_instances(StackSetName=NAME)
    times["ListStackInstances (through the shim)"] = time.monotonic() - started
    started = time.monotonic()
    if kind == "datadog":
        request = urllib.request.Request(f"{vendor.url}/api/v2/integration/aws/accounts",
                                         headers={"DD-API-KEY": "a" * 32, "DD-APPLICATION-KEY": "b" * 40})
    else:
        request = urllib.request.Request(
            f"{vendor.url}/platform/classic/environment-api/v2/settings/objects?schemaIds="
            "builtin:hyperscaler-authentication.connections.aws&pageSize=500",
            headers={"Authorization": "Bearer dt0s16.BENCH.TOKEN"})
    with urllib.request.urlopen(request, timeout=120) as answer:
        answer.read()
    times[f"{kind} list (first page)"] = time.monotonic() - started
    return times


def register(vendor, kind: str, account: str, stack: str | None) -> None:
    """A registration as Registrar's stack `stack` makes it, or by someone else (`None`)."""
    if kind == "datadog":
        tags = [f"aws_account:{account}"] + ([f"registrar_stack:{stack.lower()}"] if stack else [])
        vendor.seed_account(account, account_tags=tags)
    else:
        role = f"arn:aws:iam::{account}:role/DynatraceMonitoringRole"
        name = f"registrar-{account}-{stack}" if stack else f"hand-made {account}"
        vendor.seed_connection(name, role_arn=role)


if __name__ == "__main__":
    raise SystemExit(main())
