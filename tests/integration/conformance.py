"""What the conformance suite (test_conformance.py) asks of a vendor under test: one adapter per
vendor, in `conformance_<vendor>.py` (the vendor's name as sandbox/vendors.json lists it), so a
new vendor brings its adapter and inherits every rule without changing the suite.

An adapter speaks for the vendor's emulator in the suite's words: the registrations it holds,
one made by someone else or by another Registrar stack, an out-of-band removal, a fault on the
call that registers, and where the vendor's id sits in a PhysicalResourceId.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from sandbox.vendors import names

ACCOUNT = "123456789012"


@dataclass
class Held:
    """One registration the vendor holds, as the suite judges it."""

    id: str
    account: str
    ours: bool  # carries this stack's ownership mark


class Adapter:
    """The suite's view of one vendor in one sandbox; subclasses fill it in."""

    name: str  # the Vendor property's value
    create_path: str  # the path prefix of the call that registers (for fault injection)
    create_method: str = "POST"

    def __init__(self, sb: Any) -> None:
        self.sb = sb

    # the function's world
    def env(self) -> dict[str, str]:
        raise NotImplementedError

    def secret(self) -> str:
        raise NotImplementedError

    def props(self, secret: str, **overrides: Any) -> dict[str, Any]:
        raise NotImplementedError

    def changed(self, props: dict[str, Any]) -> dict[str, Any]:
        """`props` with a setting changed that is updated in place."""
        raise NotImplementedError

    # the vendor's state
    @property
    def emulator(self) -> Any:
        raise NotImplementedError

    def held(self, stack: Any) -> list[Held]:
        """Every registration the vendor holds; `ours` judged for `stack` (never, for None)."""
        raise NotImplementedError

    def seed_someone_elses(self, account: str = ACCOUNT) -> str:
        raise NotImplementedError

    def seed_other_stacks(self, account: str = ACCOUNT) -> str:
        raise NotImplementedError

    def remove(self, registration_id: str) -> None:
        raise NotImplementedError

    def registration_id(self, physical_id: str) -> str:
        """The vendor's id in a PhysicalResourceId (its last field)."""
        return physical_id.rsplit(":", 1)[1]


def adapter(name: str, sb: Any) -> Adapter:
    return importlib.import_module(f"conformance_{name}").ADAPTER(sb)


VENDOR_NAMES = names()
