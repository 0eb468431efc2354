"""Logs people can search: one JSON object per line, or readable text on a terminal.

``PREVIEWBOT_LOG_FORMAT=json`` (the chart's default) or ``text`` chooses; unset,
a terminal gets text and anything else (a pod, a pipe, a file) JSON lines.

Each line carries what is known about the work it belongs to — the environment
(``env``), the webhook delivery (``delivery``, ``event``) or the CLI request
(``request``), and the ``actor`` — from a context that the few places where those
become known set with :func:`log_context` (contextvars: per thread, so parallel
workers never mix them up).

Secrets never appear: every value given to :func:`configure` as a secret, and the
password of any ``scheme://user:password@host`` URL, is replaced by ``***`` in
the message, the traceback and the context of every line.

Like ``bot.metrics`` this module sits beside the roles; any of them may use it
except the pure domain.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TextIO

MASK = "***"
CONTEXT_KEYS = ("env", "delivery", "event", "request", "actor")
_EMPTY: Mapping[str, str] = MappingProxyType({})
_CONTEXT: ContextVar[Mapping[str, str]] = ContextVar("previewbot_log_context", default=_EMPTY)
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.IGNORECASE)
_MIN_SECRET = 4  # shorter "secrets" would mask ordinary words


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Add ``fields`` (one of CONTEXT_KEYS; None: not known) to every line logged inside."""
    unknown = set(fields) - set(CONTEXT_KEYS)
    if unknown:
        raise ValueError(f"unknown log context keys {sorted(unknown)}; use {CONTEXT_KEYS}")
    added = {key: str(value) for key, value in fields.items() if value}
    token = _CONTEXT.set(MappingProxyType({**_CONTEXT.get(), **added}))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def current_context() -> dict[str, str]:
    return dict(_CONTEXT.get())


# Secret values learnt while running (the Secrets of `secret_values`): masked by every
# Redactor too, so no log line, Redis record, MR note or Slack message carries them.
_LEARNT: set[str] = set()
_LEARNT_LOCK = threading.Lock()


def learn_secrets(values: Iterable[str]) -> None:
    with _LEARNT_LOCK:
        _LEARNT.update(value for value in values if value and len(value) >= _MIN_SECRET)


def mask_learnt(text: str) -> str:
    with _LEARNT_LOCK:
        learnt = sorted(_LEARNT, key=len, reverse=True)
    for secret in learnt:
        text = text.replace(secret, MASK)
    return text


class Redactor:
    """Masks known secret values and URL passwords in text."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= _MIN_SECRET},
                               key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        text = mask_learnt(text)
        return _URL_PASSWORD.sub(rf"\g<1>{MASK}@", text)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.previewbot_context = _CONTEXT.get()
        return True


def _context_of(record: logging.LogRecord) -> Mapping[str, str]:
    found = getattr(record, "previewbot_context", None)
    return found if isinstance(found, Mapping) else _CONTEXT.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the context, traceback."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": self._redact(record.getMessage()),
        }
        line.update({key: self._redact(value) for key, value in _context_of(record).items()})
        if record.exc_info:
            line["traceback"] = self._redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message [env=… delivery=…]`` for people at a terminal."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = _context_of(record)
        if context:
            text += " [" + " ".join(f"{k}={v}" for k, v in context.items()) + "]"
        return self._redact(text)


def choose_format(log_format: str | None, stream: TextIO) -> str:
    """The configured format, else text on a terminal and JSON anywhere else."""
    if log_format:
        return log_format
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def configure(*, level: int, log_format: str | None, secrets: Iterable[str | None],
              stream: TextIO | None = None) -> str:
    """Route every logger through one handler on ``stream`` (stderr); returns the format."""
    out = stream or sys.stderr
    chosen = choose_format(log_format, out)
    redact = Redactor(secrets)
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter(redact) if chosen == "json" else TextFormatter(redact))
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return chosen
