"""An endpoint that accepts connections and never answers.

One job: stand in for a dependency that is unreachable in the worst way — the
TCP connection succeeds, the request is read, and then nothing comes back
(a Lambda in a VPC without a route, an overloaded AWS endpoint). Point
`AWS_ENDPOINT_URL` or `REGISTRAR_VENDOR_ENDPOINT` at it; every held
connection is released when the sandbox stops.
"""

from __future__ import annotations

from typing import Any

from .httpd import HANG, BackgroundServer, Request, ServedApp


class Blackhole(ServedApp):
    """Counts the requests it swallows."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._server = BackgroundServer(self, name="blackhole")

    def handle(self, request: Request, server: BackgroundServer) -> Any:
        self.requests.append(request)
        return HANG
