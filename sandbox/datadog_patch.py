"""The Datadog emulator's two rules that no single recording fixes: what a PATCH does with the
keys it leaves out of an object it sends (`apply_patch`, under the semantics
`DatadogEmulator.set_patch_semantics` picks; the recordings behind each are in
sandbox/datadog.py's module doc and docs/datadog-api.md), and how a 400 for a request Datadog's
OpenAPI description refuses names the field (`field_of`, `reason_of`: the shape recorded in
2025-08, tests/data/datadog/create_400_meta.json).
"""

from __future__ import annotations

from typing import Any

from .datadog_openapi import DatadogSpec, Violation

PATCH_SEMANTICS = ("recorded", "merge", "replace")
# Values of one of several shapes (`oneOf` in the spec): merged, `{include_all}` over
# `{include_only}` would hold both, so they are replaced whole whatever the semantics.
ONE_OF_PATHS = {("aws_regions",), ("metrics_config", "namespace_filters"), ("traces_config", "xray_services")}
_SPEC: DatadogSpec | None = None


def spec() -> DatadogSpec:
    """Datadog's OpenAPI description (loaded once)."""
    global _SPEC
    if _SPEC is None:
        _SPEC = DatadogSpec()
    return _SPEC


def field_of(violation: Violation) -> str:
    """The field a 400's `meta` names: the property's own name, as recorded (`aws_partition`)."""
    return violation.where.rsplit(".", 1)[-1] if violation.where else "data"


def reason_of(violation: Violation, body: Any) -> str:
    """The reason `meta` gives: Datadog's recorded words for an invalid partition
    (create_400_meta: "invalid partition: aws-invalid"), else the validator's."""
    if violation.where == "data.attributes.aws_partition":
        try:
            return f"invalid partition: {body['data']['attributes']['aws_partition']}"
        except (KeyError, TypeError):
            pass
    return violation.message


def apply_patch(stored: dict, attrs: dict, semantics: str) -> None:
    """Lays a PATCH's attributes over the `stored` ones under `semantics` (see the module's doc).
    Top-level attributes left out are kept in every semantics."""
    for key, value in attrs.items():
        if key in ("created_at", "modified_at"):
            continue
        held = stored.get(key)
        if not (isinstance(value, dict) and isinstance(held, dict)) or (key,) in ONE_OF_PATHS:
            stored[key] = value
        elif semantics == "replace":
            stored[key] = value
        elif semantics == "merge":
            _merge_deep(held, value, (key,))
        else:  # recorded: one level deep (patch_200) ...
            held.update(value)
            # ... and metric_name_filters are dropped when left out (tf_role_based, PATCH #2).
            if key == "metrics_config" and "metric_name_filters" not in value:
                held.pop("metric_name_filters", None)


def _merge_deep(held: dict, value: dict, path: tuple[str, ...]) -> None:
    for key, item in value.items():
        inner = held.get(key)
        if isinstance(item, dict) and isinstance(inner, dict) and (*path, key) not in ONE_OF_PATHS:
            _merge_deep(inner, item, (*path, key))
        else:
            held[key] = item
