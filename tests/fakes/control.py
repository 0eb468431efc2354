"""The fakes in a process of their own, steered over a small JSON control API.

`make demo` needs the GitLab and Slack stand-ins to outlive the command that
started them (so `previewbot serve` keeps talking to them), yet the demo still
seeds them and reads what the bot sent. `FakesHost` runs a `FakeGitLab`, a
`FakeSlack` and this control server in one process (`python -m tests.fakes serve`);
`FakesClient` is the other side.

The control API is not a SaaS API, so it is deliberately not mixed into the
fakes' own ports: it listens on its own loopback port and wants the header
`X-Fakes-Token` (random, written to the state file only).

    GET  /info    → {"pid", "gitlab": {"url", "token"}, "slack": {"url", "bot_token"},
                     "internal_errors": [...]}
    POST /call    {"fake": "gitlab"|"slack", "method": NAME, "kwargs": {...}}
                  → {"result": ...} | 400/404 {"error": "..."}

Only the seeding and inspection methods listed in `GITLAB_METHODS` and
`SLACK_METHODS` can be called; results are JSON (Slack calls and messages as
dicts).
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from tests.fakes.gitlab import FakeGitLab
from tests.fakes.http import BodyError, FakeHttpServer, HttpRequest, Reply, decode_body
from tests.fakes.slack import FakeSlack
from tests.fakes.slack.records import PostedMessage, SlackCall

TOKEN_HEADER = "X-Fakes-Token"
GITLAB_METHODS = frozenset({
    "add_project", "add_user", "add_member", "add_branch", "add_merge_request",
    "update_merge_request", "merge_request", "notes", "environments",
})
SLACK_METHODS = frozenset({"add_user", "response_url", "calls", "messages"})


class FakesControlError(RuntimeError):
    """The control API refused a call (unknown method, bad arguments, a fake's ValueError)."""


def call_as_dict(call: SlackCall) -> dict[str, Any]:
    """A Slack call as the control API sends it (headers left out: they hold the token)."""
    return {"method": call.method, "params": call.params, "path": call.path, "at": call.at}


def message_as_dict(message: PostedMessage) -> dict[str, Any]:
    """A message as it stands now (`text`, `blocks`, `edited`) and its `history`."""
    return {**dataclasses.asdict(message), "text": message.text, "blocks": message.blocks,
            "edited": message.edited}


class FakesHost(FakeHttpServer):
    """A FakeGitLab, a FakeSlack and the control server, started and stopped together."""

    def __init__(self, *, gitlab_token: str, slack_token: str, control_token: str) -> None:
        super().__init__()
        self.gitlab = FakeGitLab(token=gitlab_token)
        self.slack = FakeSlack(bot_token=slack_token)
        self._control_token = control_token

    def start(self) -> FakesHost:
        self.gitlab.start()
        self.slack.start()
        super().start()
        return self

    def stop(self) -> None:
        super().stop()
        self.slack.stop()
        self.gitlab.stop()

    def info(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "control_url": self.base_url,
            "gitlab": {"url": self.gitlab.url, "token": self.gitlab.token},
            "slack": {"url": self.slack.url, "bot_token": self.slack.bot_token},
            "internal_errors": self.gitlab.internal_errors + self.slack.internal_errors,
        }

    def _answer(self, request: HttpRequest) -> Reply:
        given = request.header(TOKEN_HEADER) or ""
        if not hmac.compare_digest(given.encode(), self._control_token.encode()):
            return Reply(401, {"error": f"missing or wrong {TOKEN_HEADER}"})
        if (request.method, request.path) == ("GET", "/info"):
            return Reply(200, self.info())
        if (request.method, request.path) != ("POST", "/call"):
            return Reply(404, {"error": "use GET /info or POST /call"})
        try:
            body = decode_body(request)
        except BodyError as error:
            return Reply(400, {"error": str(error)})
        method = self._method(str(body.get("fake")), str(body.get("method")))
        if method is None:
            return Reply(404, {"error": f"no callable {body.get('fake')}.{body.get('method')}; "
                                        f"gitlab: {sorted(GITLAB_METHODS)}, "
                                        f"slack: {sorted(SLACK_METHODS)}"})
        kwargs = body.get("kwargs") or {}
        if not isinstance(kwargs, dict):
            return Reply(400, {"error": "kwargs must be an object"})
        try:
            return Reply(200, {"result": method(**kwargs)})
        except (TypeError, ValueError) as error:  # what the fakes raise for bad seeding
            return Reply(400, {"error": f"{type(error).__name__}: {error}"})

    def _method(self, fake: str, name: str) -> Callable[..., Any] | None:
        if fake == "gitlab" and name in GITLAB_METHODS:
            found: Callable[..., Any] = getattr(self.gitlab, name)
            return found
        if fake == "slack" and name == "calls":
            return lambda after=0: [call_as_dict(c) for c in self.slack.calls[int(after):]]
        if fake == "slack" and name == "messages":
            return lambda channel=None: [message_as_dict(m) for m in self.slack.messages(channel)]
        if fake == "slack" and name in SLACK_METHODS:
            found = getattr(self.slack, name)
            return found
        return None


class FakesClient:
    """The demo's side of the control API."""

    def __init__(self, control_url: str, token: str, timeout: float = 10.0) -> None:
        self.control_url = control_url.rstrip("/")
        self._token = token
        self._timeout = timeout

    def info(self) -> dict[str, Any]:
        answer: dict[str, Any] = self._request("GET", "/info", None)
        return answer

    def gitlab(self, method: str, **kwargs: Any) -> Any:
        return self._request("POST", "/call", {"fake": "gitlab", "method": method,
                                               "kwargs": kwargs})["result"]

    def slack(self, method: str, **kwargs: Any) -> Any:
        return self._request("POST", "/call", {"fake": "slack", "method": method,
                                               "kwargs": kwargs})["result"]

    def _request(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.control_url + path, data=data, method=method,
            headers={TOKEN_HEADER: self._token, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            detail = json.loads(error.read() or b"{}").get("error", error.reason)
            raise FakesControlError(f"{method} {path}: {error.code} {detail}") from error
