"""Cold start and footprint: process spawn → the response PUT for one Create, then a warm second
event in the same process; peak RSS; release binary and arm64 zip sizes.

    .venv/bin/python -m sandbox.bench.coldstart [--runs 30]

Each run starts a fresh release `bootstrap` (or $REGISTRAR_BOOTSTRAP) under the sandbox's Lambda
Runtime API with production logging (INFO), delivers one Create for a new account and times,
on the sandbox side, process spawn → the PUT's arrival at the ResponseURL recorder; then a
second Create (another account) in the same, warm process, timed from its submission. Peak RSS
is the process's VmHWM (/proc) after each event.

A second series routes Secrets Manager through the sandbox's AWS proxy, whose request log
timestamps the GetSecretValue, to break the cold time down: spawn → first /next (init), → the
GetSecretValue (AWS SDK configuration, client), → the vendor's POST (moto's latency and the
proxy's, the secret parsed; a Create registers first, one call), → the PUT. moto's own latency (GetSecretValue straight
to moto) is reported on its own: it counts against the binary's figures, and it is not the
binary's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .. import Invocation, Sandbox
from ..awsfaults import AwsFaultProxy
from ..paths import lambda_zip
from .benchlib import median, moto_get_secret, pct, release_bootstrap, table

ZIP = lambda_zip()
FIRST_ACCOUNT = 300000000000


def vm_hwm_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def epoch_of(inv: Invocation, monotonic: float) -> float:
    """A time.monotonic() of this invocation as epoch seconds (delivery was stamped with both)."""
    return monotonic + (inv.delivered_epoch - inv.delivered_at)


def one_run(sb: Sandbox, n: int, env: dict, proxy: AwsFaultProxy | None) -> dict:
    arn = sb.datadog_secret()
    fn = sb.function(env, timeout_s=30)
    try:
        stack = sb.stack(account=str(FIRST_ACCOUNT + 2 * n))
        seen_vendor = len(sb.datadog.requests)
        seen_aws = len(proxy.requests) if proxy else 0
        cold = fn.invoke(stack.create(sb.datadog_props(arn)))
        assert cold.status == "SUCCESS", cold.describe()
        rss_cold = vm_hwm_kb(fn.pid)
        spawn = epoch_of(cold, cold.started_at)
        put = cold.cfn.received_at
        vendor = sb.datadog.requests[seen_vendor:]
        assert [r.method for r in vendor] == ["POST"], "a Create on the happy path is one call"
        post = vendor[0].received_at
        row = {"cold": put - spawn, "init": cold.delivered_epoch - spawn, "rss_cold": rss_cold,
               "secret_to_vendor": None, "to_secret": None, "post_to_put": put - post}
        if proxy:
            secret_at = next(r.received_at for r in proxy.requests[seen_aws:] if "GetSecretValue" in r.path)
            row["to_secret"] = secret_at - cold.delivered_epoch
            row["secret_to_vendor"] = post - secret_at
        warm_stack = sb.stack(account=str(FIRST_ACCOUNT + 2 * n + 1))
        warm = fn.invoke(warm_stack.create(sb.datadog_props(arn)))
        assert warm.status == "SUCCESS", warm.describe()
        assert fn.starts == 1, "the second event must be served by the same (warm) process"
        row["warm"] = warm.cfn.received_at - epoch_of(warm, warm.started_at)
        row["rss_warm"] = vm_hwm_kb(fn.pid)
        return row
    finally:
        fn.close()


def ms(values: list[float]) -> str:
    return f"{median(values) * 1000:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)
    bootstrap = release_bootstrap()
    env = {"RUST_LOG": "info"}
    with Sandbox(bootstrap=bootstrap, echo_logs=False) as sb:
        one_run(sb, 10_000, env, None)  # warm the page cache and moto once; not counted
        proxy = AwsFaultProxy(sb.aws.url).start()
        proxied_env = dict(env, AWS_ENDPOINT_URL_SECRETS_MANAGER=proxy.url)
        direct, via_proxy = [], []
        try:
            for n in range(args.runs):  # interleaved, so that drift in the machine's load hits both alike
                direct.append(one_run(sb, 2 * n, env, None))
                via_proxy.append(one_run(sb, 2 * n + 1, proxied_env, proxy))
        finally:
            proxy.stop()
        arn = sb.datadog_secret()
        moto = [moto_get_secret(sb.aws.url, arn) for _ in range(args.runs)]

    cold = [r["cold"] for r in direct]
    warm = [r["warm"] for r in direct]
    rss_cold = max(r["rss_cold"] for r in direct) / 1024
    rss_warm = max(r["rss_warm"] for r in direct) / 1024
    size = bootstrap.stat().st_size / 2**20
    zip_size = f"{ZIP.stat().st_size / 2**20:.2f} MiB" if ZIP.exists() else "not built (make zip)"
    zip_when = time.strftime("%Y-%m-%d %H:%M", time.localtime(ZIP.stat().st_mtime)) if ZIP.exists() else ""
    print(f"cold start and footprint: {args.runs} runs, binary {bootstrap}\n")
    print(table([
        ("cold: spawn → response PUT (median)", f"{ms(cold)} ms", "p90 " + f"{pct(cold, 90) * 1000:.1f} ms",
         "< 50 ms"),
        ("warm: second event → response PUT (median)", f"{ms(warm)} ms", f"p90 {pct(warm, 90) * 1000:.1f} ms", ""),
        ("peak RSS after the cold event (max of runs)", f"{rss_cold:.1f} MiB", "VmHWM", "< 20 MB"),
        ("peak RSS after the warm event (max of runs)", f"{rss_warm:.1f} MiB", "VmHWM", "< 20 MB"),
        ("release binary (x86_64, target/release/bootstrap)", f"{size:.2f} MiB", "stripped, LTO, opt-level s", ""),
        ("arm64 zip (target/lambda/bootstrap/bootstrap.zip)", zip_size, zip_when, "< 5 MB"),
        ("moto GetSecretValue alone (median)", f"{ms(moto)} ms", f"p90 {pct(moto, 90) * 1000:.1f} ms",
         "not the binary's"),
    ], ("measure", "value", "detail", "target")))
    print("\ncold time broken down (medians, Secrets Manager through the sandbox's AWS proxy):\n")
    proxied_cold = [r["cold"] for r in via_proxy]
    print(table([
        ("spawn → first /next (process start, runtime init)", ms([r["init"] for r in via_proxy])),
        ("/next → GetSecretValue arrives (SDK config, client, signing)", ms([r["to_secret"] for r in via_proxy])),
        ("GetSecretValue → vendor POST arrives (moto + proxy, parse)", ms([r["secret_to_vendor"] for r in via_proxy])),
        ("POST → response PUT arrives (emulator, binary)", ms([r["post_to_put"] for r in via_proxy])),
        ("total spawn → PUT, through the proxy", ms(proxied_cold)),
    ], ("phase", "ms")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
