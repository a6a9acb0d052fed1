"""`make demo`'s last step: `registrar audit` finds what was broken on purpose, at the demo's vendor.

An organisation in moto with five member accounts and a Registrar StackSet of the vendor the demo
ran (Datadog, or Dynatrace); two accounts are onboarded through the real `bootstrap` (Create
events as the StackSet's stacks send them; Dynatrace's registration and role binding). Then things
break as they do in real organisations: an account is closed without a clean Delete (Organizations
then lists it SUSPENDED, as AWS does for 90 days), someone registers an account by hand, an
account's stack instance fails (the vendor refused it, so nothing is registered; the sandbox's
shim rewrites its status), and one account was never onboarded. The real `registrar` binary
audits it all, then prunes the orphan, and audits again.
"""

from __future__ import annotations

import importlib

from ..dynatrace_rollout import Member, onboard as onboard_dynatrace
from ..harness import Sandbox
from ..paths import registrar_path, shown
from ..stackset import InstanceStatusShim, Organisation, audit_env, create_stack_set, onboard, run_audit
from ..vendors import descriptor

# The StackSet names of docs/deploy.md and the README.
NAMES = {"datadog": "registrar-datadog", "dynatrace": "registrar-dynatrace"}
REFUSED = {"datadog": "Datadog refused POST accounts with HTTP 403: Forbidden.",
           "dynatrace": "Dynatrace refused POST settings objects with HTTP 403: Forbidden."}


def run(vendor: str = "datadog") -> int:
    if not registrar_path().exists():
        print(f"the registrar binary is missing at {registrar_path()}: run `make build` first")
        return 2
    with Sandbox() as sb:
        shim = InstanceStatusShim(sb.aws.url).start()
        try:
            return _run(sb, shim, vendor)
        finally:
            shim.stop()


def _onboard(sb: Sandbox, vendor: str, name: str, accounts: list[str], targets: list[str]) -> tuple[dict, str]:
    """The StackSet and its accounts' registrations; returns each account's status and the vendor's URL."""
    if vendor not in ("datadog", "dynatrace"):
        # Any other vendor's demo module says what its StackSet holds (`stack_set_parameters`).
        own = importlib.import_module(f"{__package__}.{vendor}")
        arn = getattr(sb, f"{vendor}_secret")()
        stack_set = create_stack_set(sb.aws, name, own.stack_set_parameters(sb, arn), targets=targets)
        fn = sb.function(getattr(sb, f"{vendor}_env")())
        answers = onboard(fn, stack_set, accounts, getattr(sb, f"{vendor}_props")(arn), sb.catcher)
        return ({a: inv.cfn.body_json["Status"] if inv.cfn else "NO ANSWER" for a, inv in answers.items()},
                getattr(sb, vendor).url)
    if vendor == "dynatrace":
        arn = sb.dynatrace_secret()
        template = sb.dynatrace.add_monitoring_config("organisation template")
        stack_set = create_stack_set(sb.aws, name, {
            "SecretArn": arn, "IAMRoleName": "",
            "EnvironmentUrl": f"https://{sb.dynatrace.environment_host}", "MonitoringConfigId": template},
            targets=targets)
        members = [Member(a, sb.stack(account=a, name=stack_set.stack_name())) for a in accounts]
        phase = onboard_dynatrace(sb, members, arn, template, concurrency=2)
        ok = phase.statuses == {"SUCCESS": 2 * len(accounts)}
        return {a: "SUCCESS" if ok else f"{phase.statuses}" for a in accounts}, sb.dynatrace.url
    arn = sb.datadog_secret()
    stack_set = create_stack_set(sb.aws, name, {"SecretArn": arn, "DatadogSite": "datadoghq.com",
                                                "IAMRoleName": ""},
                                 targets=targets)
    answers = onboard(sb.function(), stack_set, accounts, sb.datadog_props(arn, AccountTags=None), sb.catcher)
    return ({a: inv.cfn.body_json["Status"] if inv.cfn else "NO ANSWER" for a, inv in answers.items()},
            sb.datadog.url)


def _run(sb: Sandbox, shim: InstanceStatusShim, vendor: str) -> int:
    name = NAMES.get(vendor, f"registrar-{vendor}")
    display = descriptor(vendor)["display_name"]
    print(f"\nregistrar audit: the organisation against {display}")
    print(f"  binary       {shown(registrar_path())}")
    org = Organisation(sb.aws)
    healthy, closed, failed, hand_made, never = org.add_accounts(5)
    statuses, vendor_url = _onboard(sb, vendor, name, [healthy, closed], [org.root])
    print(f"  onboarded    {', '.join(f'{a} {s}' for a, s in statuses.items())} (StackSet {name!r} in moto)")
    org.close(closed)
    print(f"  broken       {closed} closed without a clean Delete (Organizations lists it SUSPENDED)")
    if vendor == "dynatrace":
        sb.dynatrace.seed_connection("prod account", role_arn=f"arn:aws:iam::{hand_made}:role/Dynatrace")
    elif vendor != "datadog":
        importlib.import_module(f"{__package__}.{vendor}").seed_by_hand(sb, hand_made)
    else:
        sb.datadog.seed_account(hand_made, account_tags=["team:payments"])
    print(f"               {hand_made} registered by hand in {display}")
    refused = REFUSED.get(vendor, f"{display} refused the registration with HTTP 403: Forbidden.")
    shim.fail(failed, f"Resource handler returned message: {refused}")
    print(f"               {failed}'s stack instance FAILED: {display} refused it, so nothing is registered")
    print(f"               {never} never onboarded")
    env = audit_env(sb.aws, vendor_url, shim.url)

    print(f"\n$ registrar audit --stack-set {name}")
    first = run_audit(["--stack-set", name], env)
    print(first.stdout.rstrip() or first.stderr.rstrip())
    print(f"(exit code {first.exit_code})")

    print(f"\n$ registrar audit --stack-set {name} --prune-orphans --yes")
    pruned = run_audit(["--stack-set", name, "--prune-orphans", "--yes"], env)
    print(pruned.stdout.rstrip() or pruned.stderr.rstrip())
    print(f"(exit code {pruned.exit_code})")

    after = run_audit(["--stack-set", name, "--format", "json"], env)
    summary = after.json()["summary"] if after.exit_code in (0, 1) else {}
    lines = {line.split()[1]: line.split()[0] for line in first.stdout.splitlines()[2:-1] if line.strip()}
    expected = {healthy: "ok", closed: "orphan", failed: "failed", hand_made: "foreign", never: "missing"}
    found = {account: lines.get(account) for account in expected}
    good = first.exit_code == 1 and found == expected and summary.get("orphan") == 0
    print(f"\n{'✓' if good else '✗'} the audit found {', '.join(sorted(set(expected.values())))}"
          f"{'' if found == expected else ' (expected ' + str(expected) + ', found ' + str(found) + ')'}; "
          f"after pruning: {summary.get('orphan', '?')} orphan")
    return 0 if good else 1
