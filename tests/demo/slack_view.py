"""Slack messages as a terminal shows them.

Input: the Web API calls the bot made, as the Slack stand-in recorded them
(`{"method", "params", "path", "at"}`). Output: a few readable lines per message —
where it went (a new announcement, an edit of it, a thread reply, a DM, an
ephemeral reply), then its blocks: sections and context as text, buttons as
`[Extend 24h]`. Slack's mrkdwn is rendered: `<url|label>` → label, `<@U…>` →
@name, `<!date^…|fallback>` → fallback, `*bold*` → bold, `:emoji:` → the emoji.
Calls that are not messages (users.lookupByEmail, auth.test, …) render as nothing.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

EMOJI = {
    "hourglass": "⌛", "hourglass_flowing_sand": "⏳", "large_green_circle": "🟢",
    "red_circle": "🔴", "wastebasket": "🗑️", "white_circle": "⚪", "warning": "⚠️",
    "calendar": "📅", "white_check_mark": "✅", "x": "❌", "lock": "🔒", "rocket": "🚀",
    "pushpin": "📌", "no_entry": "⛔",
}
_DATE = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]*)>")
_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#([CGD][A-Z0-9]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)>")
_LABELLED = re.compile(r"<([^|>]+)\|([^>]+)>")
_BARE = re.compile(r"<([^>]+)>")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_EMOJI = re.compile(r":([a-z0-9_+-]+):")


@dataclass(frozen=True)
class Style:
    """How emphasis shows: ANSI on a terminal, nothing in a pipe or a log."""

    bold: Callable[[str], str] = lambda text: text
    dim: Callable[[str], str] = lambda text: text
    accent: Callable[[str], str] = lambda text: text


PLAIN = Style()


@dataclass
class Directory:
    """Names for the ids in messages; `responses`: a response URL's path → who typed."""

    users: dict[str, str] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)
    responses: dict[str, str] = field(default_factory=dict)

    def user(self, user_id: str) -> str:
        return "@" + self.users.get(user_id, user_id)

    def channel(self, channel_id: str) -> str:
        if channel_id[:1] in "UW":
            return f"DM to {self.user(channel_id)}"
        if channel_id[:1] == "D":
            return f"DM to {self.user('U' + channel_id[1:])}"
        return "#" + self.channels.get(channel_id, channel_id)


def mrkdwn(text: str, directory: Directory, style: Style = PLAIN) -> str:
    """Slack mrkdwn → terminal text."""
    text = _DATE.sub(lambda m: m.group(1), text)
    text = _USER.sub(lambda m: directory.user(m.group(1)), text)
    text = _CHANNEL.sub(lambda m: "#" + (m.group(2) or directory.channels.get(
        m.group(1), m.group(1))), text)
    text = _SPECIAL.sub(r"@\1", text)
    text = _LABELLED.sub(lambda m: m.group(2), text)
    text = _BARE.sub(lambda m: m.group(1), text)
    text = _BOLD.sub(lambda m: style.bold(m.group(1)), text)
    text = _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)
    return html.unescape(text)


def _text_of(element: Any) -> str:
    if isinstance(element, dict):
        return str(element.get("text", ""))
    return ""


def buttons(elements: list[dict[str, Any]]) -> str:
    return " ".join(f"[{_text_of(e.get('text'))}]" for e in elements
                    if e.get("type") == "button")


def blocks_lines(blocks: list[dict[str, Any]], directory: Directory,
                 style: Style = PLAIN) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("section", "header"):
            text = _text_of(block.get("text"))
            if kind == "header":
                text = f"*{text}*"
            lines += mrkdwn(text, directory, style).splitlines()
            lines += [f"  {mrkdwn(_text_of(f), directory, style)}"
                      for f in block.get("fields") or []]
            if isinstance(block.get("accessory"), dict) and block["accessory"].get(
                    "type") == "button":
                lines.append(buttons([block["accessory"]]))
        elif kind == "context":
            texts = [mrkdwn(_text_of(e), directory, style) for e in block.get("elements", [])]
            lines.append(style.dim(" · ".join(t for t in texts if t)))
        elif kind == "actions":
            lines.append(style.accent(buttons(block.get("elements", []))))
        elif kind == "divider":
            lines.append(style.dim("─" * 20))
    return lines


def where(call: dict[str, Any], directory: Directory) -> str | None:
    """Where a call's message went, in words; None when the call is not a message."""
    method, params = call["method"], call["params"]
    channel = str(params.get("channel") or "")
    if method == "chat.postMessage":
        place = directory.channel(channel)
        if params.get("thread_ts"):
            return f"{place} · thread reply"
        return place if place.startswith("DM") else f"{place} · new announcement"
    if method == "chat.update":
        return f"{directory.channel(channel)} · announcement edited"
    if method == "chat.postEphemeral":
        return f"{directory.channel(channel)} · only {directory.user(str(params.get('user')))}" \
               " sees this"
    if method == "response_url":
        who = directory.responses.get(str(call.get("path", "")))
        seen_by = f"only {directory.user(who)} sees this" if who else "only its sender sees it"
        if params.get("response_type") == "in_channel":
            seen_by = "in the channel"
        return f"reply to the command · {seen_by}"
    if method == "views.publish":
        return f"App Home of {directory.user(str(params.get('user_id')))} · updated"
    return None


def render(call: dict[str, Any], directory: Directory, style: Style = PLAIN) -> list[str]:
    """The lines of one message call: a heading, then the body; [] for other calls."""
    place = where(call, directory)
    if place is None:
        return []
    params = call["params"]
    blocks = params.get("blocks")
    if call["method"] == "views.publish":
        view = params.get("view") or {}
        blocks = view.get("blocks") if isinstance(view, dict) else None
    if isinstance(blocks, list) and blocks:
        body = blocks_lines(blocks, directory, style)
    else:
        body = mrkdwn(str(params.get("text") or ""), directory, style).splitlines()
    return [style.accent(f"Slack ▸ {place}"), *body]
