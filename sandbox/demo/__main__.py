"""`python -m sandbox.demo`: runs the chosen vendor's demo; exit status 0 when every answer was
SUCCESS, no secret leaked and the last step, `registrar audit`, found what was broken on purpose;
1 otherwise, 2 when a binary is missing."""

from __future__ import annotations

import argparse
import importlib
import sys

from ..paths import bootstrap_path
from ..vendors import names
from . import __doc__ as DESCRIPTION


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.demo", description=DESCRIPTION.splitlines()[0])
    parser.add_argument("--vendor", choices=names(), default="datadog")
    parser.add_argument("--logs", action="store_true", help="print the binary's logs (secrets redacted)")
    parser.add_argument("--no-audit", action="store_true", help="skip the last step, `registrar audit`")
    args = parser.parse_args(argv)
    if not bootstrap_path().exists():
        print(f"the bootstrap binary is missing at {bootstrap_path()}: run `cargo build` first", file=sys.stderr)
        return 2
    # Each vendor's demo is this package's module of its name.
    status = importlib.import_module(f"{__package__}.{args.vendor}").run(args.logs)
    if status == 0 and not args.no_audit:
        from .audit import run as audit
        status = audit(args.vendor)
    return status


if __name__ == "__main__":
    sys.exit(main())
