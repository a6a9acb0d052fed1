"""The fault matrix's bookkeeping: one `Cell` per test of test_fault_matrix.py, printed at the end
of the run (conftest's `pytest_terminal_summary`) as scenario → outcome.

A cell records what the binary did (status, seconds) and each invariant it checked, by name, so
the printed row says which invariant broke, not only that the test failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

CELLS: dict[str, "Cell"] = {}


@dataclass
class Cell:
    nodeid: str
    dependency: str
    mode: str
    expected: str
    outcome: str = "not run"
    reason: str = ""  # the answer's Reason (redacted), printed with -v
    checks: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def open(cls, request: pytest.FixtureRequest, dependency: str, mode: str, expected: str) -> "Cell":
        cell = cls(request.node.nodeid, dependency, mode, expected)
        CELLS[cell.nodeid] = cell
        return cell

    def check(self, name: str, ok: bool) -> bool:
        """Record one invariant (a name seen twice must hold both times)."""
        self.checks[name] = self.checks.get(name, True) and bool(ok)
        return bool(ok)

    def broken(self) -> list[str]:
        return [name for name, ok in self.checks.items() if not ok]


def _results(terminalreporter) -> dict[str, str]:
    """nodeid → PASS / FAIL / XFAIL / XPASS / SKIP, from the run's reports."""
    out: dict[str, str] = {}
    words = {"passed": "PASS", "failed": "FAIL", "xfailed": "XFAIL", "xpassed": "XPASS", "skipped": "SKIP",
             "error": "ERROR"}
    for key, word in words.items():
        for report in terminalreporter.stats.get(key, []):
            nodeid = getattr(report, "nodeid", None)
            if nodeid is None:
                continue
            if word == "PASS" and out.get(nodeid) in ("FAIL", "ERROR"):
                continue  # a passed call with a failed teardown stays failed
            out[nodeid] = word
    return out


def report(terminalreporter) -> None:
    if not CELLS:
        return
    results = _results(terminalreporter)
    tr = terminalreporter
    tr.write_sep("=", f"fault matrix: {len(CELLS)} cells (scenario → outcome)")
    width_dep = max(len(c.dependency) for c in CELLS.values())
    width_mode = max(len(c.mode) for c in CELLS.values())
    order: dict[str, int] = {}
    for cell in CELLS.values():
        order.setdefault(cell.dependency, len(order))
    for cell in sorted(CELLS.values(), key=lambda c: order[c.dependency]):  # stable: test order within
        result = results.get(cell.nodeid, "?")
        broken = cell.broken()
        held = f"{len(cell.checks) - len(broken)}/{len(cell.checks)} invariants"
        detail = f"broken: {', '.join(broken)}" if broken else "all hold"
        tr.write_line(f"{result:5} {cell.dependency:<{width_dep}}  {cell.mode:<{width_mode}}  "
                      f"want {cell.expected:<26} got {cell.outcome:<34} {held} ({detail})")
        if tr.config.option.verbose > 0 and cell.reason:
            tr.write_line(f"      reason: {cell.reason[:400]}")
