"""The leader's jobs in process, on the real test bed: a dry-run configuration plans and
reports and changes nothing; a deposed leader's job does nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from kubernetes import client

from bot.engine.notify import RecordingNotifier
from bot.runtime import jobs
from tests.clock import MovableClock
from tests.integration.lifecycle_bed import LifecycleBed, up_ok


def state_of(bed: LifecycleBed, kube_api: client.ApiClient) -> tuple[object, ...]:
    db = bed.redis()
    # everything but the scheduler's own bookkeeping of which replica ran which tick
    records = {key: db.dump(key) for key in db.keys("*") if b":jobs:" not in key}
    namespaces = {ns.metadata.name: ns.metadata.resource_version
                  for ns in client.CoreV1Api(kube_api).list_namespace().items
                  if ns.metadata.name.startswith(f"preview-{bed.slug}")}
    return records, namespaces


def leader_runner(bed: LifecycleBed, clock: MovableClock,
                  notifier: RecordingNotifier) -> jobs.JobRunner:
    core = replace(bed.core(clock), notifier=notifier)
    leadership = core.store.leadership("test-leader", 30)
    assert leadership.try_acquire()
    runner = jobs.JobRunner(core, leadership, poke=None)
    jobs.register(runner)
    return runner


def test_dry_run_config_plans_and_reports_and_changes_nothing(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    bed.add_mr(100)
    up_ok(bed, f"{bed.project_path}!100")
    bed.add_mr(101)  # open in GitLab, no environment: a lost open
    bed.configure(project_extra="")  # same project …
    config = (bed.tmp / "previewbot.yaml").read_text()
    (bed.tmp / "previewbot.yaml").write_text("dry_run: true\n" + config)  # … dry run on
    clock = MovableClock()
    clock.advance(timedelta(days=3))  # !100's TTL has run out
    notices = RecordingNotifier()
    leader_runner(bed, clock, notices)
    before = state_of(bed, kube_api)
    jobs.reconcile("test-leader")
    jobs.expiry_warnings("test-leader")
    jobs.orphan_sweep("test-leader")
    jobs.record_gc("test-leader")
    assert state_of(bed, kube_api) == before
    [plan] = notices.plans
    assert f"delete  {bed.slug}-mr-100: TTL expired" in plan
    assert f"request up   {bed.project_path}!101" in plan
    assert notices.notices == []
    jobs.unregister("test-leader")


def test_a_deposed_leader_runs_nothing(bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    bed.add_mr(102)  # a lost open a pass would create
    notices = RecordingNotifier()
    runner = leader_runner(bed, MovableClock(), notices)
    bed.redis().delete("previewbot:leader")  # the term ended (expired, another took it)
    before = state_of(bed, kube_api)
    jobs.reconcile("test-leader")
    assert state_of(bed, kube_api) == before
    assert not runner.leadership.holds()
    jobs.unregister("test-leader")
