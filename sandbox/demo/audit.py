"""`make demo`'s last step: `registrar audit` finds what was broken on purpose.

An organisation in moto with five member accounts and a Registrar StackSet; four accounts are
onboarded through the real `bootstrap` (Create events as the StackSet's stacks send them).
Then things break as they do in real organisations: an account is closed without a clean
Delete, someone registers an account by hand, a stack instance fails (the sandbox's shim
rewrites its status), and one account was never onboarded. The real `registrar` binary audits
it all, then prunes the orphan, and audits again.
"""

from __future__ import annotations

from ..harness import Sandbox
from ..paths import registrar_path, shown
from ..stackset import InstanceStatusShim, Organisation, audit_env, create_stack_set, onboard, run_audit

NAME = "registrar"


def run() -> int:
    if not registrar_path().exists():
        print(f"the registrar binary is missing at {registrar_path()}: run `make build` first")
        return 2
    with Sandbox() as sb:
        shim = InstanceStatusShim(sb.aws.url).start()
        try:
            return _run(sb, shim)
        finally:
            shim.stop()


def _run(sb: Sandbox, shim: InstanceStatusShim) -> int:
    print("\nregistrar audit: the organisation against Datadog")
    print(f"  binary       {shown(registrar_path())}")
    org = Organisation(sb.aws)
    healthy, closed, failed, hand_made, never = org.add_accounts(5)
    arn = sb.datadog_secret()
    stack_set = create_stack_set(sb.aws, NAME, {"SecretArn": arn, "DatadogSite": "datadoghq.com",
                                                "IAMRoleName": ""},
                                 targets=[org.root])
    answers = onboard(sb.function(), stack_set, [healthy, closed, failed], sb.datadog_props(arn, AccountTags=None),
                      sb.catcher)
    statuses = {a: inv.cfn.body_json["Status"] if inv.cfn else "NO ANSWER" for a, inv in answers.items()}
    print(f"  onboarded    {', '.join(f'{a} {s}' for a, s in statuses.items())} (StackSet {NAME!r} in moto)")
    org.close(closed)
    print(f"  broken       {closed} closed without a clean Delete")
    sb.datadog.seed_account(hand_made, account_tags=["team:payments"])
    print(f"               {hand_made} registered by hand in Datadog")
    shim.fail(failed, "Resource handler returned message: Datadog refused POST accounts with HTTP 403.")
    print(f"               {failed}'s stack instance FAILED")
    print(f"               {never} never onboarded")
    env = audit_env(sb.aws, sb.datadog.url, shim.url)

    print(f"\n$ registrar audit --stack-set {NAME}")
    first = run_audit(["--stack-set", NAME], env)
    print(first.stdout.rstrip())
    print(f"(exit code {first.exit_code})")

    print(f"\n$ registrar audit --stack-set {NAME} --prune-orphans --yes")
    pruned = run_audit(["--stack-set", NAME, "--prune-orphans", "--yes"], env)
    print(pruned.stdout.rstrip())
    print(f"(exit code {pruned.exit_code})")

    after = run_audit(["--stack-set", NAME, "--format", "json"], env)
    summary = after.json()["summary"] if after.exit_code in (0, 1) else {}
    found = {line.split()[0] for line in first.stdout.splitlines()[2:-1] if line.strip()}
    expected = {"ok", "orphan", "foreign", "failed", "missing"}
    good = first.exit_code == 1 and expected <= found and summary.get("orphan") == 0
    print(f"\n{'✓' if good else '✗'} the audit found {', '.join(sorted(expected & found))}"
          f"{'' if expected <= found else ' (missing: ' + ', '.join(sorted(expected - found)) + ')'}; "
          f"after pruning: {summary.get('orphan', '?')} orphan")
    return 0 if good else 1
