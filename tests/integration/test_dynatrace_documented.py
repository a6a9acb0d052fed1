"""Dynatrace as documented, round two, through the real binary: accounts that are really
monitored (their configuration enabled whatever the blueprint says), the configuration's status
in the log and `Data` without failing on a slow first one, both spellings of the next page's key,
the platform API's error details, and Deletes that never report success while an object of the
stack remains, whether connection names are unique across owners or per owner only.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from contract import answered
from dynatrace_events import account_configs, binding, binding_props, registration_id
from sandbox.dynatrace import MONITORING_PATH

OTHER_TOKEN = "dt0s16.OTHERSERVICEUSR000000000000.0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"


def onboard(sb, arn: str, template: str | None):
    stack = sb.stack()
    fn = sb.function(sb.dynatrace_env())
    created = answered(fn.invoke(stack.create(sb.dynatrace_props(arn))), "SUCCESS")
    oid = created["Data"]["RegistrationId"]
    bprops = binding_props(sb, arn, oid, template)
    bound = answered(fn.invoke(binding(stack, "Create", bprops)), "SUCCESS")
    return stack, fn, created, bound, oid


def test_a_disabled_blueprint_gives_an_enabled_configuration_with_this_account_alone(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    other = {"description": "b", "enabled": False, "connectionId": "someone", "accountId": "210987654321"}
    template = dt.add_monitoring_config("organisation blueprint", credentials=[other])
    assert dt.monitoring_config(template)["value"]["enabled"] is False, "the emulator's blueprint is disabled"
    _, _, _, bound, oid = onboard(sb, sb.dynatrace_secret(), template)
    [own] = account_configs(dt, oid)
    assert own["value"]["enabled"] is True
    assert [c["connectionId"] for c in own["value"]["aws"]["credentials"]] == [oid]
    assert dt.monitored_accounts() == ["123456789012"]
    assert bound["Data"]["MonitoringStatus"] == "OK" and dt.config_status(own["objectId"]) == "OK"



def test_a_slow_or_unreadable_status_never_fails_the_binding(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    dt.set_status_pending(600)
    template = dt.add_monitoring_config("blueprint")
    arn = sb.dynatrace_secret()
    stack, fn, _, bound, oid = onboard(sb, arn, template)
    assert bound["Data"]["MonitoringStatus"] == "PENDING"
    assert any("monitoring configuration status is not OK yet" in line.text and "PENDING" in line.text
               for line in fn.log_lines)

    # The status cannot be read at all: the Update of the binding still succeeds, saying so.
    [own] = account_configs(dt, oid)
    dt.add_fault("GET", f"{MONITORING_PATH}/{own['objectId']}/status", [{"status": 503}], repeat=True)
    bprops = binding_props(sb, arn, oid, template)
    updated = answered(fn.invoke(binding(stack, "Update", bprops, bound["PhysicalResourceId"], old_props=bprops)),
                       "SUCCESS")
    assert updated["PhysicalResourceId"] == bound["PhysicalResourceId"]
    assert updated["Data"]["MonitoringStatus"] == "UNKNOWN"
    assert any("could not read the monitoring configuration's status" in line.text for line in fn.log_lines)


@pytest.mark.parametrize("key_field", ["nextPageKey", "next-page-key"])
def test_configurations_are_paged_in_either_spelling_of_the_next_key(sandbox, key_field):
    sb = sandbox
    dt = sb.dynatrace
    dt.set_next_page_key_field(key_field)
    dt.set_page_cap(1)
    template = dt.add_monitoring_config("blueprint")
    for i in range(3):
        dt.add_monitoring_config(f"unrelated {i}")
    arn = sb.dynatrace_secret()
    stack, fn, _, bound, oid = onboard(sb, arn, template)
    # The same Create again (its answer lost): the binding walks every page, finds the account's
    # configuration on the last one, and makes no second one.
    again = answered(fn.invoke(binding(stack, "Create", binding_props(sb, arn, oid, template))), "SUCCESS")
    assert again["PhysicalResourceId"] == bound["PhysicalResourceId"]
    assert len(account_configs(dt, oid)) == 1


def test_the_platform_apis_error_details_reach_the_reason(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    template = dt.add_monitoring_config("blueprint")
    arn = sb.dynatrace_secret()
    stack = sb.stack()
    fn = sb.function(sb.dynatrace_env())
    oid = answered(fn.invoke(stack.create(sb.dynatrace_props(arn))), "SUCCESS")["Data"]["RegistrationId"]
    refusal = {"error": {"code": 400, "message": "Invalid monitoring configuration", "details": {
        "constraintViolations": [{"path": "value/aws/regionFiltering", "message": "Region xx-nowhere-1 is unknown",
                                  "parameterLocation": "PAYLOAD_BODY"}]}}}
    dt.add_fault("POST", MONITORING_PATH, [{"status": 400, "body": refusal}])
    failed = answered(fn.invoke(binding(stack, "Create", binding_props(sb, arn, oid, template))), "FAILED")
    assert "value/aws/regionFiltering: Region xx-nowhere-1 is unknown" in failed["Reason"], failed["Reason"]


@pytest.mark.parametrize("per_owner", [False, True], ids=["names-unique-across-owners", "names-unique-per-owner"])
def test_no_delete_reports_success_while_an_object_of_its_stack_remains(sandbox, per_owner):
    sb = sandbox
    dt = sb.dynatrace
    dt.set_names_unique_per_owner(per_owner)
    template = dt.add_monitoring_config("blueprint")
    arn = sb.dynatrace_secret()
    stack, fn, created, bound, oid = onboard(sb, arn, template)
    [own] = account_configs(dt, oid)

    # The secret now holds another service user's token: the connection is hidden from it.
    dt.add_token(OTHER_TOKEN)
    other_arn = sb.dynatrace_secret(token=OTHER_TOKEN, name="dynatrace-other-user")
    bprops = binding_props(sb, other_arn, oid, template)
    unbound = answered(fn.invoke(binding(stack, "Delete", bprops, bound["PhysicalResourceId"])), "FAILED")
    assert "not visible" in unbound["Reason"] and own["objectId"] in unbound["Reason"], unbound["Reason"]
    assert dt.monitoring_config(own["objectId"]) is not None and dt.connection(oid) is not None
    deleted = answered(fn.invoke(stack.delete(created["PhysicalResourceId"], sb.dynatrace_props(other_arn))),
                       "FAILED")
    assert "OnDeleteError" in deleted["Reason"], deleted["Reason"]
    assert dt.connection(oid) is not None, "nothing was removed, and nothing was reported removed"

    # With the owner's token, both Deletes go through and nothing of the stack remains.
    answered(fn.invoke(binding(stack, "Delete", binding_props(sb, arn, oid, template), bound["PhysicalResourceId"])),
             "SUCCESS")
    answered(fn.invoke(stack.delete(registration_id(oid), sb.dynatrace_props(arn))), "SUCCESS")
    assert dt.connection(oid) is None and account_configs(dt, oid) == []


def test_the_other_name_semantics_let_another_owner_reuse_the_name(sandbox):
    """The switch itself: with names unique per owner, another user's token may create a
    connection of the same name; by default it may not."""
    dt = sandbox.dynatrace
    body = [{"schemaId": "builtin:hyperscaler-authentication.connections.aws", "scope": "environment",
             "value": {"name": "same-name", "type": "awsRoleBasedAuthentication",
                       "awsRoleBasedAuthentication": {"roleArn": "", "consumers": ["SVC:com.dynatrace.da"]}}}]

    def post(token: str) -> int:
        request = urllib.request.Request(dt.url + "/platform/classic/environment-api/v2/settings/objects",
                                         data=json.dumps(body).encode(), method="POST",
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request) as answer:
                return answer.status
        except urllib.error.HTTPError as e:
            return e.code

    dt.add_token(OTHER_TOKEN)
    assert post(dt.token) == 200
    assert post(OTHER_TOKEN) == 400
    dt.set_names_unique_per_owner(True)
    assert post(OTHER_TOKEN) == 200
    assert post(OTHER_TOKEN) == 400, "still unique within one owner"


def api(dt, path: str, method: str = "GET", body=None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {dt.token}", "Content-Type": "application/json"}
    request = urllib.request.Request(dt.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None


def test_the_emulators_configurations_do_only_what_is_documented_by_default(sandbox):
    dt = sandbox.dynatrace
    a, b = dt.seed_connection("conn-a"), dt.seed_connection("conn-b")
    value = {"enabled": True, "aws": {"credentials": [{"connectionId": a}, {"connectionId": b, "enabled": True}]}}
    status, created = api(dt, MONITORING_PATH, "POST", {"scope": "integration-aws", "value": value})
    assert status == 201 and set(created) == {"objectId"}, "no invented code; credentials not validated"
    # A configuration naming two connections: nothing says what its DELETE does to them.
    assert api(dt, f"{MONITORING_PATH}/{created['objectId']}", "DELETE")[0] == 204
    assert dt.connection(a) is not None and dt.connection(b) is not None
    single = dt.add_monitoring_config(credentials=[{"connectionId": a, "enabled": True}], enabled=True)
    assert api(dt, f"{MONITORING_PATH}/{single}", "DELETE")[0] == 204
    assert dt.connection(a) is None, "the paired connection goes with its configuration"

    dt.set_delete_removes_every_connection()
    c = dt.seed_connection("conn-c")
    both = dt.add_monitoring_config(credentials=[{"connectionId": b}, {"connectionId": c}], enabled=True)
    assert api(dt, f"{MONITORING_PATH}/{both}", "DELETE")[0] == 204
    assert dt.connection(b) is None and dt.connection(c) is None

    dt.set_strict_credentials()
    status, refused = api(dt, MONITORING_PATH, "POST", {"scope": "integration-aws", "value": {
        "aws": {"credentials": [{"connectionId": "x"}]}}})
    assert status == 400 and refused["error"]["details"]["constraintViolations"][0]["path"] == "aws/credentials/0"
    status, refused = api(dt, MONITORING_PATH + "?page-size=9999")
    assert status == 400 and "constraintViolations" in refused["error"]["details"], "platform errors carry details"
    assert api(dt, f"{MONITORING_PATH}/nope/status")[0] == 404


def test_the_emulators_consumer_enum_is_a_switch(sandbox):
    dt = sandbox.dynatrace
    body = [{"schemaId": "builtin:hyperscaler-authentication.connections.aws", "scope": "environment",
             "value": {"name": "carbon", "type": "awsRoleBasedAuthentication",
                       "awsRoleBasedAuthentication": {"roleArn": "", "consumers": ["APP:dynatrace.biz.carbon"]}}}]
    path = "/platform/classic/environment-api/v2/settings/objects?validateOnly=true"
    assert api(dt, path, "POST", body)[0] == 200, "not checked by default"
    dt.set_consumer_schema("0.0.25")
    assert api(dt, path, "POST", body)[0] == 200
    dt.set_consumer_schema("0.0.26")
    status, results = api(dt, path, "POST", body)
    assert status == 400 and "consumers" in results[0]["error"]["constraintViolations"][0]["path"]
