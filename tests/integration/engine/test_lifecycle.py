"""The lifecycle engine end to end: real cluster, real Helm, real Redis, GitLab fake,
driven through the real `previewbot` CLI."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from bot.domain.model import Status
from bot.domain.records import EXPIRES_AT, rfc3339
from bot.engine.notify import NoticeKind, RecordingNotifier
from bot.engine.reconcile import Reconciler
from tests.clock import MovableClock
from tests.integration.lifecycle_bed import CHART, LifecycleBed, helm_release, up_ok


def test_up_creates_a_ready_environment(bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    sha = bed.add_mr(7)
    env_key = f"{bed.slug}-mr-7"
    done = up_ok(bed, f"{bed.project_path}!7")
    assert f"{env_key}: namespace preview-{env_key}" in done.stdout  # progress output
    assert f"ready: https://{env_key}.preview.test" in done.stdout

    ns = client.CoreV1Api(kube_api).read_namespace(f"preview-{env_key}").metadata
    assert ns.labels["app.kubernetes.io/managed-by"] == "previewbot"
    assert ns.labels["previewbot/env"] == env_key
    assert ns.labels["previewbot/project-id"] == str(bed.project_id)
    assert ns.labels["previewbot/mr-iid"] == "7"
    for key in ("expires-at", "project-path", "branch", "sha", "mr-url", "owner"):
        assert ns.annotations[f"previewbot/{key}"], key
    assert ns.annotations["previewbot/sha"] == sha
    assert ns.annotations["previewbot/branch"] == "feature-7"
    assert ns.annotations["previewbot/owner"] == "alice"
    assert ns.annotations["previewbot/expires-at"].endswith("Z")

    release = helm_release(bed, env_key)
    assert release is not None and release["status"] == "deployed"
    deployment = client.AppsV1Api(kube_api).read_namespaced_deployment(
        env_key, f"preview-{env_key}")
    assert deployment.status.ready_replicas == 1
    vs = client.CustomObjectsApi(kube_api).list_namespaced_custom_object(
        "networking.istio.io", "v1", f"preview-{env_key}", "virtualservices")["items"]
    assert [v["spec"]["hosts"] for v in vs] == [[f"{env_key}.preview.test"]]

    [environment] = bed.gitlab.environments(bed.project_id)
    assert environment["name"] == "review/feature-7"
    assert environment["external_url"] == f"https://{env_key}.preview.test"
    notes = [n for n in bed.gitlab.notes(bed.project_id, 7) if env_key in n["body"]]
    assert len(notes) == 1

    status = bed.cli("status", env_key)
    assert "status       ready" in status.stdout
    assert f"https://{env_key}.preview.test" in status.stdout


def test_gateway_api_mode_creates_an_httproute(bed: LifecycleBed,
                                               kube_api: client.ApiClient) -> None:
    bed.configure(routing="gateway-api")
    bed.add_mr(3)
    up_ok(bed, f"{bed.project_path}!3")
    env_key = f"{bed.slug}-mr-3"
    routes = client.CustomObjectsApi(kube_api).list_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", f"preview-{env_key}", "httproutes")["items"]
    assert [r["spec"]["hostnames"] for r in routes] == [[f"{env_key}.preview.test"]]


def test_up_twice_keeps_the_revision_and_a_new_sha_upgrades(bed: LifecycleBed) -> None:
    bed.add_mr(8)
    env_key = f"{bed.slug}-mr-8"
    up_ok(bed, f"{bed.project_path}!8")
    first = helm_release(bed, env_key)
    engine, _ = bed.wired()
    expires_before = engine.resolve(env_key).desired.expires_at

    up_ok(bed, f"{bed.project_path}!8")
    assert helm_release(bed, env_key) == first  # same revision, nothing changed

    bed.gitlab.update_merge_request(bed.project_id, 8, sha="b" * 40)
    up_ok(bed, f"{bed.project_path}!8")
    second = helm_release(bed, env_key)
    assert second is not None and first is not None
    assert int(str(second["revision"])) == int(str(first["revision"])) + 1
    env = engine.resolve(env_key)
    assert env.observed.deployed_sha == "b" * 40
    assert env.desired.expires_at > expires_before  # TTL renewed by the deploy
    notes = [n for n in bed.gitlab.notes(bed.project_id, 8) if env_key in n["body"]]
    assert len(notes) == 1 and "bbbbbbbb" in notes[0]["body"]  # edited, not repeated


def test_down_tears_everything_down(bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    bed.add_mr(9)
    env_key = f"{bed.slug}-mr-9"
    up_ok(bed, f"{bed.project_path}!9")
    done = bed.cli("down", f"{bed.project_path}!9")
    assert done.returncode == 0, done.stdout + done.stderr
    with pytest.raises(ApiException) as gone:
        client.CoreV1Api(kube_api).read_namespace(f"preview-{env_key}")
    assert gone.value.status == 404
    [environment] = bed.gitlab.environments(bed.project_id)
    assert environment["state"] == "stopped"
    engine, _ = bed.wired()
    assert engine.core.store.get(env_key).observed.status is Status.GONE  # type: ignore[union-attr]
    assert env_key not in bed.cli("list").stdout


def test_brought_back_after_a_teardown_it_keeps_its_gitlab_environment(
        bed: LifecycleBed) -> None:
    """The stopped GitLab environment is still the bot's own: a new lifecycle (an up after
    a down or a TTL, a reopened MR) replaces it under the same name, review/<branch>,
    instead of taking it for someone else's and making review/<ENV> beside it."""
    bed.add_mr(19)
    env_key = f"{bed.slug}-mr-19"
    up_ok(bed, f"{bed.project_path}!19")
    done = bed.cli("down", env_key)
    assert done.returncode == 0, done.stdout + done.stderr
    [stopped] = bed.gitlab.environments(bed.project_id)
    assert (stopped["name"], stopped["state"]) == ("review/feature-19", "stopped")

    again = up_ok(bed, f"{bed.project_path}!19")

    assert "not made by previewbot" not in again.stdout + again.stderr
    [environment] = bed.gitlab.environments(bed.project_id)
    assert (environment["name"], environment["state"]) == ("review/feature-19", "available")
    assert environment["external_url"] == f"https://{env_key}.preview.test"
    assert environment["id"] != stopped["id"]  # a stopped one cannot be restarted: replaced
    engine, _ = bed.wired()
    env = engine.core.store.get(env_key)
    assert env is not None and env.observed.review_environment_id == environment["id"]


def test_redis_flushall_then_reconcile_rebuilds_the_registry(bed: LifecycleBed) -> None:
    bed.add_mr(11)
    up_ok(bed, f"{bed.project_path}!11")
    before = bed.cli("list").stdout
    engine, _ = bed.wired()
    expires = engine.resolve(f"{bed.slug}-mr-11").desired.expires_at

    bed.redis().flushdb()  # this test's database: FLUSHALL would hit parallel tests
    assert bed.cli("list").stdout.strip() == "no environments"
    done = bed.cli("reconcile")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"rebuilt from the cluster: {bed.slug}-mr-11" in done.stdout
    listing = bed.cli("list").stdout
    assert listing == before
    assert engine.resolve(f"{bed.slug}-mr-11").desired.expires_at == expires


def test_reconcile_dry_run_changes_nothing(bed: LifecycleBed,
                                           kube_api: client.ApiClient) -> None:
    bed.add_mr(12)
    up_ok(bed, f"{bed.project_path}!12")
    env_key = f"{bed.slug}-mr-12"
    engine, _ = bed.wired()
    engine.request_down(env_key, reason="test", actor="test")
    db = bed.redis()
    redis_before = {k: db.dump(k) for k in db.keys("*")}
    ns_before = client.CoreV1Api(kube_api).read_namespace(f"preview-{env_key}").metadata
    release_before = helm_release(bed, env_key)

    done = bed.cli("reconcile", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert f"delete  {env_key}: test" in done.stdout
    assert "DRY-RUN: would stop GitLab environment review/feature-12" in done.stdout
    assert f"ok     delete  {env_key}: dry run: nothing changed" in done.stdout

    assert {k: db.dump(k) for k in db.keys("*")} == redis_before
    ns_after = client.CoreV1Api(kube_api).read_namespace(f"preview-{env_key}").metadata
    assert ns_after.resource_version == ns_before.resource_version
    assert helm_release(bed, env_key) == release_before


def test_extend_and_keep_move_the_expiry_on_the_namespace_and_stop_at_max_ttl(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    bed.add_mr(13)
    env_key = f"{bed.slug}-mr-13"
    up_ok(bed, f"{bed.project_path}!13")
    engine, _ = bed.wired()
    before = engine.resolve(env_key).desired

    done = bed.cli("extend", f"{bed.project_path}!13", "1d")
    assert done.returncode == 0, done.stderr
    extended = engine.resolve(env_key).desired
    assert extended.expires_at == before.expires_at + timedelta(days=1)
    annotations = client.CoreV1Api(kube_api).read_namespace(
        f"preview-{env_key}").metadata.annotations
    assert annotations["previewbot/expires-at"] == rfc3339(extended.expires_at)

    capped = bed.cli("extend", env_key, "30d")
    assert "capped at created + max_ttl" in capped.stdout
    assert engine.resolve(env_key).desired.expires_at == before.created_at + timedelta(days=7)

    assert bed.cli("keep", env_key).returncode == 0
    kept = engine.resolve(env_key).desired
    assert kept.keep and kept.expires_at == before.created_at + timedelta(days=7)
    assert "(kept)" in bed.cli("list").stdout


def test_an_expired_environment_is_torn_down_by_the_next_pass(bed: LifecycleBed,
                                                              kube_api: client.ApiClient) -> None:
    bed.add_mr(14)
    env_key = f"{bed.slug}-mr-14"
    up_ok(bed, f"{bed.project_path}!14")
    clock = MovableClock()
    notices = RecordingNotifier()
    core = replace(bed.core(clock), notifier=notices)
    reconciler = Reconciler(core)
    assert reconciler.run_pass(follow=True, dry_run=False).plan.for_env(env_key) is None  # not yet
    clock.advance(timedelta(hours=48, seconds=1))  # the default ttl, moved, not waited
    result = reconciler.run_pass(follow=True, dry_run=False)
    action = result.plan.for_env(env_key)
    assert action is not None and action.reason.startswith("TTL expired")
    env = core.store.get(env_key)
    assert env is not None and env.observed.status is Status.GONE
    with pytest.raises(ApiException) as gone:
        client.CoreV1Api(kube_api).read_namespace(f"preview-{env_key}")
    assert gone.value.status == 404
    assert [e["state"] for e in bed.gitlab.environments(bed.project_id)] == ["stopped"]
    [torn_down] = [n for n in notices.notices if n.kind is NoticeKind.TORN_DOWN]
    assert torn_down.reason.startswith("TTL expired")


def test_bad_input_is_refused_with_a_clear_message_and_changes_nothing(
        bed: LifecycleBed) -> None:
    bed.add_mr(15)
    cases = [
        (("up", f"{bed.project_path}!15", "--for", "3x"), 'is not a duration'),
        (("up", "nosuch/project!1"), "unknown project"),
        (("up", f"{bed.project_path}!999"), "999"),
        (("extend", "no-such-env", "1h"), "no environment"),
        (("down", "Not A Name!"), "PROJECT!IID"),
    ]
    for args, words in cases:
        done = bed.cli(*args)
        assert done.returncode == 1, args
        assert words in done.stderr, (args, done.stderr)
    assert bed.redis().keys("*") == []


def test_check_config_reports_each_dependency(bed: LifecycleBed) -> None:
    done = bed.cli("check-config")
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("redis", "kubernetes", "helm", "gitlab"):
        assert f"ok   {name}:" in done.stdout, done.stdout
    assert "v1.36.3" in done.stdout and "v4.3.1" in done.stdout

    bed.gitlab.set_down(True)
    down = bed.cli("check-config")
    assert down.returncode == 1 and "FAIL gitlab:" in down.stdout

    (bed.tmp / "previewbot.yaml").write_text(
        (bed.tmp / "previewbot.yaml").read_text().replace("ttl: 48h", "ttl: 3x"))
    bad = bed.cli("check-config")
    assert bad.returncode == 1
    assert "defaults.ttl" in bad.stderr and "3x" in bad.stderr


def test_pipeline_mode_up_waits_for_the_head_pipeline(bed: LifecycleBed) -> None:
    bed.configure(project_extra="deploy_on: pipeline")
    sha = bed.add_mr(16)
    bed.gitlab.update_merge_request(bed.project_id, 16, head_pipeline={
        "id": 901, "sha": sha, "ref": "feature-16", "status": "running"})
    waiting = bed.cli("up", f"{bed.project_path}!16")
    assert waiting.returncode == 1
    assert "is running" in waiting.stderr and "deploy_on: pipeline" in waiting.stderr
    assert bed.redis().keys("previewbot:env:*") == []

    bed.gitlab.update_merge_request(bed.project_id, 16, head_pipeline={
        "id": 901, "sha": sha, "ref": "feature-16", "status": "success"})
    up_ok(bed, f"{bed.project_path}!16")
    engine, _ = bed.wired()
    assert engine.resolve(f"{bed.slug}-mr-16").observed.deployed_sha == sha


def test_a_chart_edit_reaches_existing_environments_within_one_pass(
        bed: LifecycleBed, kube_api: client.ApiClient, tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    bed.configure(chart=chart)
    bed.add_mr(17)
    env_key = f"{bed.slug}-mr-17"
    up_ok(bed, f"{bed.project_path}!17")
    first = helm_release(bed, env_key)
    assert first is not None and int(str(first["revision"])) == 1
    deployment = chart / "templates" / "deployment.yaml"
    deployment.write_text(deployment.read_text().replace(
        "  revisionHistoryLimit: 3\n", "  revisionHistoryLimit: 4\n"))  # same path, new content
    done = bed.cli("reconcile")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"update  {env_key}: chart values changed" in done.stdout
    second = helm_release(bed, env_key)
    assert second is not None and int(str(second["revision"])) == 2
    apps = client.AppsV1Api(kube_api)
    [running] = apps.list_namespaced_deployment(f"preview-{env_key}").items
    assert running.spec.revision_history_limit == 4
    done = bed.cli("reconcile")  # and only once
    assert env_key not in done.stdout


def test_namespace_annotations_behind_the_record_are_caught_up_by_the_next_pass(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    """The namespace is the record of truth: when its annotations lag the record (two
    replicas recorded ups at once and the earlier one wrote the namespace last, as the
    1,000-event storm found), the next pass writes the record's expiry to it, though
    there is nothing to deploy, so a Redis wipe never brings back the earlier expiry."""
    bed.add_mr(16)
    env_key = f"{bed.slug}-mr-16"
    up_ok(bed, f"{bed.project_path}!16")
    core = bed.core()
    env = core.store.get(env_key)
    assert env is not None and env.observed.status is Status.READY
    api = client.CoreV1Api(kube_api)
    earlier = rfc3339(env.desired.expires_at - timedelta(seconds=2))
    api.patch_namespace(f"preview-{env_key}", {"metadata": {"annotations": {EXPIRES_AT: earlier}}})
    result = Reconciler(core).run_pass(follow=True, dry_run=False)
    action = result.plan.for_env(env_key)
    assert action is not None and "annotations" in action.reason
    namespace = api.read_namespace(f"preview-{env_key}")
    assert namespace.metadata.annotations[EXPIRES_AT] == rfc3339(env.desired.expires_at)
    assert Reconciler(core).run_pass(follow=True, dry_run=False).plan.for_env(env_key) is None
