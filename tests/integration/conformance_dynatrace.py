"""Dynatrace in the conformance suite's words (see conformance.py): its registration step (the
AWS connection; the role binding has its own suite, test_dynatrace.py)."""

from __future__ import annotations

from typing import Any

from conformance import ACCOUNT, Adapter, Held
from sandbox.dynatrace import SETTINGS_PATH


class Dynatrace(Adapter):
    name = "dynatrace"
    create_path = SETTINGS_PATH

    def env(self) -> dict[str, str]:
        return self.sb.dynatrace_env()

    def secret(self) -> str:
        return self.sb.dynatrace_secret()

    def props(self, secret: str, **overrides: Any) -> dict[str, Any]:
        return self.sb.dynatrace_props(secret, **overrides)

    def changed(self, props: dict[str, Any]) -> dict[str, Any]:
        return dict(props, RoleName="DynatraceRenamed")

    @property
    def emulator(self) -> Any:
        return self.sb.dynatrace

    def held(self, stack: Any) -> list[Held]:
        out = []
        for c in self.sb.dynatrace.connections():
            name = c["value"]["name"]
            arn = (c["value"].get("awsRoleBasedAuthentication") or {}).get("roleArn", "")
            account = name.split("-")[1] if name.startswith("registrar-") else arn.split(":")[4] if arn else ""
            out.append(Held(c["objectId"], account, name == f"registrar-{account}-{stack.region}/{stack.name}"))
        return out

    def seed_someone_elses(self, account: str = ACCOUNT) -> str:
        return self.sb.dynatrace.seed_connection("prod account", role_arn=f"arn:aws:iam::{account}:role/Dynatrace")

    def seed_other_stacks(self, account: str = ACCOUNT) -> str:
        return self.sb.dynatrace.seed_connection(f"registrar-{account}-eu-west-1/other")

    def remove(self, registration_id: str) -> None:
        self.sb.dynatrace.remove_connection(registration_id)


ADAPTER = Dynatrace
