"""Where each environment's chat announcement is: one message per environment,
edited in place as its state changes.

The reference (a chat adapter's own words: Slack's ``<channel>/<ts>``) is kept in
Redis beside the environment's record and on its namespace
(``records.ANNOUNCEMENT``, only on a namespace that is the environment's own): a
restart keeps editing the same message, and so does a Redis rebuild — when Redis
has lost it, the namespace is read before a second message is ever posted. A
short lock per environment keeps two replicas from announcing one environment
twice.

Built from the store and the cluster alone, before the core, so a notifier can
take it as a constructor argument (the core takes the notifier as one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bot.cluster.values import namespace_for
from bot.domain import records
from bot.domain.errors import PermanentError, PreviewError
from bot.domain.model import Environment
from bot.engine.ports import ClusterPort, StorePort

log = logging.getLogger("previewbot.announcements")
LOCK_WAIT = 15.0  # seconds; a replica announcing the same environment is done by then


class Announcements:
    def __init__(self, store: StorePort, kube: ClusterPort, *,
                 readable: Callable[[str], bool] = bool) -> None:
        """``readable``: whether a reference is one the chat adapter can use (one that
        is not — a hand-edited annotation — is never copied into Redis)."""
        self._store = store
        self._kube = kube
        self._readable = readable

    @contextmanager
    def announcing(self, env_key: str) -> Iterator[None]:
        """Held while one replica finds, posts or edits the environment's message."""
        # The lock's name is the one earlier versions took: both versions exclude
        # each other during a rolling update.
        with self._store.lock(f"_slack:{env_key}", wait=LOCK_WAIT):
            yield

    def environment(self, env_key: str) -> Environment | None:
        """The record as it stands (what a refreshed announcement shows)."""
        return self._store.get(env_key)

    def stored(self, env_key: str) -> str | None:
        """The reference as Redis keeps it; None when Redis has none."""
        return self._store.announcement(env_key) or None

    def of(self, env: Environment) -> str | None:
        """The reference from Redis, else from the namespace (then Redis learns it
        again); None when there is none."""
        stored = self.stored(env.key)
        if stored:
            return stored
        try:
            namespace = self._kube.get_namespace(namespace_for(env.desired))
        except PreviewError as error:
            # Not knowing could mean a second announcement: better none for now.
            raise PermanentError(announcement_unknown(env.key, str(error))) from error
        if namespace is None or not records.is_ours(namespace.labels, env.desired):
            return None
        kept = namespace.annotations.get(records.ANNOUNCEMENT, "")
        if not kept or not self._readable(kept):
            return None
        log.info("%s: announcement %s read back from its namespace", env.key, kept)
        self._store.set_announcement(env.key, kept)
        return kept

    def remember(self, env_key: str, ref: str | None) -> None:
        """Keep ``ref`` in Redis (None: forget it: a new lifecycle, a new message)."""
        self._store.set_announcement(env_key, ref)

    def keep_on_namespace(self, env: Environment, ref: str) -> None:
        """The namespace keeps the reference too (it survives a Redis loss); a failure is
        logged and the next notice tries again."""
        try:
            namespace = self._kube.get_namespace(namespace_for(env.desired))
            if (namespace is None or namespace.phase != "Active"
                    or not records.is_ours(namespace.labels, env.desired)
                    or namespace.annotations.get(records.ANNOUNCEMENT) == ref):
                return
            self._kube.annotate_namespace(namespace.name, {records.ANNOUNCEMENT: ref})
        except PreviewError as error:
            log.warning("%s: cannot keep the announcement on its namespace: %s", env.key, error)


# --- texts: why no message can be posted now (PermanentError) ------------------


def announcement_unknown(env_key: str, detail: str) -> str:
    return (f"cannot tell whether {env_key} has a Slack announcement (its namespace is "
            f"unreadable: {detail}); not posting a second one — the next notice tries again")
