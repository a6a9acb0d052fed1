"""The `Sandbox`: everything one test (or the demo) needs, started and stopped together.

One job: wire the pieces into a local world the real binary can run in:
- a `ResponseCatcher` (CloudFormation's ResponseURLs),
- one `DatadogEmulator` per Datadog site (each site is its own organisation and
  its own host in reality, so each gets its own port here),
- moto (shared, passed in, or started and owned by this sandbox),
- `Function`s running the `bootstrap` binary against their own Runtime API,
  with an environment built from scratch.

It hands out distinctive, unguessable vendor keys per sandbox, remembers every
secret value it issued, and `leaks()` scans everything the binary printed and
every response it PUT for them. Teardown kills every process and joins every
thread even when the test failed.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .aws import DEFAULT_ACCOUNT, MotoServer
from .blackhole import Blackhole
from .datadog import DatadogEmulator
from .dynatrace import DynatraceEmulator
from .events import Stack
from .function import Function, Invocation
from .newrelic import NewRelicEmulator
from .hygiene import Secret, find_leaks, response_url_secrets
from .paths import bootstrap_path
from .responses import ResponseCatcher
from .vendors import default_role


def with_overrides(props: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`props` with `overrides` applied: a value replaces or adds a key, `None` removes it."""
    for key, value in overrides.items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
    return props


DEFAULT_SITE = "datadoghq.com"
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class LeakScan:
    """What `Sandbox.leak_scan()` looked for, where, and what it found."""

    secrets: int  # distinct secret values looked for (keys, tokens, ResponseURL signatures)
    places: list[str]  # every text scanned: each function's logs, each response, each vendor's requests
    leaks: list[str]  # '<secret label> found in <place>'; empty when clean

    def verdict(self) -> str:
        """One line for a person: what was checked, and whether anything leaked."""
        if self.leaks:
            return f"✗ secret values leaked ({len(self.leaks)}): " + "; ".join(self.leaks)
        return (f"✓ no secret in logs, responses or vendor requests: checked {len(self.places)} places "
                f"for {self.secrets} secret strings (keys, tokens, ResponseURL signatures in every spelling)")


class Sandbox:
    """Context manager: `with Sandbox() as sb: ...`."""

    def __init__(self, *, aws: MotoServer | None = None, bootstrap: Path | None = None,
                 region: str = DEFAULT_REGION, echo_logs: bool | None = None) -> None:
        self.region = region
        self.bootstrap = Path(bootstrap) if bootstrap else bootstrap_path()
        self.echo_logs = bool(os.environ.get("SANDBOX_ECHO_LOGS")) if echo_logs is None else echo_logs
        self._aws = aws
        self._owns_aws = aws is None
        # Real Datadog key shapes: API key 32 hex, application key 40 hex.
        self.api_key = secrets.token_hex(16)
        self.app_key = secrets.token_hex(20)
        self._extra_secrets: list[Secret] = []
        self._sites: dict[str, DatadogEmulator] = {}
        # A Dynatrace platform token's shape: dt0s16.<public part>.<secret part>.
        self.dynatrace_token = (f"dt0s16.{secrets.token_hex(12).upper()}."
                                f"{secrets.token_hex(32).upper()}")
        self._dynatrace: DynatraceEmulator | None = None
        # A New Relic user key's shape: NRAK- and 27 upper-case letters and digits.
        self.newrelic_key = "NRAK-" + "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
                                              for _ in range(27))
        self._newrelic: NewRelicEmulator | None = None
        self.functions: list[Function] = []
        self.catcher = ResponseCatcher()
        self._blackholes: list[Blackhole] = []
        self._workdir: tempfile.TemporaryDirectory | None = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> "Sandbox":
        try:
            self._workdir = tempfile.TemporaryDirectory(prefix="registrar-sandbox-")
            self.catcher.start()
            self.datadog_site(DEFAULT_SITE)
            if self._aws is None:
                self._aws = MotoServer().start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Kill every function, stop every server (bounded); collect errors and raise the first."""
        errors: list[BaseException] = []
        for fn in self.functions:
            try:
                fn.close()
            except Exception as err:  # noqa: BLE001
                errors.append(err)
        for emulator in [*self._sites.values(), *self._blackholes, *filter(None, [self._dynatrace, self._newrelic])]:
            try:
                emulator.stop()
            except Exception as err:  # noqa: BLE001
                errors.append(err)
        try:
            self.catcher.stop()
        except Exception as err:  # noqa: BLE001
            errors.append(err)
        if self._owns_aws and self._aws is not None:
            self._aws.close()
            self._aws = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None
        if errors:
            raise errors[0]

    # ------------------------------------------------------------------ pieces
    @property
    def aws(self) -> MotoServer:
        assert self._aws is not None, "sandbox not started"
        return self._aws

    @property
    def datadog(self) -> DatadogEmulator:
        """The emulator for the default site (datadoghq.com)."""
        return self._sites[DEFAULT_SITE]

    def datadog_site(self, site: str) -> DatadogEmulator:
        """The emulator for `site` (started on first use; same keys as the default site)."""
        if site not in self._sites:
            self._sites[site] = DatadogEmulator(self.api_key, self.app_key, site=site).start()
        return self._sites[site]

    @property
    def dynatrace(self) -> DynatraceEmulator:
        """The Dynatrace environment emulator (started on first use)."""
        if self._dynatrace is None:
            self._dynatrace = DynatraceEmulator(self.dynatrace_token).start()
        return self._dynatrace

    def dynatrace_env(self) -> dict[str, str]:
        """Function environment overrides that point the binary at the Dynatrace emulator."""
        return {"REGISTRAR_VENDOR_ENDPOINT": self.dynatrace.url}

    def dynatrace_secret(self, region: str | None = None, *, token: str | None = None,
                         name: str | None = None) -> str:
        """Store `{"token"}` in Secrets Manager (moto); return the secret's ARN."""
        token = token or self.dynatrace_token
        if token != self.dynatrace_token:
            self.add_secret_value("custom Dynatrace token", token)
        return self.aws.create_secret({"token": token}, region=region or self.region, name=name)

    def dynatrace_props(self, secret_arn: str, **overrides: Any) -> dict[str, Any]:
        """Typical Dynatrace ResourceProperties (registration phase); `None` removes a key."""
        props: dict[str, Any] = {
            "Vendor": "dynatrace",
            "SecretArn": secret_arn,
            "RoleName": default_role("dynatrace"),
            "EnvironmentUrl": f"https://{self.dynatrace.environment_host}",
        }
        return with_overrides(props, overrides)

    @property
    def newrelic(self) -> NewRelicEmulator:
        """The NerdGraph emulator (started on first use)."""
        if self._newrelic is None:
            self._newrelic = NewRelicEmulator(self.newrelic_key).start()
        return self._newrelic

    def newrelic_env(self) -> dict[str, str]:
        """Function environment overrides that point the binary at the NerdGraph emulator."""
        return {"REGISTRAR_VENDOR_ENDPOINT": self.newrelic.url}

    def newrelic_secret(self, region: str | None = None, *, api_key: str | None = None,
                        name: str | None = None) -> str:
        """Store `{"api_key"}` in Secrets Manager (moto); return the secret's ARN."""
        api_key = api_key or self.newrelic_key
        if api_key != self.newrelic_key:
            self.add_secret_value("custom New Relic key", api_key)
        return self.aws.create_secret({"api_key": api_key}, region=region or self.region, name=name)

    def newrelic_props(self, secret_arn: str, **overrides: Any) -> dict[str, Any]:
        """Typical New Relic ResourceProperties; `None` removes a key."""
        props: dict[str, Any] = {
            "Vendor": "newrelic",
            "SecretArn": secret_arn,
            "RoleName": default_role("newrelic"),
            "NewRelicAccountId": str(self.newrelic.accounts[0]),
        }
        return with_overrides(props, overrides)

    def blackhole(self) -> Blackhole:
        """A new endpoint that accepts requests and never answers (stopped with the sandbox)."""
        hole = Blackhole().start()
        self._blackholes.append(hole)
        return hole

    def add_secret_value(self, label: str, value: str) -> None:
        """Declare another value that must never appear in logs or responses."""
        self._extra_secrets.append(Secret(label, value))

    def datadog_secret(self, region: str | None = None, *, api_key: str | None = None,
                       app_key: str | None = None, name: str | None = None,
                       credentials: dict | None = None) -> str:
        """Store `{"api_key", "app_key"}` in Secrets Manager (moto); return the secret's ARN."""
        api_key = api_key or self.api_key
        app_key = app_key or self.app_key
        if api_key != self.api_key:
            self.add_secret_value("custom api_key", api_key)
        if app_key != self.app_key:
            self.add_secret_value("custom app_key", app_key)
        return self.aws.create_secret({"api_key": api_key, "app_key": app_key},
                                      region=region or self.region, name=name, credentials=credentials)

    def stack(self, **kwargs: Any) -> Stack:
        kwargs.setdefault("region", self.region)
        kwargs.setdefault("account", DEFAULT_ACCOUNT)
        return Stack(self.catcher, **kwargs)

    @staticmethod
    def datadog_props(secret_arn: str, **overrides: Any) -> dict[str, Any]:
        """Typical Datadog ResourceProperties; `None` in overrides removes a key."""
        props: dict[str, Any] = {
            "Vendor": "datadog",
            "SecretArn": secret_arn,
            "RoleName": default_role("datadog"),
            "DisableMetricCollection": "false",
            "DisableResourceCollection": "false",
            "CloudSecurityPostureManagement": "false",
        }
        return with_overrides(props, overrides)

    # ------------------------------------------------------------------ functions
    def base_env(self) -> dict[str, str]:
        """The function's environment, built from scratch (nothing of the caller's AWS_* leaks in)."""
        assert self._workdir is not None, "sandbox not started"
        work = Path(self._workdir.name)
        return {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": os.environ.get("HOME", str(work)),
            "AWS_LAMBDA_FUNCTION_NAME": "registrar",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"2026/01/01/[$LATEST]{secrets.token_hex(16)}",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/registrar",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            # Keep the developer's ~/.aws files (profiles, endpoints, regions) out of the SDK's reach.
            "AWS_CONFIG_FILE": str(work / "aws-config-absent"),
            "AWS_SHARED_CREDENTIALS_FILE": str(work / "aws-credentials-absent"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL": self.aws.url,
            "REGISTRAR_VENDOR_ENDPOINT": self.datadog.url,
            "REGISTRAR_RESPONSE_HOSTS": "127.0.0.1",
            "RUST_LOG": "debug",
            "_HANDLER": "bootstrap",
        }

    def env(self, overrides: dict[str, str | None] | None = None) -> dict[str, str]:
        """`base_env()` with overrides applied; a value of None removes the variable."""
        env = self.base_env()
        for key, value in (overrides or {}).items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def function(self, env: dict[str, str | None] | None = None, *, timeout_s: float = 30.0,
                 freeze: bool = True) -> Function:
        """A warm function (one process serving invocations in turn); closed with the sandbox."""
        if not self.bootstrap.exists():
            raise FileNotFoundError(f"bootstrap binary not found at {self.bootstrap}: run `cargo build` "
                                    "or set REGISTRAR_BOOTSTRAP")
        fn = Function(self.bootstrap, self.env(env), self.catcher, timeout_s=timeout_s, freeze=freeze,
                      workdir=Path(self._workdir.name) if self._workdir else None, echo_logs=self.echo_logs,
                      function_arn=f"arn:aws:lambda:{self.region}:{DEFAULT_ACCOUNT}:function:registrar")
        self.functions.append(fn)
        return fn

    def invoke(self, event: Any, env: dict[str, str | None] | None = None, *, timeout_s: float = 30.0,
               deadline_ms: int | None = None) -> Invocation:
        """One cold invocation: start a fresh process, invoke once, stop it."""
        fn = self.function(env, timeout_s=timeout_s)
        try:
            return fn.invoke(event, deadline_ms=deadline_ms)
        finally:
            fn.close()

    # ------------------------------------------------------------------ hygiene
    def secret_values(self) -> list[Secret]:
        out = [Secret("Datadog API key", self.api_key), Secret("Datadog application key", self.app_key),
               Secret("Dynatrace token", self.dynatrace_token), Secret("New Relic key", self.newrelic_key)]
        out += self._extra_secrets
        for issued in self.catcher.issued():
            out += response_url_secrets(f"ResponseURL {issued.token}", issued.raw_query)
        return out

    def spec_violations(self) -> list[str]:
        """Every way a request to, or an answer of, a Datadog emulator broke Datadog's OpenAPI
        description (sandbox/datadog_openapi.py), named by site."""
        return [f"{site}: {v}" for site, emulator in self._sites.items() for v in emulator.spec_violations]

    def leaks(self) -> list[str]:
        """Every place a secret showed up: function logs, CloudFormation responses, vendor requests."""
        return self.leak_scan().leaks

    def leak_scan(self) -> "LeakScan":
        """The scan `leaks()` reports, with what it looked for and where (for the demo's verdict)."""
        texts: dict[str, str] = {}
        for i, fn in enumerate(self.functions):
            texts[f"function #{i + 1} logs"] = fn.output_text()
        for record in self.catcher.records():
            texts[f"CloudFormation response #{record.seq}"] = record.raw.decode("utf-8", "replace")
        secrets_ = self.secret_values()
        vendor_secrets = [s for s in secrets_ if s.label.startswith("ResponseURL")]
        leaks = find_leaks(secrets_, texts)
        vendor_texts: dict[str, str] = {}
        for site, emulator in self._sites.items():
            vendor_texts[f"requests to Datadog {site}"] = "\n".join(
                f"{r.method} {r.path}?{r.raw_query}\n{r.body.decode('utf-8', 'replace')}" for r in emulator.requests)
        if self._dynatrace is not None:
            vendor_texts["requests to Dynatrace"] = "\n".join(
                f"{r.method} {r.path}?{r.raw_query}\n{r.body.decode('utf-8', 'replace')}"
                for r in self._dynatrace.requests)
        if self._newrelic is not None:
            vendor_texts["requests to New Relic"] = "\n".join(
                f"{r.method} {r.path}?{r.raw_query}\n{r.body.decode('utf-8', 'replace')}"
                for r in self._newrelic.requests)
        leaks += find_leaks(vendor_secrets, vendor_texts)
        return LeakScan(secrets=len({s.value for s in secrets_}), places=[*texts, *vendor_texts], leaks=leaks)

    def all_logs(self, last: int = 300) -> str:
        """The tail of every function's captured output, for failure reports."""
        parts = []
        for i, fn in enumerate(self.functions):
            lines = fn.logs.splitlines()[-last:]
            parts.append(f"--- function #{i + 1} ({fn.starts} start(s)) ---\n" + "\n".join(lines))
        return self.redact("\n".join(parts))

    def redact(self, text: str) -> str:
        """`text` with every secret value replaced by its label."""
        for secret in sorted(self.secret_values(), key=lambda s: -len(s.value)):
            if len(secret.value) >= 8:
                text = text.replace(secret.value, f"<redacted: {secret.label}>")
        return text
