"""The Bolt app: `/preview`, the buttons and App Home, over HTTP or Socket Mode.

Bolt verifies every request (``X-Slack-Signature`` v0 HMAC of
``v0:timestamp:body`` with the signing secret, timestamps older than 5 minutes
refused): a request that fails gets 401 before any listener runs, so nothing
changes and Slack is not called. Every listener acks first and works after the
ack (``process_before_response`` with lazy listeners): the ack only parses the
command text, which keeps it far inside Slack's 3 s; the lazy part records
desired state through the engine's request API, pokes the reconciler and
answers through the request's ``response_url`` (or App Home).

HTTP: ``POST /slack/events`` is Bolt's Starlette adapter
(``slack_bolt.adapter.starlette``) taken apart: the same request and response
conversion, with two changes — the dispatch runs on a worker thread (the sync
adapter runs it on the event loop, where every request would wait behind the
slowest ack), and a slash command mentioning "payload" is read correctly
(``SlashCommandSafeRequest``). Socket Mode
(``SLACK_APP_TOKEN`` set): Bolt's socket-mode handler; nothing is mounted.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt import Ack, App, BoltRequest, Respond
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.starlette.handler import to_starlette_response
from slack_bolt.request.internals import build_context
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from bot import metrics
from bot.config import Settings
from bot.engine.announcements import Announcements
from bot.engine.core import Core
from bot.engine.permissions import Permissions
from bot.engine.requests import Requests
from bot.runtime.wiring import Parts
from bot.state.queue import DeliveryQueue
from handlers.slack import formatting, grammar
from handlers.slack.api import web_client
from handlers.slack.commands import Commands, Reply, command_crashed
from handlers.slack.home import Home
from handlers.slack.notifier import SlackNotifier, parse_ref
from handlers.slack.people import SlackPeople
from handlers.web import WEBHOOK_TOO_LARGE, BodyTooLarge, read_capped

log = logging.getLogger("previewbot.slack")
COMMAND = "/preview"
BUTTON_COMMANDS = grammar.BUTTONS  # action id → the command its button gives
Endpoint = Callable[[Request], Awaitable[Response]]
FORM = "application/x-www-form-urlencoded"
SLACK_NOT_UTF8 = "body is not UTF-8 text, as Slack sends it"


class SlackBot:
    """Everything Slack in one process: the notifier (core → Slack), built from the
    parts before the core (which takes it as its notifier), and the Bolt app
    (Slack → core), attached to the core once it exists."""

    def __init__(self, settings: Settings) -> None:
        settings.require("slack_bot_token", *(() if settings.slack_socket_mode
                                              else ("slack_signing_secret",)))
        self.settings = settings
        self.client = web_client(settings)
        self._notifier: SlackNotifier | None = None
        self._app: App | None = None
        self._socket: SocketModeHandler | None = None
        self._stopping = threading.Event()

    def notifier_of(self, parts: Parts) -> SlackNotifier:
        """The notifier for a core over ``parts``: everything it needs, at once."""
        self.permissions = Permissions(parts.config, parts.forge, parts.clock,
                                       SlackPeople(self.client))
        self._notifier = SlackNotifier(self.client, config=parts.config, clock=parts.clock,
                                       permissions=self.permissions,
                                       announcements=Announcements(
                                           parts.store, parts.kube,
                                           readable=lambda ref: parse_ref(ref) is not None))
        return self._notifier

    @property
    def notifier(self) -> SlackNotifier:
        if self._notifier is None:
            raise RuntimeError("SlackBot.notifier_of(parts) was not called")
        return self._notifier

    def attach(self, core: Core, queue: DeliveryQueue) -> App:
        """The commands and App Home, over the core built with :meth:`notifier_of`."""
        requests = Requests(core)
        self.commands = Commands(requests, self.notifier.permissions, queue.poke)
        self.home = Home(self.client, requests, self.notifier.permissions)
        self._app = build_app(self)
        return self._app

    @property
    def app(self) -> App:
        if self._app is None:
            raise RuntimeError("SlackBot.attach(core, queue) was not called")
        return self._app

    def endpoint(self) -> Endpoint | None:
        """``POST /slack/events`` in HTTP mode; None in Socket Mode."""
        return None if self.settings.slack_socket_mode else events_endpoint(self.app)

    def start(self) -> None:
        """Socket Mode: connect in the background, retrying while Slack cannot be reached
        (the rest of `serve` runs meanwhile; once connected, Bolt reconnects by itself)."""
        if self.settings.slack_socket_mode:
            self._socket = SocketModeHandler(self.app, self.settings.slack_app_token)
            threading.Thread(target=self._connect, args=(self._socket,), name="slack-socket",
                             daemon=True).start()

    def _connect(self, socket: SocketModeHandler) -> None:
        delay = 1.0
        while not self._stopping.is_set():
            try:
                socket.connect()  # type: ignore[no-untyped-call]
                log.info("Slack: Socket Mode connected")
                return
            except Exception as error:  # Slack unreachable or refusing: try again
                metrics.ERRORS.labels(dependency="slack").inc()
                log.warning("Slack: Socket Mode cannot connect (%s); retrying in %.0fs",
                            error, delay)
                self._stopping.wait(delay)
                delay = min(delay * 2, 60.0)

    def stop(self) -> None:
        self._stopping.set()
        if self._socket is not None:
            self._socket.close()  # type: ignore[no-untyped-call]


def events_endpoint(app: App) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        try:
            text = (await read_capped(request)).decode("utf-8")
        except BodyTooLarge:
            return PlainTextResponse(WEBHOOK_TOO_LARGE, status_code=413)
        except UnicodeDecodeError:
            return PlainTextResponse(SLACK_NOT_UTF8, status_code=400)
        bolt_request = SlashCommandSafeRequest(body=text,
                                               query=request.query_params,
                                               headers=request.headers)
        response = await run_in_threadpool(app.dispatch, bolt_request)
        metrics.COMMAND_LATENCY.observe(time.perf_counter() - started)
        return to_starlette_response(response)

    return endpoint


class SlashCommandSafeRequest(BoltRequest):
    """Bolt's request, but a form without a ``payload`` field is read as the form it is.

    Bolt reads any form body containing the *word* "payload" as an interaction and,
    finding no ``payload`` field, as empty (``slack_bolt.request.internals.parse_body``):
    ``/preview status payload-api-mr-1`` would go unanswered. The raw body, which the
    signature is checked against, is left as it is."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.mode == "http" and not self.body and self.content_type == FORM:
            form = dict(parse_qsl(self.raw_body, keep_blank_values=True))
            if form and "payload" not in form:
                self.body = form
                self.context = build_context(self.context, form)

    def to_copyable(self) -> BoltRequest:
        copied = super().to_copyable()  # for the lazy listeners: keep the body read right
        copied.body = self.body
        return copied


def build_app(bot: SlackBot) -> App:
    app = App(client=bot.client, signing_secret=bot.settings.slack_signing_secret or "",
              process_before_response=True, token_verification_enabled=False,
              logger=logging.getLogger("previewbot.slack.bolt"))
    listeners = Listeners(bot.commands, bot.home, bot.notifier)
    app.command(COMMAND)(ack=listeners.ack_command, lazy=[listeners.run_command])
    app.action(re.compile(re.escape(formatting.ACTION_PREFIX) + ".*"))(
        ack=listeners.ack_button, lazy=[listeners.run_button])
    app.event("app_home_opened")(ack=listeners.ack_home, lazy=[listeners.publish_home])
    return app


class Listeners:
    """Bolt's listeners: each ``ack_*`` only parses and acks; each lazy one does the work."""

    def __init__(self, commands: Commands, home: Home, notifier: SlackNotifier) -> None:
        self.commands = commands
        self.home = home
        self.notifier = notifier

    def parse(self, text: str) -> grammar.Command | grammar.UsageError:
        try:
            return grammar.parse(text, self.commands.projects)
        except grammar.UsageError as error:
            return error

    # -- /preview ----------------------------------------------------------------
    def ack_command(self, ack: Ack, command: dict[str, Any]) -> None:
        """A usage error or help is answered in the ack itself."""
        try:
            parsed = self.parse(str(command.get("text") or ""))
        except Exception:  # a bug must still answer, never a 500 for Slack to show
            log.exception("parsing %r crashed", command.get("text"))
            parsed = grammar.UsageError(command_crashed())
        if isinstance(parsed, grammar.UsageError):
            metrics.COMMANDS.labels(command="invalid").inc()
            text, blocks = formatting.error_reply(parsed.message, parsed.subcommand)
            ack(response_type="ephemeral", text=text, blocks=blocks)
            return
        metrics.COMMANDS.labels(command=grammar.name_of(parsed)).inc()
        if isinstance(parsed, grammar.Help):
            text, blocks = formatting.help_reply(parsed.topic)
            ack(response_type="ephemeral", text=text, blocks=blocks)
            return
        ack()  # the answer follows through response_url

    def run_command(self, command: dict[str, Any], respond: Respond) -> None:
        parsed = self.parse(str(command.get("text") or ""))
        if isinstance(parsed, grammar.UsageError | grammar.Help):
            return  # answered in the ack
        reply = self.commands.run(parsed, str(command.get("user_id", "")))
        respond(response_type="ephemeral", text=reply.text, blocks=reply.blocks)

    # -- buttons --------------------------------------------------------------------
    def ack_button(self, ack: Ack, action: dict[str, Any]) -> None:
        action_id = str(action.get("action_id", ""))
        known = action_id in BUTTON_COMMANDS or action_id == formatting.OPEN
        metrics.BUTTONS.labels(action=action_id.removeprefix(formatting.ACTION_PREFIX)
                               if known else "unknown").inc()
        ack()

    def run_button(self, body: dict[str, Any], action: dict[str, Any],
                   respond: Respond) -> None:
        action_id = str(action.get("action_id", ""))
        make = BUTTON_COMMANDS.get(action_id)
        if make is None:
            return  # Open is a link: Slack opened it; nothing to do
        user_id = str((body.get("user") or {}).get("id", ""))
        env_key = str(action.get("value", ""))
        reply = self.commands.run(make(env_key), user_id)
        self.answer_button(body, action_id, user_id, env_key, reply, respond)

    def answer_button(self, body: dict[str, Any], action_id: str, user_id: str, env_key: str,
                      reply: Reply, respond: Respond) -> None:
        """The pressed message shows the outcome; a refusal only to the presser."""
        container = body.get("container") or {}
        if container.get("type") == "view":
            self.home.publish(user_id, notice=formatting.headline(reply.blocks))
            return
        if not reply.ok:
            respond(response_type="ephemeral", replace_original=False, text=reply.text,
                    blocks=reply.blocks)
            return
        pressed = (str(container.get("channel_id", "")), str(container.get("message_ts", "")))
        if self.notifier.announced_at(env_key) == pressed:
            self.notifier.refresh(env_key, note=formatting.pressed(action_id, user_id))
        else:  # a thread reply or the author's DM: replace it with the outcome
            respond(replace_original=True, text=reply.text, blocks=reply.blocks)

    # -- App Home ----------------------------------------------------------------------
    def ack_home(self, ack: Ack) -> None:
        ack()

    def publish_home(self, event: dict[str, Any]) -> None:
        if event.get("tab", "home") == "home" and event.get("user"):
            self.home.publish(str(event["user"]))
