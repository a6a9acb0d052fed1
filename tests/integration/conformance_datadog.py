"""Datadog in the conformance suite's words (see conformance.py)."""

from __future__ import annotations

from typing import Any

from conformance import ACCOUNT, Adapter, Held
from contract import is_ours, tags_of


class Datadog(Adapter):
    name = "datadog"
    create_path = "/api/v2/integration/aws/accounts"

    def env(self) -> dict[str, str]:
        return {"REGISTRAR_VENDOR_ENDPOINT": self.sb.datadog.url}

    def secret(self) -> str:
        return self.sb.datadog_secret()

    def props(self, secret: str, **overrides: Any) -> dict[str, Any]:
        return self.sb.datadog_props(secret, **overrides)

    def changed(self, props: dict[str, Any]) -> dict[str, Any]:
        return dict(props, DisableMetricCollection="true")

    @property
    def emulator(self) -> Any:
        return self.sb.datadog

    def held(self, stack: Any) -> list[Held]:
        mark = f"registrar_stack:{stack.region}/{stack.name}".lower()
        return [Held(a["id"], a["attributes"]["aws_account_id"],
                     is_ours(a) and mark in [t.lower() for t in tags_of(a)])
                for a in self.sb.datadog.accounts()]

    def seed_someone_elses(self, account: str = ACCOUNT) -> str:
        return self.sb.datadog.seed_account(account, account_tags=["team:someone-else"])["id"]

    def seed_other_stacks(self, account: str = ACCOUNT) -> str:
        return self.sb.datadog.seed_account(account, account_tags=["registrar_stack:eu-west-1/other"])["id"]

    def remove(self, registration_id: str) -> None:
        self.sb.datadog.remove_account(registration_id)


ADAPTER = Datadog
