"""Every file in events/ through `make invoke`'s code path (sandbox.invoke) and the real binary.

For each event file: every answer (the steps CloudFormation would have taken before it, then the
event) meets the contract; the event sent is the file's event with only the sandbox's swaps
(ResponseURL, SecretArn, ids the earlier steps made); an Update or Delete acts on the resource
its earlier Create made; and the vendor (or IAM) ends up as the event's properties say.
`python -m sandbox.invoke` itself, as `make invoke` runs it, answers with its exit status.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from contract import answered
from sandbox.invoke import EventError, load, play
from sandbox.paths import EVENTS

EVENT_FILES = sorted(EVENTS.rglob("*.json"))
SWAPPABLE = {"ResponseURL", "PhysicalResourceId"}
SWAPPABLE_PROPERTIES = {"SecretArn", "RegistrationId", "MonitoringConfigId"}


def test_there_are_events_for_every_vendor_and_step():
    names = {path.relative_to(EVENTS).as_posix() for path in EVENT_FILES}
    for prefix in ("datadog/", "datadog/permissions-", "dynatrace/", "dynatrace/binding-"):
        for kind in ("create", "update", "delete"):
            assert f"{prefix}{kind}.json" in names, f"no {prefix}{kind}.json in events/"


def differences(original: dict, sent: dict) -> set[str]:
    keys = {k for k in original.keys() | sent.keys() if original.get(k) != sent.get(k)}
    for props in ("ResourceProperties", "OldResourceProperties"):
        if props in keys:
            keys.discard(props)
            a, b = original.get(props) or {}, sent.get(props) or {}
            keys |= {f"{props}.{k}" for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
    return keys


def check_vendor(sb, event: dict, registration_id: str | None) -> None:
    """The vendor (or IAM) holds what the event's properties say, after the event."""
    props, kind = event["ResourceProperties"], event["RequestType"]
    phase = props.get("Phase", "registration")
    if phase == "role-permissions":
        iam = sb.aws.client("iam")
        inline = iam.list_role_policies(RoleName=props["RoleName"])["PolicyNames"]
        managed = iam.list_attached_role_policies(RoleName=props["RoleName"])["AttachedPolicies"]
        if kind == "Delete":
            assert (inline, managed) == ([], [])
        else:
            assert inline == ["registrar-datadog-standard"]
            assert bool(managed) == (props["DisableResourceCollection"] == "false"), managed
    elif props["Vendor"] == "datadog":
        accounts = sb.datadog.accounts()
        if kind == "Delete":
            assert accounts == []
        else:
            (account,) = accounts
            assert account["id"] == registration_id
            metrics = account["attributes"]["metrics_config"]["enabled"]
            assert metrics == (props["DisableMetricCollection"] == "false")
    elif props["Vendor"] != "dynatrace":
        # Any other vendor: what its conformance adapter reads (conformance_<vendor>.py).
        from conformance import adapter
        held = adapter(props["Vendor"], sb).held(None)
        if kind == "Delete":
            assert held == []
        else:
            assert [h.id for h in held] == [registration_id]
    else:
        connections = sb.dynatrace.connections()
        if kind == "Delete":
            assert connections == []
            assert [c for c in sb.dynatrace.monitoring_configs() if c["value"]["aws"].get("credentials")] == []
        else:
            (connection,) = connections
            assert connection["objectId"] == registration_id
            role = connection["value"]["awsRoleBasedAuthentication"]["roleArn"]
            if phase == "role-binding":
                assert role.endswith(f":role/{props['RoleName']}")
                assert sb.dynatrace.monitored_accounts() == [event["StackId"].split(":")[4]]
            else:
                assert role == ""


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda p: p.relative_to(EVENTS).as_posix())
def test_event_file_runs_through_the_binary(sandbox, path):
    original = load(path)
    played = play(sandbox, original, say=lambda _line: None)
    assert played.sent, "a step before the event failed"
    for answer in played.answers:
        answered(answer.invocation, "SUCCESS")
    sent = played.event
    assert sent is played.invocation.event

    changed = differences(original, sent)
    allowed = SWAPPABLE | {f"{p}.{k}" for p in ("ResourceProperties", "OldResourceProperties")
                           for k in SWAPPABLE_PROPERTIES}
    assert changed <= allowed, f"make invoke changed more than the sandbox's swaps: {sorted(changed - allowed)}"
    assert "ResponseURL" in changed and sent["ResponseURL"].startswith(sandbox.catcher.url)
    assert {what for what, _, _ in played.swaps} >= {key.split(".")[-1] for key in changed}

    if original["RequestType"] == "Create":
        assert len(played.answers) == 1 + (original["ResourceProperties"].get("Phase") == "role-binding")
    else:
        created = played.answers[-2].invocation
        assert created.event["RequestType"] == "Create"
        assert created.event["LogicalResourceId"] == original["LogicalResourceId"]
        assert sent["PhysicalResourceId"] == created.physical_id
        assert played.invocation.physical_id == created.physical_id, "an in-place Update or a Delete keeps the id"
    registration = next((a.invocation.data.get("RegistrationId") for a in played.answers
                         if a.invocation.event["ResourceProperties"].get("Phase") is None), None)
    check_vendor(sandbox, original, registration)


def test_invoke_command_exits_0_and_prints_the_verdict(bootstrap):
    env = dict(os.environ, REGISTRAR_BOOTSTRAP=str(bootstrap))
    run = subprocess.run([sys.executable, "-m", "sandbox.invoke", "events/datadog/update.json"], env=env,
                         capture_output=True, text=True, timeout=120, cwd=EVENTS.parent)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "PhysicalResourceId: registrar:datadog:datadoghq.com:aws:123456789012:8f2d6c1a" in run.stdout
    assert "✓ no secret in logs, responses or vendor requests" in run.stdout
    assert run.stdout.rstrip().endswith("✓ all 2 CloudFormation answers were SUCCESS (1 process start)")


def test_invoke_refuses_a_file_that_is_not_an_event(tmp_path, bootstrap):
    bad = tmp_path / "update.json"
    bad.write_text('{"RequestType": "Update", "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1", '
                   '"LogicalResourceId": "R", "ResourceType": "Custom::VendorRegistration", '
                   '"ResourceProperties": {"Vendor": "datadog"}}')
    with pytest.raises(EventError, match="needs the PhysicalResourceId"):
        load(bad)
    env = dict(os.environ, REGISTRAR_BOOTSTRAP=str(bootstrap))
    run = subprocess.run([sys.executable, "-m", "sandbox.invoke", str(bad)], env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "needs the PhysicalResourceId" in run.stderr
