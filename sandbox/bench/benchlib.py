"""What the benchmarks share: the release binary, percentiles, a plain-text table.

Benchmarks are scripts, not tests (nothing here is timed against a threshold by pytest); they run
the real release binary in the sandbox and print a report.
"""

from __future__ import annotations

import http.client
import json
import statistics
import time
from pathlib import Path
from urllib.parse import urlsplit

from ..paths import bootstrap_path


def release_bootstrap() -> Path:
    """$REGISTRAR_BOOTSTRAP if set, else the release build (`cargo build --release`)."""
    path = bootstrap_path("release")
    if not path.exists():
        raise SystemExit(f"no bootstrap binary at {path}: run `cargo build --release --bin bootstrap` "
                         "(or set REGISTRAR_BOOTSTRAP)")
    return path


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) by nearest rank; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """A Markdown-compatible table, columns padded."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def moto_get_secret(moto_url: str, arn: str, timeout: float = 30.0) -> float:
    """One GetSecretValue straight to moto (unsigned: moto does not check signatures); seconds."""
    parts = urlsplit(moto_url)
    body = json.dumps({"SecretId": arn}).encode()
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "secretsmanager.GetSecretValue",
               "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/secretsmanager/aws4_request, "
                                "SignedHeaders=host, Signature=0"}
    started = time.perf_counter()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("POST", "/", body=body, headers=headers)
        answer = conn.getresponse()
        answer.read()
        if answer.status != 200:
            raise RuntimeError(f"moto answered GetSecretValue with {answer.status}")
    finally:
        conn.close()
    return time.perf_counter() - started
