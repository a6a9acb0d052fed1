"""Datadog's OpenAPI description of the AWS-integration operations, as a validator: every
request body Registrar sends to the Datadog emulator and every answer the emulator serves is
checked against the operation's schema.

The schemas are `tests/data/datadog/openapi-aws-integration.json` (made from Datadog's spec by
`sandbox/datadog_openapi_extract.py`, its commit inside), validated with `jsonschema` (pinned in
sandbox/pyproject.toml) as JSON Schema draft 2020-12.

Two readings of each schema:
- **as written**: what the spec requires (required properties, types, enums, one of several
  shapes). A request that breaks it is one Datadog refuses: the emulator answers 400 (e.g. a
  POST without `aws_partition`, which `AWSAccountCreateRequestAttributes` requires).
- **strict**: the same, and no property the spec does not define (`additionalProperties:
  false` on every object schema). Whether Datadog refuses or ignores an unknown field is not
  recorded, so the emulator does not refuse it; it notes it as a violation, and the
  integration tests fail on any violation (tests/integration/conftest.py).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from .paths import DATADOG_RECORDINGS

SPEC_FILE = DATADOG_RECORDINGS / "openapi-aws-integration.json"
BASE = "urn:datadog:v2:aws-integration"


@dataclass(frozen=True)
class Violation:
    """One way a body breaks the spec: which operation, which body, where, and what."""
    operation: str
    body: str  # "request" or "answer"
    where: str  # a JSON path such as data.attributes.metrics_config
    message: str
    unknown_field: bool  # only strict reading refuses it

    def __str__(self) -> str:
        return f"{self.operation} {self.body} at {self.where or '(root)'}: {self.message}"


def _strict(node: Any) -> Any:
    """Every object schema with `properties` and no `additionalProperties` gets `false`."""
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


class DatadogSpec:
    """The operations of the extract, matched by method and path."""

    def __init__(self, spec: dict | None = None) -> None:
        self.spec = spec if spec is not None else json.loads(SPEC_FILE.read_text())
        self._routes = []
        self._validators: dict[tuple[str, bool], Draft202012Validator] = {}
        for operation_id, operation in self.spec["operations"].items():
            pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(operation["path"]))
            self._routes.append((operation["method"], re.compile(f"^{pattern}$"), operation_id))

    @property
    def commit(self) -> str:
        return self.spec["source"]["commit"]

    @cached_property
    def _registries(self) -> dict[bool, Registry]:
        def registry(doc: dict) -> Registry:
            return Registry().with_resource(BASE, Resource(contents=doc, specification=DRAFT202012))
        return {False: registry(self.spec), True: registry(_strict(copy.deepcopy(self.spec)))}

    def _validator(self, ref: str, strict: bool) -> Draft202012Validator:
        key = (ref, strict)
        if key not in self._validators:
            self._validators[key] = Draft202012Validator({"$ref": f"{BASE}{ref}"}, registry=self._registries[strict])
        return self._validators[key]

    def operation(self, method: str, path: str) -> str | None:
        return next((op for m, rx, op in self._routes if m == method and rx.match(path)), None)

    def _check(self, operation_id: str, body_name: str, schema: dict, instance: Any) -> list[Violation]:
        found: dict[tuple[str, str], Violation] = {}
        for strict in (False, True):
            validator = self._validator(schema["$ref"], strict)
            for error in validator.iter_errors(instance):
                where = ".".join(str(p) for p in error.absolute_path)
                for leaf in _leaves(error):
                    path = [str(p) for p in leaf.absolute_path]
                    if leaf.validator == "required":
                        # Name the missing property itself (as Datadog's `meta` names a field).
                        path.append(re.sub(r"^'(.*)' is a required property$", r"\1", leaf.message))
                    key = (".".join(path) or where, leaf.message)
                    if key not in found:
                        found[key] = Violation(operation_id, body_name, key[0], leaf.message, strict)
        return list(found.values())

    def check_request(self, method: str, path: str, body: Any) -> list[Violation]:
        operation_id = self.operation(method, path)
        if operation_id is None:
            return []
        operation = self.spec["operations"][operation_id]
        request = operation.get("request_body")
        if request is None:
            return [] if body is None else [Violation(operation_id, "request", "", "the operation takes no body", False)]
        if body is None:
            return [Violation(operation_id, "request", "", "a body is required", False)] if request["required"] else []
        return self._check(operation_id, "request", request["schema"], body)

    def check_answer(self, method: str, path: str, status: int, body: Any) -> list[Violation]:
        """A 2xx answer's body against the operation's answer schema (error bodies follow the
        recordings, which differ from the spec's `{"errors": ["…"]}`: not checked)."""
        operation_id = self.operation(method, path)
        if operation_id is None or not 200 <= status < 300:
            return []
        schema = self.spec["operations"][operation_id].get("answer")
        if schema is None:
            return [] if body is None else [Violation(operation_id, "answer", "", "the operation answers no body", False)]
        return self._check(operation_id, "answer", schema, body)


def _leaves(error):
    """The most specific errors under a `oneOf`/`anyOf` failure (the branch that came closest),
    else the error itself."""
    if not error.context:
        return [error]
    best = max(error.context, key=lambda e: len(e.absolute_path))
    deepest = [e for e in error.context if len(e.absolute_path) == len(best.absolute_path)]
    return [leaf for e in deepest for leaf in _leaves(e)] if len(best.absolute_path) > len(error.absolute_path) else [error]
