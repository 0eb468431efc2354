"""Buttons and App Home against a real `previewbot serve`: signed `payload=` interactions
as Slack sends them; each asserts what the person sees and the resulting state."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from bot.domain.model import Status
from bot.engine.core import Core
from handlers.slack import formatting
from tests.fakes.slack import FakeSlack
from tests.integration.lifecycle_bed import LifecycleBed, helm_release
from tests.integration.slack.support import (
    AUTHOR,
    CHANNEL,
    GUEST,
    MAINTAINER,
    STRANGER,
    announcements,
    configure_slack,
    env_of,
    open_home,
    press,
    reply_to,
    start_slack_server,
    wait_announced,
    wait_status,
)
from tests.integration.webhook_support import Server
from tests.polling import poll


@pytest.fixture
def server(bed: LifecycleBed, fake_slack: FakeSlack) -> Iterator[Server]:
    configure_slack(bed, fake_slack)
    running = start_slack_server(bed, fake_slack)
    yield running
    running.stop()


@pytest.fixture
def core(bed: LifecycleBed) -> Core:
    return bed.core()


def ready_with_announcement(bed: LifecycleBed, fake: FakeSlack, server: Server, core: Core,
                            iid: int) -> tuple[str, str]:
    bed.add_mr(iid)
    key = f"{bed.slug}-mr-{iid}"
    reply_to(server, fake, f"up {bed.project_path}!{iid}", AUTHOR)
    wait_status(core, key, Status.READY)
    return key, wait_announced(fake, "ready").ts


def last_blocks(fake: FakeSlack, ts: str) -> str:
    [message] = [m for m in fake.messages(CHANNEL) if m.ts == ts]
    return json.dumps(message.blocks)


def test_announcement_buttons(bed: LifecycleBed, fake_slack: FakeSlack, server: Server,
                              core: Core) -> None:
    key, ts = ready_with_announcement(bed, fake_slack, server, core, 11)
    [announcement] = announcements(fake_slack)
    actions = next(b for b in announcement.blocks or [] if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == [
        formatting.OPEN, formatting.EXTEND, formatting.KEEP, formatting.DOWN,
        formatting.REDEPLOY]
    assert actions["elements"][0]["url"] == f"https://{key}.preview.test"
    assert "confirm" in actions["elements"][3]  # Tear down asks first

    before = env_of(core, key).desired.expires_at
    answer = press(server.url, fake_slack, formatting.EXTEND, key, user=AUTHOR, message_ts=ts)
    assert (answer.status, answer.body) == (200, b"")
    poll("the note on the announcement",
         lambda: f"extended by 24h by <@{AUTHOR}>" in last_blocks(fake_slack, ts))
    assert env_of(core, key).desired.expires_at == before + timedelta(hours=24)

    press(server.url, fake_slack, formatting.KEEP, key, user=MAINTAINER, message_ts=ts)
    poll("the keep note", lambda: f"kept until the merge request closes by <@{MAINTAINER}>"
         in last_blocks(fake_slack, ts))
    assert env_of(core, key).desired.keep
    assert formatting.KEEP not in last_blocks(fake_slack, ts)  # nothing left to keep

    release = helm_release(bed, key)
    assert release is not None
    press(server.url, fake_slack, formatting.REDEPLOY, key, user=STRANGER, message_ts=ts)
    poll("a new Helm revision", lambda: (r := helm_release(bed, key)) is not None
         and int(str(r["revision"])) == int(str(release["revision"])) + 1, timeout=60)
    wait_status(core, key, Status.READY)

    calls = len(fake_slack.calls)
    press(server.url, fake_slack, formatting.DOWN, key, user=GUEST, message_ts=ts)
    refusal = fake_slack.wait_for(lambda c: c.method == "response_url", after=calls)
    assert refusal.params["response_type"] == "ephemeral"
    assert refusal.params["replace_original"] is False
    assert "you may not tear down" in refusal.params["text"]
    [shown] = fake_slack.ephemeral_messages(CHANNEL, user=GUEST)
    assert "you may not tear down" in shown.text
    assert env_of(core, key).desired.present

    press(server.url, fake_slack, formatting.DOWN, key, user=AUTHOR, message_ts=ts)
    wait_status(core, key, Status.GONE)
    poll("the announcement to say gone",
         lambda: announcements(fake_slack)[0].text.split("): ")[1].startswith("gone"))
    assert "actions" not in last_blocks(fake_slack, ts)  # no buttons on a gone environment
    assert len(announcements(fake_slack)) == 1
    for action, count in (("extend", 1), ("keep", 1), ("redeploy", 1), ("down", 2)):
        assert server.metric("previewbot_buttons_total", action=action) == count


def test_app_home(bed: LifecycleBed, fake_slack: FakeSlack, server: Server,
                  core: Core) -> None:
    key, _ = ready_with_announcement(bed, fake_slack, server, core, 12)

    assert open_home(server.url, AUTHOR).status == 200
    view = poll("the author's Home", lambda: fake_slack.home_view(AUTHOR))
    mine, everyone = json.dumps(view["blocks"]).split("All active")
    assert "Your environments" in mine and f"`{key}`" in mine
    assert formatting.EXTEND in mine and f"`{key}`" in everyone

    open_home(server.url, STRANGER)
    view = poll("the stranger's Home", lambda: fake_slack.home_view(STRANGER))
    mine, everyone = json.dumps(view["blocks"]).split("All active")
    assert f"`{key}`" not in mine and f"`{key}`" in everyone

    before = env_of(core, key).desired.expires_at
    press(server.url, fake_slack, formatting.EXTEND, key, user=AUTHOR, view_id=view["id"])
    poll("the Home to show the outcome",
         lambda: "now expires" in json.dumps(fake_slack.home_view(AUTHOR)))
    assert env_of(core, key).desired.expires_at == before + timedelta(hours=24)

    press(server.url, fake_slack, formatting.DOWN, key, user=STRANGER, view_id=view["id"])
    poll("the refusal on the stranger's Home",
         lambda: "you may not tear down" in json.dumps(fake_slack.home_view(STRANGER)))
    assert env_of(core, key).desired.present
