"""Dynatrace at StackSet scale: N member accounts onboarded at concurrency C, then offboarded,
against the emulator in its documented mode (monitoring configurations: PUT overwrites, no token,
no 409) with latency jitter; then N bindings of an earlier release leaving one shared
configuration at once.

    .venv/bin/python -m sandbox.bench.dynatrace_rollout \\
        [--accounts 200] [--concurrency 50] [--jitter-ms 5 80]

Every event is its own cold `bootstrap` process (the release binary, or $REGISTRAR_BOOTSTRAP).
It prints, per phase: the answers by status, the wall time, the Dynatrace calls, and what
Dynatrace holds afterwards: accounts monitored (an enabled credential of an enabled configuration
whose connection exists), connections, configurations, and entries lost or left behind. It
asserts nothing about time.
"""

from __future__ import annotations

import argparse

from .. import Sandbox
from ..dynatrace_rollout import members, offboard, offboard_legacy, onboard
from .benchlib import release_bootstrap, table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--jitter-ms", type=float, nargs=2, default=(5.0, 80.0))
    args = parser.parse_args()
    n, c = args.accounts, args.concurrency
    rows = []
    with Sandbox(bootstrap=release_bootstrap()) as sb:
        dt = sb.dynatrace
        dt.set_latency(*args.jitter_ms)
        template = dt.add_monitoring_config("organisation template")  # disabled, as documented
        arn = sb.dynatrace_secret()
        accounts = members(sb, n)

        up = onboard(sb, accounts, arn, template, c)
        monitored = dt.monitored_accounts()
        expected = sorted(m.account for m in accounts)
        own = [x for x in dt.monitoring_configs() if x["objectId"] != template]
        rows.append((f"onboard {n}", _statuses(up.statuses), f"{up.seconds:.1f}", str(up.requests),
                     f"{len(monitored)} / {n}", str(len(dt.connections())), str(len(own)),
                     str(len(set(expected) - set(monitored)))))

        down = offboard(sb, accounts, arn, template, c)
        own = [x for x in dt.monitoring_configs() if x["objectId"] != template]
        rows.append((f"offboard {n}", _statuses(down.statuses), f"{down.seconds:.1f}", str(down.requests),
                     f"{len(dt.monitored_accounts())}", str(len(dt.connections())), str(len(own)),
                     str(len(dt.connections()) + len(own))))

        dt.reset()
        dt.set_latency(*args.jitter_ms)
        legacy = members(sb, n, first=500000000000)
        writes_before = dt.counters.config_writes
        leave, shared = offboard_legacy(sb, legacy, arn, c)
        left = dt.credentials(shared)
        rows.append((f"leave shared ({n}, earlier release)", _statuses(leave.statuses), f"{leave.seconds:.1f}",
                     str(leave.requests), "-", str(len(dt.connections())), "1 shared",
                     f"{len(left)} left ({dt.counters.config_writes - writes_before} writes)"))

    print(f"Dynatrace rollout: {n} accounts, concurrency {c}, latency jitter {args.jitter_ms[0]:.0f}-"
          f"{args.jitter_ms[1]:.0f} ms per call, documented mode (monitoring configurations: last writer wins)")
    print(table(rows, ("phase", "answers", "seconds", "Dynatrace calls", "monitored", "connections",
                       "own configurations", "lost / left behind")))
    failures = [r for r in (up, down, leave) if set(r.statuses) != {"SUCCESS"}]
    for phase in failures:
        print(f"{phase.name}: first reasons: {phase.reasons[:3]}")
    return 1 if failures else 0


def _statuses(statuses: dict[str, int]) -> str:
    return ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))


if __name__ == "__main__":
    raise SystemExit(main())
