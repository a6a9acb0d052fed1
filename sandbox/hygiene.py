"""Secret-leak scanning: what must never show up in logs or CloudFormation responses.

One job: given the secret values a sandbox handed out (vendor API/app keys,
every ResponseURL's query string and its signature/token parts, in encoded and
decoded form) and the texts to check (the binary's captured stdout/stderr, the
bodies PUT to CloudFormation, the requests sent to the vendor), report every
place a secret appears. The report names the secret by label, never by value,
so a failing test does not print the secret either.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass


@dataclass(frozen=True)
class Secret:
    label: str
    value: str


def response_url_secrets(label: str, raw_query: str) -> list[Secret]:
    """The parts of a pre-signed URL that grant write access, in every spelling."""
    out = [Secret(f"{label} query string", raw_query),
           Secret(f"{label} query string (decoded)", urllib.parse.unquote(raw_query))]
    for key, values in urllib.parse.parse_qs(raw_query).items():
        if key in ("X-Amz-Signature", "X-Amz-Security-Token", "Signature"):
            for value in values:
                out.append(Secret(f"{label} {key}", value))
                quoted = urllib.parse.quote(value, safe="")
                if quoted != value:
                    out.append(Secret(f"{label} {key} (encoded)", quoted))
    return out


def find_leaks(secrets: list[Secret], texts: dict[str, str]) -> list[str]:
    """'<secret label> in <text label>' for every occurrence (values are never echoed)."""
    leaks = []
    for secret in secrets:
        if len(secret.value) < 8:  # too short to be meaningful; would only cause false alarms
            continue
        for where, text in texts.items():
            if secret.value in text:
                leaks.append(f"{secret.label} found in {where}")
    return leaks
