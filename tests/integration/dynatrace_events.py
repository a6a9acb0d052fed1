"""What the Dynatrace tests share: the ids, names and events of the two-phase flow.

One job: say once how a Dynatrace registration and its role binding look to CloudFormation
(PhysicalResourceIds, the connection's name, the binding's events and properties), so each
test file only adds its scenario.
"""

from __future__ import annotations

import re

ACCOUNT = "123456789012"
HOST = "abc12345.apps.dynatrace.com"
PRODUCTION_PRINCIPAL, NON_PRODUCTION_PRINCIPAL = "314146291599", "476114158034"
ROLE = "DynatraceMonitoringRole"
OBJECT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{60,140}$")


def registration_id(connection_id: str, account: str = ACCOUNT, host: str = HOST) -> str:
    return f"registrar:dynatrace:{host}:aws:{account}:{connection_id}"


def binding_id(connection_id: str, scope: str = "-", account: str = ACCOUNT, host: str = HOST) -> str:
    return f"registrar:binding:dynatrace:{host}:aws:{account}:{scope}:{connection_id}"


def own_scope(config_id: str) -> str:
    """The binding scope of an account that has its own monitoring configuration."""
    return f"own~{config_id}"


def our_name(stack, account: str = ACCOUNT) -> str:
    return f"registrar-{account}-{stack.region}/{stack.name}"


def role_arn(account: str = ACCOUNT) -> str:
    return f"arn:aws:iam::{account}:role/{ROLE}"


def binding(stack, request_type: str, props: dict, physical_id: str | None = None,
            old_props: dict | None = None) -> dict:
    """An event for the template's second custom resource (the role binding) in `stack`."""
    event = stack.event(request_type, props, physical_id=physical_id, old_props=old_props)
    event["LogicalResourceId"] = "VendorRoleBinding"
    event["ResourceType"] = "Custom::VendorRoleBinding"
    return event


def binding_props(sb, arn: str, connection_id: str, config: str | None = None, **more) -> dict:
    return sb.dynatrace_props(arn, Phase="role-binding", RegistrationId=connection_id,
                              MonitoringConfigId=config, **more)


def role_of(connection: dict) -> str:
    return connection["value"]["awsRoleBasedAuthentication"]["roleArn"]


def account_configs(dt, connection_id: str) -> list[dict]:
    """The monitoring configurations whose credentials name connection `connection_id`."""
    return [c for c in dt.monitoring_configs()
            if any(e.get("connectionId") == connection_id for e in c["value"].get("aws", {}).get("credentials") or [])]
