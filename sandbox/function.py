"""Runs the real `bootstrap` binary the way Lambda does, one function at a time.

One job: the function's process lifecycle around a `RuntimeAPI`:
- spawn the binary with an environment built from scratch (PATH, HOME and the
  Lambda/sandbox variables only; nothing of the developer's AWS_* or proxy
  settings leaks in), in its own process group;
- capture stdout and stderr line by line (the binary logs JSON lines on stdout);
- deliver invocations, enforce the function timeout like Lambda (SIGKILL at the
  deadline, reported as a timeout), and freeze the process (SIGSTOP) while it
  waits for work, thawing it (SIGCONT) when the next invocation arrives, so
  work left running after the runtime response does not silently complete;
- restart a fresh process (a cold start) when the previous one died;
- always kill the process and stop the Runtime API on `close()`.

`invoke()` returns an `Invocation` with the CloudFormation response recorded at
the event's ResponseURL, the runtime result and the timings.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .responses import PREFIX, ResponseCatcher, ResponseRecord
from .runtime_api import RuntimeAPI, parse_payload

INIT_TIMEOUT_S = 10.0  # Lambda's init phase limit
CLOSE_GRACE_S = 1.0
READER_JOIN_S = 5.0


@dataclass
class LogLine:
    stream: str  # "stdout" | "stderr" | "sandbox"
    at: float  # time.monotonic()
    text: str


@dataclass
class Invocation:
    """What one invocation produced."""

    request_id: str
    event: Any
    token: str | None
    cfn_records: list[ResponseRecord]  # accepted PUTs for this event's ResponseURL during the invocation
    cfn_attempts: list[ResponseRecord]  # every request to that ResponseURL (including refused ones)
    runtime_result: tuple[str, Any]  # ("response"|"error", payload) or ("timeout"|"exited"|"init-timeout", detail)
    runtime_result_count: int
    elapsed_s: float
    deadline_ms: int | None  # Lambda-Runtime-Deadline-Ms as sent
    deadline_overridden: bool  # True when a test forced the header (past/absurd values)
    timeout_s: float
    timed_out: bool
    exit_code: int | None  # set when the process ended during this invocation
    started_at: float  # time.monotonic()
    delivered_at: float | None
    delivered_epoch: float | None  # time.time() at delivery (compare with ResponseRecord.received_at)
    ended_at: float
    log_lines: list[LogLine] = field(default_factory=list)

    @property
    def cfn(self) -> ResponseRecord | None:
        """The (first) CloudFormation response for this event, or None if none arrived."""
        return self.cfn_records[0] if self.cfn_records else None

    @property
    def cfn_count(self) -> int:
        return len(self.cfn_records)

    @property
    def body(self) -> dict:
        assert self.cfn is not None, f"no CloudFormation response arrived; runtime result {self.runtime_result!r}"
        return self.cfn.body_json

    @property
    def status(self) -> str | None:
        return self.body.get("Status") if self.cfn else None

    @property
    def reason(self) -> str:
        return self.body.get("Reason") or ""

    @property
    def physical_id(self) -> str | None:
        return self.body.get("PhysicalResourceId")

    @property
    def data(self) -> dict:
        return self.body.get("Data") or {}

    @property
    def logs(self) -> str:
        return "\n".join(f"[{line.stream}] {line.text}" for line in self.log_lines)

    def describe(self) -> str:
        """Short human summary, for assertion messages (the logs go to the test report, redacted)."""
        cfn = self.cfn.raw.decode("utf-8", "replace") if self.cfn else "<no CloudFormation response>"
        return (f"runtime={self.runtime_result!r} timed_out={self.timed_out} exit={self.exit_code} "
                f"elapsed={self.elapsed_s:.2f}s cfn_count={self.cfn_count} "
                f"attempts={[r.served_status for r in self.cfn_attempts]}\nresponse: {cfn}")


def token_of(event: Any) -> str | None:
    """The ResponseURL token (last path segment) of a CloudFormation event, if any."""
    if not isinstance(event, dict) or not isinstance(event.get("ResponseURL"), str):
        return None
    path = urllib.parse.urlsplit(event["ResponseURL"]).path
    return path[len(PREFIX):] if path.startswith(PREFIX) else None


class Function:
    """A Lambda function backed by the real binary; warm across invocations."""

    def __init__(self, bootstrap: Path, env: dict[str, str], catcher: ResponseCatcher, *,
                 timeout_s: float = 30.0, freeze: bool = True, workdir: Path | None = None,
                 function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:registrar",
                 echo_logs: bool = False) -> None:
        self.bootstrap = Path(bootstrap)
        self.catcher = catcher
        self.timeout_s = timeout_s
        self.freeze = freeze
        self.workdir = workdir
        self.echo_logs = echo_logs
        self.log_lines: list[LogLine] = []
        self.invocations: list[Invocation] = []
        self.starts = 0
        self._env = dict(env)
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._readers: list[threading.Thread] = []
        self._frozen = False
        self._closed = False
        self.runtime = RuntimeAPI(function_arn, on_idle=self._freeze, on_submit=self._thaw).start()
        self.env = dict(self._env, AWS_LAMBDA_RUNTIME_API=self.runtime.address)

    # ------------------------------------------------------------------ process
    def _spawn(self) -> None:
        self._reap()
        self.starts += 1
        self._frozen = False
        self._note(f"starting {self.bootstrap} (start #{self.starts})")
        self._proc = subprocess.Popen(
            [str(self.bootstrap)], env=self.env, cwd=str(self.workdir) if self.workdir else None,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, close_fds=True)
        self._readers = [
            threading.Thread(target=self._read, args=(self._proc.stdout, "stdout"), daemon=True, name="fn-stdout"),
            threading.Thread(target=self._read, args=(self._proc.stderr, "stderr"), daemon=True, name="fn-stderr"),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, pipe, stream: str) -> None:
        try:
            for raw in iter(pipe.readline, b""):
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                with self._lock:
                    self.log_lines.append(LogLine(stream, time.monotonic(), text))
                if self.echo_logs:
                    print(f"[bootstrap {stream}] {text}", file=sys.stderr, flush=True)
        except (OSError, ValueError):
            pass
        finally:
            try:
                pipe.close()
            except OSError:
                pass

    def _note(self, text: str) -> None:
        with self._lock:
            self.log_lines.append(LogLine("sandbox", time.monotonic(), text))

    def _signal(self, sig: int) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)  # our own process group (start_new_session)
        except ProcessLookupError:
            pass

    def _freeze(self) -> None:
        if self.freeze and not self._frozen and self._proc is not None and self._proc.poll() is None:
            self._signal(signal.SIGSTOP)
            self._frozen = True

    def _thaw(self) -> None:
        if self._frozen:
            self._signal(signal.SIGCONT)
            self._frozen = False

    def _kill(self) -> None:
        if self._proc is None:
            return
        self._signal(signal.SIGKILL)
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._frozen = False

    def _reap(self) -> None:
        """Join the readers of a finished process (bounded)."""
        for reader in self._readers:
            reader.join(READER_JOIN_S)
        self._readers = []

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    # ------------------------------------------------------------------ invoking
    def invoke(self, event: Any, *, timeout_s: float | None = None, deadline_ms: int | None = None) -> Invocation:
        """Deliver one event and wait (bounded by the timeout) for the runtime's answer.

        `deadline_ms` overrides the Lambda-Runtime-Deadline-Ms header (e.g. 600000, as
        cargo-lambda sends); the real kill still happens `timeout_s` after delivery.
        """
        if self._closed:
            raise RuntimeError("function is closed")
        timeout = self.timeout_s if timeout_s is None else timeout_s
        payload = event if isinstance(event, bytes) else json.dumps(event).encode("utf-8")
        token = token_of(event if not isinstance(event, bytes) else parse_payload(event))
        started = time.monotonic()
        log_start = len(self.log_lines)
        seq0 = self.catcher.seq
        if not self.alive:
            if self._proc is not None:
                self._note(f"process exited with {self._proc.returncode}; cold start")
            self._spawn()
        pending = self.runtime.submit(payload, timeout, deadline_ms)
        timed_out, exit_code, kind, detail = False, None, None, None

        # Phase 1: delivery (the init phase has its own limit).
        while not pending.delivered.wait(0.02):
            if not self.alive:
                exit_code = self._proc.returncode if self._proc else None
                kind, detail = "exited", f"process exited with {exit_code} before taking the invocation"
                break
            if time.monotonic() - started > INIT_TIMEOUT_S:
                self._kill()
                kind, detail = "init-timeout", f"no /next within {INIT_TIMEOUT_S}s"
                break
        if kind is not None:
            self.runtime.withdraw(pending)
        else:
            # Phase 2: run until the runtime answers, the process dies, or the deadline kills it.
            kill_at = (pending.delivered_at or started) + timeout
            while not pending.done.wait(0.02):
                if not self.alive:
                    exit_code = self._proc.returncode if self._proc else None
                    kind, detail = "exited", f"Runtime exited with {exit_code}"
                    break
                if time.monotonic() >= kill_at:
                    self._kill()
                    timed_out = True
                    exit_code = self._proc.returncode if self._proc else None
                    kind, detail = "timeout", f"Task timed out after {timeout:.2f} seconds"
                    self._note(detail)
                    break
            if pending.done.is_set() and kind is None:
                kind, detail = pending.result_kind, parse_payload(pending.result_body)
        ended = time.monotonic()
        if exit_code is not None:
            self._reap()
        attempts = self.catcher.records(token, since_seq=seq0) if token else []
        with self._lock:
            lines = list(self.log_lines[log_start:])
        invocation = Invocation(
            request_id=pending.request_id, event=event, token=token,
            cfn_records=[r for r in attempts if r.accepted], cfn_attempts=attempts,
            runtime_result=(kind or "unknown", detail), runtime_result_count=pending.result_count,
            elapsed_s=ended - started, deadline_ms=pending.deadline_ms,
            deadline_overridden=deadline_ms is not None, timeout_s=timeout,
            timed_out=timed_out, exit_code=exit_code, started_at=started,
            delivered_at=pending.delivered_at, delivered_epoch=pending.delivered_epoch, ended_at=ended, log_lines=lines)
        self.invocations.append(invocation)
        return invocation

    # ------------------------------------------------------------------ logs
    @property
    def logs(self) -> str:
        """Everything the binary printed (stdout and stderr), plus sandbox notes."""
        with self._lock:
            return "\n".join(f"[{line.stream}] {line.text}" for line in self.log_lines)

    def output_text(self) -> str:
        """Only what the binary itself printed (for secret scans)."""
        with self._lock:
            return "\n".join(line.text for line in self.log_lines if line.stream != "sandbox")

    def log_records(self) -> list[Any]:
        """stdout lines parsed as JSON (a line that is not JSON is returned as a str)."""
        with self._lock:
            lines = [line.text for line in self.log_lines if line.stream == "stdout"]
        out: list[Any] = []
        for text in lines:
            try:
                out.append(json.loads(text))
            except ValueError:
                out.append(text)
        return out

    # ------------------------------------------------------------------ teardown
    def close(self) -> None:
        """Kill the process (thawing it first), stop the Runtime API; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.alive:
                self._thaw()
                self._signal(signal.SIGCONT)
                self._signal(signal.SIGTERM)
                try:
                    self._proc.wait(timeout=CLOSE_GRACE_S)
                except subprocess.TimeoutExpired:
                    self._kill()
            self._reap()
        finally:
            self.runtime.stop()

    def __enter__(self) -> "Function":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
