"""A StackSet rollout of the Dynatrace variant through the real binary, against the emulator in
its documented mode (monitoring configurations without token: the last writer wins) with
latency jitter on every answer, and the organisation blueprint disabled (as Dynatrace documents
it): every account onboarded concurrently is monitored (its own configuration enabled), and every
account offboarded concurrently is gone, with nothing lost and nothing left behind.

The suite runs the issue's scale, 200 accounts at concurrency 50 (about 80 s on two cores with the
debug binary); sandbox/bench/dynatrace_rollout.py runs the same with the release binary, and the
earlier release's shared configuration at that scale, and prints the figures.
"""

from __future__ import annotations

from sandbox.dynatrace_rollout import members, offboard, offboard_legacy, onboard

ACCOUNTS, CONCURRENCY = 200, 50
JITTER_MS = (5, 80)


def test_accounts_onboarded_and_offboarded_concurrently_lose_nothing(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    dt.set_latency(*JITTER_MS)
    template = dt.add_monitoring_config("organisation template")
    template_value = dt.monitoring_config(template)["value"]
    assert template_value["enabled"] is False, "the organisation blueprint is disabled, as Dynatrace documents"
    arn = sb.dynatrace_secret()
    accounts = members(sb, ACCOUNTS)

    up = onboard(sb, accounts, arn, template, CONCURRENCY)
    assert up.statuses == {"SUCCESS": 2 * ACCOUNTS}, up.reasons[:3]
    assert dt.monitored_accounts() == sorted(m.account for m in accounts), "every account is monitored"
    assert all(m.binding["Data"]["MonitoringStatus"] == "OK" for m in accounts)
    own = [c for c in dt.monitoring_configs() if c["objectId"] != template]
    assert len(own) == ACCOUNTS and all(len(c["value"]["aws"]["credentials"]) == 1 for c in own), \
        "one configuration per account, naming that account alone"
    assert dt.monitoring_config(template)["value"] == template_value, "nobody wrote the template"
    assert dt.counters.config_writes == 0, "no configuration was written twice"

    down = offboard(sb, accounts, arn, template, CONCURRENCY)
    assert down.statuses == {"SUCCESS": 2 * ACCOUNTS}, down.reasons[:3]
    assert dt.connections() == [] and dt.monitored_accounts() == []
    assert [c["objectId"] for c in dt.monitoring_configs()] == [template]
    print(f"\n{ACCOUNTS} accounts at concurrency {CONCURRENCY}, jitter {JITTER_MS} ms: onboard {up.seconds:.1f} s "
          f"({up.requests} Dynatrace calls), offboard {down.seconds:.1f} s ({down.requests} calls)")


def test_an_earlier_releases_shared_configuration_is_left_by_every_account_at_once(sandbox):
    sb = sandbox
    dt = sb.dynatrace
    dt.set_latency(*JITTER_MS)
    arn = sb.dynatrace_secret()
    accounts = members(sb, 20, first=400000000000)
    down, shared = offboard_legacy(sb, accounts, arn, 20)
    assert down.statuses == {"SUCCESS": 20}, down.reasons[:3]
    left = dt.credentials(shared)
    assert left == [], f"{len(left)} of 20 entries left behind in the shared configuration"
    print(f"\n20 earlier-release bindings left one shared configuration at once in {down.seconds:.1f} s: "
          f"{dt.counters.config_writes} writes, {len(left)} entries left")
