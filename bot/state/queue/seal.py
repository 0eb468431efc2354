"""The bot's own seal on queued deliveries: an HMAC-SHA256 only the bot can make.

Redis is reachable from more places than the bot (a preview's code, where the network
lets it), and a queued delivery skips the webhook's token check. So every entry the
web handler queues carries ``mac`` = HMAC-SHA256(key, type, body, dedupe key), and a
worker applies only entries whose seal verifies (constant-time); any other entry is
parked as "unauthenticated queue entry", never applied (README "Security model").

The key is ``PREVIEWBOT_QUEUE_KEY`` when set, else derived from
``GITLAB_WEBHOOK_SECRET`` by HMAC with a fixed context string. Deriving is acceptable:
whoever holds the webhook secret can already send deliveries the bot accepts, so the
queue key gives them nothing more; and one who only reaches Redis holds neither. The
derived key is not the secret itself, so a leak of one queue seal never reveals it.
"""

from __future__ import annotations

import hashlib
import hmac

from bot.config import Settings

QUEUE_KEY_CONTEXT = b"previewbot queue key v1"
UNAUTHENTICATED = "unauthenticated queue entry"


def key_for(settings: Settings) -> bytes | None:
    """PREVIEWBOT_QUEUE_KEY, else derived from GITLAB_WEBHOOK_SECRET; None without both."""
    if settings.queue_key:
        return settings.queue_key.encode("utf-8")
    if settings.gitlab_webhook_secret:
        return derive_key(settings.gitlab_webhook_secret)
    return None


def derive_key(webhook_secret: str) -> bytes:
    """The queue key made from the webhook secret (when PREVIEWBOT_QUEUE_KEY is unset)."""
    return hmac.new(webhook_secret.encode("utf-8"), QUEUE_KEY_CONTEXT, hashlib.sha256).digest()


def seal(key: bytes, event_type: str, body: bytes, dedupe_key: str) -> str:
    """The hex HMAC of one delivery's content. Each part is length-prefixed, so no two
    different deliveries (a byte moved from type to body) share a seal."""
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in (event_type.encode("utf-8"), body, dedupe_key.encode("utf-8")):
        mac.update(len(part).to_bytes(8, "big"))
        mac.update(part)
    return mac.hexdigest()


def sealed(key: bytes | None, event_type: str, body: bytes, dedupe_key: str,
           mac: str) -> bool:
    """Whether ``mac`` is the bot's seal of this content (False without a key)."""
    if key is None or not mac:
        return False
    expected = seal(key, event_type, body, dedupe_key)
    return hmac.compare_digest(expected.encode("ascii"), mac.encode("utf-8", "replace"))
