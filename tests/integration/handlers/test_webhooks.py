"""GitLab webhooks against a real `previewbot serve` process, real Redis, the real
test cluster and the GitLab fake: GitLab-shaped deliveries drive the lifecycle."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from bot.domain.model import Desired, Environment, Observed, Status
from tests.integration.lifecycle_bed import LifecycleBed, helm_release
from tests.integration.webhook_support import (
    SECRET,
    Server,
    branch_deleted_event,
    mr_event,
    pipeline_event,
    post,
    start_server,
)
from tests.polling import poll


@pytest.fixture
def server(bed: LifecycleBed) -> Iterator[Server]:
    running = start_server(bed)
    yield running
    running.stop()


def status_of(bed: LifecycleBed, env_key: str) -> Status | None:
    env = bed.core().store.get(env_key)
    return env.observed.status if env else None


def wait_status(bed: LifecycleBed, env_key: str, wanted: Status, timeout: float = 90) -> None:
    poll(f"{env_key} to be {wanted.value}", lambda: status_of(bed, env_key) is wanted,
         timeout=timeout, interval=0.3)


def test_open_update_merge_drive_the_environment(bed: LifecycleBed, server: Server,
                                                 kube_api: client.ApiClient) -> None:
    sha1 = bed.add_mr(31)
    env_key = f"{bed.slug}-mr-31"
    assert post(server, "Merge Request Hook", mr_event(bed, "open", 31, sha1)) == (
        202, {"status": "queued"})
    wait_status(bed, env_key, Status.READY)
    first = helm_release(bed, env_key)

    sha2 = "e" * 40
    bed.gitlab.update_merge_request(bed.project_id, 31, sha=sha2)
    code, _ = post(server, "Merge Request Hook",
                   mr_event(bed, "update", 31, sha2, oldrev=sha1,
                            updated_at="2026-11-26T10:05:00Z"))
    assert code == 202
    poll("the upgrade to the new sha",
         lambda: (e := bed.core().store.get(env_key)) is not None
         and e.observed.deployed_sha == sha2 and e.observed.status is Status.READY)
    second = helm_release(bed, env_key)
    assert first is not None and second is not None
    assert int(str(second["revision"])) == int(str(first["revision"])) + 1

    bed.gitlab.update_merge_request(bed.project_id, 31, state="merged")
    assert post(server, "Merge Request Hook", mr_event(
        bed, "merge", 31, sha2, updated_at="2026-11-26T10:10:00Z"))[0] == 202
    wait_status(bed, env_key, Status.GONE)
    with pytest.raises(ApiException):
        client.CoreV1Api(kube_api).read_namespace(f"preview-{env_key}")
    env = bed.core().store.get(env_key)
    assert env is not None and "merged" in env.observed.reason


def test_close_tears_down(bed: LifecycleBed, server: Server) -> None:
    sha = bed.add_mr(32)
    env_key = f"{bed.slug}-mr-32"
    assert post(server, "Merge Request Hook", mr_event(bed, "open", 32, sha))[0] == 202
    wait_status(bed, env_key, Status.READY)
    bed.gitlab.update_merge_request(bed.project_id, 32, state="closed")
    assert post(server, "Merge Request Hook", mr_event(bed, "close", 32, sha))[0] == 202
    wait_status(bed, env_key, Status.GONE)
    assert [e["state"] for e in bed.gitlab.environments(bed.project_id)] == ["stopped"]


def test_pipeline_success_deploys_that_sha_and_older_pipelines_never_roll_back(
        bed: LifecycleBed) -> None:
    bed.configure(project_extra="deploy_on: pipeline")
    server = start_server(bed)
    try:
        bed.add_mr(33, sha="1" * 40)
        env_key = f"{bed.slug}-mr-33"
        code, body = post(server, "Merge Request Hook", mr_event(bed, "open", 33, "1" * 40))
        assert (code, body["status"]) == (200, "ignored")  # waits for the pipeline
        newer, older = "2" * 40, "1" * 40
        bed.gitlab.update_merge_request(bed.project_id, 33, sha=newer)
        assert post(server, "Pipeline Hook", pipeline_event(
            bed, 33, newer, finished_at="2026-11-26T10:10:00Z"))[0] == 202
        wait_status(bed, env_key, Status.READY)
        assert post(server, "Pipeline Hook", pipeline_event(
            bed, 33, older, finished_at="2026-11-26T10:00:00Z"))[0] == 202
        poll("the stale pipeline to be processed",
             lambda: server.metric("previewbot_events_total", outcome="applied") >= 2)
        env = bed.core().store.get(env_key)
        assert env is not None and env.desired.sha == newer
        assert env.observed.deployed_sha == newer
    finally:
        server.stop()


def test_branch_delete_tears_down_the_branch_environment(bed: LifecycleBed,
                                                         server: Server) -> None:
    bed.gitlab.add_branch(bed.project_id, "demo-branch", "d" * 40)
    done = bed.cli("up", f"{bed.project_path}@demo-branch")
    assert done.returncode == 0, done.stdout + done.stderr
    env_key = f"{bed.slug}-demo-branch"
    assert status_of(bed, env_key) is Status.READY
    # GitLab still shows the branch: a stale or forged delete event changes nothing
    assert post(server, "Push Hook", branch_deleted_event(bed, "demo-branch"))[0] == 202
    poll("the stale delete to be handled",
         lambda: server.metric("previewbot_events_total", outcome="ignored") >= 1)
    assert status_of(bed, env_key) is Status.READY
    bed.gitlab.delete_branch(bed.project_id, "demo-branch")
    assert post(server, "Push Hook", branch_deleted_event(bed, "demo-branch"))[0] == 202
    wait_status(bed, env_key, Status.GONE)


def test_approvals_and_unknown_projects_are_ignored(bed: LifecycleBed, server: Server) -> None:
    sha = bed.add_mr(34)
    assert post(server, "Merge Request Hook", mr_event(bed, "approved", 34, sha))[1][
        "status"] == "ignored"
    other = mr_event(bed, "open", 34, sha)
    other["project"]["path_with_namespace"] = "someone/else"
    assert post(server, "Merge Request Hook", other)[1]["status"] == "ignored"
    before = redis_state(bed)
    assert post(server, "Issue Hook", {"object_kind": "issue"})[1]["status"] == "ignored"
    assert redis_state(bed) == before
    assert all(not isinstance(v, int) or v == 0 for v in before.values())  # nothing queued


# The serving process's own clockwork (leader lease, job ticks and runs, the scheduler's
# job store, cached GitLab answers) moves on its own schedule: not a change a request made.
CLOCKWORK = (b"previewbot:leader", b"previewbot:jobs:", b"previewbot:scheduler:",
             b"previewbot:cache:")


def redis_state(bed: LifecycleBed) -> dict[bytes, object]:
    """Every key's value — streams by length: the workers' polling updates their
    consumer bookkeeping, which is not a change made by a request."""
    db = bed.redis()
    return {key: db.xlen(key) if db.type(key) == b"stream" else db.dump(key)
            for key in db.keys("*") if not key.startswith(CLOCKWORK)}


def snapshot_state(bed: LifecycleBed, kube_api: client.ApiClient) -> tuple[object, ...]:
    """This test's Redis database, and this project's namespaces with their versions
    (other tests create and delete their own namespaces in parallel)."""
    names = sorted((ns.metadata.name, ns.metadata.resource_version)
                   for ns in client.CoreV1Api(kube_api).list_namespace().items
                   if ns.metadata.name.startswith(f"preview-{bed.slug}"))
    return redis_state(bed), names


# (Leading/trailing blanks are not part of an HTTP header value, so " " + SECRET
# *is* the secret on the wire; a changed character in the middle is not.)
@pytest.mark.parametrize("token", [None, "", "wrong", SECRET[:-1], SECRET + "x",
                                   SECRET.upper(), SECRET[:5] + "X" + SECRET[6:]])
def test_bad_tokens_are_refused_and_change_nothing(bed: LifecycleBed, server: Server,
                                                   kube_api: client.ApiClient,
                                                   token: str | None) -> None:
    sha = bed.add_mr(35)
    before = snapshot_state(bed, kube_api)
    code, body = post(server, "Merge Request Hook", mr_event(bed, "open", 35, sha), token=token)
    assert (code, body) == (401, {"error": "unauthorized"})
    assert snapshot_state(bed, kube_api) == before


@pytest.mark.parametrize(("body", "content_type", "code"), [
    (b"{not json", "application/json", 400),
    (b"[1, 2]", "application/json", 400),
    (b'{"object_kind": "merge_request"}', "text/plain", 400),
    (b" " * (1024 * 1024 + 1), "application/json", 413),
    # nested deeper than the JSON parser's stack: a 400, not a 500
    (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "application/json", 400),
])
def test_malformed_deliveries_are_refused_and_change_nothing(
        bed: LifecycleBed, server: Server, body: bytes, content_type: str, code: int) -> None:
    before = redis_state(bed)
    assert post(server, "Merge Request Hook", body, content_type=content_type)[0] == code
    assert redis_state(bed) == before


def test_the_same_delivery_fifty_times_deploys_once(bed: LifecycleBed, server: Server) -> None:
    sha = bed.add_mr(36)
    env_key = f"{bed.slug}-mr-36"
    payload = mr_event(bed, "open", 36, sha)
    answers = [post(server, "Merge Request Hook", payload,
                    headers={"Idempotency-Key": "delivery-36"})[1]["status"]
               for _ in range(50)]
    assert answers.count("queued") == 1 and answers.count("duplicate") == 49
    wait_status(bed, env_key, Status.READY)
    history = bed.core().store.history(env_key)
    assert [h.action for h in history].count("webhook") == 1
    release = helm_release(bed, env_key)
    assert release is not None and int(str(release["revision"])) == 1


def test_an_event_accepted_before_a_kill_is_processed_after_restart(bed: LifecycleBed) -> None:
    sha = bed.add_mr(37)
    env_key = f"{bed.slug}-mr-37"
    # No intake workers: the event can only be in the queue when the process dies.
    first = start_server(bed, name="first", PREVIEWBOT_INTAKE_THREADS="0")
    assert post(first, "Merge Request Hook", mr_event(bed, "open", 37, sha))[0] == 202
    first.kill()
    assert status_of(bed, env_key) is None
    second = start_server(bed, name="second")
    try:
        wait_status(bed, env_key, Status.READY)
    finally:
        second.stop()


@pytest.mark.xdist_group("heavy")  # two replicas and 200 events: not beside the storm
def test_two_replicas_process_each_of_200_events_exactly_once(bed: LifecycleBed) -> None:
    # Close events of MRs whose environments exist only as records (no namespace yet):
    # each event is confirmed with GitLab and recorded once, cheap to tear down.
    iids = range(100, 300)
    store = bed.core().store
    now = datetime.now(UTC).replace(microsecond=0)
    for iid in iids:
        sha = bed.add_mr(iid)
        bed.gitlab.update_merge_request(bed.project_id, iid, state="closed")
        store.put(Environment(
            Desired(env_key=f"{bed.slug}-mr-{iid}", project_path=bed.project_path,
                    project_id=bed.project_id, branch=f"feature-{iid}", sha=sha,
                    created_at=now, expires_at=now + timedelta(days=1), mr_iid=iid),
            Observed(status=Status.READY)))
    servers = [start_server(bed, name=f"replica{i}") for i in range(2)]
    try:
        for n, iid in enumerate(iids):
            code, _ = post(servers[n % 2], "Merge Request Hook",
                           mr_event(bed, "close", iid, "f" * 40))
            assert code == 202
        # The leader's own pass (at once, at leadership) may tear some of them down first,
        # as the closed MRs imply: their events then find nothing to do. Either way each
        # delivery is handled by one replica, once.
        def handled(server: Server) -> float:
            return sum(server.metric("previewbot_events_total", outcome=outcome)
                       for outcome in ("applied", "ignored", "refused"))
        poll("all 200 events to be handled",
             lambda: sum(handled(s) for s in servers) >= 200, timeout=240)
        processed = [handled(s) for s in servers]
        assert sum(processed) == 200
        assert all(count > 0 for count in processed)  # both replicas took a share
        applied = sum(s.metric("previewbot_events_total", outcome="applied") for s in servers)
        recorded = {iid: [h.action for h in store.history(f"{bed.slug}-mr-{iid}")]
                    .count("webhook") for iid in iids}
        assert set(recorded.values()) <= {0, 1} and sum(recorded.values()) == applied
        left = [e.key for e in store.get_many(f"{bed.slug}-mr-{iid}" for iid in iids)
                if e is not None and e.desired.present]
        assert left == []  # every closed MR's environment is down
    finally:
        for server in servers:
            server.stop()
def test_the_scheduler_reaps_an_expired_environment_without_any_event(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    bed.configure(reconcile_interval="2s")
    bed.add_mr(38)
    env_key = f"{bed.slug}-mr-38"
    done = bed.cli("up", f"{bed.project_path}!38")
    assert done.returncode == 0, done.stdout + done.stderr
    # Its time runs out now — moved, not waited for (a stalled machine cannot race it):
    # the record and the namespace (the durable record) both say so.
    store = bed.core().store
    past = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    env = store.update(env_key, lambda e: None if e is None else e.with_desired(expires_at=past))
    assert env is not None
    client.CoreV1Api(kube_api).patch_namespace(f"preview-{env_key}", {"metadata": {
        "annotations": {"previewbot/expires-at": past.strftime("%Y-%m-%dT%H:%M:%SZ")}}})
    server = start_server(bed)
    try:
        wait_status(bed, env_key, Status.GONE, timeout=60)
        env = bed.core().store.get(env_key)
        assert env is not None and "TTL expired" in env.observed.reason
        assert server.metric("previewbot_teardowns_total", reason="ttl") == 1
    finally:
        server.stop()
