"""Core → Slack: the ``Notifier`` port over the Slack Web API (README "Slack app").

One announcement per environment, in its project's channel, edited in place
with ``chat.update`` as the state changes (deploying → ready with the URL →
failed with the reason → expiring → tearing down (and what holds it, when it is
stuck) → gone, and why); each event is also a reply
in the announcement's thread. An expiry warning also goes to the MR author as a
direct message with an Extend button.

Where each announcement is (Redis and the namespace, under a lock per
environment) is the engine's ``Announcements``; this adapter only speaks Slack.
The engine swallows a notifier's errors: Slack being
down never fails a deploy.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import Config
from bot.domain.errors import PreviewError
from bot.domain.model import Clock, Environment
from bot.domain.refusals import Refusal
from bot.engine.announcements import Announcements
from bot.engine.notify import Notice, NoticeKind
from bot.engine.permissions import Permissions
from handlers.slack import formatting
from handlers.slack.api import error_code, slack_errors

log = logging.getLogger("previewbot.slack")
GONE_MESSAGE = frozenset({"message_not_found", "channel_not_found", "cant_update_message",
                          "is_archived"})


def parse_ref(ref: str) -> tuple[str, str] | None:
    channel, slash, ts = ref.partition("/")
    return (channel, ts) if slash and channel and ts else None


class SlackNotifier:
    """Everything it needs arrives at construction: it is built before the core, which
    takes it as its notifier."""

    def __init__(self, client: WebClient, *, config: Config, clock: Clock,
                 permissions: Permissions, announcements: Announcements) -> None:
        self.client = client
        self.config = config
        self.clock = clock
        self.permissions = permissions
        self.announcements = announcements

    # -- the port ------------------------------------------------------------
    def report_plan(self, text: str) -> None:
        """A dry-run pass's plan, once in each projects' channel (``dry_run: true``)."""
        body = formatting.dry_run_plan(text)
        for channel in dict.fromkeys(p.channel for p in self.config.projects):
            try:
                self.client.chat_postMessage(channel=channel, text=body)
            except SlackApiError as error:
                log.warning("could not post the dry-run plan to %s: %s", channel, error)

    def refused(self, refusal: Refusal) -> None:
        """One message in the project's channel; raises when Slack did not take it (the
        engine tells it again with the next refusal)."""
        project = self.config.project_by_path(refusal.project_path)
        if project is None:
            return
        text, blocks = formatting.refused(refusal)
        with slack_errors("chat.postMessage (refusal)"):
            self.client.chat_postMessage(channel=project.channel, text=text, blocks=blocks,
                                         unfurl_links=False)

    def notify(self, notice: Notice) -> None:
        env = notice.env
        project = self.config.project_by_path(env.desired.project_path)
        if project is None:
            return
        now = self.clock.now()
        text, blocks = formatting.announcement(env, now, kind=notice.kind, reason=notice.reason)
        with self.announcements.announcing(env.key):
            ref = self.announcement_of(env)
            if ref is None and notice.kind in (NoticeKind.TEARING_DOWN, NoticeKind.TORN_DOWN):
                log.info("%s %s; it was never announced, so nothing to update", env.key,
                         notice.kind.value.replace("-", " "))
                return
            ref = self._show(env, project.channel, ref, text, blocks)
        channel, ts = ref
        if notice.kind is not NoticeKind.TORN_DOWN:
            # Before the extras: the namespace is the durable copy of where the
            # announcement is, and once the thread reply is seen the ref is there too.
            self.announcements.keep_on_namespace(env, f"{channel}/{ts}")
        # The announcement shows where the environment stands: once it is right the
        # notice is delivered. The thread reply and the author's message are extras; a
        # failure of theirs is logged, never owed (a catch-up would repeat the reply).
        reply_text, reply_blocks = formatting.event_reply(env, notice.kind, notice.reason, now)
        try:
            with slack_errors("chat.postMessage (thread reply)"):
                self.client.chat_postMessage(channel=channel, thread_ts=ts, text=reply_text,
                                             blocks=reply_blocks, unfurl_links=False)
        except PreviewError as error:
            log.warning("%s: %s thread reply not sent: %s", env.key, notice.kind.value, error)
        if notice.kind is NoticeKind.EXPIRING:
            try:
                self._message_author(env, notice.reason, channel)
            except PreviewError as error:
                log.warning("%s: expiry message to its author not sent: %s", env.key, error)
        if notice.kind is NoticeKind.TORN_DOWN:
            self.announcements.remember(env.key, None)  # a new lifecycle, a new message

    def refresh(self, env_key: str, note: str) -> bool:
        """Re-render the announcement from the current record, with ``note`` (who pressed
        what); False when the environment has no announcement."""
        env = self.announcements.environment(env_key)
        project = self.config.project_by_path(env.desired.project_path) if env else None
        if env is None or project is None:
            return False
        text, blocks = formatting.announcement(env, self.clock.now(), note=note)
        with self.announcements.announcing(env.key):
            ref = self.announcement_of(env)
            if ref is None:
                return False
            self._show(env, project.channel, ref, text, blocks)
        return True

    # -- the announcement ------------------------------------------------------
    def announced_at(self, env_key: str) -> tuple[str, str] | None:
        """(channel, ts) of the environment's announcement as Redis keeps it; None."""
        stored = self.announcements.stored(env_key)
        return parse_ref(stored) if stored else None

    def announcement_of(self, env: Environment) -> tuple[str, str] | None:
        """(channel, ts) from Redis, else from the namespace (then Redis learns it again)."""
        kept = self.announcements.of(env)
        return parse_ref(kept) if kept else None

    def _show(self, env: Environment, channel: str, ref: tuple[str, str] | None, text: str,
              blocks: formatting.Blocks) -> tuple[str, str]:
        """Edit the announcement in place; post it when there is none (or it was deleted)."""
        if ref is not None:
            with slack_errors("chat.update (announcement)"):
                try:
                    self.client.chat_update(channel=ref[0], ts=ref[1], text=text, blocks=blocks)
                    return ref
                except SlackApiError as error:
                    if error_code(error) not in GONE_MESSAGE:
                        raise
                    log.warning("%s: announcement %s/%s is gone (%s); posting a new one",
                                env.key, ref[0], ref[1], error_code(error))
        with slack_errors("chat.postMessage (announcement)"):
            posted = self.client.chat_postMessage(channel=channel, text=text, blocks=blocks,
                                                  unfurl_links=False)
        ref = (str(posted["channel"]), str(posted["ts"]))
        self.announcements.remember(env.key, f"{ref[0]}/{ref[1]}")
        return ref

    # -- the author ----------------------------------------------------------------
    def _message_author(self, env: Environment, reason: str, channel: str) -> None:
        user_id = self.permissions.slack_id_of(env.desired.owner)
        if user_id is None:
            log.info("%s: no Slack user for its author %r (public GitLab e-mail or "
                     "slack_users); expiry warning only in the channel", env.key,
                     env.desired.owner)
            return
        text, blocks = formatting.expiry_dm(env, reason, channel)
        with slack_errors("chat.postMessage (direct message)"):
            # A user id as the channel: the message lands in the app's DM with them.
            self.client.chat_postMessage(channel=user_id, text=text, blocks=blocks,
                                         unfurl_links=False)
