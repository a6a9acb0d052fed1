"""The vendors Registrar knows, as its Rust code describes them (`sandbox/vendors.json`, which
`cargo test` keeps equal to each integration's `Descriptor`): names, default role names,
properties, template parameters and steps, so Python code asks the table instead of naming
vendors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VENDORS: dict[str, Any] = json.loads((Path(__file__).with_name("vendors.json")).read_text())


def names() -> list[str]:
    """Every vendor's `Vendor` value, in the registry's order."""
    return [v["name"] for v in VENDORS["vendors"]]


def descriptor(name: str) -> dict[str, Any]:
    """The vendor named `name` (case does not matter)."""
    for vendor in VENDORS["vendors"]:
        if vendor["name"] == name.lower():
            return vendor
    raise KeyError(f"no vendor {name!r}: one of {', '.join(names())}")


def default_role(name: str) -> str:
    return descriptor(name)["default_role"]
