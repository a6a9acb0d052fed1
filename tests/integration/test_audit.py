"""`registrar audit` through the real binary: an organisation and a StackSet in moto, accounts
onboarded through the real `bootstrap`, the vendor's emulator, and every verdict, the JSON
output, the exit codes and `--prune-orphans` (which never touches anyone else's registration).
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from sandbox.dynatrace_rollout import Member, onboard as onboard_dynatrace
from sandbox.paths import registrar_path
from sandbox.vendors import VENDORS
from sandbox.stackset import (InstanceStatusShim, Organisation, create_stack_set, audit_env, onboard,
                              run_audit, trivial_template)

NAME = "registrar"
OUTSIDE_OURS, OUTSIDE_FOREIGN = "999999999999", "888888888888"
FAILED_REASON = "Datadog refused POST accounts with HTTP 403: Forbidden."


@pytest.fixture(scope="module")
def registrar_cli():
    path = registrar_path()
    if not path.exists():
        pytest.fail(f"the registrar binary is missing at {path}: run `make build` first "
                    "(or point REGISTRAR_CLI at it)", pytrace=False)
    return path


@pytest.fixture
def shim(sandbox):
    proxy = InstanceStatusShim(sandbox.aws.url).start()
    yield proxy
    proxy.stop()


def datadog_parameters(arn: str, **more: str) -> dict[str, str]:
    """templates/datadog.yaml's parameters, as a StackSet holds them (no Vendor: the template is Datadog's)."""
    return {"SecretArn": arn, "DatadogSite": "datadoghq.com", "IAMRoleName": "",
            "DisableMetricCollection": "false", "DisableResourceCollection": "false",
            "CloudSecurityPostureManagement": "false", "HomeRegion": "", **more}


def by_account(report: dict) -> dict[str, list[dict]]:
    lines: dict[str, list[dict]] = {}
    for finding in report["findings"]:
        lines.setdefault(finding["account"], []).append(finding)
    return lines


def patch_by_hand(sb, config_id: str, attributes: dict) -> None:
    """What someone changing the registration in Datadog's console or API does."""
    body = json.dumps({"data": {"type": "account", "attributes": attributes}}).encode()
    request = urllib.request.Request(f"{sb.datadog.url}/api/v2/integration/aws/accounts/{config_id}", data=body,
                                     method="PATCH", headers={"DD-API-KEY": sb.api_key,
                                                              "DD-APPLICATION-KEY": sb.app_key,
                                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


@pytest.fixture
def datadog_world(sandbox, shim):
    """An organisation with one account of every verdict, and two registrations outside it."""
    sb = sandbox
    org = Organisation(sb.aws)
    ok, missing, failed, foreign, orphan, drift, closed_foreign = org.add_accounts(7)
    arn = sb.datadog_secret()
    stack_set = create_stack_set(sb.aws, NAME, datadog_parameters(arn), targets=[org.root])
    props = sb.datadog_props(arn, AccountTags=None)
    fn = sb.function()
    answers = onboard(fn, stack_set, [ok, failed, orphan, drift], props, sb.catcher)
    assert {a: inv.cfn.body_json["Status"] for a, inv in answers.items()} == dict.fromkeys(answers, "SUCCESS")
    gone = onboard(fn, stack_set, [OUTSIDE_OURS], props, sb.catcher)[OUTSIDE_OURS]
    assert gone.cfn.body_json["Status"] == "SUCCESS"
    sb.datadog.seed_account(foreign, account_tags=["team:payments"])
    sb.datadog.seed_account(closed_foreign)
    sb.datadog.seed_account(OUTSIDE_FOREIGN)
    shim.fail(failed, FAILED_REASON)
    org.close(orphan)
    org.close(closed_foreign)
    drifted = sb.datadog.find(drift)[0]["id"]
    patch_by_hand(sb, drifted, {"aws_account_id": drift, "auth_config": {"role_name": "SomeoneElsesRole"},
                                "metrics_config": {"enabled": False}})
    accounts = dict(ok=ok, missing=missing, failed=failed, foreign=foreign, orphan=orphan, drift=drift,
                    closed_foreign=closed_foreign, management=org.management)
    return sb, org, accounts, audit_env(sb.aws, sb.datadog.url, shim.url)


def test_every_verdict_is_found_and_the_json_says_why(datadog_world, registrar_cli):
    sb, _, accounts, env = datadog_world
    run = run_audit(["--stack-set", NAME, "--format", "json"], env)
    assert run.exit_code == 1, run.stderr
    report = run.json()
    lines = by_account(report)
    verdict = {name: [f["verdict"] for f in lines[account]] for name, account in accounts.items()}
    assert verdict == {"ok": ["ok"], "missing": ["missing"], "failed": ["failed"], "foreign": ["foreign"],
                       "orphan": ["orphan"], "drift": ["drift"], "closed_foreign": ["foreign"],
                       "management": ["ok"]}
    assert [f["verdict"] for f in lines[OUTSIDE_OURS]] == ["orphan"]
    assert [f["verdict"] for f in lines[OUTSIDE_FOREIGN]] == ["foreign"]
    failed = lines[accounts["failed"]][0]
    assert failed["detail"] == f"stack instance in us-east-1 is OUTDATED/FAILED: {FAILED_REASON}"
    assert failed["stack_instance"]["detailed_status"] == "FAILED"
    drift = lines[accounts["drift"]][0]["detail"]
    assert "role SomeoneElsesRole, the StackSet says DatadogIntegrationRole" in drift
    assert "metric_collection false, the StackSet says true" in drift
    orphan = lines[accounts["orphan"]][0]
    assert orphan["account_status"] == "SUSPENDED"
    assert orphan["registration"]["made_by"] == "registrar"
    assert orphan["registration"]["stack"].startswith("us-east-1/stackset-registrar-")
    assert lines[accounts["foreign"]][0]["registration"]["made_by"] == "someone else"
    assert report["schema"] == 1 and report["vendor"] == "datadog" and report["location"] == "datadoghq.com"
    assert report["summary"] == {"ok": 2, "missing": 1, "failed": 1, "foreign": 3, "orphan": 2, "drift": 1,
                                 "unhealthy": 0}
    assert "pruned" not in report


def test_the_audit_reads_and_never_writes(datadog_world, registrar_cli):
    sb, _, _, env = datadog_world
    before = len(sb.datadog.requests)
    state = sb.datadog.accounts()
    run = run_audit(["--stack-set", NAME], env)
    assert run.exit_code == 1, run.stderr
    calls = sb.datadog.requests[before:]
    assert [(r.method, r.path) for r in calls] == [("GET", "/api/v2/integration/aws/accounts")], \
        "one call lists every registration (the operation has no paging)"
    assert sb.datadog.accounts() == state


def test_the_table_has_one_line_per_account_and_no_colour_in_a_pipe(datadog_world, registrar_cli):
    _, _, accounts, env = datadog_world
    run = run_audit(["--stack-set", NAME], env)
    assert run.exit_code == 1
    assert "\x1b[" not in run.stdout and "\x1b[" not in run.stderr, "no colour or progress without a terminal"
    header, *rows, summary = run.stdout.splitlines()[1:]
    assert header.split() == ["VERDICT", "ACCOUNT", "NAME", "REGISTRATION", "DETAIL"]
    assert len(rows) == len(accounts) + 2
    assert rows[0].split()[0] in {"ok", "missing", "failed", "foreign", "orphan", "drift"}
    assert summary == "summary: 1 drift, 1 failed, 3 foreign, 1 missing, 2 ok, 2 orphan"


def test_prune_orphans_deletes_only_registrar_made_registrations_of_gone_accounts(datadog_world, registrar_cli):
    sb, _, accounts, env = datadog_world
    foreign_before = {a["id"] for a in sb.datadog.accounts() if not any(
        t.startswith("registrar_stack:") for t in a["attributes"]["account_tags"] or [])}
    refused = run_audit(["--stack-set", NAME, "--prune-orphans"], env)
    assert refused.exit_code == 2 and "--yes" in refused.stderr, "no terminal to confirm on: --yes is required"
    assert len(sb.datadog.accounts()) == 8, "nothing was deleted"

    run = run_audit(["--stack-set", NAME, "--prune-orphans", "--yes", "--format", "json"], env)
    assert run.exit_code == 1, run.stderr  # the other findings remain
    report = run.json()
    pruned = {(p["account"], p["result"]) for p in report["pruned"]}
    assert pruned == {(accounts["orphan"], "removed"), (OUTSIDE_OURS, "removed")}
    assert "will delete 2 Registrar-made AWS integration(s) at Datadog (datadoghq.com)" in run.stderr, \
        "the plan is printed first, in the vendor's words"
    left = {a["attributes"]["aws_account_id"] for a in sb.datadog.accounts()}
    assert accounts["orphan"] not in left and OUTSIDE_OURS not in left
    assert {accounts["closed_foreign"], OUTSIDE_FOREIGN, accounts["foreign"]} <= left
    assert foreign_before <= {a["id"] for a in sb.datadog.accounts()}, "no foreign registration was touched"

    again = run_audit(["--stack-set", NAME, "--format", "json"], env).json()
    assert again["summary"]["orphan"] == 0 and again["summary"]["foreign"] == 3


def test_an_organisation_that_is_all_ok_exits_0_and_ous_narrow_the_audit(sandbox, shim, registrar_cli):
    sb = sandbox
    org = Organisation(sb.aws)
    workloads = org.ou("workloads")
    inner = org.ou("team", parent=workloads)
    members = org.add_accounts(2, ou=inner)
    outsider = org.add_accounts(1)[0]
    arn = sb.datadog_secret()
    stack_set = create_stack_set(sb.aws, NAME, datadog_parameters(arn), targets=[workloads])
    onboard(sb.function(), stack_set, members, sb.datadog_props(arn, AccountTags=None), sb.catcher)
    env = audit_env(sb.aws, sb.datadog.url, shim.url)

    narrowed = run_audit(["--stack-set", NAME, "--ou", workloads, "--format", "json"], env)
    assert narrowed.exit_code == 0, narrowed.stdout + narrowed.stderr
    assert sorted(f["account"] for f in narrowed.json()["findings"]) == sorted(members)

    everything = run_audit(["--stack-set", NAME, "--format", "json"], env)
    assert everything.exit_code == 1
    assert {f["account"]: f["verdict"] for f in everything.json()["findings"]}[outsider] == "missing"

    before = len(shim.requests)
    delegated = run_audit(["--stack-set", NAME, "--ou", workloads, "--call-as", "DELEGATED_ADMIN"], env)
    assert delegated.exit_code == 0, delegated.stderr
    stack_set_calls = [r for r in shim.requests[before:] if r.path.startswith("/cloudformation/")]
    assert {r.path for r in stack_set_calls} == {"/cloudformation/DescribeStackSet",
                                                 "/cloudformation/ListStackInstances"}
    assert all(b"CallAs=DELEGATED_ADMIN" in r.body for r in stack_set_calls)


def test_a_stack_set_that_switched_from_the_single_template_audits_the_same(sandbox, shim, registrar_cli):
    # The single template of earlier releases: Vendor, and every vendor's parameters. After the
    # switch (docs/template.md, "Moving from template.yaml"): templates/datadog.yaml's only.
    sb = sandbox
    org = Organisation(sb.aws)
    members = org.add_accounts(2)
    arn = sb.datadog_secret()
    legacy = {**datadog_parameters(arn), "Vendor": "datadog", "EnvironmentUrl": "", "MonitoringConfigId": "",
              "LogIngest": "false", "EventIngest": "false", "IngestSecretArn": ""}
    stack_set = create_stack_set(sb.aws, NAME, legacy, targets=[org.root])
    onboard(sb.function(), stack_set, members, sb.datadog_props(arn, AccountTags=None), sb.catcher)
    env = audit_env(sb.aws, sb.datadog.url, shim.url)
    before = run_audit(["--stack-set", NAME, "--format", "json"], env)
    assert before.exit_code == 0, before.stdout + before.stderr

    switched = datadog_parameters(arn)
    sb.aws.client("cloudformation").update_stack_set(
        StackSetName=NAME, TemplateBody=trivial_template(switched),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in switched.items()])
    after = run_audit(["--stack-set", NAME, "--format", "json"], env)
    assert after.exit_code == before.exit_code, after.stderr
    assert after.json()["findings"] == before.json()["findings"]
    assert {f["verdict"] for f in after.json()["findings"] if f["account"] in members} == {"ok"}


def test_an_audit_that_cannot_run_exits_2_and_says_what_to_do(sandbox, shim, registrar_cli):
    sb = sandbox
    Organisation(sb.aws)
    env = audit_env(sb.aws, sb.datadog.url, shim.url)
    run = run_audit(["--stack-set", "no-such-stack-set"], env)
    assert run.exit_code == 2
    assert "DescribeStackSet" in run.stderr and "--call-as DELEGATED_ADMIN" in run.stderr
    assert run.stdout == ""

    create_stack_set(sb.aws, NAME, datadog_parameters(sb.datadog_secret(), Vendor="sumologic"))
    run = run_audit(["--stack-set", NAME], env)
    assert run.exit_code == 2 and all(v["name"] in run.stderr for v in VENDORS["vendors"]), run.stderr

    sb.aws.client("cloudformation").delete_stack_set(StackSetName=NAME)
    arn = sb.datadog_secret(api_key="0" * 32)
    create_stack_set(sb.aws, NAME, datadog_parameters(arn))
    run = run_audit(["--stack-set", NAME], env)
    assert run.exit_code == 2 and "Datadog refused GET accounts with HTTP 403" in run.stderr, run.stderr


def test_dynatrace_verdicts_and_prune(sandbox, shim, registrar_cli):
    sb = sandbox
    org = Organisation(sb.aws)
    ok, missing, failed, foreign, orphan, unbound, sick = org.add_accounts(7)
    arn = sb.dynatrace_secret()
    template = sb.dynatrace.add_monitoring_config("organisation template")
    parameters = {"SecretArn": arn, "IAMRoleName": "", "HomeRegion": "",
                  "EnvironmentUrl": f"https://{sb.dynatrace.environment_host}", "MonitoringConfigId": template}
    stack_set = create_stack_set(sb.aws, NAME, parameters, targets=[org.root])
    members = [Member(a, sb.stack(account=a, name=stack_set.stack_name())) for a in (ok, failed, orphan, sick)]
    phase = onboard_dynatrace(sb, members, arn, template, concurrency=3)
    assert phase.statuses == {"SUCCESS": 8}, phase.reasons
    # Dynatrace reports the sick account's configuration in error (its status endpoint).
    sick_config = next(m for m in members if m.account == sick).binding["Data"]["AccountMonitoringConfigId"]
    sb.dynatrace.set_config_status(sick_config, "ERROR")
    half = sb.stack(account=unbound, name=stack_set.stack_name())
    assert sb.invoke(half.create(sb.dynatrace_props(arn)), sb.dynatrace_env()).cfn.body_json["Status"] == "SUCCESS"
    hand_made = sb.dynatrace.seed_connection("prod account", role_arn=f"arn:aws:iam::{foreign}:role/Dynatrace")
    shim.fail(failed, "Dynatrace refused the role binding")
    org.close(orphan)
    env = audit_env(sb.aws, sb.dynatrace.url, shim.url)

    report = run_audit(["--stack-set", NAME, "--format", "json"], env)
    assert report.exit_code == 1, report.stderr
    lines = by_account(report.json())
    assert {name: lines[a][0]["verdict"] for name, a in dict(
        ok=ok, missing=missing, failed=failed, foreign=foreign, orphan=orphan, unbound=unbound, sick=sick).items()} == {
        "ok": "ok", "missing": "missing", "failed": "failed", "foreign": "foreign", "orphan": "orphan",
        "unbound": "drift", "sick": "unhealthy"}
    assert lines[sick][0]["detail"].endswith(f"but monitoring configuration {sick_config} reports ERROR")
    assert lines[unbound][0]["detail"] == ("no role bound yet, the StackSet says DynatraceMonitoringRole; "
                                           "monitoring no configuration, the StackSet says its own configuration")
    assert lines[foreign][0]["registration"]["id"] == hand_made

    orphan_connection = lines[orphan][0]["registration"]["id"]
    configs_before = sb.dynatrace.monitoring_configs()
    assert any(orphan_connection in json.dumps(c) for c in configs_before), "the orphan has its own configuration"
    pruned = run_audit(["--stack-set", NAME, "--format", "json", "--prune-orphans", "--yes"], env)
    assert [(p["account"], p["result"]) for p in pruned.json()["pruned"]] == [(orphan, "removed")]
    left = {c["objectId"] for c in sb.dynatrace.connections()}
    assert orphan_connection not in left and hand_made in left
    configs = sb.dynatrace.monitoring_configs()
    assert not any(orphan_connection in json.dumps(c) for c in configs), "its configuration went with it"
    assert len(configs) == len(configs_before) - 1, "and no other configuration was touched"


def run_on_a_terminal(args: list[str], env: dict[str, str], answer: str = "") -> tuple[int, str]:
    """Runs `registrar audit <args>` with stdin, stdout and stderr on a pseudo-terminal, typing
    `answer` when asked; returns the exit code and everything the terminal showed."""
    import os
    import pty
    import subprocess
    import time

    leader, follower = pty.openpty()
    process = subprocess.Popen([str(registrar_path()), "audit", *args], env=env, stdin=follower,
                               stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    shown = b""
    deadline = time.monotonic() + 60
    answered = False
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the process ended and closed the terminal
            break
        if not chunk:
            break
        shown += chunk
        if not answered and b"[y/N]" in shown:
            os.write(leader, answer.encode() + b"\n")
            answered = True
    code = process.wait(timeout=30)
    os.close(leader)
    return code, shown.decode("utf-8", "replace")


def test_on_a_terminal_verdicts_are_coloured_unless_no_color_and_pruning_asks_first(datadog_world, registrar_cli):
    sb, _, accounts, env = datadog_world
    code, shown = run_on_a_terminal(["--stack-set", NAME], env)
    assert code == 1
    assert "\x1b[31morphan\x1b[0m" in shown and "\x1b[32mok\x1b[0m" in shown, shown[-2000:]

    code, shown = run_on_a_terminal(["--stack-set", NAME], dict(env, NO_COLOR="1"))
    assert code == 1 and "\x1b[31m" not in shown and "\x1b[32m" not in shown

    before = sb.datadog.accounts()
    code, shown = run_on_a_terminal(["--stack-set", NAME, "--prune-orphans"], env, answer="n")
    assert "Delete these 2 registration(s)? [y/N]" in shown and "prune: nothing deleted." in shown, shown[-2000:]
    assert sb.datadog.accounts() == before

    code, shown = run_on_a_terminal(["--stack-set", NAME, "--prune-orphans"], env, answer="y")
    assert f"removed: {accounts['orphan']}" in shown, shown[-2000:]
    assert len(sb.datadog.accounts()) == len(before) - 2


def test_managed_collection_settings_drift_and_unmanaged_ones_do_not(sandbox, shim, registrar_cli):
    """A StackSet that manages regions and excluded namespaces: a console change of the regions
    is drift, named; a console change of a setting the StackSet leaves unmanaged is not."""
    sb = sandbox
    org = Organisation(sb.aws)
    changed, untouched = org.add_accounts(2)
    arn = sb.datadog_secret()
    parameters = datadog_parameters(arn, DatadogRegions="eu-west-1", DatadogExcludeNamespaces="AWS/SQS,AWS/Usage",
                                    DatadogAutomuteEnabled="")
    stack_set = create_stack_set(sb.aws, NAME, parameters, targets=[org.root])
    props = sb.datadog_props(arn, AccountTags=None, Regions=["eu-west-1"], ExcludeNamespaces=["AWS/SQS", "AWS/Usage"])
    answers = onboard(sb.function(), stack_set, [changed, untouched], props, sb.catcher)
    assert {a: inv.cfn.body_json["Status"] for a, inv in answers.items()} == dict.fromkeys(answers, "SUCCESS")
    env = audit_env(sb.aws, sb.datadog.url, shim.url)
    clean = run_audit(["--stack-set", NAME, "--format", "json"], env)
    assert clean.exit_code == 0, clean.stdout + clean.stderr

    patch_by_hand(sb, sb.datadog.find(changed)[0]["id"],
                  {"aws_account_id": changed, "aws_regions": {"include_all": True}})
    patch_by_hand(sb, sb.datadog.find(untouched)[0]["id"],
                  {"aws_account_id": untouched, "metrics_config": {"automute_enabled": False}})
    audit = run_audit(["--stack-set", NAME, "--format", "json"], env)
    assert audit.exit_code == 1, audit.stdout + audit.stderr
    lines = by_account(audit.json())
    assert lines[untouched][0]["verdict"] == "ok", lines[untouched]
    assert lines[changed][0]["verdict"] == "drift"
    detail = lines[changed][0]["detail"]
    assert 'aws_regions {"include_all":true}, the StackSet says {"include_only":["eu-west-1"]}' in detail, detail
    assert "namespace_filters" not in detail
