"""The benchmarks (`make bench*`): scripts that run the release binary in the sandbox and print
figures; they assert nothing about time.

- `coldstart`          spawn → response PUT of one Create, a warm event, peak RSS, sizes
- `rollout`            a Datadog StackSet rollout and teardown under one rate limit, with 5xx
- `dynatrace_rollout`  a Dynatrace onboarding and offboarding at StackSet scale

Run one as `.venv/bin/python -m sandbox.bench.<name> --help`.
"""
