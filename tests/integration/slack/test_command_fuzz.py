"""2,000 generated `/preview` texts through the real Bolt app (in-process, through
Starlette's TestClient, signed as Slack signs): never a 5xx, always a useful
ephemeral reply — in the ack, or through the response_url right after it."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

with warnings.catch_warnings():  # Starlette 1.x prefers httpx2; httpx is what we pin
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

from bot.config import Settings
from bot.domain.model import Desired, Environment, Observed, Status
from bot.runtime.wiring import build_core, build_parts
from bot.state.queue import DeliveryQueue
from handlers.slack.app import SlackBot
from handlers.slack.commands import command_crashed
from handlers.web import WebDeps, create_app
from tests.fakes.slack import FakeSlack
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.slack.support import (
    FORM,
    STRANGER,
    command_body,
    configure_slack,
    signed_headers,
    slack_environ,
)

RESULTS = ("Usage", "active environment", "No active environments", "Deploying ",
           "you may not", "now expires", "*Who did what*", "previewbot* —", "Tearing down",
           "is kept until")


@pytest.fixture
def app_client(bed: LifecycleBed, fake_slack: FakeSlack) -> Iterator[tuple[TestClient, str]]:
    configure_slack(bed, fake_slack)
    bed.add_mr(1)
    settings_ = Settings.from_env({**bed.environ(), **slack_environ(fake_slack)})
    slack = SlackBot(settings_)
    parts = build_parts(settings_)
    core = build_core(settings_, parts=parts, notifier=slack.notifier_of(parts))
    queue = DeliveryQueue.from_url(settings_.redis_url)
    slack.attach(core, queue)
    now = datetime.now(UTC).replace(microsecond=0)
    key = f"{bed.slug}-mr-5"
    core.store.put(Environment(Desired(
        env_key=key, project_path=bed.project_path, project_id=bed.project_id,
        branch="feature-5", sha="b" * 40, created_at=now, expires_at=now + timedelta(days=1),
        mr_iid=5, owner="alice"), Observed(status=Status.READY, url="https://x.test")))
    app = create_app(WebDeps(config=core.config, queue=queue, webhook_secret="unused",
                             readiness=lambda: [], slack_events=slack.endpoint()))
    with TestClient(app) as client:
        yield client, key
    queue.close()


def texts(bed: LifecycleBed, key: str) -> st.SearchStrategy[str]:
    words = st.sampled_from([
        "help", "list", "status", "up", "extend", "keep", "down", "mine", "for", "LIST",
        "lst", "stauts", "dwn", bed.project_path, bed.slug, bed.project_path.upper(), key,
        f"{bed.project_path}!1", f"{bed.project_path}!5", f"{bed.project_path}!0",
        f"{bed.project_path}!99999999999999", f"{bed.project_path}@feature-1",
        f"{bed.project_path}@", f"{bed.project_path[:-1]}!1", "group/app!7", "!", "@", "4h",
        "0m", "1d12h", "12h1d", "-1h", "99999999999999w", "<@U0BOB|bob>", "&amp;",
        "<http://x.test|x.test>", "\u200b", "\t", "payload", "payload=x", "{", "command=",
    ])
    shaped = st.lists(st.one_of(words, st.text(max_size=12)), min_size=1, max_size=5)
    return st.one_of(st.text(max_size=300), shaped.map(" ".join))


def test_generated_command_texts(bed: LifecycleBed, fake_slack: FakeSlack,
                                 app_client: tuple[TestClient, str]) -> None:
    client, key = app_client
    sent: list[str] = []

    @settings(max_examples=2000, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(text=texts(bed, key))
    def one(text: str) -> None:
        calls = len(fake_slack.calls)
        sent.append(text)
        body = command_body(fake_slack, text, user=STRANGER)
        answer = client.post("/slack/events", content=body, headers=signed_headers(body, FORM))
        assert answer.status_code == 200, (text, answer.status_code, answer.text)
        if answer.content:
            reply = answer.json()
        else:  # worked on after the ack: the reply comes through the response_url
            reply = fake_slack.wait_for(lambda c: c.method == "response_url",
                                        after=calls).params
        assert reply["response_type"] == "ephemeral", (text, reply)
        shown = reply["text"] + json.dumps(reply.get("blocks", []))
        assert command_crashed() not in reply["text"], (text, shown)
        assert any(result in shown for result in RESULTS), (text, shown)

    one()
    assert len(sent) >= 2000, len(sent)
