"""Typed reads of a GitLab webhook payload; every error names the field.

A delivery that is valid JSON but not shaped like GitLab's documented payload
(a field missing, a number where text belongs) raises :class:`PermanentError`
whose text names the event type and the field path, e.g.
``GitLab Merge Request Hook: object_attributes.iid is missing``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.domain.errors import PermanentError
from bot.domain.messages import quoted

# "2013-12-03 17:23:34 +0100" → "...+01:00". Anchored at both ends and bounded, so it
# runs in linear time on any input (webhook bodies are decided on the event loop).
_SPACED_OFFSET = re.compile(r"(.{10,40}?) ([+-][0-9]{2}):?([0-9]{2})")
_COMMIT_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_MAX_TIME_TEXT = 64  # the longest GitLab time format is well under this


def parse_gitlab_time(text: str) -> datetime:
    """GitLab's timestamps as an aware UTC datetime; ValueError when unreadable.

    Accepts ``2013-12-03T17:23:34Z``, ``2013-12-03T17:23:34.211Z``,
    ``2013-12-03 17:23:34 UTC``, ``2013-12-03T18:23:34+01:00`` and
    ``2013-12-03 18:23:34 +0100``. A time without any zone is taken as UTC.
    """
    cleaned = text.strip()
    if len(cleaned) > _MAX_TIME_TEXT:
        raise ValueError("too long for a time")
    upper = cleaned.upper()
    if upper.endswith(" UTC"):
        cleaned = cleaned[:-4].rstrip() + "+00:00"
    elif upper.endswith("Z"):
        cleaned = cleaned[:-1] + "+00:00"
    spaced = _SPACED_OFFSET.fullmatch(cleaned)
    if spaced is not None:
        cleaned = f"{spaced.group(1)}{spaced.group(2)}:{spaced.group(3)}"
    parsed = datetime.fromisoformat(cleaned)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is out of range") from None


@dataclass(frozen=True, slots=True)
class Fields:
    """One JSON object of the payload at ``path`` (``""`` for the top level)."""

    data: Mapping[str, Any]
    path: str
    event_type: str

    @classmethod
    def top(cls, payload: object, event_type: str) -> Fields:
        if not isinstance(payload, Mapping):
            expected = "a JSON object"
            text = webhook_field_wrong_type(event_type, "payload", expected, payload)
            raise PermanentError(text)
        return cls(payload, "", event_type)

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def missing(self, key: str) -> PermanentError:
        return PermanentError(webhook_field_missing(self.event_type, self.where(key)))

    def wrong(self, key: str, expected: str, value: object) -> PermanentError:
        text = webhook_field_wrong_type(self.event_type, self.where(key), expected, value)
        return PermanentError(text)

    def has(self, key: str) -> bool:
        """Present and not ``null``."""
        return self.data.get(key) is not None

    def _required(self, key: str) -> object:
        if not self.has(key):
            raise self.missing(key)
        return self.data[key]

    def obj(self, key: str) -> Fields:
        value = self._required(key)
        if not isinstance(value, Mapping):
            raise self.wrong(key, "an object", value)
        return Fields(value, self.where(key), self.event_type)

    def optional_obj(self, key: str) -> Fields | None:
        return self.obj(key) if self.has(key) else None

    def text(self, key: str) -> str:
        """Required, non-empty text."""
        value = self._required(key)
        if not isinstance(value, str) or not value:
            raise self.wrong(key, "a non-empty text", value)
        return value

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if self.has(key) else None

    def commit_sha(self, key: str) -> str:
        """A full commit id: 40 hex digits (64 in SHA-256 repositories), never a branch,
        tag or abbreviation, which could name another commit than the one that ran."""
        value = self.text(key)
        if not _COMMIT_SHA.fullmatch(value):
            raise self.wrong(key, "a full commit sha (40 hex digits)", value)
        return value

    def integer(self, key: str) -> int:
        value = self._required(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.wrong(key, "an integer", value)
        return value

    def optional_flag(self, key: str) -> bool | None:
        if not self.has(key):
            return None
        value = self.data[key]
        if not isinstance(value, bool):
            raise self.wrong(key, "true or false", value)
        return value

    def objects(self, key: str) -> list[Fields]:
        """A list of objects; missing or ``null`` reads as empty."""
        if not self.has(key):
            return []
        value = self.data[key]
        if not isinstance(value, list):
            raise self.wrong(key, "a list", value)
        items = []
        for position, item in enumerate(value):
            at = f"{key}[{position}]"
            if not isinstance(item, Mapping):
                raise self.wrong(at, "an object", item)
            items.append(Fields(item, self.where(at), self.event_type))
        return items

    def label_titles(self, key: str) -> tuple[str, ...]:
        """Titles of a list of GitLab label objects (``[{"title": "preview", …}]``)."""
        return tuple(label.text("title") for label in self.objects(key))

    def timestamp(self, key: str) -> datetime | None:
        """An optional GitLab timestamp, aware and in UTC."""
        value = self.optional_text(key)
        if value is None:
            return None
        try:
            return parse_gitlab_time(value)
        except ValueError:
            raise self.wrong(key, "a time like 2013-12-03T17:23:34Z", value) from None


# --- texts: why a body is not GitLab's payload (PermanentError) ----------------


def webhook_field_missing(event_type: str, field: str) -> str:
    return (f"GitLab {event_type}: {field} is missing; the delivery is not shaped like "
            "GitLab's webhook payload (GitLab → Settings → Webhooks → Recent events shows it)")


def webhook_field_wrong_type(event_type: str, field: str, expected: str, value: object) -> str:
    return f"GitLab {event_type}: {field} should be {expected}, got {quoted(value)}"
