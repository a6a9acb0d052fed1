"""pytest wiring for the integration tests: one moto per session, a fresh sandbox per test.

- `moto` (session): one moto_server subprocess, reset before every test.
- `sandbox` (function): fresh emulators, response catcher and keys per test;
  every function process it started is killed at teardown, and every test is
  checked automatically for secret leaks (API key, application key,
  ResponseURL query string) in the binary's logs, in the CloudFormation
  responses and in what was sent to the vendor; and every request sent to the Datadog
  emulator, and every answer it served, is checked against Datadog's OpenAPI description
  (a property the spec does not define fails the test).
- After every test, no bootstrap process and no sandbox thread may be left running.
- On failure, the tail of the binary's logs is attached to the report (secrets redacted).

The binary is `$REGISTRAR_BOOTSTRAP` or `target/debug/bootstrap`; build it with `cargo build`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from sandbox import MotoServer, Sandbox, bootstrap_path

_SANDBOX_KEY = pytest.StashKey[Sandbox]()


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="session")
def bootstrap():
    path = bootstrap_path()
    if not path.exists():
        pytest.fail(f"the bootstrap binary is missing at {path}: run `cargo build` first "
                    "(or point REGISTRAR_BOOTSTRAP at it)", pytrace=False)
    return path


@pytest.fixture
def sandbox(moto: MotoServer, bootstrap, request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    moto.reset()
    threads_before = set(threading.enumerate())
    with Sandbox(aws=moto, bootstrap=bootstrap) as sb:
        request.node.stash[_SANDBOX_KEY] = sb
        yield sb
        for fn in sb.functions:
            fn.close()
        leaks = sb.leaks()
        violations = sb.spec_violations()
    assert not leaks, "secret values leaked:\n  " + "\n  ".join(leaks)
    assert not violations, "Datadog's OpenAPI description broken:\n  " + "\n  ".join(violations)
    still_running = [fn.pid for fn in sb.functions if fn.alive]
    assert not still_running, f"bootstrap processes survived the test: {still_running}"
    deadline = time.monotonic() + 5
    while (leftover := [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not leftover, f"threads survived the test: {[t.name for t in leftover]}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    sb = item.stash.get(_SANDBOX_KEY, None)
    if sb is not None and report.failed and call.when in ("call", "teardown"):
        report.sections.append(("bootstrap logs (secrets redacted)", sb.all_logs()))
    return report


def pytest_terminal_summary(terminalreporter) -> None:
    """Prints the fault matrix (test_fault_matrix.py): one line per cell, scenario → outcome."""
    import matrix

    matrix.report(terminalreporter)
