"""The Datadog emulator's HTTP control API under `/_sandbox/`, for the demo and manual poking
(the tests call the emulator's methods directly): read the state, seed and remove accounts,
inject faults, set the rate limit and the permission lists, reset.
"""

from __future__ import annotations

import copy

from .httpd import Reply, Request


class DatadogControl:
    """Mixed into `DatadogEmulator` (sandbox/datadog.py), whose state and methods it uses."""

    def _control(self, request: Request) -> Reply:
        path, method = request.path, request.method
        try:
            body = request.json() if request.body else {}
        except ValueError:
            return Reply.json(400, {"error": "body is not JSON"})
        if path == "/_sandbox/state" and method == "GET":
            with self._lock:
                state = {"site": self.site, "accounts": copy.deepcopy(list(self._accounts.values())),
                         "counters": self.counters.__dict__.copy(),
                         "faults": [r.__dict__.copy() for r in self._faults]}
            state["counters"]["by_status"] = {str(k): v for k, v in state["counters"]["by_status"].items()}
            return Reply.json(200, state)
        if path == "/_sandbox/accounts" and method == "POST":
            aws_account_id = body.pop("aws_account_id", None)
            if not aws_account_id:
                return Reply.json(400, {"error": "aws_account_id is required"})
            return Reply.json(200, {"data": self.seed_account(aws_account_id, **body)})
        if path.startswith("/_sandbox/accounts/") and method == "DELETE":
            try:
                self.remove_account(path.rsplit("/", 1)[1])
            except KeyError:
                return Reply.json(404, {"error": "no such account"})
            return Reply(204)
        if path == "/_sandbox/faults" and method == "POST":
            self.add_fault(body.get("method", "*"), body.get("path_prefix", "/api/"), body.get("steps", []),
                           bool(body.get("repeat", False)))
            return Reply.json(200, {"ok": True})
        if path == "/_sandbox/rate-limit" and method == "POST":
            self.set_rate_limit(body.get("limit"), int(body.get("period", 10)))
            return Reply.json(200, {"ok": True})
        if path == "/_sandbox/permissions" and method == "POST":
            self.set_permissions(body.get("standard"), body.get("resource_collection"))
            return Reply.json(200, {"ok": True})
        if path == "/_sandbox/reset" and method == "POST":
            self.reset()
            return Reply.json(200, {"ok": True})
        return Reply.json(404, {"error": "unknown control endpoint"})
