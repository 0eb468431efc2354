"""The Slack notifier in-process, on the real cluster, Redis, Helm and the Slack fake:
where the announcement's ts is kept and how it is found again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from kubernetes import client
from slack_sdk import WebClient

from bot.domain import records
from bot.engine.core import Core
from bot.engine.reconcile import Reconciler
from bot.engine.requests import Requests
from tests.fakes.slack import FakeSlack
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.slack.support import (
    CHANNEL,
    announcements,
    core_telling_slack,
    states,
)


@pytest.fixture
def core(bed: LifecycleBed, fake_slack: FakeSlack) -> Iterator[Core]:
    with core_telling_slack(bed, fake_slack) as built:
        yield built


def up_and_ready(bed: LifecycleBed, core: Core, iid: int) -> str:
    bed.add_mr(iid)
    env = Requests(core).request_up_mr(bed.project_path, iid, actor="slack:U0ALICE",
                                       manual=True)
    assert Reconciler(core).run_pass(follow=True, dry_run=False, only=[env.key]).ok
    return env.key


def annotation(kube_api: client.ApiClient, key: str) -> str | None:
    ns = client.CoreV1Api(kube_api).read_namespace(f"preview-{key}")
    found: str | None = ns.metadata.annotations.get(records.ANNOUNCEMENT)
    return found


def test_the_namespace_gives_the_announcement_back(bed: LifecycleBed, fake_slack: FakeSlack,
                                                   core: Core,
                                                   kube_api: client.ApiClient) -> None:
    key = up_and_ready(bed, core, 41)
    [announcement] = announcements(fake_slack)
    ref = f"{CHANNEL}/{announcement.ts}"
    assert core.store.announcement(key) == ref
    assert annotation(kube_api, key) == ref

    bed.redis().hdel(f"previewbot:env:{key}", "announcement")  # Redis lost it
    assert core.store.announcement(key) is None
    Requests(core).extend(key, timedelta(hours=1), actor="slack:U0ALICE")

    [announcement] = announcements(fake_slack)  # still one message…
    assert states(announcement) == ["deploying", "ready", "ready"]  # …edited again
    assert core.store.announcement(key) == ref  # and Redis knows it again


def test_a_deleted_announcement_is_posted_again(bed: LifecycleBed, fake_slack: FakeSlack,
                                                core: Core, kube_api: client.ApiClient) -> None:
    key = up_and_ready(bed, core, 42)
    [first] = announcements(fake_slack)
    WebClient(token=fake_slack.bot_token, base_url=fake_slack.url).chat_delete(
        channel=CHANNEL, ts=first.ts)  # deleted by someone in the channel

    Requests(core).extend(key, timedelta(hours=1), actor="slack:U0ALICE")

    [second] = announcements(fake_slack)
    assert second.ts != first.ts and states(second) == ["ready"]
    assert core.store.announcement(key) == f"{CHANNEL}/{second.ts}"
    assert annotation(kube_api, key) == f"{CHANNEL}/{second.ts}"


def test_a_teardown_edits_the_announcement_redis_lost(
        bed: LifecycleBed, fake_slack: FakeSlack, core: Core) -> None:
    key = up_and_ready(bed, core, 43)
    bed.redis().hdel(f"previewbot:env:{key}", "announcement")
    Requests(core).request_down(key, reason="test", actor="slack:U0ALICE")

    # The namespace knew the message; the teardown takes it before deleting the namespace.
    assert Reconciler(core).run_pass(follow=True, dry_run=False, only=[key]).ok

    [announcement] = announcements(fake_slack)
    assert states(announcement) == ["deploying", "ready", "tearing", "gone"]
    assert core.store.announcement(key) is None  # a new lifecycle gets a new message


def test_a_teardown_never_announced_posts_nothing(bed: LifecycleBed, fake_slack: FakeSlack,
                                                  core: Core) -> None:
    bed.add_mr(44)
    env = Requests(core).request_up_mr(bed.project_path, 44, actor="cli:root", manual=True)
    Requests(core).request_down(env.key, reason="changed my mind", actor="cli:root")
    assert Reconciler(core).run_pass(follow=True, dry_run=False, only=[env.key]).ok
    assert fake_slack.messages() == []
