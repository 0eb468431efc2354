"""The announcement through an environment's life, with real `previewbot serve`
processes: one message across restarts and a Redis wipe, the expiry warning (once,
with a DM to the author, before the reap), and Slack outages that never fail a deploy."""

from __future__ import annotations

import json

from kubernetes import client

from bot.config import Settings
from bot.domain import records
from bot.domain.model import Status
from bot.engine.notify import NoticeKind
from bot.engine.requests import Requests
from bot.runtime.wiring import build_core, build_parts
from handlers.slack import formatting
from handlers.slack.app import SlackBot
from tests.fakes.slack import FakeSlack
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.slack.support import (
    AUTHOR,
    CHANNEL,
    announcements,
    configure_slack,
    reply_to,
    slack_environ,
    start_slack_server,
    states,
    wait_announced,
    wait_status,
)
from tests.integration.webhook_support import mr_event, post
from tests.polling import poll


def top_level_posts(fake: FakeSlack) -> int:
    return len([c for c in fake.calls if c.method == "chat.postMessage"
                and c.params.get("channel") == CHANNEL and not c.params.get("thread_ts")])


def test_one_announcement_across_a_restart(bed: LifecycleBed, fake_slack: FakeSlack) -> None:
    configure_slack(bed, fake_slack)
    core = bed.core()
    key = f"{bed.slug}-mr-31"
    bed.add_mr(31)
    first = start_slack_server(bed, fake_slack)
    try:
        reply_to(first, fake_slack, f"up {bed.project_path}!31", AUTHOR)
        wait_status(core, key, Status.READY)
        wait_announced(fake_slack, "ready")
    finally:
        first.kill()  # SIGKILL mid-lifecycle: nothing is flushed on the way out
    second = start_slack_server(bed, fake_slack)
    try:
        reply_to(second, fake_slack, f"extend {key} 1h", AUTHOR)
        reply_to(second, fake_slack, f"down {key}", AUTHOR)
        wait_status(core, key, Status.GONE)
        [announcement] = [wait_announced(fake_slack, "gone")]
    finally:
        second.stop()
    assert states(announcement) == ["deploying", "ready", "ready", "tearing", "gone"]
    assert top_level_posts(fake_slack) == 1
    updates = [c for c in fake_slack.calls if c.method == "chat.update"]
    assert {c.params["ts"] for c in updates} == {announcement.ts}


def test_one_announcement_across_a_redis_wipe(bed: LifecycleBed, fake_slack: FakeSlack,
                                              kube_api: client.ApiClient) -> None:
    configure_slack(bed, fake_slack, reconcile_interval="2s")
    core = bed.core()
    key = f"{bed.slug}-mr-32"
    bed.add_mr(32)
    first = start_slack_server(bed, fake_slack)
    try:
        reply_to(first, fake_slack, f"up {bed.project_path}!32", AUTHOR)
        wait_status(core, key, Status.READY)
        ts = wait_announced(fake_slack, "ready").ts
        poll("the announcement on the namespace", lambda: client.CoreV1Api(kube_api)
             .read_namespace(f"preview-{key}").metadata.annotations
             .get(records.ANNOUNCEMENT) == f"{CHANNEL}/{ts}")
    finally:
        first.kill()
    bed.redis().flushdb()  # Redis lost everything; the cluster is the durable record
    second = start_slack_server(bed, fake_slack)
    try:
        # The periodic pass rebuilds the record from the namespace and re-verifies it:
        # its READY edits the same message.
        poll("the rebuilt environment to be announced again",
             lambda: len(announcements(fake_slack)[0].history) == 3, timeout=60)
        assert core.store.announcement(key) == f"{CHANNEL}/{ts}"
        reply_to(second, fake_slack, f"down {key}", AUTHOR)
        wait_status(core, key, Status.GONE)
        announcement = wait_announced(fake_slack, "gone")
    finally:
        second.stop()
    assert states(announcement) == ["deploying", "ready", "ready", "tearing", "gone"]
    assert top_level_posts(fake_slack) == 1


def test_expiry_warning_once_with_a_dm_before_the_reap(bed: LifecycleBed,
                                                      fake_slack: FakeSlack) -> None:
    configure_slack(bed, fake_slack, reconcile_interval="2s",
                    project_extra="ttl: 20s\n    warn_before: 12s")
    core = bed.core()
    key = f"{bed.slug}-mr-33"
    bed.add_mr(33)
    server = start_slack_server(bed, fake_slack)
    try:
        reply_to(server, fake_slack, f"up {bed.project_path}!33", AUTHOR)
        wait_status(core, key, Status.GONE, timeout=90)  # reaped at its TTL
        announcement = wait_announced(fake_slack, "gone")
    finally:
        server.stop()
    assert states(announcement) == ["deploying", "ready", "expiring", "tearing", "gone"]
    assert "TTL expired" in announcement.text
    warnings = [r for r in fake_slack.thread_replies(CHANNEL, announcement.ts)
                if ": expires in" in r.text]
    assert len(warnings) == 1
    assert formatting.EXTEND in json.dumps(warnings[0].blocks)
    [dm] = fake_slack.messages(fake_slack.dm_channel(AUTHOR))
    assert dm.text.startswith(f"Your preview environment {key}") and "expires at" in dm.text
    assert formatting.EXTEND in json.dumps(dm.blocks)
    calls = fake_slack.calls
    dm_at = next(i for i, c in enumerate(calls) if c.params.get("channel") == AUTHOR)
    gone_at = next(i for i, c in enumerate(calls) if c.method == "chat.update"
                   and "): gone" in str(c.params.get("text")))
    assert dm_at < gone_at  # warned before the reap
    assert [h.actor for h in core.store.history(key) if h.action == "warned"] == ["reaper"]
    assert [h.actor for h in core.store.history(key) if h.action == "torn-down"] == ["reaper"]


def test_slack_outages_never_fail_a_deploy(bed: LifecycleBed, fake_slack: FakeSlack) -> None:
    configure_slack(bed, fake_slack)
    core = bed.core()
    key = f"{bed.slug}-mr-34"
    sha = bed.add_mr(34)
    server = start_slack_server(bed, fake_slack)
    try:
        fake_slack.set_down(True)
        assert post(server, "Merge Request Hook", mr_event(bed, "open", 34, sha))[0] == 202
        wait_status(core, key, Status.READY)
        poll("the Slack errors to be counted",
             lambda: server.metric("previewbot_dependency_errors_total", dependency="slack") >= 2)
        assert announcements(fake_slack) == []

        fake_slack.set_down(False)
        calls = len(fake_slack.calls)
        fake_slack.fail_next(1, "ratelimited")  # 429 + Retry-After: slack_sdk waits, retries
        reply_to(server, fake_slack, f"extend {key} 1h", AUTHOR)
        announcement = wait_announced(fake_slack, "ready", reply="extended")
    finally:
        server.stop()
    first, retried = fake_slack.calls[calls], fake_slack.calls[calls + 1]
    assert (first.method, first.params) == (retried.method, retried.params)
    assert states(announcement) == ["ready"]  # the first notice Slack took
    assert core.store.announcement(key) == f"{CHANNEL}/{announcement.ts}"


def test_an_undeliverable_message_to_the_author_is_never_owed_nor_repeated(
        bed: LifecycleBed, fake_slack: FakeSlack) -> None:
    """The announcement is right and its thread told: the notice is delivered, though
    the author's direct message could not be sent (GitLab cannot say who they are).
    Were the whole notice owed, every catch-up tick would repeat the thread reply."""
    configure_slack(bed, fake_slack)
    settings = Settings.from_env(bed.environ() | slack_environ(fake_slack))
    slack = SlackBot(settings)
    parts = build_parts(settings)
    core = build_core(settings, parts=parts, notifier=slack.notifier_of(parts))
    bed.add_mr(36)
    env = Requests(core).request_up_mr(bed.project_path, 36, actor="cli:root")
    bed.gitlab.fail_next(50, 500, path_contains="/users")  # the author's e-mail: unknown now
    core.emit(NoticeKind.EXPIRING, env, "expires in 2h")
    assert core.store.owed_notices(topic="expiry") == {}
    for _ in range(3):
        core.catch_up_notices()
    [announcement] = announcements(fake_slack)
    assert states(announcement) == ["expiring"]
    assert len(fake_slack.thread_replies(CHANNEL, announcement.ts)) == 1
    assert fake_slack.messages(fake_slack.dm_channel(AUTHOR)) == []
