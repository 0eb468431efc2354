"""Two replicas, one moment (issue 16, items 14 and 16): a decision made on an older
read never undoes what another replica recorded meanwhile.

- A trigger-loss teardown from a webhook decides on the record it read before asking
  GitLab; a person's up by hand that lands during that GitLab call keeps the
  environment (the check is in the write's transaction).
- Two identities whose plain keys collide, both finding it free at the same moment,
  get two records: the write checks whose record it writes onto.

Each race is made exact, not hoped for: the GitLab fake holds its answer, or the test
holds the lock both replicas' writes wait for, until the other side has acted."""

from __future__ import annotations

import copy
import json
import sys
import threading
from collections.abc import Callable

from bot.domain.errors import PreviewError, TemporaryError
from bot.domain.model import Environment
from bot.engine.intake import Handled, Intake
from bot.engine.requests import CAPACITY_LOCK, Requests
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.webhook_support import mr_event
from tests.polling import poll

IID = 81


def _label_removed(bed: LifecycleBed, sha: str) -> bytes:
    payload = mr_event(bed, "update", IID, sha, updated_at="2099-01-01T00:00:00Z")
    payload["object_attributes"]["labels"] = []
    payload["labels"] = []
    preview = {"id": 1, "title": "preview"}
    payload["changes"] = {"labels": {"previous": [copy.deepcopy(preview)], "current": []}}
    return json.dumps(payload).encode()


def test_a_person_s_up_during_a_trigger_loss_teardown_keeps_the_environment(
        bed: LifecycleBed) -> None:
    bed.configure(project_extra="trigger: {labels: [preview]}")
    sha = bed.add_mr(IID)
    bed.gitlab.update_merge_request(bed.project_id, IID, labels=["preview"])
    webhook_replica, person_replica = Requests(bed.core()), Requests(bed.core())
    env = webhook_replica.request_up_mr(bed.project_path, IID, actor="gitlab:alice")
    assert not env.desired.manual
    bed.gitlab.update_merge_request(bed.project_id, IID, labels=[])  # the label is removed
    asked = len(bed.gitlab.find_requests("GET", f"/merge_requests/{IID}"))
    gate = bed.gitlab.hold_next(method="GET", path_contains=f"/merge_requests/{IID}")
    outcome: list[Handled | PreviewError] = []
    intake = Intake(webhook_replica.core, webhook_replica)

    def deliver() -> None:
        try:
            outcome.append(intake.handle("Merge Request Hook", _label_removed(bed, sha)))
        except PreviewError as error:
            outcome.append(error)

    delivery = threading.Thread(target=deliver)
    delivery.start()
    try:  # the webhook's replica asks GitLab whether the MR still wants an environment…
        poll("the webhook's GitLab read", lambda: len(
            bed.gitlab.find_requests("GET", f"/merge_requests/{IID}")) > asked)
        # …and while it waits, a person brings it up by hand on the other replica
        person_replica.request_up_mr(bed.project_path, IID, actor="slack:U0BOB", manual=True)
    finally:
        gate.set()
        delivery.join(30)

    assert len(outcome) == 1 and isinstance(outcome[0], TemporaryError), outcome
    again = intake.handle("Merge Request Hook", _label_removed(bed, sha))  # the queue's retry
    assert again.env_keys == () and "brought up by hand" in again.summary
    env_now = person_replica.resolve(env.key)
    assert env_now.desired.present and env_now.desired.manual, env_now.desired
    assert "down" not in [h.action for h in person_replica.history(env.key)]


def _waiting_for_lock(thread: threading.Thread) -> bool:
    """Is ``thread`` waiting to take a Redis lock (redis-py's Lock.acquire)?"""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "acquire" and "redis" in code.co_filename:
            return True
        frame = frame.f_back
    return False


def test_two_identities_that_pick_the_same_free_key_at_once_get_two_records(
        bed: LifecycleBed) -> None:
    # A = <group>/app's branch "web-dev" and B = <group>/app-web's branch "dev": one
    # plain key, <group>-app-web-dev
    a_path, b_path = bed.project_path, f"{bed.project_path}-web"
    ids = {a_path: bed.project_id, b_path: int(bed.gitlab.add_project(b_path)["id"])}
    bed.configure(more_projects=(b_path,))
    bed.gitlab.add_branch(ids[a_path], "web-dev", "a" * 40)
    bed.gitlab.add_branch(ids[b_path], "dev", "b" * 40)
    replica_a, replica_b = Requests(bed.core()), Requests(bed.core())
    made: dict[str, str] = {}
    failures: list[BaseException] = []

    def up(name: str, call: Callable[[], Environment]) -> None:
        try:
            made[name] = call().key
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [
        threading.Thread(target=up, args=("a", lambda: replica_a.request_up_branch(
            a_path, "web-dev", actor="slack:U0ALICE", manual=True))),
        threading.Thread(target=up, args=("b", lambda: replica_b.request_up_branch(
            b_path, "dev", actor="slack:U0BOB", manual=True)))]
    # Both creations wait for the capacity lock after choosing their key: held here
    # until both chose it (both saw the plain key free), then both write.
    with bed.core().store.lock(CAPACITY_LOCK, wait=5):
        for thread in threads:
            thread.start()
        poll("both replicas waiting to write",
             lambda: all(_waiting_for_lock(t) for t in threads), timeout=6)
    for thread in threads:
        thread.join(30)

    assert not failures, failures
    assert made["a"] != made["b"], f"two identities merged into one record {made['a']}"
    store = bed.core().store
    a_env, b_env = store.get(made["a"]), store.get(made["b"])
    assert a_env is not None and b_env is not None
    assert (a_env.desired.project_id, a_env.desired.branch) == (ids[a_path], "web-dev")
    assert (b_env.desired.project_id, b_env.desired.branch) == (ids[b_path], "dev")
    assert (a_env.desired.owner, b_env.desired.owner) == ("slack:U0ALICE", "slack:U0BOB")
