"""A namespace stuck Terminating, on the real test bed (issue 16, item 9): the test bed's
kube-controller-manager (the namespace controller) deletes what it can and reports what
holds the rest. The teardown says so at once, tells once what holds it past
``teardown_timeout``, rechecks with a backoff, and finishes normally once it is freed."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from kubernetes import client
from kubernetes.client.rest import ApiException

from bot.config import Settings
from bot.domain.model import Status
from bot.engine.core import Core
from bot.engine.notify import RecordingNotifier
from bot.engine.reconcile import Reconciler
from bot.engine.requests import Requests
from bot.engine.settings import EngineSettings, TeardownSettings
from bot.runtime.wiring import build_core, build_parts
from handlers.slack.app import SlackBot
from tests.clock import MovableClock
from tests.fakes.slack import FakeSlack
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.slack.support import (
    CHANNEL,
    announcements,
    configure_slack,
    slack_environ,
    states,
)
from tests.polling import poll

FINALIZER = "example.com/hold"
TIMEOUT = 30.0  # teardown_timeout: the clock is moved past it


@dataclass
class _HeldEnvironment:
    core_api: client.CoreV1Api
    clock: MovableClock
    notifier: RecordingNotifier
    requests: Requests
    reconciler: Reconciler
    key: str
    namespace: str


def _ready_then_held(bed: LifecycleBed, kube_api: client.ApiClient, iid: int) -> (
        _HeldEnvironment):
    """MR ``iid``'s environment READY, then a ConfigMap in it with a finalizer nobody
    removes; the engine on a movable clock with the teardown timeout ``TIMEOUT``."""
    core_api = client.CoreV1Api(kube_api)
    clock = MovableClock()
    notifier = RecordingNotifier()
    core: Core = replace(bed.core(clock=clock), notifier=notifier,
                         settings=EngineSettings(teardown=TeardownSettings(timeout=TIMEOUT)))
    requests, reconciler = Requests(core), Reconciler(core)
    bed.add_mr(iid)
    key = f"{bed.slug}-mr-{iid}"
    namespace = f"preview-{key}"
    requests.request_up_mr(bed.project_path, iid, actor="gitlab:alice")
    assert reconciler.run_pass(follow=True, dry_run=False, only=[key]).ok
    _held(core_api, namespace)
    return _HeldEnvironment(core_api, clock, notifier, requests, reconciler, key, namespace)


def _notes(bed: LifecycleBed, iid: int, key: str) -> list[str]:
    return [n["body"] for n in bed.gitlab.notes(bed.project_id, iid) if key in n["body"]]


def _held(core_api: client.CoreV1Api, namespace: str) -> None:
    core_api.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="held", finalizers=[FINALIZER])))


def _freed(core_api: client.CoreV1Api, namespace: str) -> None:
    core_api.patch_namespaced_config_map("held", namespace,
                                         {"metadata": {"finalizers": None}})


def _conditions(core_api: client.CoreV1Api, namespace: str) -> str:
    try:
        ns = core_api.read_namespace(namespace)
    except ApiException as error:
        if error.status == 404:
            return ""
        raise
    return " ".join(c.message or "" for c in (ns.status.conditions or []))


def test_a_teardown_held_by_a_finalizer_says_what_holds_it_and_finishes_once_freed(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    held = _ready_then_held(bed, kube_api, 91)
    core_api, clock, notifier = held.core_api, held.clock, held.notifier
    requests, reconciler, key, namespace = (held.requests, held.reconciler, held.key,
                                            held.namespace)

    requests.request_down(key, reason="reviewed", actor="slack:U0ALICE")
    reconciler.run_pass(dry_run=False, only=[key])  # the teardown starts
    assert requests.resolve(key).observed.status is Status.TEARING_DOWN
    told = [(n.kind.value, n.reason) for n in notifier.notices]
    assert told[-1][0] == "tearing-down", told  # said at once: no "Ready" with buttons

    # The namespace controller deletes the rest and reports what it cannot.
    poll("the namespace controller to report the finalizer",
         lambda: FINALIZER in _conditions(core_api, namespace), timeout=60, interval=0.5)
    early = reconciler.run_pass(dry_run=False, only=[key])
    assert not any(FINALIZER in reason for _, reason in
                   [(n.kind.value, n.reason) for n in notifier.notices]), notifier.notices
    clock.advance(timedelta(seconds=TIMEOUT + 5))
    late = reconciler.run_pass(dry_run=False, only=[key])
    [stuck] = [n for n in notifier.notices if FINALIZER in n.reason]
    assert stuck.kind.value == "tearing-down"
    assert "configmaps" in stuck.reason and namespace in stuck.reason, stuck.reason
    note = _notes(bed, 91, key)[-1]
    assert FINALIZER in note and "configmaps" in note, note
    # Rechecks back off: not a re-poke every second while it stays stuck.
    [before], [after] = early.outcomes, late.outcomes
    assert after.in_progress and after.retry_after is not None
    assert after.retry_after > (before.retry_after or 0) > 0, (before, after)
    clock.advance(timedelta(seconds=TIMEOUT))
    reconciler.run_pass(dry_run=False, only=[key])
    assert len([n for n in notifier.notices if FINALIZER in n.reason]) == 1  # told once

    _freed(core_api, namespace)

    def gone() -> bool:
        reconciler.run_pass(dry_run=False, only=[key])
        return requests.resolve(key).observed.status is Status.GONE
    poll(f"{key} to be gone once freed", gone, timeout=90, interval=0.5)
    [environment] = bed.gitlab.environments(bed.project_id)
    assert environment["state"] == "stopped"
    assert notifier.notices[-1].kind.value == "torn-down"
    assert "torn down" in _notes(bed, 91, key)[-1]


def test_the_announcement_says_tearing_down_at_once_then_what_holds_it(
        bed: LifecycleBed, kube_api: client.ApiClient, fake_slack: FakeSlack) -> None:
    """The same through the Slack notifier and the Slack fake: the buttons go at once;
    the announcement and its thread say what holds it; it ends "gone"."""
    core_api = client.CoreV1Api(kube_api)
    configure_slack(bed, fake_slack)
    clock = MovableClock()
    settings = Settings.from_env({**bed.environ(), **slack_environ(fake_slack)})
    slack = SlackBot(settings)
    parts = build_parts(settings, clock=clock)
    core = replace(build_core(settings, parts=parts, notifier=slack.notifier_of(parts)),
                   settings=EngineSettings(teardown=TeardownSettings(timeout=TIMEOUT)))
    requests, reconciler = Requests(core), Reconciler(core)
    bed.add_mr(92)
    key = f"{bed.slug}-mr-92"
    namespace = f"preview-{key}"
    requests.request_up_mr(bed.project_path, 92, actor="slack:U0ALICE", manual=True)
    assert reconciler.run_pass(follow=True, dry_run=False, only=[key]).ok
    _held(core_api, namespace)

    requests.request_down(key, reason="reviewed", actor="slack:U0ALICE")
    reconciler.run_pass(dry_run=False, only=[key])
    [announcement] = announcements(fake_slack)
    assert states(announcement)[-1] == "tearing", announcement.text
    assert not [b for b in announcement.blocks or [] if b["type"] == "actions"]

    poll("the namespace controller to report the finalizer",
         lambda: FINALIZER in _conditions(core_api, namespace), timeout=60, interval=0.5)
    clock.advance(timedelta(seconds=TIMEOUT + 5))
    reconciler.run_pass(dry_run=False, only=[key])
    [announcement] = announcements(fake_slack)
    assert FINALIZER in announcement.text and "configmaps" in announcement.text
    replies = [r.text for r in fake_slack.thread_replies(CHANNEL, announcement.ts)]
    assert len([r for r in replies if FINALIZER in r]) == 1, replies

    _freed(core_api, namespace)

    def gone() -> bool:
        reconciler.run_pass(dry_run=False, only=[key])
        return requests.resolve(key).observed.status is Status.GONE
    poll(f"{key} to be gone once freed", gone, timeout=90, interval=0.5)
    [announcement] = announcements(fake_slack)
    assert states(announcement)[-1] == "gone"


def test_a_reopened_mr_waiting_for_its_held_namespace_says_why_then_deploys(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    held = _ready_then_held(bed, kube_api, 93)
    core_api, clock, notifier = held.core_api, held.clock, held.notifier
    requests, reconciler, key, namespace = (held.requests, held.reconciler, held.key,
                                            held.namespace)
    requests.request_down(key, reason="MR closed", actor="gitlab:alice")
    reconciler.run_pass(dry_run=False, only=[key])
    poll("the namespace controller to report the finalizer",
         lambda: FINALIZER in _conditions(core_api, namespace), timeout=60, interval=0.5)

    requests.request_up_mr(bed.project_path, 93, actor="slack:U0ALICE", manual=True)  # again
    clock.advance(timedelta(seconds=TIMEOUT + 5))
    [waiting] = reconciler.run_pass(dry_run=False, only=[key]).outcomes
    assert waiting.action.kind.value == "wait", waiting.describe()  # not a silent BLOCKED
    assert waiting.ok and waiting.in_progress and FINALIZER in waiting.detail
    told = [n for n in notifier.notices if n.kind.value == "waiting"]
    assert len(told) == 1 and FINALIZER in told[0].reason, notifier.notices
    note = _notes(bed, 93, key)[-1]
    assert FINALIZER in note and "deployed once the namespace is gone" in note, note

    _freed(core_api, namespace)

    def ready() -> bool:
        reconciler.run_pass(dry_run=False, follow=True, only=[key])
        return requests.resolve(key).observed.status is Status.READY
    poll(f"{key} to be deployed once the old namespace is gone", ready, timeout=120,
         interval=0.5)
    assert len([n for n in notifier.notices if n.kind.value == "waiting"]) == 1
    assert ":rocket:" in _notes(bed, 93, key)[-1]
