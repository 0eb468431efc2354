"""Orphans and vanished namespaces on the real test bed: a managed namespace nothing
explains is marked, shown, and torn down after its grace; another bot's never; a
namespace that vanished under a wanted environment comes back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from bot.domain import records
from bot.domain.model import Desired, Environment, Observed, Status
from bot.engine.reconcile import Reconciler
from tests.clock import MovableClock
from tests.integration.lifecycle_bed import LifecycleBed, up_ok
from tests.polling import poll


def make_namespace(kube_api: client.ApiClient, name: str, labels: dict[str, str]) -> str:
    core_api = client.CoreV1Api(kube_api)
    core_api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=name, labels={"app.kubernetes.io/managed-by": "previewbot", **labels})))
    return str(core_api.read_namespace(name).metadata.resource_version)


def phase(kube_api: client.ApiClient, name: str) -> str | None:
    try:
        ns = client.CoreV1Api(kube_api).read_namespace(name)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return "Terminating" if ns.metadata.deletion_timestamp else "Active"


def test_an_orphan_is_marked_shown_and_torn_down_after_its_grace(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    env_key = f"{bed.slug}-mr-110"
    name = f"preview-{env_key}"
    # managed, ours, but no record and no annotations: nothing to rebuild it from
    make_namespace(kube_api, name, {"previewbot/env": env_key,
                                    "previewbot/project-id": str(bed.project_id)})
    clock = MovableClock()
    reconciler = Reconciler(bed.core(clock))
    rehearsal = reconciler.sweep_orphans(dry_run=True)
    assert [line for line in rehearsal if name in line]
    assert "previewbot/orphan-since" not in (client.CoreV1Api(kube_api).read_namespace(
        name).metadata.annotations or {})  # a dry run marks nothing
    [shown] = [line for line in reconciler.sweep_orphans(dry_run=False) if name in line]
    assert "torn down after 1h" in shown and "missing previewbot/project-path" in shown
    assert reconciler.run_pass(dry_run=False).adopted == ()  # not rebuilt from it
    clock.advance(timedelta(minutes=30))
    assert phase(kube_api, name) == "Active"
    [waiting] = [line for line in reconciler.sweep_orphans(dry_run=False) if name in line]
    assert "torn down at" in waiting and phase(kube_api, name) == "Active"
    clock.advance(timedelta(minutes=31))
    [gone] = [line for line in reconciler.sweep_orphans(dry_run=False) if name in line]
    assert gone.startswith("tore down orphan")
    poll("the orphan to go", lambda: phase(kube_api, name) is None, timeout=60)


def test_an_orphan_of_another_bot_is_never_touched(bed: LifecycleBed,
                                                   kube_api: client.ApiClient) -> None:
    name = f"preview-{bed.slug}-mr-111"
    version = make_namespace(kube_api, name, {"previewbot/env": f"{bed.slug}-mr-111",
                                              "previewbot/project-id": "999999"})
    clock = MovableClock()
    reconciler = Reconciler(bed.core(clock))
    for _ in range(2):
        assert not [line for line in reconciler.sweep_orphans(dry_run=False) if name in line]
        clock.advance(timedelta(hours=2))
    assert client.CoreV1Api(kube_api).read_namespace(name).metadata.resource_version == version
    client.CoreV1Api(kube_api).delete_namespace(name)


def test_a_namespace_that_vanished_under_a_wanted_environment_comes_back(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    bed.add_mr(112)
    env_key = f"{bed.slug}-mr-112"
    up_ok(bed, f"{bed.project_path}!112")
    client.CoreV1Api(kube_api).delete_namespace(f"preview-{env_key}")  # by hand, say
    poll("the namespace to vanish", lambda: phase(kube_api, f"preview-{env_key}") is None,
         timeout=60)
    result = Reconciler(bed.core()).run_pass(follow=True, dry_run=False)
    action = result.plan.for_env(env_key)
    assert action is not None and action.reason == "namespace missing"
    assert phase(kube_api, f"preview-{env_key}") == "Active"
    env = bed.core().store.get(env_key)
    assert env is not None and env.observed.status is Status.READY


@pytest.mark.parametrize("count", [200])
def test_hundreds_expiring_together_all_start_their_teardown_in_one_pass(
        bed: LifecycleBed, kube_api: client.ApiClient, count: int) -> None:
    clock = MovableClock()
    core = bed.core(clock)
    now = clock.now().replace(microsecond=0)
    keys = []
    for n in range(count):
        iid = 1000 + n
        desired = Desired(env_key=f"{bed.slug}-mr-{iid}", project_path=bed.project_path,
                          project_id=bed.project_id, branch=f"f-{iid}", sha="a" * 40,
                          created_at=now, expires_at=now + timedelta(hours=1), mr_iid=iid)
        client.CoreV1Api(kube_api).create_namespace(client.V1Namespace(
            metadata=client.V1ObjectMeta(
                name=f"preview-{desired.env_key}", labels=records.namespace_labels(desired),
                annotations={k: v for k, v in records.namespace_annotations(desired).items()
                             if v is not None})))
        core.store.put(Environment(desired, Observed(status=Status.READY)))
        keys.append(desired.env_key)
    clock.advance(timedelta(hours=1, seconds=1))  # all expire together
    result = Reconciler(core).run_pass(dry_run=False)
    deletes = [a for a in result.plan.actions if a.kind.value == "delete"]
    assert len(deletes) == count
    assert all(o.ok for o in result.outcomes)
    started = [k for k in keys if phase(kube_api, f"preview-{k}") in ("Terminating", None)]
    assert len(started) == count  # every teardown started in this one pass
    statuses = {e.observed.status for e in core.store.get_many(keys) if e is not None}
    assert statuses <= {Status.TEARING_DOWN, Status.GONE}
