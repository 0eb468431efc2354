"""The notifier port: the engine tells the world about lifecycle changes.

A :class:`Notice` says what happened to an environment (deploying, ready,
failed, extended, expiring, tearing down, waiting, torn down). "Notice" is its own word on purpose:
a GitLab *hook* (``bot.gitlab.hooks``) is what GitLab sends, a *delivery*
(``bot.state.queue``) is a hook as queued for the workers, and a notice is
what the engine tells people.

The Slack adapter implements ``Notifier``; until a Slack app is configured the
``LoggingNotifier`` writes the notices to the log. A notifier must never make a
deploy fail: the engine catches and logs its errors.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.domain.errors import TemporaryError
from bot.domain.model import Environment
from bot.domain.refusals import Refusal

log = logging.getLogger("previewbot.notify")


class NoticeKind(enum.StrEnum):
    DEPLOYING = "deploying"
    READY = "ready"
    FAILED = "failed"
    EXTENDED = "extended"
    EXPIRING = "expiring"
    TEARING_DOWN = "tearing-down"  # begun; again, once, when its namespace is held
    WAITING = "waiting"  # a new life waits for the old namespace to go, held by something
    TORN_DOWN = "torn-down"


# What an undelivered notice is about. Per environment, only the latest notice of each
# topic is owed: a newer "ready" makes an owed "deploying" old news, but never an owed
# expiry warning (README "How it converges"). STANDING ("") is where the environment
# stands, stored where earlier versions kept their one owed notice per environment.
STANDING = ""
EXPIRY = "expiry"
TOPICS = (STANDING, EXPIRY)


def topic(kind: NoticeKind) -> str:
    """The topic of ``kind``: an extension or a warning is about when it ends."""
    return EXPIRY if kind in (NoticeKind.EXTENDED, NoticeKind.EXPIRING) else STANDING


@dataclass(frozen=True, slots=True)
class Notice:
    kind: NoticeKind
    env: Environment
    reason: str = ""
    actor: str = ""


class Notifier(Protocol):
    def notify(self, notice: Notice) -> None: ...

    def report_plan(self, text: str) -> None:
        """A dry-run pass's plan (``dry_run: true``): what would have been done."""
        ...

    def refused(self, refusal: Refusal) -> None:
        """A change request got no environment and no person is waiting for the answer
        (capacity, for a webhook or a pass): one message in its project's channel. Not a
        notice: there is no environment, so no announcement (that starts once it is
        created). Raises when it was not delivered; the caller tells it again later."""
        ...


class LoggingNotifier:
    def report_plan(self, text: str) -> None:
        log.info("dry run (config dry_run: true), nothing changed:\n%s", text)

    def refused(self, refusal: Refusal) -> None:
        log.info("refused %s at %s: %s", refusal.label, refusal.sha[:8], refusal.reason)

    def notify(self, notice: Notice) -> None:
        env = notice.env
        detail = f" ({notice.reason})" if notice.reason else ""
        url = f" {env.observed.url}" if notice.kind is NoticeKind.READY else ""
        log.info("%s %s [%s]%s%s", notice.kind.value, env.key, env.desired.label, url, detail)


class RecordingNotifier:
    """Keeps the notices in memory; for the CLI's summary and for tests."""

    def __init__(self) -> None:
        self.notices: list[Notice] = []
        self.plans: list[str] = []
        self.refusals: list[Refusal] = []

    def report_plan(self, text: str) -> None:
        self.plans.append(text)

    def refused(self, refusal: Refusal) -> None:
        self.refusals.append(refusal)

    def notify(self, notice: Notice) -> None:
        self.notices.append(notice)


class FanoutNotifier:
    def __init__(self, *notifiers: Notifier) -> None:
        self._notifiers = notifiers

    def notify(self, notice: Notice) -> None:
        """Every notifier is tried; when one failed, raises after the others had their
        turn (the engine then keeps the notice to deliver again)."""
        self._to_every(lambda n: n.notify(notice), f"on {notice.kind.value}")

    def report_plan(self, text: str) -> None:
        for notifier in self._notifiers:
            try:
                notifier.report_plan(text)
            except Exception:
                log.exception("notifier %s failed to report a plan", type(notifier).__name__)

    def refused(self, refusal: Refusal) -> None:
        """Every notifier is tried; raises when one failed (the refusal is told again)."""
        self._to_every(lambda n: n.refused(refusal), f"on the refusal of {refusal.label}")

    def _to_every(self, call: Callable[[Notifier], None], what: str) -> None:
        failed: list[tuple[str, Exception]] = []
        for notifier in self._notifiers:
            try:
                call(notifier)
            except Exception as error:  # one broken notifier must not silence the others
                failed.append((type(notifier).__name__, error))
        if failed:
            names = ", ".join(name for name, _ in failed)
            raise TemporaryError(f"notifier {names} failed {what}: "
                                 f"{failed[0][1]}") from failed[0][1]
