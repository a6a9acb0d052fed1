"""`registrar audit` as an AWS user meets it: the SDK's own profile and region chains, and each
way the audit cannot start (no region, no credentials, an unknown profile, an AWS endpoint that
never answers) ends within 15 s with exit code 2 and at most two readable lines that name the
cause and the fix, never the SDK's `Debug` form.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox.paths import registrar_path
from sandbox.stackset import Organisation, run_audit

# The bound: a platform engineer (or CI) learns within 15 s that the audit cannot run.
BOUND_S = 15.0
DEBUG_DUMP = ("DispatchFailure(", "SdkBody", "ConnectorError {", "Some(", "source: ")


@pytest.fixture(scope="module")
def registrar_cli() -> Path:
    path = registrar_path()
    if not path.exists():
        pytest.fail(f"the registrar binary is missing at {path}: run `make build` first", pytrace=False)
    return path


def shell(home: Path, **env: str) -> dict[str, str]:
    """A shell with nothing of the machine's AWS configuration: HOME, the config and credentials
    files are the test's own (absent unless written)."""
    return {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(home),
            "AWS_CONFIG_FILE": str(home / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
            **env}


def cannot_run(env: dict[str, str], *args: str) -> str:
    """Runs the audit, checks exit 2 within the bound and a short readable message; returns it."""
    run = run_audit(["--stack-set", "registrar-datadog", *args], env, timeout_s=60)
    message = run.stderr.strip()
    assert run.exit_code == 2, (run.exit_code, message)
    assert run.elapsed_s < BOUND_S, f"took {run.elapsed_s:.1f} s: {message}"
    assert run.stdout == ""
    assert message and len(message.splitlines()) <= 2, message
    assert not any(dump in message for dump in DEBUG_DUMP), message
    return message


def test_no_region_says_to_set_one(tmp_path, registrar_cli):
    message = cannot_run(shell(tmp_path, AWS_ACCESS_KEY_ID="AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY="x",
                               AWS_EC2_METADATA_DISABLED="true"))
    assert message.startswith("registrar audit: no AWS region"), message
    assert "--region or AWS_REGION" in message


def test_no_credentials_says_how_to_get_them_even_when_instance_metadata_never_answers(
        tmp_path, sandbox, registrar_cli):
    hole = sandbox.blackhole()
    message = cannot_run(shell(tmp_path, AWS_REGION="eu-west-1", AWS_EC2_METADATA_SERVICE_ENDPOINT=hole.url))
    assert message.startswith("registrar audit: no AWS credentials"), message
    assert "--profile or AWS_PROFILE" in message and "aws configure" in message


@pytest.mark.parametrize("how", ["AWS_PROFILE", "--profile"])
def test_an_unknown_profile_is_named(tmp_path, registrar_cli, how):
    (tmp_path / "config").write_text("[profile ops]\nregion = eu-west-1\n")
    (tmp_path / "credentials").write_text("[ops]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = x\n")
    env = shell(tmp_path, AWS_REGION="eu-west-1", AWS_EC2_METADATA_DISABLED="true")
    if how == "AWS_PROFILE":
        message = cannot_run(dict(env, AWS_PROFILE="opps"))
    else:
        message = cannot_run(env, "--profile", "opps")
    assert f"no AWS profile named opps (from {how})" in message, message


def test_an_aws_endpoint_that_never_answers_fails_fast(tmp_path, sandbox, registrar_cli):
    hole = sandbox.blackhole()
    message = cannot_run(shell(tmp_path, AWS_REGION="eu-west-1", AWS_ACCESS_KEY_ID="AKIAEXAMPLE",
                               AWS_SECRET_ACCESS_KEY="x", AWS_EC2_METADATA_DISABLED="true",
                               AWS_ENDPOINT_URL=hole.url))
    assert "DescribeStackSet" in message and "no answer within 10 s" in message, message
    assert hole.requests, "the request reached the endpoint"


def test_the_profile_gives_region_and_credentials_and_flags_override(tmp_path, sandbox, registrar_cli):
    """The SDK's profile chain: `--profile` picks the section of ~/.aws/config (its region) and
    ~/.aws/credentials (its keys); the call reaches moto, whose answer is quoted in one line."""
    Organisation(sandbox.aws)
    (tmp_path / "config").write_text("[profile ops]\nregion = us-east-1\n")
    (tmp_path / "credentials").write_text("[ops]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    env = shell(tmp_path, AWS_EC2_METADATA_DISABLED="true", AWS_ENDPOINT_URL=sandbox.aws.url)
    message = cannot_run(env, "--profile", "ops")
    assert "StackSetNotFoundException" in message, message

    # Without the profile there are neither keys nor a region; --region alone supplies only one.
    assert "no AWS region" in cannot_run(env)
    assert "no AWS credentials" in cannot_run(env, "--region", "us-east-1")


def test_help_has_examples_and_the_verdict_legend(registrar_cli):
    import subprocess
    shown = subprocess.run([str(registrar_cli), "audit", "--help"], capture_output=True, text=True,
                           check=True).stdout
    assert "Examples:" in shown and "registrar audit --stack-set registrar-datadog" in shown
    for verdict in ("ok", "missing", "failed", "foreign", "orphan", "drift"):
        assert f"\n  {verdict} " in shown, verdict
    for flag in ("--profile", "--region", "--no-color"):
        assert flag in shown
