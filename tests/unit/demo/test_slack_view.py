"""The demo's terminal rendering of Slack messages: mrkdwn, blocks, where a message went."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.domain.model import Desired, Environment, Observed, Status
from bot.engine.notify import NoticeKind
from handlers.slack import formatting
from tests.demo.console import Console
from tests.demo.slack_view import Directory, Style, mrkdwn, render

DIRECTORY = Directory(users={"U0ALICE": "alice"}, channels={"C0PREVIEWS": "previews"},
                      responses={"/response/T0FAKE/000001/secret": "U0ALICE"})
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
URL = "https://demo-shop-mr-3.preview.example.com"


@pytest.mark.parametrize(("text", "shown"), [
    ("<!date^1764576000^{date_short_pretty} {time}|2026-12-01 08:00 UTC>", "2026-12-01 08:00 UTC"),
    ("by <@U0ALICE>", "by @alice"),
    ("by <@U0NOBODY>", "by @U0NOBODY"),
    ("in <#C0PREVIEWS>", "in #previews"),
    ("in <#C0OTHER|general>", "in #general"),
    ("<https://gitlab.test/demo/shop/-/merge_requests/3|demo/shop!3>", "demo/shop!3"),
    (f"🟢 *Ready* — <{URL}>", f"🟢 Ready — {URL}"),
    (":large_green_circle: :warning: :no_such_emoji:", "🟢 ⚠️ :no_such_emoji:"),
    ("a &lt;b&gt; &amp; c", "a <b> & c"),
    ("keys_with_underscores and 2*3*4", "keys_with_underscores and 2*3*4"),
    ("<!channel> look", "@channel look"),
])
def test_mrkdwn(text: str, shown: str) -> None:
    assert mrkdwn(text, DIRECTORY) == shown


def test_bold_uses_the_style() -> None:
    assert mrkdwn("*Ready* now", DIRECTORY, Style(bold=lambda t: f"<b>{t}</b>")) == \
        "<b>Ready</b> now"


def call(method: str, **params: Any) -> dict[str, Any]:
    return {"method": method, "params": params, "path": params.pop("path", ""), "at": 0.0}


@pytest.mark.parametrize(("made", "heading"), [
    (call("chat.postMessage", channel="C0PREVIEWS", text="x"),
     "Slack ▸ #previews · new announcement"),
    (call("chat.postMessage", channel="C0PREVIEWS", thread_ts="1.2", text="x"),
     "Slack ▸ #previews · thread reply"),
    (call("chat.update", channel="C0PREVIEWS", ts="1.2", text="x"),
     "Slack ▸ #previews · announcement edited"),
    (call("chat.postMessage", channel="U0ALICE", text="x"), "Slack ▸ DM to @alice"),
    (call("chat.postMessage", channel="D0ALICE", text="x"), "Slack ▸ DM to @alice"),
    (call("chat.postEphemeral", channel="C0PREVIEWS", user="U0ALICE", text="x"),
     "Slack ▸ #previews · only @alice sees this"),
    (call("response_url", path="/response/T0FAKE/000001/secret", text="x"),
     "Slack ▸ reply to the command · only @alice sees this"),
    (call("response_url", path="/response/T0FAKE/000009/secret", text="x"),
     "Slack ▸ reply to the command · only its sender sees it"),
    (call("response_url", response_type="in_channel", text="x"),
     "Slack ▸ reply to the command · in the channel"),
    (call("views.publish", user_id="U0ALICE", view={"type": "home", "blocks": []}),
     "Slack ▸ App Home of @alice · updated"),
])
def test_where_a_message_went(made: dict[str, Any], heading: str) -> None:
    assert render(made, DIRECTORY)[0] == heading


@pytest.mark.parametrize("method", ["users.lookupByEmail", "users.info", "auth.test",
                                    "conversations.open"])
def test_calls_that_are_not_messages_show_nothing(method: str) -> None:
    assert render(call(method, email="alice@example.com"), DIRECTORY) == []


def environment(status: Status) -> Environment:
    desired = Desired(env_key="demo-shop-mr-3", project_path="demo/shop", project_id=1,
                      branch="feature-3", sha="ba5498881234567890abcdef1234567890abcdef",
                      created_at=NOW, expires_at=NOW + timedelta(hours=47, minutes=59),
                      mr_iid=3, mr_url="http://127.0.0.1:1/demo/shop/-/merge_requests/3",
                      owner="alice")
    return Environment(desired, Observed(status=status,
                                         url=URL if status is Status.READY else ""))


def test_the_bots_own_announcement_reads_well() -> None:
    """The real Block Kit of the bot's announcement, as the terminal shows it."""
    text, blocks = formatting.announcement(environment(Status.READY), NOW,
                                           kind=NoticeKind.READY)
    shown = render(call("chat.update", channel="C0PREVIEWS", ts="1.2", text=text,
                        blocks=blocks), DIRECTORY)
    assert shown == [
        "Slack ▸ #previews · announcement edited",
        "demo/shop!3 · `demo-shop-mr-3`",
        f"🟢 Ready — {URL}",
        "commit `ba549888` · by alice · expires 2026-12-03 07:59 UTC (in 1d23h)",
        "[Open] [Extend 24h] [Keep until merge] [Tear down] [Redeploy]",
    ]


def test_the_expiry_warning_shows_its_extend_button() -> None:
    env = environment(Status.READY)
    text, blocks = formatting.event_reply(env, NoticeKind.EXPIRING, "expires soon", NOW)
    shown = render(call("chat.postMessage", channel="C0PREVIEWS", thread_ts="1.2", text=text,
                        blocks=blocks), DIRECTORY)
    assert shown[0] == "Slack ▸ #previews · thread reply"
    assert shown[-1] == "[Extend 24h]"


def test_a_message_without_blocks_shows_its_text() -> None:
    shown = render(call("chat.postMessage", channel="C0PREVIEWS", text="*two*\nlines"),
                   DIRECTORY)
    assert shown[1:] == ["two", "lines"]


def test_the_summary_table_wraps_long_cells() -> None:
    out = io.StringIO()
    Console(out).table(["ENV", "WHAT HAPPENED"],
                       [["a-mr-1", "opened → ready · merged → torn down"]], wrap={1: 20})
    assert out.getvalue().splitlines() == ["  ENV     WHAT HAPPENED",
                                           "  ──────  ──────────────────",
                                           "  a-mr-1  opened → ready ·",
                                           "          merged → torn down"]
