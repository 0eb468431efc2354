"""Requests on environments against the real test bed: a person's request is never
dropped, an event never undoes what a person ended or just changed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.domain.errors import PermanentError
from bot.domain.model import EndKind, Status
from bot.engine.intake import Intake
from bot.engine.requests import Requests
from tests.integration.lifecycle_bed import LifecycleBed, up_ok
from tests.integration.webhook_support import mr_event, pipeline_event

FUTURE = datetime(2030, 1, 1, tzinfo=UTC)  # a pipeline created after the MR last changed


def test_a_person_s_up_is_never_dropped_as_stale(bed: LifecycleBed) -> None:
    bed.add_mr(90)
    env_key = f"{bed.slug}-mr-90"
    requests = Requests(bed.core())
    # an event recorded it with a pipeline's time, later than the MR's updated_at
    requests.request_up_mr(bed.project_path, 90, actor="gitlab:ci", source_updated_at=FUTURE)
    requests.request_down(env_key, reason="done for today", actor="cli:alice")
    again = requests.request_up_mr(bed.project_path, 90, actor="cli:alice", manual=True)
    env = bed.core().store.get(env_key)
    assert env is not None and env.desired.present and env.desired.manual
    assert again.desired.present
    # and a later event still orders against the newest time seen, not the person's
    assert env.desired.source_updated_at == FUTURE


def test_a_late_pipeline_never_brings_back_what_a_person_ended(bed: LifecycleBed) -> None:
    bed.configure(project_extra="deploy_on: pipeline")
    sha = bed.add_mr(91)
    env_key = f"{bed.slug}-mr-91"
    core = bed.core()
    intake = Intake(core, Requests(core))
    first = pipeline_event(bed, 91, sha, finished_at="2026-11-26T10:00:00Z")
    assert intake.handle("Pipeline Hook", json.dumps(first).encode()).env_keys == (env_key,)
    Requests(core).request_down(env_key, reason="reviewed", actor="cli:alice")
    # the same commit's pipeline again (a job retried, a delivery resent)
    again = pipeline_event(bed, 91, sha, finished_at="2026-11-26T10:05:00Z")
    with pytest.raises(PermanentError, match="torn down on purpose"):
        intake.handle("Pipeline Hook", json.dumps(again).encode())
    env = core.store.get(env_key)
    assert env is not None and not env.desired.present
    assert env.desired.down_kind == EndKind.REQUESTED.value


def test_in_push_mode_a_pipeline_refreshes_but_never_creates(bed: LifecycleBed) -> None:
    sha = bed.add_mr(92)
    env_key = f"{bed.slug}-mr-92"
    core = bed.core()
    intake = Intake(core, Requests(core))
    handled = intake.handle("Pipeline Hook", json.dumps(pipeline_event(bed, 92, sha)).encode())
    assert handled.env_keys == () and "creates none" in handled.summary
    assert core.store.get(env_key) is None
    intake.handle("Merge Request Hook", json.dumps(mr_event(bed, "open", 92, sha)).encode())
    handled = intake.handle("Pipeline Hook", json.dumps(pipeline_event(bed, 92, sha)).encode())
    assert handled.env_keys == (env_key,)  # an environment that is up is refreshed


class KeepDuringTheUp:
    """The cluster adapter, real, except that while an up checks the namespace (after it
    read the record, before it writes), a person presses Keep: the race an up that
    computed its new state from an earlier read loses."""

    def __init__(self, kube: Any, namespace: str, keep: Callable[[], object]) -> None:
        self._kube = kube
        self._namespace = namespace
        self._keep = keep
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._kube, name)

    def get_namespace(self, name: str) -> Any:
        if name == self._namespace:
            self.reads += 1
            if self.reads == 2:  # the up's check that the namespace is no stranger's
                self._keep()
        return self._kube.get_namespace(name)


def test_an_up_never_undoes_a_keep_recorded_while_it_ran(bed: LifecycleBed) -> None:
    bed.add_mr(93)
    env_key = f"{bed.slug}-mr-93"
    up_ok(bed, f"{bed.project_path}!93")
    person = Requests(bed.core())
    core = bed.core()
    racing = KeepDuringTheUp(core.kube, f"preview-{env_key}",
                             lambda: person.keep(env_key, actor="slack:U0ALICE"))
    event = Requests(replace(core, kube=racing))
    bed.gitlab.update_merge_request(bed.project_id, 93, sha="7" * 40)
    event.request_up_mr(bed.project_path, 93, actor="gitlab:alice")
    assert racing.reads >= 2
    env = bed.core().store.get(env_key)
    assert env is not None and env.desired.sha == "7" * 40
    assert env.desired.keep  # the Keep survived the up
    assert env.desired.expires_at == env.desired.created_at + timedelta(days=7)
    assert env.observed.status is not Status.GONE
