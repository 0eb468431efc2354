"""The lifecycle property test (issue 16) on the real test bed: real Redis, a real
kube-apiserver (kwok), real helm and the GitLab fake over HTTP, driven by the same
model as the unit test (``tests.lifecycle_model``); few, reproducible examples."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test
from kubernetes import client

from bot.domain import records
from bot.domain.model import Environment
from bot.engine.core import Core
from bot.engine.intake import Intake
from bot.engine.requests import Requests
from bot.runtime.wiring import build
from tests.clock import MovableClock
from tests.cluster.testbed import Testbed
from tests.fakes.gitlab import FakeGitLab
from tests.integration.lifecycle_bed import LifecycleBed
from tests.lifecycle_model import AUTHOR, Driver, LifecycleModel, branch

TRIGGER = "trigger: {labels: [preview]}"  # drafts excluded: the default


class BedDriver:
    """The model's world on the bed: each example its own GitLab project and config."""

    def __init__(self, bed: LifecycleBed, kube_api: client.ApiClient) -> None:
        self.bed = bed
        self.core_api = client.CoreV1Api(kube_api)
        self.clock = MovableClock()
        self.passes = 0
        bed.configure(project_extra=TRIGGER)
        self._wire()

    def _wire(self) -> None:
        self.core: Core = self.bed.core(self.clock)
        self._requests, self.reconciler = build(self.core)
        self._intake = Intake(self.core, self._requests)

    @property
    def project_id(self) -> int:
        return self.bed.project_id

    @property
    def project_path(self) -> str:
        return self.bed.project_path

    @property
    def requests(self) -> Requests:
        return self._requests

    @property
    def intake(self) -> Intake:
        return self._intake

    def now(self) -> datetime:
        return self.clock.now()

    def put_mr(self, iid: int, *, sha: str, state: str, labels: tuple[str, ...],
               draft: bool, new: bool) -> str:
        if new:
            shown = self.bed.gitlab.add_merge_request(
                self.bed.project_id, iid=iid, source_branch=branch(iid),
                author_username=AUTHOR, sha=sha, title=f"MR {iid}", state=state,
                labels=labels, draft=draft)
        else:
            shown = self.bed.gitlab.update_merge_request(
                self.bed.project_id, iid, sha=sha, state=state, labels=labels, draft=draft)
        return str(shown["updated_at"])

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)

    def wipe_redis(self) -> None:
        self.bed.redis().flushdb()

    def rename(self, new_path: str) -> None:
        self.bed.gitlab.rename_project(self.bed.project_id, new_path)
        self.bed.project_path = new_path  # the operator follows the rename in the config
        self.bed.configure(project_extra=TRIGGER)
        self._wire()

    def run_pass(self) -> None:
        self.passes += 1
        self.reconciler.run_pass(dry_run=False, follow=True)

    def poke(self, keys: tuple[str, ...]) -> None:
        if keys:
            self.reconciler.run_pass(dry_run=False, only=list(keys), follow=True)

    def records(self) -> list[Environment]:
        return self.core.store.all()

    def live_namespaces(self) -> list[tuple[str, dict[str, str]]]:
        selector = f"{records.PROJECT_ID_LABEL}={self.bed.project_id}"
        return [(ns.metadata.name, dict(ns.metadata.labels or {}))
                for ns in self.core_api.list_namespace(label_selector=selector).items
                if ns.status.phase == "Active"
                and ns.metadata.name.startswith(f"preview-{self._group()}-")]

    def _group(self) -> str:
        # GitLab ids repeat across this session's fakes; the group of the bed is unique
        return self.bed.project_path.split("/")[0]

    def kept_by_namespace(self, key: str) -> Environment | None:
        return self._requests.identities.kept_by_namespace(key)

    def close(self) -> None:
        self.bed.cleanup(self.core_api)
        self.bed.redis().flushdb()


def test_lifecycle_on_the_bed(testbed: Testbed, fake_gitlab: FakeGitLab, redis_url: str,
                              tmp_path: Path, kube_api: client.ApiClient) -> None:
    examples = iter(range(1000))
    reached: list[tuple[int, int]] = []  # (passes, records) per example

    def make() -> Driver:
        folder = tmp_path / f"example-{next(examples)}"
        folder.mkdir()
        return BedDriver(LifecycleBed(testbed, fake_gitlab, redis_url, folder), kube_api)

    def close(driver: Driver) -> None:
        assert isinstance(driver, BedDriver)
        reached.append((driver.passes, len(driver.records())))
        driver.close()

    class OnTheBed(LifecycleModel):
        make_driver = staticmethod(make)
        close_driver = staticmethod(close)

    run_state_machine_as_test(OnTheBed, settings=settings(
        max_examples=12, stateful_step_count=25, deadline=None, derandomize=True,
        database=None, suppress_health_check=list(HealthCheck)))
    print("passes, records per example:", reached)
