"""`make invoke EVENT=events/…json`: one CloudFormation event file through the real binary.

    .venv/bin/python -m sandbox.invoke events/datadog/create.json [--logs]

The event files in events/ are what CloudFormation sends for the template's custom resources
in a real account. Run here, four things in them would reach outside this machine, so they are
swapped for the sandbox's, and each swap is printed:
- `ResponseURL` (a pre-signed S3 URL) → the sandbox's ResponseURL recorder;
- `SecretArn` (a secret in the central account) → a secret in moto holding the sandbox's keys;
- the vendor: the function's `REGISTRAR_VENDOR_ENDPOINT` points at the vendor's emulator;
- ids only the earlier events of the same stack could have made (below).

An Update or a Delete acts on a resource an earlier Create made, and a role binding or the
permissions step needs the role. So, before the event, the sandbox plays what CloudFormation
would have done before it, in the same stack, and prints each answer:
- the permissions step (`Phase: role-permissions`): the IAM role is created in moto first;
- a role binding (`Phase: role-binding`): the registration is created (from the binding's own
  properties), then the role, trusting the vendor with the registration's external ID; the
  binding's `RegistrationId` becomes the new registration's id, and its `MonitoringConfigId` a
  template configuration made in the Dynatrace emulator;
- an Update: a Create with the Update's `OldResourceProperties`; a Delete: a Create with its
  `ResourceProperties`; the event's `PhysicalResourceId` becomes the id that Create answered.
Then the event itself goes to the same warm `bootstrap` process. The output ends with what
CloudFormation received, what the vendor (or IAM) now holds, the leak scan's verdict, and the
exit status: 0 when every answer was SUCCESS and no secret leaked.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import sys
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import report
from .function import Function, Invocation
from .harness import Sandbox
from .paths import bootstrap_path, in_repo, shown
from .vendors import descriptor, names

REGISTRATION = ("DynatraceRegistration", "Custom::VendorRegistration")  # templates/dynatrace.yaml's names
BINDING_ONLY = ("Phase", "RegistrationId", "MonitoringConfigId")  # what a binding adds to a registration
# The vendor's AWS account a role trusts, by vendor (datadoghq.com's and Dynatrace production's).
PRINCIPAL = {"datadog": "464622532012", "dynatrace": "314146291599"}


class EventError(ValueError):
    """An event file the sandbox cannot play (not JSON, or not a custom-resource event)."""


@dataclass
class Answer:
    """One event the function answered: a step CloudFormation would have taken, or the event."""

    title: str
    invocation: Invocation

    @property
    def success(self) -> bool:
        return self.invocation.cfn is not None and self.invocation.status == "SUCCESS"


@dataclass
class Played:
    """What playing one event file did."""

    event: dict  # the event as sent (swapped)
    swaps: list[tuple[str, str, str]] = field(default_factory=list)  # (what, in the file, as sent)
    answers: list[Answer] = field(default_factory=list)
    template_config: str | None = None  # the Dynatrace template configuration made for a binding
    sent: bool = False  # whether the event itself was sent (not when a step before it failed)

    @property
    def invocation(self) -> Invocation:
        """The event's own invocation (the last answer)."""
        return self.answers[-1].invocation


def load(path: str | Path) -> dict:
    """The event in `path`, checked for what playing it needs."""
    try:
        event = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise EventError(f"{path}: cannot read a JSON event ({err})") from err
    if not isinstance(event, dict):
        raise EventError(f"{path}: a CloudFormation event is a JSON object")
    for key in ("RequestType", "StackId", "LogicalResourceId", "ResourceType", "ResourceProperties"):
        if key not in event:
            raise EventError(f"{path}: no {key}")
    if event["RequestType"] not in ("Create", "Update", "Delete"):
        raise EventError(f"{path}: RequestType {event['RequestType']!r} is none of Create, Update, Delete")
    if event["RequestType"] != "Create" and "PhysicalResourceId" not in event:
        raise EventError(f"{path}: an {event['RequestType']} needs the PhysicalResourceId")
    if event["ResourceProperties"].get("Vendor") not in names():
        raise EventError(f"{path}: ResourceProperties.Vendor is none of {', '.join(names())}")
    return event


def stack_region(event: dict) -> str:
    """The region of the event's stack (`arn:<partition>:cloudformation:<region>:…`)."""
    return event["StackId"].split(":")[3]


def _arn_region(arn: str, default: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else default


def _short(value: str) -> str:
    """A pre-signed URL shown by its host only (its query string is a secret); anything else as is."""
    if value.startswith("https://") and "?" in value:
        return f"https://{urllib.parse.urlsplit(value).hostname}/…?<pre-signed query>"
    return value


class Player:
    """Plays one event (and what it needs first) against one sandbox and one warm function."""

    def __init__(self, sb: Sandbox, event: dict, say: Callable[[str], None]) -> None:
        self.sb = sb
        self.original = event
        self.say = say
        self.props = event["ResourceProperties"]
        self.vendor = self.props["Vendor"]
        self.phase = self.props.get("Phase", "registration")
        self.region = stack_region(event)
        self.played = Played(event=event)
        self._secret_arn: str | None = None
        self._registration_id: str | None = None
        # The harness's `<vendor>_env` points the function at the vendor's emulator (Datadog's is
        # the base environment's).
        env = getattr(sb, f"{self.vendor}_env", dict)()
        self.fn: Function = sb.function(env)

    # ------------------------------------------------------------------ swaps
    def _secret(self, arn: str) -> str:
        if self._secret_arn is None:
            region = _arn_region(arn, self.region)
            self._secret_arn = getattr(self.sb, f"{self.vendor}_secret")(region)
        return self._secret_arn

    def _template_config(self) -> str:
        if self.played.template_config is None:
            self.played.template_config = self.sb.dynatrace.add_monitoring_config(
                "AWS monitoring (the template configuration; made by the sandbox for this event)")
        return self.played.template_config

    def sandboxed(self, props: dict, *, record: bool = False) -> dict:
        """`props` with what points outside the sandbox swapped for the sandbox's."""
        out = copy.deepcopy(props)
        swaps = []
        if "SecretArn" in out:
            swaps.append(("SecretArn", out["SecretArn"], self._secret(out["SecretArn"])))
        if "MonitoringConfigId" in out and self.vendor == "dynatrace":
            swaps.append(("MonitoringConfigId", out["MonitoringConfigId"], self._template_config()))
        if "RegistrationId" in out and self._registration_id is not None:
            swaps.append(("RegistrationId", out["RegistrationId"], self._registration_id))
        if "EnvironmentUrl" in out and self.vendor == "dynatrace":
            host = urllib.parse.urlsplit(out["EnvironmentUrl"]).hostname or ""
            emulated = self.sb.dynatrace.environment_host
            if host.replace(".live.", ".apps.") != emulated:
                swaps.append(("EnvironmentUrl", out["EnvironmentUrl"], f"https://{emulated}"))
        for key, _, new in swaps:
            out[key] = new
        if record:
            self._note_swaps(swaps)
        return out

    def _note_swaps(self, swaps: list[tuple[str, str, str]]) -> None:
        for swap in swaps:
            if swap[1] != swap[2] and swap not in self.played.swaps:
                self.played.swaps.append(swap)

    def event(self, request_type: str, props: dict, *, logical: tuple[str, str] | None = None,
              physical_id: str | None = None, old_props: dict | None = None) -> dict:
        """An event of the file's stack, as CloudFormation would send it, with a sandbox ResponseURL."""
        event = {key: value for key, value in self.original.items()
                 if key not in ("PhysicalResourceId", "OldResourceProperties")}
        event["RequestType"] = request_type
        event["RequestId"] = str(uuid.uuid4())
        if logical:
            event["LogicalResourceId"], event["ResourceType"] = logical
        event["ResponseURL"] = self.sb.catcher.issue(self.region).url
        event["ResourceProperties"] = props
        if physical_id is not None:
            event["PhysicalResourceId"] = physical_id
        if old_props is not None:
            event["OldResourceProperties"] = old_props
        return event

    # ------------------------------------------------------------------ steps
    def answer(self, title: str | None, event: dict) -> Answer:
        if title:
            self.say(f"\n{title}")
        inv = self.fn.invoke(event)
        report.response(inv)
        self.vendor_state()
        answer = Answer(title or "the event", inv)
        self.played.answers.append(answer)
        return answer

    def vendor_state(self) -> None:
        if self.phase == "role-permissions":
            report.role_policies(self.sb, self.props.get("RoleName", ""), self.region)
        elif self.vendor == "datadog":
            report.datadog_state(self.sb)
        elif self.vendor == "dynatrace":
            report.dynatrace_state(self.sb, self.played.template_config)
        else:
            # Any other vendor's demo module says what the vendor holds.
            importlib.import_module(f"{__package__}.demo.{self.vendor}").state(self.sb)

    def create_role(self, external_id: str | None) -> None:
        name = self.props["RoleName"]
        principal = f"arn:aws:iam::{PRINCIPAL[self.vendor]}:root"
        statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
        if external_id:
            statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
        role = self.sb.aws.client("iam", self.region).create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
        trust = f"trusting {principal}" + (" with the registration's external ID" if external_id else "")
        self.say(f"\nBefore: CloudFormation creates the IAM role {name}, {trust}")
        self.say(f"   IAM ← {role['Role']['Arn']}")

    def prerequisites(self) -> str | None:
        """Plays what CloudFormation did before this event; the PhysicalResourceId it made, if any."""
        request_type = self.original["RequestType"]
        if self.phase == "role-permissions":
            self.create_role(None)
        if self.phase == "role-binding":
            registration = {k: v for k, v in self.props.items() if k not in BINDING_ONLY}
            made = self.answer(f"Before: CloudFormation creates the registration ({REGISTRATION[0]})",
                               self.event("Create", self.sandboxed(registration), logical=REGISTRATION))
            if not made.success:
                return None
            self._registration_id = made.invocation.data.get("RegistrationId")
            self.create_role(made.invocation.data.get("ExternalId"))
        if request_type == "Create":
            return None
        earlier = self.original["OldResourceProperties"] if request_type == "Update" else self.props
        made = self.answer(f"Before: CloudFormation's Create of {self.original['LogicalResourceId']}, whose "
                           f"resource this {request_type} acts on",
                           self.event("Create", self.sandboxed(earlier)))
        return made.invocation.physical_id if made.success else None

    def play(self) -> Played:
        physical_id = self.prerequisites()
        kind = self.original["RequestType"]
        if kind != "Create" and physical_id is None:
            self.say("\n✗ the Create this event needs did not succeed; the event is not sent")
            return self.played
        event = copy.deepcopy(self.original)
        event["ResponseURL"] = self.sb.catcher.issue(self.region).url
        self._note_swaps([("ResponseURL", self.original.get("ResponseURL", ""), "the sandbox's ResponseURL recorder")])
        event["ResourceProperties"] = self.sandboxed(self.props, record=True)
        if "OldResourceProperties" in event:
            event["OldResourceProperties"] = self.sandboxed(event["OldResourceProperties"], record=True)
        if physical_id is not None:
            self._note_swaps([("PhysicalResourceId", self.original["PhysicalResourceId"], physical_id)])
            event["PhysicalResourceId"] = physical_id
        self.played.event = event
        self.say(f"\nThe event: {kind} of {event['LogicalResourceId']} ({event['ResourceType']}"
                 + (f", Phase {self.phase}" if "Phase" in self.props else "") + ")")
        for what, before, after in self.played.swaps:
            self.say(f"   {what}: {_short(before)}")
            self.say(f"   {' ' * len(what)}  → {_short(after)}")
        self.played.sent = True
        self.answer(None, event)
        return self.played


def play(sb: Sandbox, event: dict, say: Callable[[str], None] = print) -> Played:
    """Plays `event` (a loaded event file) and what it needs first in `sb`; see the module doc."""
    return Player(sb, event, say).play()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.invoke", description=__doc__.splitlines()[0])
    parser.add_argument("event", help="an event file, e.g. events/datadog/create.json")
    parser.add_argument("--logs", action="store_true", help="print the binary's logs (secrets redacted)")
    args = parser.parse_args(argv)
    try:
        event = load(in_repo(args.event) if not Path(args.event).exists() else args.event)
    except EventError as err:
        print(err, file=sys.stderr)
        return 2
    if not bootstrap_path().exists():
        print(f"the bootstrap binary is missing at {bootstrap_path()}: run `cargo build` first", file=sys.stderr)
        return 2
    with Sandbox(region=stack_region(event)) as sb:
        print(f"Registrar sandbox: {args.event}")
        print(f"  binary       {shown(sb.bootstrap)}")
        print(f"  moto         {sb.aws.url}  (Secrets Manager, STS, IAM)")
        vendor = event["ResourceProperties"]["Vendor"]
        if vendor == "dynatrace":
            print(f"  Dynatrace    {sb.dynatrace.url}  (emulating https://{sb.dynatrace.environment_host})")
        elif vendor == "datadog":
            print(f"  Datadog      {sb.datadog.url}  (emulating api.{sb.datadog.site})")
        else:
            print(f"  {descriptor(vendor)['display_name']:<12} {getattr(sb, vendor).url}  (its emulator)")
        print(f"  ResponseURL  {sb.catcher.url}/cfn-response/…")
        played = play(sb, event)
        answers = [answer.success for answer in played.answers]
        expected = len(answers) + (0 if played.sent else 1)
        return report.verdict(sb, answers, expected=expected, show_logs=args.logs)


if __name__ == "__main__":
    sys.exit(main())
