"""Organisation-scale rollout: a StackSet deploys to N member accounts at concurrency C against
one Datadog organisation's rate limit with injected 5xx, then all N leave.

    .venv/bin/python -m sandbox.bench.rollout \\
        [--accounts 1000] [--concurrency 100] [--error-rate 0.05] [--limit 300] [--period 10]

Every member account is its own cold `bootstrap` process (the release binary, or
$REGISTRAR_BOOTSTRAP) with its own account id and stack, driven through the sandbox's Lambda
Runtime API; at most C run at once, as StackSet's MaxConcurrentCount allows.

The rate-limit floor is the time a perfect client needs: the calls it must make ÷ the allowed
rate. What the binary needs per lifecycle path (src/lifecycle/, src/integrations/datadog/): Create
of a new account = POST accounts (1 call: Datadog refuses a second registration of an account
with 409, so the lookup happens only then); Delete of a registration the id names =
DELETE accounts/{id} (1 call, no lookup). The emulator counts only
requests it lets through against the window: 429-rejected requests and injected 5xx do not use
up the limit (X-RateLimit-Remaining counts allowed requests; a limiter that charged rejected
requests would punish every client for the retries of the others, and make the floor depend on
the client). So the floor is N ÷ rate for the rollout and for the teardown, whatever the 5xx
share.

The report also says whether the Python side kept up: the emulator's and moto's own latency,
sampled during the run, and moto under a burst of C concurrent GetSecretValue before it.
"""

from __future__ import annotations

import argparse
import resource
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .. import Invocation, Sandbox
from .benchlib import median, moto_get_secret, pct, release_bootstrap, table

FIRST_ACCOUNT = 200000000000
SAMPLE_EVERY_S = 0.5


# ---------------------------------------------------------------------------------- Python-side probes


def moto_burst(moto_url: str, arn: str, concurrency: int) -> dict:
    """`concurrency` GetSecretValue at once, as the first wave of a rollout sends them."""
    barrier = threading.Barrier(concurrency)

    def one(_: int) -> float:
        barrier.wait(30)
        return moto_get_secret(moto_url, arn)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(one, range(concurrency)))
    wall = time.perf_counter() - started
    return {"n": concurrency, "p50": median(latencies), "p99": pct(latencies, 99), "max": max(latencies),
            "wall": wall, "per_s": concurrency / wall}


def ping(url: str) -> float:
    """A request the emulator answers without touching its state (unknown control endpoint → 404)."""
    started = time.perf_counter()
    try:
        urllib.request.urlopen(url + "/_sandbox/ping", timeout=30).read()
    except urllib.error.HTTPError as err:
        err.read()
    return time.perf_counter() - started


@dataclass
class Sampler:
    """Samples the emulator's and moto's latency every SAMPLE_EVERY_S while a phase runs."""

    emulator_url: str
    moto_url: str
    arn: str
    emulator: list[float] = field(default_factory=list)
    moto: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> "Sampler":
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(35)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self.emulator.append(ping(self.emulator_url))
            self.moto.append(moto_get_secret(self.moto_url, self.arn))


# ---------------------------------------------------------------------------------- phases


@dataclass
class Phase:
    name: str
    accounts: int
    calls_needed: int
    rate_per_s: float
    invocations: list[Invocation]
    started: float  # time.time()
    ended: float
    counters_before: dict
    counters_after: dict
    allowed_by_window: dict[int, int]
    sampler: Sampler
    cpu_s: float
    throttled_by_window: dict[int, int]
    retry_waits: list[tuple[str, int, float]]

    @property
    def floor_s(self) -> float:
        return self.calls_needed / self.rate_per_s

    @property
    def makespan_s(self) -> float:
        answers = [i.cfn.received_at for i in self.invocations if i.cfn is not None]
        return (max(answers) if answers else self.ended) - self.started

    def delta(self, key: str) -> int:
        return self.counters_after[key] - self.counters_before[key]

    def status_delta(self, predicate) -> int:
        after, before = self.counters_after["by_status"], self.counters_before["by_status"]
        return sum(n - before.get(s, 0) for s, n in after.items() if predicate(s))


def counters(sb: Sandbox) -> dict:
    c = sb.datadog.counters
    return {"requests": c.requests, "rate_limited": c.rate_limited, "created": c.created, "deleted": c.deleted,
            "by_status": dict(c.by_status)}


def run_phase(sb: Sandbox, name: str, events: list[dict], concurrency: int, timeout_s: float, calls_per_event: int,
              rate_per_s: float, period: int, arn: str) -> Phase:
    env = {"RUST_LOG": "info"}

    waits: list[tuple[str, int, float]] = []  # (last error, attempt, wait s) of every retry the binary logged

    def one(event: dict) -> Invocation:
        fn = sb.function(env, timeout_s=timeout_s)
        try:
            return fn.invoke(event)
        finally:
            fn.close()
            for record in fn.log_records():
                if isinstance(record, dict) and "wait_ms" in record:
                    waits.append((str(record.get("error")), int(record.get("attempt", 0)), record["wait_ms"] / 1000))
            fn.log_lines.clear()  # keep the harness's memory flat over a thousand functions

    before = counters(sb)
    seen = len(sb.datadog.requests)
    cpu0 = time.process_time()
    started = time.time()
    with Sampler(sb.datadog.url, sb.aws.url, arn) as sampler, ThreadPoolExecutor(concurrency) as pool:
        invocations = list(pool.map(one, events))
    ended = time.time()
    allowed: dict[int, int] = {}
    throttled: dict[int, int] = {}
    for r in sb.datadog.requests[seen:]:
        window = int(r.received_at // period)
        if r.status == 429:
            throttled[window] = throttled.get(window, 0) + 1
        elif r.status is not None and r.status < 500:
            allowed[window] = allowed.get(window, 0) + 1
    return Phase(name, len(events), calls_per_event * len(events), rate_per_s, invocations, started, ended, before,
                 counters(sb), allowed, sampler, time.process_time() - cpu0, throttled, waits)


def report(phase: Phase, sb: Sandbox, accounts: list[str], *, expect_registered: bool, limit: int,
           period: int) -> tuple[list[tuple[str, str]], bool]:
    invs = phase.invocations
    statuses = [i.status if i.cfn is not None else None for i in invs]
    registered = {a: len(sb.datadog.find(a)) for a in accounts}
    durations = [i.cfn.received_at - i.delivered_epoch for i in invs if i.cfn is not None and i.delivered_epoch]
    full = [n for w, n in sorted(phase.allowed_by_window.items())][1:-1]  # windows wholly inside the phase
    ratio = phase.makespan_s / phase.floor_s
    rows = [
        ("accounts registered / N" if expect_registered else "registrations left / N",
         f"{sum(1 for n in registered.values() if n)} / {len(accounts)}"),
        ("duplicates (extra registrations)", str(sum(max(0, n - 1) for n in registered.values()))),
        ("stacks SUCCESS / FAILED / no answer",
         f"{statuses.count('SUCCESS')} / {statuses.count('FAILED')} / {statuses.count(None)}"),
        ("429s served (rate limiter)", str(phase.delta("rate_limited"))),
        ("5xx served (injected)", str(phase.status_delta(lambda s: s >= 500))),
        ("API requests (all)", str(phase.delta("requests"))),
        ("calls needed (perfect client)", f"{phase.calls_needed} ({phase.calls_needed // phase.accounts}/account)"),
        ("rate limit", f"{limit} per {period} s = {phase.rate_per_s:g}/s"),
        ("rate-limit floor", f"{phase.floor_s:.1f} s"),
        ("makespan", f"{phase.makespan_s:.1f} s"),
        ("makespan / floor", f"{ratio:.2f}"),
        ("allowed per full window (mean, min)",
         f"{sum(full) / len(full):.0f}, {min(full)} of {limit}" if full else "n/a"),
        ("per-stack time p50 / p95 / max",
         f"{median(durations):.1f} / {pct(durations, 95):.1f} / {max(durations, default=float('nan')):.1f} s"),
        ("emulator latency during run p50 / p99",
         f"{median(phase.sampler.emulator) * 1000:.0f} / {pct(phase.sampler.emulator, 99) * 1000:.0f} ms"),
        ("moto GetSecretValue during run p50 / p99",
         f"{median(phase.sampler.moto) * 1000:.0f} / {pct(phase.sampler.moto, 99) * 1000:.0f} ms"),
        ("harness CPU (this Python process)", f"{phase.cpu_s:.0f} s over {phase.ended - phase.started:.0f} s wall"),
    ]
    windows = sorted(set(phase.allowed_by_window) | set(phase.throttled_by_window))
    rows.append(("allowed/429 per window, in order",
                 " ".join(f"{phase.allowed_by_window.get(w, 0)}/{phase.throttled_by_window.get(w, 0)}"
                          for w in windows)))
    after_429 = [w for e, _, w in phase.retry_waits if "429" in e]
    if after_429:
        rows.append(("binary's waits after a 429 p50 / p90 / max",
                     f"{median(after_429):.1f} / {pct(after_429, 90):.1f} / {max(after_429):.1f} s "
                     f"({len(after_429)} waits)"))
        by_attempt: dict[int, int] = {}
        for e, attempt, _ in phase.retry_waits:
            if "429" in e:
                by_attempt[attempt] = by_attempt.get(attempt, 0) + 1
        rows.append(("429 retries by attempt number", ", ".join(f"#{a}: {n}" for a, n in sorted(by_attempt.items()))))
    failed = [i for i in invs if i.cfn is not None and i.status == "FAILED"]
    for inv in failed[:3]:
        rows.append(("sample FAILED reason", sb.redact(inv.reason)[:160]))
    for inv in [i for i in invs if i.cfn is None][:3]:
        rows.append(("sample unanswered", f"{inv.runtime_result[0]}: {str(inv.runtime_result[1])[:120]}"))
    if expect_registered:
        ok = all(n == 1 for n in registered.values()) and statuses.count("SUCCESS") == len(invs)
    else:
        ok = all(n == 0 for n in registered.values()) and statuses.count("SUCCESS") == len(invs)
    return rows, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--error-rate", type=float, default=0.05, help="share of API requests answered 5xx")
    parser.add_argument("--limit", type=int, default=300, help="requests allowed per window (organisation-wide)")
    parser.add_argument("--period", type=int, default=10, help="window length in seconds (X-RateLimit-Period)")
    parser.add_argument("--timeout", type=float, default=300.0, help="function timeout (templates/: 300)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-teardown", action="store_true")
    args = parser.parse_args(argv)

    bootstrap = release_bootstrap()
    rate = args.limit / args.period
    accounts = [str(FIRST_ACCOUNT + n) for n in range(args.accounts)]
    print(f"rollout: N={args.accounts} C={args.concurrency} 5xx={args.error_rate:.0%} "
          f"limit={args.limit}/{args.period}s binary={bootstrap}", flush=True)
    ok_all = True
    with Sandbox(bootstrap=bootstrap, echo_logs=False) as sb:
        arn = sb.datadog_secret()
        burst = moto_burst(sb.aws.url, arn, args.concurrency)
        print(f"moto, {burst['n']} concurrent GetSecretValue: p50 {burst['p50'] * 1000:.0f} ms, "
              f"p99 {burst['p99'] * 1000:.0f} ms, {burst['per_s']:.0f}/s", flush=True)
        sb.datadog.set_rate_limit(args.limit, args.period)
        sb.datadog.set_error_rate(args.error_rate, seed=args.seed)
        stacks = {a: sb.stack(account=a) for a in accounts}
        props = sb.datadog_props(arn)

        create = run_phase(sb, "rollout (Create)", [stacks[a].create(props) for a in accounts], args.concurrency,
                           args.timeout, 1, rate, args.period, arn)
        rows, ok = report(create, sb, accounts, expect_registered=True, limit=args.limit, period=args.period)
        ok_all &= ok
        print(f"\n## {create.name}\n\n" + table(rows, ("measure", "value")), flush=True)

        if not args.no_teardown:
            ids = {inv.event["StackId"]: inv.physical_id for inv in create.invocations if inv.cfn is not None}
            deletes = [stacks[a].delete(ids[stacks[a].stack_id], props) for a in accounts if stacks[a].stack_id in ids]
            teardown = run_phase(sb, "teardown (all leave: Delete)", deletes, args.concurrency, args.timeout, 1, rate,
                                 args.period, arn)
            rows, ok = report(teardown, sb, accounts, expect_registered=False, limit=args.limit, period=args.period)
            ok_all &= ok and len(deletes) == len(accounts)
            print(f"\n## {teardown.name}\n\n" + table(rows, ("measure", "value")), flush=True)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\nharness peak RSS {peak:.0f} MB; verdict: {'OK' if ok_all else 'NOT OK'}", flush=True)
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
