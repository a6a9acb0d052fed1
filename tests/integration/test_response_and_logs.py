"""The response PUT itself (empty Content-Type, ≤ 4096 bytes, byte-exact Content-Length, the
pre-signed URL used untouched) and log hygiene (JSON lines; no key, no ResponseURL query)."""

from __future__ import annotations

import json

import pytest

from contract import MAX_BODY, answered

ACCOUNTS = "/api/v2/integration/aws/accounts"


def test_the_response_put_has_an_empty_content_type_and_a_small_body(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    stack = sb.stack()
    event = stack.create(sb.datadog_props(arn))
    inv = sb.invoke(event)
    body = answered(inv, "SUCCESS")
    record = inv.cfn
    assert record.method == "PUT"
    assert record.content_type == "", f"Content-Type header must be present and empty, got {record.content_type!r}"
    assert len(record.raw) <= MAX_BODY
    assert int(record.header("Content-Length")) == len(record.raw)
    issued = next(i for i in sb.catcher.issued() if i.token == inv.token)
    assert record.raw_query == issued.raw_query, "the pre-signed query string must be sent exactly as received"
    assert set(body) >= {"Status", "PhysicalResourceId", "StackId", "RequestId", "LogicalResourceId", "Data"}
    assert all(isinstance(v, str) for v in body["Data"].values()), body["Data"]


def test_a_huge_vendor_error_still_fits_in_4096_bytes(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    detail = "Ungültige Anfrage — ошибка — 錯誤 " * 400  # ~20 KB, multi-byte UTF-8
    sb.datadog.add_fault("POST", ACCOUNTS, [{"status": 400, "body": {"errors": [{"status": "400",
                                                                             "title": "Bad Request",
                                                                             "detail": detail}]}}])
    inv = sb.invoke(sb.stack().create(sb.datadog_props(arn)))
    body = answered(inv, "FAILED")  # checks ≤ 4096 bytes and Content-Length == byte length
    assert len(inv.cfn.raw) <= MAX_BODY
    assert "400" in body["Reason"] or "Bad Request" in body["Reason"], body["Reason"][:300]
    assert body["PhysicalResourceId"]


@pytest.mark.parametrize("rust_log", ["debug", "trace"])
def test_logs_are_json_lines_and_never_hold_keys_or_the_response_url(sandbox, rust_log):
    sb = sandbox
    arn = sb.datadog_secret()
    stack = sb.stack()
    fn = sb.function({"RUST_LOG": rust_log})  # even debug (and trace) logs must be clean
    props = sb.datadog_props(arn)
    pid = answered(fn.invoke(stack.create(props)), "SUCCESS")["PhysicalResourceId"]
    throttled = {"status": 429, "headers": {"X-RateLimit-Reset": "1", "X-RateLimit-Period": "2"}}
    sb.datadog.add_fault("PATCH", ACCOUNTS, [{"status": 500}, throttled])
    answered(fn.invoke(stack.update(pid, dict(props, DisableMetricCollection="true"), props)), "SUCCESS")
    answered(fn.invoke(stack.event("Frobnicate", props)), "FAILED")
    answered(fn.invoke(stack.delete(pid, props)), "SUCCESS")
    # A panic's answer and log lines are checked in Rust (tests/handler.rs): the binary has no
    # way to be made to panic.

    records = fn.log_records()
    assert records, "the binary logged nothing at debug level; the hygiene check would be vacuous"
    not_json = [r for r in records if not isinstance(r, dict)]
    assert not_json == [], f"stdout lines that are not JSON: {not_json[:3]}"

    text = "\n".join(f.output_text() for f in sb.functions)
    assert sb.api_key not in text and sb.app_key not in text
    for issued in sb.catcher.issued():
        assert issued.raw_query not in text and issued.signature not in text
        assert issued.url not in text
    assert sb.leaks() == []
    # The response URL itself (a write capability) never goes to the vendor either.
    sent = json.dumps([(r.path, r.raw_query, r.body.decode()) for r in sb.datadog.requests])
    assert "cfn-response" not in sent


def test_a_response_url_outside_the_allowed_hosts_is_never_called(sandbox):
    sb = sandbox
    arn = sb.datadog_secret()
    # Default allow-list: *.amazonaws.com and *.amazonaws.com.cn only.
    inv = sb.invoke(sb.stack().create(sb.datadog_props(arn)), {"REGISTRAR_RESPONSE_HOSTS": None})
    assert inv.cfn_attempts == [], "the ResponseURL host is not allowed, so nothing may be sent to it"
    assert inv.runtime_result[0] in ("response", "error"), f"the binary should still finish: {inv.describe()}"
