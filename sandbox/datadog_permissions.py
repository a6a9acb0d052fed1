"""Rebuilds the permission lists bundled with Registrar (`src/integrations/datadog/bundled/`),
the copy the role gets when Datadog's endpoint cannot be reached. `make refresh-permissions`
runs it.

    python -m sandbox.datadog_permissions                      # ask Datadog's endpoint
    python -m sandbox.datadog_permissions --from FILE [FILE]   # from recordings

Without `--from` it asks the endpoints Datadog's own templates ask, whatever the site:
`https://api.datadoghq.com/api/v2/integration/aws/iam_permissions/standard` and
`.../resource_collection`, without keys (DataDog/cloudformation-template,
`aws_organizations/attach_integration_permissions.py`: `STANDARD_PERMISSIONS_API_URL` and
`RESOURCE_COLLECTION_PERMISSIONS_API_URL`), and dates the lists today. With `--from` each FILE
is a recording of one of those two answers: a VCR cassette (`.yaml`, as the Terraform provider
and the official API client record them, dated by the `.freeze`/`.frozen` file beside it) or a
recorded answer of `tests/data/datadog/` (`.json`, dated by its `source.recorded`). Which list a
file holds is read from the URL it recorded. A list that is not given or not answered keeps its
bundled copy.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from datetime import date
from pathlib import Path

from .paths import REPO_ROOT

BUNDLED = REPO_ROOT / "src" / "integrations" / "datadog" / "bundled"
ENDPOINT = "https://api.datadoghq.com/api/v2/integration/aws/iam_permissions"
KINDS = {"standard": "standard", "resource_collection": "resource collection"}


def bundle(kind: str, answer: dict, taken: str, source: str) -> dict:
    """The bundled file for list `kind`: Datadog's answer, the day it was taken, and where from."""
    permissions = answer["data"]["attributes"]["permissions"]
    if not permissions or not all(isinstance(p, str) and ":" in p for p in permissions):
        raise ValueError(f"the {kind} answer is not a flat list of IAM actions")
    return {
        "about": f"Registrar's bundled copy of Datadog's {KINDS[kind]} IAM permission list, used only when "
                 f"Datadog's endpoint cannot be reached: Datadog's answer to GET {ENDPOINT}/{kind}. "
                 "Rebuilt by `make refresh-permissions` (sandbox/datadog_permissions.py).",
        "taken": taken,
        "source": source,
        "answer": answer,
    }


def kind_of(url: str) -> str | None:
    path = url.split("?", 1)[0].rstrip("/")
    return next((k for k in KINDS if path.endswith(f"/iam_permissions/{k}")), None)


def from_recording(path: Path) -> list[tuple[str, dict, str, str]]:
    """(kind, answer, taken, source) of each permission-list answer a recording holds (the last
    one of each kind)."""
    found: dict[str, tuple[str, dict, str, str]] = {}
    if path.suffix == ".json":
        recording = json.loads(path.read_text())
        source = recording["source"]
        kind = kind_of(recording["request"]["uri"])
        if kind:
            taken = source["recorded"][:10]
            found[kind] = (kind, recording["response"]["body"], taken,
                           f"{source['repository']} {source['path']} at commit {source['commit']} "
                           f"(recorded {source['recorded']})")
        return list(found.values())
    import yaml  # PyYAML, which the sandbox's moto brings

    cassette = yaml.safe_load(path.read_text())
    stamp = next((p for p in (path.with_suffix(".freeze"), path.with_suffix(".frozen")) if p.exists()), None)
    if stamp is None:
        raise SystemExit(f"{path}: no .freeze or .frozen file beside it to date the recording")
    recorded = stamp.read_text().strip()
    for interaction in cassette.get("interactions", []):
        request, response = interaction["request"], interaction["response"]
        kind = kind_of(request.get("url") or request.get("uri") or "")
        if not kind or request.get("method") != "GET":
            continue
        body = response.get("body")
        body = body.get("string") if isinstance(body, dict) else body
        found[kind] = (kind, json.loads(body), recorded[:10], f"{path.name} (recorded {recorded})")
    return list(found.values())


def from_endpoint() -> list[tuple[str, dict, str, str]]:
    lists = []
    for kind in KINDS:
        url = f"{ENDPOINT}/{kind}"
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": "application/json"}),
                                        timeout=20) as answer:
                lists.append((kind, json.load(answer), date.today().isoformat(), f"GET {url}"))
        except OSError as error:
            print(f"{url}: {error}; the bundled {KINDS[kind]} list is kept", file=sys.stderr)
    return lists


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="recordings", nargs="+", type=Path, metavar="FILE",
                        help="recordings to take the lists from instead of Datadog's endpoint")
    parser.add_argument("--source-prefix", default="",
                        help="what to write before a recording's file name in `source` (its repository, commit and path)")
    args = parser.parse_args(argv)
    if args.recordings:
        lists = [(k, a, t, f"{args.source_prefix}{s}") for p in args.recordings for (k, a, t, s) in from_recording(p)]
    else:
        lists = from_endpoint()
    for kind, answer, taken, source in lists:
        target = BUNDLED / f"iam_permissions_{kind}.json"
        target.write_text(json.dumps(bundle(kind, answer, taken, source), indent=1) + "\n")
        count = len(answer["data"]["attributes"]["permissions"])
        print(f"{target.relative_to(REPO_ROOT)}: {count} actions, taken {taken}")
    return 0 if lists else 1


if __name__ == "__main__":
    sys.exit(main())
