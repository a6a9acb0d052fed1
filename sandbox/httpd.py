"""A small threaded HTTP server that the sandbox's emulators run on.

One job: serve HTTP/1.1 on 127.0.0.1 (a free port chosen by the kernel) from a
background thread, hand every request to an application object as a plain
`Request`, and stop cleanly. "Cleanly" matters here because the emulators
inject faults that hold connections open (a vendor that hangs, a runtime
long-poll): `stop()` wakes every waiting handler, shuts down every open
socket and joins every thread with a bounded wait, so a test never leaks a
thread or a port whatever the binary under test did.

Applications implement `handle(request) -> Reply | HANG | CLOSE`:
- a `Reply` is written with a correct Content-Length (keep-alive works);
- `HANG` keeps the connection open without an answer until the server stops;
- `CLOSE` drops the connection without writing a byte;
- a `Raw` writes its bytes as they are (a broken, non-HTTP answer) and closes.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, Self

HANG = object()
CLOSE = object()


@dataclass
class Raw:
    """Bytes written to the connection verbatim (not necessarily HTTP), which is then closed."""

    data: bytes

# Upper bound for any single blocking read/write on a sandbox socket; the
# server's stop() normally unblocks sockets long before this.
SOCKET_TIMEOUT_S = 120.0
JOIN_TIMEOUT_S = 5.0


@dataclass
class Request:
    """One HTTP request as the emulators see it."""

    method: str
    path: str  # without the query string, still percent-encoded
    raw_query: str  # exactly as sent, without the leading '?'
    headers: list[tuple[str, str]]  # as sent: original case, order, duplicates
    body: bytes
    received_at: float = field(default_factory=time.time)

    @property
    def query(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(self.raw_query, keep_blank_values=True)

    def header(self, name: str) -> str | None:
        """First value of a header (case-insensitive), '' if sent empty, None if absent."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Reply:
    """An HTTP answer: status, headers and raw body bytes."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, content_type: str = "application/json",
             headers: dict[str, str] | None = None) -> "Reply":
        all_headers = {"Content-Type": content_type}
        all_headers.update(headers or {})
        return cls(status, json.dumps(payload).encode("utf-8"), all_headers)


class App(Protocol):
    def handle(self, request: Request, server: "BackgroundServer") -> Any: ...


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "registrar-sandbox"
    # Headers and body go out in two writes; with Nagle's algorithm the body waits for the
    # client's delayed ACK (40 ms on Linux) on a kept-alive connection. Real APIs don't stall so.
    disable_nagle_algorithm = True
    sys_version = ""
    timeout = SOCKET_TIMEOUT_S

    # Silence the default stderr access log; the apps keep their own logs.
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # trailers until the empty line
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        srv: BackgroundServer = self.server.owner  # type: ignore[attr-defined]
        path, _, raw_query = self.path.partition("?")
        request = Request(
            method=self.command,
            path=path,
            raw_query=raw_query,
            headers=list(self.headers.items()),
            body=self._read_body(),
        )
        result = srv.app.handle(request, srv)
        if result is HANG:
            srv.stopping.wait()
            self.close_connection = True
            return
        if isinstance(result, Raw):
            self.close_connection = True
            self.wfile.write(result.data)
            self.wfile.flush()
            return
        if result is CLOSE:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        assert isinstance(result, Reply), f"app returned {result!r}"
        self.send_response(result.status)
        for key, value in result.headers.items():
            self.send_header(key, value)
        if result.status not in (204, 304) and not any(
                k.lower() == "content-length" for k in result.headers):
            self.send_header("Content-Length", str(len(result.body)))
        self.end_headers()
        if result.status not in (204, 304) and self.command != "HEAD":
            self.wfile.write(result.body)
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch


class _TrackedServer(ThreadingHTTPServer):
    """ThreadingHTTPServer whose connections and handler threads are tracked."""

    daemon_threads = True
    block_on_close = False  # we join our own, tracked threads (bounded) in join_threads()
    allow_reuse_address = True

    def __init__(self, owner: "BackgroundServer") -> None:
        self.owner = owner
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._conn_threads: set[threading.Thread] = set()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request, client_address):  # type: ignore[override]
        if self.owner.stopping.is_set():
            self.shutdown_request(request)
            return
        thread = threading.Thread(target=self._serve_connection, args=(request, client_address),
                                  name=f"{self.owner.name}-conn", daemon=True)
        with self._lock:
            self._conns.add(request)
            self._conn_threads.add(thread)
        thread.start()

    def _serve_connection(self, request, client_address) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - a dropped client is not an error here
            pass
        finally:
            self.shutdown_request(request)
            with self._lock:
                self._conns.discard(request)
                self._conn_threads.discard(threading.current_thread())

    def handle_error(self, request, client_address) -> None:
        return

    def close_connections(self) -> None:
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def join_threads(self, timeout: float) -> list[threading.Thread]:
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._conn_threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [t for t in threads if t.is_alive()]


class BackgroundServer:
    """Runs `app` on 127.0.0.1:<free port> in a background thread."""

    def __init__(self, app: App, name: str) -> None:
        self.app = app
        self.name = name
        self.stopping = threading.Event()
        self._server: _TrackedServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, f"{self.name} is not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "BackgroundServer":
        self._server = _TrackedServer(self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"{self.name}-accept", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, wake hung handlers, close sockets, join threads (bounded)."""
        if self._server is None:
            return
        self.stopping.set()
        self._server.shutdown()
        self._server.close_connections()
        alive = self._server.join_threads(JOIN_TIMEOUT_S)
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT_S)
        self._server = None
        if alive:
            raise RuntimeError(f"{self.name}: {len(alive)} handler thread(s) did not stop")


class ServedApp:
    """`start`, `stop` and `url` of an application that runs on its own `BackgroundServer`
    (`self._server`): the lifecycle every emulator shares."""

    _server: BackgroundServer

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def url(self) -> str:
        return self._server.url
