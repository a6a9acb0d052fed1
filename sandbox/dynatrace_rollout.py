"""An organisation-scale Dynatrace rollout and teardown through the real binary.

One job: run what a service-managed StackSet does to N member accounts at concurrency C with
the Dynatrace variant of the template, and say what Dynatrace holds afterwards:
- onboard: per account, the registration's Create, then the role binding's Create (with
  `MonitoringConfigId` = the template configuration); accounts run concurrently, as automatic
  deployment to a new OU sends them, whatever the operation preferences;
- offboard: per account, the binding's Delete, then the registration's Delete;
- offboard_legacy: N role bindings of an earlier release, every account in one shared
  configuration, all deleted at once.

Every event is a cold `bootstrap` process (`Sandbox.invoke`). The integration tests assert on
the results; sandbox/bench/dynatrace_rollout.py prints them.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .harness import Sandbox

FIRST_ACCOUNT = 100000000000
BINDING_LOGICAL_ID, BINDING_TYPE = "VendorRoleBinding", "Custom::VendorRoleBinding"


@dataclass
class Member:
    """One member account's stack and what CloudFormation was told about it."""

    account: str
    stack: object
    registration: dict | None = None  # the registration's answer body
    binding: dict | None = None  # the binding's answer body
    failures: list[str] = field(default_factory=list)


@dataclass
class Phase:
    """What one phase did: answers by status, the time it took, and the Dynatrace calls."""

    name: str
    accounts: int
    seconds: float
    statuses: dict[str, int]
    requests: int
    reasons: list[str]


def members(sb: Sandbox, count: int, first: int = FIRST_ACCOUNT) -> list[Member]:
    return [Member(str(first + i), sb.stack(account=str(first + i), name=f"StackSet-registrar-{first + i}"))
            for i in range(count)]


def _binding_event(stack, request_type: str, props: dict, physical_id: str | None = None) -> dict:
    event = stack.event(request_type, props, physical_id=physical_id)
    event["LogicalResourceId"], event["ResourceType"] = BINDING_LOGICAL_ID, BINDING_TYPE
    return event


def _body(inv) -> dict:
    return inv.cfn.body_json if inv.cfn is not None else {"Status": "NO ANSWER", "Reason": inv.describe()}


def _run(sb: Sandbox, name: str, accounts: list[Member], concurrency: int, step) -> Phase:
    dt = sb.dynatrace
    before = len(dt.requests)
    statuses: dict[str, int] = {}
    reasons: list[str] = []
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for outcome in pool.map(step, accounts):
            for status, reason in outcome:
                statuses[status] = statuses.get(status, 0) + 1
                if status != "SUCCESS":
                    reasons.append(reason)
    return Phase(name, len(accounts), time.monotonic() - started, statuses, len(dt.requests) - before, reasons)


def onboard(sb: Sandbox, accounts: list[Member], arn: str, template: str | None, concurrency: int,
            timeout_s: float = 120.0) -> Phase:
    """Registration, then role binding, for every account; at most `concurrency` at once."""
    env = sb.dynatrace_env()

    def one(member: Member) -> list[tuple[str, str]]:
        props = sb.dynatrace_props(arn)
        member.registration = _body(sb.invoke(member.stack.create(props), env, timeout_s=timeout_s))
        outcome = [(member.registration["Status"], member.registration.get("Reason", ""))]
        if member.registration["Status"] != "SUCCESS":
            return outcome
        bprops = sb.dynatrace_props(arn, Phase="role-binding", MonitoringConfigId=template,
                                    RegistrationId=member.registration["Data"]["RegistrationId"])
        member.binding = _body(sb.invoke(_binding_event(member.stack, "Create", bprops), env, timeout_s=timeout_s))
        return outcome + [(member.binding["Status"], member.binding.get("Reason", ""))]

    return _run(sb, "onboard", accounts, concurrency, one)


def offboard(sb: Sandbox, accounts: list[Member], arn: str, template: str | None, concurrency: int,
             timeout_s: float = 120.0) -> Phase:
    """The binding's Delete, then the registration's, for every onboarded account."""
    env = sb.dynatrace_env()

    def one(member: Member) -> list[tuple[str, str]]:
        outcome = []
        if member.binding is not None and member.binding["Status"] == "SUCCESS":
            bprops = sb.dynatrace_props(arn, Phase="role-binding", MonitoringConfigId=template,
                                        RegistrationId=member.binding["Data"]["RegistrationId"])
            body = _body(sb.invoke(_binding_event(member.stack, "Delete", bprops,
                                                  member.binding["PhysicalResourceId"]), env, timeout_s=timeout_s))
            outcome.append((body["Status"], body.get("Reason", "")))
        if member.registration is not None and member.registration["Status"] == "SUCCESS":
            body = _body(sb.invoke(member.stack.delete(member.registration["PhysicalResourceId"],
                                                       sb.dynatrace_props(arn)), env, timeout_s=timeout_s))
            outcome.append((body["Status"], body.get("Reason", "")))
        return outcome

    return _run(sb, "offboard", accounts, concurrency, one)


def offboard_legacy(sb: Sandbox, accounts: list[Member], arn: str, concurrency: int,
                    timeout_s: float = 120.0) -> tuple[Phase, str]:
    """Every account registered and bound without a configuration, then put into one shared
    configuration and given an earlier release's binding id naming it; then all those bindings
    are deleted at once. Answers the phase and the shared configuration's id."""
    dt = sb.dynatrace
    onboard(sb, accounts, arn, None, concurrency, timeout_s)
    entries = [{"description": f"registrar-{m.account}", "enabled": True, "accountId": m.account,
                "connectionId": m.registration["Data"]["RegistrationId"]} for m in accounts if m.registration]
    shared = dt.add_monitoring_config("shared by every account (earlier release)", credentials=entries, enabled=True)
    env = sb.dynatrace_env()

    def one(member: Member) -> list[tuple[str, str]]:
        oid = member.registration["Data"]["RegistrationId"]
        bprops = sb.dynatrace_props(arn, Phase="role-binding", MonitoringConfigId=shared, RegistrationId=oid)
        legacy = member.binding["PhysicalResourceId"].replace(":-:", f":{shared}:")
        body = _body(sb.invoke(_binding_event(member.stack, "Delete", bprops, legacy), env, timeout_s=timeout_s))
        return [(body["Status"], body.get("Reason", ""))]

    return _run(sb, "offboard (earlier release's shared configuration)", accounts, concurrency, one), shared
