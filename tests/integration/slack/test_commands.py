"""`/preview` against a real `previewbot serve`: signed slash commands as Slack sends
them, the Slack and GitLab fakes, real Redis, the real cluster and Helm. Each test
asserts the reply *and* the resulting state."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from bot.domain.model import Status
from bot.engine.core import Core
from tests.fakes.slack import FakeSlack
from tests.integration.lifecycle_bed import LifecycleBed, helm_release
from tests.integration.slack.support import (
    ADMIN,
    AUTHOR,
    CHANNEL,
    GUEST,
    MAINTAINER,
    STRANGER,
    announcements,
    configure_slack,
    env_of,
    ephemeral_reply,
    reply_to,
    send_command,
    start_slack_server,
    states,
    wait_announced,
    wait_settled,
    wait_status,
)
from tests.integration.webhook_support import Server


@pytest.fixture
def server(bed: LifecycleBed, fake_slack: FakeSlack) -> Iterator[Server]:
    configure_slack(bed, fake_slack)
    running = start_slack_server(bed, fake_slack)
    yield running
    running.stop()


@pytest.fixture
def core(bed: LifecycleBed) -> Core:
    return bed.core()


def namespace(kube_api: client.ApiClient, key: str) -> client.V1Namespace:
    return client.CoreV1Api(kube_api).read_namespace(f"preview-{key}")


def test_up_extend_keep_down_and_status(bed: LifecycleBed, fake_slack: FakeSlack,
                                        server: Server, core: Core,
                                        kube_api: client.ApiClient) -> None:
    sha = bed.add_mr(7)
    key = f"{bed.slug}-mr-7"

    answer = send_command(server.url, fake_slack, f"up {bed.project_path}!7 for 6h",
                          user=AUTHOR)
    assert (answer.status, answer.body) == (200, b"")  # acked at once; the answer follows
    reply = ephemeral_reply(fake_slack, answer)
    assert f"`{key}`" in reply and sha[:8] in reply and f"<#{CHANNEL}>" in reply
    env = wait_status(core, key, Status.READY)
    wait_announced(fake_slack, "ready")
    assert env.desired.manual and env.desired.owner == "alice"
    assert env.desired.expires_at - env.desired.created_at == timedelta(hours=6)
    assert helm_release(bed, key) is not None

    before = env.desired.expires_at
    reply = reply_to(server, fake_slack, f"extend {bed.project_path}!7 2h", AUTHOR)
    env = env_of(core, key)
    assert env.desired.expires_at == before + timedelta(hours=2)
    assert "now expires" in reply
    assert namespace(kube_api, key).metadata.annotations["previewbot/expires-at"] == (
        env.desired.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"))

    reply = reply_to(server, fake_slack, f"keep {key}", MAINTAINER)  # via slack_users
    env = env_of(core, key)
    assert env.desired.keep and env.desired.expires_at == env.desired.created_at + timedelta(
        days=7)
    assert "kept until its merge request closes" in reply

    reply = reply_to(server, fake_slack, f"down {key}", ADMIN)
    assert "Tearing down" in reply
    env = wait_status(core, key, Status.GONE)
    wait_announced(fake_slack, "gone")
    assert env.observed.reason == f"requested in Slack by slack:{ADMIN}"
    with pytest.raises(ApiException):
        namespace(kube_api, key)

    status = reply_to(server, fake_slack, f"status {bed.project_path}!7", STRANGER)
    for line in (f"up by slack:{AUTHOR}", f"extend by slack:{AUTHOR}",
                 f"keep by slack:{MAINTAINER}", f"down by slack:{ADMIN}",
                 "torn-down by reconcile"):
        assert line in status, status
    assert f"*keep* by <@{MAINTAINER}>" in status  # Slack shows people as mentions

    # One announcement through the whole lifecycle, edited in place; one thread reply each.
    [announcement] = announcements(fake_slack)
    assert states(announcement) == ["deploying", "ready", "ready", "ready", "tearing",
                                    "gone"]
    assert announcement.text.endswith(f"gone: requested in Slack by slack:{ADMIN}")
    posts = [c for c in fake_slack.calls
             if c.method == "chat.postMessage" and c.params.get("channel") == CHANNEL
             and not c.params.get("thread_ts")]
    assert len(posts) == 1
    replies = fake_slack.thread_replies(CHANNEL, announcement.ts)
    assert [r.text.split(": ", 1)[1].split(" ")[0] for r in replies] == [
        "deploying", "ready:", "extended", "extended", "tearing", "torn"]
    assert server.metric("previewbot_commands_total", command="up") == 1
    assert server.metric("previewbot_commands_total", command="status") == 1
    assert server.metric("previewbot_command_seconds_count") == 5


def test_who_may_act(bed: LifecycleBed, fake_slack: FakeSlack, server: Server,
                     core: Core, kube_api: client.ApiClient) -> None:
    bed.add_mr(8)
    key = f"{bed.slug}-mr-8"
    reply_to(server, fake_slack, f"up {bed.project_path}!8", AUTHOR)
    wait_settled(core, key)  # the deploy's last write (the GitLab environment's id) done
    wait_announced(fake_slack, "ready")  # its ts is written on the namespace then
    # What requests write: the desired state, the history, the namespace's metadata.
    record, meta = env_of(core, key).desired, namespace(kube_api, key).metadata

    for command in (f"down {key}", f"extend {key} 1d", f"keep {key}"):
        reply = reply_to(server, fake_slack, command, STRANGER)
        assert "you may not" in reply, reply
        assert "its author (alice)" in reply and "(maint)" in reply and f"<@{ADMIN}>" in reply
    assert env_of(core, key).desired == record  # nothing changed: not in Redis…
    after = namespace(kube_api, key).metadata
    assert (after.labels, after.annotations) == (meta.labels, meta.annotations)  # …nor there
    assert [h.action for h in core.store.history(key)] == ["up"]

    bed.add_mr(9)
    reply = reply_to(server, fake_slack, f"up {bed.project_path}!9", GUEST)
    assert "you may not bring up" in reply and "not guests" in reply
    assert core.store.get(f"{bed.slug}-mr-9") is None

    reply = reply_to(server, fake_slack, f"extend {key} 1d", ADMIN)
    assert env_of(core, key).desired.expires_at == record.expires_at + timedelta(days=1)
    reply = reply_to(server, fake_slack, f"down {key}", AUTHOR)
    wait_status(core, key, Status.GONE)


def test_typos_get_usage_and_did_you_mean(bed: LifecycleBed, fake_slack: FakeSlack,
                                          server: Server, core: Core) -> None:
    cases = {
        "lst": ['unknown command \\"lst\\"; did you mean \\"list\\"?', "Usage:"],
        f"up {bed.project_path[:-1]}!7": [f'did you mean \\"{bed.project_path}\\"?',
                                           "/preview up PROJECT!IID"],
        "extend": ["`extend` needs an environment", "/preview extend ENV [DURATION]"],
        f"up {bed.project_path}!7 4h": ["write the lifetime as `for DURATION`"],
        f"extend {bed.slug}-mr-7 soon": ['extension \\"soon\\" is not a duration'],
        f"status {bed.slug}-mr-77": ["no environment", "/preview status ENV"],
        "status payload-api-mr-1": ['no environment \\"payload-api-mr-1\\"'],
        "": ["/preview list [mine|PROJECT]", "/preview down ENV"],
    }
    for text, expected in cases.items():
        reply = reply_to(server, fake_slack, text, STRANGER)
        for part in expected:
            assert part in reply, (text, reply)
    assert server.metric("previewbot_commands_total", command="invalid") == 5
    assert core.store.all() == []  # nothing was recorded


def test_list_and_list_mine(bed: LifecycleBed, fake_slack: FakeSlack, server: Server,
                            core: Core) -> None:
    bed.add_mr(10)
    key = f"{bed.slug}-mr-10"
    reply_to(server, fake_slack, f"up {bed.project_path}!10", AUTHOR)
    wait_status(core, key, Status.READY)

    everything = reply_to(server, fake_slack, "list", STRANGER)
    assert f"`{key}`" in everything and f"https://{key}.preview.test" in everything
    assert "ready" in everything and "alice" in everything and "expires in 1d23h" in everything
    assert f"`{key}`" in reply_to(server, fake_slack, "list mine", AUTHOR)
    assert "No active environments (yours)" in reply_to(server, fake_slack, "list mine",
                                                        STRANGER)
    assert f"`{key}`" in reply_to(server, fake_slack, f"list {bed.project_path}", STRANGER)


def test_up_for_a_lifetime_on_a_running_environment_needs_the_extend_permission(
        bed: LifecycleBed, fake_slack: FakeSlack, server: Server, core: Core) -> None:
    """Issue 16, item 7: a duration given to `up` for an environment that runs already
    extends it, so it takes the same permission as `extend`."""
    bed.add_mr(11)
    key = f"{bed.slug}-mr-11"
    reply_to(server, fake_slack, f"up {bed.project_path}!11", AUTHOR)
    before = wait_status(core, key, Status.READY).desired

    reply = reply_to(server, fake_slack, f"up {bed.project_path}!11 for 7d", STRANGER)

    assert "you may not extend" in reply and "its author (alice)" in reply, reply
    assert env_of(core, key).desired.expires_at == before.expires_at
    assert [h.action for h in core.store.history(key)] == ["up"]
    reply = reply_to(server, fake_slack, f"up {bed.project_path}!11 for 3d", AUTHOR)
    assert env_of(core, key).desired.expires_at > before.expires_at  # the author may
