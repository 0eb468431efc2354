"""Records of the intake queue (see ``bot.state.queue``) and decoding of Redis replies.

Stream entries carry the fields ``type``, ``body``, ``dedupe`` (empty: none),
``received`` (ISO 8601), ``attempts`` and ``mac`` (the bot's seal,
``bot.state.queue.seal``); parked entries add ``error``, ``parked`` and ``origin``
(the id of the entry that failed last). Decoding is
lenient: a foreign or truncated entry still becomes an event, which then fails
and ends up parked instead of blocking the queue.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivery of a GitLab hook. ``attempts`` counts earlier failed attempts;
    ``dedupe_key`` is ``""`` when the event had none."""

    id: str
    event_type: str
    body: bytes
    dedupe_key: str
    received_at: datetime
    attempts: int
    mac: str = ""  # the seal it was queued with; "" for one without (an older version's)


@dataclass(frozen=True, slots=True)
class ParkedDelivery:
    id: str
    event_type: str
    body: bytes
    dedupe_key: str
    attempts: int
    error: str
    parked_at: datetime


STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")


def text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def binary(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode() if value is not None else b""


def fields_of(raw: Mapping[Any, Any] | None) -> dict[str, Any]:
    """Field map of a stream entry with text names (whatever the client decodes)."""
    return {text(name): value for name, value in (raw or {}).items()}


def time_of(raw: object, default: datetime) -> datetime:
    try:
        return datetime.fromisoformat(text(raw))
    except ValueError:  # a foreign or truncated entry; keep it processable
        return default


def count_of(raw: object) -> int:
    try:
        return int(text(raw))
    except ValueError:
        return 0


def read_entries(reply: object) -> list[tuple[str, dict[str, Any]]]:
    """Entries of an XREADGROUP reply, whichever shape (RESP2 list, RESP3 dict,
    legacy-wrapped) the client parses it into. Entries are ``(id, fields)`` tuples."""
    if isinstance(reply, tuple) and len(reply) == 2 and isinstance(reply[1], dict):
        return [(text(reply[0]), fields_of(reply[1]))]
    children: Iterable[Any] = ()
    if isinstance(reply, dict):
        children = reply.values()
    elif isinstance(reply, list | tuple):
        children = reply
    return [entry for child in children for entry in read_entries(child)]


def decode_delivery(entry_id: str, fields: dict[str, Any], lost: int,
                 now: datetime) -> Delivery:
    """``lost``: deliveries that never ended in ack/fail, counted as failed attempts."""
    return Delivery(
        id=entry_id, event_type=text(fields.get("type", b"")), body=binary(fields.get("body")),
        dedupe_key=text(fields.get("dedupe", b"")),
        received_at=time_of(fields.get("received", b""), now),
        attempts=count_of(fields.get("attempts", b"0")) + lost,
        mac=text(fields.get("mac", b"")))


def decode_parked(entry_id: str, fields: dict[str, Any]) -> ParkedDelivery:
    return ParkedDelivery(
        id=entry_id, event_type=text(fields.get("type", b"")), body=binary(fields.get("body")),
        dedupe_key=text(fields.get("dedupe", b"")),
        attempts=count_of(fields.get("attempts", b"0")), error=text(fields.get("error", b"")),
        parked_at=time_of(fields.get("parked", b""), datetime.fromtimestamp(0, UTC)))
