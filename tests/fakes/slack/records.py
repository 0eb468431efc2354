"""Records of the fake Slack workspace and the snapshots tests inspect."""

from __future__ import annotations

import contextlib
import copy
import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

TEAM_ID = "T0FAKE"
BOT_USER_ID = "U0PREVIEWBOT"
BOT_ID = "B0PREVIEWBOT"
APP_ID = "A0PREVIEWBOT"
# Form-encoded requests carry structured arguments as JSON text.
JSON_ENCODED_FIELDS = ("blocks", "attachments", "view", "metadata")


class SlackError(Exception):
    """Raised by a method handler; answered as {"ok": false, "error": <error>}."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class SlackCall(NamedTuple):
    """One Web API call as received (also the ones answered with an error)."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]  # names lowercased
    path: str = ""  # the request path (which response URL, for "response_url")
    at: float = 0.0  # when it arrived (time.time()), to order it against other clocks


@dataclass(frozen=True)
class MessageVersion:
    text: str
    blocks: list[dict[str, Any]] | None
    attachments: list[dict[str, Any]] | None


@dataclass(frozen=True)
class PostedMessage:
    """A message as it stands now; `history` holds every version, the current one last."""

    channel: str
    ts: str
    thread_ts: str | None
    history: tuple[MessageVersion, ...]
    ephemeral_to: str | None = None  # user id, for chat.postEphemeral

    @property
    def text(self) -> str:
        return self.history[-1].text

    @property
    def blocks(self) -> list[dict[str, Any]] | None:
        return self.history[-1].blocks

    @property
    def attachments(self) -> list[dict[str, Any]] | None:
        return self.history[-1].attachments

    @property
    def edited(self) -> bool:
        return len(self.history) > 1

    def all_text(self) -> str:
        """Text plus the text inside blocks, for assertions that do not care where it sits."""
        return self.text + "\n" + json.dumps(self.blocks or [], ensure_ascii=False)


@dataclass
class StoredMessage:
    channel: str
    ts: str
    thread_ts: str | None
    versions: list[MessageVersion] = field(default_factory=list)
    ephemeral_to: str | None = None

    def snapshot(self) -> PostedMessage:
        # Deep copy: a test mutating a snapshot's blocks must not change the fake's state.
        versions = tuple(copy.deepcopy(self.versions))
        return PostedMessage(self.channel, self.ts, self.thread_ts, versions, self.ephemeral_to)

    def as_api_message(self) -> dict[str, Any]:
        """The `message` object Slack returns for this message."""
        current = self.versions[-1]
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": current.text,
            "ts": self.ts,
        }
        if current.blocks is not None:
            message["blocks"] = current.blocks
        if current.attachments is not None:
            message["attachments"] = current.attachments
        if self.thread_ts is not None:
            message["thread_ts"] = self.thread_ts
        if len(self.versions) > 1:
            message["edited"] = {"user": BOT_USER_ID, "ts": self.ts}
        return message


@dataclass(frozen=True)
class SlackUser:
    id: str
    email: str
    name: str
    guest: bool = False  # a multi-channel guest: is_restricted, as Slack shows it

    def as_api_user(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "name": self.name,
            "real_name": self.name,
            "deleted": False,
            "is_bot": False,
            "is_restricted": self.guest,
            "is_ultra_restricted": False,
            "tz": "Etc/UTC",
            "profile": {
                "email": self.email,
                "real_name": self.name,
                "display_name": self.name,
                "team": TEAM_ID,
            },
        }


class TimestampClock:
    """Unique, increasing message timestamps like Slack's: "1700000000.000100"."""

    def __init__(self, start_seconds: int = 1_700_000_000) -> None:
        self._start_micros = start_seconds * 1_000_000
        self._count = 0

    def next(self) -> str:
        self._count += 1
        seconds, micros = divmod(self._start_micros + self._count * 100, 1_000_000)
        return f"{seconds}.{micros:06d}"


def decode_params(raw: dict[str, Any]) -> dict[str, Any]:
    """Undo form encoding: JSON text inside structured fields becomes lists/dicts again."""
    decoded = dict(raw)
    for name in JSON_ENCODED_FIELDS:
        value = decoded.get(name)
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            # Undecodable text stays as sent; the method handler then reports invalid_<name>.
            with contextlib.suppress(json.JSONDecodeError):
                decoded[name] = json.loads(value)
    return decoded


def dm_channel_id(user_id: str) -> str:
    """The stable DM channel id of a user: U0ALICE → D0ALICE."""
    return "D" + user_id[1:]


def list_param(params: dict[str, Any], name: str) -> list[dict[str, Any]] | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, list):
        raise SlackError(f"invalid_{name}")
    return value


def message_version_of(params: dict[str, Any]) -> MessageVersion:
    text = str(params.get("text") or "")
    blocks, attachments = list_param(params, "blocks"), list_param(params, "attachments")
    if not text and not blocks and not attachments:
        raise SlackError("no_text")
    return MessageVersion(text, blocks, attachments)


@dataclass(frozen=True)
class ResponseHook:
    """A `response_url` as Slack puts it in a slash command or interaction payload:
    bound to the channel and user, and (for a button in a message) to that message."""

    channel: str
    user: str
    message_ts: str | None = None
