"""Identity is the project id (issue 16, item 11): a slug or path edited in the config,
or a project renamed in the forge, keeps every environment under its key; the pass
moves a record to the new path once (a dry run shows it), and adopts a namespace of
the old path only when the forge confirms the rename."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import yaml

from bot.config import load_config_text
from bot.domain import records
from bot.domain.changes import SourceProject
from bot.engine.reconcile import Reconciler
from bot.engine.requests import Requests
from tests.unit.engine.conftest import (
    PROJECT_ID,
    SHA2,
    Engine,
    build_engine,
    change,
    config_doc,
    namespace_of,
    up_ready,
)

KEY = "group-app-mr-7"


def _reconfigured(e: Engine, **project: object) -> tuple[Requests, Reconciler]:
    """The same fakes, the config read again with ``project`` keys changed."""
    config = load_config_text(yaml.safe_dump(config_doc(**project)), source="test.yaml")
    core = replace(e.core, config=config)
    return Requests(core), Reconciler(core)


def test_an_up_after_a_slug_edit_stays_under_the_environment_s_key() -> None:
    e = build_engine()
    up_ready(e)
    requests, _ = _reconfigured(e, slug="web")  # new keys would be web-mr-N
    e.source.put_change(change(sha=SHA2))
    env = requests.request_up_mr("group/app", 7, actor="gitlab:ci")
    assert env.key == KEY and e.env(KEY).desired.sha == SHA2
    assert e.store.get("web-mr-7") is None


def test_a_pass_moves_a_renamed_project_s_records_once_and_a_dry_run_only_shows_it() -> None:
    e = build_engine()
    up_ready(e)
    e.source.rename_project(PROJECT_ID, "group/web")
    _, reconciler = _reconfigured(e, path="group/web")

    rehearsal = reconciler.run_pass(dry_run=True)
    assert [(f.kind, f.label) for f in rehearsal.discovered] == [("move", "group/app!7")]
    assert e.env(KEY).desired.project_path == "group/app"  # nothing changed

    done = reconciler.run_pass(dry_run=False)
    assert [f.kind for f in done.discovered] == ["move"]
    assert e.env(KEY).desired.project_path == "group/web"
    annotations = e.cluster.get_namespace(namespace_of(KEY)).annotations  # type: ignore[union-attr]
    assert annotations[records.PROJECT_PATH] == "group/web"
    assert reconciler.run_pass(dry_run=False).discovered == ()  # once


def test_a_namespace_of_an_unknown_path_is_adopted_only_when_the_forge_confirms_the_rename(
        ) -> None:
    e = build_engine()
    up_ready(e)
    e.store._rows.clear()  # Redis lost it
    # Another installation's project with the same number on its own forge: no rename.
    e.source.add_project(SourceProject(PROJECT_ID, "group/web", "main",
                                       "https://gitlab.example.com/group/web"))
    _, reconciler = _reconfigured(e, path="group/web")
    assert reconciler.run_pass(dry_run=False).adopted == ()
    assert e.store.get(KEY) is None

    e.source.former_paths["group/app"] = PROJECT_ID  # now it is a rename…
    assert reconciler.run_pass(dry_run=False).adopted == ()  # …"no" is remembered a while
    e.clock.advance(timedelta(hours=1, minutes=1))
    assert reconciler.run_pass(dry_run=False).adopted == (KEY,)
    assert e.env(KEY).desired.project_path == "group/web"
