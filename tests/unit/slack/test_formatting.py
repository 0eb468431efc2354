"""Block Kit for the announcement, replies and App Home: what shows when, escaping,
and Slack's limits (blocks per message or view, button text, values)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.domain.model import Desired, Environment, HistoryEntry, Observed, Status
from bot.engine.notify import NoticeKind
from handlers.slack import formatting

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
URL = "https://group-app-mr-7.preview.test"


def env(status: Status = Status.READY, **desired: Any) -> Environment:
    base = Desired(env_key="group-app-mr-7", project_path="group/app", project_id=1,
                   branch="feature-7", sha="0123456789abcdef" * 2 + "01234567",
                   created_at=NOW, expires_at=NOW + timedelta(hours=47, minutes=59),
                   mr_iid=7, mr_url="https://gitlab.test/group/app/-/merge_requests/7",
                   owner="alice")
    return Environment(replace(base, **desired),
                       Observed(status=status, url=URL if status is Status.READY else "",
                                reason="boom" if status is Status.FAILED else ""))


def shown_text(blocks: object) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


@pytest.mark.parametrize(("kind", "status", "text"), [
    (NoticeKind.DEPLOYING, Status.DEPLOYING,
     "group-app-mr-7 (group/app!7): deploying 01234567"),
    (NoticeKind.READY, Status.READY, f"group-app-mr-7 (group/app!7): ready: {URL}"),
    (NoticeKind.FAILED, Status.FAILED, "group-app-mr-7 (group/app!7): failed: boom"),
    (NoticeKind.EXPIRING, Status.READY,
     "group-app-mr-7 (group/app!7): expiring: 2026-12-03 07:59 UTC"),
    (NoticeKind.EXTENDED, Status.READY, f"group-app-mr-7 (group/app!7): ready: {URL}"),
    (NoticeKind.TORN_DOWN, Status.GONE, "group-app-mr-7 (group/app!7): gone: merged"),
])
def test_announcement_states(kind: NoticeKind, status: Status, text: str) -> None:
    reason = "merged" if kind is NoticeKind.TORN_DOWN else ""
    shown, blocks = formatting.announcement(env(status), NOW, kind=kind, reason=reason)
    assert shown == text
    assert (URL in shown_text(blocks)) is (status is Status.READY)  # URL only once ready
    buttons = action_ids(blocks)
    if kind is NoticeKind.TORN_DOWN:
        assert buttons == []
    else:
        assert buttons[-4:] == [formatting.EXTEND, formatting.KEEP, formatting.DOWN,
                                formatting.REDEPLOY]
        assert (formatting.OPEN in buttons) is (status is Status.READY)


def test_a_deploy_waiting_for_its_image_says_so() -> None:
    reason = "waiting for image `registry.example.com/app:0123abcd`"
    shown, blocks = formatting.announcement(env(Status.DEPLOYING), NOW,
                                            kind=NoticeKind.DEPLOYING, reason=reason)
    assert shown == f"group-app-mr-7 (group/app!7): deploying 01234567: {reason}"
    assert formatting.headline(blocks).endswith(f"`01234567`… — {reason}")


def test_a_teardown_replaces_ready_and_its_buttons_at_once_and_says_what_holds_it() -> None:
    going = env(Status.TEARING_DOWN, present=False)
    going = replace(going, observed=replace(going.observed, url=URL, reason="reviewed"))
    shown, blocks = formatting.announcement(going, NOW, kind=NoticeKind.TEARING_DOWN,
                                            reason="reviewed")
    assert shown == "group-app-mr-7 (group/app!7): tearing down: reviewed"
    assert action_ids(blocks) == [] and URL not in shown_text(blocks)
    held = "namespace preview-x is still being deleted: finalizers remaining: example.com/hold"
    shown, blocks = formatting.announcement(going, NOW, kind=NoticeKind.TEARING_DOWN,
                                            reason=held)
    assert held in shown and action_ids(blocks) == []
    text, _ = formatting.event_reply(going, NoticeKind.TEARING_DOWN, held, NOW)
    assert text == f"group-app-mr-7: tearing down — {held}"
    # Re-rendered from the record (a button pressed elsewhere): still tearing down.
    assert "tearing down: reviewed" in formatting.announcement(going, NOW)[0]


def test_a_new_life_waiting_for_its_namespace_says_why() -> None:
    waiting = env(Status.PENDING)
    shown, blocks = formatting.announcement(waiting, NOW, kind=NoticeKind.WAITING,
                                            reason="namespace preview-x is held")
    assert shown == "group-app-mr-7 (group/app!7): pending: namespace preview-x is held"
    assert formatting.DOWN in action_ids(blocks)  # still a live request: it can be ended
    text, _ = formatting.event_reply(waiting, NoticeKind.WAITING, "held", NOW)
    assert text == "group-app-mr-7: waiting — held"


def test_kept_and_branch_environments_have_no_keep_button() -> None:
    kept = formatting.announcement(env(keep=True), NOW)[1]
    branch = formatting.announcement(env(mr_iid=None, mr_url="", owner="slack:U0BOB"), NOW)[1]
    assert formatting.KEEP not in action_ids(kept) and formatting.KEEP not in action_ids(branch)
    assert "kept until the MR closes" in shown_text(kept)
    assert "by <@U0BOB>" in shown_text(branch)


def test_what_people_wrote_cannot_ping_or_link() -> None:
    hostile = env(Status.FAILED, branch="<!channel>", owner="<@U0BOSS>")
    blocks = formatting.announcement(hostile, NOW, kind=NoticeKind.FAILED,
                                     reason="<!here> <https://evil.test|click>")[1]
    shown = shown_text(blocks)
    assert "<!here>" not in shown and "<https://evil.test" not in shown
    assert "&lt;!here&gt;" in shown and "&lt;@U0BOSS&gt;" in shown


@pytest.mark.parametrize(("actor", "shown"), [
    ("slack:U0ALICE", "<@U0ALICE>"),
    ("gitlab:alice", "alice (GitLab)"),
    ("cli:root", "root (CLI)"),
    ("reaper", "reaper"),
    ("", "someone"),
])
def test_who(actor: str, shown: str) -> None:
    assert formatting.who(actor) == shown


@pytest.mark.parametrize(("seconds", "shown"), [
    (-5, "expired"), (0, "expired"), (40, "in 40s"), (90, "in 1m"), (3599, "in 59m"),
    (3660, "in 1h1m"), (86_399, "in 23h59m"), (90_061, "in 1d1h"), (14 * 86_400, "in 2w"),
])
def test_remaining(seconds: int, shown: str) -> None:
    assert formatting.remaining(NOW + timedelta(seconds=seconds), NOW) == shown


def test_status_shows_who_did_what() -> None:
    history = [HistoryEntry(NOW, "down", "slack:U0ADMIN", "requested in Slack by slack:U0ADMIN"),
               HistoryEntry(NOW, "up", "gitlab:alice", "group/app!7 at 01234567")]
    text, blocks = formatting.status_reply(env(), history, NOW)
    shown = shown_text(blocks)
    assert "*down* by <@U0ADMIN> — requested in Slack by <@U0ADMIN>" in shown
    assert "*up* by alice (GitLab)" in shown
    assert "down by slack:U0ADMIN" in text and "sha 0123456789abcdef" in text


def test_limits_of_slack_hold_with_many_environments() -> None:
    many = [env(env_key=f"group-app-mr-{i}", mr_iid=i) for i in range(1, 200)]
    _, blocks = formatting.env_list(many, NOW, "all projects")
    assert len(blocks) <= 50 and "…and 159 more" in shown_text(blocks)
    view = formatting.home_view(many[:60], many, NOW, notice="done")
    assert len(view["blocks"]) <= 100
    for block in [*blocks, *view["blocks"]]:
        for element in block.get("elements", []):
            if element.get("type") == "button":
                assert len(element["text"]["text"]) <= 75 and len(element["value"]) <= 2000
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000


def test_expiring_thread_reply_and_dm_carry_extend() -> None:
    reason = "expires at 2026-12-01 10:00 UTC (in 2h); extend it to keep it"
    text, blocks = formatting.event_reply(env(), NoticeKind.EXPIRING, reason, NOW)
    assert text.startswith("group-app-mr-7: expires in 1d23h")
    assert action_ids(blocks) == [formatting.EXTEND]
    text, blocks = formatting.expiry_dm(env(), reason, "C0PREVIEWS")
    assert text == f"Your preview environment group-app-mr-7 (group/app!7) {reason}"
    assert action_ids(blocks) == [formatting.EXTEND] and "<#C0PREVIEWS>" in shown_text(blocks)
