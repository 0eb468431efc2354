"""The queue's seal: only the same key over the same type, body and dedupe key verifies."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.state.queue.seal import derive_key, key_for, seal, sealed

KEY = b"k" * 32
GOOD = seal(KEY, "Merge Request Hook", b'{"a":1}', "uuid-1")


@pytest.mark.parametrize(("key", "event_type", "body", "dedupe", "mac", "verifies"), [
    (KEY, "Merge Request Hook", b'{"a":1}', "uuid-1", GOOD, True),
    (b"x" * 32, "Merge Request Hook", b'{"a":1}', "uuid-1", GOOD, False),  # other key
    (KEY, "Pipeline Hook", b'{"a":1}', "uuid-1", GOOD, False),              # type changed
    (KEY, "Merge Request Hook", b'{"a":2}', "uuid-1", GOOD, False),         # body changed
    (KEY, "Merge Request Hook", b'{"a":1}', "uuid-2", GOOD, False),         # dedupe changed
    (KEY, "Merge Request Hook ", b'{"a":1}', "uuid-1", GOOD, False),        # byte moved
    (KEY, "Merge Request Hook", b'{"a":1}', "uuid-1", "", False),           # unsealed
    (KEY, "Merge Request Hook", b'{"a":1}', "uuid-1", "0" * 64, False),     # forged
    (KEY, "Merge Request Hook", b'{"a":1}', "uuid-1", "é" * 64, False),     # not hex
    (None, "Merge Request Hook", b'{"a":1}', "uuid-1", GOOD, False),        # no key
])
def test_only_the_bots_seal_over_the_same_content_verifies(
        key: bytes | None, event_type: str, body: bytes, dedupe: str, mac: str,
        verifies: bool) -> None:
    assert sealed(key, event_type, body, dedupe, mac) is verifies


def test_a_part_boundary_moved_changes_the_seal() -> None:
    assert seal(KEY, "ab", b"c", "") != seal(KEY, "a", b"bc", "")


@pytest.mark.parametrize(("queue_key", "webhook_secret", "expected"), [
    ("explicit", "hook", b"explicit"),
    (None, "hook", derive_key("hook")),
    (None, None, None),
])
def test_the_key_is_the_queue_key_else_derived_from_the_webhook_secret(
        queue_key: str | None, webhook_secret: str | None, expected: bytes | None) -> None:
    settings = Settings(queue_key=queue_key, gitlab_webhook_secret=webhook_secret)
    assert key_for(settings) == expected
    assert expected != b"hook"  # the derived key is never the secret itself


def test_the_queue_key_is_masked_like_every_secret() -> None:
    assert "explicit-key" in Settings(queue_key="explicit-key").secret_values()
