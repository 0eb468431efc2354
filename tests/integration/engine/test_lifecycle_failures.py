"""The lifecycle engine when things go wrong: crashes, strangers' namespaces,
charts that never become ready, capacity, hostile branch names."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client.rest import ApiException

from bot.cluster.helm import Helm
from bot.config import Settings
from bot.domain import naming
from bot.domain.errors import PreviewError
from bot.domain.model import Status
from bot.domain.naming import identity_key
from bot.engine.notify import NoticeKind, RecordingNotifier
from bot.runtime.wiring import build, build_core
from tests.cluster.testbed import CRASH_LOOP, READY_AFTER
from tests.integration.lifecycle_bed import LifecycleBed, helm_release, kill_group, up_ok
from tests.polling import poll

SLOW = Path(__file__).resolve().parents[1] / "charts" / "slow"


def managed_namespaces(core_api: client.CoreV1Api, bed: LifecycleBed) -> list[str]:
    return [ns.metadata.name for ns in core_api.list_namespace(
        label_selector="app.kubernetes.io/managed-by=previewbot").items
        if ns.metadata.name.startswith(f"preview-{bed.slug}")]


def test_sigkill_during_deploy_then_one_pass_converges(bed: LifecycleBed,
                                                       kube_api: client.ApiClient) -> None:
    # Pods that never schedule keep the first process inside its deploy.
    bed.configure(extra_values="nodeSelector: {previewbot-test/never: 'true'}")
    bed.add_mr(21)
    env_key = f"{bed.slug}-mr-21"
    core_api = client.CoreV1Api(kube_api)
    process = bed.spawn("up", f"{bed.project_path}!21")
    # Killed while it waits for readiness, after helm finished: a helm killed mid-install
    # leaves the release pending, recovered only after Helm's timeout (tested apart).
    poll("the deploy to wait for readiness",
         lambda: (release := helm_release(bed, env_key)) is not None
         and release["status"] == "deployed", timeout=90)
    kill_group(process)

    bed.configure()  # the fixed chart values: now it can become ready
    done = bed.cli("reconcile")
    assert done.returncode == 0, done.stdout + done.stderr
    assert managed_namespaces(core_api, bed) == [f"preview-{env_key}"]
    release = helm_release(bed, env_key)
    assert release is not None and release["status"] == "deployed"
    engine, _ = bed.wired()
    assert engine.resolve(env_key).observed.status is Status.READY


def test_sigkill_during_teardown_then_one_pass_converges(bed: LifecycleBed,
                                                         kube_api: client.ApiClient) -> None:
    bed.add_mr(22)
    env_key = f"{bed.slug}-mr-22"
    up_ok(bed, f"{bed.project_path}!22")
    core_api = client.CoreV1Api(kube_api)
    process = bed.spawn("down", env_key)

    def teardown_started() -> bool:
        try:
            ns = core_api.read_namespace(f"preview-{env_key}")
        except ApiException as error:  # already gone: the kill comes late, still valid
            return error.status == 404
        return "previewbot/teardown-reason" in (ns.metadata.annotations or {})

    poll("the teardown to start", teardown_started, timeout=60, interval=0.05)
    kill_group(process)

    done = bed.cli("reconcile")
    assert done.returncode == 0, done.stdout + done.stderr
    assert managed_namespaces(core_api, bed) == []
    assert helm_release_absent(bed, env_key)
    engine, _ = bed.wired()
    assert engine.core.store.get(env_key).observed.status is Status.GONE  # type: ignore[union-attr]


def helm_release_absent(bed: LifecycleBed, env_key: str) -> bool:
    try:
        return helm_release(bed, env_key) is None
    except Exception:  # namespace gone: helm list fails or lists nothing
        return True


def test_a_strangers_namespace_is_never_touched(bed: LifecycleBed,
                                                kube_api: client.ApiClient) -> None:
    bed.add_mr(23)
    env_key = f"{bed.slug}-mr-23"
    core_api = client.CoreV1Api(kube_api)
    core_api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=f"preview-{env_key}", labels={"team": "someone-else"})))
    try:
        before = core_api.read_namespace(f"preview-{env_key}").metadata
        done = bed.cli("up", f"{bed.project_path}!23")
        assert done.returncode == 1
        assert "not managed by previewbot" in done.stdout + done.stderr
        down = bed.cli("down", env_key)
        assert down.returncode == 1
        assert bed.redis().keys("previewbot:env:*") == []  # refused before recording
        reconcile = bed.cli("reconcile")
        assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr
        after = core_api.read_namespace(f"preview-{env_key}").metadata
        assert after.resource_version == before.resource_version
        assert after.labels == before.labels and after.annotations == before.annotations
        assert helm_release(bed, env_key) is None
    finally:
        core_api.delete_namespace(f"preview-{env_key}")


def test_a_chart_that_never_becomes_ready_ends_failed_with_the_reason(
        bed: LifecycleBed) -> None:
    bed.configure(ready_timeout="8s",
                  extra_values="nodeSelector: {previewbot-test/never: 'true'}")
    bed.add_mr(24)
    env_key = f"{bed.slug}-mr-24"
    done = bed.cli("up", f"{bed.project_path}!24")
    assert done.returncode == 1
    engine, _ = bed.wired()
    env = engine.resolve(env_key)
    assert env.observed.status is Status.FAILED
    assert f"Deployment {env_key}" in env.observed.reason
    assert "Unschedulable" in env.observed.reason
    assert "failed" in bed.cli("status", env_key).stdout


def test_capacity_refuses_with_the_oldest_environments(bed: LifecycleBed,
                                                       kube_api: client.ApiClient) -> None:
    bed.configure(project_extra="max_envs: 1")
    bed.add_mr(25)
    bed.add_mr(26)
    up_ok(bed, f"{bed.project_path}!25")
    done = bed.cli("up", f"{bed.project_path}!26")
    assert done.returncode == 1
    assert "capacity reached" in done.stderr and f"{bed.slug}-mr-25" in done.stderr
    with pytest.raises(ApiException):
        client.CoreV1Api(kube_api).read_namespace(f"preview-{bed.slug}-mr-26")


NAMED_HOSTILE = ["../../etc", "--set x=y", "a'b\"c", "line\nbreak", "🚀 emoji/branch",
                 "x" * 255, "y", "0o17", "{{ .Values }}", "$(reboot)"]


def hostile_examples(test: Callable[..., None]) -> Callable[..., None]:
    """Every named hostile branch runs, every time (not left to random draws)."""
    for branch in NAMED_HOSTILE:
        test = example(branch=branch)(test)
    return test


@settings(max_examples=4, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@hostile_examples
@given(branch=st.text(min_size=1, max_size=255).filter(
    # "." and ".." cannot be branch names (git refuses them) nor URL path segments
    lambda s: s.strip() and all(part not in (".", "..") for part in s.split("/"))))
def test_hostile_branch_names_reach_helm_only_in_the_values_file(
        bed: LifecycleBed, branch: str) -> None:
    sha = "c" * 40
    bed.gitlab.add_branch(bed.project_id, branch, sha)
    seen: list[tuple[list[str], dict[str, object]]] = []

    def observe(argv: Sequence[str]) -> None:
        values: dict[str, object] = {}
        if "-f" in argv:
            values = json.loads(Path(argv[list(argv).index("-f") + 1]).read_text())
        seen.append((list(argv), values))

    core = bed.core()
    core = replace(core, helm=Helm(bed.testbed.helm, kubeconfig=bed.testbed.kubeconfig,
                                   on_command=observe))
    engine, reconciler = build(core)
    env = engine.request_up_branch(bed.project_path, branch, actor="test")
    try:
        result = reconciler.run_pass(follow=True, dry_run=False, only=[env.key])
        assert result.ok, result.outcomes
        installs = [(argv, values) for argv, values in seen if "upgrade" in argv]
        assert installs, "helm upgrade --install was never called"
        for argv, values in installs:
            assert "--set" not in argv and branch not in argv
            # A branch that is already a clean DNS label legitimately shows up in the
            # release/namespace names derived from it; short ones occur by chance.
            if len(branch) >= 8 and not naming.is_dns_label(branch):
                assert all(branch not in arg for arg in argv)
            assert values["preview"]["branch"] == branch  # type: ignore[index]
    finally:
        engine.request_down(env.key, reason="test done", actor="test")
        assert reconciler.run_pass(follow=True, dry_run=False, only=[env.key]).ok


def test_a_teardown_requested_during_a_deploy_is_not_lost(bed: LifecycleBed,
                                                          kube_api: client.ApiClient) -> None:
    bed.add_mr(27)
    env_key = f"{bed.slug}-mr-27"
    engine, reconciler = bed.wired()
    other_replica, _ = bed.wired()
    engine.request_up_mr(bed.project_path, 27, actor="test")

    def meanwhile(key: str, text: str) -> None:
        # Another replica records "MR merged" while this one is inside helm/wait.
        if text.startswith("helm upgrade"):
            other_replica.request_down(key, reason="MR !27 merged", actor="webhook")

    result = reconciler.run_pass(follow=True, dry_run=False, only=[env_key], progress=meanwhile)
    assert result.ok, result.outcomes
    env = engine.core.store.get(env_key)
    assert env is not None and env.observed.status is Status.GONE
    assert env.observed.reason == "MR !27 merged"
    assert managed_namespaces(client.CoreV1Api(kube_api), bed) == []


def test_a_missed_merge_webhook_is_caught_by_the_next_reconcile(bed: LifecycleBed) -> None:
    bed.add_mr(28)
    env_key = f"{bed.slug}-mr-28"
    up_ok(bed, f"{bed.project_path}!28")
    bed.gitlab.update_merge_request(bed.project_id, 28, state="merged")  # no webhook sent
    done = bed.cli("reconcile")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"delete  {env_key}: MR !28 merged (found by reconcile)" in done.stdout
    engine, _ = bed.wired()
    env = engine.core.store.get(env_key)
    assert env is not None and env.observed.status is Status.GONE


def test_gitlab_down_never_blocks_a_teardown_and_the_stop_catches_up(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    bed.add_mr(29)
    env_key = f"{bed.slug}-mr-29"
    up_ok(bed, f"{bed.project_path}!29")
    engine, reconciler = bed.wired()
    engine.request_down(env_key, reason="requested", actor="test")
    bed.gitlab.set_down(True)
    assert reconciler.run_pass(follow=True, dry_run=False, only=[env_key]).ok
    assert managed_namespaces(client.CoreV1Api(kube_api), bed) == []
    assert [e["state"] for e in bed.gitlab.environments(bed.project_id)] == ["available"]

    bed.gitlab.set_down(False)
    result = reconciler.run_pass(follow=True, dry_run=False, only=[env_key])
    assert [a.kind.value for a in result.plan.actions] == ["sync"] and result.ok
    assert [e["state"] for e in bed.gitlab.environments(bed.project_id)] == ["stopped"]
    assert reconciler.run_pass(follow=True, dry_run=False, only=[env_key]).plan.actions == ()


def test_a_namespace_managed_for_another_project_is_left_alone_and_ours_gets_its_own_key(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    bed.add_mr(30)
    env_key = f"{bed.slug}-mr-30"
    core_api = client.CoreV1Api(kube_api)
    core_api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=f"preview-{env_key}", labels={"app.kubernetes.io/managed-by": "previewbot",
                                           "previewbot/env": env_key,
                                           "previewbot/project-id": "999999"})))
    before = core_api.read_namespace(f"preview-{env_key}").metadata.resource_version
    done = bed.cli("up", f"{bed.project_path}!30")
    assert done.returncode == 0, done.stdout + done.stderr
    # README "How it converges": two identities never share a key; ours gets the stable hash suffix
    ours = identity_key(env_key, f"{bed.project_id}:mr:30")
    assert f"{ours}: ready" in done.stdout
    labels = core_api.read_namespace(f"preview-{ours}").metadata.labels
    assert labels["previewbot/project-id"] == str(bed.project_id)
    assert core_api.read_namespace(f"preview-{env_key}").metadata.resource_version == before
    assert helm_release(bed, env_key) is None
    # and every later reference to !30 finds ours, never the other project's
    down = bed.cli("down", f"{bed.project_path}!30")
    assert down.returncode == 0, down.stdout + down.stderr
    assert core_api.read_namespace(f"preview-{env_key}").metadata.resource_version == before


def test_two_replicas_racing_for_the_last_slot_get_exactly_one(bed: LifecycleBed) -> None:
    bed.configure(project_extra="max_envs: 1")
    for iid in range(27, 33):
        bed.add_mr(iid)
    start = threading.Barrier(6)
    outcomes: dict[int, str] = {}

    def ask(iid: int) -> None:
        requests, _ = bed.wired()  # one core per "replica", one Redis
        start.wait()
        try:
            requests.request_up_mr(bed.project_path, iid, actor="test")
            outcomes[iid] = "recorded"
        except PreviewError as error:
            outcomes[iid] = str(error)

    threads = [threading.Thread(target=ask, args=(iid,)) for iid in range(27, 33)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert list(outcomes.values()).count("recorded") == 1
    assert all("capacity reached" in text for text in outcomes.values() if text != "recorded")
    requests, _ = bed.wired()
    assert len(requests.environments()) == 1


def test_a_helm_hook_that_keeps_timing_out_ends_failed_after_three_tries(
        bed: LifecycleBed) -> None:
    bed.configure(chart=SLOW)  # a pre-install hook no node accepts
    bed.add_mr(33)
    env_key = f"{bed.slug}-mr-33"
    argvs: list[Sequence[str]] = []
    core = build_core(Settings.from_env({**bed.environ(), "PREVIEWBOT_HELM_TIMEOUT": "2s"}))
    core = replace(core, helm=replace_helm(core.helm, argvs))
    requests, reconciler = build(core)
    requests.request_up_mr(bed.project_path, 33, actor="test")
    for attempt in (1, 2):
        [outcome] = reconciler.run_pass(follow=True, dry_run=False, only=[env_key]).outcomes
        assert not outcome.ok and outcome.retry_after is not None, attempt
    [outcome] = reconciler.run_pass(follow=True, dry_run=False, only=[env_key]).outcomes
    assert not outcome.ok and outcome.retry_after is None
    env = core.store.get(env_key)
    assert env is not None and env.observed.status is Status.FAILED
    assert "gave up after 3 attempts" in env.observed.reason
    # not forever
    assert reconciler.run_pass(follow=True, dry_run=False, only=[env_key]).outcomes == ()
    assert [argv[1] for argv in argvs].count("upgrade") == 3


def replace_helm(helm: Helm, argvs: list[Sequence[str]]) -> Helm:
    return Helm(helm.binary, kubeconfig=helm.kubeconfig, timeout=helm.timeout,
                on_command=argvs.append)


# Pods that behave like real ones (kwok Stages of the test bed, tests/cluster/testbed.py):
# readiness that takes its time, and a container that keeps crashing.

def test_a_slow_pod_is_waited_for_with_its_reason_then_ready(bed: LifecycleBed) -> None:
    bed.configure(extra_values=f'podAnnotations: {{"{READY_AFTER}": "6s"}}')
    bed.add_mr(34)
    env_key = f"{bed.slug}-mr-34"
    done = up_ok(bed, f"{bed.project_path}!34")
    assert f"{env_key}: waiting: Deployment" in done.stdout  # progress names what it waits for
    assert f"{env_key}: ready: https://{env_key}.preview.test" in done.stdout
    requests, _ = bed.wired()
    assert requests.resolve(env_key).observed.status is Status.READY


def test_a_crash_looping_container_ends_failed_naming_the_reason(bed: LifecycleBed) -> None:
    bed.configure(extra_values=f'podAnnotations: {{"{CRASH_LOOP}": "true"}}',
                  ready_timeout="20s")
    bed.add_mr(35)
    env_key = f"{bed.slug}-mr-35"
    done = bed.cli("up", f"{bed.project_path}!35")
    assert done.returncode == 1, done.stdout + done.stderr
    requests, reconciler = bed.wired()
    env = requests.resolve(env_key)
    assert env.observed.status is Status.FAILED
    assert "CrashLoopBackOff" in env.observed.reason and "20s" in env.observed.reason
    [note] = [n for n in bed.gitlab.notes(bed.project_id, 35) if env_key in n["body"]]
    assert "failed" in note["body"] and "CrashLoopBackOff" in note["body"]
    # no loop
    assert reconciler.run_pass(follow=True, dry_run=False, only=[env_key]).plan.actions == ()


def test_a_smoke_check_that_fails_ends_failed_naming_the_url(bed: LifecycleBed) -> None:
    bed.configure(project_extra="smoke_path: /healthz")
    bed.add_mr(36)
    env_key = f"{bed.slug}-mr-36"
    done = bed.cli("up", f"{bed.project_path}!36")
    assert done.returncode == 1, done.stdout + done.stderr
    requests, _ = bed.wired()
    env = requests.resolve(env_key)
    # the pods became ready; the preview's URL does not answer (no such host on this bed)
    assert env.observed.status is Status.FAILED
    assert f"https://{env_key}.preview.test/healthz" in env.observed.reason


BROKEN = Path(__file__).resolve().parents[1] / "charts" / "broken"


def test_a_commit_pushed_while_a_deploy_fails_is_still_deployed(bed: LifecycleBed) -> None:
    bed.configure(chart=BROKEN)  # every helm upgrade of it fails for good
    bed.add_mr(37)
    env_key = f"{bed.slug}-mr-37"
    argvs: list[Sequence[str]] = []
    core = bed.core()
    core = replace(core, helm=replace_helm(core.helm, argvs))
    requests, reconciler = build(core)
    other_replica, _ = bed.wired()
    requests.request_up_mr(bed.project_path, 37, actor="test")
    fix = "f1" * 20

    def meanwhile(key: str, text: str) -> None:
        # The author pushes a fix while this deploy is inside helm (and about to fail).
        current = other_replica.core.store.get(key)
        if text.startswith("helm upgrade") and current and current.desired.sha != fix:
            bed.gitlab.update_merge_request(bed.project_id, 37, sha=fix)
            other_replica.request_up_mr(bed.project_path, 37, actor="webhook")

    reconciler.run_pass(follow=True, dry_run=False, only=[env_key], progress=meanwhile)
    # the fix was tried too — not skipped as "the same inputs failed before"
    assert [argv[1] for argv in argvs].count("upgrade") == 2
    env = core.store.get(env_key)
    assert env is not None and env.observed.status is Status.FAILED
    assert env.observed.deployed_sha == fix == env.desired.sha


def test_a_teardown_whose_mr_was_deleted_in_gitlab_is_finished_not_retried_forever(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    bed.add_mr(38)
    env_key = f"{bed.slug}-mr-38"
    up_ok(bed, f"{bed.project_path}!38")
    bed.gitlab.delete_merge_request(bed.project_id, 38)  # notes answer 404 from now on
    done = bed.cli("down", f"{bed.project_path}!38")
    assert done.returncode == 0, done.stdout + done.stderr
    requests, reconciler = bed.wired()
    env = requests.core.store.get(env_key)
    assert env is not None and env.observed.status is Status.GONE
    assert env.observed.review_synced_hash == ""  # done: nothing left to tell GitLab
    before = len(bed.gitlab.requests)
    assert reconciler.run_pass(follow=True, dry_run=False, only=[env_key]).plan.actions == ()
    assert bed.gitlab.requests[before:] == []


def test_a_deploy_helm_refuses_is_told_failed_on_the_mr_and_to_the_notifier(
        bed: LifecycleBed) -> None:
    bed.configure(chart=BROKEN)  # every helm upgrade of it fails for good
    bed.add_mr(39)
    env_key = f"{bed.slug}-mr-39"
    notices = RecordingNotifier()
    core = replace(bed.core(), notifier=notices)
    requests, reconciler = build(core)
    requests.request_up_mr(bed.project_path, 39, actor="test")
    [outcome] = reconciler.run_pass(follow=True, dry_run=False, only=[env_key]).outcomes
    assert not outcome.ok
    env = core.store.get(env_key)
    assert env is not None and env.observed.status is Status.FAILED
    assert [n.kind for n in notices.notices] == [NoticeKind.DEPLOYING, NoticeKind.FAILED]
    assert notices.notices[-1].reason == env.observed.reason
    [note] = [n for n in bed.gitlab.notes(bed.project_id, 39) if env_key in n["body"]]
    assert "failed" in note["body"] and env.observed.reason in note["body"]
