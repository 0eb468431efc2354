"""The notifier port: the engine tells the world about lifecycle changes.

The Slack adapter implements ``Notifier``; until a Slack app is configured the
``LoggingNotifier`` writes the events to the log. A notifier must never make a
deploy fail: the engine catches and logs its errors.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Protocol

from bot.model import Environment

log = logging.getLogger("previewbot.notify")


class EventKind(enum.StrEnum):
    DEPLOYING = "deploying"
    READY = "ready"
    FAILED = "failed"
    EXTENDED = "extended"
    EXPIRING = "expiring"
    TORN_DOWN = "torn-down"


@dataclass(frozen=True, slots=True)
class LifecycleEvent:
    kind: EventKind
    env: Environment
    reason: str = ""
    actor: str = ""


class Notifier(Protocol):
    def notify(self, event: LifecycleEvent) -> None: ...


class LoggingNotifier:
    def notify(self, event: LifecycleEvent) -> None:
        env = event.env
        detail = f" ({event.reason})" if event.reason else ""
        url = f" {env.observed.url}" if event.kind is EventKind.READY else ""
        log.info("%s %s [%s]%s%s", event.kind.value, env.key, env.desired.label, url, detail)


class RecordingNotifier:
    """Keeps the events in memory; for the CLI's summary and for tests."""

    def __init__(self) -> None:
        self.events: list[LifecycleEvent] = []

    def notify(self, event: LifecycleEvent) -> None:
        self.events.append(event)


class FanoutNotifier:
    def __init__(self, *notifiers: Notifier) -> None:
        self._notifiers = notifiers

    def notify(self, event: LifecycleEvent) -> None:
        for notifier in self._notifiers:
            try:
                notifier.notify(event)
            except Exception:  # a broken notifier must not break a deploy
                log.exception("notifier %s failed on %s", type(notifier).__name__, event.kind)
