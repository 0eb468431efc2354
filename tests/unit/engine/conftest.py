"""The one builder of an engine on in-memory fakes (``tests.fakes.memory``).

Every unit test of the engine's rules builds its engine through ``build_engine`` (or
the ``engine`` fixture), never by calling ``Core`` itself: when the core's constructor
changes, this is the only place to follow it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import Config, ProjectConfig, load_config_text
from bot.domain import naming
from bot.domain.changes import ChangeRequest, ChangeState, SourceProject
from bot.domain.model import Environment
from bot.engine.core import Core
from bot.engine.discovery import Discovered, Discovery
from bot.engine.intake import Handled, Intake
from bot.engine.passes import PassContext
from bot.engine.reconcile import PassResult, Reconciler
from bot.engine.requests import Requests
from bot.engine.settings import DeploySettings, EngineSettings
from tests.clock import MovableClock
from tests.fakes.memory.cluster import FakeCluster
from tests.fakes.memory.notifier import FakeNotifier
from tests.fakes.memory.releases import FakeReleases
from tests.fakes.memory.review import FakeReview
from tests.fakes.memory.source import FakeChangeSource, FakeForge
from tests.fakes.memory.store import FakeStore

NOW = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)  # after the GitLab fixtures' updated_at
PROJECT_ID = 42
PROJECT_PATH = "group/app"
DEFAULT_BRANCH = "main"
SHA1, SHA2, SHA3 = "1" * 40, "2" * 40, "3" * 40
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "gitlab"

# No smoke_path: the smoke check is real HTTP. Readiness comes from the fake cluster
# (ready at once), so no test waits for `check_ready`'s inline wait.
BASE_CONFIG: dict[str, Any] = {
    "defaults": {"domain": "preview.example.com", "channel": "C0PREVIEWS",
                 "ttl": "48h", "max_ttl": "7d"},
    "projects": [{"path": PROJECT_PATH, "id": PROJECT_ID,
                  "values": {"image": {"repository": "registry.example.com/group/app"}},
                  "trigger": {"labels": ["preview"]}}],
}


@dataclass(frozen=True)
class Engine:
    """An engine on fakes, and the fakes, for a test to drive and look at."""

    core: Core
    requests: Requests
    reconciler: Reconciler
    intake: Intake
    store: FakeStore
    cluster: FakeCluster
    helm: FakeReleases
    notifier: FakeNotifier
    source: FakeChangeSource
    review: FakeReview
    forge: FakeForge
    clock: MovableClock

    @property
    def config(self) -> Config:
        return self.core.config

    @property
    def project(self) -> ProjectConfig:
        return self.core.config.projects[0]

    def env(self, key: str) -> Environment:
        found = self.store.get(key)
        assert found is not None, f"no record {key}"
        return found

    def reconcile(self, *keys: str) -> PassResult:
        """A poke pass over ``keys``; a full pass (discovery included) without."""
        return self.reconciler.run_pass(dry_run=False, only=list(keys) if keys else None)

    def discover(self, records: Iterable[Environment], *, dry_run: bool = False) -> Discovered:
        """One comparison with the forge's open list, as a pass makes it."""
        return Discovery(self.requests, PassContext(dry_run=dry_run)).run(records)

    def hook(self, event_type: str, payload: dict[str, Any]) -> Handled:
        return self.intake.handle(event_type, json.dumps(payload).encode())


def config_doc(**project: Any) -> dict[str, Any]:
    """The base config with ``project`` keys set on its one project (``None`` removes)."""
    doc = copy.deepcopy(BASE_CONFIG)
    for key, value in project.items():
        if key.startswith("top_"):
            doc[key.removeprefix("top_")] = value
        elif value is None:
            doc["projects"][0].pop(key, None)
        else:
            doc["projects"][0][key] = value
    return doc


def build_engine(doc: dict[str, Any] | None = None, *, forge: bool = True,
                 notifier: FakeNotifier | None = None,
                 deploy: DeploySettings | None = None) -> Engine:
    """An engine on fresh fakes, its clock at ``NOW``, the forge knowing the project.
    ``notifier``: a FakeNotifier of the test's own (one that acts when told, say);
    ``deploy``: the deploy tunables, if not the defaults (with a short poll)."""
    config = load_config_text(yaml.safe_dump(doc or BASE_CONFIG), source="test.yaml")
    clock = MovableClock(NOW)
    store = FakeStore(clock=clock)
    cluster = FakeCluster(clock=clock)
    helm = FakeReleases(cluster, clock=clock)
    notifier = notifier or FakeNotifier()
    source = FakeChangeSource()
    source.add_project(SourceProject(PROJECT_ID, PROJECT_PATH, DEFAULT_BRANCH,
                                     f"https://gitlab.example.com/{PROJECT_PATH}"))
    review = FakeReview()
    fake_forge = FakeForge(source, review)
    core = Core(config=config, store=store, kube=cluster, helm=helm, notifier=notifier,
                clock=clock, forge=fake_forge if forge else None,
                settings=EngineSettings(deploy=deploy or DeploySettings(poll_interval=0.01)))
    requests = Requests(core)
    return Engine(core=core, requests=requests, reconciler=Reconciler(core),
                  intake=Intake(core, requests), store=store,
                  cluster=cluster, helm=helm, notifier=notifier, source=source,
                  review=review, forge=fake_forge, clock=clock)


@pytest.fixture
def engine() -> Engine:
    return build_engine()


def change(iid: int = 7, *, sha: str = SHA1, state: ChangeState = ChangeState.OPEN,
           labels: tuple[str, ...] = ("preview",), draft: bool = False,
           source_branch: str = "feature-x", updated_at: datetime | None = None,
           **extra: Any) -> ChangeRequest:
    """A change request of the project, wanted by the trigger unless told otherwise."""
    return ChangeRequest(
        project_id=PROJECT_ID, iid=iid, title=f"MR {iid}", state=state,
        source_branch=source_branch, target_branch=DEFAULT_BRANCH, sha=sha, draft=draft,
        labels=labels, author_username="alice",
        web_url=f"https://gitlab.example.com/{PROJECT_PATH}/-/merge_requests/{iid}",
        updated_at=updated_at or NOW - timedelta(hours=1), **extra)


def moved(mr: ChangeRequest, **changes: Any) -> ChangeRequest:
    return replace(mr, **changes)


def fixture(name: str) -> dict[str, Any]:
    """A GitLab webhook payload from tests/fixtures/gitlab (a fresh copy)."""
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


def up_ready(e: Engine, iid: int = 7, *, sha: str = SHA1) -> str:
    """An MR environment brought up and converged (READY); its key."""
    e.source.put_change(change(iid, sha=sha))
    key = e.requests.request_up_mr(PROJECT_PATH, iid, actor="alice").key
    outcome, = e.reconcile(key).outcomes
    assert outcome.ok and e.env(key).observed.status.value == "ready", outcome.describe()
    return key


def namespace_of(key: str) -> str:
    return naming.namespace_name(key)
