"""Requests to `previewbot serve` exactly as GitLab and Slack send them.

GitLab: a Merge Request Hook shaped like GitLab's documented example
(`tests/fixtures/gitlab/`), JSON, with the secret token in `X-Gitlab-Token` and a
fresh `X-Gitlab-Event-UUID`. Slack: a slash command, form-encoded, signed
`X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<timestamp>:<body>">` with the app's
signing secret and `X-Slack-Request-Timestamp`.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import http.client
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from tests.fakes.slack.records import APP_ID, TEAM_ID

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gitlab"
HOOK_FIXTURES = {"open": "merge_request_open", "update": "merge_request_update_commits",
                 "merge": "merge_request_merge", "close": "merge_request_close"}
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]

    def describe(self) -> str:
        """`202 queued`, `200 ignored (reason)`, `200` …"""
        word = str(self.body.get("status", ""))
        reason = self.body.get("reason")
        return " ".join(filter(None, [str(self.status), word, f"({reason})" if reason else ""]))


@dataclass(frozen=True)
class MergeRequest:
    project_id: int
    project_path: str
    web_base: str  # the GitLab stand-in's URL
    iid: int
    title: str
    branch: str
    sha: str
    author: str
    draft: bool = False

    @property
    def url(self) -> str:
        return f"{self.web_base}/{self.project_path}/-/merge_requests/{self.iid}"


def merge_request_hook(mr: MergeRequest, action: str, *,
                       oldrev: str | None = None) -> dict[str, Any]:
    """The Merge Request Hook GitLab sends for ``action`` (open, update, merge, close)."""
    payload: dict[str, Any] = copy.deepcopy(
        json.loads((FIXTURES / f"{HOOK_FIXTURES[action]}.json").read_text()))
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    project_url = f"{mr.web_base}/{mr.project_path}"
    payload["user"].update(username=mr.author, name=mr.author.title(),
                           email=f"{mr.author}@example.com")
    payload["project"].update(id=mr.project_id, path_with_namespace=mr.project_path,
                              web_url=project_url, default_branch="main")
    attributes = payload["object_attributes"]
    attributes.update(iid=mr.iid, title=mr.title, source_branch=mr.branch,
                      target_branch="main", source_project_id=mr.project_id,
                      target_project_id=mr.project_id, updated_at=now, action=action,
                      draft=mr.draft, work_in_progress=mr.draft, url=mr.url,
                      state={"merge": "merged", "close": "closed"}.get(action, "opened"))
    attributes["last_commit"]["id"] = mr.sha
    attributes.pop("oldrev", None)
    if oldrev is not None:
        attributes["oldrev"] = oldrev
    return payload


def post_hook(serve_url: str, secret: str, event: str, payload: dict[str, Any]) -> Answer:
    body = json.dumps(payload).encode()
    return _post(serve_url, "/webhooks/gitlab", body, {
        "Content-Type": "application/json", "X-Gitlab-Event": event,
        "X-Gitlab-Event-UUID": str(uuid.uuid4()), "X-Gitlab-Token": secret,
        "User-Agent": "GitLab/18.6.0"})


def slack_signature(secret: str, timestamp: int, body: bytes) -> str:
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def slash_command(serve_url: str, secret: str, text: str, *, user_id: str, user_name: str,
                  channel: str, response_url: str) -> Answer:
    """`/preview <text>` typed by ``user_id`` in ``channel``, as Slack posts it."""
    body = urlencode({
        "token": "deprecated-verification-token", "team_id": TEAM_ID,
        "team_domain": "demo-workspace", "channel_id": channel, "channel_name": "previews",
        "user_id": user_id, "user_name": user_name, "command": "/preview", "text": text,
        "api_app_id": APP_ID, "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": f"{uuid.uuid4().int % 10**12}.1.{uuid.uuid4().hex[:8]}",
    }).encode()
    stamp = int(time.time())
    return _post(serve_url, "/slack/events", body, {
        "Content-Type": FORM, "X-Slack-Request-Timestamp": str(stamp),
        "X-Slack-Signature": slack_signature(secret, stamp, body)})


def _post(base_url: str, path: str, body: bytes, headers: dict[str, str]) -> Answer:
    connection = http.client.HTTPConnection(urlsplit(base_url).netloc, timeout=10)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    try:
        decoded = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        decoded = {"text": raw.decode(errors="replace")}
    return Answer(response.status, decoded if isinstance(decoded, dict) else {"body": decoded})
