"""Writes `tests/data/datadog/openapi-aws-integration.json`: the operations of Datadog's v2
AWS-integration API that Registrar calls (and the emulator serves), each with the JSON Schema
of its request body and of its 2xx answer, and every schema they reference.

    python -m sandbox.datadog_openapi_extract <checkout of DataDog/datadog-api-client-python>

Datadog's OpenAPI description is `.generator/schemas/v2/openapi.yaml` of
DataDog/datadog-api-client-python (3.3 MB). The client generates from it, for each schema, a
model (`src/datadog_api_client/v2/model/<schema>.py`: property types, required properties,
enums, `oneOf`, nullability, length limits) and, for each operation, an endpoint
(`src/datadog_api_client/v2/api/aws_integration_api.py`: method, path, body and answer types).
This script imports those generated files from the checkout and writes them back out as JSON
Schema (draft 2020-12, `$ref` to `#/schemas/<name>`), with the checkout's commit, so the extract
is the spec's own schemas at that commit and is rebuilt the same way from any later one. It
reads the generated files rather than the YAML because the YAML is too large to keep a copy of
in this environment; the two say the same (the models are generated from it).

What the models do not carry: descriptions and examples (not needed to validate), and error
bodies (the emulator answers errors as the recordings show them, not as the spec says).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

from .paths import REPO_ROOT

OUT = REPO_ROOT / "tests" / "data" / "datadog" / "openapi-aws-integration.json"
# The operations Registrar calls and the emulator serves (operation ids of the spec).
OPERATIONS = (
    "list_aws_accounts", "create_aws_account", "get_aws_account", "update_aws_account",
    "delete_aws_account", "create_new_aws_external_id",
    "get_aws_integration_iam_permissions_standard",
    "get_aws_integration_iam_permissions_resource_collection",
)
LIMITS = {"max_length": "maxLength", "min_length": "minLength", "max_items": "maxItems",
          "min_items": "minItems", "inclusive_maximum": "maximum", "inclusive_minimum": "minimum"}


class Extract:
    def __init__(self, model_utils) -> None:
        self.mu = model_utils
        self.schemas: dict[str, dict] = {}

    def ref(self, cls) -> dict:
        name = cls.__name__
        if name not in self.schemas:
            self.schemas[name] = {}  # reserve: recursive schemas
            self.schemas[name] = self.model(cls)
        return {"$ref": f"#/schemas/{name}"}

    def type_of(self, types: tuple) -> dict:
        nullable = self.mu.none_type in types
        kinds = [t for t in types if t is not self.mu.none_type]
        if len(kinds) != 1:
            raise ValueError(f"unexpected type tuple {types}")
        schema = self.one(kinds[0])
        return {"anyOf": [schema, {"type": "null"}]} if nullable else schema

    def one(self, kind) -> dict:
        if isinstance(kind, list):
            return {"type": "array", "items": self.type_of(tuple(kind))}
        if kind is str:
            return {"type": "string"}
        if kind is bool:
            return {"type": "boolean"}
        if kind is int:
            return {"type": "integer"}
        if kind is float:
            return {"type": "number"}
        if kind is dt.datetime:
            return {"type": "string", "format": "date-time"}
        if kind is dt.date:
            return {"type": "string", "format": "date"}
        if kind is dict:
            return {"type": "object"}
        if inspect.isclass(kind) and issubclass(kind, self.mu.OpenApiModel):
            return self.ref(kind)
        raise ValueError(f"unexpected type {kind!r}")

    def model(self, cls) -> dict:
        if issubclass(cls, self.mu.ModelSimple):
            [value_type] = cls.openapi_types.values()
            schema = self.type_of(value_type)
            if getattr(cls, "allowed_values", None):
                schema["enum"] = sorted(cls.allowed_values)
            return schema
        composed = cls._composed_schemas
        if composed and composed.get("oneOf"):
            return {"oneOf": [self.ref(c) if c is not self.mu.none_type else {"type": "null"}
                              for c in composed["oneOf"]]}
        names = cls.attribute_map
        properties = {}
        validations = getattr(cls, "validations", {}) or {}
        signature = inspect.signature(cls.__init__).parameters
        for attr, types in cls.openapi_types.items():
            # The generator keeps a `nullable` that comes through a `$ref` in the signature's
            # annotation only (e.g. `account_tags: Union[List[str], none_type, UnsetType]`).
            annotation = str(signature[attr].annotation) if attr in signature else ""
            if self.mu.none_type not in types and "none_type" in annotation:
                types = (*types, self.mu.none_type)
            schema = self.type_of(types)
            for limit, keyword in LIMITS.items():
                if limit in validations.get(attr, {}):
                    target = schema if "$ref" not in schema and "anyOf" not in schema else None
                    if target is None:
                        schema = {"allOf": [schema], keyword: validations[attr][limit]}
                    else:
                        target[keyword] = validations[attr][limit]
            properties[names[attr]] = schema
        required = [names[p.name] for p in signature.values()
                    if p.default is inspect.Parameter.empty and p.name in names]
        schema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = sorted(required)
        return schema


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path, help="a checkout of DataDog/datadog-api-client-python")
    parser.add_argument("--commit", help="its commit (default: git rev-parse HEAD in the checkout)")
    args = parser.parse_args(argv)
    commit = args.commit or subprocess.run(["git", "-C", str(args.checkout), "rev-parse", "HEAD"],
                                           capture_output=True, text=True, check=True).stdout.strip()
    sys.path.insert(0, str(args.checkout / "src"))
    model_utils = importlib.import_module("datadog_api_client.model_utils")
    api_module = importlib.import_module("datadog_api_client.v2.api.aws_integration_api")
    from datadog_api_client import ApiClient, Configuration  # noqa: E402  (from the checkout)

    api = api_module.AWSIntegrationApi(ApiClient(Configuration()))
    extract = Extract(model_utils)
    operations = {}
    for operation_id in OPERATIONS:
        endpoint = getattr(api, f"_{operation_id}_endpoint")
        settings = endpoint.settings
        operation = {"method": settings["http_method"], "path": settings["endpoint_path"]}
        body = endpoint.params_map.get("body")
        if body:
            [body_type] = body["openapi_types"]
            operation["request_body"] = {"required": bool(body.get("required")), "schema": extract.one(body_type)}
        queries = {name: extract.type_of(p["openapi_types"]) for name, p in endpoint.params_map.items()
                   if p.get("location") == "query"}
        if queries:
            operation["query"] = queries
        if settings["response_type"]:
            [answer_type] = settings["response_type"]
            operation["answer"] = extract.one(answer_type)
        operations[operation_id] = operation
    out = {
        "about": "Datadog's v2 AWS-integration operations that Registrar calls, with the JSON Schemas of their "
                 "request bodies and 2xx answers, extracted by sandbox/datadog_openapi_extract.py from the "
                 "models DataDog/datadog-api-client-python generates from .generator/schemas/v2/openapi.yaml.",
        "source": {"repository": "DataDog/datadog-api-client-python", "commit": commit,
                   "spec": ".generator/schemas/v2/openapi.yaml",
                   "read_from": ["src/datadog_api_client/v2/api/aws_integration_api.py",
                                 "src/datadog_api_client/v2/model/"]},
        "operations": operations,
        "schemas": dict(sorted(extract.schemas.items())),
    }
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"{OUT.relative_to(REPO_ROOT)}: {len(operations)} operations, {len(extract.schemas)} schemas, commit {commit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
