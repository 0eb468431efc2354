"""A project removed from the config while its environments run (issue 16, item 12):
they are left untouched until their TTL, then torn down as usual."""

from __future__ import annotations

from datetime import timedelta

from kubernetes import client

from bot.domain.model import Status
from bot.domain.plan import ActionKind
from bot.engine.reconcile import Reconciler
from bot.engine.requests import Requests
from tests.clock import MovableClock
from tests.integration.lifecycle_bed import LifecycleBed, config_yaml
from tests.polling import poll


def test_environments_of_a_removed_project_stay_until_their_ttl(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    clock = MovableClock()
    bed.add_mr(71)
    key = f"{bed.slug}-mr-71"
    core = bed.core(clock=clock)
    Requests(core).request_up_mr(bed.project_path, 71, actor="gitlab:alice")
    assert Reconciler(core).run_pass(follow=True, dry_run=False, only=[key]).ok
    (bed.tmp / "previewbot.yaml").write_text(config_yaml(f"{bed.project_path}-other"))

    without = bed.core(clock=clock)  # the config read again: the project is gone
    reconciler = Reconciler(without)
    [blocked] = reconciler.run_pass(dry_run=False, only=[key]).plan.actions
    assert blocked.kind is ActionKind.BLOCKED and "not in the config" in blocked.reason
    env = without.store.get(key)
    assert env is not None and env.observed.status is Status.READY  # untouched
    assert client.CoreV1Api(kube_api).read_namespace(f"preview-{key}").status.phase == "Active"

    clock.advance(timedelta(hours=49))  # past its 48h TTL
    def gone() -> bool:
        reconciler.run_pass(follow=True, dry_run=False, only=[key])
        current = without.store.get(key)
        return current is not None and current.observed.status is Status.GONE
    poll(f"{key} to be torn down at its TTL", gone, timeout=90, interval=0.5)
    notes = [n["body"] for n in bed.gitlab.notes(bed.project_id, 71) if key in n["body"]]
    assert any("torn down" in body for body in notes), notes  # the MR was told
