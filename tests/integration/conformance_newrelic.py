"""New Relic in the conformance suite's words (see conformance.py)."""

from __future__ import annotations

from typing import Any

from conformance import ACCOUNT, Adapter, Held
from sandbox.newrelic import PATH


class NewRelic(Adapter):
    name = "newrelic"
    create_path = f"{PATH}/cloudLinkAccount"

    def env(self) -> dict[str, str]:
        return self.sb.newrelic_env()

    def secret(self) -> str:
        return self.sb.newrelic_secret()

    def props(self, secret: str, **overrides: Any) -> dict[str, Any]:
        return self.sb.newrelic_props(secret, **overrides)

    def changed(self, props: dict[str, Any]) -> dict[str, Any]:
        return dict(props, RoleName="NewRelicRenamed")

    @property
    def emulator(self) -> Any:
        return self.sb.newrelic

    def held(self, stack: Any) -> list[Held]:
        return [Held(str(link["id"]), link["externalId"], stack is not None and
                     link["name"] == f"registrar-{link['externalId']}-{stack.region}/{stack.name}")
                for link in self.sb.newrelic.links()]

    def seed_someone_elses(self, account: str = ACCOUNT) -> str:
        return str(self.sb.newrelic.seed_link("Production (console)", f"arn:aws:iam::{account}:role/NR"))

    def seed_other_stacks(self, account: str = ACCOUNT) -> str:
        return str(self.sb.newrelic.seed_link(f"registrar-{account}-eu-west-1/other",
                                              f"arn:aws:iam::{account}:role/NewRelicInfrastructure-Integrations"))

    def remove(self, registration_id: str) -> None:
        self.sb.newrelic.remove_link(registration_id)


ADAPTER = NewRelic
