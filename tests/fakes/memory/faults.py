"""Errors a fake raises on its next calls, by method name — or something that happens
elsewhere just before one (a race, made deterministic)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from bot.domain.errors import PreviewError


class Faults:
    """Armed errors per public method of ``owner``; a method checks before it acts, so an
    injected error changes nothing (like a request that never reached the other side)."""

    def __init__(self, owner: object) -> None:
        self._owner = type(owner)
        self._armed: dict[str, list[PreviewError]] = {}
        self._before: dict[str, list[Callable[[], None]]] = {}
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()  # every checked call, by method name

    def fail(self, method: str, error: PreviewError, *, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` raise ``error``."""
        if method.startswith("_") or not hasattr(self._owner, method):
            raise AttributeError(f"{self._owner.__name__} has no method {method!r}")
        with self._lock:
            self._armed.setdefault(method, []).extend([error] * times)

    def before(self, method: str, happening: Callable[[], None]) -> None:
        """Run ``happening`` once, just before the next call of ``method`` acts."""
        if method.startswith("_") or not hasattr(self._owner, method):
            raise AttributeError(f"{self._owner.__name__} has no method {method!r}")
        with self._lock:
            self._before.setdefault(method, []).append(happening)

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()
            self._before.clear()

    def check(self, method: str) -> None:
        with self._lock:
            self.calls[method] += 1
            pending = self._armed.get(method)
            error = pending.pop(0) if pending else None
            hooks = self._before.get(method)
            happening = hooks.pop(0) if hooks else None
        if happening is not None:
            happening()
        if error is not None:
            raise error
