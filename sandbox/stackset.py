"""An AWS Organization and a Registrar StackSet in moto, for `registrar audit`.

One job: give the audit's tests, demo and benchmark an organisation (accounts, OUs, closed
accounts), a service-managed StackSet with Registrar's parameters and its stack instances, all
in moto, plus the onboarding of accounts through the real `bootstrap` and a way to run the real
`registrar` binary against it all.

moto reports every stack instance as CURRENT/SUCCEEDED and would create the StackSet template's
resources, so the StackSet here has a trivial template (its parameters and one resource moto
skips): the audit reads only the parameters and the instances' statuses. A failed instance is
made by `InstanceStatusShim`, a proxy in front of moto that rewrites the ListStackInstances
answer for chosen accounts: test scaffolding, never product behaviour.
"""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.parse
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .aws import MotoServer
from .awsfaults import AwsFaultProxy, operation_of
from .httpd import BackgroundServer, Reply, Request
from .paths import registrar_path

HOME_REGION = "us-east-1"


def trivial_template(parameters: dict[str, str]) -> str:
    """A template that declares `parameters` and creates nothing moto would build."""
    return json.dumps({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {name: {"Type": "String", "Default": ""} for name in parameters},
        "Resources": {"Nothing": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
    })


class Organisation:
    """An organisation in moto, managed from moto's default account (the management account)."""

    def __init__(self, aws: MotoServer, region: str = HOME_REGION) -> None:
        self.aws = aws
        self.org = aws.client("organizations", region)
        self.org.create_organization(FeatureSet="ALL")
        self.root = self.org.list_roots()["Roots"][0]["Id"]
        self.management = self.org.describe_organization()["Organization"]["MasterAccountId"]

    def ou(self, name: str, parent: str | None = None) -> str:
        return self.org.create_organizational_unit(ParentId=parent or self.root, Name=name)["OrganizationalUnit"]["Id"]

    def add_accounts(self, count: int, ou: str | None = None, prefix: str = "member") -> list[str]:
        """`count` new member accounts (under `ou` when given); their ids."""
        ids = []
        for _ in range(count):
            tag = uuid.uuid4().hex[:10]
            status = self.org.create_account(Email=f"{prefix}-{tag}@example.invalid",
                                             AccountName=f"{prefix}-{tag}")["CreateAccountStatus"]
            ids.append(status["AccountId"])
            if ou is not None:
                self.org.move_account(AccountId=status["AccountId"], SourceParentId=self.root, DestinationParentId=ou)
        return ids

    def close(self, account: str) -> None:
        """CloseAccount: moto moves the account to SUSPENDED at once."""
        self.org.close_account(AccountId=account)

    def remove(self, account: str) -> None:
        """The account leaves the organisation."""
        self.org.remove_account_from_organization(AccountId=account)


@dataclass
class StackSet:
    name: str
    parameters: dict[str, str]
    region: str = HOME_REGION

    def stack_name(self) -> str:
        """The name CloudFormation gives a StackSet's stacks: `StackSet-<name>-<uuid>`."""
        return f"StackSet-{self.name}-{uuid.uuid4()}"


def create_stack_set(aws: MotoServer, name: str, parameters: dict[str, str], region: str = HOME_REGION,
                     targets: list[str] | None = None) -> StackSet:
    """A service-managed StackSet with `parameters`, deployed to `targets` (OU or root ids)."""
    cfn = aws.client("cloudformation", region)
    cfn.create_stack_set(StackSetName=name, TemplateBody=trivial_template(parameters),
                         Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
                         PermissionModel="SERVICE_MANAGED",
                         AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False})
    if targets:
        cfn.create_stack_instances(StackSetName=name, DeploymentTargets={"OrganizationalUnitIds": targets},
                                   Regions=[region])
    return StackSet(name, parameters, region)


_MEMBER = re.compile(rb"<member>(?:(?!</member>).)*?<Account>(\d{12})</Account>(?:(?!<member>).)*?</member>", re.S)


class InstanceStatusShim(AwsFaultProxy):
    """A proxy in front of moto (point `AWS_ENDPOINT_URL_CLOUDFORMATION` at `url`) that forwards
    everything and rewrites, in ListStackInstances answers, the instances of the accounts
    `fail()` named: their Status, DetailedStatus and StatusReason become the given ones.
    Test scaffolding for "a failed stack instance", which moto cannot produce."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self._failed: dict[str, tuple[str, str, str]] = {}
        self._server = BackgroundServer(self, name="stack-instance-shim")

    def fail(self, account: str, reason: str, status: str = "OUTDATED", detailed: str = "FAILED") -> None:
        with self._lock:
            self._failed[account] = (status, detailed, reason)

    def handle(self, request: Request, server: BackgroundServer) -> Any:
        reply = super().handle(request, server)
        if isinstance(reply, Reply) and reply.status == 200 and operation_of(request)[1] == "ListStackInstances":
            with self._lock:
                failed = dict(self._failed)
            reply = Reply(reply.status, _MEMBER.sub(lambda m: _rewrite(m, failed), reply.body), reply.headers)
        return reply


class StackSetTemplateShim(InstanceStatusShim):
    """An InstanceStatusShim that also stands in for the StackSet's stacks: moto builds every
    resource of a StackSet's template in each account it deploys to, and cannot build Registrar's
    (a Lambda function whose custom resources call it). CreateStackSet and UpdateStackSet
    requests reach moto with a stand-in template that declares the same parameters and creates
    nothing (`trivial_template`); the real body each request carried is kept in `templates`
    (by StackSet name, in order). Everything else is forwarded untouched. Test scaffolding for
    docs/deploy.md's test, which drives the real `aws` CLI."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.templates: dict[str, list[str]] = {}
        self.bucket_policies: dict[str, dict] = {}

    def handle(self, request: Request, server: BackgroundServer) -> Any:
        if request.method == "PUT" and "policy" in request.query and request.path.count("/") == 1:
            # PutBucketPolicy: moto applies a bucket policy's statements without their conditions
            # (moto's S3 documentation: "Conditions are not taken into account"), so a
            # `Deny s3:*` conditioned on aws:SecureTransport would refuse every later call. The
            # policy is kept here, for the test to check, and S3's answer to it given.
            with self._lock:
                self.bucket_policies[request.path.strip("/")] = json.loads(request.body)
            return Reply(204, b"", {})
        if request.header("X-Amz-Target") == "TrentService.ScheduleKeyDeletion":
            # AWS takes the key's id or its ARN (API_ScheduleKeyDeletion.html: "Specify the key ID
            # or key ARN"); moto 5.2.5 looks the KeyId up as an id only (KeyError on an ARN).
            body = json.loads(request.body)
            body["KeyId"] = str(body.get("KeyId", "")).rsplit("key/", 1)[-1]
            request = dataclasses.replace(request, body=json.dumps(body).encode())
        fields = urllib.parse.parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True) \
            if request.method == "POST" and request.header("X-Amz-Target") is None else {}
        if fields.get("Action", [""])[0] == "DeleteStackInstances" and not any(k.startswith("Accounts.") for k in fields):
            # moto's DeleteStackInstances ignores DeploymentTargets (its docstring: "not yet
            # implemented"): name the accounts of the StackSet's instances, as the OUs would.
            accounts = self._instance_accounts(request, fields.get("StackSetName", [""])[0])
            fields.update({f"Accounts.member.{n}": [a] for n, a in enumerate(accounts, 1)})
            request = dataclasses.replace(request, body=urllib.parse.urlencode(fields, doseq=True).encode())
        if fields.get("Action", [""])[0] in ("CreateStackSet", "UpdateStackSet") and "TemplateBody" in fields:
            body = fields["TemplateBody"][0]
            declared = template_parameters(body)
            passed = [v[0] for k, v in fields.items() if re.fullmatch(r"Parameters\.member\.\d+\.ParameterKey", k)]
            if unknown := [p for p in passed if p not in declared]:
                # As CloudFormation answers a parameter its template does not declare; moto,
                # given the stand-in template below, could not tell.
                return Reply(400, _validation_error(f"Parameters: [{', '.join(unknown)}] do not exist in the template"),
                             {"Content-Type": "text/xml"})
            with self._lock:
                self.templates.setdefault(fields.get("StackSetName", [""])[0], []).append(body)
            fields["TemplateBody"] = [trivial_template(dict.fromkeys(template_parameters(body), ""))]
            request = dataclasses.replace(request, body=urllib.parse.urlencode(fields, doseq=True).encode())
        return super().handle(request, server)


    def _instance_accounts(self, request: Request, stack_set: str) -> list[str]:
        body = urllib.parse.urlencode({"Action": "ListStackInstances", "Version": "2010-05-15",
                                       "StackSetName": stack_set}).encode()
        listing = dataclasses.replace(request, body=body)
        answer = self._forward(listing)
        return sorted({a.decode() for a in re.findall(rb"<Account>(\d{12})</Account>", answer.body)})


def _validation_error(message: str) -> bytes:
    escaped = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (f'<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type>'
            f"<Code>ValidationError</Code><Message>{escaped}</Message></Error>"
            f"<RequestId>registrar-sandbox</RequestId></ErrorResponse>").encode()


def template_parameters(body: str) -> list[str]:
    """The parameter names a template declares (YAML with CloudFormation's short tags, or JSON)."""
    if body.lstrip().startswith("{"):
        return list(json.loads(body).get("Parameters", {}))
    section = re.search(r"^Parameters:\n((?:(?:[ #].*)?\n)*)", body + "\n", re.M)
    return re.findall(r"^  ([A-Za-z0-9]+):", section.group(1), re.M) if section else []


def _rewrite(match: re.Match, failed: dict[str, tuple[str, str, str]]) -> bytes:
    member = match.group(0)
    account = match.group(1).decode()
    if account not in failed:
        return member
    status, detailed, reason = failed[account]
    member = re.sub(rb"<Status>[A-Z_]+</Status>", f"<Status>{status}</Status>".encode(), member, count=1)
    member = re.sub(rb"<DetailedStatus>[A-Z_]+</DetailedStatus>", f"<DetailedStatus>{detailed}</DetailedStatus>".encode(),
                    member)
    member = re.sub(rb"<StatusReason>.*?</StatusReason>", b"", member, flags=re.S)
    escaped = reason.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return member.replace(b"</member>", f"<StatusReason>{escaped}</StatusReason></member>".encode())


def onboard(function: Any, stack_set: StackSet, accounts: list[str], props: dict[str, Any],
            catcher: Any) -> dict[str, Any]:
    """Create events, as the StackSet's stacks send them, through the real `bootstrap` in
    `function`: one per account, in the home region. Returns each account's Invocation."""
    from .events import Stack
    done = {}
    for account in accounts:
        stack = Stack(catcher, name=stack_set.stack_name(), region=stack_set.region, account=account)
        done[account] = function.invoke(stack.create(props))
    return done


@dataclass
class AuditRun:
    exit_code: int
    stdout: str
    stderr: str
    elapsed_s: float

    def json(self) -> dict:
        return json.loads(self.stdout)


def audit_env(aws: MotoServer, vendor_url: str, cloudformation_url: str | None = None,
              region: str = HOME_REGION, workdir: Path | None = None) -> dict[str, str]:
    """The environment of a platform engineer's shell, pointed at the sandbox."""
    import os
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(workdir) if workdir else os.environ.get("HOME", "/tmp"),
        "AWS_REGION": region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": aws.url,
        "REGISTRAR_VENDOR_ENDPOINT": vendor_url,
    }
    if cloudformation_url:
        env["AWS_ENDPOINT_URL_CLOUDFORMATION"] = cloudformation_url
    return env


def run_audit(args: list[str], env: dict[str, str], *, stdin: str | None = None,
              timeout_s: float = 120.0, binary: Path | None = None) -> AuditRun:
    """Runs `registrar audit <args>` and waits for it (no terminal: stdin, stdout, stderr are pipes)."""
    started = time.monotonic()
    done = subprocess.run([str(binary or registrar_path()), "audit", *args], env=env, capture_output=True,
                          text=True, input=stdin if stdin is not None else "", timeout=timeout_s)
    return AuditRun(done.returncode, done.stdout, done.stderr, time.monotonic() - started)
