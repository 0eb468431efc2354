"""GitLab webhook deliveries → intents, over payloads shaped like GitLab's documented examples."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import Config, load_config_text
from bot.domain.errors import PermanentError
from bot.domain.model import EndKind
from bot.gitlab.hooks import Ignored, Intent, IntentKind, decide, parse_gitlab_time

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "gitlab"
HOOK_OF_KIND = {"merge_request": "Merge Request Hook", "pipeline": "Pipeline Hook",
                "push": "Push Hook"}
HEAD = "4f0c2a7e9b1d3c5a6e8f0b2d4c6a8e0f1b3d5c7a"
DELETE = object()  # a tweak value: remove the key


def fixture(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return payload


def tweaked(name: str, tweaks: dict[str, object]) -> dict[str, Any]:
    """The fixture with dotted paths (``object_attributes.labels.0.title``) set or deleted."""
    payload = fixture(name)
    for path, value in tweaks.items():
        *parents, last = path.split(".")
        node: Any = payload
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        if value is DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = copy.deepcopy(value)
        else:
            node[last] = copy.deepcopy(value)
    return payload


def config(**project: Any) -> Config:
    doc = {"defaults": {"domain": "preview.example.com", "channel": "C0PREVIEWS"},
           "projects": [{"path": "group/app", **project}]}
    return load_config_text(yaml.safe_dump(doc), source="test.yaml")


def hook(name: str) -> str:
    return HOOK_OF_KIND[fixture(name)["object_kind"]]


def label(title: str) -> dict[str, object]:
    return {"id": 900 + len(title), "title": title, "color": "#1f75cb", "project_id": 42,
            "created_at": "2026-01-05T09:00:00Z", "updated_at": "2026-01-05T09:00:00Z",
            "template": False, "description": None, "type": "ProjectLabel", "group_id": None}


def labels(*titles: str, before: tuple[str, ...] | None = None) -> dict[str, object]:
    now = [label(t) for t in titles]
    tweaks: dict[str, object] = {"labels": now, "object_attributes.labels": now}
    if before is not None:
        tweaks["changes.labels"] = {"previous": [label(t) for t in before], "current": now}
    return tweaks


def draft(now: bool, before: bool | None = None, key: str = "draft") -> dict[str, object]:
    tweaks: dict[str, object] = {"object_attributes.draft": DELETE, "object_attributes."
                                 "work_in_progress": DELETE, f"object_attributes.{key}": now}
    if before is not None:
        tweaks[f"changes.{key}"] = {"previous": before, "current": now}
    return tweaks


def case(name: str, expected: str | None, words: str, *, tweaks: Mapping[str, object] | None = None,
         id: str, **project: Any) -> Any:
    return pytest.param(name, dict(tweaks or {}), project, expected, words, id=id)


PIPELINE: dict[str, Any] = {"deploy_on": "pipeline"}
LABELS: dict[str, Any] = {"trigger": {"labels": ["Preview"]}}
TARGETS: dict[str, Any] = {"trigger": {"target_branches": ["main", "release/*"]}}
NOT_OPEN: dict[str, Any] = {"object_attributes.state": "merged",
                            "object_attributes.action": "update"}

CASES = [
    # (fixture, expected kind or None for Ignored, words of the reason, tweaks, project config)
    case("merge_request_open", "up", "MR !7 opened", id="open"),
    case("merge_request_open", "up", "MR !7 reopened", id="reopen",
         tweaks={"object_attributes.action": "reopen"}),
    case("merge_request_update_commits", "up", "new commits on MR !7 (now 4f0c2a7e)",
         id="new commits"),
    case("merge_request_update_labels", None, "changed nothing", id="labels without trigger"),
    case("merge_request_update_commits", None, "changed nothing", id="title edit",
         tweaks={"object_attributes.oldrev": DELETE, "changes": {"title": {"previous": "a"}}}),
    case("merge_request_update_commits", None, "changed nothing", id="changes as empty list",
         tweaks={"object_attributes.oldrev": DELETE, "changes": []}),
    case("merge_request_close", "down", "MR !7 closed", id="close"),
    case("merge_request_merge", "down", "MR !7 merged", id="merge"),
    case("merge_request_merge", "down", "MR !7 merged", id="merge ignores trigger", **LABELS),
    case("merge_request_approved", None, "approval events are ignored", id="approved"),
    *(case("merge_request_approved", None, "approval events are ignored", id=action,
           tweaks={"object_attributes.action": action})
      for action in ("unapproved", "approval", "unapproval")),
    case("merge_request_open", None, 'action "retitle" is not handled', id="unknown action",
         tweaks={"object_attributes.action": "retitle"}),
    case("merge_request_update_labels", None, "MR !7 is merged", id="update of merged MR",
         tweaks=NOT_OPEN, **LABELS),
    case("merge_request_open", None, "main is the default branch", id="MR from main",
         tweaks={"object_attributes.source_branch": "main"}),
    # deploy_on: pipeline
    case("merge_request_open", None, "waiting for the pipeline of 4f0c2a7e", id="open, pipeline",
         **PIPELINE),
    case("merge_request_update_commits", None, "waiting for the pipeline of 4f0c2a7e",
         id="commits, pipeline", **PIPELINE),
    case("merge_request_close", "down", "MR !7 closed", id="close, pipeline", **PIPELINE),
    case("merge_request_update_labels", "up", "label preview added", id="label added, pipeline",
         tweaks=labels("preview", before=()), **PIPELINE, **LABELS),
    # labels
    case("merge_request_open", "up", "MR !7 opened", id="trigger label (any case)", **LABELS),
    case("merge_request_open", None, "none of the trigger labels Preview", id="no trigger label",
         tweaks=labels("backend"), **LABELS),
    case("merge_request_update_labels", "down", "label preview removed", id="label removed",
         **LABELS),
    case("merge_request_update_labels", "up", "label preview added", id="label added",
         tweaks=labels("preview", before=()), **LABELS),
    case("merge_request_update_labels", None, "changed nothing", id="other trigger label left",
         trigger={"labels": ["preview", "backend"]}),
    case("merge_request_update_commits", None, "none of the trigger labels", id="commits, no label",
         tweaks=labels("backend"), **LABELS),
    case("merge_request_update_commits", "down", "label preview removed",
         id="commits and label removed", tweaks=labels(before=("preview",)), **LABELS),
    # drafts
    case("merge_request_open", None, "MR !7 is a draft", id="draft", tweaks=draft(True)),
    case("merge_request_open", None, "MR !7 is a draft", id="work in progress",
         tweaks=draft(True, key="work_in_progress")),
    case("merge_request_open", "up", "MR !7 opened", id="draft allowed", tweaks=draft(True),
         trigger={"drafts": True}),
    case("merge_request_update_labels", "down", "MR !7 marked as draft", id="marked draft",
         tweaks={"changes.labels": DELETE, **draft(True, before=False)}),
    case("merge_request_update_labels", "up", "MR !7 marked as ready", id="marked ready",
         tweaks={"changes.labels": DELETE, **draft(False, before=True)}),
    case("merge_request_update_labels", "up", "MR !7 marked as ready", id="ready (wip key)",
         tweaks={"changes.labels": DELETE, **draft(False, before=True, key="work_in_progress")}),
    case("merge_request_update_labels", None, "changed nothing", id="draft allowed, marked draft",
         tweaks={"changes.labels": DELETE, **draft(True, before=False)}, trigger={"drafts": True}),
    # target branches
    case("merge_request_open", "up", "MR !7 opened", id="target main", **TARGETS),
    case("merge_request_open", "up", "MR !7 opened", id="target glob", **TARGETS,
         tweaks={"object_attributes.target_branch": "release/1.2"}),
    case("merge_request_open", None, "targets develop, not one of trigger.target_branches",
         id="other target", tweaks={"object_attributes.target_branch": "develop"}, **TARGETS),
    case("merge_request_update_labels", "down", "MR !7 now targets develop", id="retargeted",
         tweaks={"object_attributes.target_branch": "develop", "changes.target_branch":
                 {"previous": "main", "current": "develop"}}, **TARGETS),
    # pipelines
    case("pipeline_success_mr", "up", "pipeline succeeded for MR !7 (4f0c2a7e)", id="MR pipeline"),
    case("pipeline_success_mr", "up", "pipeline succeeded for MR !7", id="MR pipeline, pipeline",
         **PIPELINE),
    case("pipeline_success_branch", None, "ignored with deploy_on: push", id="branch pipeline"),
    case("pipeline_success_branch", "up", "pipeline succeeded on branch feature-y",
         id="branch pipeline, pipeline", **PIPELINE),
    case("pipeline_success_branch", None, "main is the default branch", id="main pipeline",
         tweaks={"object_attributes.ref": "main"}, **PIPELINE),
    case("pipeline_success_mr", None, "main is the default branch", id="MR pipeline from main",
         tweaks={"merge_request.source_branch": "main"}),
    case("pipeline_failed", None, "pipeline for 4f0c2a7e is failed", id="failed pipeline"),
    case("pipeline_success_mr", None, "is running", id="running pipeline",
         tweaks={"object_attributes.status": "running"}),
    case("pipeline_success_branch", None, "tags are ignored", id="tag pipeline",
         tweaks={"object_attributes.tag": True}, **PIPELINE),
    case("pipeline_success_mr", None, "MR !7 is merged", id="pipeline of merged MR",
         tweaks={"merge_request.state": "merged"}),
    case("pipeline_success_mr", None, "targets develop", id="pipeline, other target",
         tweaks={"merge_request.target_branch": "develop"}, **TARGETS),
    # pushes
    case("push_branch_deleted", "down", "branch feature-x deleted", id="branch deleted"),
    case("push_branch_deleted", "down", "branch feature-x deleted", id="deleted, SHA-256",
         tweaks={"after": "0" * 64}),
    case("push_commits", None, "MR updates arrive as MR hooks", id="commits pushed"),
    case("push_branch_deleted", None, "tags are ignored", id="tag deleted",
         tweaks={"ref": "refs/tags/v1.0.0"}),
    case("push_branch_deleted", None, "main is the default branch", id="main deleted",
         tweaks={"ref": "refs/heads/main"}),
    case("push_branch_deleted", None, "is not a branch", id="other ref",
         tweaks={"ref": "refs/merge-requests/7/head"}),
    # projects
    case("merge_request_open", None, "project group/other (id 42) is not configured",
         id="unknown project", tweaks={"project.path_with_namespace": "group/other"}),
    case("merge_request_open", "up", "MR !7 opened", id="path in another case",
         tweaks={"project.path_with_namespace": "Group/App"}),
    case("push_branch_deleted", "down", "branch feature-x deleted", id="renamed, found by id",
         tweaks={"project.path_with_namespace": "group/renamed"}, id_=42),
]


@pytest.mark.parametrize(("name", "tweaks", "project", "expected", "words"), CASES)
def test_decide(name: str, tweaks: dict[str, object], project: dict[str, object],
                expected: str | None, words: str) -> None:
    project = {("id" if key == "id_" else key): value for key, value in project.items()}
    result = decide(hook(name), tweaked(name, tweaks), config(**project))
    if expected is None:
        assert isinstance(result, Ignored), result
    else:
        assert isinstance(result, Intent), result
        assert result.kind == IntentKind(expected)
        assert result.project_path == "group/app"
        assert (result.sha is None) == (result.kind is IntentKind.DOWN)
    assert words in result.reason


def test_merge_request_open_intent_in_full() -> None:
    result = decide("Merge Request Hook", fixture("merge_request_open"), config())
    assert result == Intent(
        kind=IntentKind.UP, project_path="group/app", project_id=42, mr_iid=7,
        branch="feature-x", sha=HEAD, reason="MR !7 opened",
        updated_at=datetime(2026, 3, 2, 9, 58, 12, tzinfo=UTC), author_username="alice",
    )


def test_merge_intent_in_full() -> None:
    result = decide("Merge Request Hook", fixture("merge_request_merge"), config())
    assert result == Intent(
        kind=IntentKind.DOWN, project_path="group/app", project_id=42, mr_iid=7,
        branch="feature-x", sha=None, reason="MR !7 merged",
        updated_at=datetime(2026, 3, 3, 8, 5, 10, tzinfo=UTC), author_username="alice",
        end_kind=EndKind.MR_CLOSED,
    )


def test_branch_deleted_intent_in_full() -> None:
    result = decide("Push Hook", fixture("push_branch_deleted"), config())
    assert result == Intent(
        kind=IntentKind.DOWN, project_path="group/app", project_id=42, mr_iid=None,
        branch="feature-x", sha=None, reason="branch feature-x deleted", updated_at=None,
        author_username="alice", end_kind=EndKind.BRANCH_DELETED,
    )


def test_pipeline_intents_are_ordered_by_pipeline_creation() -> None:
    for name in ("pipeline_success_mr", "pipeline_success_branch"):
        result = decide("Pipeline Hook", fixture(name), config(**PIPELINE))
        assert isinstance(result, Intent)
        created = datetime(2026, 3, 2, 11, 20, 9, tzinfo=UTC)
        assert (result.sha, result.updated_at) == (HEAD, created)
        assert result.mr_iid == (7 if name == "pipeline_success_mr" else None)
        assert result.branch == ("feature-x" if result.mr_iid else "feature-y")


def test_renamed_project_keeps_the_configured_path() -> None:
    payload = tweaked("merge_request_open", {"project.path_with_namespace": "group/renamed"})
    result = decide("Merge Request Hook", payload, config(path="group/App", id=42))
    assert isinstance(result, Intent)
    assert (result.project_path, result.project_id) == ("group/App", 42)


@pytest.mark.parametrize(("name", "project", "check_paths"), [
    ("merge_request_open", {}, False),
    ("merge_request_open", {"trigger": {"paths": ["app/*"]}}, True),
    ("merge_request_update_commits", {"trigger": {"paths": ["app/*"]}}, True),
    ("pipeline_success_mr", {"trigger": {"drafts": True}}, False),
    ("pipeline_success_mr", {}, False),
    ("pipeline_success_mr", {"trigger": {"labels": ["preview"], "drafts": True}}, False),
    ("pipeline_success_mr", {"trigger": {"paths": ["app/*"], "drafts": True}}, True),
    ("pipeline_success_branch", {"trigger": {"paths": ["app/*"]}, **PIPELINE}, False),
])
def test_what_the_caller_must_check(name: str, project: dict[str, object],
                                    check_paths: bool) -> None:
    result = decide(hook(name), fixture(name), config(**project))
    assert isinstance(result, Intent)
    assert result.check_paths == check_paths


@pytest.mark.parametrize("event_type", ["Issue Hook", "Tag Push Hook", "Note Hook", "", "push"])
def test_other_event_types_are_ignored(event_type: str) -> None:
    result = decide(event_type, fixture("push_branch_deleted"), config())
    assert isinstance(result, Ignored)
    assert "is not handled" in result.reason


# --- timestamps ---------------------------------------------------------------

T = datetime(2013, 12, 3, 17, 23, 34, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("2013-12-03T17:23:34Z", T),
    ("2013-12-03 17:23:34 UTC", T),
    ("2013-12-03T18:23:34+01:00", T),
    ("2013-12-03T12:23:34-05:00", T),
    ("2013-12-03 18:23:34 +0100", T),
    ("2013-12-03T17:23:34", T),  # no zone: UTC
    ("2013-12-03T17:23:34.211Z", T.replace(microsecond=211000)),
])
def test_gitlab_time_formats(text: str, expected: datetime) -> None:
    parsed = parse_gitlab_time(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC
    payload = tweaked("merge_request_open", {"object_attributes.updated_at": text})
    result = decide("Merge Request Hook", payload, config())
    assert isinstance(result, Intent)
    assert result.updated_at == expected


@pytest.mark.parametrize("text", [
    "yesterday", "2013-13-03T00:00:00Z", "0001-01-01T00:00:00+01:00", "2013-12-03 17:23:34 CET",
    # a quadratic regex would take hours on these (the event loop reads them)
    "2013-12-03" + " " * 200_000 + "x", "2013-12-03" + "\t" * 200_000 + "+0100x",
])
def test_unreadable_times_name_the_field(text: str) -> None:
    payload = tweaked("merge_request_open", {"object_attributes.updated_at": text})
    with pytest.raises(PermanentError, match=r"object_attributes\.updated_at should be a time"):
        decide("Merge Request Hook", payload, config())


def test_missing_time_is_none() -> None:
    payload = tweaked("merge_request_open", {"object_attributes.updated_at": DELETE})
    result = decide("Merge Request Hook", payload, config())
    assert isinstance(result, Intent)
    assert result.updated_at is None


# --- malformed payloads -------------------------------------------------------

MALFORMED = [
    # (fixture, tweaks, the field the error names, what it says)
    ("merge_request_open", {"project": DELETE}, "project is missing"),
    ("merge_request_open", {"project": "group/app"}, "project should be an object"),
    ("merge_request_open", {"project.path_with_namespace": 5}, "project.path_with_namespace"),
    ("merge_request_open", {"project.id": "42"}, "project.id should be an integer"),
    ("merge_request_open", {"project.id": True}, "project.id should be an integer"),
    ("merge_request_open", {"project.default_branch": DELETE}, "project.default_branch is missing"),
    ("merge_request_open", {"object_attributes": DELETE}, "object_attributes is missing"),
    ("merge_request_open", {"object_attributes.action": DELETE}, "object_attributes.action"),
    ("merge_request_open", {"object_attributes.iid": "7"}, "object_attributes.iid should be"),
    ("merge_request_open", {"object_attributes.source_branch": ""},
     "object_attributes.source_branch should be a non-empty text"),
    ("merge_request_open", {"object_attributes.state": DELETE}, "object_attributes.state"),
    ("merge_request_open", {"object_attributes.last_commit": DELETE},
     "object_attributes.last_commit is missing"),
    ("merge_request_open", {"object_attributes.last_commit.id": 1},
     "object_attributes.last_commit.id"),
    ("merge_request_open", {"object_attributes.draft": "no"}, "object_attributes.draft should be"),
    ("merge_request_open", {"labels.0.title": DELETE}, "labels[0].title is missing"),
    ("merge_request_open", {"labels": "preview"}, "labels should be a list"),
    ("merge_request_open", {"labels": DELETE, "object_attributes.labels.1": "x"},
     "object_attributes.labels[1] should be an object"),
    ("merge_request_update_labels", {"changes.labels.previous.0": 3},
     "changes.labels.previous[0] should be an object"),
    ("merge_request_update_labels", {"changes.draft": {"previous": "yes"}},
     "changes.draft.previous should be true or false"),
    ("merge_request_update_labels", {"changes": "all"}, "changes should be an object"),
    ("merge_request_update_commits", {"object_attributes.oldrev": 0},
     "object_attributes.oldrev"),
    ("pipeline_success_mr", {"object_attributes.sha": DELETE}, "object_attributes.sha is missing"),
    # A pipeline's or MR's commit is a full sha: a branch, tag or prefix could name
    # another commit than the one that ran (a forged delivery deploying any tag).
    ("pipeline_success_mr", {"object_attributes.sha": "main"},
     "object_attributes.sha should be a full commit sha (40 hex digits)"),
    ("pipeline_success_branch", {"object_attributes.sha": "v1.2.3"},
     "object_attributes.sha should be a full commit sha"),
    ("pipeline_success_mr", {"object_attributes.sha": HEAD[:8]},
     "object_attributes.sha should be a full commit sha"),
    ("pipeline_success_mr", {"object_attributes.sha": HEAD.upper()},
     "object_attributes.sha should be a full commit sha"),
    ("pipeline_success_mr", {"object_attributes.sha": HEAD + "\n"},
     "object_attributes.sha should be a full commit sha"),
    ("merge_request_open", {"object_attributes.last_commit.id": "refs/tags/v1"},
     "object_attributes.last_commit.id should be a full commit sha"),
    ("pipeline_success_mr", {"object_attributes.status": 1}, "object_attributes.status"),
    ("pipeline_success_mr", {"merge_request.iid": DELETE}, "merge_request.iid is missing"),
    ("pipeline_success_mr", {"merge_request": []}, "merge_request should be an object"),
    ("pipeline_success_branch", {"object_attributes.ref": DELETE}, "object_attributes.ref"),
    ("push_branch_deleted", {"after": DELETE}, "after is missing"),
    ("push_branch_deleted", {"ref": ["refs/heads/x"]}, "ref should be a non-empty text"),
]


@pytest.mark.parametrize(("name", "tweaks", "words"), MALFORMED)
def test_malformed_payloads_name_the_field(name: str, tweaks: dict[str, object],
                                           words: str) -> None:
    with pytest.raises(PermanentError) as caught:
        decide(hook(name), tweaked(name, tweaks), config(trigger={"labels": ["preview"]}))
    assert words in str(caught.value)
    assert hook(name) in str(caught.value)


def test_a_payload_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(PermanentError, match="payload should be a JSON object"):
        decide("Push Hook", ["not", "an", "object"], config())  # type: ignore[arg-type]


# --- robustness -----------------------------------------------------------------

KNOWN_KEYS = sorted({
    key for name in (p.stem for p in FIXTURES.glob("*.json"))
    for key in json.dumps(fixture(name)).split('"')[1::2] if key.isidentifier()
})
JSON_SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                | st.text(max_size=12) | st.sampled_from(["0" * 40, "group/app", "opened",
                                                          "update", "success", "main"]))
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=6), inner, max_size=5),
    max_leaves=25,
)
EVENT_TYPES = st.sampled_from([*HOOK_OF_KIND.values(), "Issue Hook"])
CONFIGS = [config(), config(**PIPELINE, trigger={"labels": ["preview"], "paths": ["a/*"]}),
           config(trigger={"target_branches": ["main"], "drafts": True})]


def paths_in(value: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(value, dict):
        items: list[tuple[str, object]] = list(value.items())
    elif isinstance(value, list):
        items = [(str(i), item) for i, item in enumerate(value)]
    else:
        return []
    found = []
    for key, item in items:
        found.append((*prefix, key))
        found.extend(paths_in(item, (*prefix, key)))
    return found


def assert_decides_or_refuses(event_type: str, payload: Any, config_: Config) -> None:
    try:
        result = decide(event_type, payload, config_)
    except PermanentError as error:
        assert str(error)
    else:
        assert isinstance(result, Intent | Ignored)
        assert result.reason


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(EVENT_TYPES, st.dictionaries(st.sampled_from(KNOWN_KEYS), JSON_VALUES, max_size=8),
       st.sampled_from(CONFIGS))
def test_arbitrary_objects_only_raise_permanent_error(
    event_type: str, payload: dict[str, Any], config_: Config
) -> None:
    assert_decides_or_refuses(event_type, payload, config_)


FIXTURE_NAMES = sorted(p.stem for p in FIXTURES.glob("*.json"))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIXTURE_NAMES), st.data(), st.sampled_from(CONFIGS))
def test_damaged_fixtures_only_raise_permanent_error(
    name: str, data: st.DataObject, config_: Config
) -> None:
    payload = fixture(name)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths_in(payload) or [("extra",)]))
        value = data.draw(st.just(DELETE) | JSON_VALUES)
        payload = tweaked_payload(payload, path, value)
    assert_decides_or_refuses(hook(name), payload, config_)


def tweaked_payload(payload: dict[str, Any], path: tuple[str, ...], value: object) -> Any:
    node: Any = payload
    for key in path[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last = path[-1]
    if isinstance(node, list):
        node[int(last)] = None if value is DELETE else value
    elif value is DELETE:
        node.pop(last, None)
    else:
        node[last] = value
    return payload


def test_every_fixture_is_covered_by_the_table() -> None:
    used = {param.values[0] for param in CASES}
    assert used == set(FIXTURE_NAMES)
