"""Dynatrace through the real binary: the registration (an AWS connection whose objectId is the
external id), the role binding (`Phase: role-binding`: the role ARN goes into the connection and
the account gets its own monitoring configuration, made from the one `MonitoringConfigId` names),
and their Update and Delete, against the sandbox's Dynatrace emulator in its documented mode.
The first tests check the emulator itself against the documented API.
"""

from __future__ import annotations

import copy
import json
import urllib.error
import urllib.request

import pytest

from contract import MARKER_PREFIX, answered
from dynatrace_events import (ACCOUNT, NON_PRODUCTION_PRINCIPAL, OBJECT_ID_RE, PRODUCTION_PRINCIPAL, account_configs,
                              binding, binding_id, binding_props, our_name, own_scope, registration_id, role_arn,
                              role_of)
from sandbox import DynatraceEmulator
from sandbox.dynatrace import CONNECTION_SCHEMA, MONITORING_PATH, NAME_TAKEN, SETTINGS_PATH

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


def test_emulator_monitoring_configurations_follow_the_documented_api(dt):
    cid = dt.add_monitoring_config()
    assert OBJECT_ID_RE.match(cid)
    status, config = call(f"{dt.url}{MONITORING_PATH}/{cid}")
    assert status == 200 and config["scope"] == "integration-aws"
    assert set(config) == {"objectId", "scope", "value", "modificationInfo"}, "no updateToken: none is documented"
    first, second = copy.deepcopy(config["value"]), copy.deepcopy(config["value"])
    first["aws"]["credentials"].append({"description": "a", "enabled": True, "connectionId": "c1", "accountId": ACCOUNT})
    second["aws"]["credentials"].append({"description": "b", "enabled": True, "connectionId": "c2",
                                         "accountId": "210987654321"})
    # Two writers of what they read: PUT overwrites, no conflict is reported, the last one wins.
    assert call(f"{dt.url}{MONITORING_PATH}/{cid}", "PUT", {"value": first})[0] == 200
    assert call(f"{dt.url}{MONITORING_PATH}/{cid}", "PUT", {"value": second})[0] == 200
    assert [c["connectionId"] for c in dt.credentials(cid)] == ["c2"], "c1 was lost, silently"
    assert call(f"{dt.url}{MONITORING_PATH}/nope")[0] == 404

    # POST takes {scope, value} and answers 201; the list pages with page-key alone.
    status, created = call(f"{dt.url}{MONITORING_PATH}", "POST", {"scope": "integration-aws", "value": first})
    assert status == 201 and OBJECT_ID_RE.match(created["objectId"])
    dt.set_page_cap(1)
    status, page = call(f"{dt.url}{MONITORING_PATH}?page-size=500")
    assert status == 200 and len(page["items"]) == 1 and page["nextPageKey"]
    assert call(f"{dt.url}{MONITORING_PATH}?page-size=500&page-key={page['nextPageKey']}")[0] == 400
    status, rest = call(f"{dt.url}{MONITORING_PATH}?page-key={page['nextPageKey']}")
    assert status == 200 and {page["items"][0]["objectId"], rest["items"][0]["objectId"]} == {cid, created["objectId"]}

    # Deleting a configuration removes the connections it maps.
    oid = dt.seed_connection("paired")
    dt.seed_connection("unpaired")
    value = copy.deepcopy(first)
    value["aws"]["credentials"] = [{"description": "p", "enabled": True, "connectionId": oid, "accountId": ACCOUNT}]
    assert call(f"{dt.url}{MONITORING_PATH}/{cid}", "PUT", {"value": value})[0] == 200
    assert call(f"{dt.url}{MONITORING_PATH}/{cid}", "DELETE")[0] == 204
    assert [c["value"]["name"] for c in dt.connections()] == ["unpaired"]


def test_emulator_connections_have_owner_based_access(dt):
    other_token = "dt0s16.OTHERUSER.SECRETPART"
    other_user = dt.add_token(other_token)
    mine = dt.seed_connection("mine")
    status, theirs = call(dt.url + SETTINGS_PATH, "POST", [connection_body("theirs")], token=other_token)
    theirs = theirs[0]["objectId"]
    status, obj = call(f"{dt.url}{SETTINGS_PATH}/{theirs}", token=other_token)
    assert status == 200 and obj["owner"] == {"type": "user", "id": other_user}
    assert obj["resourceContext"]["operations"] == ["read", "write", "delete"]

    # Each token sees its own user's connections; the others' answer 404, as unknown ids do.
    listing = f"{dt.url}{SETTINGS_PATH}?schemaIds={CONNECTION_SCHEMA}&fields=objectId,owner"
    assert [i["objectId"] for i in call(listing)[1]["items"]] == [mine]
    assert [i["objectId"] for i in call(listing, token=other_token)[1]["items"]] == [theirs]
    for method in ("GET", "DELETE"):
        status, body = call(f"{dt.url}{SETTINGS_PATH}/{theirs}", method)
        assert status == 404 and "No object available" in body["error"]["message"]
    dt.set_hidden_status(403)
    assert call(f"{dt.url}{SETTINGS_PATH}/{theirs}")[0] == 403
    assert call(f"{dt.url}{SETTINGS_PATH}/not-an-object")[0] == 404
    dt.set_hidden_status(404)

    # The name is unique among all connections, whoever owns them; validateOnly saves nothing.
    status, body = call(dt.url + SETTINGS_PATH + "?validateOnly=true", "POST", [connection_body("theirs")])
    assert status == 400 and body[0]["error"]["constraintViolations"][0]["message"] == NAME_TAKEN
    status, body = call(dt.url + SETTINGS_PATH + "?validateOnly=true", "POST", [connection_body("free")])
    assert status == 200 and body == [{"code": 200}] and len(dt.connections()) == 2

    # Shared read-only: visible, not writable; shared read-write: deletable.
    dt.share(theirs, dt.user, write=False)
    assert call(f"{dt.url}{SETTINGS_PATH}/{theirs}")[0] == 200
    assert call(f"{dt.url}{SETTINGS_PATH}/{theirs}", "DELETE")[0] == 403
    dt.share(theirs, dt.user, write=True)
    assert call(f"{dt.url}{SETTINGS_PATH}/{theirs}", "DELETE")[0] == 204

# ---------------------------------------------------------------------- through the binary

def test_create_bind_update_delete(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    template = dt.add_monitoring_config("org-wide AWS monitoring template")
    template_before = dt.monitoring_config(template)
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
    assert created["Data"] == {"ExternalId": oid, "RegistrationId": oid, "PrincipalAccountId": PRODUCTION_PRINCIPAL,
                               "ConnectionOwner": f"user:{dt.user}"}
    for request in dt.requests:
        assert request.header("Authorization") == f"Bearer {sb.dynatrace_token}"

    # 2. Role binding: the ARN goes in, and the account gets its own monitoring configuration,
    # the template's value with this account's connection as its only credential.
    bprops = binding_props(sb, arn, oid, template)
    bound = answered(fn.invoke(binding(stack, "Create", bprops)), "SUCCESS")
    [own] = account_configs(dt, oid)
    assert own["objectId"] != template
    assert bound["PhysicalResourceId"] == binding_id(oid, own_scope(own["objectId"]))
    assert bound["Data"] == {"ExternalId": oid, "RegistrationId": oid, "PrincipalAccountId": PRODUCTION_PRINCIPAL,
                             "RoleArn": role_arn(), "ConnectionOwner": f"user:{dt.user}",
                             "AccountMonitoringConfigId": own["objectId"], "MonitoringStatus": "OK"}
    assert role_of(dt.connection(oid)) == role_arn()
    assert own["value"]["aws"]["credentials"] == [{"description": our_name(stack), "enabled": True,
                                                   "connectionId": oid, "accountId": ACCOUNT}]
    assert own["value"]["description"] == our_name(stack)
    assert own["scope"] == template_before["scope"]
    assert template_before["value"]["enabled"] is False, "the blueprint is disabled, as documented"
    assert own["value"]["enabled"] is True, "the account's own configuration is enabled"
    for key in ("featureSets", "version"):
        assert own["value"][key] == template_before["value"][key], key
    for key in ("regionFiltering", "metricsConfiguration", "deploymentRegion"):
        assert own["value"]["aws"][key] == template_before["value"]["aws"][key], key
    assert dt.monitoring_config(template) == template_before, "the template is read, never written"
    assert dt.monitored_accounts() == [ACCOUNT]

    # 3. Updates in place: the registration (EnvironmentUrl given as the classic URL of the same
    # environment) and the binding (same settings) keep their ids; the account's configuration
    # keeps what was customised in it meanwhile.
    customised = copy.deepcopy(own["value"])
    customised["aws"]["regionFiltering"] = ["eu-west-1", "us-east-1"]
    dt._configs[own["objectId"]]["value"] = customised
    mark = len(dt.requests)
    new_props = dict(props, EnvironmentUrl="https://abc12345.live.dynatrace.com", OnDeleteError="retain")
    updated = answered(fn.invoke(stack.update(created["PhysicalResourceId"], new_props, props)), "SUCCESS")
    assert updated["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert updated["Data"]["ExternalId"] == oid
    rebound = answered(fn.invoke(binding(stack, "Update", bprops, bound["PhysicalResourceId"], bprops)), "SUCCESS")
    assert rebound["PhysicalResourceId"] == bound["PhysicalResourceId"]
    assert [r.method for r in dt.requests[mark:] if r.method != "GET"] == [], "nothing needed writing"
    assert dt.monitoring_config(own["objectId"])["value"] == customised
    assert role_of(dt.connection(oid)) == role_arn()

    # 4. Delete, in reverse: the binding deletes the account's configuration (and with it,
    # Dynatrace removes the connection); the registration's Delete then finds it gone.
    answered(fn.invoke(binding(stack, "Delete", bprops, bound["PhysicalResourceId"])), "SUCCESS")
    assert dt.monitoring_config(own["objectId"]) is None
    assert dt.monitoring_config(template) == template_before
    deleted = answered(fn.invoke(stack.delete(created["PhysicalResourceId"], new_props)), "SUCCESS")
    assert deleted["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert dt.connections() == []
    assert dt.monitored_accounts() == []
    assert fn.starts == 1


def test_the_connection_is_deleted_when_dynatrace_has_not_removed_it_yet(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    dt.set_connection_removal_delay(60)  # "in the background": not yet when the registration goes
    template = dt.add_monitoring_config("template")
    arn = sb.dynatrace_secret()
    stack = sb.stack()
    fn = sb.function(sb.dynatrace_env())
    created = answered(fn.invoke(stack.create(sb.dynatrace_props(arn))), "SUCCESS")
    oid = created["Data"]["RegistrationId"]
    bprops = binding_props(sb, arn, oid, template)
    bound = answered(fn.invoke(binding(stack, "Create", bprops)), "SUCCESS")
    answered(fn.invoke(binding(stack, "Delete", bprops, bound["PhysicalResourceId"])), "SUCCESS")
    assert dt.connection(oid) is not None
    answered(fn.invoke(stack.delete(created["PhysicalResourceId"], sb.dynatrace_props(arn))), "SUCCESS")
    assert dt.connections() == [] and [r.status for r in dt.requests_matching("DELETE", SETTINGS_PATH)] == [204]

def test_a_binding_without_monitoring_configuration_then_with_one(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    first_template, second_template = dt.add_monitoring_config("first"), dt.add_monitoring_config("second")
    arn = sb.dynatrace_secret()
    stack = sb.stack()
    fn = sb.function(sb.dynatrace_env())
    oid = answered(fn.invoke(stack.create(sb.dynatrace_props(arn))), "SUCCESS")["Data"]["RegistrationId"]

    plain = binding_props(sb, arn, oid)
    first = answered(fn.invoke(binding(stack, "Create", plain)), "SUCCESS")
    assert first["PhysicalResourceId"] == binding_id(oid, "-")
    assert "AccountMonitoringConfigId" not in first["Data"]
    assert role_of(dt.connection(oid)) == role_arn() and account_configs(dt, oid) == []

    # Setting MonitoringConfigId makes the account's own configuration: a new binding id, and
    # CloudFormation's cleanup Delete of the old one touches nothing.
    joined = binding_props(sb, arn, oid, first_template)
    second = answered(fn.invoke(binding(stack, "Update", joined, first["PhysicalResourceId"], plain)), "SUCCESS")
    [own] = account_configs(dt, oid)
    assert second["PhysicalResourceId"] == binding_id(oid, own_scope(own["objectId"]))
    mark = len(dt.requests)
    answered(fn.invoke(binding(stack, "Delete", plain, first["PhysicalResourceId"])), "SUCCESS")
    assert dt.requests[mark:] == [], "the Delete of a binding without configuration calls nothing"

    # Another template later: the account keeps its configuration (the template is a blueprint
    # for new accounts, and Dynatrace pairs the configuration with the connection: replacing it
    # would delete the connection). Emptying MonitoringConfigId keeps it too.
    moved = binding_props(sb, arn, oid, second_template)
    third = answered(fn.invoke(binding(stack, "Update", moved, second["PhysicalResourceId"], joined)), "SUCCESS")
    assert third["PhysicalResourceId"] == second["PhysicalResourceId"]
    emptied = answered(fn.invoke(binding(stack, "Update", plain, third["PhysicalResourceId"], moved)), "SUCCESS")
    assert emptied["PhysicalResourceId"] == second["PhysicalResourceId"]
    assert [c["objectId"] for c in account_configs(dt, oid)] == [own["objectId"]]
    assert dt.connection(oid) is not None and dt.monitored_accounts() == [ACCOUNT]

    # The configuration removed out of band is made again, under a new binding id.
    dt.remove_monitoring_config(own["objectId"])
    again = answered(fn.invoke(binding(stack, "Update", moved, emptied["PhysicalResourceId"], plain)), "SUCCESS")
    [remade] = account_configs(dt, oid)
    assert again["PhysicalResourceId"] == binding_id(oid, own_scope(remade["objectId"])) != emptied["PhysicalResourceId"]
    answered(fn.invoke(binding(stack, "Delete", plain, emptied["PhysicalResourceId"])), "SUCCESS")
    assert [c["objectId"] for c in account_configs(dt, oid)] == [remade["objectId"]]


def test_a_repeated_binding_create_keeps_one_configuration(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    template = dt.add_monitoring_config("template")
    arn = sb.dynatrace_secret()
    stack = sb.stack()
    fn = sb.function(sb.dynatrace_env())
    oid = answered(fn.invoke(stack.create(sb.dynatrace_props(arn))), "SUCCESS")["Data"]["RegistrationId"]
    # The first POST lands but its answer is lost; the Create, delivered again, finds it.
    dt.add_fault("POST", MONITORING_PATH, [{"drop_response": True}])
    bprops = binding_props(sb, arn, oid, template)
    first = answered(fn.invoke(binding(stack, "Create", bprops)), "SUCCESS")
    second = answered(fn.invoke(binding(stack, "Create", bprops)), "SUCCESS")
    [own] = account_configs(dt, oid)
    assert first["PhysicalResourceId"] == second["PhysicalResourceId"] == binding_id(oid, own_scope(own["objectId"]))
    assert len(dt.requests_matching("POST", MONITORING_PATH)) == 1


def test_a_connection_already_in_another_shared_configuration_is_refused(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    template = dt.add_monitoring_config("template")
    arn = sb.dynatrace_secret()
    stack = sb.stack()
    fn = sb.function(sb.dynatrace_env())
    oid = answered(fn.invoke(stack.create(sb.dynatrace_props(arn))), "SUCCESS")["Data"]["RegistrationId"]
    shared = dt.add_monitoring_config("someone's shared", credentials=[
        {"description": "x", "enabled": True, "connectionId": oid, "accountId": ACCOUNT},
        {"description": "y", "enabled": True, "connectionId": "other", "accountId": "210987654321"}])
    failed = answered(fn.invoke(binding(stack, "Create", binding_props(sb, arn, oid, template))), "FAILED")
    assert shared in failed["Reason"] and "one monitoring configuration" in failed["Reason"], failed["Reason"]
    assert [c["objectId"] for c in account_configs(dt, oid)] == [shared]

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
    # The 404 is believed once no monitoring configuration names the connection and the name's
    # uniqueness check says no connection has this stack's name.
    assert [(r.method, r.status) for r in dt.requests] == [("DELETE", 404), ("GET", 200), ("POST", 200)]
    assert dt.requests[1].path == MONITORING_PATH
    assert dt.requests[2].query == {"validateOnly": ["true"]} and dt.connections() == []
    # Deleting an account's configuration that is gone, and leaving a shared one that is gone,
    # are successes as well.
    for scope in (own_scope("no-such-config"), "no-such-shared-config"):
        left = answered(sb.invoke(binding(stack, "Delete", binding_props(sb, arn, gone, "x"),
                                          binding_id(gone, scope)), sb.dynatrace_env()), "SUCCESS")
        assert left["PhysicalResourceId"] == binding_id(gone, scope)

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
