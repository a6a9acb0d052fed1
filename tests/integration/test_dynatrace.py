"""Dynatrace through the real binary: the registration (an AWS connection whose objectId is the
external id), the role binding (`Phase: role-binding`: the role ARN goes into the connection and
the account joins a monitoring configuration), and their Update and Delete, against the sandbox's
Dynatrace emulator. The first tests check the emulator itself against the documented API.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from contract import MARKER_PREFIX, answered
from sandbox import DynatraceEmulator
from sandbox.dynatrace import CONNECTION_SCHEMA, MONITORING_PATH, NAME_TAKEN, SETTINGS_PATH

ACCOUNT = "123456789012"
HOST = "abc12345.apps.dynatrace.com"
PRODUCTION_PRINCIPAL, NON_PRODUCTION_PRINCIPAL = "314146291599", "476114158034"
ROLE = "DynatraceMonitoringRole"
OBJECT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{60,140}$")


def registration_id(connection_id: str, account: str = ACCOUNT, host: str = HOST) -> str:
    return f"registrar:dynatrace:{host}:aws:{account}:{connection_id}"


def binding_id(connection_id: str, scope: str = "-", account: str = ACCOUNT, host: str = HOST) -> str:
    return f"registrar:binding:dynatrace:{host}:aws:{account}:{scope}:{connection_id}"


def our_name(stack, account: str = ACCOUNT) -> str:
    return f"registrar-{account}-{stack.region}/{stack.name}"


def role_arn(account: str = ACCOUNT) -> str:
    return f"arn:aws:iam::{account}:role/{ROLE}"


def binding(stack, request_type: str, props: dict, physical_id: str | None = None,
            old_props: dict | None = None) -> dict:
    """An event for the template's second custom resource (the role binding) in `stack`."""
    event = stack.event(request_type, props, physical_id=physical_id, old_props=old_props)
    event["LogicalResourceId"] = "VendorRoleBinding"
    event["ResourceType"] = "Custom::VendorRoleBinding"
    return event


def binding_props(sb, arn: str, connection_id: str, config: str | None = None, **more) -> dict:
    return sb.dynatrace_props(arn, Phase="role-binding", RegistrationId=connection_id,
                              MonitoringConfigId=config, **more)


def role_of(connection: dict) -> str:
    return connection["value"]["awsRoleBasedAuthentication"]["roleArn"]


# ---------------------------------------------------------------------- the emulator itself

TOKEN = "dt0s16.TESTTOKEN.SECRETPART"


def call(url: str, method: str = "GET", body=None, token: str | None = TOKEN) -> tuple[int, object]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json; charset=utf-8"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, json.loads(raw) if raw else None


def connection_body(name: str, arn: str = "") -> dict:
    return {"schemaId": CONNECTION_SCHEMA, "scope": "environment",
            "value": {"name": name, "type": "awsRoleBasedAuthentication",
                      "awsRoleBasedAuthentication": {"roleArn": arn, "consumers": ["SVC:com.dynatrace.da"]}}}


@pytest.fixture
def dt():
    emulator = DynatraceEmulator(TOKEN).start()
    try:
        yield emulator
    finally:
        emulator.stop()


def test_emulator_settings_objects_follow_the_documented_api(dt):
    status, body = call(dt.url + SETTINGS_PATH, "POST", [connection_body("one"), connection_body("one")])
    assert status == 207, "one created, one refused: multi-status"
    assert body[0]["code"] == 200 and OBJECT_ID_RE.match(body[0]["objectId"]) and ":" not in body[0]["objectId"]
    assert body[1]["code"] == 400
    assert body[1]["error"]["constraintViolations"][0]["message"] == NAME_TAKEN
    status, body = call(dt.url + SETTINGS_PATH, "POST", [connection_body("one")])
    assert status == 400 and body[0]["error"]["constraintViolations"][0]["path"] == "name"
    status, body = call(dt.url + SETTINGS_PATH, "POST", [connection_body("x:y")])
    assert status == 400
    status, body = call(dt.url + SETTINGS_PATH, "POST", [connection_body("bad-arn", "arn:aws:s3:::bucket")])
    assert status == 400 and "pattern" in json.dumps(body)

    oid = dt.find_connection("one")["objectId"]
    status, obj = call(f"{dt.url}{SETTINGS_PATH}/{oid}")
    assert status == 200 and obj["objectId"] == oid and obj["updateToken"]
    stale = obj["updateToken"]
    value = obj["value"]
    value["awsRoleBasedAuthentication"]["roleArn"] = role_arn()
    assert call(f"{dt.url}{SETTINGS_PATH}/{oid}", "PUT", {"value": value, "updateToken": stale})[0] == 200
    assert call(f"{dt.url}{SETTINGS_PATH}/{oid}", "PUT", {"value": value, "updateToken": stale})[0] == 409
    value["awsRoleBasedAuthentication"]["roleArn"] = "arn:aws:iam::123456789012:role/Other"
    status, body = call(f"{dt.url}{SETTINGS_PATH}/{oid}", "PUT", {"value": value})
    assert status == 400 and "cannot be changed" in json.dumps(body)

    assert call(f"{dt.url}{SETTINGS_PATH}/{oid}", "DELETE")[0] == 204
    assert call(f"{dt.url}{SETTINGS_PATH}/{oid}", "DELETE")[0] == 404
    assert call(f"{dt.url}{SETTINGS_PATH}/{oid}")[0] == 404


def test_emulator_pages_with_next_page_key_alone(dt):
    for i in range(5):
        dt.seed_connection(f"conn-{i}")
    dt.set_page_cap(2)
    url = f"{dt.url}{SETTINGS_PATH}?schemaIds={CONNECTION_SCHEMA}&fields=objectId,value&pageSize=500"
    status, page = call(url)
    names = [i["value"]["name"] for i in page["items"]]
    assert status == 200 and page["totalCount"] == 5 and set(page["items"][0]) == {"objectId", "value"}
    assert call(f"{url}&nextPageKey={page['nextPageKey']}")[0] == 400, "nextPageKey must come alone"
    while "nextPageKey" in page:
        status, page = call(f"{dt.url}{SETTINGS_PATH}?nextPageKey={page['nextPageKey']}")
        assert status == 200
        names += [i["value"]["name"] for i in page["items"]]
    assert names == [f"conn-{i}" for i in range(5)]
    assert call(f"{dt.url}{SETTINGS_PATH}")[0] == 400, "the first page needs schemaIds"


def test_emulator_role_validation_waits_for_iam_and_auth_is_enforced(dt):
    oid = dt.seed_connection("one")
    dt.set_role_validation(failures=2)
    value = dt.connection(oid)["value"]
    value["awsRoleBasedAuthentication"]["roleArn"] = role_arn()
    statuses = [call(f"{dt.url}{SETTINGS_PATH}/{oid}", "PUT", {"value": value})[0] for _ in range(3)]
    assert statuses == [400, 400, 200]
    assert dt.counters.role_rejections == 2

    assert call(dt.url + SETTINGS_PATH + f"?schemaIds={CONNECTION_SCHEMA}", token=None)[0] == 401
    assert call(dt.url + SETTINGS_PATH + f"?schemaIds={CONNECTION_SCHEMA}", token="dt0s16.WRONG")[0] == 401
    dt.revoke_scope("settings:objects:write")
    assert call(f"{dt.url}{SETTINGS_PATH}/{oid}", "DELETE")[0] == 403
    assert call(f"{dt.url}{SETTINGS_PATH}/{oid}")[0] == 200


def test_emulator_monitoring_configurations_reject_stale_writes(dt):
    cid = dt.add_monitoring_config()
    assert OBJECT_ID_RE.match(cid)
    status, config = call(f"{dt.url}{MONITORING_PATH}/{cid}")
    assert status == 200 and config["updateToken"] and config["scope"] == "integration-aws"
    value = config["value"]
    value["aws"]["credentials"].append({"description": "a", "enabled": True, "connectionId": "c1",
                                        "accountId": ACCOUNT})
    assert call(f"{dt.url}{MONITORING_PATH}/{cid}", "PUT",
                {"value": value, "updateToken": config["updateToken"]})[0] == 200
    status, body = call(f"{dt.url}{MONITORING_PATH}/{cid}", "PUT",
                        {"value": value, "updateToken": config["updateToken"]})
    assert status == 409 and body["error"]["code"] == 409
    assert len(dt.credentials(cid)) == 1
    assert call(f"{dt.url}{MONITORING_PATH}/nope")[0] == 404


# ---------------------------------------------------------------------- through the binary

def test_create_bind_update_delete(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    config = dt.add_monitoring_config("org-wide AWS monitoring")
    arn = sb.dynatrace_secret()
    stack = sb.stack()
    fn = sb.function(sb.dynatrace_env())
    props = sb.dynatrace_props(arn)

    # 1. Registration: the connection, with an empty role ARN; its objectId is the external id.
    created = answered(fn.invoke(stack.create(props)), "SUCCESS")
    [conn] = dt.connections()
    oid = conn["objectId"]
    assert OBJECT_ID_RE.match(oid)
    assert conn["value"]["name"] == our_name(stack)
    assert role_of(conn) == "" and conn["value"]["type"] == "awsRoleBasedAuthentication"
    assert created["PhysicalResourceId"] == registration_id(oid)
    assert created["Data"] == {"ExternalId": oid, "RegistrationId": oid, "PrincipalAccountId": PRODUCTION_PRINCIPAL}
    for request in dt.requests:
        assert request.header("Authorization") == f"Bearer {sb.dynatrace_token}"

    # 2. Role binding: the ARN goes in, the account joins the monitoring configuration.
    bprops = binding_props(sb, arn, oid, config)
    bound = answered(fn.invoke(binding(stack, "Create", bprops)), "SUCCESS")
    assert bound["PhysicalResourceId"] == binding_id(oid, config)
    assert bound["Data"] == {"ExternalId": oid, "RegistrationId": oid, "PrincipalAccountId": PRODUCTION_PRINCIPAL,
                             "RoleArn": role_arn()}
    assert role_of(dt.connection(oid)) == role_arn()
    assert dt.credentials(config) == [{"description": our_name(stack), "enabled": True, "connectionId": oid,
                                       "accountId": ACCOUNT}]

    # 3. Updates in place: the registration (EnvironmentUrl given as the classic URL of the same
    # environment) and the binding (same settings) keep their ids and change nothing.
    mark = len(dt.requests)
    new_props = dict(props, EnvironmentUrl="https://abc12345.live.dynatrace.com", OnDeleteError="retain")
    updated = answered(fn.invoke(stack.update(created["PhysicalResourceId"], new_props, props)), "SUCCESS")
    assert updated["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert updated["Data"]["ExternalId"] == oid
    rebound = answered(fn.invoke(binding(stack, "Update", bprops, bound["PhysicalResourceId"], bprops)), "SUCCESS")
    assert rebound["PhysicalResourceId"] == bound["PhysicalResourceId"]
    assert [r.method for r in dt.requests[mark:] if r.method != "GET"] == [], "nothing needed writing"
    assert len(dt.credentials(config)) == 1 and role_of(dt.connection(oid)) == role_arn()

    # 4. Delete, in reverse: the binding leaves the configuration, then the connection goes.
    answered(fn.invoke(binding(stack, "Delete", bprops, bound["PhysicalResourceId"])), "SUCCESS")
    assert dt.credentials(config) == []
    assert dt.connection(oid) is not None, "the binding's Delete keeps the registration"
    deleted = answered(fn.invoke(stack.delete(created["PhysicalResourceId"], new_props)), "SUCCESS")
    assert deleted["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert dt.connections() == []
    assert fn.starts == 1


def test_a_binding_without_monitoring_configuration_and_a_moved_configuration(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    old_config, new_config = dt.add_monitoring_config("old"), dt.add_monitoring_config("new")
    arn = sb.dynatrace_secret()
    stack = sb.stack()
    fn = sb.function(sb.dynatrace_env())
    oid = answered(fn.invoke(stack.create(sb.dynatrace_props(arn))), "SUCCESS")["Data"]["RegistrationId"]

    plain = binding_props(sb, arn, oid)
    first = answered(fn.invoke(binding(stack, "Create", plain)), "SUCCESS")
    assert first["PhysicalResourceId"] == binding_id(oid, "-")
    assert role_of(dt.connection(oid)) == role_arn()

    # Joining a configuration is a new binding id; then moving to another one is too, and
    # CloudFormation's cleanup Delete of the old id leaves the old configuration.
    joined = binding_props(sb, arn, oid, old_config)
    second = answered(fn.invoke(binding(stack, "Update", joined, first["PhysicalResourceId"], plain)), "SUCCESS")
    assert second["PhysicalResourceId"] == binding_id(oid, old_config)
    answered(fn.invoke(binding(stack, "Delete", joined, first["PhysicalResourceId"])), "SUCCESS")
    moved = binding_props(sb, arn, oid, new_config)
    third = answered(fn.invoke(binding(stack, "Update", moved, second["PhysicalResourceId"], joined)), "SUCCESS")
    assert third["PhysicalResourceId"] == binding_id(oid, new_config)
    assert [c["connectionId"] for c in dt.credentials(old_config)] == [oid], "cleanup has not run yet"
    answered(fn.invoke(binding(stack, "Delete", joined, second["PhysicalResourceId"])), "SUCCESS")
    assert dt.credentials(old_config) == []
    assert [c["connectionId"] for c in dt.credentials(new_config)] == [oid]
    assert role_of(dt.connection(oid)) == role_arn()


def test_someone_elses_connection_fails_the_create_and_adopt_takes_it_over(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    theirs = dt.seed_connection("Production AWS", role_arn=role_arn(),
                                consumers=["SVC:com.dynatrace.da", "SVC:com.dynatrace.openpipeline"])
    before = dt.connections()
    arn = sb.dynatrace_secret()
    stack = sb.stack()
    fn = sb.function(sb.dynatrace_env())
    props = sb.dynatrace_props(arn)

    failed = answered(fn.invoke(stack.create(props)), "FAILED")
    assert "OnConflict" in failed["Reason"] and theirs in failed["Reason"], failed["Reason"]
    marker = failed["PhysicalResourceId"]
    assert marker.startswith(MARKER_PREFIX)
    mark = len(dt.requests)
    answered(fn.invoke(stack.delete(marker, props)), "SUCCESS")
    assert dt.requests[mark:] == [], "a marker's Delete must not call Dynatrace"
    assert dt.connections() == before and dt.mutating_requests() == []

    adopted = answered(fn.invoke(stack.create(dict(props, OnConflict="adopt"))), "SUCCESS")
    assert adopted["PhysicalResourceId"] == registration_id(theirs)
    assert adopted["Data"]["ExternalId"] == theirs
    [conn] = dt.connections()
    assert conn["value"]["name"] == our_name(stack), "adopted means marked as this stack's"
    assert role_of(conn) == role_arn(), "the bound role ARN is kept"
    assert conn["value"]["awsRoleBasedAuthentication"]["consumers"] == ["SVC:com.dynatrace.da",
                                                                        "SVC:com.dynatrace.openpipeline"]
    # The role binding of an adopted connection already bound to the same role is a no-op.
    answered(fn.invoke(binding(stack, "Create", binding_props(sb, arn, theirs))), "SUCCESS")


def test_another_registrar_stack_is_a_conflict_and_a_different_bound_role_is_refused(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    other = dt.seed_connection(f"registrar-{ACCOUNT}-eu-west-1/StackSet-registrar-other")
    arn = sb.dynatrace_secret()
    stack = sb.stack()
    fn = sb.function(sb.dynatrace_env())
    failed = answered(fn.invoke(stack.create(sb.dynatrace_props(arn))), "FAILED")
    assert "another Registrar stack" in failed["Reason"] and "eu-west-1" in failed["Reason"], failed["Reason"]
    assert dt.mutating_requests() == []

    dt.remove_connection(other)
    oid = answered(fn.invoke(stack.create(sb.dynatrace_props(arn))), "SUCCESS")["Data"]["RegistrationId"]
    answered(fn.invoke(binding(stack, "Create", binding_props(sb, arn, oid))), "SUCCESS")
    refused = answered(fn.invoke(binding(stack, "Create", binding_props(sb, arn, oid, RoleName="OtherRole"))),
                       "FAILED")
    assert "cannot change the role ARN" in refused["Reason"], refused["Reason"]
    assert refused["PhysicalResourceId"].startswith(MARKER_PREFIX)
    assert role_of(dt.connection(oid)) == role_arn()


def test_a_repeated_create_reuses_its_connection_found_across_pages(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    for i in range(5):
        dt.seed_connection(f"unrelated-{i}", role_arn=f"arn:aws:iam::99999999999{i}:role/R")
    dt.set_page_cap(2)
    arn = sb.dynatrace_secret()
    stack = sb.stack()
    fn = sb.function(sb.dynatrace_env())
    first = answered(fn.invoke(stack.create(sb.dynatrace_props(arn))), "SUCCESS")
    second = answered(fn.invoke(stack.create(sb.dynatrace_props(arn))), "SUCCESS")
    assert first["PhysicalResourceId"] == second["PhysicalResourceId"]
    assert len(dt.connections()) == 6 and len(dt.requests_matching("POST")) == 1
    lists = [r for r in dt.requests_matching("GET", SETTINGS_PATH) if r.path == SETTINGS_PATH]
    assert len(lists) >= 6 and all(r.query.keys() == {"nextPageKey"} for r in lists if "nextPageKey" in r.query)


def test_a_connection_removed_out_of_band_is_created_again(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    arn = sb.dynatrace_secret()
    stack = sb.stack()
    fn = sb.function(sb.dynatrace_env())
    props = sb.dynatrace_props(arn)
    created = answered(fn.invoke(stack.create(props)), "SUCCESS")
    dt.remove_connection(created["Data"]["RegistrationId"])  # someone deleted it in Settings

    new_props = dict(props, OnDeleteError="retain")
    updated = answered(fn.invoke(stack.update(created["PhysicalResourceId"], new_props, props)), "SUCCESS")
    [conn] = dt.connections()
    assert conn["value"]["name"] == our_name(stack)
    assert updated["PhysicalResourceId"] == registration_id(conn["objectId"]) != created["PhysicalResourceId"]
    assert updated["Data"]["ExternalId"] == conn["objectId"], "a new connection is a new external id"
    # The new id is a replacement: CloudFormation deletes the old one, which is gone already.
    answered(fn.invoke(stack.delete(created["PhysicalResourceId"], props)), "SUCCESS")
    assert [c["objectId"] for c in dt.connections()] == [conn["objectId"]]


def test_delete_of_a_missing_connection_succeeds(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    arn = sb.dynatrace_secret()
    stack = sb.stack()
    gone = "vu9U3hXa3q0AAAABADRidWlsdGluOmh5cGVyc2NhbGVyLWF1dGhlbnRpY2F0aW9uLmNvbm5lY3Rpb25zLmF3cwAL"
    deleted = answered(sb.invoke(stack.delete(registration_id(gone), sb.dynatrace_props(arn)), sb.dynatrace_env()),
                       "SUCCESS")
    assert deleted["PhysicalResourceId"] == registration_id(gone)
    assert [(r.method, r.status) for r in dt.requests] == [("DELETE", 404)]
    # Leaving a monitoring configuration that is gone is success as well.
    left = answered(sb.invoke(binding(stack, "Delete", binding_props(sb, arn, gone, "no-such-config"),
                                      binding_id(gone, "no-such-config")), sb.dynatrace_env()), "SUCCESS")
    assert left["PhysicalResourceId"] == binding_id(gone, "no-such-config")


def test_role_binding_waits_for_iam_propagation(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    arn = sb.dynatrace_secret()
    stack = sb.stack()
    fn = sb.function(sb.dynatrace_env())
    oid = answered(fn.invoke(stack.create(sb.dynatrace_props(arn))), "SUCCESS")["Data"]["RegistrationId"]
    dt.set_role_validation(failures=2)  # Dynatrace cannot assume the new role twice, then can

    bound = answered(fn.invoke(binding(stack, "Create", binding_props(sb, arn, oid))), "SUCCESS")
    assert bound["PhysicalResourceId"] == binding_id(oid)
    puts = dt.requests_matching("PUT", SETTINGS_PATH)
    assert [r.status for r in puts] == [400, 400, 200]
    assert puts[2].received_at - puts[0].received_at >= 1.0, "the retries back off"
    assert role_of(dt.connection(oid)) == role_arn()


def test_role_binding_gives_up_before_the_deadline_with_advice(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    arn = sb.dynatrace_secret()
    stack = sb.stack()
    fn = sb.function(sb.dynatrace_env(), timeout_s=12)
    oid = answered(fn.invoke(stack.create(sb.dynatrace_props(arn))), "SUCCESS")["Data"]["RegistrationId"]
    dt.set_role_validation(failures=1000)
    failed = answered(fn.invoke(binding(stack, "Create", binding_props(sb, arn, oid))), "FAILED")
    assert "Unable to assume role" in failed["Reason"] and oid in failed["Reason"], failed["Reason"]
    assert PRODUCTION_PRINCIPAL in failed["Reason"]
    assert role_of(dt.connection(oid)) == ""


def test_binding_to_a_missing_monitoring_configuration_fails_clearly(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    arn = sb.dynatrace_secret()
    stack = sb.stack()
    fn = sb.function(sb.dynatrace_env())
    oid = answered(fn.invoke(stack.create(sb.dynatrace_props(arn))), "SUCCESS")["Data"]["RegistrationId"]
    failed = answered(fn.invoke(binding(stack, "Create", binding_props(sb, arn, oid, "no-such-config"))), "FAILED")
    assert "MonitoringConfigId" in failed["Reason"] and "no-such-config" in failed["Reason"], failed["Reason"]


def test_environment_url_is_checked_before_any_key_is_sent(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    arn = sb.dynatrace_secret()
    stack = sb.stack()
    for url in ("https://abc12345.apps.dynatrace.com.evil.example", "http://abc12345.apps.dynatrace.com"):
        failed = answered(sb.invoke(stack.create(sb.dynatrace_props(arn, EnvironmentUrl=url)), sb.dynatrace_env()),
                          "FAILED")
        assert "EnvironmentUrl" in failed["Reason"] and "apps.dynatrace.com" in failed["Reason"], failed["Reason"]
    failed = answered(sb.invoke(stack.create(sb.dynatrace_props(arn, MonitoringConfigId="a:b")), sb.dynatrace_env()),
                      "FAILED")
    assert "MonitoringConfigId" in failed["Reason"]
    assert dt.requests == []


def test_principal_and_partitions(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    arn = sb.dynatrace_secret()
    labs = sb.dynatrace_props(arn, EnvironmentUrl="https://xyz98765.sprint.dynatracelabs.com")
    body = answered(sb.invoke(sb.stack().create(labs), sb.dynatrace_env()), "SUCCESS")
    assert body["Data"]["PrincipalAccountId"] == NON_PRODUCTION_PRINCIPAL
    assert body["PhysicalResourceId"].startswith("registrar:dynatrace:xyz98765.sprint.apps.dynatracelabs.com:aws:")

    mark = len(dt.requests)
    gov = sb.stack(partition="aws-us-gov", region="us-gov-west-1")
    failed = answered(sb.invoke(gov.create(sb.dynatrace_props(arn)), sb.dynatrace_env()), "FAILED")
    assert "aws-us-gov" in failed["Reason"] and "Dynatrace" in failed["Reason"], failed["Reason"]
    assert dt.requests[mark:] == []


def test_a_token_without_the_scope_is_explained(sandbox):
    sb = sandbox
    sb.dynatrace.revoke_scope("settings:objects:write")
    arn = sb.dynatrace_secret()
    failed = answered(sb.invoke(sb.stack().create(sb.dynatrace_props(arn)), sb.dynatrace_env()), "FAILED")
    assert "403" in failed["Reason"] and "settings:objects:write" in failed["Reason"], failed["Reason"]
    assert sb.dynatrace.connections() == []


def test_transient_dynatrace_faults_are_retried(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    dt.add_fault("POST", SETTINGS_PATH, [{"status": 503}, {"status": 429}])
    dt.add_fault("GET", SETTINGS_PATH, [{"close": True}])
    arn = sb.dynatrace_secret()
    answered(sb.invoke(sb.stack().create(sb.dynatrace_props(arn)), sb.dynatrace_env()), "SUCCESS")
    assert [r.status for r in dt.requests_matching("POST")] == [503, 429, 200]
    assert len(dt.connections()) == 1


def test_fifty_accounts_attach_and_detach_concurrently_without_lost_updates(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    config = dt.add_monitoring_config("StackSet rollout")
    arn = sb.dynatrace_secret()
    accounts = [f"{100000000000 + i}" for i in range(50)]
    stacks = {a: sb.stack(account=a, name=f"StackSet-registrar-{a}") for a in accounts}

    def run(event):
        return sb.invoke(event, sb.dynatrace_env(), timeout_s=120)

    with ThreadPoolExecutor(max_workers=50) as pool:
        registered = list(pool.map(run, [stacks[a].create(sb.dynatrace_props(arn)) for a in accounts]))
        ids = {a: answered(inv, "SUCCESS")["Data"]["RegistrationId"] for a, inv in zip(accounts, registered)}
        started = time.monotonic()
        props = {a: binding_props(sb, arn, ids[a], config) for a in accounts}
        bound = list(pool.map(run, [binding(stacks[a], "Create", props[a]) for a in accounts]))
        attach_s = time.monotonic() - started
        pids = {a: answered(inv, "SUCCESS")["PhysicalResourceId"] for a, inv in zip(accounts, bound)}

        entries = dt.credentials(config)
        assert len(entries) == 50, f"{len(entries)} entries after 50 concurrent attaches (lost updates?)"
        assert sorted((e["connectionId"], e["accountId"]) for e in entries) == sorted((ids[a], a) for a in accounts)
        assert all(e["enabled"] is True for e in entries)
        writes = dt.requests_matching("PUT", MONITORING_PATH)
        assert writes and all("updateToken" in w.json() for w in writes), "every write presents its update token"
        conflicts_after_attach = dt.counters.conflicts

        detached = list(pool.map(run, [binding(stacks[a], "Delete", props[a], pids[a]) for a in accounts]))
        for inv in detached:
            answered(inv, "SUCCESS")
    assert dt.credentials(config) == [], "50 concurrent detaches must leave no entry"
    assert all(role_of(c) == role_arn(c["value"]["name"].split("-")[1]) for c in dt.connections())
    print(f"attach: {attach_s:.1f}s, 409 conflicts: {conflicts_after_attach} on attach, "
          f"{dt.counters.conflicts - conflicts_after_attach} on detach")
