"""`FakeSlack`: a local HTTP server speaking the Slack Web API methods previewbot uses.

    with FakeSlack() as fake:
        client = slack_sdk.WebClient(token=fake.bot_token, base_url=fake.url)
        client.chat_postMessage(channel="C0PREVIEWS", text="hi")
        fake.wait_for(lambda call: call.method == "chat.postMessage")

Like Slack, API errors are HTTP 200 with {"ok": false, "error": ...}: a missing token
answers `not_authed`, a wrong one `invalid_auth`. Posting to a user id (U…) posts to
that user's DM channel (D…), as Slack does. `set_down(True)` answers HTTP 503;
`fail_next(n, error)` fails the next n calls (`ratelimited` as HTTP 429, Retry-After: 1;
`status=500` for a server error).

`response_url(channel, user, message_ts)` makes a response URL as Slack puts in a
slash command or interaction payload; what the app POSTs there (JSON: `text`,
`blocks`, `response_type`, `replace_original`, `delete_original`) is recorded as a
call named "response_url" and applied: an ephemeral message to the user (the
default), a message in the channel (`in_channel`), or an edit/deletion of the
message the button was in.

Socket Mode: `apps.connections.open` (with `app_token`) answers a `ws://` URL on this
server; `socket_request(kind, payload)` sends an envelope over the app's connection
and returns its acknowledgement (see `socket_mode`).
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from tests.fakes.http import BodyError, FakeHttpServer, HttpRequest, Reply, decode_body
from tests.fakes.slack.records import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    TEAM_ID,
    MessageVersion,
    PostedMessage,
    ResponseHook,
    SlackCall,
    SlackError,
    SlackUser,
    StoredMessage,
    TimestampClock,
    decode_params,
    dm_channel_id,
    list_param,
    message_version_of,
)
from tests.fakes.slack.socket_mode import SocketSession

API_PREFIX = "/api/"
RESPONSE_PREFIX = "/response/"
RESPONSE_URL_METHOD = "response_url"


class FakeSlack(FakeHttpServer):
    def __init__(
        self, bot_token: str = "xoxb-test-token", app_token: str = "xapp-test-token"
    ) -> None:
        super().__init__()
        self.bot_token = bot_token
        self.app_token = app_token  # app-level token: Socket Mode's apps.connections.open
        self._sessions: list[SocketSession] = []
        self._changed = threading.Condition(self._lock)
        self._calls: list[SlackCall] = []
        self._messages: dict[tuple[str, str], StoredMessage] = {}
        self._users: dict[str, SlackUser] = {}
        self._hooks: dict[str, ResponseHook] = {}
        self._home_views: dict[str, dict[str, Any]] = {}
        self._pending_failures: deque[tuple[str, int | None]] = deque()
        self._clock = TimestampClock()
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "users.lookupByEmail": self._users_lookup_by_email,
            "users.info": self._users_info,
            "conversations.open": self._conversations_open,
            "views.publish": self._views_publish,
            "apps.connections.open": self._apps_connections_open,
        }

    @property
    def url(self) -> str:
        """The `base_url` for `slack_sdk.WebClient` (ends with a slash, as it requires)."""
        return self.base_url + API_PREFIX

    # --- seeding -------------------------------------------------------------------
    def add_user(
        self, user_id: str, email: str, name: str | None = None, *, guest: bool = False
    ) -> dict[str, Any]:
        """A workspace member (or, with `guest`, a multi-channel guest), found by
        `users.lookupByEmail` (case-insensitive) and `users.info`."""
        with self._lock:
            user = SlackUser(user_id, email, name or email.split("@", maxsplit=1)[0], guest)
            self._users[email.lower()] = user
            return user.as_api_user()

    def response_url(self, channel: str, user: str, message_ts: str | None = None) -> str:
        """A response URL for a payload this test sends as Slack would."""
        with self._lock:
            hook_id = f"{len(self._hooks) + 1:06d}"
            self._hooks[hook_id] = ResponseHook(channel, user, message_ts)
            return f"{self.base_url}{RESPONSE_PREFIX}{TEAM_ID}/{hook_id}/secret"

    # --- inspection ----------------------------------------------------------------
    @property
    def calls(self) -> list[SlackCall]:
        with self._lock:
            return list(self._calls)

    def messages(self, channel: str | None = None) -> list[PostedMessage]:
        """Posted (not ephemeral) messages in posting order, as they stand now."""
        return [m for m in self._snapshots(channel) if m.ephemeral_to is None]

    def ephemeral_messages(
        self, channel: str | None = None, user: str | None = None
    ) -> list[PostedMessage]:
        return [
            m
            for m in self._snapshots(channel)
            if m.ephemeral_to is not None and user in (None, m.ephemeral_to)
        ]

    def thread_replies(self, channel: str, thread_ts: str) -> list[PostedMessage]:
        return [m for m in self.messages(channel) if m.thread_ts == thread_ts]

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        """The App Home view last published for `user_id`."""
        with self._lock:
            return self._home_views.get(user_id)

    @staticmethod
    def dm_channel(user_id: str) -> str:
        return dm_channel_id(user_id)

    def wait_for(
        self, predicate: Callable[[SlackCall], bool], timeout: float = 10.0, *, after: int = 0
    ) -> SlackCall:
        """The first call (from index `after` on) matching `predicate`, waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                match = next((c for c in self._calls[after:] if predicate(c)), None)
                if match is not None:
                    return match
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    received = [(c.method, c.params) for c in self._calls[after:]] or "nothing"
                    raise AssertionError(
                        f"no matching Slack call within {timeout}s; received: {received}"
                    )
                self._changed.wait(remaining)

    # --- failure injection ---------------------------------------------------------
    def fail_next(self, n: int = 1, error: str = "ratelimited", *,
                  status: int | None = None) -> None:
        """Fail the next `n` Web API calls with `error`: `ratelimited` as HTTP 429 with
        Retry-After: 1, others as HTTP 200 with ok=false, or as HTTP `status` (a 5xx)."""
        with self._lock:
            self._pending_failures.extend([(error, status)] * n)

    def recover(self) -> None:
        """Answer normally again: not down, no failures left pending."""
        with self._lock:
            self._down = False
            self._pending_failures.clear()

    # --- dispatch ------------------------------------------------------------------
    def _answer(self, request: HttpRequest) -> Reply:
        if request.path.startswith(RESPONSE_PREFIX):
            return self._respond(request)
        method = request.path[len(API_PREFIX) :] if request.path.startswith(API_PREFIX) else ""
        try:
            body = decode_body(request)
        except BodyError:
            return self._record_and_reply(request, method, {}, _error("invalid_json"))
        raw = {name: values[-1] for name, values in request.query.items()} | body
        params = decode_params(raw)
        return self._record_and_reply(request, method, params, self._reply(request, method, params))

    def _record_and_reply(
        self, request: HttpRequest, method: str, params: dict[str, Any], reply: Reply
    ) -> Reply:
        self._calls.append(SlackCall(method, params, request.headers, request.path, time.time()))
        self._changed.notify_all()
        return reply

    def _reply(self, request: HttpRequest, method: str, params: dict[str, Any]) -> Reply:
        if self._down:
            return Reply(503, {"ok": False, "error": "service_unavailable"})
        if self._pending_failures:
            error, status = self._pending_failures.popleft()
            if status is not None:
                return Reply(status, {"ok": False, "error": error})
            if error == "ratelimited":
                return Reply(429, {"ok": False, "error": error}, {"Retry-After": "1"})
            return _error(error)
        token = _token_of(request, params)
        if not token:
            return _error("not_authed")
        if token != (self.app_token if method == "apps.connections.open" else self.bot_token):
            return _error("invalid_auth")
        handler = self._methods.get(method)
        if handler is None:
            return _error("unknown_method")
        try:
            return Reply(200, {"ok": True, **handler(params)})
        except SlackError as exc:
            return _error(exc.error)

    # --- methods -------------------------------------------------------------------
    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://fake-workspace.slack.com/",
            "team": "Fake Workspace",
            "user": "previewbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_of(params)
        thread_ts = params.get("thread_ts") or None
        stored = StoredMessage(channel, self._clock.next(), thread_ts, [message_version_of(params)])
        self._messages[(channel, stored.ts)] = stored
        return {"channel": channel, "ts": stored.ts, "message": stored.as_api_message()}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self._stored_message(params)
        current = stored.versions[-1]
        # Slack keeps the fields an update leaves out.
        stored.versions.append(
            MessageVersion(
                text=str(params["text"]) if "text" in params else current.text,
                blocks=list_param(params, "blocks") if "blocks" in params else current.blocks,
                attachments=(
                    list_param(params, "attachments")
                    if "attachments" in params
                    else current.attachments
                ),
            )
        )
        message = stored.as_api_message()
        return {
            "channel": stored.channel,
            "ts": stored.ts,
            "text": message["text"],
            "message": message,
        }

    def _chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self._stored_message(params)
        del self._messages[(stored.channel, stored.ts)]
        return {"channel": stored.channel, "ts": stored.ts}

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_of(params)
        user = params.get("user")
        if not user:
            raise SlackError("user_not_found")
        stored = StoredMessage(
            channel,
            self._clock.next(),
            params.get("thread_ts") or None,
            [message_version_of(params)],
        )
        stored.ephemeral_to = str(user)
        self._messages[(channel, stored.ts)] = stored
        return {"message_ts": stored.ts}

    def _users_lookup_by_email(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self._users.get(str(params.get("email", "")).lower())
        if user is None:
            raise SlackError("users_not_found")
        return {"user": user.as_api_user()}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        wanted = str(params.get("user") or "")
        user = next((u for u in self._users.values() if u.id == wanted), None)
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user.as_api_user()}

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = [u for u in str(params.get("users") or "").split(",") if u]
        if params.get("channel"):
            return {"channel": {"id": str(params["channel"])}, "already_open": True}
        if not users:
            raise SlackError("users_list_not_supplied")
        channel_id = dm_channel_id(users[0]) if len(users) == 1 else "G" + "".join(sorted(users))
        already_open = any(key[0] == channel_id for key in self._messages)
        return {"channel": {"id": channel_id}, "already_open": already_open, "no_op": already_open}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id, view = params.get("user_id"), params.get("view")
        if not user_id:
            raise SlackError("user_not_found")
        if not isinstance(view, dict):
            raise SlackError("invalid_arguments")
        published = {"id": f"V{len(self._home_views) + 1:08d}", "team_id": TEAM_ID, **view}
        self._home_views[str(user_id)] = published
        return {"view": published}

    # --- Socket Mode -----------------------------------------------------------------
    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        ticket = uuid.uuid4().hex
        return {"url": f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={APP_ID}"}

    def _websocket(self, request: HttpRequest) -> Callable[[socket.socket], None] | None:
        if not request.path.startswith("/link/"):
            return None
        session = SocketSession()

        def run(sock: socket.socket) -> None:
            session.attach(sock)
            with self._lock:  # only now may a test send over it
                self._sessions.append(session)
                self._changed.notify_all()
            session.run()

        return run

    def socket_request(
        self, kind: str, payload: dict[str, Any], timeout: float = 10.0
    ) -> dict[str, Any]:
        """Send an envelope over the app's newest open connection (waiting up to `timeout`
        for one); the app's acknowledgement."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (open_ := [s for s in self._sessions if not s.closed.is_set()]):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no Socket Mode connection within {timeout}s")
                self._changed.wait(remaining)
        return open_[-1].request(kind, payload, max(0.1, deadline - time.monotonic()))

    @property
    def socket_connections(self) -> int:
        with self._lock:
            return len([s for s in self._sessions if not s.closed.is_set()])

    def stop(self) -> None:
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            session.stop.set()
        super().stop()

    # --- response URLs ---------------------------------------------------------------
    def _respond(self, request: HttpRequest) -> Reply:
        parts = request.path[len(RESPONSE_PREFIX) :].split("/")
        hook = self._hooks.get(parts[1]) if len(parts) == 3 else None
        try:
            params = decode_params(decode_body(request))
        except BodyError:
            params = {}
        self._calls.append(SlackCall(RESPONSE_URL_METHOD, params, request.headers, request.path,
                                     time.time()))
        self._changed.notify_all()
        if self._down:
            return Reply(503, {"ok": False, "error": "service_unavailable"})
        if hook is None:
            return Reply(404, {"ok": False, "error": "expired_url"})
        try:
            self._apply_response(hook, params)
        except SlackError as exc:
            return Reply(400, {"ok": False, "error": exc.error})
        return Reply(200, {"ok": True})

    def _apply_response(self, hook: ResponseHook, params: dict[str, Any]) -> None:
        original = self._messages.get((hook.channel, hook.message_ts or ""))
        if params.get("delete_original") and original is not None:
            del self._messages[(hook.channel, original.ts)]
            return
        version = message_version_of(params)
        if params.get("replace_original") and original is not None:
            original.versions.append(version)
            return
        stored = StoredMessage(hook.channel, self._clock.next(), None, [version])
        if params.get("response_type") != "in_channel":
            stored.ephemeral_to = hook.user
        self._messages[(hook.channel, stored.ts)] = stored

    # --- helpers -------------------------------------------------------------------
    def _channel_of(self, params: dict[str, Any]) -> str:
        channel = str(params.get("channel") or "")
        if not channel:
            raise SlackError("channel_not_found")
        # Posting to a user id lands in the DM with that user.
        return dm_channel_id(channel) if channel[0] in "UW" else channel

    def _stored_message(self, params: dict[str, Any]) -> StoredMessage:
        channel = self._channel_of(params)
        stored = self._messages.get((channel, str(params.get("ts") or "")))
        if stored is None or stored.ephemeral_to is not None:
            raise SlackError("message_not_found")
        return stored

    def _snapshots(self, channel: str | None) -> list[PostedMessage]:
        with self._lock:
            stored = sorted(self._messages.values(), key=lambda m: float(m.ts))
            return [m.snapshot() for m in stored if channel in (None, m.channel)]


def _error(error: str) -> Reply:
    return Reply(200, {"ok": False, "error": error})


def _token_of(request: HttpRequest, params: dict[str, Any]) -> str:
    authorization = request.header("authorization") or ""
    if authorization.lower().startswith("bearer "):
        return authorization[len("bearer ") :].strip()
    return str(params.get("token") or "")
