"""Self-checks of the sandbox's emulators against the recorded vendor behaviour (no binary needed).

If these fail, the integration tests' verdicts about the binary cannot be trusted.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

import pytest

from sandbox import DatadogEmulator, ResponseCatcher
from sandbox.datadog import ACCOUNTS_PATH, JSONAPI

API_KEY, APP_KEY = "a" * 32, "b" * 40


def call(url: str, method: str = "GET", body: dict | bytes | None = None, headers: dict | None = None,
         keys: bool = True) -> tuple[int, dict, bytes]:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    hdrs = {"DD-API-KEY": API_KEY, "DD-APPLICATION-KEY": APP_KEY} if keys else {}
    if data is not None:
        hdrs["Content-Type"] = "application/json"
    hdrs.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def account_body(account_id: str = "123456789012", **attrs) -> dict:
    attributes = {"aws_account_id": account_id, "aws_partition": "aws",
                  "auth_config": {"role_name": "DatadogIntegrationRole"}, "account_tags": ["a:b"]}
    attributes.update(attrs)
    return {"data": {"type": "account", "attributes": attributes}}


@pytest.fixture
def dd():
    emulator = DatadogEmulator(API_KEY, APP_KEY).start()
    try:
        yield emulator
    finally:
        emulator.stop()
    # The emulator's own answers keep to Datadog's OpenAPI description (requests these tests
    # send on purpose may not).
    answers = [v for v in emulator.spec_violations if v.body == "answer"]
    assert not answers, "\n".join(map(str, answers))


def test_create_get_patch_delete_follow_the_recorded_api(dd):
    status, headers, raw = call(dd.url + ACCOUNTS_PATH, "POST", account_body())
    assert status == 200 and headers["Content-Type"] == JSONAPI  # 200, not 201
    data = json.loads(raw)["data"]
    assert data["type"] == "account" and re.fullmatch(r"[0-9a-f]{32}", data["attributes"]["auth_config"]["external_id"])
    assert {"created_at", "modified_at"} <= set(data["attributes"])
    # No recording shows Datadog's rate-limit header values: none are sent while the limiter is off.
    assert not [name for name in headers if name.lower().startswith("x-ratelimit-")]

    status, _, raw = call(dd.url + ACCOUNTS_PATH, "POST", account_body())
    assert status == 409 and json.loads(raw) == {"errors": [{"status": "409", "title": "Account already exists",
                                                              "detail": "AWS account with provided id already exists"}]}

    status, _, raw = call(dd.url + ACCOUNTS_PATH + "?aws_account_id=123456789012")
    assert status == 200 and [d["id"] for d in json.loads(raw)["data"]] == [data["id"]]
    status, _, raw = call(dd.url + ACCOUNTS_PATH + "?aws_account_id=210987654321")
    assert status == 200 and json.loads(raw) == {"data": []}

    patch = {"data": {"type": "account", "attributes": {"aws_account_id": "123456789012",
                                                        "auth_config": {"role_name": "Other"},
                                                        "metrics_config": {"enabled": False}}}}
    status, _, raw = call(f"{dd.url}{ACCOUNTS_PATH}/{data['id']}", "PATCH", patch)
    patched = json.loads(raw)["data"]["attributes"]
    assert status == 200
    external_id = data["attributes"]["auth_config"]["external_id"]
    assert patched["auth_config"] == {"role_name": "Other", "external_id": external_id}
    assert patched["metrics_config"]["enabled"] is False and patched["metrics_config"]["automute_enabled"] is True
    assert patched["account_tags"] == ["a:b"]

    status, _, raw = call(f"{dd.url}{ACCOUNTS_PATH}/{data['id']}", "DELETE")
    assert status == 204 and raw == b""
    status, _, raw = call(f"{dd.url}{ACCOUNTS_PATH}/{data['id']}", "DELETE")
    assert status == 404 and json.loads(raw)["errors"][0]["title"] == "Account not found"
    dd.set_not_found_style("400")
    status, _, raw = call(f"{dd.url}{ACCOUNTS_PATH}/{data['id']}", "GET")
    assert status == 400 and "does not exist" in raw.decode()


@pytest.mark.parametrize("attrs", [
    {"aws_account_id": None}, {"auth_config": {}}, {"aws_partition": "aws-moon"},
    {"metrics_config": {"enabled": "false"}}, {"account_tags": "a:b"},
])
def test_invalid_bodies_get_400(dd, attrs):
    body = account_body()
    for key, value in attrs.items():
        if value is None:
            del body["data"]["attributes"][key]
        else:
            body["data"]["attributes"][key] = value
    status, _, raw = call(dd.url + ACCOUNTS_PATH, "POST", body)
    # JSON:API errors; the recorded "Generic Error" ones (an invalid partition) carry no status.
    (error,) = json.loads(raw)["errors"]
    assert status == 400 and error["detail"] and error.get("status", "400") == "400"
    wrong_type = account_body()
    wrong_type["data"]["type"] = "accounts"
    assert call(dd.url + ACCOUNTS_PATH, "POST", wrong_type)[0] == 400


def test_auth_rate_limit_and_faults(dd):
    assert call(dd.url + ACCOUNTS_PATH, keys=False)[:1] == (403,)
    assert json.loads(call(dd.url + ACCOUNTS_PATH, headers={"DD-API-KEY": "wrong"})[2]) == {"errors": ["Forbidden"]}

    # Align to the start of a calendar window so both requests fall in the same one.
    time.sleep(2 - time.time() % 2 + 0.05)
    dd.set_rate_limit(1, period_s=2)
    assert call(dd.url + ACCOUNTS_PATH)[0] == 200
    status, headers, raw = call(dd.url + ACCOUNTS_PATH)
    assert status == 429 and json.loads(raw) == {"errors": ["Rate limit exceeded"]}
    assert headers["X-RateLimit-Remaining"] == "0" and 1 <= int(headers["X-RateLimit-Reset"]) <= 2
    assert dd.counters.rate_limited == 1
    dd.set_rate_limit(None)

    dd.add_fault("POST", ACCOUNTS_PATH, [{"status": 500}, {"status": 429, "headers": {"X-RateLimit-Reset": "7"}},
                                         {"malformed": True}, {"latency_ms": 200}])
    assert call(dd.url + ACCOUNTS_PATH, "POST", account_body())[0] == 500
    status, headers, _ = call(dd.url + ACCOUNTS_PATH, "POST", account_body())
    assert status == 429 and headers["X-RateLimit-Reset"] == "7"
    status, _, raw = call(dd.url + ACCOUNTS_PATH, "POST", account_body())
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(raw)
    started = time.monotonic()
    assert call(dd.url + ACCOUNTS_PATH, "POST", account_body())[0] == 200
    assert time.monotonic() - started >= 0.2
    dd.add_fault("*", "/api/", [{"close": True}])
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        call(dd.url + ACCOUNTS_PATH)
    assert [r.status for r in dd.requests_matching("POST")] == [500, 429, 200, 200]


def test_hanging_connections_end_when_the_emulator_stops():
    emulator = DatadogEmulator(API_KEY, APP_KEY).start()
    emulator.add_fault("*", "/api/", [{"hang": True}], repeat=True)
    import threading
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(_safe_call(emulator.url + ACCOUNTS_PATH)))
    thread.start()
    time.sleep(0.3)
    started = time.monotonic()
    emulator.stop()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - started < 5


def _safe_call(url: str):
    try:
        return call(url)
    except Exception as err:  # noqa: BLE001
        return err


def test_control_api_seeds_and_reports(dd):
    status, _, raw = call(dd.url + "/_sandbox/accounts", "POST", {"aws_account_id": "123456789012",
                                                                  "account_tags": ["team:x"]}, keys=False)
    assert status == 200
    status, _, raw = call(dd.url + "/_sandbox/state", keys=False)
    state = json.loads(raw)
    assert [a["attributes"]["account_tags"] for a in state["accounts"]] == [["team:x"]]
    assert dd.requests == []  # control calls are not API traffic


def test_response_catcher_records_exactly_what_arrived():
    catcher = ResponseCatcher().start()
    try:
        issued = catcher.issue()
        req = urllib.request.Request(issued.url, data=b'{"Status":"SUCCESS"}', method="PUT",
                                     headers={"Content-Type": ""})
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200
        record = catcher.wait_for(issued.token, timeout=1)
        assert record is not None and record.content_type == "" and record.raw_query == issued.raw_query
        assert record.body_json == {"Status": "SUCCESS"}
        # Wrong signature: S3 refuses.
        bad = urllib.request.Request(issued.url.replace(issued.signature, "0" * 64), data=b"{}", method="PUT")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(bad, timeout=5)
        assert err.value.code == 403 and b"SignatureDoesNotMatch" in err.value.read()
        catcher.add_faults([{"status": 503}])
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(urllib.request.Request(issued.url, data=b"{}", method="PUT"), timeout=5)
        assert err.value.code == 503
        assert [r.served_status for r in catcher.records(issued.token)] == [200, 403, 503]
        assert catcher.wait_for("no-such-token", timeout=0.1) is None
    finally:
        catcher.stop()


# --------------------------------------------------------------------------- recorded answers

from sandbox.datadog import IAM_PERMISSIONS_PATH, MANAGED_POLICY_LIMIT, recorded  # noqa: E402

UUID_ZERO = "448169a8-251c-4344-abee-1c4edef39f7a"  # the unknown id the recordings use


@pytest.mark.parametrize("method, name", [("GET", "get_404"), ("PATCH", "patch_404"), ("DELETE", "delete_404")])
def test_not_found_is_the_recorded_404(dd, method, name):
    body = {"data": {"type": "account", "attributes": {"aws_account_id": "123456789012"}}} if method == "PATCH" else None
    status, headers, raw = call(f"{dd.url}{ACCOUNTS_PATH}/{UUID_ZERO}", method, body)
    rec = recorded(name)["response"]
    assert (status, json.loads(raw)) == (rec["status"], rec["body"])
    assert headers["Content-Type"] == rec["content_type"]


@pytest.mark.parametrize("method, name", [("GET", "get_400_not_a_uuid"), ("DELETE", "delete_400_not_a_uuid")])
def test_an_id_that_is_not_a_uuid_is_the_recorded_400(dd, method, name):
    status, _, raw = call(f"{dd.url}{ACCOUNTS_PATH}/not-a-uuid", method)
    rec = recorded(name)["response"]
    assert (status, json.loads(raw)) == (rec["status"], rec["body"])


def test_access_key_accounts_and_the_auth_switch_are_as_recorded(dd):
    rec = recorded("create_keys_200")
    body = rec["request"]["body"]
    body["data"]["attributes"]["auth_config"]["secret_access_key"] = "x" * 40
    status, _, raw = call(dd.url + ACCOUNTS_PATH, "POST", body)
    data = json.loads(raw)["data"]
    assert status == 200 and data["attributes"]["auth_config"] == rec["response"]["body"]["data"]["attributes"]["auth_config"]
    listed = json.loads(call(dd.url + ACCOUNTS_PATH)[2])["data"]
    assert [a["attributes"]["auth_config"] for a in listed] == [{"access_key_id": "AKIAIOSFODNN7EXAMPLE"}]
    # Switching to a role (or a role account to keys) is refused as recorded.
    patch = {"data": {"type": "account", "attributes": {"aws_account_id": "123456789012",
                                                        "auth_config": {"role_name": "DatadogIntegrationRole"}}}}
    status, _, raw = call(f"{dd.url}{ACCOUNTS_PATH}/{data['id']}", "PATCH", patch)
    switch = recorded("patch_400_switch_auth")["response"]
    assert (status, json.loads(raw)) == (switch["status"], switch["body"])
    role = json.loads(call(dd.url + ACCOUNTS_PATH, "POST", account_body("210987654321"))[2])["data"]
    status, _, raw = call(f"{dd.url}{ACCOUNTS_PATH}/{role['id']}", "PATCH", recorded("patch_400_switch_auth")["request"]["body"])
    assert (status, json.loads(raw)) == (switch["status"], switch["body"])


def test_a_patch_keeps_what_it_leaves_out_as_recorded(dd):
    rec = recorded("patch_200")
    before = rec["response"]["body"]["data"]["attributes"]
    create = {"data": {"type": "account", "attributes": {k: v for k, v in before.items()
                                                         if k not in ("created_at", "modified_at")}}}
    create["data"]["attributes"]["auth_config"] = {"role_name": before["auth_config"]["role_name"]}
    created = json.loads(call(dd.url + ACCOUNTS_PATH, "POST", create)[2])["data"]
    status, _, raw = call(f"{dd.url}{ACCOUNTS_PATH}/{created['id']}", "PATCH", rec["request"]["body"])
    after = json.loads(raw)["data"]["attributes"]
    assert status == 200
    for key in ("aws_regions", "metrics_config", "traces_config", "resources_config", "logs_config", "account_tags"):
        assert after[key] == before[key], key
    assert after["auth_config"]["external_id"] == created["attributes"]["auth_config"]["external_id"]


def test_the_permission_lists_are_public_and_recorded(dd):
    for kind in ("standard", "resource_collection"):
        status, headers, raw = call(f"{dd.url}{IAM_PERMISSIONS_PATH}/{kind}", keys=False)
        rec = recorded(f"iam_permissions_{kind}")["response"]
        assert (status, json.loads(raw)) == (rec["status"], rec["body"])
        assert headers["Content-Type"] == rec["content_type"]
    # `chunked=true` is not in the spec and no chunked answer is recorded: answered flat...
    status, _, raw = call(f"{dd.url}{IAM_PERMISSIONS_PATH}/resource_collection?chunked=true", keys=False)
    assert json.loads(raw) == recorded("iam_permissions_resource_collection")["response"]["body"]
    # ... unless the emulator is told to cut it (boundaries of its own choosing).
    dd.set_chunk_boundaries(True)
    status, _, raw = call(f"{dd.url}{IAM_PERMISSIONS_PATH}/resource_collection?chunked=true", keys=False)
    chunks = json.loads(raw)["data"]["attributes"]["permissions"]
    assert status == 200 and all(isinstance(c, list) for c in chunks) and len(chunks) > 1
    assert sum(chunks, []) == recorded("iam_permissions_resource_collection")["response"]["body"]["data"]["attributes"]["permissions"]
    for chunk in chunks:
        document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": chunk, "Resource": "*"}]}
        assert len(json.dumps(document, separators=(",", ":"))) <= MANAGED_POLICY_LIMIT
    dd.set_permissions(standard=["a:B"])
    assert json.loads(call(f"{dd.url}{IAM_PERMISSIONS_PATH}/standard", keys=False)[2])["data"]["attributes"]["permissions"] == ["a:B"]
    assert dd.counters.forbidden == 0 and dd.counters.rate_limited == 0


# --------------------------------------------------------------------------- the OpenAPI description


def test_a_post_without_aws_partition_is_refused_as_the_spec_requires(dd):
    body = account_body()
    del body["data"]["attributes"]["aws_partition"]
    status, _, raw = call(dd.url + ACCOUNTS_PATH, "POST", body)
    (error,) = json.loads(raw)["errors"]
    assert status == 400 and "aws_partition" in error["meta"], raw
    assert dd.accounts() == []
    assert [v.where for v in dd.take_spec_violations()] == ["data.attributes.aws_partition"]


def test_an_invalid_partition_is_the_recorded_400_naming_the_field(dd):
    rec = recorded("create_400_meta")
    status, headers, raw = call(dd.url + ACCOUNTS_PATH, "POST", rec["request"]["body"])
    assert (status, json.loads(raw)) == (rec["response"]["status"], rec["response"]["body"])
    assert headers["Content-Type"] == rec["response"]["content_type"]


def test_a_field_the_spec_does_not_define_is_noted_not_refused(dd):
    status, _, _ = call(dd.url + ACCOUNTS_PATH, "POST", account_body(metrics_config={"enabled": True, "automute": False}))
    assert status == 200  # whether Datadog refuses or ignores it is not recorded
    # (The emulator holds what it is sent, so its answer then breaks the spec too.)
    (violation,) = [v for v in dd.take_spec_violations() if v.body == "request"]
    assert violation.unknown_field and violation.where == "data.attributes.metrics_config"
    assert "'automute' was unexpected" in violation.message


def test_every_recorded_request_and_answer_keeps_to_the_spec():
    from sandbox.datadog import spec
    from sandbox.paths import DATADOG_RECORDINGS

    checked = 0
    for path in sorted(DATADOG_RECORDINGS.glob("*.json")):
        rec = json.loads(path.read_text())
        for interaction in rec.get("interactions", [rec]):
            request, response = interaction.get("request"), interaction.get("response")
            if not request or not response:
                continue
            api_path = "/api" + request["uri"].split("/api", 1)[1].split("?", 1)[0]
            body = request.get("body")
            violations = spec().check_request(request["method"], api_path, body) if body is not None else []
            if response["status"] < 300:
                violations += spec().check_answer(request["method"], api_path, response["status"], response.get("body"))
            if path.name.startswith(("create_400", "create_null_tags")):
                continue  # a body Datadog refused; a v1-era answer nesting the account under aws_account
            assert not violations, f"{path.name}: " + "; ".join(map(str, violations))
            checked += 1
    assert checked >= 15


# --------------------------------------------------------------------------- PATCH semantics


def _replay_terraform(dd) -> list[tuple[dict, dict]]:
    """The Terraform provider's recording, replayed: (recorded answer, emulator's answer) per call."""
    rec = recorded("tf_role_based")
    config_id, pairs = None, []
    for interaction in rec["interactions"]:
        request = interaction["request"]
        url = dd.url + ACCOUNTS_PATH + (f"/{config_id}" if config_id else "")
        status, _, raw = call(url, request["method"], request["body"])
        assert status == interaction["response"]["status"], raw
        data = json.loads(raw)["data"]
        config_id = data["id"]
        pairs.append((interaction["response"]["body"]["data"]["attributes"], data["attributes"]))
    return pairs


def _settings(attributes: dict) -> dict:
    drop = ("created_at", "modified_at")
    out = {k: v for k, v in attributes.items() if k not in drop}
    out["auth_config"] = {k: v for k, v in out["auth_config"].items() if k != "external_id"}
    return out


def test_the_recorded_semantics_replay_the_terraform_recording_exactly(dd):
    for want, got in _replay_terraform(dd):
        assert _settings(got) == _settings(want)


def test_merge_keeps_what_the_terraform_recording_shows_dropped_and_replace_drops_what_patch_200_kept(dd):
    dd.set_patch_semantics("merge")
    pairs = _replay_terraform(dd)
    want, got = pairs[-1]
    assert "metric_name_filters" not in want["metrics_config"]
    assert got["metrics_config"]["metric_name_filters"], "merge keeps the filters PATCH #2 left out"

    dd.reset()
    dd.set_patch_semantics("replace")
    rec = recorded("patch_200")
    before = rec["response"]["body"]["data"]["attributes"]
    create = {"data": {"type": "account", "attributes": {k: v for k, v in before.items()
                                                         if k not in ("created_at", "modified_at")}}}
    create["data"]["attributes"]["auth_config"] = {"role_name": before["auth_config"]["role_name"]}
    created = json.loads(call(dd.url + ACCOUNTS_PATH, "POST", create)[2])["data"]
    after = json.loads(call(f"{dd.url}{ACCOUNTS_PATH}/{created['id']}", "PATCH", rec["request"]["body"])[2])["data"]
    a = after["attributes"]
    assert "namespace_filters" not in a["metrics_config"] and a["traces_config"] == {}, \
        "replace loses what patch_200 shows kept"
    assert a["aws_regions"] == before["aws_regions"], "a top-level attribute left out is kept"
    assert a["auth_config"]["external_id"] == created["attributes"]["auth_config"]["external_id"]


def test_a_patch_of_an_id_that_is_not_a_uuid_is_unrecorded_and_behind_a_switch(dd):
    body = {"data": {"type": "account", "attributes": {"aws_account_id": "123456789012"}}}
    status, _, raw = call(f"{dd.url}{ACCOUNTS_PATH}/not-a-uuid", "PATCH", body)
    assert (status, json.loads(raw)) == (404, recorded("patch_404")["response"]["body"])
    dd.set_patch_bad_id_400(True)
    status, _, raw = call(f"{dd.url}{ACCOUNTS_PATH}/not-a-uuid", "PATCH", body)
    assert (status, json.loads(raw)) == (400, recorded("get_400_not_a_uuid")["response"]["body"])
