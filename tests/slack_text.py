"""Slack control sequences in text the bot writes: what a hostile branch name, reason or
command must never smuggle in (`<!channel>`, a foreign link, a mention of someone)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

CONTROL = re.compile(r"<([^<>]*)>")
# A date Slack shows in the reader's time zone (the bot writes these itself).
_DATE = re.compile(r"!date\^\d+\^\{[a-z_]+\}( \{time\})?")
_PREVIEW_URL = re.compile(r"https://[a-z0-9-]+\.[a-z0-9.-]+(/\S*)?")


def texts_of(message: dict[str, Any]) -> list[str]:
    """A message's ``text``, then every ``text`` inside its blocks."""
    found = [str(message.get("text", ""))]

    def walk(item: Any) -> None:
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "text" and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(item, list):
            for value in item:
                walk(value)

    walk(message.get("blocks") or [])
    return found


def injected(texts: Iterable[str], *, people: Iterable[str] = (), channels: Iterable[str] = (),
             link_prefixes: Iterable[str] = (), preview_domain: str = "") -> list[str]:
    """Control sequences the bot did not mean to write: special mentions (<!channel>,
    <!here>, <!subteam^…>), mentions of anyone but ``people``, channels but ``channels``,
    links but previews (https://<ENV>.<preview_domain>) and ``link_prefixes``."""
    people, channels, prefixes = set(people), set(channels), tuple(link_prefixes)
    bad = []
    for text in texts:
        for sequence in CONTROL.findall(text):
            target = sequence.split("|", 1)[0]
            if (target.startswith("@") and target[1:] in people) or \
                    (target.startswith("#") and target[1:] in channels) or \
                    _DATE.fullmatch(target) or (prefixes and target.startswith(prefixes)):
                continue
            found = _PREVIEW_URL.fullmatch(target)
            if found and preview_domain and target.split("/")[2].endswith("." + preview_domain):
                continue
            bad.append(f"<{sequence}> in {text[:120]!r}")
    return bad
