"""`make demo`, both vendors: the demos run the real binary end to end and say so.

Each demo runs as a newcomer runs it (`python -m sandbox.demo`, its own sandbox and moto) and
must exit 0 with every CloudFormation answer SUCCESS and the leak scan's verdict printed, also
when it found nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sandbox.harness import LeakScan


@pytest.mark.parametrize("vendor, answers", [("datadog", 5), ("dynatrace", 5)])
def test_demo_runs_and_prints_the_leak_scan_verdict(bootstrap, vendor, answers):
    env = dict(os.environ, REGISTRAR_BOOTSTRAP=str(bootstrap))  # the demo's last step runs `registrar audit`
    run = subprocess.run([sys.executable, "-m", "sandbox.demo", "--vendor", vendor], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert f"✓ all {answers} CloudFormation answers were SUCCESS (1 process start)" in run.stdout
    verdict = [line for line in run.stdout.splitlines() if "no secret in logs, responses or vendor requests" in line]
    assert len(verdict) == 1, run.stdout[-2000:]
    assert "✓ no secret" in verdict[0] and " 0 places" not in verdict[0]
    assert "✗" not in run.stdout and "Traceback" not in run.stderr
    assert "✓ the audit found failed, foreign, missing, ok, orphan; after pruning: 0 orphan" in run.stdout
    # Each vendor's demo audits that vendor, under the StackSet name of docs/deploy.md.
    assert f"StackSet registrar-{vendor} against {vendor} (" in run.stdout
    # The failed instance was refused, so nothing is registered beside it.
    failed = next(line for line in run.stdout.splitlines() if line.startswith("failed "))
    assert failed.split()[3] == "-" and "refused" in failed, failed
    plan = {"datadog": "prune: will delete 1 Registrar-made AWS integration(s) at Datadog",
            "dynatrace": "prune: will delete 1 Registrar-made AWS connection(s), each with the account's own"}
    assert plan[vendor] in run.stdout and "gone at" not in run.stdout
    if vendor == "datadog":  # the permissions step, created and deleted
        assert "3. Create the role's permissions" in run.stdout
        assert "IAM: role DatadogIntegrationRole has 1 inline policy (registrar-datadog-standard) and 4 managed" \
            in run.stdout
        assert "IAM: role DatadogIntegrationRole has 0 inline policies (none) and 0 managed" in run.stdout


def test_leak_verdict_names_each_leak_and_never_the_value():
    scan = LeakScan(secrets=3, places=["function #1 logs", "CloudFormation response #1"],
                    leaks=["Datadog API key found in function #1 logs"])
    assert scan.verdict().startswith("✗ secret values leaked (1): Datadog API key found in function #1 logs")
    clean = LeakScan(secrets=3, places=["function #1 logs", "CloudFormation response #1"], leaks=[])
    assert clean.verdict().startswith("✓ no secret in logs, responses or vendor requests: checked 2 places for 3 ")
