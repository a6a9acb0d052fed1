"""New Relic through the real binary: the account's role linked to a New Relic account
(NerdGraph `cloudLinkAccount`; the link's name is the ownership mark), its Update and Delete,
conflicts, adoption, lost answers, IAM propagation and the partitions, against the sandbox's
NerdGraph emulator in its documented mode (and with the undocumented duplicate refusal on).
The first tests check the emulator itself against what New Relic publishes.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from contract import MARKER_PREFIX, answered
from sandbox.newrelic import PATH, ROLE_NOT_READY, NewRelicEmulator

ACCOUNT = "123456789012"
NR_ACCOUNT = 1234567
ROLE = "NewRelicInfrastructure-Integrations"
PRINCIPAL, GOVCLOUD_PRINCIPAL = "754728514883", "266471868085"
PID_RE = re.compile(r"^registrar:newrelic:(?P<location>(us|eu)-\d+):(?P<partition>aws|aws-us-gov):"
                    r"(?P<account>\d{12}):(?P<id>\d+)$")
KEY = "NRAK-TESTKEY0000000000000000000"


def role_arn(account: str = ACCOUNT, partition: str = "aws", role: str = ROLE) -> str:
    return f"arn:{partition}:iam::{account}:role/{role}"


def our_name(stack, account: str = ACCOUNT) -> str:
    return f"registrar-{account}-{stack.region}/{stack.name}"


# ---------------------------------------------------------------------- the emulator itself

def graphql(url: str, query: str, variables: dict, key: str | None = KEY) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", **({"API-Key": key} if key else {})}
    req = urllib.request.Request(url + PATH, json.dumps({"query": query, "variables": variables}).encode(),
                                 method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


LINK = "mutation($accountId: Int!, $accounts: CloudLinkCloudAccountsInput!) { cloudLinkAccount(accountId: $accountId, accounts: $accounts) { errors { message type } linkedAccounts { id name authLabel externalId metricCollectionMode nrAccountId } } }"
LIST = "query($provider: String) { actor { cloud { linkedAccounts(provider: $provider) { id name authLabel externalId metricCollectionMode nrAccountId } } } }"
UNLINK = "mutation($accountId: Int!, $accounts: [CloudUnlinkAccountsInput!]!) { cloudUnlinkAccount(accountId: $accountId, accounts: $accounts) { errors { message } unlinkedAccounts { id } } }"


@pytest.fixture
def nr():
    emulator = NewRelicEmulator(KEY).start()
    try:
        yield emulator
    finally:
        emulator.stop()


def test_emulator_links_lists_and_unlinks_as_nerdgraph_does(nr):
    link = {"arn": role_arn(), "name": "prod"}
    status, body = graphql(nr.url, LINK, {"accountId": NR_ACCOUNT, "accounts": {"aws": [link]}})
    assert status == 200 and body["data"]["cloudLinkAccount"]["errors"] == []
    [made] = body["data"]["cloudLinkAccount"]["linkedAccounts"]
    assert made["externalId"] == ACCOUNT and made["authLabel"] == role_arn()
    assert made["metricCollectionMode"] == "PULL", "PULL when left out"
    status, body = graphql(nr.url, LIST, {"provider": "aws"})
    assert [a["id"] for a in body["data"]["actor"]["cloud"]["linkedAccounts"]] == [made["id"]]
    status, body = graphql(nr.url, UNLINK, {"accountId": NR_ACCOUNT, "accounts": [{"linkedAccountId": made["id"]}]})
    assert [a["id"] for a in body["data"]["cloudUnlinkAccount"]["unlinkedAccounts"]] == [made["id"]]
    assert nr.links() == []
    # A missing or unknown key: HTTP 401, error_code BAD_API_KEY (newrelic-client-go graphql.go).
    status, body = graphql(nr.url, LIST, {}, key=None)
    assert status == 401 and body["errors"][0]["extensions"]["error_code"] == "BAD_API_KEY"
    assert graphql(nr.url, LIST, {}, key="NRAK-OTHER")[0] == 401
    # A mode that is not PULL or PUSH is not a CloudMetricCollectionMode.
    bad = {"arn": role_arn(), "name": "x", "metricCollectionMode": "STREAM"}
    assert "errors" in graphql(nr.url, LINK, {"accountId": NR_ACCOUNT, "accounts": {"aws": [bad]}})[1]
    # While New Relic cannot assume the role, the link fails with Terraform's retried words.
    nr.set_role_validation(failures=1)
    _, body = graphql(nr.url, LINK, {"accountId": NR_ACCOUNT, "accounts": {"aws": [link]}})
    assert ROLE_NOT_READY in body["data"]["cloudLinkAccount"]["errors"][0]["message"]
    assert body["data"]["cloudLinkAccount"]["linkedAccounts"] == []


def test_emulator_duplicates_are_made_unless_the_switch_refuses_them(nr):
    link = {"arn": role_arn(), "name": "prod"}
    for _ in range(2):
        graphql(nr.url, LINK, {"accountId": NR_ACCOUNT, "accounts": {"aws": [link]}})
    assert len(nr.links()) == 2, "nothing documents a refusal: by default a second link is made"
    nr.reset()
    nr.refuse_duplicate_links = True
    for _ in range(2):
        graphql(nr.url, LINK, {"accountId": NR_ACCOUNT, "accounts": {"aws": [link]}})
    assert len(nr.links()) == 1


# ---------------------------------------------------------------------- through the binary

def test_create_update_delete(sandbox):
    sb = sandbox
    env = sb.newrelic_env()
    arn = sb.newrelic_secret()
    stack = sb.stack()
    fn = sb.function(env)
    props = sb.newrelic_props(arn)

    created = answered(fn.invoke(stack.create(props)), "SUCCESS")
    [link] = sb.newrelic.links()
    pid = created["PhysicalResourceId"]
    m = PID_RE.match(pid)
    assert m and m["location"] == f"us-{NR_ACCOUNT}" and m["account"] == ACCOUNT and m["id"] == str(link["id"])
    assert link["name"] == our_name(stack) and link["authLabel"] == role_arn()
    assert link["metricCollectionMode"] == "PULL" and link["nrAccountId"] == NR_ACCOUNT
    assert created["Data"]["ExternalId"] == str(NR_ACCOUNT), "the role's external id is the New Relic account id"
    assert created["Data"]["PrincipalAccountId"] == PRINCIPAL
    assert created["Data"]["RegistrationId"] == str(link["id"])

    # A retried Create finds its own link: no second one.
    again = answered(fn.invoke(stack.create(props)), "SUCCESS")
    assert again["PhysicalResourceId"] == pid and len(sb.newrelic.links()) == 1

    # Update in place: a renamed role is pointed at; the link stays.
    mark = len(sb.newrelic.requests)
    new_props = dict(props, RoleName="NewRelicRenamed")
    updated = answered(fn.invoke(stack.update(pid, new_props, props)), "SUCCESS")
    assert updated["PhysicalResourceId"] == pid
    [link2] = sb.newrelic.links()
    assert link2["id"] == link["id"] and link2["authLabel"] == role_arn(role="NewRelicRenamed")
    assert [r.path for r in sb.newrelic.mutating_requests()[mark:] if r.path.endswith("cloudLinkAccount")] == []

    deleted = answered(fn.invoke(stack.delete(pid, new_props)), "SUCCESS")
    assert deleted["PhysicalResourceId"] == pid and sb.newrelic.links() == []
    # Deleting what is gone is success, and unlinks nothing else.
    other = sb.newrelic.seed_link("someone's", role_arn("210987654321"))
    answered(fn.invoke(stack.delete(pid, new_props)), "SUCCESS")
    assert [l["id"] for l in sb.newrelic.links()] == [other]
    assert fn.starts == 1


def test_eu_region_and_push_mode(sandbox):
    sb = sandbox
    arn = sb.newrelic_secret()
    stack = sb.stack()
    props = sb.newrelic_props(arn, NewRelicRegion="EU", MetricCollectionMode="PUSH")
    body = answered(sb.invoke(stack.create(props), sb.newrelic_env()), "SUCCESS")
    assert PID_RE.match(body["PhysicalResourceId"])["location"] == f"eu-{NR_ACCOUNT}"
    assert sb.newrelic.links()[0]["metricCollectionMode"] == "PUSH"
    # New Relic cannot change a link's collection mode: the Update says so and changes nothing.
    pid = body["PhysicalResourceId"]
    failed = answered(sb.invoke(stack.update(pid, dict(props, MetricCollectionMode="PULL"), props),
                                sb.newrelic_env()), "FAILED")
    assert "collection mode" in failed["Reason"] and failed["PhysicalResourceId"] == pid
    assert sb.newrelic.links()[0]["metricCollectionMode"] == "PUSH"


def test_someone_elses_link_is_a_conflict_and_its_delete_keeps_it(sandbox):
    sb = sandbox
    theirs = sb.newrelic.seed_link("Production (console)", role_arn())
    arn = sb.newrelic_secret()
    stack = sb.stack()
    props = sb.newrelic_props(arn)
    failed = answered(sb.invoke(stack.create(props), sb.newrelic_env()), "FAILED")
    assert failed["PhysicalResourceId"].startswith(MARKER_PREFIX)
    assert "someone else" in failed["Reason"] and str(theirs) in failed["Reason"]
    answered(sb.invoke(stack.delete(failed["PhysicalResourceId"], props), sb.newrelic_env()), "SUCCESS")
    assert [l["id"] for l in sb.newrelic.links()] == [theirs], "the rollback's Delete kept their link"


def test_another_stacks_link_is_a_conflict(sandbox):
    sb = sandbox
    sb.newrelic.seed_link(f"registrar-{ACCOUNT}-eu-west-1/StackSet-other", role_arn())
    arn = sb.newrelic_secret()
    failed = answered(sb.invoke(sb.stack().create(sb.newrelic_props(arn)), sb.newrelic_env()), "FAILED")
    assert "another Registrar stack" in failed["Reason"] and len(sb.newrelic.links()) == 1


def test_adopt_takes_the_link_over_and_delete_then_removes_it(sandbox):
    sb = sandbox
    theirs = sb.newrelic.seed_link("Production (console)", role_arn(role="Old"))
    arn = sb.newrelic_secret()
    stack = sb.stack()
    props = sb.newrelic_props(arn, OnConflict="adopt")
    body = answered(sb.invoke(stack.create(props), sb.newrelic_env()), "SUCCESS")
    assert PID_RE.match(body["PhysicalResourceId"])["id"] == str(theirs)
    [link] = sb.newrelic.links()
    assert link["name"] == our_name(stack) and link["authLabel"] == role_arn()
    answered(sb.invoke(stack.delete(body["PhysicalResourceId"], props), sb.newrelic_env()), "SUCCESS")
    assert sb.newrelic.links() == []


def test_a_link_that_vanished_is_made_again_on_update(sandbox):
    sb = sandbox
    arn = sb.newrelic_secret()
    stack = sb.stack()
    props = sb.newrelic_props(arn)
    pid = answered(sb.invoke(stack.create(props), sb.newrelic_env()), "SUCCESS")["PhysicalResourceId"]
    sb.newrelic.remove_link(PID_RE.match(pid)["id"])
    updated = answered(sb.invoke(stack.update(pid, props, props), sb.newrelic_env()), "SUCCESS")
    [link] = sb.newrelic.links()
    assert updated["PhysicalResourceId"].endswith(f":{link['id']}") and link["name"] == our_name(stack)


@pytest.mark.parametrize("refuse_duplicates", [False, True], ids=["duplicates-made", "duplicates-refused"])
@pytest.mark.parametrize("fault", [{"drop_response": True}, {"status": 502}, {"close": True},
                                   {"graphql_error": "TIMEOUT"}, {"malformed": True}],
                         ids=["answer-lost", "502", "closed", "timeout-class", "malformed"])
def test_a_link_whose_answer_is_lost_or_refused_transiently_is_made_once(sandbox, fault, refuse_duplicates):
    sb = sandbox
    sb.newrelic.refuse_duplicate_links = refuse_duplicates
    sb.newrelic.add_fault("POST", f"{PATH}/cloudLinkAccount", [fault])
    arn = sb.newrelic_secret()
    stack = sb.stack()
    body = answered(sb.invoke(stack.create(sb.newrelic_props(arn)), sb.newrelic_env()), "SUCCESS")
    [link] = sb.newrelic.links()
    assert body["PhysicalResourceId"].endswith(f":{link['id']}") and link["name"] == our_name(stack)


def test_transient_query_errors_are_retried(sandbox):
    sb = sandbox
    sb.newrelic.add_fault("POST", f"{PATH}/linkedAccounts", [{"graphql_error": "TOO_MANY_REQUESTS"}, {"status": 503},
                                                              {"graphql_error": "INTERNAL_SERVER_ERROR"}])
    sb.newrelic.add_fault("POST", f"{PATH}/cloudLinkAccount", [{"status": 500}])
    arn = sb.newrelic_secret()
    answered(sb.invoke(sb.stack().create(sb.newrelic_props(arn)), sb.newrelic_env()), "SUCCESS")
    assert len(sb.newrelic.links()) == 1


def test_the_link_waits_for_iam_to_propagate(sandbox):
    sb = sandbox
    sb.newrelic.set_role_validation(failures=3)
    arn = sb.newrelic_secret()
    answered(sb.invoke(sb.stack().create(sb.newrelic_props(arn)), sb.newrelic_env()), "SUCCESS")
    assert len(sb.newrelic.links()) == 1 and sb.newrelic.counters.role_rejections == 3


def test_a_role_new_relic_never_can_assume_fails_with_what_to_check(sandbox):
    sb = sandbox
    sb.newrelic.set_role_validation(failures=10_000)
    arn = sb.newrelic_secret()
    inv = sb.invoke(sb.stack().create(sb.newrelic_props(arn)), sb.newrelic_env(), deadline_ms=None, timeout_s=12)
    failed = answered(inv, "FAILED")
    assert ROLE_NOT_READY in failed["Reason"] and sb.newrelic.links() == []


def test_govcloud_trusts_new_relics_govcloud_account_and_china_is_refused(sandbox):
    sb = sandbox
    arn = sb.newrelic_secret()
    props = sb.newrelic_props(arn, Partition="aws-us-gov", AccountId=ACCOUNT)
    body = answered(sb.invoke(sb.stack().create(props), sb.newrelic_env()), "SUCCESS")
    assert body["Data"]["PrincipalAccountId"] == GOVCLOUD_PRINCIPAL
    assert sb.newrelic.links()[0]["authLabel"] == role_arn(partition="aws-us-gov")
    assert PID_RE.match(body["PhysicalResourceId"])["partition"] == "aws-us-gov"
    china = answered(sb.invoke(sb.stack().create(sb.newrelic_props(arn, Partition="aws-cn", AccountId="210987654321")),
                               sb.newrelic_env()), "FAILED")
    assert "aws-cn" in china["Reason"] and len(sb.newrelic.links()) == 1


def test_a_wrong_key_fails_with_what_to_check(sandbox):
    sb = sandbox
    arn = sb.newrelic_secret(api_key="NRAK-WRONGWRONGWRONGWRONGWRONGWR")
    failed = answered(sb.invoke(sb.stack().create(sb.newrelic_props(arn)), sb.newrelic_env()), "FAILED")
    assert "401" in failed["Reason"] and "user key" in failed["Reason"] and sb.newrelic.links() == []


def test_properties_are_checked_before_any_call(sandbox):
    sb = sandbox
    arn = sb.newrelic_secret()
    for bad, word in [({"NewRelicAccountId": None}, "NewRelicAccountId"), ({"NewRelicAccountId": "12ab"}, "NewRelicAccountId"),
                      ({"NewRelicRegion": "APAC"}, "NewRelicRegion"), ({"MetricCollectionMode": "STREAM"}, "MetricCollectionMode")]:
        failed = answered(sb.invoke(sb.stack().create(sb.newrelic_props(arn, **bad)), sb.newrelic_env()), "FAILED")
        assert word in failed["Reason"]
    assert sb.newrelic.requests == []


ACCOUNTS, CONCURRENCY, ERROR_RATE = 200, 50, 0.05


def test_a_rollout_of_200_accounts_at_concurrency_50_with_5_percent_5xx(sandbox):
    sb = sandbox
    nr = sb.newrelic
    nr.set_error_rate(ERROR_RATE)
    nr.set_latency(5, 40)
    arn = sb.newrelic_secret()
    env = sb.newrelic_env()
    stacks = [sb.stack(account=str(100000000000 + i), name=f"StackSet-registrar-{100000000000 + i}")
              for i in range(ACCOUNTS)]

    def create(stack):
        inv = sb.invoke(stack.create(sb.newrelic_props(arn)), env, timeout_s=60)
        return stack, (inv.cfn.body_json if inv.cfn else {"Status": "NO ANSWER"})

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        created = list(pool.map(create, stacks))
    statuses = [body["Status"] for _, body in created]
    assert statuses.count("SUCCESS") == ACCOUNTS, [b.get("Reason") for _, b in created if b["Status"] != "SUCCESS"][:3]
    links = nr.links()
    by_account = {}
    for link in links:
        by_account.setdefault(link["externalId"], []).append(link)
    duplicates = sum(len(v) - 1 for v in by_account.values())
    assert len(by_account) == ACCOUNTS and duplicates == 0, f"{len(links)} links for {len(by_account)} accounts"
    served_5xx = sum(v for k, v in nr.counters.by_status.items() if k >= 500)
    assert served_5xx > 0, "the error rate was applied"

    def delete(pair):
        stack, body = pair
        inv = sb.invoke(stack.delete(body["PhysicalResourceId"], sb.newrelic_props(arn)), env, timeout_s=60)
        return inv.cfn.body_json["Status"] if inv.cfn else "NO ANSWER"

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        deleted = list(pool.map(delete, created))
    assert deleted.count("SUCCESS") == ACCOUNTS
    assert nr.links() == [], f"{len(nr.links())} links left after Delete"
    print(f"\nNew Relic rollout: {ACCOUNTS} accounts at concurrency {CONCURRENCY}, {ERROR_RATE:.0%} 5xx "
          f"({served_5xx} served): {len(by_account)} linked, {duplicates} duplicates, "
          f"{len(nr.links())} left after Delete")


# ---------------------------------------------------------------------- registrar audit

@pytest.fixture
def shim(sandbox):
    from sandbox.stackset import InstanceStatusShim
    proxy = InstanceStatusShim(sandbox.aws.url).start()
    yield proxy
    proxy.stop()


def test_audit_verdicts_and_prune(sandbox, shim):
    from sandbox.paths import registrar_path
    from sandbox.stackset import Organisation, audit_env, create_stack_set, run_audit
    if not registrar_path().exists():
        pytest.fail(f"the registrar binary is missing at {registrar_path()}: run `make build` first", pytrace=False)
    sb = sandbox
    nr = sb.newrelic
    org = Organisation(sb.aws)
    ok, missing, foreign, orphan, drifted, sick = org.add_accounts(6)
    arn = sb.newrelic_secret()
    # The member template has no Vendor parameter: the audit knows New Relic by its own parameter.
    parameters = {"SecretArn": arn, "IAMRoleName": "", "NewRelicAccountId": str(NR_ACCOUNT),
                  "HomeRegion": ""}
    stack_set = create_stack_set(sb.aws, "registrar", parameters, targets=[org.root])
    for account in (ok, orphan, drifted, sick):
        stack = sb.stack(account=account, name=stack_set.stack_name())
        answered(sb.invoke(stack.create(sb.newrelic_props(arn)), sb.newrelic_env()), "SUCCESS")
    [drifted_link] = nr.links_of(drifted)
    nr.remove_link(drifted_link["id"])
    nr.seed_link(f"registrar-{drifted}-us-east-1/{stack_set.stack_name()}", role_arn(drifted), mode="PUSH")
    hand_made = nr.seed_link("prod (console)", role_arn(foreign, role="NR"))
    [sick_link] = nr.links_of(sick)
    nr.disable_link(sick_link["id"])
    org.close(orphan)
    env = audit_env(sb.aws, nr.url, shim.url)

    report = run_audit(["--stack-set", "registrar", "--format", "json"], env)
    assert report.exit_code == 1, report.stderr
    lines: dict[str, list[dict]] = {}
    for finding in report.json()["findings"]:
        lines.setdefault(finding["account"], []).append(finding)
    assert {name: lines[a][0]["verdict"] for name, a in dict(
        ok=ok, missing=missing, foreign=foreign, orphan=orphan, drifted=drifted, sick=sick).items()} == {
        "ok": "ok", "missing": "missing", "foreign": "foreign", "orphan": "orphan", "drifted": "drift",
        "sick": "unhealthy"}
    assert lines[sick][0]["detail"].endswith("the link is disabled in New Relic: enable it there"), lines[sick]
    assert "metricCollectionMode PUSH, the StackSet says PULL" in lines[drifted][0]["detail"], lines[drifted]
    assert lines[foreign][0]["registration"]["id"] == str(hand_made)

    pruned = run_audit(["--stack-set", "registrar", "--format", "json", "--prune-orphans", "--yes"], env)
    assert [(p["account"], p["result"]) for p in pruned.json()["pruned"]] == [(orphan, "removed")]
    left = {link["externalId"] for link in nr.links()}
    assert orphan not in left and {ok, foreign, drifted, sick} <= left


def test_make_demo_vendor_newrelic_runs_the_whole_life(bootstrap):
    import subprocess
    import sys
    run = subprocess.run([sys.executable, "-m", "sandbox.demo", "--vendor", "newrelic"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "✓ all 4 CloudFormation answers were SUCCESS" in run.stdout
    assert "✓ no secret in logs, responses or vendor requests" in run.stdout
    assert "✓ the audit found failed, foreign, missing, ok, orphan; after pruning: 0 orphan" in run.stdout
