"""Socket Mode (`SLACK_APP_TOKEN` set): a real `previewbot serve` connects to the Slack
fake's WebSocket and takes the same commands and buttons as envelopes; nothing is
served over HTTP at /slack/events."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.model import Status
from handlers.slack import formatting
from tests.fakes.slack import FakeSlack
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.slack.support import (
    AUTHOR,
    FORM,
    button_payload,
    command_fields,
    configure_slack,
    env_of,
    post_raw,
    signed_headers,
    wait_announced,
    wait_status,
)
from tests.integration.webhook_support import start_server
from tests.polling import poll


def test_socket_mode_takes_commands_and_buttons(bed: LifecycleBed,
                                                fake_slack: FakeSlack) -> None:
    configure_slack(bed, fake_slack)
    core = bed.core()
    bed.add_mr(51)
    key = f"{bed.slug}-mr-51"
    fake_slack.set_down(True)  # Slack unreachable at start: serve runs, and connects later
    server = start_server(bed, SLACK_BOT_TOKEN=fake_slack.bot_token, SLACK_API_URL=fake_slack.url,
                          SLACK_APP_TOKEN=fake_slack.app_token)  # no signing secret needed
    try:
        poll("a failed connection attempt", lambda: server.metric(
            "previewbot_dependency_errors_total", dependency="slack") >= 1)
        fake_slack.set_down(False)
        assert post_raw(server.url, b"text=help", signed_headers(b"text=help", FORM)).status == 404

        usage = fake_slack.socket_request("slash_commands", command_fields(fake_slack, "lst"),
                                          timeout=30)
        assert usage["payload"]["response_type"] == "ephemeral"
        assert 'did you mean "list"?' in usage["payload"]["text"]

        calls = len(fake_slack.calls)
        ack = fake_slack.socket_request(
            "slash_commands", command_fields(fake_slack, f"up {bed.project_path}!51",
                                             user=AUTHOR))
        assert not ack.get("payload")  # acked at once; the answer follows
        reply = fake_slack.wait_for(lambda c: c.method == "response_url", after=calls)
        assert f"`{key}`" in reply.params["text"]
        wait_status(core, key, Status.READY)
        ts = wait_announced(fake_slack, "ready").ts

        before = env_of(core, key).desired.expires_at
        fake_slack.socket_request("interactive", button_payload(
            fake_slack, formatting.EXTEND, key, user=AUTHOR, message_ts=ts))
        wait_announced(fake_slack, "ready", reply="extended")
        assert env_of(core, key).desired.expires_at == before + timedelta(hours=24)
    finally:
        server.stop()
    [opened] = [c for c in fake_slack.calls if c.method == "apps.connections.open"][:1]
    assert opened.headers["authorization"] == f"Bearer {fake_slack.app_token}"
