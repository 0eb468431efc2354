"""Core → Slack: the ``Notifier`` port over the Slack Web API (README "Slack app").

One announcement per environment, in its project's channel, edited in place
with ``chat.update`` as the state changes (deploying → ready with the URL →
failed with the reason → expiring → gone, and why); each event is also a reply
in the announcement's thread. An expiry warning also goes to the MR author as a
direct message with an Extend button.

The announcement (``<channel>/<ts>``) is kept in Redis beside the environment's
record (``Store.set_announcement``) and on its namespace
(``records.SLACK_ANNOUNCEMENT``, only on a namespace that is the environment's
own): a restart keeps editing the same message, and so does a Redis rebuild —
when Redis has lost it, the namespace is read before a second message is ever
posted. A short Redis lock per environment keeps two replicas from announcing
one environment twice. The engine swallows a notifier's errors: Slack being
down never fails a deploy.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.cluster.values import namespace_for
from bot.domain import records
from bot.domain.errors import PermanentError, PreviewError
from bot.domain.model import Environment
from bot.engine.core import Core
from bot.engine.notify import Notice, NoticeKind
from bot.engine.permissions import Permissions
from handlers.slack import formatting
from handlers.slack.api import error_code, slack_errors

log = logging.getLogger("previewbot.slack")
GONE_MESSAGE = frozenset({"message_not_found", "channel_not_found", "cant_update_message",
                          "is_archived"})
LOCK_WAIT = 15.0  # seconds; a replica announcing the same environment is done by then


def parse_ref(ref: str) -> tuple[str, str] | None:
    channel, slash, ts = ref.partition("/")
    return (channel, ts) if slash and channel and ts else None


class SlackNotifier:
    def __init__(self, client: WebClient) -> None:
        self.client = client
        self._core: Core | None = None
        self._permissions: Permissions | None = None

    def attach(self, core: Core, permissions: Permissions) -> None:
        """The core is built with this notifier in it, so it arrives afterwards."""
        self._core, self._permissions = core, permissions

    @property
    def core(self) -> Core:
        if self._core is None:
            raise RuntimeError("SlackNotifier.attach(core, permissions) was not called")
        return self._core

    # -- the port ------------------------------------------------------------
    def report_plan(self, text: str) -> None:
        """A dry-run pass's plan, once in each projects' channel (``dry_run: true``)."""
        body = formatting.dry_run_plan(text)
        for channel in dict.fromkeys(p.channel for p in self.core.config.projects):
            try:
                self.client.chat_postMessage(channel=channel, text=body)
            except SlackApiError as error:
                log.warning("could not post the dry-run plan to %s: %s", channel, error)

    def notify(self, notice: Notice) -> None:
        env = notice.env
        project = self.core.project(env)
        if project is None:
            return
        now = self.core.clock.now()
        text, blocks = formatting.announcement(env, now, kind=notice.kind, reason=notice.reason)
        with self.core.store.lock(f"_slack:{env.key}", wait=LOCK_WAIT):
            ref = self.announcement_of(env)
            if ref is None and notice.kind is NoticeKind.TORN_DOWN:
                log.info("%s torn down; it was never announced, so nothing to update", env.key)
                return
            ref = self._show(env, project.channel, ref, text, blocks)
        channel, ts = ref
        if notice.kind is not NoticeKind.TORN_DOWN:
            # Before the extras: the namespace is the durable copy of where the
            # announcement is, and once the thread reply is seen the ref is there too.
            self._remember_on_namespace(env, f"{channel}/{ts}")
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
            self.core.store.set_announcement(env.key, None)  # a new lifecycle, a new message

    def refresh(self, env_key: str, note: str) -> bool:
        """Re-render the announcement from the current record, with ``note`` (who pressed
        what); False when the environment has no announcement."""
        env = self.core.store.get(env_key)
        project = self.core.project(env) if env is not None else None
        if env is None or project is None:
            return False
        text, blocks = formatting.announcement(env, self.core.clock.now(), note=note)
        with self.core.store.lock(f"_slack:{env.key}", wait=LOCK_WAIT):
            ref = self.announcement_of(env)
            if ref is None:
                return False
            self._show(env, project.channel, ref, text, blocks)
        return True

    # -- the announcement ------------------------------------------------------
    def announced_at(self, env_key: str) -> tuple[str, str] | None:
        """(channel, ts) of the environment's announcement as Redis keeps it; None."""
        stored = self.core.store.announcement(env_key)
        return parse_ref(stored) if stored else None

    def announcement_of(self, env: Environment) -> tuple[str, str] | None:
        """(channel, ts) from Redis, else from the namespace (then Redis learns it again)."""
        stored = self.core.store.announcement(env.key)
        if stored:
            return parse_ref(stored)
        try:
            namespace = self.core.kube.get_namespace(namespace_for(env.desired))
        except PreviewError as error:
            # Not knowing could mean a second announcement: better none for now.
            raise PermanentError(announcement_unknown(env.key, str(error))) from error
        if namespace is None or not records.is_ours(namespace.labels, env.desired):
            return None
        kept = namespace.annotations.get(records.SLACK_ANNOUNCEMENT, "")
        found = parse_ref(kept)
        if found is not None:
            log.info("%s: announcement %s read back from its namespace", env.key, kept)
            self.core.store.set_announcement(env.key, kept)
        return found

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
        self.core.store.set_announcement(env.key, f"{ref[0]}/{ref[1]}")
        return ref

    def _remember_on_namespace(self, env: Environment, ref: str) -> None:
        """The namespace keeps the announcement too (it survives a Redis loss)."""
        try:
            namespace = self.core.kube.get_namespace(namespace_for(env.desired))
            if (namespace is None or namespace.phase != "Active"
                    or not records.is_ours(namespace.labels, env.desired)
                    or namespace.annotations.get(records.SLACK_ANNOUNCEMENT) == ref):
                return
            self.core.kube.annotate_namespace(namespace.name, {records.SLACK_ANNOUNCEMENT: ref})
        except PreviewError as error:  # the next notice tries again
            log.warning("%s: cannot keep the announcement on its namespace: %s", env.key, error)

    # -- the author ----------------------------------------------------------------
    def _message_author(self, env: Environment, reason: str, channel: str) -> None:
        assert self._permissions is not None
        user_id = self._permissions.slack_id_of(env.desired.owner)
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


# --- texts: why the notifier cannot post (PermanentError) ---------------------


def announcement_unknown(env_key: str, detail: str) -> str:
    return (f"cannot tell whether {env_key} has a Slack announcement (its namespace is "
            f"unreadable: {detail}); not posting a second one — the next notice tries again")
