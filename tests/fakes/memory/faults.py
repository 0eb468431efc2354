"""Errors a fake raises on its next calls, by method name."""

from __future__ import annotations

import threading

from bot.domain.errors import PreviewError


class Faults:
    """Armed errors per public method of ``owner``; a method checks before it acts, so an
    injected error changes nothing (like a request that never reached the other side)."""

    def __init__(self, owner: object) -> None:
        self._owner = type(owner)
        self._armed: dict[str, list[PreviewError]] = {}
        self._lock = threading.Lock()

    def fail(self, method: str, error: PreviewError, *, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` raise ``error``."""
        if method.startswith("_") or not hasattr(self._owner, method):
            raise AttributeError(f"{self._owner.__name__} has no method {method!r}")
        with self._lock:
            self._armed.setdefault(method, []).extend([error] * times)

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def check(self, method: str) -> None:
        with self._lock:
            pending = self._armed.get(method)
            error = pending.pop(0) if pending else None
        if error is not None:
            raise error
