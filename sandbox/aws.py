"""moto in server mode, standing in for Secrets Manager, STS and IAM.

One job: run moto's server on 127.0.0.1:<free port> as a subprocess of the
current virtualenv (wait until it answers, reset it between tests, kill it on
teardown), behind the layer that enforces IAM's quotas (`iam_quotas`; always on, so
every test meets the limits AWS has), and give tests boto3 helpers that talk to it: create a vendor
secret in any region and return the ARN moto generated, create IAM roles,
assume roles (moto's STS hands out credentials that act in the role's account,
which is how a "central" account holding the secret is modelled).

Nothing here reaches AWS: every client has `endpoint_url` set to moto and the
dummy `testing` credentials; the developer's own AWS configuration is ignored.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any

import boto3
from botocore.config import Config

DEFAULT_ACCOUNT = "123456789012"  # moto's default account for the `testing` credentials
START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _moto_command(port: int) -> list[str]:
    # moto's own server, behind the layer that refuses what IAM refuses (`iam_quotas`).
    return [sys.executable, "-m", "sandbox.iam_quotas", "-H", "127.0.0.1", "-p", str(port)]


class MotoServer:
    """A moto_server subprocess on 127.0.0.1:<free port>."""

    def __init__(self) -> None:
        self.port: int | None = None
        self._proc: subprocess.Popen | None = None
        self._log = tempfile.TemporaryFile(prefix="moto-")
        self._home = tempfile.TemporaryDirectory(prefix="moto-home-")

    @property
    def url(self) -> str:
        assert self.port is not None, "moto is not started"
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "MotoServer":
        last_error = None
        for _ in range(3):  # a free port can be taken between probe and bind: retry
            self.port = free_port()
            env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": self._home.name,
                   "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_DEFAULT_REGION": "us-east-1", "PYTHONUNBUFFERED": "1"}
            self._proc = subprocess.Popen(_moto_command(self.port), env=env, stdin=subprocess.DEVNULL,
                                          stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                self._wait_ready()
                return self
            except RuntimeError as err:
                last_error = err
                self.stop()
        raise RuntimeError(f"moto_server did not start: {last_error}\n{self.output()[-2000:]}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise RuntimeError("moto_server exited")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise RuntimeError("moto_server did not answer in time")

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def reset(self) -> None:
        """Forget every resource in every account and region."""
        req = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def close(self) -> None:
        self.stop()
        self._log.close()
        self._home.cleanup()

    def __enter__(self) -> "MotoServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ boto3 helpers
    def client(self, service: str, region: str = "us-east-1", credentials: dict | None = None) -> Any:
        creds = credentials or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        session = boto3.session.Session(region_name=region, **creds)
        return session.client(service, endpoint_url=self.url,
                              config=Config(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=15))

    def create_secret(self, value: dict | str, region: str = "us-east-1", name: str | None = None,
                      credentials: dict | None = None) -> str:
        """Create a secret and return the full ARN moto generated (with its random suffix)."""
        secret_string = value if isinstance(value, str) else json.dumps(value)
        name = name or f"registrar/vendor-keys-{os.urandom(4).hex()}"
        resp = self.client("secretsmanager", region, credentials).create_secret(
            Name=name, SecretString=secret_string, Description="vendor keys for Registrar tests")
        return resp["ARN"]

    def create_role(self, name: str, trusted_principal: str, credentials: dict | None = None,
                    *, external_id: str | None = None) -> str:
        """Create an IAM role trusting `trusted_principal` (an ARN or account id), with
        `sts:ExternalId` required when `external_id` is given; return its ARN."""
        principal = (trusted_principal if trusted_principal.startswith("arn:")
                     else f"arn:aws:iam::{trusted_principal}:root")
        statement: dict = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
        if external_id is not None:
            statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
        policy = {"Version": "2012-10-17", "Statement": [statement]}
        resp = self.client("iam", "us-east-1", credentials).create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(policy))
        return resp["Role"]["Arn"]

    def assume_role(self, role_arn: str, session_name: str = "registrar-tests") -> dict:
        """Credentials (boto3 keyword form) for `role_arn`; moto acts in the role's account."""
        creds = self.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
        return {"aws_access_key_id": creds["AccessKeyId"], "aws_secret_access_key": creds["SecretAccessKey"],
                "aws_session_token": creds["SessionToken"]}
