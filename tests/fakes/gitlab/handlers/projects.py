"""Fake GitLab handlers: version, current user, projects, branches, MRs, members, users."""

from __future__ import annotations

from urllib.parse import unquote

from tests.fakes.gitlab.call import GitLabCall, paginated
from tests.fakes.gitlab.records import GitLabApiError, MergeRequest, User
from tests.fakes.http import Reply

MR_STATES = ("opened", "closed", "locked", "merged", "all")


def get_version(call: GitLabCall) -> Reply:
    return Reply(200, {"version": "18.0.0-fake", "revision": "fake", "enterprise": False})


def get_current_user(call: GitLabCall) -> Reply:
    return Reply(200, call.render.user(call.viewer, is_self=True))


def get_project(call: GitLabCall) -> Reply:
    return Reply(200, call.render.project(call.project()))


def get_branch(call: GitLabCall) -> Reply:
    project = call.project()
    name = unquote(call.params["branch"])
    return Reply(200, call.render.branch(project, name, call.store.branch_sha(project.id, name)))


# --- merge requests ------------------------------------------------------------------
def list_merge_requests(call: GitLabCall) -> Reply:
    project = call.project()
    state = call.query("state") or "all"
    if state not in MR_STATES:
        raise GitLabApiError(400, "state does not have a valid value", key="error")
    wanted_iids = {int(i) for i in call.query_list("iids") if i.isdigit()}
    has_iid_filter = bool(call.query_list("iids"))
    found = [
        mr
        for (project_id, _), mr in call.store.merge_requests.items()
        if project_id == project.id
        and state in ("all", mr.state)
        and (not has_iid_filter or mr.iid in wanted_iids)
        and _matches_branches_and_labels(call, mr)
    ]
    found.sort(key=lambda mr: mr.id, reverse=True)  # GitLab default: created_at desc
    return paginated(call, [call.render.merge_request_in_list(mr) for mr in found])


PIPELINE_STATUSES = ("created", "waiting_for_resource", "preparing", "pending", "running",
                     "success", "failed", "canceled", "skipped", "manual", "scheduled")


def list_pipelines(call: GitLabCall) -> Reply:
    """GET /projects/:id/pipelines: newest first; filters status, ref, sha."""
    project = call.project()
    status, ref, sha = call.query("status"), call.query("ref"), call.query("sha")
    if status is not None and status not in PIPELINE_STATUSES:
        raise GitLabApiError(400, "status does not have a valid value", key="error")
    found = [
        pipeline for pipeline in call.store.pipelines.values()
        if pipeline.project_id == project.id
        and (status is None or pipeline.status == status)
        and (ref is None or pipeline.ref == ref)
        and (sha is None or pipeline.sha == sha)
    ]
    found.sort(key=lambda pipeline: pipeline.id, reverse=True)  # GitLab default: id desc
    return paginated(call, [call.render.pipeline(pipeline) for pipeline in found])


def list_merge_request_pipelines(call: GitLabCall) -> Reply:
    """GET /projects/:id/merge_requests/:iid/pipelines: the MR's pipelines, newest first
    (GitLab's ``all_pipelines``: its MR pipelines — detached, merged results — and the
    pipelines of its source branch; GitLab narrows the latter to the MR's commits, which
    the fake does not keep). Each as GitLab's basic pipeline (id, sha, ref, status …)."""
    project = call.project()
    mr = call.store.merge_request(project.id, call.params["iid"])
    found = [
        pipeline for pipeline in call.store.pipelines.values()
        if pipeline.project_id == project.id
        and (pipeline.merge_request_iid == mr.iid
             or (pipeline.merge_request_iid is None and pipeline.ref == mr.source_branch))
    ]
    found.sort(key=lambda pipeline: pipeline.id, reverse=True)
    return paginated(call, [call.render.pipeline(pipeline) for pipeline in found])


def _matches_branches_and_labels(call: GitLabCall, mr: MergeRequest) -> bool:
    source, target = call.query("source_branch"), call.query("target_branch")
    author = call.query("author_username")
    if source is not None and mr.source_branch != source:
        return False
    if target is not None and mr.target_branch != target:
        return False
    if author is not None and call.store.users[mr.author_id].username != author:
        return False
    labels = call.query_list("labels")
    if labels == ["None"]:
        return not mr.labels
    if labels == ["Any"]:
        return bool(mr.labels)
    return all(label in mr.labels for label in labels)


def get_merge_request(call: GitLabCall) -> Reply:
    mr = call.store.merge_request(call.project().id, call.params["iid"])
    return Reply(200, call.render.merge_request(mr))


def get_merge_request_changes(call: GitLabCall) -> Reply:
    mr = call.store.merge_request(call.project().id, call.params["iid"])
    return Reply(200, call.render.merge_request_changes(mr))


def list_merge_request_diffs(call: GitLabCall) -> Reply:
    mr = call.store.merge_request(call.project().id, call.params["iid"])
    return paginated(call, call.render.diffs(mr))


# --- members -------------------------------------------------------------------------
def list_members(call: GitLabCall) -> Reply:
    """`/members` and `/members/all` list the same people: the fake has no group inheritance."""
    project = call.project()
    text = (call.query("query") or "").lower()
    user_ids = {int(i) for i in call.query_list("user_ids") if i.isdigit()}
    rendered = [
        call.render.member(member)
        for member in call.store.members.get(project.id, {}).values()
        if (not user_ids or member.user_id in user_ids)
        and _user_matches_text(call.store.users[member.user_id], text)
    ]
    return paginated(call, rendered)


def get_member(call: GitLabCall) -> Reply:
    project = call.project()
    member = call.store.members.get(project.id, {}).get(int(call.params["user_id"]))
    if member is None:
        raise GitLabApiError(404, "404 Member Not Found")
    return Reply(200, call.render.member(member))


# --- users ---------------------------------------------------------------------------
def list_users(call: GitLabCall) -> Reply:
    username = call.query("username")
    search = (call.query("search") or "").strip().lower()
    found = [
        user
        for user in sorted(call.store.users.values(), key=lambda u: u.id)
        if (username is None or user.username.lower() == username.lower())
        and (not search or _user_matches_search(call, user, search))
    ]
    return paginated(call, [call.render.user(user) for user in found])


def _user_matches_text(user: User, text: str) -> bool:
    return not text or text in user.username.lower() or text in user.name.lower()


def _user_matches_search(call: GitLabCall, user: User, search: str) -> bool:
    # GitLab matches e-mails exactly; private ones only when an admin searches.
    emails: list[str] = [user.public_email.lower()] if user.public_email else []
    if call.render.viewer_is_admin:
        emails.append(user.email.lower())
    return search in emails or _user_matches_text(user, search)


def get_user(call: GitLabCall) -> Reply:
    # Only GET /user reveals the caller's own private e-mail; /users/:id follows the admin rule.
    return Reply(200, call.render.user(call.store.user(call.params["user_id"])))
