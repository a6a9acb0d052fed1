"""Builds realistic CloudFormation custom-resource events (as AWS documents custom-resource requests).

One job: produce the JSON CloudFormation sends to the function for Create,
Update and Delete of one custom resource in one stack:
`RequestType`, `ServiceToken` (top level *and* inside `ResourceProperties`,
as real events carry it), `ResponseURL` (a fresh pre-signed-looking URL per
request, from the sandbox's response catcher), `StackId`
(`arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<guid>`),
`RequestId`, `ResourceType`, `LogicalResourceId`, `PhysicalResourceId`
(Update/Delete), `ResourceProperties`, `OldResourceProperties` (Update).

Like CloudFormation, every scalar property value is turned into a string
(`True` → "true", `14` → "14"); lists keep their shape with string leaves.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from .responses import ResponseCatcher

RESOURCE_TYPE = "Custom::VendorRegistration"
LOGICAL_ID = "VendorRegistration"
SERVICE_TIMEOUT = "360"  # as the member templates (templates/) set it on every custom resource


def stringify(value: Any) -> Any:
    """CloudFormation's view of a property value: scalars become strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return [stringify(v) for v in value]
    if isinstance(value, dict):
        return {str(k): stringify(v) for k, v in value.items()}
    return value


class Stack:
    """One stack holding one `Custom::VendorRegistration`; makes its events."""

    def __init__(self, catcher: ResponseCatcher, *, name: str | None = None, region: str = "us-east-1",
                 account: str = "123456789012", partition: str = "aws", logical_id: str = LOGICAL_ID,
                 resource_type: str = RESOURCE_TYPE, function_name: str = "registrar",
                 service_timeout: str | None = SERVICE_TIMEOUT) -> None:
        self.catcher = catcher
        self.name = name or f"StackSet-registrar-{uuid.uuid4()}"
        self.region, self.account, self.partition = region, account, partition
        self.stack_id = f"arn:{partition}:cloudformation:{region}:{account}:stack/{self.name}/{uuid.uuid4()}"
        self.logical_id = logical_id
        self.resource_type = resource_type
        self.service_token = f"arn:{partition}:lambda:{region}:{account}:function:{function_name}"
        self.service_timeout = service_timeout

    def resource(self, logical_id: str, resource_type: str) -> "Stack":
        """Another custom resource of the same stack (same StackId): its events."""
        other = copy.copy(self)
        other.logical_id, other.resource_type = logical_id, resource_type
        return other

    def properties(self, props: dict[str, Any]) -> dict[str, Any]:
        """ResourceProperties as CloudFormation delivers them (ServiceToken first, all strings)."""
        out: dict[str, Any] = {"ServiceToken": self.service_token}
        if self.service_timeout is not None:
            out["ServiceTimeout"] = self.service_timeout
        out.update(stringify(props))
        return out

    def event(self, request_type: str, props: dict[str, Any] | None, *, physical_id: str | None = None,
              old_props: dict[str, Any] | None = None, raw_props: bool = False) -> dict[str, Any]:
        """Any event, including malformed ones (`raw_props=True` sends `props` untouched)."""
        issued = self.catcher.issue(self.region)
        event: dict[str, Any] = {
            "RequestType": request_type,
            "ServiceToken": self.service_token,
            "ResponseURL": issued.url,
            "StackId": self.stack_id,
            "RequestId": str(uuid.uuid4()),
            "LogicalResourceId": self.logical_id,
            "ResourceType": self.resource_type,
        }
        if physical_id is not None:
            event["PhysicalResourceId"] = physical_id
        if props is not None:
            event["ResourceProperties"] = props if raw_props else self.properties(props)
        if old_props is not None:
            event["OldResourceProperties"] = old_props if raw_props else self.properties(old_props)
        return event

    def create(self, props: dict[str, Any]) -> dict[str, Any]:
        return self.event("Create", props)

    def update(self, physical_id: str, props: dict[str, Any], old_props: dict[str, Any]) -> dict[str, Any]:
        return self.event("Update", props, physical_id=physical_id, old_props=old_props)

    def delete(self, physical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        return self.event("Delete", props, physical_id=physical_id)
