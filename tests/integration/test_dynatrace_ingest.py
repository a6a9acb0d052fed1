"""Dynatrace's ingest endpoints accept the tokens the ingest resources send, and only those.

The emulator checks, per endpoint, the token type and scope Dynatrace documents (generic events:
an access token with `openpipeline.events`, or a platform token with `openpipeline:events:ingest`;
Firehose logs: an access token with `logs.ingest`, sent by Firehose as its access key) and answers
403 for a token without the scope. The template's event connection and Firehose destination are
read from the template itself and replayed with the token the foundation's ingest secret holds.
"""

from __future__ import annotations

import base64
import gzip
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cfnlint.decode import decode

from sandbox import DynatraceEmulator
from sandbox.dynatrace_ingest import EVENTS_PATH, FIREHOSE_PATH

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_TOKEN = "dt0s16.SETTINGSTOKEN.SECRETPART"
INGEST_TOKEN = "dt0c01.INGESTTOKEN00000000000000.SECRETPART0000000000000000000000000000000000000000000000000000"
PLATFORM_INGEST = "dt0s16.PLATFORMINGEST.SECRETPART"


def ingest_template() -> dict:
    """The template that holds the ingest resources (templates/dynatrace-ingest.yaml once the
    templates are split, template.yaml before)."""
    for path in (ROOT / "templates" / "dynatrace-ingest.yaml", ROOT / "template.yaml"):
        if path.exists():
            template, matches = decode(str(path))
            assert not matches, matches
            return template
    raise AssertionError("no template with the ingest resources")


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def dt():
    emulator = DynatraceEmulator(SETTINGS_TOKEN).start()
    try:
        emulator.ingest.add_token(INGEST_TOKEN, "api", ["logs.ingest", "openpipeline.events"])
        emulator.ingest.add_token(PLATFORM_INGEST, "platform", ["openpipeline:events:ingest"])
        yield emulator
    finally:
        emulator.stop()


def event_header(template: dict, token: str) -> tuple[str, str]:
    """The header the template's EventBridge connection sends: its name and its value with the
    dynamic reference resolved to `token`."""
    auth = template["Resources"]["EventConnection"]["Properties"]
    assert auth["AuthorizationType"] == "API_KEY"
    key = auth["AuthParameters"]["ApiKeyAuthParameters"]
    parts = key["ApiKeyValue"]["Fn::Join"][1]
    assert parts[0].endswith("{{resolve:secretsmanager:") and parts[-1] == ":SecretString:api_key}}"
    return key["ApiKeyName"], parts[0].removesuffix("{{resolve:secretsmanager:") + token


def firehose_path(template: dict) -> str:
    url = template["Resources"]["LogStream"]["Properties"]["HttpEndpointDestinationConfiguration"][
        "EndpointConfiguration"]["Url"]
    return url["Fn::Join"][1][-1]


def firehose_delivery(token: str, records: list[bytes]) -> tuple[bytes, dict[str, str]]:
    """A Firehose HTTP endpoint delivery with GZIP content encoding (the stream's setting)."""
    body = json.dumps({"requestId": "r-1", "timestamp": 1764806400000,
                       "records": [{"data": base64.b64encode(r).decode()} for r in records]}).encode()
    return gzip.compress(body), {"X-Amz-Firehose-Request-Id": "r-1", "X-Amz-Firehose-Access-Key": token,
                                 "Content-Encoding": "gzip", "Content-Type": "application/json"}


def test_the_templates_event_connection_and_firehose_stream_are_accepted(dt):
    template = ingest_template()
    name, value = event_header(template, INGEST_TOKEN)
    assert (name, value) == ("Authorization", f"Api-Token {INGEST_TOKEN}"), "an access token, as documented"
    status, body = post(dt.url + EVENTS_PATH, json.dumps({"event.type": "aws.health"}).encode(),
                        {name: value, "Content-Type": "application/json"})
    assert (status, body) == (202, b""), body
    assert firehose_path(template) == FIREHOSE_PATH
    body, headers = firehose_delivery(INGEST_TOKEN, [b'{"message": "hello"}'])
    status, answer = post(dt.url + FIREHOSE_PATH, body, headers)
    assert status == 200 and json.loads(answer)["requestId"] == "r-1", answer
    assert dt.ingest.ingested.events == [{"event.type": "aws.health"}]
    assert dt.ingest.ingested.firehose_records == [b'{"message": "hello"}']


def test_each_endpoint_refuses_the_wrong_token_type_or_scope(dt):
    events = json.dumps([{"a": 1}, {"b": 2}]).encode()
    # A platform token with the platform scope is also documented for events.
    assert post(dt.url + EVENTS_PATH, events, {"Authorization": f"Bearer {PLATFORM_INGEST}"})[0] == 202
    # The settings token: a platform token without the ingest scope.
    status, body = post(dt.url + EVENTS_PATH, events, {"Authorization": f"Bearer {SETTINGS_TOKEN}"})
    assert status == 401, body
    logs_only = "dt0c01.LOGSONLY.SECRETPART"
    dt.ingest.add_token(logs_only, "api", ["logs.ingest"])
    status, body = post(dt.url + EVENTS_PATH, events, {"Authorization": f"Api-Token {logs_only}"})
    assert status == 403 and json.loads(body)["error"]["message"].endswith("openpipeline.events"), body
    # The platform ingest token on the API-token scheme, and on Firehose: not an access token.
    assert post(dt.url + EVENTS_PATH, events, {"Authorization": f"Api-Token {PLATFORM_INGEST}"})[0] == 401
    body, headers = firehose_delivery(PLATFORM_INGEST, [b"x"])
    assert post(dt.url + FIREHOSE_PATH, body, headers)[0] == 401
    events_only = "dt0c01.EVENTSONLY.SECRETPART"
    dt.ingest.add_token(events_only, "api", ["openpipeline.events"])
    body, headers = firehose_delivery(events_only, [b"x"])
    status, answer = post(dt.url + FIREHOSE_PATH, body, headers)
    assert status == 403 and "logs.ingest" in json.loads(answer)["errorMessage"], answer
    assert dt.ingest.ingested.events == [{"a": 1}, {"b": 2}] and dt.ingest.ingested.firehose_records == []
