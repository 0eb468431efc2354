"""Two replicas receive 1,000 mixed GitLab deliveries for 50 MRs over 3 projects: opens,
new commits, pipelines (some for older commits), approvals, closes, reopens, merges and
the branch deletions that follow them, branch deletions of branch environments — with
duplicates (the same delivery again) and out-of-order deliveries.

GitLab (the fake) changes first and the delivery follows, as GitLab does; a delivery may
be held back behind later ones. The final set of environments must equal what GitLab's
final state implies: every open MR runs at its head commit, every closed or merged one is
gone, the branch environment whose branch still exists stays. Every duplicate is answered
as one, nothing is left in or parked by the queue, and GitLab and Slack were told once per
lifecycle (one note and one GitLab environment per MR; one live announcement per
environment, the ended ones saying gone).
"""

from __future__ import annotations

import heapq
import random
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from kubernetes import client

from bot.domain.model import Status
from tests.fakes.slack import FakeSlack
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.resilience.support import (
    EndState,
    Expected,
    Project,
    add_project,
    announcements_of,
    bed_project,
    bot_notes,
    branch_deleted_hook,
    gitlab_problems,
    mr_hook,
    new_sha,
    pipeline_hook,
    queue_settled,
    review_environments,
    start_replica,
    until_none,
)
from tests.integration.slack.support import configure_slack, states
from tests.integration.webhook_support import Server, post
from tests.polling import poll

# The heaviest scenarios share one xdist group: never two of them at once on 2 cores.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("heavy")]
DELIVERIES = 1000
MRS_PER_PROJECT = (17, 17, 16)  # 50 MRs
SEED = 20261201


@dataclass
class Delivery:
    event_type: str
    payload: dict[str, Any]
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    duplicate: bool = False


@dataclass
class MergeRequestScript:
    """One MR's life in GitLab; each step changes GitLab, then gives the delivery."""

    project: Project
    iid: int
    rng: random.Random
    state: str = "new"
    shas: list[str] = field(default_factory=list)
    steps_left: int = 0

    @property
    def branch(self) -> str:
        return f"feature-{self.iid}"

    def done(self) -> bool:
        return self.state in ("merged", "final")

    def step(self, gitlab: Any) -> list[Delivery]:
        if self.state == "new":
            self.shas.append(new_sha())
            gitlab.add_merge_request(self.project.id, iid=self.iid, source_branch=self.branch,
                                     author_username="alice", sha=self.shas[-1])
            self.state = "opened"
            return [self._mr(gitlab, "open")]
        if self.state == "closed":
            self._set(gitlab, state="opened")
            self.state = "opened"
            return [self._mr(gitlab, "reopen")]
        self.steps_left -= 1
        if self.steps_left <= 0:
            return self._finish(gitlab)
        roll = self.rng.random()
        if roll < 0.45:
            old = self.shas[-1]
            self.shas.append(new_sha())
            self._set(gitlab, sha=self.shas[-1])
            return [self._mr(gitlab, "update", oldrev=old)]
        if roll < 0.75:  # a pipeline passed: mostly the head, sometimes an older commit
            sha = self.rng.choice(self.shas) if self.rng.random() < 0.3 else self.shas[-1]
            return [Delivery("Pipeline Hook", pipeline_hook(
                self.project, self.iid, sha, created_at=self._updated(gitlab)))]
        if roll < 0.85:
            return [self._mr(gitlab, "approved")]
        self._set(gitlab, state="closed")
        self.state = "closed"
        return [self._mr(gitlab, "close")]

    def _finish(self, gitlab: Any) -> list[Delivery]:
        roll = self.rng.random()
        if roll < 0.3:  # merged; GitLab then deletes the source branch
            self._set(gitlab, state="merged")
            self.state = "merged"
            return [self._mr(gitlab, "merge"), Delivery("Push Hook", branch_deleted_hook(
                self.project, self.branch))]
        if roll < 0.45:
            self._set(gitlab, state="closed")
            self.state = "final"
            return [self._mr(gitlab, "close")]
        if roll < 0.5:  # a merge in progress: still open (no delivery for that)
            self._set(gitlab, state="locked")
        self.state = "final"
        return []

    def _set(self, gitlab: Any, **fields: Any) -> None:
        gitlab.update_merge_request(self.project.id, self.iid, **fields)

    def _updated(self, gitlab: Any) -> datetime:
        stamp = gitlab.merge_request(self.project.id, self.iid)["updated_at"]
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))

    def _mr(self, gitlab: Any, action: str, oldrev: str | None = None) -> Delivery:
        """The hook of what just changed, carrying GitLab's updated_at of the change."""
        payload = mr_hook(self.project, "open" if action == "approved" else action, self.iid,
                          self.shas[-1], updated_at=self._updated(gitlab), oldrev=oldrev)
        if action == "approved":
            payload["object_attributes"]["action"] = "approved"
        return Delivery("Merge Request Hook", payload)


class Storm:
    """Runs the scripts, holding some deliveries back and repeating others."""

    def __init__(self, gitlab: Any, scripts: list[MergeRequestScript],
                 rng: random.Random) -> None:
        self.gitlab = gitlab
        self.scripts = scripts
        self.rng = rng
        self.held: list[tuple[int, int, Delivery]] = []  # (due slot, order, delivery)
        self.slot = 0
        self.order = 0

    def deliveries(self, extra: list[tuple[int, Delivery]]) -> Iterator[Delivery]:
        """In sending order, as GitLab changes: each step's deliveries right after its
        change, a fifth held back 1-8 steps, a tenth sent again later; ``extra`` (step,
        delivery) mixed in. Lazy: GitLab changes only as fast as deliveries are taken."""
        sent = 0
        pending_extra = sorted(extra, key=lambda e: e[0])
        while sent < DELIVERIES:
            live = [s for s in self.scripts if not s.done()]
            if not live:  # every MR is done: what is left goes out now
                self.slot = max([self.slot, *(due for due, _ in pending_extra)])
            if not live and not self.held and not pending_extra:
                return
            for delivery in self.rng.choice(live).step(self.gitlab) if live else []:
                self._hold(delivery, self.rng.randint(1, 8) if self.rng.random() < 0.2 else 0)
                if self.rng.random() < 0.1:
                    again = Delivery(delivery.event_type, delivery.payload, delivery.uuid, True)
                    self._hold(again, self.rng.randint(1, 30))
            while pending_extra and pending_extra[0][0] <= self.slot:
                self._hold(pending_extra.pop(0)[1], 0)
            self.slot += 1
            while self.held and (self.held[0][0] <= self.slot or not live) \
                    and sent < DELIVERIES:
                yield heapq.heappop(self.held)[2]
                sent += 1

    def _hold(self, delivery: Delivery, slots: int) -> None:
        self.order += 1
        heapq.heappush(self.held, (self.slot + slots, self.order, delivery))


def test_two_replicas_and_1000_mixed_deliveries_end_as_gitlab_says(
        bed: LifecycleBed, fake_slack: FakeSlack, kube_api: client.ApiClient) -> None:
    rng = random.Random(SEED)
    projects = (bed_project(bed), add_project(bed.gitlab), add_project(bed.gitlab))
    # The preview-app chart: its kwok pods are Ready at once. (The tiny chart has no
    # workload, and the bot waits for one.)
    configure_slack(bed, fake_slack, reconcile_interval="10s",
                    more_projects=(projects[1].path, projects[2].path))
    core_api = client.CoreV1Api(kube_api)
    end = EndState(bed, core_api, projects)
    # A branch environment per project, made by hand: two branches are deleted during
    # the storm (their environments end), the third gets a forged deletion (it stays).
    branches = {p: f"topic-{n}" for n, p in enumerate(projects)}
    requests, reconciler = bed.wired()
    for project, branch in branches.items():
        bed.gitlab.add_branch(project.id, branch, "b" * 40)
        requests.request_up_branch(project.path, branch, actor="cli:test", manual=True)
    made = reconciler.run_pass(dry_run=False, only=[p.branch_key(b) for p, b in branches.items()])
    assert made.ok, [o.describe() for o in made.outcomes]

    scripts = [MergeRequestScript(project, iid, random.Random(rng.random()),
                                  steps_left=rng.randint(8, 30))
               for project, count in zip(projects, MRS_PER_PROJECT, strict=True)
               for iid in range(1, count + 1)]
    deleted, kept = (projects[0], projects[1]), projects[2]
    extra = [(rng.randint(50, 600), Delivery("Push Hook", branch_deleted_hook(p, branches[p])))
             for p in (*deleted, kept)]
    storm = Storm(bed.gitlab, scripts, rng)

    replicas: list[Server] = []
    answers: list[tuple[Delivery, int, dict[str, Any]]] = []
    try:
        replicas = [start_replica(bed, "a", slack=fake_slack),
                    start_replica(bed, "b", slack=fake_slack)]
        with ThreadPoolExecutor(max_workers=4) as pool:
            in_flight: deque[tuple[Delivery, Future[tuple[int, dict[str, Any]]]]] = deque()
            for n, delivery in enumerate(storm.deliveries(extra)):
                if is_topic_deletion(delivery) and not delivery.duplicate:
                    project_id = delivery.payload["project"]["id"]
                    if project_id != kept.id:  # GitLab deleted it; for `kept` it is forged
                        bed.gitlab.delete_branch(project_id, delivery.payload["ref"][11:])
                in_flight.append((delivery, pool.submit(
                    post, replicas[n % 2], delivery.event_type, delivery.payload,
                    headers={"X-Gitlab-Event-UUID": delivery.uuid})))
                while len(in_flight) > 8 or (in_flight and in_flight[0][1].done()):
                    sent, future = in_flight.popleft()
                    answers.append((sent, *future.result(timeout=60)))
            answers += [(sent, *future.result(timeout=60)) for sent, future in in_flight]
        assert len(answers) == DELIVERIES
        kinds = Counter(d.event_type for d, _, _ in answers)
        assert kinds["Merge Request Hook"] > 500 and kinds["Pipeline Hook"] > 100, kinds
        assert sum(is_topic_deletion(d) for d, _, _ in answers) >= 3

        statuses = Counter(status for _, status, _ in answers)
        assert set(statuses) <= {200, 202}, statuses
        # A delivery sent twice (the copy may even arrive first) is queued once at most.
        by_uuid: dict[str, list[str]] = {}
        for delivery, _, body in answers:
            by_uuid.setdefault(delivery.uuid, []).append(str(body.get("status")))
        for said in by_uuid.values():
            if "queued" in said:
                assert sorted(said) == [*["duplicate"] * (len(said) - 1), "queued"], said
            else:
                assert set(said) <= {"ignored", "duplicate"}, said
        assert sum(len(said) > 1 for said in by_uuid.values()) >= 50

        expected = expected_state(bed, projects, scripts, branches, kept)
        end.wait_converged(expected, timeout=300)
        settled = poll("the queue to be empty", lambda: queue_settled(bed.redis_url), timeout=60)
        assert settled["parked"] == 0, settled
        until_none("GitLab and Slack told once per lifecycle",
                   lambda: told_once(bed, fake_slack, core_api, scripts, expected), timeout=90)
    finally:
        for replica in replicas:
            replica.stop()
        end.cleanup()


def is_topic_deletion(delivery: Delivery) -> bool:
    return delivery.event_type == "Push Hook" and \
        delivery.payload["ref"].startswith("refs/heads/topic-")


def expected_state(bed: LifecycleBed, projects: tuple[Project, ...],
                   scripts: list[MergeRequestScript], branches: dict[Project, str],
                   kept: Project) -> Expected:
    """What GitLab's final state implies."""
    expected = Expected()
    for script in scripts:
        mr = bed.gitlab.merge_request(script.project.id, script.iid)
        key = script.project.key(script.iid)
        if mr["state"] in ("opened", "locked"):
            expected.running[key] = mr["sha"]
        else:
            expected.ended.add(key)
    for project in projects:
        key = project.branch_key(branches[project])
        if project == kept:
            expected.running[key] = "b" * 40
        else:
            expected.ended.add(key)
    return expected


def told_once(bed: LifecycleBed, slack: FakeSlack, core_api: client.CoreV1Api,
              scripts: list[MergeRequestScript], expected: Expected) -> list[str]:
    found: list[str] = []
    store = bed.core().store
    for script in scripts:
        key = script.project.key(script.iid)
        running = key in expected.running
        record = store.get(key)
        shown = [states(m)[-1] for m in announcements_of(slack, key)]
        if record is None:  # ended before it was ever deployed: nothing to tell
            if bot_notes(bed.gitlab, script.project, script.iid, key) or shown or \
                    review_environments(bed.gitlab, script.project, key, script.branch):
                found.append(f"{key}: never deployed, yet told: {shown}")
            continue
        if record.observed.status is Status.GONE and not running and not shown:
            continue  # torn down before its first announcement went out
        found += gitlab_problems(bed.gitlab, script.project, script.iid, key,
                                 running=running, core_api=core_api if running else None)
        # One announcement per lifecycle: the earlier ones say gone, the last the state.
        wanted = "ready" if running else "gone"
        if not shown or shown[-1] != wanted or any(s != "gone" for s in shown[:-1]):
            found.append(f"{key}: announcements end {shown}, wanted one live saying {wanted}")
    return found
