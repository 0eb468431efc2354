"""Fake GitLab handlers: project environments and merge request notes."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.fakes.gitlab.call import GitLabCall, paginated
from tests.fakes.gitlab.records import (
    Environment,
    GitLabApiError,
    Note,
    environment_slug,
    guess_tier,
    now_iso,
)
from tests.fakes.http import Reply

ENVIRONMENT_STATES = ("available", "stopping", "stopped")
TIERS = ("production", "staging", "testing", "development", "other")


# --- environments --------------------------------------------------------------------
def list_environments(call: GitLabCall) -> Reply:
    project = call.project()
    name, search, states = call.query("name"), call.query("search"), call.query("states")
    if name is not None and search is not None:
        raise GitLabApiError(400, "name, search are mutually exclusive", key="error")
    if states is not None and states not in ENVIRONMENT_STATES:
        raise GitLabApiError(400, "states does not have a valid value", key="error")
    found = [
        env
        for env in call.store.project_environments(project.id)
        if (name is None or env.name == name)
        and (search is None or search in env.name)
        and (states is None or env.state == states)
    ]
    found.sort(key=lambda env: env.id)
    return paginated(call, [call.render.environment(env) for env in found])


def create_environment(call: GitLabCall) -> Reply:
    project = call.project()
    name = call.required_field("name")
    if any(env.name == name for env in call.store.project_environments(project.id)):
        raise GitLabApiError(400, {"name": ["has already been taken"]})
    env = Environment(
        id=call.store.environment_ids.take(),
        project_id=project.id,
        name=name,
        external_url=_valid_external_url(call.field("external_url")),
        tier=_valid_tier(call.field("tier")) or guess_tier(name),
        slug=environment_slug(name),
    )
    call.store.environments[env.id] = env
    return Reply(201, call.render.environment(env))


def get_environment(call: GitLabCall) -> Reply:
    env = call.store.environment(call.project().id, call.params["env_id"])
    return Reply(200, call.render.environment(env))


def update_environment(call: GitLabCall) -> Reply:
    env = call.store.environment(call.project().id, call.params["env_id"])
    if "external_url" in call.body:
        env.external_url = _valid_external_url(call.body["external_url"])
    tier = _valid_tier(call.field("tier"))
    if tier is not None:
        env.tier = tier
    env.updated_at = now_iso()
    return Reply(200, call.render.environment(env))


def stop_environment(call: GitLabCall) -> Reply:
    env = call.store.environment(call.project().id, call.params["env_id"])
    env.state = "stopped"
    env.updated_at = now_iso()
    return Reply(200, call.render.environment(env))


def delete_environment(call: GitLabCall) -> Reply:
    env = call.store.environment(call.project().id, call.params["env_id"])
    if env.state != "stopped":
        # GitLab's policy forbids destroying an environment that is still available.
        raise GitLabApiError(403, "403 Forbidden")
    del call.store.environments[env.id]
    return Reply(204)


def _valid_external_url(value: object) -> str | None:
    if value is None or value == "":
        return None
    url = str(value)
    if urlsplit(url).scheme not in ("http", "https"):
        raise GitLabApiError(
            400, {"external_url": ["is blocked: Only allowed schemes are http, https"]}
        )
    return url


def _valid_tier(value: object) -> str | None:
    if value is None:
        return None
    if value not in TIERS:
        raise GitLabApiError(400, "tier does not have a valid value", key="error")
    return str(value)


# --- merge request notes -------------------------------------------------------------
def list_notes(call: GitLabCall) -> Reply:
    mr = call.store.merge_request(call.project().id, call.params["iid"])
    order_by = call.query("order_by") or "created_at"
    descending = (call.query("sort") or "desc") == "desc"
    notes = sorted(
        call.store.merge_request_notes(mr.project_id, mr.iid),
        key=lambda n: (n.updated_at if order_by == "updated_at" else n.created_at, n.id),
        reverse=descending,
    )
    return paginated(call, [call.render.note(note) for note in notes])


def create_note(call: GitLabCall) -> Reply:
    mr = call.store.merge_request(call.project().id, call.params["iid"])
    note = Note(
        id=call.store.note_ids.take(),
        project_id=mr.project_id,
        mr_iid=mr.iid,
        body=call.required_field("body"),
        author_id=call.viewer.id,
    )
    call.store.notes[note.id] = note
    return Reply(201, call.render.note(note))


def _note_of_call(call: GitLabCall) -> Note:
    mr = call.store.merge_request(call.project().id, call.params["iid"])
    return call.store.note(mr.project_id, mr.iid, call.params["note_id"])


def get_note(call: GitLabCall) -> Reply:
    return Reply(200, call.render.note(_note_of_call(call)))


def update_note(call: GitLabCall) -> Reply:
    note = _note_of_call(call)
    note.body = call.required_field("body")
    note.updated_at = now_iso()
    return Reply(200, call.render.note(note))


def delete_note(call: GitLabCall) -> Reply:
    note = _note_of_call(call)
    del call.store.notes[note.id]
    return Reply(204)
