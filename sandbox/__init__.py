"""Local sandbox for Registrar: the real `bootstrap` binary in a world of emulators.

Nothing here reaches AWS or a vendor. The pieces, one job per module:
- `httpd`       threaded HTTP server on 127.0.0.1 with clean, bounded shutdown
- `datadog`     Datadog v2 AWS-integration API emulator with fault injection
- `dynatrace`   Dynatrace environment emulator: AWS connections, monitoring configurations, faults
- `responses`   the pre-signed S3 ResponseURL stand-in that records CloudFormation responses
- `runtime_api` the Lambda Runtime API (2018-06-01)
- `function`    runs the binary like Lambda: env from scratch, timeout kill, freeze, logs
- `aws`         moto_server subprocess (Secrets Manager, STS, IAM) and boto3 helpers
- `iam_quotas`  IAM's documented quotas, enforced in front of moto (always on)
- `events`      realistic CloudFormation custom-resource events
- `blackhole`   an endpoint that accepts requests and never answers
- `awsfaults`   a fault-injecting proxy in front of moto (Secrets Manager, STS)
- `hygiene`     scanning logs and responses for secret values
- `paths`       where the binary and the recorded answers are
- `harness`     the `Sandbox` context manager tying them together
- `dynatrace_rollout` Dynatrace onboarding and offboarding of many accounts (a test and a benchmark)
- `report`      what the demos and `make invoke` print: CloudFormation's answers, the vendor's state, the verdict
- `invoke`      `make invoke EVENT=…`: one events/ file through the real binary
- `demo/`       `make demo [VENDOR=dynatrace]`: one registration's whole life, printed
- `bench/`      `make bench*`: benchmarks that print figures

It is a package of its own (`pyproject.toml` beside this file), installed into the repository's
`.venv` in editable mode by the Makefile, so `import sandbox` works from the tests, the demos and
the benchmarks without any path setting.

Typical use::

    with Sandbox() as sb:
        arn = sb.datadog_secret()
        stack = sb.stack()
        inv = sb.invoke(stack.create(sb.datadog_props(arn)))
        assert inv.status == "SUCCESS"
"""

from .aws import MotoServer
from .datadog import DatadogEmulator
from .dynatrace import DynatraceEmulator
from .events import Stack
from .function import Function, Invocation
from .harness import Sandbox
from .paths import bootstrap_path
from .responses import ResponseCatcher

__all__ = ["DatadogEmulator", "DynatraceEmulator", "Function", "Invocation", "MotoServer", "ResponseCatcher",
           "Sandbox", "Stack", "bootstrap_path"]
