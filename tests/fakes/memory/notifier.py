"""A notifier that keeps what it was told; it can be told to fail."""

from __future__ import annotations

import threading

from bot.domain.refusals import Refusal
from bot.engine.notify import Notice
from tests.fakes.memory.faults import Faults


class FakeNotifier:
    """Records notices and dry-run plans. A failed ``notify`` records nothing: the engine
    then owes the notice (``Core.emit``), as with a chat service that is down."""

    def __init__(self) -> None:
        self.notices: list[Notice] = []
        self.plans: list[str] = []
        self.refusals: list[Refusal] = []
        self.faults = Faults(self)
        self._lock = threading.Lock()

    def notify(self, notice: Notice) -> None:
        self.faults.check("notify")
        with self._lock:
            self.notices.append(notice)

    def report_plan(self, text: str) -> None:
        self.faults.check("report_plan")
        with self._lock:
            self.plans.append(text)

    def refused(self, refusal: Refusal) -> None:
        self.faults.check("refused")
        with self._lock:
            self.refusals.append(refusal)

    def kinds(self, env_key: str) -> list[str]:
        """The kinds told of one environment, in order."""
        with self._lock:
            return [n.kind.value for n in self.notices if n.env.key == env_key]
